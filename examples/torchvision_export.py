#!/usr/bin/env python3
"""Export a torchvision classifier with fixed random weights (shared by
examples/resnet18/export.py and examples/mobilenetv2/export.py).

Nothing is downloaded: torchvision's constructor with weights=None, then
every parameter and BatchNorm statistic drawn from a seeded generator, so
the graph exercises real arithmetic (BatchNorm folding included) and a rerun
gives the same file. Needs python3-torch and python3-torchvision (Debian).

Writes, into --out (NAME: the example's name):
  NAME.onnx          ONNX (opset 11 unless the example says), input "image" FP32 [-1,3,224,224],
                     output "logits" FP32 [-1,1000]
  NAME.pt            TorchScript (torch.jit.trace) with the same signature
                     in the extra file "cubeserve.json"
  NAME.input.f32     a batch of 2 seeded inputs, raw little-endian FP32
  NAME.ref.json      torch's logits for them
"""

import argparse
import json
import os
import sys

import torch
import torchvision

INPUT = "image"
OUTPUT = "logits"
SHAPE = [3, 224, 224]
N_REF = 2


def randomize(model, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(c, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=gen))
            elif isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen)
                                 * (2.0 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(0.01 * torch.randn(mod.bias.shape, generator=gen))


def signature():
    return {
        "inputs": [{"name": INPUT, "dtype": "FP32", "shape": [-1] + SHAPE}],
        "outputs": [{"name": OUTPUT, "dtype": "FP32", "shape": [-1, 1000]}],
    }


def export(arch, prefix, out, seed=0, opset=11):
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = getattr(torchvision.models, arch)(weights=None)
    randomize(model, seed)
    model.eval()

    os.makedirs(out, exist_ok=True)
    onnx_path = os.path.join(out, prefix + ".onnx")
    pt_path = os.path.join(out, prefix + ".pt")
    in_path = os.path.join(out, prefix + ".input.f32")
    ref_path = os.path.join(out, prefix + ".ref.json")

    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn([N_REF] + SHAPE, generator=gen)
    with torch.inference_mode():
        ref = model(x)
    torch.onnx.export(model, x[:1], onnx_path, input_names=[INPUT],
                      output_names=[OUTPUT], opset_version=opset,
                      dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
                      do_constant_folding=True)
    traced = torch.jit.trace(model, x[:1])
    torch.jit.save(traced, pt_path,
                   _extra_files={"cubeserve.json": json.dumps(signature())})
    x.numpy().astype("<f4").tofile(in_path)
    with open(ref_path, "w") as f:
        json.dump({"input": INPUT, "output": OUTPUT, "shape": [N_REF] + SHAPE,
                   "input_file": os.path.basename(in_path),
                   "logits": [[float(v) for v in row] for row in ref.tolist()]},
                  f, separators=(",", ":"))
        f.write("\n")
    for p in (onnx_path, pt_path, in_path, ref_path):
        print(f"wrote {p} ({os.path.getsize(p)} bytes)", file=sys.stderr)


def main(arch, prefix, here, opset=11):
    ap = argparse.ArgumentParser(description=f"Export torchvision {arch} "
                                 "with fixed random weights (downloads nothing).")
    ap.add_argument("--out", default=here, help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opset", type=int, default=opset)
    args = ap.parse_args()
    export(arch, prefix, args.out, args.seed, args.opset)
