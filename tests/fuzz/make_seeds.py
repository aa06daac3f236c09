#!/usr/bin/env python3
"""Write the seed inputs of fuzz_image and fuzz_multipart into corpus/.

    python3 tests/fuzz/make_seeds.py

Needs python3-pil and python3-numpy. The seeds are tiny (a few hundred
bytes each) and deterministic; run.sh starts from them.
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def save(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def enc(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def main():
    rng = np.random.default_rng(3)
    px = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    rgb = Image.fromarray(px, "RGB")
    d = os.path.join(HERE, "corpus", "image")
    save(d, "rgb.jpg", enc(rgb, "JPEG", quality=50))
    save(d, "rgb-progressive.jpg", enc(rgb, "JPEG", quality=50, progressive=True))
    save(d, "gray.jpg", enc(rgb.convert("L"), "JPEG"))
    save(d, "cmyk.jpg", enc(rgb.convert("CMYK"), "JPEG"))
    save(d, "rgb.png", enc(rgb, "PNG"))
    save(d, "rgba.png", enc(rgb.convert("RGBA"), "PNG"))
    save(d, "palette.png", enc(rgb.convert("P"), "PNG"))
    save(d, "gray.png", enc(rgb.convert("L"), "PNG"))
    save(d, "interlaced.png", enc(rgb, "PNG", optimize=False))
    # EXIF orientation: the rotating path and the EXIF reader
    ex = Image.Exif()
    ex[0x0112] = 6
    save(d, "exif-orient6.jpg", enc(rgb, "JPEG", quality=50, exif=ex.tobytes()))
    ex[0x0112] = 7
    save(d, "exif-orient7.png", enc(rgb, "PNG", exif=ex.tobytes()))
    raw = b"".join(b"\x00" + bytes(12) for _ in range(2))
    ihdr = struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0)
    def chunk(k, v):
        return struct.pack(">I", len(v)) + k + v + struct.pack(">I", zlib.crc32(k + v) & 0xffffffff)
    save(d, "rgb16.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
         chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    save(d, "gif", enc(rgb, "GIF"))

    m = os.path.join(HERE, "corpus", "multipart")
    part = (b"--XyZ\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\necho\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"args\"\r\n\r\n{\"a\": 1}\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n\x89PNG\x00\x01\r\n--XyZ--\r\n")
    save(m, "form", b"multipart/form-data; boundary=XyZ\n\n" + part)
    save(m, "quoted", b"multipart/form-data; boundary=\"a b\"\n\n--a b\r\n"
         b"Content-Disposition: form-data; name=\"x\"; filename=\"q\\\"x\"\r\n\r\n1\r\n--a b--")
    save(m, "json", b"application/json\n\n{\"action\": \"info\", \"args\": {\"k\": [1, 2]}}")
    save(m, "stream", b"image/jpeg\naction=info&x=1\n\xff\xd8\xff\xe0")


if __name__ == "__main__":
    main()
