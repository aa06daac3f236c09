#!/usr/bin/env python3
"""Write the image fixtures and Pillow/torchvision reference outputs.

    python3 make_fixtures.py OUTDIR

Needs python3-pil and python3-numpy (Debian); python3-torchvision only for
the torchvision pipeline reference (skipped, with a note, when missing).
Nothing is downloaded; every image is synthesised with a fixed seed, so two
runs write the same files. The tests (tests/unit/test_lua_image.c,
tests/integration/test_image_inputs.sh) call this into a temp dir: no
binary fixture is committed.

Files (raw references are 8-bit interleaved pixels, row by row, or
little-endian float32 for the tensor):
  photo.jpg, photo.png        640x480 RGB, smooth shapes plus noise
  photo.rgb                   Pillow's decode of photo.jpg
  photo_prog.jpg              the same pixels as a progressive JPEG
  photo_png.rgb               photo.png's pixels
  resize_bilinear_WxH.rgb     Pillow resize(BILINEAR) of photo.jpg
  resize_nearest_WxH.rgb      Pillow resize(NEAREST)
  tv_224.f32                  torchvision Resize(256), CenterCrop(224),
                              ToTensor, Normalize(ImageNet) of photo.jpg, NCHW
  gray.jpg gray.rgb           8-bit grey JPEG and its pixels
  gray.png gray_png.l         grey PNG and its pixels
  rgba.png rgba.rgba          RGBA PNG and its pixels
  palette.png palette.rgb     palette PNG and its RGB pixels
  rgb16.png rgb16.rgb         16-bit RGB PNG and the high bytes
  cmyk.jpg cmyk.rgb           CMYK JPEG and Pillow's convert("RGB") of it
  photo_l.l                   Pillow's convert("L") of photo.jpg
  draft_224.rgb               Pillow's draft("RGB", (224, 224)) of photo.jpg (320x240)
  exif.jpg                    photo.jpg with 16 APP1 (EXIF) segments, ~1 MB
  exif_big.jpg                the same with 40 segments, ~2.7 MB
  orient_K.jpg orient_K.rgb   a 48x32 JPEG whose EXIF Orientation is K (1..8),
                              and Pillow's ImageOps.exif_transpose of it
                              (every orient_K.jpg holds the same pixels)
  orient_6.png                the same pixels as a PNG with an eXIf chunk, 6
  orient_huge_6.jpg           an APP1 of 65533 bytes: 5400 other IFD0 entries
                              before Orientation 6 (upright: orient_6.rgb)
  exif_count2_6.jpg           Orientation 6 stored with a count of 2 (Pillow
                              takes the first value: upright is orient_6.rgb)
  exif_bad_NAME.jpg           malformed EXIF blocks (an IFD past the end, an
                              entry count past the end, a bad TIFF magic, a
                              value of 9, a cut entry, a 3-byte block):
                              ignored, the pixels are orient_1.rgb
  bomb.png                    a ~10 kB PNG claiming 100000x100000 pixels
  truncated.jpg truncated.png the first half of photo.jpg / photo.png
  corrupt.jpg                 a JPEG header followed by garbage
  corrupt.png                 photo.png with a flipped byte in its IDAT
  anim.gif                    a GIF
"""

import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

W, H = 640, 480
RESIZES = [("bilinear", 224, 224), ("bilinear", 37, 91), ("bilinear", 800, 600),
           ("bilinear", 640, 100), ("bilinear", 100, 480),
           ("nearest", 224, 224), ("nearest", 1000, 750), ("nearest", 33, 17)]
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def photo(rng):
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    r = 128 + 100 * np.sin(x / 37.0) * np.cos(y / 23.0)
    g = 255 * x / W
    b = 255 * ((x - 320) ** 2 + (y - 240) ** 2 < 150 ** 2)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (H, W, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def raw_png(width, height, depth, color, rows):
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (sig + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows, 9)) +
            png_chunk(b"IEND", b""))


def app1(tiff):
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def tiff(entries, le=True, ifd=8, count=None, magic=42):
    """A TIFF header and IFD0 of (tag, type, count, value) entries."""
    e = "<" if le else ">"
    head = (b"II" if le else b"MM") + struct.pack(e + "HI", magic, ifd)
    n = len(entries) if count is None else count
    body = struct.pack(e + "H", n)
    for tag, typ, cnt, val in entries:
        v = struct.pack(e + "HH", val, 0) if typ == 3 else struct.pack(e + "I", val)
        body += struct.pack(e + "HHI", tag, typ, cnt) + v
    return head + body + struct.pack(e + "I", 0)


def orientations(out, px):
    """orient_K.jpg, their upright references, a PNG, a huge and bad EXIF blocks."""
    small = Image.fromarray(np.ascontiguousarray(px), "RGB")
    for k in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = k
        path = os.path.join(out, f"orient_{k}.jpg")
        small.save(path, quality=90, exif=ex.tobytes())
        up = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        write(out, f"orient_{k}.rgb", up.tobytes())
    ex = Image.Exif()
    ex[0x0112] = 6
    small.save(os.path.join(out, "orient_6.png"), exif=ex.tobytes())
    small.save(os.path.join(out, "orient_none.jpg"), quality=90)
    plain = open(os.path.join(out, "orient_none.jpg"), "rb").read()
    os.remove(os.path.join(out, "orient_none.jpg"))
    bare = plain[:2], plain[2:]
    other = [(0x7000 + i % 4096, 3, 1, i % 65536) for i in range(5400)]
    huge = app1(tiff(other + [(0x0112, 3, 1, 6)]))
    write(out, "orient_huge_6.jpg", bare[0] + huge + bare[1])
    bad = {
        "ifd": tiff([(0x0112, 3, 1, 6)], ifd=0xfffffff0),
        "count": tiff([(0x0100, 3, 1, 48)], count=65535),
        "magic": tiff([(0x0112, 3, 1, 6)], magic=43),
        "value": tiff([(0x0112, 3, 1, 9)], le=False),
        "cut": tiff([(0x0112, 3, 1, 6)])[:14],
        "short": b"II*",
    }
    # two values where one is meant: Pillow takes the first
    write(out, "exif_count2_6.jpg", bare[0] + app1(tiff([(0x0112, 3, 2, 6)])) + bare[1])
    for name, t in bad.items():
        write(out, f"exif_bad_{name}.jpg", bare[0] + app1(t) + bare[1])
    assert len(huge) <= 65537, len(huge)


def write(out, name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) == 2 else 2)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(12)
    px = photo(rng)
    im = Image.fromarray(px, "RGB")
    im.save(os.path.join(out, "photo.jpg"), quality=90)
    im.save(os.path.join(out, "photo.png"))
    im.save(os.path.join(out, "photo_prog.jpg"), quality=90, progressive=True)
    write(out, "photo_png.rgb", px.tobytes())
    jpg = Image.open(os.path.join(out, "photo.jpg"))
    jpg.load()
    write(out, "photo.rgb", jpg.tobytes())
    write(out, "photo_l.l", jpg.convert("L").tobytes())
    d = Image.open(os.path.join(out, "photo.jpg"))
    d.draft("RGB", (224, 224))
    write(out, "draft_224.rgb", d.convert("RGB").tobytes())
    for filt, w, h in RESIZES:
        mode = Image.BILINEAR if filt == "bilinear" else Image.NEAREST
        write(out, f"resize_{filt}_{w}x{h}.rgb", jpg.resize((w, h), mode).tobytes())

    try:
        import torch
        from torchvision import transforms
        tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224),
                                 transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
        t = tf(jpg).unsqueeze(0).contiguous()
        write(out, "tv_224.f32", t.numpy().astype("<f4").tobytes())
    except ImportError:
        print("make_fixtures: no torchvision: tv_224.f32 not written", file=sys.stderr)

    gray = Image.fromarray(px[:, :, 1], "L")
    gray.save(os.path.join(out, "gray.jpg"), quality=90)
    g = Image.open(os.path.join(out, "gray.jpg"))
    write(out, "gray.rgb", g.convert("RGB").tobytes())
    gray.save(os.path.join(out, "gray.png"))
    write(out, "gray_png.l", gray.tobytes())

    alpha = (np.arange(W)[None, :] * 255 // W).repeat(H, 0).astype(np.uint8)
    rgba = Image.fromarray(np.dstack([px, alpha]), "RGBA")
    rgba.save(os.path.join(out, "rgba.png"))
    write(out, "rgba.rgba", rgba.tobytes())

    pal = im.convert("P", palette=Image.ADAPTIVE, colors=64)
    pal.save(os.path.join(out, "palette.png"))
    write(out, "palette.rgb", Image.open(os.path.join(out, "palette.png")).convert("RGB").tobytes())

    p16 = (px.astype(np.uint16) * 257 + rng.integers(0, 200, px.shape).astype(np.uint16))
    rows = b"".join(b"\x00" + p16[y].astype(">u2").tobytes() for y in range(H))
    write(out, "rgb16.png", raw_png(W, H, 16, 2, rows))
    write(out, "rgb16.rgb", (p16 >> 8).astype(np.uint8).tobytes())

    im.convert("CMYK").save(os.path.join(out, "cmyk.jpg"), quality=95)
    c = Image.open(os.path.join(out, "cmyk.jpg"))
    write(out, "cmyk.rgb", c.convert("RGB").tobytes())

    data = open(os.path.join(out, "photo.jpg"), "rb").read()
    exif = b"Exif\x00\x00" + bytes(rng.integers(0, 256, 65000, dtype=np.uint8))
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    write(out, "exif.jpg", data[:2] + app1 * 16 + data[2:])
    write(out, "exif_big.jpg", data[:2] + app1 * 40 + data[2:])
    write(out, "truncated.jpg", data[:len(data) // 2])
    write(out, "corrupt.jpg", data[:2] + b"\xff\xdb\x00\x43" + bytes(rng.integers(0, 256, 4000, dtype=np.uint8)))

    orientations(out, px[100:132, 200:248])

    pdata = bytearray(open(os.path.join(out, "photo.png"), "rb").read())
    write(out, "truncated.png", bytes(pdata[:len(pdata) // 2]))
    idat = pdata.find(b"IDAT")
    pdata[idat + 100] ^= 0x55
    write(out, "corrupt.png", bytes(pdata))

    # 100000 x 100000 grey: the first rows' zeros only, so the file is small
    side = 100000
    comp = zlib.compressobj(9)
    z = comp.compress(b"\x00" * (side + 1) * 100) + comp.flush()
    sig = b"\x89PNG\r\n\x1a\n"
    bomb = (sig + png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)) +
            png_chunk(b"IDAT", z) + png_chunk(b"IEND", b""))
    write(out, "bomb.png", bomb)

    im.resize((64, 48)).save(os.path.join(out, "anim.gif"))


if __name__ == "__main__":
    main()
