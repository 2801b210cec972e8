"""The C library through ctypes: loading libnstyle (after the OpenBLAS kernel rule), the
structs the package passes (each checked against the C side by python/tests/test_layout.py,
which compiles offsetof() for every field declared here), the function signatures, and the ABI
check made at import."""

import ctypes
import glob
import os
import platform
import subprocess
import sys
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_float,
                    c_int, c_long, c_size_t, c_uint8, c_uint64, c_void_p)

# The binary interface this package was written for (NST_ABI_VERSION, include/nstyle/device.h).
ABI_VERSION = 1

HERE = os.path.dirname(os.path.abspath(__file__))
LIB_DIR = os.path.join(HERE, "lib")
CLI_PATH = os.path.join(HERE, "bin", "nstyle")
INCLUDE_DIR = os.path.join(HERE, "include")

TAG_COUNT = 6  # NST_TAG_COUNT (context.h): the length of the per-tag arrays below
PLAN_MAX_SCALES = 8  # NST_PLAN_MAX_SCALES (memory.h)
RENDER_MAX_SCALES = 8  # NST_RENDER_MAX_SCALES (render.h)
RENDER_MAX_STYLES = 8  # NST_RENDER_MAX_STYLES (render.h)


class BuildInfo(Structure):  # nst_build_info, device.h
    _fields_ = [("version", c_char_p), ("cuda", c_bool), ("cuda_runtime_version", c_int),
                ("cudnn_version", c_int), ("cuda_architectures", c_char_p), ("openmp", c_bool),
                ("openmp_version", c_int), ("compiler", c_char_p)]


class GpuInfo(Structure):  # nst_gpu_info, device.h
    _fields_ = [("index", c_int), ("name", c_char * 256), ("cc_major", c_int),
                ("cc_minor", c_int), ("multiprocessors", c_int), ("total_bytes", c_size_t),
                ("free_bytes", c_size_t), ("free_known", c_bool), ("clock_khz", c_int),
                ("l2_bytes", c_int)]


class Image(Structure):  # nst_image, image.h
    _fields_ = [("width", c_int), ("height", c_int), ("channels", c_int),
                ("data", POINTER(c_uint8))]


class Geometry(Structure):  # nst_geometry, geometry.h
    _fields_ = [("set", c_bool), ("rotate_deg", c_double), ("scale_x", c_double),
                ("scale_y", c_double), ("translate_x", c_double), ("translate_y", c_double),
                ("raw", c_bool), ("theta", c_float * 6)]


class RenderOptions(Structure):  # nst_render_options, render.h (enums are int)
    _fields_ = [
        ("width", c_int), ("height", c_int), ("content", c_void_p), ("style", c_void_p),
        ("style_width", c_int), ("style_height", c_int), ("init", c_int),
        ("init_image", c_void_p), ("seed", c_uint64), ("iterations", c_int), ("lr", c_double),
        ("content_weight", c_double), ("style_weight", c_double), ("tv_weight", c_double),
        ("adam_beta1", c_double), ("adam_beta2", c_double), ("adam_eps", c_double),
        ("content_layers", c_char_p), ("style_layers", c_char_p),
        ("style_layer_weights", c_void_p), ("pooling", c_int), ("weights_path", c_char_p),
        ("vram_limit", c_size_t), ("workspace_limit", c_size_t), ("deterministic", c_bool),
        ("progress", c_void_p), ("progress_user", c_void_p), ("cancel", c_void_p),
        ("n_styles", c_int), ("styles", c_void_p), ("styles_width", POINTER(c_int)),
        ("styles_height", POINTER(c_int)), ("style_blend", c_void_p),
        ("histogram_match", c_bool), ("normalize_gradients", c_bool),
        ("original_colors", c_bool), ("optimizer", c_int), ("lbfgs_history", c_int),
        ("lbfgs_line_search", c_int), ("lbfgs_tolerance_grad", c_double),
        ("lbfgs_tolerance_change", c_double), ("save_every", c_int), ("snapshot", c_void_p),
        ("snapshot_user", c_void_p), ("content_transform", Geometry),
        ("style_transform", Geometry), ("transform_padding", c_int), ("robust_views", c_int),
        ("style_augment", c_int), ("view_rotate_deg", c_double), ("view_scale_min", c_double),
        ("view_scale_max", c_double), ("view_shift", c_double),
        ("learn_style_transform", c_bool), ("style_transform_penalty", c_double),
        ("style_transform_lr", c_double), ("scales", c_int),
        ("scale_iterations", c_int * RENDER_MAX_SCALES), ("scale_images", c_void_p),
        ("scale_images_user", c_void_p)]


class TrainOptions(Structure):  # nst_train_options, train.h
    _fields_ = [
        ("weights_path", c_char_p), ("data_dir", c_char_p), ("style", c_void_p),
        ("style_width", c_int), ("style_height", c_int), ("content_layers", c_char_p),
        ("style_layers", c_char_p), ("content_weight", c_double), ("style_weight", c_double),
        ("tv_weight", c_double), ("lr", c_double), ("beta1", c_double), ("beta2", c_double),
        ("eps", c_double), ("size", c_int), ("batch", c_int), ("steps", c_long),
        ("width", c_int), ("seed", c_uint64), ("init_model", c_char_p), ("resume", c_char_p),
        ("checkpoint", c_char_p), ("checkpoint_every", c_long), ("memory_limit", c_size_t),
        ("progress", c_void_p), ("progress_user", c_void_p), ("cancel", c_void_p)]


class StylizeOptions(Structure):  # nst_stylize_options, stylize.h
    _fields_ = [("device", c_char_p), ("threads", c_int), ("size", c_int), ("scale", c_double),
                ("batch", c_int), ("smooth", c_float), ("smooth_threshold", c_float),
                ("original_colors", c_bool), ("quality", c_int)]


class RenderProgress(Structure):  # nst_render_progress, render.h
    _fields_ = [("iteration", c_int), ("iterations", c_int), ("scale", c_int), ("scales", c_int),
                ("content_loss", c_double), ("style_loss", c_double), ("tv_loss", c_double),
                ("total_loss", c_double), ("seconds", c_double)]


class RenderResult(Structure):  # nst_render_result, render.h
    _fields_ = [
        ("image", POINTER(c_float)), ("width", c_int), ("height", c_int),
        ("iterations_done", c_int), ("cancelled", c_bool), ("content_loss", c_double),
        ("style_loss", c_double), ("tv_loss", c_double), ("total_loss", c_double),
        ("initial_content_loss", c_double), ("initial_style_loss", c_double),
        ("setup_seconds", c_double), ("seconds", c_double), ("s_per_iter", c_double),
        ("plan_total_bytes", c_size_t), ("nonfinite_layer", c_char * 32),
        ("nonfinite_iteration", c_int), ("evaluations", c_int), ("converged", c_bool),
        ("robust_style_loss", c_double), ("style_transform_penalty_loss", c_double),
        ("style_theta", c_float * 6), ("style_theta_grad", c_float * 6)]


class TrainProgress(Structure):  # nst_train_progress, train.h
    _fields_ = [("step", c_long), ("steps", c_long), ("content_loss", c_double),
                ("style_loss", c_double), ("tv_loss", c_double), ("total_loss", c_double),
                ("seconds", c_double)]


class TrainResult(Structure):  # nst_train_result, train.h
    _fields_ = [("steps_done", c_long), ("first_loss", c_double), ("last_loss", c_double),
                ("content_loss", c_double), ("style_loss", c_double), ("tv_loss", c_double),
                ("content_weight", c_double), ("style_weight", c_double),
                ("tv_weight", c_double), ("seconds", c_double), ("ms_per_step", c_double),
                ("images", c_int), ("plan_bytes", c_size_t), ("cancelled", c_bool),
                ("checkpointed", c_bool)]


# the callbacks (render.h, train.h); their instances go into the options' c_void_p fields
RENDER_PROGRESS_FN = CFUNCTYPE(c_bool, POINTER(RenderProgress), c_void_p)
RENDER_SNAPSHOT_FN = CFUNCTYPE(c_bool, POINTER(c_float), c_int, c_int, c_int, c_void_p)
RENDER_SCALE_IMAGES_FN = CFUNCTYPE(c_int, c_void_p, c_int, POINTER(RenderOptions), c_void_p)
TRAIN_PROGRESS_FN = CFUNCTYPE(c_bool, POINTER(TrainProgress), c_void_p)


class PlanBuffer(Structure):  # nst_plan_buffer, memory.h
    _fields_ = [("label", c_char_p), ("tag", c_int), ("bytes", c_size_t), ("align", c_size_t),
                ("first", c_int), ("last", c_int), ("offset", c_size_t)]


class PlanSummary(Structure):  # nst_plan_summary, memory.h
    _fields_ = [
        ("solved", c_bool), ("n_buffers", c_int), ("total_bytes", c_size_t),
        ("span_bytes", c_size_t), ("base_slack", c_size_t), ("max_align", c_size_t),
        ("lower_bound", c_size_t), ("sum_bytes", c_size_t), ("peak_step", c_int),
        ("tag_peak", c_size_t * TAG_COUNT), ("tag_at_peak", c_size_t * TAG_COUNT),
        ("scales", c_int), ("scale_width", c_int * PLAN_MAX_SCALES),
        ("scale_height", c_int * PLAN_MAX_SCALES),
        ("scale_total_bytes", c_size_t * PLAN_MAX_SCALES)]


class TrackerSnapshot(Structure):  # nst_tracker_snapshot, memory.h
    _fields_ = [("current", c_size_t * TAG_COUNT), ("peak", c_size_t * TAG_COUNT),
                ("arena_slack_current", c_size_t), ("arena_slack_peak", c_size_t),
                ("current_total", c_size_t), ("peak_total", c_size_t), ("n_live", c_size_t),
                ("has_device_info", c_bool), ("device_total", c_size_t),
                ("device_free", c_size_t), ("device_other", c_size_t)]


# every struct above with its C name, for the import check (sizes the library reports) and the
# layout test (offsets compiled from the headers)
STRUCTS = {"nst_build_info": BuildInfo, "nst_gpu_info": GpuInfo, "nst_image": Image,
           "nst_geometry": Geometry, "nst_render_options": RenderOptions,
           "nst_train_options": TrainOptions, "nst_stylize_options": StylizeOptions,
           "nst_render_progress": RenderProgress, "nst_render_result": RenderResult,
           "nst_train_progress": TrainProgress, "nst_train_result": TrainResult,
           "nst_plan_buffer": PlanBuffer, "nst_plan_summary": PlanSummary,
           "nst_tracker_snapshot": TrackerSnapshot}

ctx_p = c_void_p
status = c_int

# name: (restype, argtypes)
_SIGNATURES = {
    "nst_abi_version": (c_int, []),
    "nst_render_options_size": (c_size_t, []),
    "nst_train_options_size": (c_size_t, []),
    "nst_stylize_options_size": (c_size_t, []),
    "nst_get_build_info": (BuildInfo, []),
    "nst_cpu_blas_core": (c_char_p, []),
    "nst_cpu_blas_config": (c_char_p, []),
    "nst_cpu_blas_better_core": (c_char_p, []),
    "nst_list_gpus": (status, [POINTER(GpuInfo), c_int, POINTER(c_int), c_char_p, c_size_t]),
    "nst_cuda_libraries": (status, [c_char_p, c_size_t]),
    "nst_strerror": (c_char_p, [status]),
    "nst_status_name": (c_char_p, [status]),
    "nst_mem_tag_name": (c_char_p, [c_int]),
    "nst_ctx_create": (ctx_p, []),
    "nst_ctx_destroy": (None, [ctx_p]),
    "nst_ctx_set_device": (status, [ctx_p, c_char_p]),
    "nst_ctx_device_name": (c_char_p, [ctx_p]),
    "nst_ctx_set_threads": (None, [ctx_p, c_int]),
    "nst_ctx_threads": (c_int, [ctx_p]),
    "nst_ctx_set_workspace_limit": (None, [ctx_p, c_size_t]),
    "nst_ctx_workspace_limit": (c_size_t, [ctx_p]),
    "nst_ctx_plan_for_cuda": (None, [ctx_p, c_bool]),
    "nst_ctx_backend": (c_int, [ctx_p]),
    "nst_last_error": (c_char_p, [ctx_p]),
    "nst_clear_error": (None, [ctx_p]),
    "nst_model_find": (status, [ctx_p, c_char_p, POINTER(c_char_p), c_int, c_char_p, c_size_t]),
    "nst_image_load": (status, [ctx_p, c_char_p, c_int, POINTER(Image)]),
    "nst_image_resize": (status, [ctx_p, POINTER(Image), c_int, c_int, POINTER(Image)]),
    "nst_image_free": (None, [POINTER(Image)]),
    "nst_stylize_options_default": (None, [POINTER(StylizeOptions)]),
    "nst_stylizer_open": (status, [ctx_p, c_char_p, POINTER(c_void_p)]),
    "nst_stylizer_close": (None, [c_void_p]),
    "nst_stylizer_style": (c_char_p, [c_void_p]),
    "nst_stylizer_set_original_colors": (None, [c_void_p, c_bool]),
    "nst_stylize_float": (status, [c_void_p, c_void_p, c_int, c_int, c_int, c_void_p]),
    "nst_stylize_to_u8": (None, [c_void_p, c_size_t, c_void_p]),
    "nst_stylizer_current_plan": (c_void_p, [c_void_p]),
    "nst_smoother_create": (status, [ctx_p, c_float, c_float, POINTER(c_void_p)]),
    "nst_smoother_destroy": (None, [c_void_p]),
    "nst_smoother_reset": (None, [c_void_p]),
    "nst_smoother_apply": (status, [c_void_p, c_void_p, c_int, c_int, c_void_p]),
    "nst_render_options_default": (None, [POINTER(RenderOptions)]),
    "nst_train_options_default": (None, [POINTER(TrainOptions)]),
    "nst_render_plan": (status, [ctx_p, POINTER(RenderOptions), POINTER(c_void_p)]),
    "nst_train_plan": (status, [ctx_p, POINTER(TrainOptions), POINTER(c_void_p)]),
    "nst_plan_destroy": (None, [c_void_p]),
    "nst_plan_get_summary": (PlanSummary, [c_void_p]),
    "nst_plan_count": (c_int, [c_void_p]),
    "nst_plan_get": (POINTER(PlanBuffer), [c_void_p, c_int]),
    "nst_parse_bytes": (status, [ctx_p, c_char_p, POINTER(c_size_t)]),
    "nst_tracker_snapshot_get": (None, [ctx_p, POINTER(TrackerSnapshot)]),
    "nst_ctx_set_deterministic": (None, [ctx_p, c_bool]),
    "nst_image_to_float": (status, [ctx_p, POINTER(Image), c_void_p]),
    "nst_image_from_float": (status, [ctx_p, c_void_p, c_int, c_int, c_int, POINTER(Image)]),
    "nst_image_save": (status, [ctx_p, c_char_p, POINTER(Image), c_int]),
    "nst_ssim_u8": (status, [ctx_p, c_void_p, c_void_p, c_int, c_int, c_int,
                             POINTER(c_double)]),
    "nst_geometry_parse": (status, [c_char_p, POINTER(Geometry), c_char_p, c_size_t]),
    "nst_grid_padding_from_name": (c_int, [c_char_p]),
    "nst_geometry_theta": (None, [POINTER(Geometry), c_int, c_int, c_void_p]),
    "nst_geometry_apply": (status, [ctx_p, c_void_p, c_int, c_void_p, c_int, c_int, c_int,
                                    c_void_p]),
    "nst_grid_padding_name": (c_char_p, [c_int]),
    "nst_vgg19_layer_find": (c_int, [c_char_p, c_void_p]),
    "nst_vgg19_layer_names": (c_size_t, [c_char_p, c_size_t]),
    "nst_vgg19_weights_find": (status, [ctx_p, c_char_p, c_char_p, c_size_t]),
    "nst_render_gatys": (status, [ctx_p, POINTER(RenderOptions), POINTER(RenderResult)]),
    "nst_render_result_free": (None, [POINTER(RenderResult)]),
    "nst_train": (status, [ctx_p, POINTER(TrainOptions), c_char_p, c_char_p,
                           POINTER(TrainResult)]),
}


class LoadError(ImportError):
    """libnstyle could not be loaded, or is not the one this package was written for."""


def _library_path():
    """$NSTYLE_LIBRARY, else the package's own libnstyle."""
    if os.environ.get("NSTYLE_LIBRARY"):
        return os.environ["NSTYLE_LIBRARY"]
    found = sorted(glob.glob(os.path.join(LIB_DIR, "libnstyle.so*")))
    if not found:
        raise LoadError(f"nstyle: no libnstyle.so in {LIB_DIR}: the package is incomplete "
                        "(reinstall it with pip)")
    return found[0]


def _better_core(path):
    """The library's own answer (nst_cpu_blas_better_core) to which OPENBLAS_CORETYPE this CPU
    should run, asked in a child process: OpenBLAS picks its kernels when it loads, so this
    process must not load it before the answer is known. None when nothing is to be gained."""
    if platform.machine() not in ("x86_64", "AMD64", "i686") or not sys.executable:
        return None
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        flags = " avx2 "
    if " avx2" not in flags and " avx512f" not in flags:
        return None  # the library's answer would be None: spare the child process
    probe = ("import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); "
             "f = lib.nst_cpu_blas_better_core; f.restype = ctypes.c_char_p; "
             "print((f() or b'').decode())")
    env = dict(os.environ, NST_BLAS_REEXEC="1")
    try:
        out = subprocess.run([sys.executable, "-c", probe, path], capture_output=True,
                             text=True, timeout=60, env=env, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None  # correct either way, only slower
    return out or None


CORETYPE_SET = None  # the OPENBLAS_CORETYPE the package chose, else None

# Where PyPI's NVIDIA wheels (pip install "nstyle[cuda]": nvidia-cudnn-cu13, nvidia-cublas) put
# their libraries inside a site-packages folder; the CUDA loader (src/host/backends/
# cuda_loader.c) looks in these below each folder of $NSTYLE_CUDA_LIBRARY_PATH.
CUDA_WHEEL_DIRS = ("nvidia/cu13/lib", "nvidia/cudnn/lib", "nvidia/cublas/lib")


def cuda_wheel_folders(paths=None):
    """The folders of paths (default sys.path: the site-packages folders) that hold PyPI's
    NVIDIA libraries, each once, in order."""
    found = []
    for d in sys.path if paths is None else paths:
        d = os.path.abspath(d or ".")
        if d not in found and any(os.path.isdir(os.path.join(d, sub))
                                  for sub in CUDA_WHEEL_DIRS):
            found.append(d)
    return found


def cuda_library_path(environ, paths=None):
    """$NSTYLE_CUDA_LIBRARY_PATH with the NVIDIA wheels' folders added after the user's own
    (which come first), or None when there is nothing to add."""
    own = [p for p in environ.get("NSTYLE_CUDA_LIBRARY_PATH", "").split(":") if p]
    extra = [d for d in cuda_wheel_folders(paths) if d not in own]
    return ":".join(own + extra) if extra else None


CUDA_PATH_SET = None  # the $NSTYLE_CUDA_LIBRARY_PATH the package set, else None


def _load():
    global CORETYPE_SET, CUDA_PATH_SET
    # before the library loads, so before any CUDA context: the loader reads it when CUDA is
    # first asked for (os.environ also sets the C environment)
    CUDA_PATH_SET = cuda_library_path(os.environ)
    if CUDA_PATH_SET:
        os.environ["NSTYLE_CUDA_LIBRARY_PATH"] = CUDA_PATH_SET
    path = _library_path()
    # the CLI's rule (src/host/cli/main.c): on a CPU OpenBLAS does not know, run the kernels
    # the CPU's features allow, unless the user chose OPENBLAS_CORETYPE
    if "OPENBLAS_CORETYPE" not in os.environ:
        better = _better_core(path)
        if better:
            os.environ["OPENBLAS_CORETYPE"] = better
            try:
                lib = ctypes.CDLL(path)
            finally:
                del os.environ["OPENBLAS_CORETYPE"]
            CORETYPE_SET = better
            return _declare(lib, path)
    return _declare(ctypes.CDLL(path), path)


def _declare(lib, path):
    try:
        abi = lib.nst_abi_version
    except AttributeError:
        raise LoadError(f"nstyle: {path} has no nst_abi_version: it is older than this package "
                        f"(ABI {ABI_VERSION}); reinstall nstyle") from None
    abi.restype = c_int
    if abi() != ABI_VERSION:
        raise LoadError(f"nstyle: {path} has ABI version {abi()} but this package was written "
                        f"for {ABI_VERSION}: the library and the package come from different "
                        "nstyle versions; reinstall nstyle")
    for name, (res, args) in _SIGNATURES.items():
        try:
            f = getattr(lib, name)
        except AttributeError:
            raise LoadError(f"nstyle: {path} lacks {name} (ABI {ABI_VERSION}): reinstall "
                            "nstyle") from None
        f.restype = res
        f.argtypes = args
    for cname, py in (("nst_render_options", RenderOptions), ("nst_train_options", TrainOptions),
                      ("nst_stylize_options", StylizeOptions)):
        size = getattr(lib, cname + "_size")()
        if size != ctypes.sizeof(py):
            raise LoadError(f"nstyle: {path} has a {size}-byte {cname} but this package "
                            f"declares {ctypes.sizeof(py)} bytes: the library and the package "
                            "do not match; reinstall nstyle")
    return lib


lib = _load()
