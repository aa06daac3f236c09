"""image_preprocess.py - the Python baseline of bench/image.sh: decode +
resize + normalise of one JPEG into a 224x224 FP32 NCHW array with Pillow
and numpy, per image, the way a Flask model server does it.

    /usr/bin/python3 bench/peers/image_preprocess.py FILE.jpg SECONDS OUT.f32 [draft|example]

With "draft", Pillow's draft("RGB", (224, 224)) first (the JPEG decoded at
a DCT scale that keeps it at least 224x224). With "example", the
preprocessing of bench/peers/flask_image.py (torchvision's Resize(256),
CenterCrop(224), ToTensor, Normalize on the Pillow image), as the served
peer runs it.

Prints "images N", "seconds S", "ms_per_image M"; writes the last array;
then the decode alone (open, draft, convert("RGB")) for SECONDS / 2:
"decode_ms M".
"""
import io
import sys
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def decode(data, draft):
    img = Image.open(io.BytesIO(data))
    if draft:
        img.draft("RGB", (224, 224))
    return img.convert("RGB")


def pipeline(data, draft):
    img = decode(data, draft).resize((224, 224), Image.BILINEAR)
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / np.float32(255)
    return np.ascontiguousarray(((x - MEAN) / STD)[None])


def example_pipeline():
    import torch
    from torchvision import transforms
    torch.set_num_threads(1)
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224),
                             transforms.ToTensor(), transforms.Normalize(MEAN.ravel(), STD.ravel())])
    return lambda data, draft: tf(decode(data, False)).unsqueeze(0).numpy()


def main():
    path, secs, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    mode = sys.argv[4] if len(sys.argv) > 4 else ""
    draft = mode == "draft"
    run = example_pipeline() if mode == "example" else pipeline
    data = open(path, "rb").read()
    n, t0 = 0, time.monotonic()
    while True:
        x = run(data, draft)
        n += 1
        t = time.monotonic() - t0
        if t >= secs:
            break
    x.astype("<f4").tofile(out)
    nd, t0 = 0, time.monotonic()
    while True:
        decode(data, draft)
        nd += 1
        td = time.monotonic() - t0
        if td >= secs / 2:
            break
    print(f"images {n}\nseconds {t:.3f}\nms_per_image {t * 1e3 / n:.3f}\n"
          f"decode_ms {td * 1e3 / nd:.3f}")


if __name__ == "__main__":
    main()
