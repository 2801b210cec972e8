"""nstyle: neural style transfer in C, from Python.

    import nstyle
    r = nstyle.render("photo.jpg", "painting.jpg", progress=print)  # the Gatys render
    r.image                                             # HxWx3 uint8, the CLI's pixels
    nstyle.train("painting.jpg", "photos/", "painting.safetensors")  # a style network
    out = nstyle.stylize("photo.jpg", "candy")          # or a numpy array, a PIL image
    out.image                                           # HxWx3 uint8, the CLI's pixels
    out.summary["ms_per_image_compute"]                 # the fields of `nstyle stylize --json`
    nstyle.plan(size=(768, 512))["plan"]["total_bytes"] # `nstyle plan --size 768x512`
    nstyle.info()                                       # `nstyle info`

The package calls libnstyle (bundled in the wheel) through ctypes; the `nstyle` command is the
same library's CLI. Errors raise nstyle.Error subclasses carrying the library's message.
docs/python.md has the whole API."""

import math
import os
import time
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_void_p, create_string_buffer

import numpy as np

from . import _capi
from ._capi import lib

__all__ = ["Error", "OptionError", "InputError", "InvalidArgumentError", "FileError",
           "FormatError", "OutOfMemoryError", "DeviceError", "Result", "Stylizer", "info",
           "plan", "stylize", "stylize_defaults", "render", "render_defaults", "RenderResult",
           "Progress", "train", "train_defaults", "TrainResult", "TrainProgress",
           "__version__"]

__version__ = lib.nst_get_build_info().version.decode()

# ---- errors ------------------------------------------------------------------------------------


class Error(Exception):
    """Any failure of nstyle. `status` is the library's status name ("ERR_IO", ...), or None for
    a mistake found before the library was called (an option, an input's type)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        self.status = status


class OptionError(Error, TypeError, ValueError):
    """An unknown option, or an option's value of the wrong type or out of its range."""


class InputError(Error, ValueError):
    """An input that is not an image nstyle takes: a wrong dtype, shape or type."""


class InvalidArgumentError(Error, ValueError):
    """The library refused an argument (ERR_INVALID_ARG, ERR_SHAPE)."""


class FileError(Error, OSError):
    """A file could not be read or written (ERR_IO): a missing image or model."""


class FormatError(Error, ValueError):
    """A file is malformed, unsupported or too large (ERR_FORMAT, ERR_TOO_LARGE)."""


class OutOfMemoryError(Error, MemoryError):
    """Host or device memory ran out, or the plan exceeds the budget (ERR_NO_MEMORY,
    ERR_DEVICE_MEMORY, ERR_BUDGET)."""


class DeviceError(Error):
    """The device cannot be used or failed (ERR_NO_DEVICE, ERR_UNSUPPORTED, ERR_CUDA, ...)."""


_ERRORS = {"ERR_INVALID_ARG": InvalidArgumentError, "ERR_SHAPE": InvalidArgumentError,
           "ERR_IO": FileError, "ERR_FORMAT": FormatError, "ERR_TOO_LARGE": FormatError,
           "ERR_NO_MEMORY": OutOfMemoryError, "ERR_DEVICE_MEMORY": OutOfMemoryError,
           "ERR_BUDGET": OutOfMemoryError, "ERR_NO_DEVICE": DeviceError,
           "ERR_UNSUPPORTED": DeviceError, "ERR_CUDA": DeviceError, "ERR_CUDNN": DeviceError,
           "ERR_CUBLAS": DeviceError}


def _raise(ctx, st, prefix=""):
    """Raises the Error for status st with the library's message from ctx."""
    name = lib.nst_status_name(st).decode()
    msg = (lib.nst_last_error(ctx) or b"").decode(errors="replace") if ctx else ""
    if not msg:
        msg = lib.nst_strerror(st).decode()
    raise _ERRORS.get(name, Error)(prefix + msg, name)


class _Ctx:
    """An nst_ctx, destroyed by close() or when collected."""

    def __init__(self):
        self.ptr = lib.nst_ctx_create()
        if not self.ptr:
            raise OutOfMemoryError("nstyle: out of host memory", "ERR_NO_MEMORY")

    def check(self, st, prefix=""):
        if st != 0:
            _raise(self.ptr, st, prefix)

    def close(self):
        ptr, self.ptr = self.ptr, None
        if ptr and _capi is not None and _capi.lib is not None:
            _capi.lib.nst_ctx_destroy(ptr)

    __del__ = close


# ---- options -----------------------------------------------------------------------------------


def _check_names(given, known, what):
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise OptionError(f"{what}: unknown option{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(repr(u) for u in unknown)} (the options: "
                          f"{', '.join(sorted(known))})")


def _whole(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise OptionError(f"{name} wants a whole number {lo}..{hi} (got {v!r})")
    return int(v)


def _number(name, v, ok, wants):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(v) or not ok(v):
        raise OptionError(f"{name} wants {wants} (got {v!r})")
    return float(v)


def _flag(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise OptionError(f"{name} wants True or False (got {v!r})")
    return bool(v)


def _text(name, v):
    if not isinstance(v, str) or not v:
        raise OptionError(f"{name} wants a non-empty string (got {v!r})")
    return v


def stylize_defaults():
    """The stylize options' defaults, the library's (nst_stylize_options_default), which are
    `nstyle stylize`'s."""
    o = _capi.StylizeOptions()
    lib.nst_stylize_options_default(byref(o))
    return {"device": o.device.decode(), "threads": o.threads or None, "size": o.size or None,
            "scale": o.scale or None, "batch": o.batch, "smooth": float(o.smooth),
            "smooth_threshold": float(o.smooth_threshold),
            "original_colors": bool(o.original_colors)}


def _stylize_options(given):
    d = stylize_defaults()
    _check_names(given, list(d) + ["as_float"], "nstyle.stylize")
    o = dict(d, as_float=False)
    o.update(given)
    o["device"] = _text("device", o["device"])
    if o["threads"] is not None:
        o["threads"] = _whole("threads", o["threads"], 1, 1024)
    if o["size"] is not None:
        o["size"] = _whole("size", o["size"], 5, 30000)
    if o["scale"] is not None:
        o["scale"] = _number("scale", o["scale"], lambda v: 0 < v <= 64,
                             "a number above 0, at most 64")
    if o["size"] is not None and o["scale"] is not None:
        raise OptionError("size and scale cannot be used together")
    o["batch"] = _whole("batch", o["batch"], 1, 256)
    o["smooth"] = _number("smooth", o["smooth"], lambda v: 0 <= v < 1,
                          "a number in [0, 1), 0 = off")
    o["smooth_threshold"] = _number("smooth_threshold", o["smooth_threshold"],
                                    lambda v: 0 < v <= 255, "a number in (0, 255]")
    o["original_colors"] = _flag("original_colors", o["original_colors"])
    o["as_float"] = _flag("as_float", o["as_float"])
    return o


def _memory(ctx):
    """The JSON summary's "memory": the peak bytes by tag, and the device's memory."""
    snap = _capi.TrackerSnapshot()
    lib.nst_tracker_snapshot_get(ctx.ptr, byref(snap))
    peak = {lib.nst_mem_tag_name(t).decode(): snap.peak[t] for t in range(_capi.TAG_COUNT)}
    peak.update(arena_slack=snap.arena_slack_peak, total=snap.peak_total)
    device_memory = None
    if snap.has_device_info:
        device_memory = {"total": snap.device_total, "free": snap.device_free,
                         "context_and_other": snap.device_other}
    return {"peak_bytes": peak, "device_memory": device_memory}


# ---- images ------------------------------------------------------------------------------------


def _from_image(img):
    """A copy of an nst_image's pixels as an (h, w, channels) uint8 array."""
    n = img.width * img.height * img.channels
    a = np.ctypeslib.as_array(img.data, shape=(n,)).copy()
    return a.reshape(img.height, img.width, img.channels)


def _as_array(ctx, x, where):
    """x (a path, a numpy array or a PIL image) as a C-contiguous (h, w, 3) uint8 array."""
    if isinstance(x, (str, bytes, os.PathLike)):
        path = os.fsencode(x)
        img = _capi.Image()
        ctx.check(lib.nst_image_load(ctx.ptr, path, 3, byref(img)))
        try:
            return _from_image(img)
        finally:
            lib.nst_image_free(byref(img))
    if hasattr(x, "convert") and hasattr(x, "mode") and hasattr(x, "size"):  # a PIL image
        x = np.asarray(x.convert("RGB"))
    if not isinstance(x, np.ndarray):
        raise InputError(f"{where}: wants a numpy array, a PIL image or a path (got "
                         f"{type(x).__name__})")
    if x.dtype != np.uint8:
        raise InputError(f"{where}: wants dtype uint8, 0-255 (got {x.dtype}); for floats in "
                         "[0, 1] pass (x * 255).round().astype(numpy.uint8)")
    if x.ndim != 3 or x.shape[2] != 3:
        raise InputError(f"{where}: wants shape (height, width, 3), RGB (got "
                         f"{tuple(x.shape)})")
    if x.shape[0] < 5 or x.shape[1] < 5:
        raise InputError(f"{where}: the smallest image is 5x5 pixels (got "
                         f"{x.shape[1]}x{x.shape[0]})")
    return np.ascontiguousarray(x)


def _target_size(size, scale, w, h):
    """The size an input of w x h is stylised at (the CLI's nst_cli_target_size)."""
    f = scale if scale else size / max(w, h) if size else 1.0
    tw, th = int(math.floor(w * f + 0.5)), int(math.floor(h * f + 0.5))
    if size:
        if w >= h:
            tw = size
        else:
            th = size
    return max(tw, 1), max(th, 1)


def _fit(ctx, a, size, scale):
    h, w = a.shape[:2]
    tw, th = _target_size(size, scale, w, h)
    if (tw, th) == (w, h):
        return a
    src = _capi.Image(w, h, 3, a.ctypes.data_as(POINTER(_capi.c_uint8)))
    out = _capi.Image()
    ctx.check(lib.nst_image_resize(ctx.ptr, byref(src), tw, th, byref(out)))
    try:
        return _from_image(out)
    finally:
        lib.nst_image_free(byref(out))


def _inputs(images):
    """(whether images is one image, an iterator over the images)."""
    if isinstance(images, (str, bytes, os.PathLike)) or hasattr(images, "convert"):
        return True, iter([images])
    if isinstance(images, np.ndarray):
        if images.ndim == 4:  # (n, h, w, 3): n frames
            return False, iter(images)
        return True, iter([images])
    try:
        return False, iter(images)
    except TypeError:
        raise InputError(f"wants an image (numpy array, PIL image or path), a list or an "
                         f"iterable of them (got {type(images).__name__})") from None


# ---- stylize -----------------------------------------------------------------------------------


class Result:
    """What stylize returns: `images` (one HxWx3 array per input, uint8, or float32 on the
    0-255 scale, not clamped, with as_float=True), `image` (the first), and `summary` (the
    fields of `nstyle stylize --json`)."""

    def __init__(self, images, summary):
        self.images = images
        self.summary = summary

    @property
    def image(self):
        return self.images[0]

    def __repr__(self):
        s = self.summary
        return (f"<nstyle.Result {len(self.images)} image(s), first {s['width']}x"
                f"{s['height']}, {s['ms_per_image_compute']:.1f} ms per image compute>")


class Stylizer:
    """A feed-forward style network (TransformerNet) opened once for many stylize calls: the
    library's context, stylizer and (with smooth > 0) smoother. Close it with close() or a
    with block; it is also closed when collected. Options as for nstyle.stylize."""

    def __init__(self, model, **options):
        self._ctx = None
        self._s = self._sm = None
        self.options = _stylize_options(options)
        model = os.fspath(model) if isinstance(model, os.PathLike) else model
        if not isinstance(model, str) or not model:
            raise OptionError(f"model wants a path or a name such as 'candy' (got {model!r})")
        ctx = self._ctx = _Ctx()
        o = self.options
        ctx.check(lib.nst_ctx_set_device(ctx.ptr, o["device"].encode()))
        if o["threads"]:
            lib.nst_ctx_set_threads(ctx.ptr, o["threads"])
        file = model if model.endswith(".safetensors") else model + ".safetensors"
        names = (c_char_p * 1)(file.encode())
        found = create_string_buffer(4096)
        st = lib.nst_model_find(ctx.ptr, model.encode(), names, 1, found, 4096)
        if st != 0:
            try:
                _raise(ctx.ptr, st)
            except FileError as e:
                e.args = (e.message + "\nThe five pretrained styles (candy, mosaic, pointilism,"
                          " rain_princess, udnie) are pytorch/examples' fast_neural_style "
                          "models; convert their .pth files with models/convert-fast-pth.py.",)
                raise
        self.model = found.value.decode()
        s = c_void_p()
        ctx.check(lib.nst_stylizer_open(ctx.ptr, found.value, byref(s)))
        self._s = s
        lib.nst_stylizer_set_original_colors(s, o["original_colors"])
        if o["smooth"] > 0:
            sm = c_void_p()
            ctx.check(lib.nst_smoother_create(ctx.ptr, o["smooth"], o["smooth_threshold"],
                                              byref(sm)))
            self._sm = sm
        self.style = lib.nst_stylizer_style(s).decode()
        self._reset_stats()

    def _reset_stats(self):
        self._n = self._w = self._h = 0
        self._compute_s = 0.0
        self._plan_bytes = 0

    def _live(self):
        if self._s is None:
            raise Error("nstyle.Stylizer: used after close()")
        return self._ctx

    def close(self):
        """Frees the network, the smoother and the context (again: nothing)."""
        sm, s, self._sm, self._s = self._sm, self._s, None, None
        if _capi is None or _capi.lib is None:
            return
        if sm:
            _capi.lib.nst_smoother_destroy(sm)
        if s:
            _capi.lib.nst_stylizer_close(s)
        if self._ctx is not None:
            self._ctx.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _batch(self, frames):
        """Stylises frames (arrays of one size) in one pass, smooths them in order."""
        ctx = self._live()
        n = len(frames)
        h, w = frames[0].shape[:2]
        buf = np.stack(frames).astype(np.float32)
        t0 = time.perf_counter()
        ctx.check(lib.nst_stylize_float(self._s, buf.ctypes.data, n, w, h, buf.ctypes.data))
        outs = []
        for i in range(n):
            y = buf[i]
            if self._sm:
                ctx.check(lib.nst_smoother_apply(self._sm, frames[i].ctypes.data, w, h,
                                                 y.ctypes.data))
            if self.options["as_float"]:
                outs.append(y.copy())
            else:
                u = np.empty((h, w, 3), np.uint8)
                lib.nst_stylize_to_u8(y.ctypes.data, y.size, u.ctypes.data)
                outs.append(u)
        self._compute_s += time.perf_counter() - t0
        if self._n == 0:
            self._w, self._h = w, h
            plan = lib.nst_stylizer_current_plan(self._s)
            self._plan_bytes = lib.nst_plan_get_summary(plan).total_bytes if plan else 0
        self._n += n
        return outs

    def frames(self, images):
        """Stylises the images (an iterable: numpy arrays, PIL images or paths) in order,
        yielding each result as soon as its batch is done: for video frames. Up to batch
        frames of one size go through the network together; smoothing runs across them, from
        the first frame of this call (each call is a sequence of its own, as each CLI run)."""
        ctx = self._live()
        o = self.options
        if self._sm:
            lib.nst_smoother_reset(self._sm)
        pending = []
        for k, x in enumerate(images):
            a = _fit(ctx, _as_array(ctx, x, f"input {k}"), o["size"], o["scale"])
            if pending and (a.shape != pending[0].shape or len(pending) == o["batch"]):
                yield from self._batch(pending)
                pending = []
            pending.append(a)
        if pending:
            yield from self._batch(pending)

    def stylize(self, images):
        """Stylises one image (a numpy HxWx3 uint8 array, a PIL image or a path) or many (a
        list, an iterable, an (n, h, w, 3) array) and returns a Result."""
        ctx = self._live()
        self._reset_stats()
        _, it = _inputs(images)
        t0 = time.perf_counter()
        outs = list(self.frames(it))
        total = time.perf_counter() - t0
        if not outs:
            raise InputError("nstyle.stylize: no images given")
        return Result(outs, self._summary(ctx, total))

    def _summary(self, ctx, total_s):
        n = self._n
        threads = lib.nst_ctx_threads(ctx.ptr) or os.sysconf("SC_NPROCESSORS_ONLN")
        return {"schema": "nstyle-summary/1", "command": "stylize", "nstyle_version": __version__,
                "ok": True, "error": None, "device": lib.nst_ctx_device_name(ctx.ptr).decode(),
                "inputs": n, "width": self._w, "height": self._h,
                "ms_per_image_compute": 1e3 * self._compute_s / n if n else math.nan,
                "ms_per_image_total": 1e3 * total_s / n if n else math.nan,
                "model": self.model, "style": self.style, "batch": self.options["batch"],
                "threads": threads, "smooth": self.options["smooth"],
                "original_colors": self.options["original_colors"], "cancelled": False,
                "plan_bytes": self._plan_bytes, "tiles": None,  # whole images only here
                "video": None, "memory": _memory(ctx)}


def stylize(images, model, **options):
    """Stylises images with a feed-forward style network, as `nstyle stylize` does, and
    returns a Result: `.image` / `.images` (HxWx3 uint8 arrays, the CLI's pixels) and
    `.summary` (the fields of `nstyle stylize --json`).

    images: a numpy (height, width, 3) uint8 RGB array, a PIL image, a path (decoded by the
        library, as the CLI does), or a list, an iterable (a generator of frames) or an
        (n, height, width, 3) array of them.
    model: a weight file's path, or a name (candy, mosaic, pointilism, rain_princess, udnie,
        or any NAME) looked up as NAME.safetensors in $NSTYLE_MODELS, ./models, ~/.cache/nstyle.

    Options (the CLI's, with underscores, and its defaults):
      device="cpu"           cpu, cuda or cuda:N
      threads=None           CPU threads, 1..1024 (None: all cores)
      size=None              resize each input so its longer side is size pixels (5..30000)
      scale=None             resize each input by scale, (0, 64]; not with size
      batch=1                frames of one size per pass, 1..256
      smooth=0.0             temporal smoothing across the frames, [0, 1), 0 = off
      smooth_threshold=24.0  the change (0-255) at which a pixel counts as moving, (0, 255]
      original_colors=False  keep the input's colours (BT.601 YUV chroma)
      as_float=False         return float32 arrays on the 0-255 scale, not clamped

    Raises OptionError (unknown option, wrong value), InputError (wrong type, dtype or
    shape), FileError (missing image or model), FormatError, DeviceError, OutOfMemoryError."""
    with Stylizer(model, **options) as s:
        return s.stylize(images)


# ---- plan --------------------------------------------------------------------------------------


def _size(name, v):
    if isinstance(v, str):
        parts = v.lower().split("x")
        try:
            v = tuple(int(p) for p in parts)
        except ValueError:
            v = None
    if not (isinstance(v, (tuple, list)) and len(v) == 2
            and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x > 0
                    for x in v)):
        raise OptionError(f"{name} wants WxH, e.g. '768x512' or (768, 512)")
    return int(v[0]), int(v[1])


def _sizes(name, v):
    """One size or a list of them, as a list of (w, h)."""
    if v is None:
        return []
    if isinstance(v, str) or (isinstance(v, (tuple, list)) and len(v) == 2
                              and all(isinstance(x, (int, np.integer)) for x in v)):
        return [_size(name, v)]
    if isinstance(v, (tuple, list)):
        return [_size(name, x) for x in v]
    raise OptionError(f"{name} wants WxH or a list of them (got {v!r})")


_PLAN_OPTIONS = {"size": None, "style_size": None, "content_layers": None, "style_layers": None,
                 "pooling": "max", "optimizer": "adam", "lbfgs_history": None,
                 "line_search": "none", "scales": 1, "normalize_gradients": False,
                 "robust": 0, "style_augment": 0, "learn_style_transform": False,
                 "train": False, "crop": None, "batch": None, "width": None, "device": "cpu",
                 "workspace_limit": None}
_TRAIN_ONLY = ("crop", "batch", "width")
_RENDER_ONLY = ("size", "pooling", "optimizer", "lbfgs_history", "line_search", "scales",
                "normalize_gradients", "robust", "style_augment", "learn_style_transform")


def _choice(name, v, choices):
    if v not in choices:
        raise OptionError(f"{name} wants {' or '.join(choices)} (got {v!r})")
    return choices.index(v)


def plan(**options):
    """The exact memory plan of a render, or with train=True of a training run, as
    `nstyle plan` prints it, with no weights, images or GPU. Returns the fields of
    `nstyle plan --json`: the settings, "plan" (total_bytes, lower_bound_bytes, buffers,
    at_peak_bytes and alone_bytes by tag), lbfgs_history_bytes, scale_total_bytes, ...

    Render (the CLI's options with underscores, its defaults):
      size                 the content (output) size, "WxH" or (w, h); required
      style_size=None      a style image's size, or a list of them (default: one of size)
      content_layers=None  comma list (None: relu4_2)
      style_layers=None    comma list (None: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)
      pooling="max"        max or avg
      optimizer="adam"     adam or lbfgs
      lbfgs_history=None   L-BFGS pairs kept, 1..1000 (None: 100)
      line_search="none"   none or strong-wolfe (L-BFGS)
      scales=1             coarse to fine: the largest scale's plan, every scale's total
      normalize_gradients=False, robust=0, style_augment=0, learn_style_transform=False
    Training (train=True):
      crop=None (256), batch=None (4), width=None (32), style_size (default: the crop),
      content_layers (relu2_2), style_layers (relu1_2,relu2_2,relu3_4,relu4_4)
    Both:
      device="cpu"           cpu, cuda or cuda:N (without a GPU: the cuDNN workspace at its
                             bound, with a note)
      workspace_limit=None   the cuDNN workspace cap: bytes, or a size such as "512M"
    """
    _check_names(options, _PLAN_OPTIONS, "nstyle.plan")
    o = dict(_PLAN_OPTIONS, **options)
    train = _flag("train", o["train"])
    for k in _RENDER_ONLY if train else _TRAIN_ONLY:
        if k in options and options[k] != _PLAN_OPTIONS[k]:
            raise OptionError(f"{k} is for "
                              f"{'a render' if train else 'a training run (train=True)'}")
    styles = _sizes("style_size", o["style_size"])
    if len(styles) > 8:
        raise OptionError("style_size: at most 8 (one per style image)")
    ro = _capi.RenderOptions()
    lib.nst_render_options_default(byref(ro))
    to = _capi.TrainOptions()
    lib.nst_train_options_default(byref(to))
    keep = []  # the strings and arrays the options point at, alive until the plan is made
    for k in ("content_layers", "style_layers"):
        if o[k] is not None:
            b = _text(k, o[k]).encode()
            keep.append(b)
            setattr(ro, k, b)
            setattr(to, k, b)
    if train:
        if o["crop"] is not None:
            to.size = _whole("crop", o["crop"], 8, 8192)
            if to.size % 4:
                raise OptionError(f"crop wants a multiple of 4 (got {o['crop']!r})")
        if o["batch"] is not None:
            to.batch = _whole("batch", o["batch"], 1, 1024)
        if o["width"] is not None:
            to.width = _whole("width", o["width"], 1, 1024)
        if len(styles) > 1:
            raise OptionError("train takes one style_size (the one style image)")
        to.style_width, to.style_height = styles[0] if styles else (to.size, to.size)
    else:
        if o["size"] is None:
            raise OptionError("size is required (or train=True for a training run)")
        ro.width, ro.height = _size("size", o["size"])
        styles = styles or [(ro.width, ro.height)]
        ro.style_width, ro.style_height = styles[0]
        if len(styles) > 1:
            sw = (c_int * len(styles))(*[s[0] for s in styles])
            sh = (c_int * len(styles))(*[s[1] for s in styles])
            keep += [sw, sh]
            ro.n_styles = len(styles)
            ro.styles_width, ro.styles_height = sw, sh
        ro.pooling = _choice("pooling", o["pooling"], ["max", "avg"])
        ro.optimizer = _choice("optimizer", o["optimizer"], ["adam", "lbfgs"])
        if o["lbfgs_history"] is not None:
            ro.lbfgs_history = _whole("lbfgs_history", o["lbfgs_history"], 1, 1000)
        ro.lbfgs_line_search = _choice("line_search", o["line_search"],
                                       ["none", "strong-wolfe"])
        if o["line_search"] != "none" and o["optimizer"] != "lbfgs":
            raise OptionError("line_search is L-BFGS's: add optimizer='lbfgs'")
        ro.scales = _whole("scales", o["scales"], 1, _capi.RENDER_MAX_SCALES)
        ro.normalize_gradients = _flag("normalize_gradients", o["normalize_gradients"])
        ro.robust_views = _whole("robust", o["robust"], 0, 64)
        ro.style_augment = _whole("style_augment", o["style_augment"], 0, 64)
        ro.learn_style_transform = _flag("learn_style_transform", o["learn_style_transform"])
    ctx = _Ctx()
    p = c_void_p()
    try:
        return _plan(ctx, o, ro, to, train, styles, p)
    finally:
        lib.nst_plan_destroy(p)
        ctx.close()


def _plan(ctx, o, ro, to, train, styles, p):
    device = _text("device", o["device"])
    if o["workspace_limit"] is not None:
        wl = o["workspace_limit"]
        if isinstance(wl, str):
            n = c_size_t()
            if lib.nst_parse_bytes(None, wl.encode(), byref(n)) != 0 or n.value == 0:
                raise OptionError(f"workspace_limit wants a size such as '512M' (got {wl!r})")
            wl = n.value
        lib.nst_ctx_set_workspace_limit(ctx.ptr, _whole("workspace_limit", wl, 1, 2**63))
    note = None
    st = lib.nst_ctx_set_device(ctx.ptr, device.encode())
    if st != 0 and lib.nst_status_name(st) == b"ERR_NO_DEVICE" and device.startswith("cuda"):
        # no GPU here: plan for CUDA on the CPU context, as `nstyle plan` does
        err = lib.nst_last_error(ctx.ptr).decode(errors="replace")
        why = err[err.index("): ") + 3:] if "): " in err else err
        limit = lib.nst_ctx_workspace_limit(ctx.ptr)
        note = (f"no GPU could be opened ({why}), so this plan for CUDA counts each "
                f"convolution's cuDNN workspace at its --workspace-limit bound, {limit} bytes "
                f"({limit / 1048576:.1f} MiB), and the other ops' scratch as on the CPU; the "
                "CUDA context's own memory (about 500 MiB on an H200) comes on top and is "
                "measured only on a GPU")
        lib.nst_ctx_plan_for_cuda(ctx.ptr, True)
        lib.nst_clear_error(ctx.ptr)
    else:
        ctx.check(st)
    if train:
        ctx.check(lib.nst_train_plan(ctx.ptr, byref(to), byref(p)))
    else:
        ctx.check(lib.nst_render_plan(ctx.ptr, byref(ro), byref(p)))
    s = lib.nst_plan_get_summary(p)
    tags = [lib.nst_mem_tag_name(t).decode() for t in range(_capi.TAG_COUNT)]
    cuda = lib.nst_ctx_backend(ctx.ptr) == 1  # NST_BACKEND_CUDA
    snap = _capi.TrackerSnapshot()
    lib.nst_tracker_snapshot_get(ctx.ptr, byref(snap))
    r = {"schema": "nstyle-summary/1", "command": "plan", "nstyle_version": __version__,
         "ok": True, "error": None, "device": lib.nst_ctx_device_name(ctx.ptr).decode(),
         "train": train}
    if train:
        r.update(crop=to.size, batch=to.batch, net_width=to.width, style_width=to.style_width,
                 style_height=to.style_height,
                 content_layers=o["content_layers"] or "relu2_2",
                 style_layers=o["style_layers"] or "relu1_2,relu2_2,relu3_4,relu4_4")
    else:
        history = [lib.nst_plan_get(p, i).contents for i in range(lib.nst_plan_count(p))]
        hbytes = sum(b.bytes for b in history if b.label in (b"lbfgs y", b"lbfgs s"))
        lbfgs = o["optimizer"] == "lbfgs"
        r.update(width=ro.width, height=ro.height, style_width=ro.style_width,
                 style_height=ro.style_height,
                 style_sizes=[float(v) for s_ in styles for v in s_],
                 content_layers=o["content_layers"] or "relu4_2",
                 style_layers=o["style_layers"] or "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
                 pooling=o["pooling"], optimizer=o["optimizer"],
                 lbfgs_history=ro.lbfgs_history if lbfgs else None,
                 lbfgs_history_bytes=hbytes if lbfgs else None,
                 scale_total_bytes=[float(s.scale_total_bytes[k]) for k in range(s.scales)]
                 if s.scales > 1 else [float(s.total_bytes)])
    r["plan"] = {"total_bytes": s.total_bytes, "lower_bound_bytes": s.lower_bound,
                 "buffers": s.n_buffers,
                 "at_peak_bytes": {t: s.tag_at_peak[i] for i, t in enumerate(tags)},
                 "alone_bytes": {t: s.tag_peak[i] for i, t in enumerate(tags)}}
    r["cuda_context_bytes"] = snap.device_other if cuda and snap.has_device_info else None
    r["note"] = note
    return r


# ---- info --------------------------------------------------------------------------------------


def info():
    """This build and machine, as `nstyle info` prints them: the version and backends, the CPU
    cores, the OpenBLAS kernels in use (and whether nstyle chose them: OpenBLAS does not know
    this CPU model), the CUDA libraries and every visible GPU, or why none can be used."""
    b = lib.nst_get_build_info()
    gpus = (_capi.GpuInfo * 16)()
    count = c_int()
    why = create_string_buffer(512)
    ok = lib.nst_list_gpus(gpus, 16, byref(count), why, 512) == 0
    libs = create_string_buffer(1024)
    cuda_libs = libs.value.decode() if lib.nst_cuda_libraries(libs, 1024) == 0 else None
    return {
        "version": b.version.decode(), "cuda_backend": bool(b.cuda),
        "cuda_runtime_version": b.cuda_runtime_version, "cudnn_version": b.cudnn_version,
        "cuda_architectures": b.cuda_architectures.decode(),
        "openmp_version": b.openmp_version if b.openmp else None,
        "compiler": b.compiler.decode(), "cpu_cores": os.sysconf("SC_NPROCESSORS_ONLN"),
        "openblas_kernels": lib.nst_cpu_blas_core().decode(),
        "openblas_config": lib.nst_cpu_blas_config().decode(),
        "openblas_coretype_set_by_nstyle": _capi.CORETYPE_SET,
        "cuda_libraries": cuda_libs,
        "gpus": [{"index": g.index, "name": g.name.decode(errors="replace"),
                  "compute_capability": f"{g.cc_major}.{g.cc_minor}",
                  "multiprocessors": g.multiprocessors, "total_bytes": g.total_bytes,
                  "free_bytes": g.free_bytes if g.free_known else None}
                 for g in gpus[:min(count.value, 16)]] if ok else [],
        "no_gpu_reason": None if ok else why.value.decode(errors="replace"),
        "library": lib._name,
        "cuda_library_path": os.environ.get("NSTYLE_CUDA_LIBRARY_PATH"),
    }


from ._render import (Progress, RenderResult, TrainProgress, TrainResult, render,  # noqa: E402
                      render_defaults, train, train_defaults)
