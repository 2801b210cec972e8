#!/usr/bin/env python3
"""Checks the files an interrupted nstyle run left (scripts/kill-test.sh), standard library only.
    check_outputs.py valid FILE...   each file complete: a PNG whose chunks' CRCs hold, whose
                                     image data inflates to the size its header says and which
                                     ends with IEND; JSON that parses; a safetensors file whose
                                     header parses and whose tensors end exactly at its end
    check_outputs.py digest FILE     the MD5 of a safetensors file's tensors (names and bytes,
                                     not its metadata)
Prints what is wrong and exits 1; exits 0 when all is well."""
import hashlib, json, struct, sys, zlib


def png(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return "no PNG signature"
    pos, idat, ihdr = 8, b"", None
    while pos + 12 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if len(body) != n or pos + 12 + n > len(data):
            return "chunk %s cut short" % kind
        crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(kind + body) != crc:
            return "chunk %s: bad CRC" % kind
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            if not ihdr:
                return "no IHDR"
            w, h, depth, colour = ihdr
            channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour, 1)
            want = h * (1 + w * channels * depth // 8)
            try:
                raw = zlib.decompress(idat)
            except zlib.error as e:
                return "image data: %s" % e
            return None if len(raw) == want else "image data %d bytes, want %d" % (len(raw), want)
        pos += 12 + n
    return "no IEND: cut short"


def safetensors(data):
    if len(data) < 8:
        return "shorter than its header's length"
    n, = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:
        return "header: %s" % e
    end = max([t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"] or [0])
    return None if 8 + n + end == len(data) else "%d bytes, the header says %d" % (
        len(data), 8 + n + end)


def tensors(path):
    data = open(path, "rb").read()
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    return {k: data[8 + n + t["data_offsets"][0]:8 + n + t["data_offsets"][1]]
            for k, t in header.items() if k != "__metadata__"}


def main():
    if sys.argv[1] == "digest":
        t = tensors(sys.argv[2])
        print(hashlib.md5(b"".join(k.encode() + t[k] for k in sorted(t))).hexdigest())
        return 0
    bad = 0
    for path in sys.argv[2:]:
        data = open(path, "rb").read()
        if path.endswith(".png"):
            why = png(data)
        elif path.endswith(".safetensors"):
            why = safetensors(data)
        elif path.endswith(".json"):
            try:
                json.loads(data)
                why = None
            except ValueError as e:
                why = str(e)
        else:
            why = "unknown kind of file"
        if why:
            print("%s: %s" % (path, why))
            bad = 1
    return bad


sys.exit(main())
