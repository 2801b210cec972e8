#!/usr/bin/python3
"""The table of bad inputs (docs/hardening.md), run through the built nstyle: each row makes its
input here (PNGs written byte by byte with zlib; a CMYK JPEG with Pillow), runs one command with
its output in a fresh folder, and checks the exit code, a piece of the message on stderr and
what is left in the output folder (nothing, unless the row writes a result, which must then
decode). Synthetic weights from tests/scripts/synthetic_models.py. Prints one line a row; exits
1 when a row fails, 77 (skipped, saying why) without Pillow (Debian: python3-pil).
    tests/scripts/test_bad_inputs.py NSTYLE"""
import json, math, os, shutil, struct, subprocess, sys, tempfile, zlib

try:
    from PIL import Image
except ImportError:
    print("SKIPPED: Pillow is not installed (Debian: apt-get install python3-pil; "
          "scripts/install-deps.sh installs it); it writes the CMYK JPEG")
    sys.exit(77)

nstyle = os.path.abspath(sys.argv[1])
here = os.path.dirname(os.path.abspath(__file__))
work = tempfile.mkdtemp()
os.chdir(work)
os.makedirs("data")
subprocess.run([sys.executable, os.path.join(here, "synthetic_models.py"), "data"], check=True,
               stdout=subprocess.DEVNULL)


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(path, w, h, depth, colour, rows=None, idat=None):
    """rows: a function of the row index giving its bytes (filter byte added here)."""
    if idat is None:
        z = zlib.compressobj(9)
        parts = [z.compress(b"\0" + rows(y)) for y in range(h)] if rows else []
        idat = b"".join(parts) + z.flush()
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour,
                                                               0, 0, 0))
    if idat:
        data += chunk(b"IDAT", idat)
    with open(path, "wb") as f:
        f.write(data + chunk(b"IEND", b""))


def bomb(path, w, h):
    """A w x h grey PNG of zeros, its IDAT deflated from one zero row repeated: tiny on disk."""
    z = zlib.compressobj(9)
    row = bytes(1 + w)
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    png(path, w, h, 8, 0, idat=idat)


def model_with(src, path, value):
    """src (safetensors) with its first F32 tensor's first value replaced."""
    data = bytearray(open(src, "rb").read())
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    name = sorted(k for k in header if k != "__metadata__" and header[k]["dtype"] == "F32")[0]
    off = 8 + n + header[name]["data_offsets"][0]
    data[off:off + 4] = struct.pack("<f", value)
    open(path, "wb").write(bytes(data))


# the inputs
w, h = 40, 30
png("ok.png", w, h, 8, 2, lambda y: bytes((x * 7 + y * 3) % 256 for x in range(w * 3)))
open("empty.png", "wb").close()
ok = open("ok.png", "rb").read()
open("truncated.png", "wb").write(ok[:len(ok) // 2])
open("notes.png", "w").write("not an image\n")
png("huge.png", 30001, 20, 8, 2)                 # a header alone, no pixel data
bomb("bomb.png", 20001, 20001)                   # 400 million pixels of zeros, about 400 KB
Image.new("CMYK", (w, h), (10, 200, 30, 40)).save("cmyk.jpg", quality=95)
png("deep.png", w, h, 16, 2, lambda y: bytes((x * 5 + y) % 256 for x in range(w * 6)))
png("grey_alpha.png", w, h, 8, 4, lambda y: bytes((x * 9 + y) % 256 for x in range(w * 2)))
model_with("data/tn.safetensors", "nan.safetensors", math.nan)
model_with("data/tn.safetensors", "inf.safetensors", math.inf)
model_with("data/vgg.safetensors", "nan_vgg.safetensors", math.nan)
open("a_file", "w").write("a file, not a folder\n")

TN, VGG = "data/tn.safetensors", "data/vgg.safetensors"


def stylize(src, model=TN, *more):
    return ["stylize", "-m", model, "-i", src, "-o", "out/styled.png", "--threads", "1",
            "--quiet", *more]


def render(*more, out="out/r.png", model=VGG):
    return ["render", "-c", "data/content_0.png", "-s", "data/style_0.png", "-o", out, "--model",
            model, "--content-layers", "relu2_2", "--style-layers", "relu1_2,relu2_2",
            "--iterations", "2", "--threads", "1", "--quiet", *more]


# kind, command, exit code, a piece of the message, the result it writes (None: nothing)
rows = [
    ("empty file", stylize("empty.png"), 1, "empty", None),
    ("truncated PNG", stylize("truncated.png"), 1, "truncated.png", None),
    ("not an image", stylize("notes.png"), 1, "notes.png", None),
    ("huge dimensions", stylize("huge.png"), 1, "over the limit of 30000 pixels a side", None),
    ("decompression bomb", stylize("bomb.png"), 1, "over the limit of 400000000 pixels", None),
    ("CMYK JPEG", stylize("cmyk.jpg"), 0, "", "out/styled.png"),
    ("16-bit PNG", stylize("deep.png"), 0, "", "out/styled.png"),
    ("grey+alpha PNG", stylize("grey_alpha.png"), 0, "", "out/styled.png"),
    ("wrong-architecture weights", stylize("ok.png", VGG), 1, "conv1.conv2d.weight", None),
    ("missing layers", render("--style-layers", "relu4_1"), 1, "conv4_1", None),
    ("NaN weights", stylize("ok.png", "nan.safetensors"), 1, "not finite", None),
    ("inf weights", stylize("ok.png", "inf.safetensors"), 1, "not finite", None),
    ("NaN VGG weights", render(model="nan_vgg.safetensors"), 1, "not finite", None),
    ("bad option value", stylize("ok.png", TN, "--size", "-3"), 2, "--size", None),
    ("unknown option", stylize("ok.png", TN, "--colour"), 2, "unknown option '--colour'", None),
    ("conflicting flags", stylize("ok.png", TN, "--codec", "libx264"), 2,
     "--codec and --crf are for a video output", None),
    ("output folder is a file", ["stylize", "-m", TN, "-i", "ok.png", "-o", "a_file/x.png",
                                 "--quiet"], 1, "a_file", None),
    ("unwritable output folder", render(out="/proc/1/r.png"), 1, "/proc/1", None),
]

fail = 0
for kind, args, want_rc, want_msg, result in rows:
    shutil.rmtree("out", ignore_errors=True)
    os.makedirs("out")
    p = subprocess.run([nstyle] + args, capture_output=True, text=True, timeout=300)
    err = p.stderr.strip()
    left = sorted(os.listdir("out"))
    problems = []
    if p.returncode != want_rc:
        problems.append("exit %d, want %d" % (p.returncode, want_rc))
    if want_msg not in err:
        problems.append("no '%s' in the message" % want_msg)
    if result is None and left:
        problems.append("left %s" % left)
    if result is not None:
        if left != [os.path.basename(result)]:
            problems.append("left %s, want only %s" % (left, result))
        else:
            Image.open(result).load()
    line = err.splitlines()[0] if err else ""
    print("%s: %s | exit %d | %s | left: %s" % ("FAIL" if problems else "ok", kind,
                                                  p.returncode, line, left or "nothing"))
    if problems:
        print("    " + "; ".join(problems) + "\n    stderr: " + err[:600])
        fail = 1
shutil.rmtree(work)
sys.exit(fail)
