// server.js - peer (c) of bench/peers.sh: digits-large.onnx on
// onnxruntime-node (CPU), a node:cluster of workers, plain node:http.
//
//   PEER_MODEL=examples/digits/digits-large.onnx PEER_PORT=PORT PEER_WORKERS=2 \
//       node bench/peers/node/server.js
//
// POST /predict  {"pixels": [64 numbers 0..16]}
//   -> {"digit": d, "confidence": p, "top3": [{"digit": d, "p": p}, ...]}
// (the same API and checks as examples/digits/glue.lua). GET /health -> ok.
//
// PEER_KIND=image serves an ImageNet-shaped classifier instead (the
// mobilenetv2 / resnet18 examples, bench/peers_image.sh), as
// examples/mobilenetv2/glue.lua does:
// POST /predict  (application/octet-stream, 3x224x224 FP32, 602112 bytes)
//   -> {"class": c, "top5": [{"class": c, "p": p}, ...]}
//
// Each worker holds its own InferenceSession (one intra-op thread, one
// inter-op thread, sequential execution, all graph optimisations), so
// PEER_WORKERS=2 uses the two cores. Install: ONNXRUNTIME_NODE_INSTALL=skip npm ci
"use strict";

const cluster = require("node:cluster");
const http = require("node:http");

const MODEL = process.env.PEER_MODEL || "digits-large.onnx";
const PORT = Number(process.env.PEER_PORT || 8080);
const WORKERS = Number(process.env.PEER_WORKERS || 2);
const KIND = process.env.PEER_KIND || "digits";
const IMAGE_BYTES = 3 * 224 * 224 * 4;
const MAX_BODY = KIND === "image" ? 8388608 : 65536;

if (cluster.isPrimary) {
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on("exit", (w, code, sig) => {
    console.error(`worker ${w.process.pid} exited (${sig || code})`);
  });
  const stop = () => {
    for (const id in cluster.workers) cluster.workers[id].process.kill("SIGTERM");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

// The k most probable classes of logits, softmax'ed: [[p, index], ...].
function topK(logits, k) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  const p = Array.from(logits, (v) => {
    const e = Math.exp(v - max);
    sum += e;
    return e;
  });
  return p.map((v, i) => [v / sum, i]).sort((a, b) => b[0] - a[0]).slice(0, k);
}

function checkPixels(px) {
  if (!Array.isArray(px) || px.length !== 64) {
    return "field 'pixels' must be an array of 64 numbers 0..16 (8x8, row by row)";
  }
  for (let i = 0; i < 64; i++) {
    const v = px[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 16)) {
      return `pixels[${i}] must be a number 0..16, got ${JSON.stringify(v)}`;
    }
  }
  return null;
}

async function main() {
  const ort = require("onnxruntime-node");
  const session = await ort.InferenceSession.create(MODEL, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  // Warm-up: the first run allocates and plans.
  const warm = KIND === "image" ? [1, 3, 224, 224] : [1, 1, 8, 8];
  await session.run({ [inName]: new ort.Tensor("float32", new Float32Array(warm.reduce((a, b) => a * b)), warm) });

  async function predictImage(buf) {
    if (buf.length !== IMAGE_BYTES) {
      return [400, { error: `the body must be ${IMAGE_BYTES} bytes (3x224x224 FP32), got ${buf.length}` }];
    }
    const f = new Float32Array(IMAGE_BYTES / 4);
    Buffer.from(f.buffer).set(buf);
    const out = await session.run({ [inName]: new ort.Tensor("float32", f, [1, 3, 224, 224]) });
    const logits = out[outName].data;
    const top5 = topK(logits, 5).map(([v, i]) => ({ class: i, p: v }));
    return [200, { class: top5[0].class, top5 }];
  }

  async function predict(body) {
    let req;
    try {
      req = JSON.parse(body);
    } catch (e) {
      return [400, { error: "body is not JSON" }];
    }
    const px = req && typeof req === "object" ? req.pixels : undefined;
    const err = checkPixels(px);
    if (err) return [400, { error: err }];
    const x = new ort.Tensor("float32", Float32Array.from(px), [1, 1, 8, 8]);
    const out = await session.run({ [inName]: x });
    const logits = out[outName].data;
    const top3 = topK(logits, 3).map(([v, i]) => ({ digit: i, p: v }));
    return [200, { digit: top3[0].digit, confidence: top3[0].p, top3 }];
  }

  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/health") return send(res, 200, { status: "ok" });
    if (req.url !== "/predict") return send(res, 404, { error: "not found" });
    if (req.method !== "POST") return send(res, 405, { error: "method not allowed" });
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        send(res, 413, { error: "body too large" });
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => {
      if (size > MAX_BODY) return;
      const all = Buffer.concat(chunks);
      (KIND === "image" ? predictImage(all) : predict(all.toString("utf8"))).then(
        ([status, obj]) => send(res, status, obj),
        (e) => send(res, 500, { error: String(e && e.message ? e.message : e) }),
      );
    });
  });
  server.listen(PORT, "127.0.0.1");
}
