#!/usr/bin/env python3
"""Export torchvision mobilenet_v2 with fixed random weights: mobilenetv2.onnx,
mobilenetv2.pt, mobilenetv2.input.f32, mobilenetv2.ref.json next to this script (or --out).
Generated, not committed. See ../torchvision_export.py."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from torchvision_export import main  # noqa: E402

if __name__ == "__main__":
    # opset 10: OpenCV 4.6 cannot import the opset-11 Clip (ReLU6, min and
    # max as inputs); the xnnpack engine runs both (docs/backends.md)
    main("mobilenet_v2", "mobilenetv2", HERE, opset=10)
