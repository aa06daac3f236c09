#!/usr/bin/env python3
"""Export torchvision resnet18 with fixed random weights: resnet18.onnx,
resnet18.pt, resnet18.input.f32, resnet18.ref.json next to this script (or --out).
Generated, not committed. See ../torchvision_export.py."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from torchvision_export import main  # noqa: E402

if __name__ == "__main__":
    main("resnet18", "resnet18", HERE)
