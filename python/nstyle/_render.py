"""nstyle.render (the Gatys render, `nstyle render`) and nstyle.train (a feed-forward style
network, `nstyle train`): the CLI's options with underscores and its defaults, the images
prepared as the CLI prepares them (so the same pixels come out), and a progress callback that
can stop the run. docs/python.md has the reference."""

import math
import os
from collections import namedtuple
from ctypes import POINTER, byref, c_double, c_float, c_int, c_void_p, cast, create_string_buffer

import numpy as np

from . import (Error, OptionError, _as_array, _capi, _check_names, _choice, _Ctx,
               _flag, _memory, _number, _raise, _size, _text, _whole, __version__)
from ._capi import lib

Progress = namedtuple("Progress", "iteration iterations scale scales content_loss style_loss "
                                  "tv_loss total_loss seconds")
Progress.__doc__ = """A render's progress after an iteration: iteration (from 1) of iterations at
scale (0 = the coarsest) of scales; the losses at the image before that step; seconds since the
loop began."""
TrainProgress = namedtuple("TrainProgress", "step steps content_loss style_loss tv_loss "
                                            "total_loss seconds")
TrainProgress.__doc__ = """A training run's progress after a step: step (from 1, resumed steps
included) of steps, that step's weighted losses, seconds since the run began."""


class _Callback:
    """The C progress callback around the user's: False from it stops the run; an exception
    (KeyboardInterrupt included, which Python raises here: this is where a long C call runs
    Python code) stops it too and is kept for the caller."""

    def __init__(self, fn, make, ctype):
        if fn is not None and not callable(fn):
            raise OptionError(f"progress wants a function of one argument (got {fn!r})")
        self.fn, self.make, self.error = fn, make, None
        self.c = ctype(self)

    def __call__(self, p, user):
        try:
            return self.fn is None or self.fn(self.make(p.contents)) is not False
        except BaseException as e:  # noqa: B036 -- re-raised by the caller
            self.error = e
            return False


def _finish_callback(cb):
    """Re-raises an exception of the user's callback (with its traceback); True when the run
    was interrupted by KeyboardInterrupt (the result is then returned, as Ctrl-C does)."""
    if cb.error is None:
        return False
    if isinstance(cb.error, KeyboardInterrupt):
        return True
    raise cb.error


def _image_rgb(ctx, a):
    """An (h, w, 3) uint8 array as an nst_image (the array must outlive it)."""
    return _capi.Image(a.shape[1], a.shape[0], 3, a.ctypes.data_as(POINTER(_capi.c_uint8)))


def _at(ctx, a, w, h):
    """a resized to exactly w x h (Catmull-Rom, the CLI's load_rgb_at) when its size differs."""
    if a.shape[:2] == (h, w):
        return a
    out = _capi.Image()
    ctx.check(lib.nst_image_resize(ctx.ptr, byref(_image_rgb(ctx, a)), w, h, byref(out)))
    try:
        n = w * h * 3
        return np.ctypeslib.as_array(out.data, shape=(n,)).copy().reshape(h, w, 3)
    finally:
        lib.nst_image_free(byref(out))


def _to_float(ctx, a):
    f = np.empty(a.shape, np.float32)
    ctx.check(lib.nst_image_to_float(ctx.ptr, byref(_image_rgb(ctx, a)), f.ctypes.data))
    return f


def _to_u8(ctx, f, w, h):
    img = _capi.Image()
    ctx.check(lib.nst_image_from_float(ctx.ptr, f, w, h, 3, byref(img)))
    try:
        return np.ctypeslib.as_array(img.data, shape=(w * h * 3,)).copy().reshape(h, w, 3)
    finally:
        lib.nst_image_free(byref(img))


def _long_side(w, h, side):
    """(w, h) scaled so that the long side is side (the CLI's scale_to_long_side)."""
    s = side / max(w, h)
    return (side if w >= h else max(1, int(math.floor(w * s + 0.5))),
            side if h > w else max(1, int(math.floor(h * s + 0.5))))


def _layers(name, v):
    if v is None:
        return None
    v = _text(name, v)
    for layer in v.split(","):
        if lib.nst_vgg19_layer_find(layer.encode(), None) < 0:
            known = create_string_buffer(512)
            lib.nst_vgg19_layer_names(known, 512)
            raise OptionError(f"{name}: unknown layer {layer!r} (known: "
                              f"{known.value.decode()})")
    return v


def _bytes(name, v):
    if v is None:
        return 0
    if isinstance(v, str):
        n = _capi.c_size_t()
        if lib.nst_parse_bytes(None, v.encode(), byref(n)) != 0 or n.value == 0:
            raise OptionError(f"{name} wants a size such as '4G' or '512M' (got {v!r})")
        return n.value
    return _whole(name, v, 1, 2**63)


def _weights(ctx, model):
    buf = create_string_buffer(4096)
    m = os.fsencode(model) if model is not None else None
    ctx.check(lib.nst_vgg19_weights_find(ctx.ptr, m, buf, 4096))
    return buf.value


def _open(device, threads, deterministic=False):
    """A context on device ("auto": cuda:0 when a GPU can be used, as the CLI's render)."""
    ctx = _Ctx()
    if device == "auto":
        gpus = (_capi.GpuInfo * 1)()
        count = c_int()
        why = create_string_buffer(256)
        if lib.nst_list_gpus(gpus, 1, byref(count), why, 256) == 0 and count.value > 0:
            ctx.check(lib.nst_ctx_set_device(ctx.ptr, b"cuda:0"))
    else:
        ctx.check(lib.nst_ctx_set_device(ctx.ptr, device.encode()))
    if threads:
        lib.nst_ctx_set_threads(ctx.ptr, threads)
    if deterministic:
        lib.nst_ctx_set_deterministic(ctx.ptr, True)
    return ctx


def _source(x):
    """The JSON's name of an input: its path, else None."""
    return os.fsdecode(x) if isinstance(x, (str, bytes, os.PathLike)) else None


# ---- render ------------------------------------------------------------------------------------


def render_defaults():
    """The render options' defaults: `nstyle render`'s (the library's nst_render_options_default
    and the CLI's own)."""
    o = _capi.RenderOptions()
    lib.nst_render_options_default(byref(o))
    return {"size": 512, "iters": o.iterations, "lr": None, "seed": o.seed,
            "content_weight": o.content_weight, "style_weight": o.style_weight,
            "tv_weight": o.tv_weight, "init": "content", "content_layers": None,
            "style_layers": None, "pooling": "max", "optimizer": "adam",
            "lbfgs_history": o.lbfgs_history, "line_search": "none", "scales": 1,
            "scale_iters": None, "normalize_gradients": False, "style_blend": None,
            "style_scale": 1.0, "histogram_match": False, "original_colors": False,
            "content_transform": None, "style_transform": None,
            "transform_padding": lib.nst_grid_padding_name(o.transform_padding).decode(),
            "robust": 0, "style_augment": 0, "learn_style_transform": False,
            "style_transform_penalty": o.style_transform_penalty,
            "style_transform_lr": o.style_transform_lr or None, "device": "auto",
            "threads": None, "vram_limit": None, "workspace_limit": None,
            "deterministic": False, "model": None, "output": None, "save_every": None}


class RenderResult:
    """What render returns: `image` (HxWx3 uint8, what `nstyle render` writes), `image_float`
    (HxWx3 float32 RGB in [0, 1], the optimised image), `iterations` (done over all scales),
    `cancelled` (stopped by the progress callback or KeyboardInterrupt), and `summary` (the
    fields of `nstyle render --json`: the losses, timings, plan and memory by tag)."""

    def __init__(self, image, image_float, summary):
        self.image, self.image_float, self.summary = image, image_float, summary
        self.iterations = summary["iterations"]
        self.cancelled = summary["cancelled"]

    def __repr__(self):
        s = self.summary
        return (f"<nstyle.RenderResult {s['width']}x{s['height']}, {s['iterations']} of "
                f"{s['iterations_requested']} iterations{', cancelled' if self.cancelled else ''}"
                f", style loss {s['initial_style_loss']:.4g} -> {s['style_loss']:.4g}>")


def _render_options(given):
    d = render_defaults()
    known = list(d) + ["iterations"]
    _check_names(given, known, "nstyle.render")
    if "iters" in given and "iterations" in given:
        raise OptionError("iters and iterations are one option: give one")
    o = dict(d, **given)
    if "iterations" in given:
        o["iters"] = o.pop("iterations")
    o.pop("iterations", None)
    ro = _capi.RenderOptions()
    lib.nst_render_options_default(byref(ro))
    s = o["size"]
    if isinstance(s, (str, tuple, list)):
        o["size"] = _size("size", s)
        if max(o["size"]) > 30000:
            raise OptionError(f"size: sides 1..30000 (got {s!r})")
    else:
        o["size"] = _whole("size", s, 1, 30000)
    ro.iterations = _whole("iters", o["iters"], 0, 10000000)
    ro.optimizer = _choice("optimizer", o["optimizer"], ["adam", "lbfgs"])
    if o["lr"] is not None:
        ro.lr = _number("lr", o["lr"], lambda v: 1e-12 <= v <= 1e6, "a number > 0")
    elif ro.optimizer == 1:
        ro.lr = 1.0  # L-BFGS's step length, as the CLI
    ro.seed = _whole("seed", o["seed"], 0, 2**64 - 1)
    for k in ("content_weight", "style_weight", "tv_weight"):
        setattr(ro, k, _number(k, o[k], lambda v: 0 <= v <= 1e30, "a number >= 0"))
    ro.content_layers = _layers("content_layers", o["content_layers"]) and \
        o["content_layers"].encode()
    ro.style_layers = _layers("style_layers", o["style_layers"]) and o["style_layers"].encode()
    ro.pooling = _choice("pooling", o["pooling"], ["max", "avg"])
    ro.lbfgs_history = _whole("lbfgs_history", o["lbfgs_history"], 1, 1000)
    ro.lbfgs_line_search = _choice("line_search", o["line_search"], ["none", "strong-wolfe"])
    if "line_search" in given and ro.optimizer != 1:
        raise OptionError("line_search is for L-BFGS only: add optimizer='lbfgs'")
    ro.scales = _whole("scales", o["scales"], 1, _capi.RENDER_MAX_SCALES)
    if o["scale_iters"] is not None:
        it = o["scale_iters"]
        if not isinstance(it, (list, tuple)) or len(it) != ro.scales:
            raise OptionError(f"scale_iters wants one count per scale ({ro.scales}) (got "
                              f"{it!r})")
        for k, n in enumerate(it):
            ro.scale_iterations[k] = _whole("scale_iters", n, 0, 10000000)
    ro.normalize_gradients = _flag("normalize_gradients", o["normalize_gradients"])
    o["style_scale"] = _number("style_scale", o["style_scale"], lambda v: 1e-3 <= v <= 100,
                               "a number in (0, 100]")
    ro.histogram_match = _flag("histogram_match", o["histogram_match"])
    ro.original_colors = _flag("original_colors", o["original_colors"])
    err = create_string_buffer(320)
    for k in ("content_transform", "style_transform"):
        if o[k] is not None:
            if lib.nst_geometry_parse(_text(k, o[k]).encode(), byref(getattr(ro, k)), err,
                                      320) != 0:
                raise OptionError(f"{k}: {err.value.decode()}")
    pad = lib.nst_grid_padding_from_name(_text("transform_padding",
                                               o["transform_padding"]).encode())
    if pad < 0:
        raise OptionError(f"transform_padding wants zeros, border or reflection (got "
                          f"{o['transform_padding']!r})")
    ro.transform_padding = pad
    ro.robust_views = _whole("robust", o["robust"], 0, 64)
    ro.style_augment = _whole("style_augment", o["style_augment"], 0, 64)
    ro.learn_style_transform = _flag("learn_style_transform", o["learn_style_transform"])
    ro.style_transform_penalty = _number("style_transform_penalty",
                                         o["style_transform_penalty"],
                                         lambda v: 0 <= v <= 1e30, "a number >= 0")
    if o["style_transform_lr"] is not None:
        ro.style_transform_lr = _number("style_transform_lr", o["style_transform_lr"],
                                        lambda v: 1e-12 <= v <= 1e6, "a number > 0")
    lbfgs = ro.optimizer == 1
    if ro.robust_views and lbfgs:
        raise OptionError("robust draws new views every iteration, which L-BFGS cannot "
                          "follow: use optimizer='adam'")
    if ro.normalize_gradients and (ro.robust_views or ro.learn_style_transform):
        raise OptionError("normalize_gradients does not combine with "
                          f"{'robust' if ro.robust_views else 'learn_style_transform'}")
    if ro.learn_style_transform and (lbfgs or ro.robust_views or ro.style_augment):
        raise OptionError("learn_style_transform steps theta with Adam, without robust and "
                          "style_augment")
    o["device"] = _text("device", o["device"])
    if o["threads"] is not None:
        o["threads"] = _whole("threads", o["threads"], 1, 4096)
    ro.vram_limit = _bytes("vram_limit", o["vram_limit"])
    ro.workspace_limit = _bytes("workspace_limit", o["workspace_limit"])
    ro.deterministic = _flag("deterministic", o["deterministic"])
    if o["save_every"] is not None:
        ro.save_every = _whole("save_every", o["save_every"], 1, 10000000)
        if o["output"] is None:
            raise OptionError("save_every writes OUTPUT_NNNNNN.png beside output: give output")
    if o["output"] is not None:
        out = os.fsdecode(o["output"])
        if os.path.splitext(out)[1].lower() not in (".png", ".jpg", ".jpeg"):
            raise OptionError(f"output must end in .png, .jpg or .jpeg (got {out!r})")
        o["output"] = out
    return o, ro


class _Images:
    """The render's images at one size, prepared as the CLI's images_load: the content at w x h,
    each style at style_scale times the long side, the init image at w x h, as floats."""

    def __init__(self, ctx, src, w, h, with_init):
        side = max(1, int(math.floor(src["style_scale"] * max(w, h) + 0.5)))
        self.content_u8 = _at(ctx, src["content"], w, h)
        self.content = _to_float(ctx, self.content_u8)
        self.styles = []
        for a in src["styles"]:
            sw, sh = _long_side(a.shape[1], a.shape[0], side)
            self.styles.append(_to_float(ctx, _at(ctx, a, sw, sh)))
        n = len(self.styles)
        self.style_ptrs = (c_void_p * n)(*[s.ctypes.data for s in self.styles])
        self.widths = (c_int * n)(*[s.shape[1] for s in self.styles])
        self.heights = (c_int * n)(*[s.shape[0] for s in self.styles])
        init = src["init"]
        self.init = _to_float(ctx, _at(ctx, init, w, h)) if with_init and init is not None \
            else None

    def point(self, ro, with_init):
        ro.content = self.content.ctypes.data
        ro.n_styles = len(self.styles)
        ro.styles = cast(self.style_ptrs, c_void_p)
        ro.styles_width, ro.styles_height = self.widths, self.heights
        if with_init and self.init is not None:
            ro.init_image = self.init.ctypes.data


def render(content, style, progress=None, **options):
    """The Gatys render, as `nstyle render` does it: optimises an image so that its VGG19
    features match content's and its Gram matrices style's. Returns a RenderResult: .image
    (HxWx3 uint8, the pixels `nstyle render` writes), .image_float, .iterations, .cancelled and
    .summary (the fields of `nstyle render --json`).

    content: a numpy (h, w, 3) uint8 RGB array, a PIL image or a path (decoded as the CLI
        decodes it). style: one such image or a list of up to 8 (blended).
    progress: None, or a function called after every iteration with a Progress (iteration,
        iterations, scale, scales, content_loss, style_loss, tv_loss, total_loss, seconds);
        returning False stops the render after that iteration and the image so far is
        returned (cancelled=True), as Ctrl-C does for the CLI. An exception raised in it stops
        the render and is re-raised here with its traceback. KeyboardInterrupt (Ctrl-C) during
        the render stops it the same way and the image so far is returned.

    Options (`nstyle render`'s, with underscores, and its defaults; render_defaults()):
      size=512               the result's long side, or "WxH" / (w, h) exactly
      iters=300              iterations (L-BFGS: evaluations); also iterations=
      lr=None                learning rate (None: 0.01; L-BFGS: 1)
      seed=0                 the noise of init="noise", and the random views
      content_weight=1, style_weight=100, tv_weight=0
      init="content"         "content", "noise" or an image (array, PIL image, path)
      content_layers=None    comma list (None: relu4_2)
      style_layers=None      comma list (None: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)
      pooling="max"          max or avg
      optimizer="adam"       adam or lbfgs; lbfgs_history=100; line_search="none" or
                             "strong-wolfe"
      scales=1               coarse to fine; scale_iters=None: a count per scale
      normalize_gradients=False
      style_blend=None       one weight per style (None: equal); style_scale=1.0
      histogram_match=False, original_colors=False
      content_transform=None, style_transform=None  e.g. "rotate=10,scale=1.2"
      transform_padding="reflection", robust=0, style_augment=0,
      learn_style_transform=False, style_transform_penalty=1e8, style_transform_lr=None
      device="auto"          cuda:0 when a GPU can be used, else cpu; or cpu, cuda, cuda:N
      threads=None           CPU threads (None: all cores)
      vram_limit=None, workspace_limit=None   bytes, or sizes such as "4G"
      deterministic=False
      model=None             the VGG19 weights (None: looked up as the CLI does)
      output=None            also write the result to this .png/.jpg file (atomically)
      save_every=None        with output: write OUTPUT_NNNNNN.png every N iterations
    """
    o, ro = _render_options(options)
    ctx = _open(o["device"], o["threads"])
    r = _capi.RenderResult()
    try:
        return _render(ctx, content, style, progress, o, ro, r)
    finally:
        lib.nst_render_result_free(byref(r))
        ctx.close()


def _render(ctx, content, style, progress, o, ro, r):
    styles_in = list(style) if isinstance(style, (list, tuple)) else [style]
    if not 1 <= len(styles_in) <= _capi.RENDER_MAX_STYLES:
        raise OptionError(f"style: 1 to {_capi.RENDER_MAX_STYLES} images (got "
                          f"{len(styles_in)})")
    blend = o["style_blend"]
    if blend is not None:
        if not isinstance(blend, (list, tuple)) or len(blend) != len(styles_in):
            raise OptionError("style_blend wants one weight per style image")
        blend = [_number("style_blend", b, lambda v: 0 <= v <= 1e30, "weights >= 0")
                 for b in blend]
        if not sum(blend) > 0:
            raise OptionError("style_blend: the weights are all 0; one must be > 0")
    if ro.learn_style_transform and len(styles_in) > 1:
        raise OptionError("learn_style_transform takes one style image")
    weights = _weights(ctx, o["model"])
    init = o["init"]
    src = {"content": _as_array(ctx, content, "content"),
           "styles": [_as_array(ctx, s, f"style {k}") for k, s in enumerate(styles_in)],
           "style_scale": o["style_scale"], "init": None}
    if isinstance(init, str) and init in ("content", "noise"):
        ro.init = 0 if init == "content" else 1
    else:
        ro.init = 2
        src["init"] = _as_array(ctx, init, "init")
    ch, cw = src["content"].shape[:2]
    w, h = o["size"] if isinstance(o["size"], tuple) else _long_side(cw, ch, o["size"])
    full = _Images(ctx, src, w, h, True)
    ro.width, ro.height = w, h
    full.point(ro, True)
    blend_c = (c_double * len(blend))(*blend) if blend else None
    ro.style_blend = cast(blend_c, c_void_p) if blend else None
    ro.weights_path = weights

    cb = _Callback(progress, lambda p: Progress(
        p.iteration, p.iterations, p.scale, p.scales, p.content_loss, p.style_loss,
        p.tv_loss, p.total_loss, p.seconds), _capi.RENDER_PROGRESS_FN)
    ro.progress = cast(cb.c, c_void_p)
    coarse = []  # the images of the scale running, alive until the next

    def scale_images(ctx_ptr, k, opts, user):  # the CLI's on_scale_images
        try:
            if k + 1 == ro.scales:
                return 0
            oo = opts.contents
            coarse[:] = [_Images(ctx, src, oo.width, oo.height, k == 0)]
            coarse[0].point(oo, k == 0)
            return 0
        except Error as e:
            cb.error = e
            return _status_code("ERR_INVALID_ARG")
        except BaseException as e:  # noqa: B036
            cb.error = e
            return _status_code("ERR_INTERNAL")

    scale_c = _capi.RENDER_SCALE_IMAGES_FN(scale_images)
    if ro.scales > 1:
        ro.scale_images = cast(scale_c, c_void_p)
    snap_error = []

    def snapshot(image, sw, sh, iteration, user):
        try:
            stem, ext = os.path.splitext(o["output"])
            _save(ctx, f"{stem}_{iteration:06d}{ext}", image, sw, sh)
            return True
        except BaseException as e:  # noqa: B036
            snap_error.append(e)
            return False

    snap_c = _capi.RENDER_SNAPSHOT_FN(snapshot)
    if ro.save_every:
        ro.snapshot = cast(snap_c, c_void_p)
    st = lib.nst_render_gatys(ctx.ptr, byref(ro), byref(r))
    interrupted = _finish_callback(cb)
    if snap_error:
        raise snap_error[0]
    if st != 0 and interrupted:  # Ctrl-C while the scale's images were made: no image
        raise cb.error
    if st != 0:
        if r.nonfinite_iteration >= 0:
            raise Error(f"nstyle.render: the loss became non-finite (NaN or infinite) at "
                        f"iteration {r.nonfinite_iteration} in {r.nonfinite_layer.decode()}; "
                        "try a lower lr or smaller loss weights",
                        lib.nst_status_name(st).decode())
        _raise(ctx.ptr, st, "nstyle.render: ")
    rw, rh = r.width, r.height
    image_float = np.ctypeslib.as_array(r.image, shape=(rh * rw * 3,)).copy()
    image_float = image_float.reshape(rh, rw, 3)
    image = _to_u8(ctx, r.image, rw, rh)
    if o["output"] is not None:
        _save(ctx, o["output"], r.image, rw, rh)
    ssim = None
    if (rw, rh) == (w, h) and w >= 11 and h >= 11:
        ssim = _ssim_to_content(ctx, ro, full.content_u8, image)
    requested = sum(ro.scale_iterations[k] or ro.iterations for k in range(ro.scales))
    norm = [b / sum(blend) for b in blend] if blend else [1 / len(styles_in)] * len(styles_in)
    lbfgs = ro.optimizer == 1
    summary = {
        "schema": "nstyle-summary/1", "command": "render", "nstyle_version": __version__,
        "ok": True, "error": None, "device": lib.nst_ctx_device_name(ctx.ptr).decode(),
        "content": _source(content), "style": _source(styles_in[0]), "output": o["output"],
        "weights": weights.decode(), "width": rw, "height": rh,
        "iterations": r.iterations_done, "iterations_requested": requested,
        "optimizer": "lbfgs" if lbfgs else "adam", "evaluations": r.iterations_done}
    if lbfgs:
        summary.update(lbfgs_history=ro.lbfgs_history, line_search=o["line_search"],
                       converged=bool(r.converged))
    summary.update({
        "styles": len(styles_in), "style_blend": norm, "style_scale": o["style_scale"],
        "original_colors": bool(ro.original_colors),
        "normalize_gradients": bool(ro.normalize_gradients),
        "histogram_match": bool(ro.histogram_match), "scales": ro.scales,
        "cancelled": bool(r.cancelled), "interrupted": interrupted,
        "setup_seconds": r.setup_seconds, "seconds": r.seconds, "s_per_iter": r.s_per_iter,
        "content_loss": r.content_loss, "style_loss": r.style_loss, "tv_loss": r.tv_loss,
        "total_loss": r.total_loss, "initial_content_loss": r.initial_content_loss,
        "initial_style_loss": r.initial_style_loss, "ssim_to_content": ssim,
        "plan_bytes": r.plan_total_bytes, "content_transform": o["content_transform"],
        "style_transform": o["style_transform"],
        "transform_padding": lib.nst_grid_padding_name(ro.transform_padding).decode(),
        "robust_views": ro.robust_views,
        "style_augment": ro.style_augment,
        "learn_style_transform": bool(ro.learn_style_transform)})
    if ro.robust_views:
        summary["robust_style_loss"] = r.robust_style_loss
    if ro.learn_style_transform:
        summary.update(style_theta=list(r.style_theta),
                       style_transform_penalty=ro.style_transform_penalty,
                       style_transform_penalty_loss=r.style_transform_penalty_loss)
    summary["memory"] = _memory(ctx)
    return RenderResult(image, image_float, summary)


def _ssim_to_content(ctx, ro, content, image):
    """SSIM of the content as the render saw it (its transform applied, the CLI's
    nst_cli_geo_content) against the result; None when it cannot be had."""
    h, w = content.shape[:2]
    if ro.content_transform.set:
        theta = (c_float * 6)()
        lib.nst_geometry_theta(byref(ro.content_transform), w, h, theta)
        src, moved = _to_float(ctx, content), np.empty((h, w, 3), np.float32)
        ctx.check(lib.nst_geometry_apply(ctx.ptr, theta, ro.transform_padding,
                                         src.ctypes.data, w, h, 3, moved.ctypes.data))
        content = _to_u8(ctx, moved.ctypes.data, w, h)
    v = c_double()
    if lib.nst_ssim_u8(ctx.ptr, content.ctypes.data, image.ctypes.data, w, h, 3, byref(v)):
        return None
    return v.value


def _status_code(name):
    """The status code of a status name ("ERR_IO")."""
    for st in range(1, 64):
        if lib.nst_status_name(st).decode() == name:
            return st
    return 1


def _save(ctx, path, rgb, w, h):
    """A float RGB image to path, atomically (nst_image_save), as the CLI writes it."""
    img = _capi.Image()
    ctx.check(lib.nst_image_from_float(ctx.ptr, rgb, w, h, 3, byref(img)))
    try:
        ctx.check(lib.nst_image_save(ctx.ptr, os.fsencode(path), byref(img), 95))
    finally:
        lib.nst_image_free(byref(img))


# ---- train -------------------------------------------------------------------------------------


def train_defaults():
    """The training options' defaults: `nstyle train`'s (nst_train_options_default)."""
    o = _capi.TrainOptions()
    lib.nst_train_options_default(byref(o))
    auto = lambda v: None if v < 0 else v  # noqa: E731 -- < 0: chosen from the weights
    return {"style_size": None, "size": o.size, "batch": o.batch, "steps": o.steps,
            "lr": o.lr, "seed": o.seed, "content_weight": auto(o.content_weight),
            "style_weight": auto(o.style_weight), "tv_weight": auto(o.tv_weight),
            "content_layers": None, "style_layers": None,
            "checkpoint_every": o.checkpoint_every, "checkpoint": None, "resume": None,
            "width": o.width, "init_model": None, "model": None, "device": "cpu",
            "threads": None, "deterministic": False}


class TrainResult:
    """What train returns: `model` (the model file written), `steps` (done, resumed ones
    included), `cancelled`, `checkpoint` (the checkpoint file, when one was written) and
    `summary` (the fields of `nstyle train --json`)."""

    def __init__(self, summary):
        self.summary = summary
        self.model, self.steps, self.cancelled, self.checkpoint = (
            summary[k] for k in ("output", "steps", "cancelled", "checkpoint"))

    def __repr__(self):
        s = self.summary
        return (f"<nstyle.TrainResult {s['steps']} of {s['steps_requested']} steps"
                f"{', cancelled' if self.cancelled else ''}, loss {s['first_loss']:.4g} -> "
                f"{s['last_loss']:.4g}, {self.model}>")


def train(style, data, output, progress=None, **options):
    """Trains a feed-forward style network, as `nstyle train` does, on random crops of the
    photos in the folder data against the style image, and writes it to output (a
    .safetensors model that nstyle.stylize reads). Returns a TrainResult.

    style: a path, a numpy (h, w, 3) uint8 array or a PIL image; resized so its shorter side
        is style_size.
    progress: None, or a function called after every step with a TrainProgress (step, steps,
        content_loss, style_loss, tv_loss, total_loss, seconds); returning False stops after
        that step: the checkpoint (checkpoint=) and the model so far are written, so
        resume=checkpoint continues. An exception raised in it stops the run the same way and
        is re-raised here with its traceback; KeyboardInterrupt stops it and returns.

    Options (`nstyle train`'s, with underscores, and its defaults; train_defaults()):
      style_size=None        the style's shorter side (None: size)
      size=256               crop side, a multiple of 4
      batch=4, steps=1000, lr=1e-3, seed=1, width=32 (the network's base width)
      content_weight=None, style_weight=None, tv_weight=None  (None: chosen from the VGG19
                             weights' input convention, docs/train.md; tv 0)
      content_layers=None (relu2_2), style_layers=None (relu1_2,relu2_2,relu3_4,relu4_4)
      checkpoint_every=0     steps between checkpoints (0: only when stopped)
      checkpoint=None        where (None: output with .ckpt.safetensors)
      resume=None            a checkpoint to continue from; init_model=None: start weights
      model=None             the VGG19 weights (None: looked up as the CLI does)
      device="cpu", threads=None, deterministic=False
    """
    d = train_defaults()
    _check_names(options, d, "nstyle.train")
    o = dict(d, **options)
    to = _capi.TrainOptions()
    lib.nst_train_options_default(byref(to))
    keep = []

    def text(name, v):
        b = os.fsencode(v) if isinstance(v, os.PathLike) else _text(name, v).encode()
        keep.append(b)
        return b

    to.size = _whole("size", o["size"], 8, 8192)
    if to.size % 4:
        raise OptionError(f"size wants a multiple of 4, 8..8192 (got {o['size']!r})")
    side = _whole("style_size", o["style_size"], 8, 8192) if o["style_size"] else to.size
    to.batch = _whole("batch", o["batch"], 1, 1024)
    to.steps = _whole("steps", o["steps"], 0, 1000000000)
    to.lr = _number("lr", o["lr"], lambda v: v > 0, "a number > 0")
    to.seed = _whole("seed", o["seed"], 0, 0x7fffffff)
    to.width = _whole("width", o["width"], 1, 1024)
    for k in ("content_weight", "style_weight", "tv_weight"):
        if o[k] is not None:
            setattr(to, k, _number(k, o[k], lambda v: v >= 0, "a number >= 0"))
    if o["content_layers"] is not None:
        to.content_layers = text("content_layers", _layers("content_layers",
                                                           o["content_layers"]))
    if o["style_layers"] is not None:
        to.style_layers = text("style_layers", _layers("style_layers", o["style_layers"]))
    to.checkpoint_every = _whole("checkpoint_every", o["checkpoint_every"], 0, 1000000000)
    output = os.fsdecode(_text("output", os.fsdecode(output)
                               if isinstance(output, (bytes, os.PathLike)) else output))
    checkpoint = o["checkpoint"]
    if checkpoint is None:
        stem, ext = os.path.splitext(output)
        checkpoint = (stem if ext else output) + ".ckpt.safetensors"
    checkpoint = os.fsdecode(checkpoint)
    to.checkpoint = text("checkpoint", checkpoint)
    for k in ("resume", "init_model"):
        if o[k] is not None:
            setattr(to, k, text(k, os.fsdecode(o[k])))
    data_dir = os.fsdecode(data) if isinstance(data, (bytes, os.PathLike)) else data
    to.data_dir = text("data", data_dir)
    device = _text("device", o["device"])
    threads = _whole("threads", o["threads"], 1, 4096) if o["threads"] is not None else None
    deterministic = _flag("deterministic", o["deterministic"])
    ctx = _open(device, threads)
    lib.nst_ctx_set_deterministic(ctx.ptr, deterministic)
    try:
        weights = _weights(ctx, o["model"])
        to.weights_path = weights
        a = _as_array(ctx, style, "style")
        h, w = a.shape[:2]
        k = side / min(w, h)
        sw, sh = max(1, int(math.floor(w * k + 0.5))), max(1, int(math.floor(h * k + 0.5)))
        out = _capi.Image()  # always resized, as the CLI's load_style
        ctx.check(lib.nst_image_resize(ctx.ptr, byref(_image_rgb(ctx, a)), sw, sh, byref(out)))
        try:
            sf = np.empty((sh, sw, 3), np.float32)
            ctx.check(lib.nst_image_to_float(ctx.ptr, byref(out), sf.ctypes.data))
        finally:
            lib.nst_image_free(byref(out))
        to.style, to.style_width, to.style_height = sf.ctypes.data, sw, sh
        cb = _Callback(progress, lambda p: TrainProgress(
            p.step, p.steps, p.content_loss, p.style_loss, p.tv_loss, p.total_loss, p.seconds),
            _capi.TRAIN_PROGRESS_FN)
        to.progress = cast(cb.c, c_void_p)
        src = _source(style)
        name = os.path.splitext(os.path.basename(src))[0] if src else "style"
        r = _capi.TrainResult()
        st = lib.nst_train(ctx.ptr, byref(to), output.encode(), name.encode(), byref(r))
        interrupted = _finish_callback(cb)
        if st != 0:
            _raise(ctx.ptr, st, "nstyle.train: ")
        return TrainResult({
            "schema": "nstyle-summary/1", "command": "train", "nstyle_version": __version__,
            "ok": True, "error": None, "device": lib.nst_ctx_device_name(ctx.ptr).decode(),
            "style": src, "data": data_dir, "output": output, "weights": weights.decode(),
            "images": r.images, "steps": r.steps_done, "steps_requested": to.steps,
            "size": to.size, "batch": to.batch, "seed": to.seed,
            "deterministic": deterministic, "content_weight": r.content_weight,
            "style_weight": r.style_weight, "tv_weight": r.tv_weight,
            "first_loss": r.first_loss, "last_loss": r.last_loss,
            "content_loss": r.content_loss, "style_loss": r.style_loss, "tv_loss": r.tv_loss,
            "seconds": r.seconds, "ms_per_step": r.ms_per_step, "plan_bytes": r.plan_bytes,
            "cancelled": bool(r.cancelled), "interrupted": interrupted,
            "checkpoint": checkpoint if to.checkpoint_every > 0 or r.checkpointed else None,
            "memory": _memory(ctx)})
    finally:
        ctx.close()
