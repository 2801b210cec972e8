/* The binary interface as built: NST_ABI_VERSION and the options structs' sizes, which bindings
 * that declare the structs themselves (python/nstyle/_capi.py) check before calling anything;
 * and the stylize options' defaults (the CLI's). Tested by tests/test_abi.c. */
#include "nstyle/device.h"
#include "nstyle/render.h"
#include "nstyle/stylize.h"
#include "nstyle/train.h"

int nst_abi_version(void) { return NST_ABI_VERSION; }

size_t nst_render_options_size(void) { return sizeof(nst_render_options); }

size_t nst_train_options_size(void) { return sizeof(nst_train_options); }

size_t nst_stylize_options_size(void) { return sizeof(nst_stylize_options); }

void nst_stylize_options_default(nst_stylize_options *o) {
    *o = (nst_stylize_options){.device = "cpu", .batch = 1,
                               .smooth_threshold = NST_SMOOTH_THRESHOLD, .quality = 95};
}
