"""Reads torch.save files without torch and without running any code from them.

A torch.save file is a pickle, and a pickle can name any Python callable to run while it loads.
This reader never calls one from the file: its Unpickler resolves only the globals the caller
allows, by exact name, to stand-ins defined here (a tensor record, a storage type marker,
collections.OrderedDict); any other name stops the load with TorchFileError before anything
from the file runs. Storages are read as raw bytes and tensors are (storage, offset, shape,
stride) records whose bounds are checked against the storage.

Both layouts torch.save writes are read:
  - legacy (torch < 1.6, or _use_new_zipfile_serialization=False): a pickled magic number, the
    protocol version 1001, a pickled system-info dict, the main pickle, a pickled list of storage
    keys, then each storage in that order as an int64 element count and its raw bytes. Trailing
    bytes, truncation and a count that differs from the one the pickle declared are refused.
  - zip (torch >= 1.6): <prefix>/data.pkl plus <prefix>/data/<key> per storage; each storage's
    size must equal what the pickle declared, and no entry may be left unexplained; entries
    must be stored uncompressed and unencrypted, as torch.save writes them.

Before the unpickler sees a pickle, pickletools walks it: lengths that run past the data and memo
indices past the opcode count are refused there, so a few bytes cannot make the unpickler
allocate gigabytes. Anything malformed is a TorchFileError, never another exception.

    import nst_pickle
    obj = nst_pickle.load("w.bin", nst_pickle.STATE_DICT_GLOBALS)
    t = obj["features.0.weight"]          # a nst_pickle.Tensor
    t.dtype, t.shape, t.to_bytes()        # "float32", (64, 3, 3, 3), C-order little-endian bytes

Standard library only. Tested by tests/test_model_convert.c, through the converters in this
folder, on files made by tests/golden/gen_model_pickles.py (real torch.save output, including a
file whose pickle would run os.system, and truncated and padded ones), and by the mutation
harness fuzz/fuzz_models.py (docs/fuzzing.md).
"""
import collections
import io
import itertools
import pickle
import pickletools
import struct
import zipfile

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class TorchFileError(Exception):
    """The file is not a torch.save file this reader accepts; the message says why."""


class _StandInError(TorchFileError):
    """Raised by a stand-in while the pickle runs; the loader adds the file's name."""


class _Sealed:
    """Stand-ins refuse the pickle BUILD opcode, so a file cannot rewrite their attributes."""

    def __setstate__(self, state):
        raise _StandInError(f"the pickle tries to set the state of {self!r}")


class StorageType(_Sealed):
    """Stands in for torch.<Name>Storage: the element type of a storage."""

    def __init__(self, name, dtype, itemsize):
        self.name, self.dtype, self.itemsize = name, dtype, itemsize

    def __repr__(self):
        return f"torch.{self.name}"


# storage class name -> (dtype, bytes per element)
_STORAGE_TYPES = {
    "FloatStorage": ("float32", 4), "DoubleStorage": ("float64", 8),
    "HalfStorage": ("float16", 2), "BFloat16Storage": ("bfloat16", 2),
    "ByteStorage": ("uint8", 1), "CharStorage": ("int8", 1), "ShortStorage": ("int16", 2),
    "IntStorage": ("int32", 4), "LongStorage": ("int64", 8), "BoolStorage": ("bool", 1),
}


class Storage(_Sealed):
    """A storage of numel elements; data (numel * itemsize bytes) is filled once read. A legacy
    view of another storage shares its root's bytes from element `base` on."""

    def __init__(self, stype, key, numel, root=None, base=0):
        self.stype, self.key, self.numel = stype, key, numel
        self.root, self.base = root or self, base
        self.data = None

    def element_bytes(self, first, count):
        root, size = self.root, self.stype.itemsize
        if root.data is None:
            raise TorchFileError(f"storage '{root.key}' was never read")
        start = (self.base + first) * size
        return root.data[start:start + count * size]


def _shape_numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class Tensor(_Sealed):
    """A tensor view: shape and stride in elements over a Storage, from element offset on."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset = storage, offset
        self.shape, self.stride = tuple(shape), tuple(stride)

    @property
    def dtype(self):
        return self.storage.stype.dtype

    @property
    def numel(self):
        return _shape_numel(self.shape)

    @property
    def complete(self):
        return self.storage is not None

    def is_contiguous(self):
        expect = 1
        for d, s in zip(reversed(self.shape), reversed(self.stride)):
            if d != 1 and s != expect:
                return False
            expect *= d
        return True

    def to_bytes(self):
        """The elements in C (row-major) order, little-endian, as bytes."""
        if self.is_contiguous():
            return bytes(self.storage.element_bytes(self.offset, self.numel))
        out = bytearray()
        for idx in itertools.product(*(range(d) for d in self.shape)):
            pos = self.offset + sum(i * s for i, s in zip(idx, self.stride))
            out += self.storage.element_bytes(pos, 1)
        return bytes(out)

    def __repr__(self):
        return f"Tensor({self.dtype}, {list(self.shape)})"


def _int_tuple(v, what):
    if not isinstance(v, tuple) or not all(type(x) is int for x in v):
        raise TorchFileError(f"tensor {what} {v!r} is not a tuple of integers")
    return v


class _RebuildTensor(_Sealed):
    """Stands in for torch._utils._rebuild_tensor and _rebuild_tensor_v2 (whose further
    arguments, requires_grad, backward hooks and metadata, do not change the values)."""

    def __repr__(self):
        return "torch._utils._rebuild_tensor"

    def __call__(self, storage, storage_offset, size, stride, *unused):
        return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    if not isinstance(storage, Storage):
        raise _StandInError(f"tensor built on {type(storage).__name__}, not a storage")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if type(storage_offset) is not int or storage_offset < 0 or len(size) != len(stride):
        raise _StandInError(f"tensor offset {storage_offset!r}, size {size}, stride {stride}")
    if any(d < 0 for d in size) or any(s < 0 for s in stride):
        raise _StandInError(f"tensor size {size} or stride {stride} is negative")
    t = Tensor(storage, storage_offset, size, stride)
    if t.numel:
        last = storage_offset + sum((d - 1) * s for d, s in zip(size, stride))
        if last >= storage.numel:
            raise _StandInError(
                f"tensor of size {list(size)} at offset {storage_offset} with stride "
                f"{list(stride)} reaches element {last} of storage '{storage.key}', which has "
                f"{storage.numel}")
    # A view holds at most its storage's elements unless its strides overlap (0, ...); refusing
    # more keeps a few bytes of pickle from asking to_bytes for trillions of elements.
    if t.numel > storage.numel:
        raise _StandInError(
            f"tensor of size {list(size)} has {t.numel} elements, more than the "
            f"{storage.numel} of storage '{storage.key}' it views")
    return t


class _TensorType(_Sealed):
    """Stands in for torch.<Name>Tensor: torch < 0.3 pickled a tensor as that class called with
    no arguments, then the BUILD opcode with (storage, offset, size, stride)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"

    def __call__(self):
        return _BuiltTensor()


class _BuiltTensor(Tensor):
    """A Tensor whose fields arrive through one BUILD; until then storage is None."""

    def __init__(self):
        super().__init__(None, 0, (), ())

    def __setstate__(self, state):
        if self.storage is not None or not isinstance(state, tuple) or len(state) != 4:
            raise _StandInError(f"tensor state {state!r:.80} is not (storage, offset, size, "
                                f"stride) given once")
        t = _rebuild_tensor(*state)
        self.storage, self.offset, self.shape, self.stride = t.storage, t.offset, t.shape, t.stride


_KNOWN_GLOBALS = {
    "collections.OrderedDict": collections.OrderedDict,
    "torch._utils._rebuild_tensor": _RebuildTensor(),
    "torch._utils._rebuild_tensor_v2": _RebuildTensor(),
}
_KNOWN_GLOBALS.update({f"torch.{n}": StorageType(n, *v) for n, v in _STORAGE_TYPES.items()})
_KNOWN_GLOBALS.update({f"torch.{n[:-7]}Tensor": _TensorType(f"{n[:-7]}Tensor")
                       for n in _STORAGE_TYPES})

# What a plain state_dict of float tensors needs, as any torch version saved it (LongStorage:
# num_batches_tracked counters; FloatTensor: torch < 0.3).
STATE_DICT_GLOBALS = frozenset({
    "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
    "torch.FloatStorage", "torch.LongStorage", "torch.FloatTensor"})


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, what, allowed=frozenset(), storages=None, zip_layout=False):
        super().__init__(file, encoding="utf-8")  # as torch.load, for Python 2 pickles
        self._what, self._allowed = what, allowed
        self._storages, self._zip = storages, zip_layout

    def find_class(self, module, name):
        full = f"{module}.{name}"
        if full not in self._allowed:
            allowed = ", ".join(sorted(self._allowed)) or "none"
            raise TorchFileError(
                f"{self._what}: refusing the global '{full}', which this file should not need "
                f"(torch.load would call whatever a pickle names; nothing from this file was "
                f"run; allowed: {allowed})")
        return _KNOWN_GLOBALS[full]

    def persistent_load(self, pid):
        if self._storages is None:
            raise TorchFileError(f"{self._what}: unexpected persistent id {pid!r}")
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise TorchFileError(f"{self._what}: unsupported persistent id {pid!r:.80}")
        n_fields = 5 if self._zip else 6
        if len(pid) != n_fields:
            raise TorchFileError(f"{self._what}: storage record {pid!r:.80} has {len(pid)} "
                                 f"fields, not {n_fields}")
        stype, key, _location, numel = pid[1:5]
        if not isinstance(stype, StorageType) or not isinstance(key, str) or \
                type(numel) is not int or numel < 0:
            raise TorchFileError(f"{self._what}: malformed storage record {pid!r:.80}")
        s = self._storages.setdefault(key, Storage(stype, key, numel))
        if s.stype is not stype or s.numel != numel:
            raise TorchFileError(f"{self._what}: storage '{key}' declared twice differently")
        view = pid[5] if not self._zip else None
        if view is None:
            return s
        if not isinstance(view, tuple) or len(view) != 3 or \
                not all(type(x) is int for x in view[1:]):
            raise TorchFileError(f"{self._what}: malformed storage view {view!r:.80}")
        _view_key, base, size = view
        if base < 0 or size < 0 or base + size > numel:
            raise TorchFileError(f"{self._what}: view [{base}, {base + size}) outside storage "
                                 f"'{key}' of {numel} elements")
        return Storage(stype, key, size, root=s, base=base)


_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _prescan(f, what):
    """Walks the pickle at f's position with pickletools, which reads opcodes without running or
    building anything and never reads past the data, then goes back to where it started. Refuses
    what would make the unpickler allocate far more than the file holds before failing: an
    argument or frame whose length runs past the end of the data (pickle would allocate that
    length), and a memo index beyond the number of opcodes so far (pickle grows its memo to the
    index; a pickler numbers them from 0)."""
    start = f.tell()
    size = f.seek(0, io.SEEK_END)
    f.seek(start)
    try:
        for count, (op, arg, pos) in enumerate(pickletools.genops(f), 1):
            if op.name in _MEMO_PUTS and arg > count:
                raise TorchFileError(f"{what}: malformed pickle (memo index {arg} after "
                                     f"{count} opcodes)")
            if op.name == "FRAME" and arg > size - pos:
                raise TorchFileError(f"{what}: truncated pickle (a frame of {arg} bytes at byte "
                                     f"{pos}, {size - pos} left)")
    except TorchFileError:
        raise
    except Exception as e:  # pickletools' ValueError and friends: malformed or truncated
        raise TorchFileError(f"{what}: malformed or truncated pickle ({type(e).__name__}: "
                             f"{str(e)[:200]})")
    f.seek(start)


def _unpickle(f, what, **kw):
    _prescan(f, what)
    try:
        return _Unpickler(f, what, **kw).load()
    except _StandInError as e:
        raise TorchFileError(f"{what}: {e}")
    except TorchFileError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, OverflowError, struct.error) as e:
        raise TorchFileError(f"{what}: malformed or truncated pickle ({type(e).__name__}: {e})")


def _read_exact(f, n, what):
    b = f.read(n)
    if len(b) != n:
        raise TorchFileError(f"{what}: truncated ({len(b)} of {n} bytes present)")
    return b


def _load_legacy(f, name, allowed):
    try:
        magic = _unpickle(f, name)
    except TorchFileError:
        magic = None
    if magic != LEGACY_MAGIC:
        raise TorchFileError(f"{name}: not a torch.save file (neither a zip archive nor a "
                             f"pickle starting with torch's magic number)")
    proto = _unpickle(f, f"{name} (protocol)")
    if proto != LEGACY_PROTOCOL:
        raise TorchFileError(f"{name}: legacy protocol {proto!r}, expected {LEGACY_PROTOCOL}")
    info = _unpickle(f, f"{name} (system info)")
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise TorchFileError(f"{name}: not saved on a little-endian machine ({info!r:.120})")
    storages = {}
    obj = _unpickle(f, name, allowed=allowed, storages=storages)
    keys = _unpickle(f, f"{name} (storage keys)")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or \
            len(set(keys)) != len(keys) or set(keys) != set(storages):
        raise TorchFileError(f"{name}: the storage key list does not match the storages the "
                             f"pickle uses ({len(storages)} used)")
    for key in keys:
        s = storages[key]
        what = f"{name}: storage '{key}'"
        (count,) = struct.unpack("<q", _read_exact(f, 8, what))
        if count != s.numel:
            raise TorchFileError(f"{what} holds {count} elements, but the pickle declared "
                                 f"{s.numel}")
        s.data = _read_exact(f, count * s.stype.itemsize, what)
    rest = len(f.read())
    if rest:
        raise TorchFileError(f"{name}: {rest} trailing bytes after the last storage")
    return obj


_ZIP_EXTRAS = {"version", "byteorder", ".data/version", ".data/serialization_id"}


def _load_zip(data, name, allowed):
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        entries = {i.filename: i for i in zf.infolist()}
        # torch.save stores every entry as it is; refusing the rest keeps decompressors (and
        # their bombs and errors) and passwords out
        packed = [i for i in entries.values()
                  if i.compress_type != zipfile.ZIP_STORED or i.flag_bits & 0x1]
        if packed:
            raise TorchFileError(f"{name}: zip entry '{packed[0].filename}' is compressed or "
                                 f"encrypted (torch.save stores its entries as they are)")
        pkls = [n for n in entries if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pkls) != 1:
            raise TorchFileError(f"{name}: zip file without exactly one <folder>/data.pkl")
        prefix = pkls[0][:-len("data.pkl")]
        stray = [n for n in entries if not n.startswith(prefix)]
        if stray:
            raise TorchFileError(f"{name}: entry '{stray[0]}' outside '{prefix}'")
        if f"{prefix}byteorder" in entries and \
                zf.read(f"{prefix}byteorder").strip() != b"little":
            raise TorchFileError(f"{name}: not saved in little-endian byte order")
        storages = {}
        obj = _unpickle(io.BytesIO(zf.read(pkls[0])), name, allowed=allowed,
                        storages=storages, zip_layout=True)
        for key, s in storages.items():
            entry = f"{prefix}data/{key}"
            if entry not in entries:
                raise TorchFileError(f"{name}: storage '{key}' has no entry '{entry}'")
            s.data = zf.read(entry)
            if len(s.data) != s.numel * s.stype.itemsize:
                raise TorchFileError(
                    f"{name}: storage '{key}' holds {len(s.data)} bytes, but the pickle declared "
                    f"{s.numel} elements of {s.stype.itemsize} bytes")
        known = {pkls[0]} | {f"{prefix}{e}" for e in _ZIP_EXTRAS} | \
            {f"{prefix}data/{k}" for k in storages}
        extra = sorted(set(entries) - known)
        if extra:
            raise TorchFileError(f"{name}: unexpected zip entry '{extra[0]}' (not a plain "
                                 f"torch.save file)")
        return obj
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError,
            struct.error) as e:
        # ValueError: a negative seek from a damaged offset, a name that is not UTF-8;
        # NotImplementedError: an entry needing a zip version zipfile does not read
        raise TorchFileError(f"{name}: damaged zip file ({type(e).__name__}: {str(e)[:200]})")


def load(path, allowed):
    """Loads the torch.save file at path, resolving only the globals named in allowed
    ("module.name" strings, a subset of the ones this module stands in for)."""
    unknown = set(allowed) - set(_KNOWN_GLOBALS)
    if unknown:
        raise ValueError(f"no stand-in for {sorted(unknown)}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TorchFileError(f"{path}: cannot read: {e.strerror}")
    if data[:4] == b"PK\x03\x04":
        return _load_zip(data, path, frozenset(allowed))
    return _load_legacy(io.BytesIO(data), path, frozenset(allowed))
