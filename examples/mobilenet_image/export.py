#!/usr/bin/env python3
"""Make the mobilenet_image model: torchvision's MobileNetV2 with fixed random
weights, exported to ONNX, and PyTorch's own answers for reference.

    python3 export.py                       # mobilenet_v2.onnx + labels.txt here
    python3 export.py --out DIR             # into DIR (tests use a temp dir)
    python3 export.py --out DIR --reference ref.json IMG...
                                            # also PyTorch's top-5 for each IMG

Needs python3-torch, python3-torchvision and python3-pil (Debian); downloads
nothing: weights=None, initialised from a fixed seed, so the "classes" are
meaningless but the network is the real architecture (3.5 M parameters,
about 300 MFLOPs per image). BatchNorm statistics come from a few batches of
synthetic noise and the classifier is re-initialised with a larger spread,
so that the answer depends on the image and the top-5 scores are apart
(with torchvision's default init every class gets ~0.001, for any image).

Outputs:
  mobilenet_v2.onnx  input "input" FP32 [-1,3,224,224] (ImageNet-normalised
                     RGB), output "logits" FP32 [-1,1000]; about 14 MB, not
                     committed (make it with this script)
  labels.txt         the 1000 ImageNet class names, one a line (committed)
  ref.json           per image: PyTorch's softmax top-5 after torchvision's
                     Resize(256), CenterCrop(224), ToTensor, Normalize
"""

import argparse
import json
import os
import sys

import torch
import torchvision
from torchvision import transforms

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def build(seed):
    """Seeded init; BatchNorm statistics from synthetic smooth noise (so the
    features depend on the image); a classifier spread enough that the top
    scores are apart."""
    torch.manual_seed(seed)
    model = torchvision.models.mobilenet_v2(weights=None)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # a plain average over the calibration batches
    gen = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        for _ in range(4):
            x = torch.randn(16, 3, 224, 224, generator=gen)
            model(torch.nn.functional.avg_pool2d(x, 9, 1, 4) * 3)
    lin = model.classifier[1]
    torch.nn.init.normal_(lin.weight, 0.0, 0.2)
    torch.nn.init.zeros_(lin.bias)
    model.eval()
    return model


def preprocess():
    return transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224),
                               transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def categories():
    from torchvision.models import MobileNet_V2_Weights
    return list(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE, help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    # 10: Clip (ReLU6) with min/max attributes; OpenCV 4.6 cannot read opset 11's Clip inputs here
    ap.add_argument("--opset", type=int, default=10)
    ap.add_argument("--reference", metavar="JSON", help="write PyTorch's top-5 for the images")
    ap.add_argument("images", nargs="*")
    args = ap.parse_args()
    if args.images and not args.reference:
        ap.error("images given without --reference")

    torch.set_num_threads(1)
    model = build(args.seed)
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "mobilenet_v2.onnx")
    example = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(model, example, onnx_path, input_names=["input"],
                      output_names=["logits"], opset_version=args.opset,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    labels = categories()
    with open(os.path.join(args.out, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes)", file=sys.stderr)

    if args.reference:
        from PIL import Image
        tf = preprocess()
        ref = []
        for path in args.images:
            img = Image.open(path).convert("RGB")
            with torch.inference_mode():
                p = torch.softmax(model(tf(img).unsqueeze(0)), dim=1)[0]
            scores, idx = p.topk(5)
            ref.append({"image": os.path.basename(path),
                        "top5": [{"index": int(i), "label": labels[int(i)], "score": float(s)}
                                 for s, i in zip(scores.tolist(), idx.tolist())],
                        "probs": [float(v) for v in p.tolist()]})
        with open(args.reference, "w") as f:
            json.dump(ref, f)
        print(f"wrote {args.reference} ({len(ref)} images)", file=sys.stderr)


if __name__ == "__main__":
    main()
