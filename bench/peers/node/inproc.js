// inproc.js - in-process baseline of peer (c) for bench/peers.sh:
// digits-large.onnx on onnxruntime-node, batch 1, one intra-op thread per
// process, the same session options as server.js, no HTTP.
//
//   node bench/peers/node/inproc.js MODEL.onnx PROCS SECONDS [SHAPE [THREADS]]
//
// SHAPE (e.g. 1,3,224,224 or 32,1,8,8, for bench/engines.sh) feeds another
// model or batch an input of that shape, values cycling through 0..16;
// without it the input is the digits image [1,1,8,8]. THREADS sets
// intraOpNumThreads (default 1, what server.js uses); per_s counts calls,
// whatever the batch.
//
// Runs PROCS cluster workers, each calling session.run() on the benchmark
// image (tensor built from a JS array, softmax + top-3 as the server does)
// for SECONDS; prints
//   INPROC procs=P calls=N per_s=R p50_us=A p99_us=B
"use strict";

const cluster = require("node:cluster");

const [model, procsArg, secondsArg] = process.argv.slice(2);
const procs = Number(procsArg || 1);
const seconds = Number(secondsArg || 5);
const shape = process.argv[5] ? process.argv[5].split(",").map(Number) : [1, 1, 8, 8];
const numel = shape.reduce((a, b) => a * b, 1);
const threads = Number(process.argv[6] || 1);
const PIXELS = [0, 0, 1, 10, 14, 0, 0, 0, 0, 0, 8, 14, 11, 3, 0, 0, 0, 0, 16, 2, 2, 0, 0, 0,
  0, 3, 13, 0, 0, 0, 0, 0, 0, 4, 13, 0, 6, 10, 3, 0, 0, 3, 15, 13, 12, 10, 12, 0,
  0, 0, 10, 16, 4, 5, 14, 0, 0, 0, 0, 9, 15, 14, 9, 0];

if (cluster.isPrimary) {
  const lats = [];
  let rate = 0; // calls per second, summed over the workers
  let ready = 0;
  let done = 0;
  for (let i = 0; i < procs; i++) {
    const w = cluster.fork();
    w.on("message", (m) => {
      if (m.ready && ++ready === procs) {
        for (const id in cluster.workers) cluster.workers[id].send({ go: true });
      }
      if (m.lat) {
        for (const v of m.lat) lats.push(v);
        rate += m.lat.length / m.elapsed;
        w.kill();
        if (++done === procs) {
          lats.sort((a, b) => a - b);
          const n = lats.length;
          console.log(`INPROC procs=${procs} calls=${n} per_s=${rate.toFixed(3)} ` +
            `p50_us=${Math.round(lats[n >> 1])} p99_us=${Math.round(lats[Math.min(n - 1, Math.floor(n * 0.99))])}`);
        }
      }
    });
  }
} else {
  (async () => {
    const ort = require("onnxruntime-node");
    const s = await ort.InferenceSession.create(model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
    const inName = s.inputNames[0];
    const outName = s.outputNames[0];
    for (let i = 0; i < (numel > 4096 ? 3 : 50); i++) {
      await s.run({ [inName]: new ort.Tensor("float32", new Float32Array(numel), shape) });
    }
    process.on("message", async () => {
      const lat = [];
      const start = performance.now();
      const end = start + seconds * 1000;
      const big = process.argv[5] ? Float32Array.from({ length: numel }, (_, i) => i % 17) : null;
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) break;
        const x = big || Float32Array.from(PIXELS);
        const out = await s.run({ [inName]: new ort.Tensor("float32", x, shape) });
        const l = out[outName].data;
        let max = -Infinity;
        for (const v of l) if (v > max) max = v;
        let sum = 0;
        const p = Array.from(l, (v) => { const e = Math.exp(v - max); sum += e; return e; });
        p.map((v, i) => [v / sum, i]).sort((a, b) => b[0] - a[0]).slice(0, 3);
        lat.push((performance.now() - t0) * 1000);
      }
      // the time the calls took, which a slow last call makes longer
      // than SECONDS
      process.send({ lat, elapsed: (performance.now() - start) / 1000 });
    });
    process.send({ ready: true });
  })();
}
