"""Small damaged torch.save files that reproduce what fuzzing the converters found
(fuzz/fuzz_models.py, docs/fuzzing.md): each made the converters (models/nst_pickle.py,
models/nst_convert.py) fail with a traceback, hang or allocate gigabytes instead of refusing the
file in one line. Standard library only: the tensors are pickled through stand-ins registered
under torch's names for the time this script runs (no torch needed, and nothing of torch's run).

    cd tests/golden && python3 gen_fuzz_pickles.py     # writes pickles/fuzz_*

  fuzz_memo_index.bin     a legacy file whose main pickle stores its dict at memo index 2^27:
                          pickle grew its memo to 2^28 entries (2 GiB) before anything failed
  fuzz_frame.bin          a FRAME opcode claiming 2^64 - 1 bytes (OverflowError)
  fuzz_bytes_length.bin   a BINBYTES8 claiming 2^62 bytes (OverflowError or MemoryError)
  fuzz_int_key.bin        a state_dict with an int key next to the tensors (AttributeError,
                          TypeError in the converters)
  fuzz_overlap.pth        zip layout: a conv weight of 2^27 x 3 x 3 x 3 elements and its bias,
                          all strides 0 over a one-element storage (to_bytes ran for hours)
  fuzz_zip_deflate.pth    zip layout whose data.pkl is deflate-compressed with a damaged stream
                          (zlib.error; torch.save stores entries uncompressed)
  fuzz_zip_offset.pth     zip layout whose end record puts the central directory 4096 bytes
                          further than it is (ValueError: negative seek value)
  fuzz_zip_name.pth       zip layout with an entry name flagged UTF-8 that is not
                          (UnicodeDecodeError)
  fuzz_zip_version.pth    zip layout whose entry needs zip version 12.7 to extract
                          (NotImplementedError)
Read by tests/test_model_convert.c; also seeds of fuzz/fuzz_models.py, which reads this folder.
"""
import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile

OUT = "pickles"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# ---- stand-ins pickled under torch's names ----------------------------------------------------
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")


class FloatStorage:
    pass


FloatStorage.__module__ = "torch"
torch.FloatStorage = FloatStorage


def _rebuild_tensor_v2(*args):
    raise AssertionError("never called here")


_rebuild_tensor_v2.__module__ = "torch._utils"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
torch._utils = torch_utils
sys.modules.update({"torch": torch, "torch._utils": torch_utils})


class Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Tensor:
    def __init__(self, storage, size, stride):
        self.storage, self.size, self.stride = storage, size, stride

    def __reduce__(self):
        return (_rebuild_tensor_v2, (self.storage, 0, self.size, self.stride, False,
                                     collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            record = ("storage", FloatStorage, obj.key, "cpu", obj.numel)
            return record + (None,) if self.legacy else record
        return None


def dumps(obj, legacy):
    f = io.BytesIO()
    Pickler(f, legacy).dump(obj)
    return f.getvalue()


def legacy_file(main_pickle, storages):
    """A legacy torch.save file around main_pickle (bytes), storages [(key, float values)]."""
    head = b"".join(pickle.dumps(x, protocol=2) for x in (
        LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                             "type_sizes": {"short": 2, "int": 4, "long": 4}}))
    tail = pickle.dumps([k for k, _ in storages], protocol=2)
    for _key, values in storages:
        tail += struct.pack("<q", len(values)) + struct.pack(f"<{len(values)}f", *values)
    return head + main_pickle + tail


def zip_file(entries, compression=zipfile.ZIP_STORED):
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", compression) as z:
        for name, data in entries:  # a fixed time stamp: the same bytes on every run
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 6, 1, 0, 0, 0)), data,
                       compress_type=compression)
    return f.getvalue()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    s0 = Storage("0", 1)
    bias = Tensor(s0, (4,), (1,))
    small = collections.OrderedDict([("features.0.bias", Tensor(Storage("0", 4), (4,), (1,)))])

    # PROTO 2, EMPTY_DICT, LONG_BINPUT 2^27, STOP
    write("fuzz_memo_index.bin", legacy_file(b"\x80\x02}r" + struct.pack("<I", 1 << 27) + b".",
                                             []))
    # PROTO 4, FRAME 2^64 - 1
    write("fuzz_frame.bin", legacy_file(b"\x80\x04\x95" + b"\xff" * 8 + b"}.", []))
    # PROTO 4, BINBYTES8 2^62
    write("fuzz_bytes_length.bin", legacy_file(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) +
                                               b"abc.", []))
    d = collections.OrderedDict([("features.0.bias", Tensor(Storage("0", 4), (4,), (1,))),
                                 (7, Tensor(Storage("0", 4), (4,), (1,)))])
    write("fuzz_int_key.bin", legacy_file(dumps(d, True), [("0", [1.0, 2.0, 3.0, 4.0])]))

    wide = 1 << 27
    overlap = collections.OrderedDict([
        ("features.0.weight", Tensor(s0, (wide, 3, 3, 3), (0, 0, 0, 0))),
        ("features.0.bias", Tensor(s0, (wide,), (0,)))])
    write("fuzz_overlap.pth", zip_file([("fuzz_overlap/data.pkl", dumps(overlap, False)),
                                        ("fuzz_overlap/data/0", struct.pack("<f", 0.5))]))
    del bias

    good = [("archive/data.pkl", dumps(small, False)),
            ("archive/data/0", struct.pack("<4f", 1, 2, 3, 4))]
    z = bytearray(zip_file(good, zipfile.ZIP_DEFLATED))
    at = z.index(b"archive/data.pkl") + len("archive/data.pkl")  # the local entry's data
    z[at + 4:at + 8] = b"\xff\xff\xff\xff"
    write("fuzz_zip_deflate.pth", bytes(z))

    z = bytearray(zip_file(good))
    end = z.rindex(b"PK\x05\x06")
    (cd_offset,) = struct.unpack("<I", z[end + 16:end + 20])
    z[end + 16:end + 20] = struct.pack("<I", cd_offset + 4096)
    write("fuzz_zip_offset.pth", bytes(z))

    z = bytearray(zip_file(good))
    cd = z.index(b"PK\x01\x02")  # first central directory entry: flags at +8, name at +46
    (flags,) = struct.unpack("<H", z[cd + 8:cd + 10])
    z[cd + 8:cd + 10] = struct.pack("<H", flags | 0x800)
    z[cd + 46] = 0xFF
    write("fuzz_zip_name.pth", bytes(z))

    z = bytearray(zip_file(good))
    cd = z.index(b"PK\x01\x02")  # version needed to extract at +6: 12.7
    z[cd + 6:cd + 8] = struct.pack("<H", 127)
    write("fuzz_zip_version.pth", bytes(z))


if __name__ == "__main__":
    main()
