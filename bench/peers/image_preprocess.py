"""image_preprocess.py - the Python baseline of bench/image.sh: decode +
resize + normalise of one JPEG into a 224x224 FP32 NCHW array with Pillow
and numpy, per image, the way a Flask model server does it.

    /usr/bin/python3 bench/peers/image_preprocess.py FILE.jpg SECONDS OUT.f32 [draft]

With "draft", Pillow's draft("RGB", (224, 224)) first (the JPEG decoded at
a DCT scale that keeps it at least 224x224).

Prints "images N", "seconds S", "ms_per_image M"; writes the last array.
"""
import io
import sys
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def pipeline(data, draft):
    img = Image.open(io.BytesIO(data))
    if draft:
        img.draft("RGB", (224, 224))
    img = img.convert("RGB").resize((224, 224), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / np.float32(255)
    return np.ascontiguousarray(((x - MEAN) / STD)[None])


def main():
    path, secs, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    draft = len(sys.argv) > 4 and sys.argv[4] == "draft"
    data = open(path, "rb").read()
    n, t0 = 0, time.monotonic()
    while True:
        x = pipeline(data, draft)
        n += 1
        t = time.monotonic() - t0
        if t >= secs:
            break
    x.astype("<f4").tofile(out)
    print(f"images {n}\nseconds {t:.3f}\nms_per_image {t * 1e3 / n:.3f}")


if __name__ == "__main__":
    main()
