#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/), small files made here, each a
valid input of the kind its parser reads, so the fuzzer starts from every path the parser has:

  json/         documents: a safetensors header, escapes, surrogate pairs, numbers, nesting
  safetensors/  tests/golden/safetensors_sample.safetensors, and files built here: every dtype,
                metadata, empty and 0-d tensors, a padded header, no tensors at all
  image/        PNG (grey, grey+alpha, RGB, RGBA, palette with tRNS, 1- and 4-bit grey, 16-bit,
                Adam7 interlaced; rows with every filter), BMP (1, 4, 8, 16 (565), 24, 32 bits,
                top-down), TGA (true colour, RLE, grey, colour-mapped), JPEG (baseline 4:2:0 and
                4:4:4, progressive, grey, restart markers, EXIF orientation 6 little-endian and
                3 big-endian)

    python3 fuzz/make_seeds.py [OUT_DIR]      (default: fuzz/corpus)

Standard library only, except the JPEGs, which cjpeg makes (Debian libjpeg-turbo-progs); without
it they are left as they are. The corpus is committed, so fuzzing needs none of this; the
findings' reproducers sit beside the seeds (named finding-*). Tested by fuzz/run.sh, which runs
every target over its corpus.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
W, H = 17, 9  # not multiples of 8 or 16: edge blocks and padding paths


def pixel(x, y, c):
    return (x * 37 + y * 71 + c * 101 + (x * y) % 13) & 0xFF


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---- PNG ------------------------------------------------------------------------------------

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_rows(w, h, depth, channels):
    """Raw sample rows (no filter byte) of a w x h image."""
    rows = []
    for y in range(h):
        if depth < 8:
            per = 8 // depth
            row = bytearray()
            for x0 in range(0, w, per):
                b = 0
                for k in range(per):
                    v = pixel(x0 + k, y, 0) >> (8 - depth) if x0 + k < w else 0
                    b |= v << (8 - depth * (k + 1))
                row.append(b)
        elif depth == 16:
            row = b"".join(struct.pack(">H", pixel(x, y, c) << 8 | x)
                           for x in range(w) for c in range(channels))
        else:
            row = bytes(pixel(x, y, c) for x in range(w) for c in range(channels))
        rows.append(bytes(row))
    return rows


def filtered(rows, bpp):
    """Each row with its filter byte, cycling through filters 0..4 (encoded exactly)."""
    out, prev = bytearray(), bytes(len(rows[0]) if rows else 0)
    for i, row in enumerate(rows):
        ft = i % 5
        enc = bytearray()
        for x, v in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1:
                p = a
            elif ft == 2:
                p = b
            elif ft == 3:
                p = (a + b) // 2
            elif ft == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else b if pb <= pc else c
            else:
                p = 0
            enc.append((v - p) & 0xFF)
        out += bytes([ft]) + enc
        prev = row
    return bytes(out)


def png(w, h, depth, ctype, extra=b"", interlace=0):
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    bpp = max(1, depth * channels // 8)
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                  (1, 0, 2, 2), (0, 1, 1, 2)]
        full = png_rows(w, h, 8, channels)
        raw = b""
        for x0, y0, dx, dy in passes:
            rows = [bytes(b for x in range(x0, w, dx) for b in full[y][x * channels:
                                                                     (x + 1) * channels])
                    for y in range(y0, h, dy)]
            rows = [r for r in rows if r]
            if rows:
                raw += filtered(rows, bpp)
    else:
        raw = filtered(png_rows(w, h, depth, channels), bpp)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def png_seeds(out):
    write(f"{out}/grey.png", png(W, H, 8, 0))
    write(f"{out}/grey_alpha.png", png(W, H, 8, 4))
    write(f"{out}/rgb.png", png(W, H, 8, 2))
    write(f"{out}/rgba.png", png(W, H, 8, 6))
    write(f"{out}/rgb16.png", png(W, H, 16, 2))
    write(f"{out}/grey1.png", png(W, H, 1, 0))
    write(f"{out}/grey4.png", png(W, H, 4, 0))
    plte = chunk(b"PLTE", bytes(pixel(i, 0, c) for i in range(256) for c in range(3)))
    trns = chunk(b"tRNS", bytes(range(0, 256, 8)))
    write(f"{out}/palette.png", png(W, H, 8, 3, plte + trns))
    write(f"{out}/interlaced.png", png(W, H, 8, 2, interlace=1))


# ---- BMP ------------------------------------------------------------------------------------

def bmp(w, h, bits, top_down=False):
    palette = b""
    masks = b""
    if bits <= 8:
        palette = b"".join(bytes([pixel(i, 1, 2), pixel(i, 1, 1), pixel(i, 1, 0), 0])
                           for i in range(1 << bits))
    rows = []
    for y in range(h):
        if bits <= 8:
            per = 8 // bits
            row = bytearray()
            for x0 in range(0, w, per):
                b = 0
                for k in range(per):
                    v = (pixel(x0 + k, y, 0) >> (8 - bits)) if x0 + k < w else 0
                    b |= v << (8 - bits * (k + 1))
                row.append(b)
        elif bits == 16:
            row = b"".join(struct.pack("<H", (pixel(x, y, 0) >> 3) << 11 |
                                       (pixel(x, y, 1) >> 2) << 5 | pixel(x, y, 2) >> 3)
                           for x in range(w))
        else:
            row = b"".join(bytes([pixel(x, y, 2), pixel(x, y, 1), pixel(x, y, 0)] +
                                 ([pixel(x, y, 3)] if bits == 32 else [])) for x in range(w))
        row = bytes(row) + bytes(-len(row) % 4)
        rows.append(row)
    if not top_down:
        rows.reverse()
    pixels = b"".join(rows)
    compression = 3 if bits in (16, 32) else 0
    if compression == 3:
        masks = (struct.pack("<III", 0xF800, 0x07E0, 0x001F) if bits == 16 else
                 struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000))
    info_size = 40 if bits != 32 else 108  # BITMAPV4HEADER for the alpha mask
    info = struct.pack("<IiiHHIIiiII", info_size, w, -h if top_down else h, 1, bits,
                       compression, len(pixels), 2835, 2835, len(palette) // 4, 0)
    if info_size == 40:
        info += masks  # BI_BITFIELDS masks follow a 40-byte header
    else:
        info += masks + b"\0" * (info_size - 40 - len(masks))
    offset = 14 + len(info) + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return header + info + palette + pixels


def bmp_seeds(out):
    for bits in (1, 4, 8, 16, 24, 32):
        write(f"{out}/bmp{bits}.bmp", bmp(W, H, bits))
    write(f"{out}/bmp24_top_down.bmp", bmp(W, H, 24, top_down=True))


# ---- TGA ------------------------------------------------------------------------------------

def tga(w, h, kind, bits, rle=False, colormap=False):
    cmap = b""
    if colormap:
        cmap = bytes(pixel(i, 2, c) for i in range(256) for c in range(3))
    channels = bits // 8
    pixels = []
    for y in range(h):
        for x in range(w):
            if colormap or channels == 1:
                pixels.append(bytes([pixel(x, y, 0) if not colormap else (x + y) & 0xFF]))
            else:
                pixels.append(bytes(pixel(x, y, c) for c in (2, 1, 0, 3)[:channels]))
    if rle:
        body, i = bytearray(), 0
        while i < len(pixels):  # runs of 3 equal pixels, then raw packets of up to 4
            if i % 11 == 0:
                body += bytes([0x80 | 2]) + pixels[i]
                i += 3
            else:
                n = min(4, len(pixels) - i)
                body += bytes([n - 1]) + b"".join(pixels[i:i + n])
                i += n
        data = bytes(body)
        kind += 8
    else:
        data = b"".join(pixels)
    header = struct.pack("<BBBHHBHHHHBB", 0, 1 if colormap else 0, kind, 0,
                         256 if colormap else 0, 24 if colormap else 0, 0, 0, w, h, bits,
                         0x20)  # top-left origin
    return header + cmap + data


def tga_seeds(out):
    write(f"{out}/rgb.tga", tga(W, H, 2, 24))
    write(f"{out}/rgba_rle.tga", tga(W, H, 2, 32, rle=True))
    write(f"{out}/grey.tga", tga(W, H, 3, 8))
    write(f"{out}/colormap.tga", tga(W, H, 1, 8, colormap=True))


# ---- JPEG (cjpeg) ---------------------------------------------------------------------------

def exif_app1(orientation, little_endian):
    e = "<" if little_endian else ">"
    tiff = (b"II*\0" if little_endian else b"MM\0*") + struct.pack(e + "I", 8)
    entries = [(0x010F, 2, 4, b"cam\0"), (0x0112, 3, 1, struct.pack(e + "H", orientation) +
                                          b"\0\0")]
    tiff += struct.pack(e + "H", len(entries))
    for tag, kind, count, value in entries:
        tiff += struct.pack(e + "HHI", tag, kind, count) + value
    tiff += struct.pack(e + "I", 0)
    payload = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def jpeg_seeds(out):
    if not shutil.which("cjpeg"):
        print("make_seeds.py: cjpeg not found, JPEG seeds left as they are", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        ppm, pgm = f"{tmp}/in.ppm", f"{tmp}/in.pgm"
        write(ppm, f"P6 {W} {H} 255\n".encode() +
              bytes(pixel(x, y, c) for y in range(H) for x in range(W) for c in range(3)))
        write(pgm, f"P5 {W} {H} 255\n".encode() +
              bytes(pixel(x, y, 0) for y in range(H) for x in range(W)))
        runs = {"baseline.jpg": ["-quality", "90", ppm],
                "baseline_444.jpg": ["-sample", "1x1", "-optimize", ppm],
                "progressive.jpg": ["-progressive", ppm],
                "grey.jpg": ["-grayscale", pgm],
                "restart.jpg": ["-restart", "1B", ppm]}
        for name, args in runs.items():
            data = subprocess.run(["cjpeg"] + args, check=True, capture_output=True).stdout
            write(f"{out}/{name}", data)
        base = open(f"{out}/baseline.jpg", "rb").read()
        write(f"{out}/exif6_le.jpg", base[:2] + exif_app1(6, True) + base[2:])
        write(f"{out}/exif3_be.jpg", base[:2] + exif_app1(3, False) + base[2:])


# ---- safetensors and JSON --------------------------------------------------------------------

def safetensors(tensors, metadata=None, pad=0):
    """tensors: [(name, dtype, shape, raw bytes)] laid out in this order."""
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset,
                                                                          offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode() + b" " * pad
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def safetensors_seeds(out):
    shutil.copy(f"{ROOT}/tests/golden/safetensors_sample.safetensors", f"{out}/sample.safetensors")
    f32 = struct.pack("<4f", 1.0, -2.5, 0.0, float("inf"))
    write(f"{out}/dtypes.safetensors", safetensors([
        ("a.f32", "F32", [2, 2], f32),
        ("b.f16", "F16", [3], struct.pack("<3H", 0x3C00, 0x8001, 0x7E00)),
        ("c.bf16", "BF16", [1, 2], struct.pack("<2H", 0x3F80, 0xFF80)),
        ("d.f64", "F64", [1], struct.pack("<d", 0.1)),
        ("e.u8", "U8", [2, 1, 2], bytes([0, 1, 254, 255]))],
        {"input": "rgb-0-255", "arch": "vgg19"}))
    write(f"{out}/zero_d_and_empty.safetensors", safetensors([
        ("scalar", "F32", [], struct.pack("<f", 3.0)),
        ("empty", "F16", [0, 4], b""),
        ("w", "U8", [1], b"\x07")], pad=7))
    write(f"{out}/no_tensors.safetensors", safetensors([], {"note": "nothing"}))
    write(f"{out}/empty_header.safetensors", safetensors([]))


JSON_DOCS = {
    "header.json": '{"__metadata__":{"input":"rgb-0-1-imagenet-norm"},"features.0.weight":'
                   '{"dtype":"F32","shape":[64,3,3,3],"data_offsets":[0,6912]}}',
    "escapes.json": '["\\"\\\\\\/\\b\\f\\n\\r\\t", "\\u00e9\\u20ac\\ud83d\\ude00", "caf\u00e9",'
                    ' "\\u0000nul", ""]',
    "numbers.json": '[0, -0, 1, -1, 9223372036854775807, -9223372036854775808, '
                    '9223372036854775808, 1.5, -2.25e-3, 1E+400, 0.1e1, 123456789012345678901234]',
    "nested.json": '{"a": [[[{"b": {"c": [true, false, null]}}]]], "d": {}, "e": []}',
    "literals.json": ' \t\r\n null \n',
    "utf8.json": '{"\u00df": "\u4e2d\u6587", "\U0001F600": "\u0394x"}',
}


def json_seeds(out):
    for name, text in JSON_DOCS.items():
        write(f"{out}/{name}", text.encode())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else f"{HERE}/corpus"
    png_seeds(f"{out}/image")
    bmp_seeds(f"{out}/image")
    tga_seeds(f"{out}/image")
    jpeg_seeds(f"{out}/image")
    os.makedirs(f"{out}/safetensors", exist_ok=True)
    safetensors_seeds(f"{out}/safetensors")
    json_seeds(f"{out}/json")


if __name__ == "__main__":
    main()
