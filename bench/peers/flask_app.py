"""flask_app.py - peer (b) of bench/peers.sh: the digits-large TorchScript
model behind Flask, served by gunicorn sync workers.

    PEER_MODEL=examples/digits/digits-large.pt \
        /usr/bin/gunicorn -w 2 -k sync -b 127.0.0.1:PORT \
        --chdir bench/peers flask_app:app

POST /predict  {"pixels": [64 numbers 0..16]}
  -> {"digit": d, "confidence": p, "top3": [{"digit": d, "p": p}, ...]}
(the same API and checks as examples/digits/glue.lua). GET /health -> ok.

The model is loaded when the module is imported, i.e. once per gunicorn
worker (no --preload: the usual setting, since libtorch's OpenMP pool does
not survive fork()). torch runs on one intra-op thread per worker (and
OpenBLAS on one thread: OPENBLAS_NUM_THREADS=1 is set by the bench), so two
workers use the two cores. PEER_TORCH_OPTIMIZE=1 (the default) freezes the
module and runs torch.jit.optimize_for_inference, what cubeserve's torch
manifest does with {"optimize": true}; 0 serves the module as loaded.
"""

import os

import torch
from flask import Flask, jsonify, request

torch.set_num_threads(int(os.environ.get("PEER_TORCH_THREADS", "1")))
torch.set_num_interop_threads(1)

MODEL_PATH = os.environ.get("PEER_MODEL", "digits-large.pt")
OPTIMIZE = os.environ.get("PEER_TORCH_OPTIMIZE", "1") == "1"
N_PIXELS = 64
MAX_VALUE = 16


def load(path, optimize):
    m = torch.jit.load(path, map_location="cpu")
    m.eval()
    if optimize:
        m = torch.jit.optimize_for_inference(torch.jit.freeze(m))
    with torch.inference_mode():
        m(torch.zeros(1, 1, 8, 8))  # warm-up: first call compiles the graph
    return m


model = load(MODEL_PATH, OPTIMIZE)
app = Flask(__name__)


def bad(msg):
    return jsonify({"error": msg}), 400


@app.get("/health")
def health():
    return jsonify({"status": "ok"})


@app.post("/predict")
def predict():
    body = request.get_json(silent=True)
    px = body.get("pixels") if isinstance(body, dict) else None
    if not isinstance(px, list) or len(px) != N_PIXELS:
        return bad("field 'pixels' must be an array of 64 numbers 0..16 (8x8, row by row)")
    for i, v in enumerate(px):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= v <= MAX_VALUE):
            return bad("pixels[%d] must be a number 0..16, got %r" % (i, v))
    with torch.inference_mode():
        x = torch.tensor(px, dtype=torch.float32).reshape(1, 1, 8, 8)
        p = torch.softmax(model(x)[0], 0)
        values, indices = torch.topk(p, 3)
    values = values.tolist()
    indices = indices.tolist()
    top3 = [{"digit": d, "p": v} for d, v in zip(indices, values)]
    return jsonify({"digit": indices[0], "confidence": values[0], "top3": top3})
