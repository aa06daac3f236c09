"""flask_image.py - peer of bench/image.sh: the mobilenet_image model (the
same MobileNetV2 weights examples/mobilenet_image/export.py makes, built
from the same seed) behind Flask with torchvision's transforms, served by
gunicorn sync workers.

    /usr/bin/gunicorn -w 2 -k sync -b 127.0.0.1:PORT --chdir bench/peers flask_image:app

POST /predict  the JPEG or PNG as the body -> {"top5": [{"label", "index", "score"}, ...]}
(the answer of examples/mobilenet_image/glue.lua). GET /health -> ok.
torch runs on one thread per worker, so two workers use two cores.
"""
import io
import os
import sys

import torch
from flask import Flask, jsonify, request
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "examples", "mobilenet_image"))
import export  # noqa: E402  (the example's own model builder)

torch.set_num_threads(1)
torch.set_num_interop_threads(1)
model = export.build(int(os.environ.get("PEER_SEED", "0")))
labels = export.categories()
tf = export.preprocess()
app = Flask(__name__)


@app.get("/health")
def health():
    return jsonify({"status": "ok"})


@app.post("/predict")
def predict():
    try:
        img = Image.open(io.BytesIO(request.get_data())).convert("RGB")
    except Exception as e:  # noqa: BLE001 - any decoder failure is the client's
        return jsonify({"error": f"not an image: {e}"}), 400
    with torch.inference_mode():
        p = torch.softmax(model(tf(img).unsqueeze(0)), dim=1)[0]
    scores, idx = p.topk(5)
    return jsonify({"top5": [{"label": labels[i], "index": i, "score": s}
                             for s, i in zip(scores.tolist(), idx.tolist())]})
