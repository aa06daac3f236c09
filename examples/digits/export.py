#!/usr/bin/env python3
"""Train a small CNN on scikit-learn's bundled digits and export it.

    python3 export.py              # digits.onnx, digits.pt, samples.json (committed)
    python3 export.py --large      # digits-large.{onnx,pt,samples.json} (benchmarks, not committed)
    python3 export.py --opset 13   # another ONNX opset (see docs/backends.md)

Needs python3-torch and python3-sklearn (Debian); downloads nothing. The data
are the 8x8 images of load_digits(), pixel values 0..16; the model scales
them itself, so a client sends the raw numbers. Training is seeded and single
threaded, so a rerun gives the same weights on the same machine.

Outputs, next to this script:
  digits.onnx    ONNX, input "image" FP32 [-1,1,8,8], output "logits" FP32 [-1,10]
  digits.pt      TorchScript (torch.jit.trace), with the same signature stored
                 in the archive as extra file "cubeserve.json" (the torch plugin
                 reads it: TorchScript itself does not record shapes)
  samples.json   test-set inputs, labels and the logits torch computed for them
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))
INPUT = "image"
OUTPUT = "logits"
DEFAULT_OPSET = 11  # OpenCV 4.6 imports 11..17 for this model; 11 is the safe floor
N_SAMPLES = 32


class Digits(nn.Module):
    """conv-relu-conv-relu-maxpool-fc-relu-fc; width sets the size."""

    def __init__(self, c1, c2, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(c2 * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, image):
        x = image * (1.0 / 16.0)
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


def train(model, x, y, epochs, seed):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()


def signature():
    return {
        "inputs": [{"name": INPUT, "dtype": "FP32", "shape": [-1, 1, 8, 8]}],
        "outputs": [{"name": OUTPUT, "dtype": "FP32", "shape": [-1, 10]}],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--large", action="store_true",
                    help="the compute-bound variant (digits-large.*)")
    ap.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    ap.add_argument("--out", default=HERE, help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))
    n_test = len(x) // 5
    test_idx, train_idx = order[:n_test], order[n_test:]

    if args.large:
        prefix, model, epochs = "digits-large", Digits(64, 128, 1024), 4
    else:
        prefix, model, epochs = "digits", Digits(8, 16, 32), 30
    train(model, x[train_idx], y[train_idx], epochs, args.seed)

    with torch.inference_mode():
        logits = model(x[test_idx])
    acc = (logits.argmax(1) == y[test_idx]).float().mean().item()
    params = sum(p.numel() for p in model.parameters())
    print(f"{prefix}: {params} parameters, test accuracy {acc:.4f}", file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, prefix + ".onnx")
    pt_path = os.path.join(args.out, prefix + ".pt")
    samples_path = os.path.join(args.out, "samples.json" if not args.large
                                else prefix + ".samples.json")

    example = x[:1]
    torch.onnx.export(model, example, onnx_path, input_names=[INPUT],
                      output_names=[OUTPUT], opset_version=args.opset,
                      dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
                      do_constant_folding=True)
    traced = torch.jit.trace(model, example)
    torch.jit.save(traced, pt_path,
                   _extra_files={"cubeserve.json": json.dumps(signature())})

    pick = test_idx[:N_SAMPLES]
    with torch.inference_mode():
        ref = model(x[pick])
    samples = {
        "input": INPUT,
        "output": OUTPUT,
        "shape": [1, 8, 8],
        "samples": [
            {"pixels": [int(v) for v in x[i].flatten().tolist()],
             "label": int(y[i]),
             "logits": [float(np.float32(v)) for v in ref[k].tolist()]}
            for k, i in enumerate(pick.tolist())
        ],
    }
    with open(samples_path, "w") as f:
        json.dump(samples, f, separators=(",", ":"))
        f.write("\n")
    for p in (onnx_path, pt_path, samples_path):
        print(f"wrote {p} ({os.path.getsize(p)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
