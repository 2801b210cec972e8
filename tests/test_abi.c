/* The binary interface as built (src/host/abi.c): the ABI version and the options structs'
 * sizes that bindings check (python/nstyle/_capi.py), against this compiler's view of the
 * headers; the stylize options' defaults against the values `nstyle stylize --help` documents. */
#include <criterion/criterion.h>
#include <string.h>

#include "nstyle/nstyle.h"
#include "nstyle/train.h"

Test(abi, version_and_sizes_are_the_headers) {
    cr_assert_eq(nst_abi_version(), NST_ABI_VERSION);
    cr_assert_eq(nst_render_options_size(), sizeof(nst_render_options));
    cr_assert_eq(nst_train_options_size(), sizeof(nst_train_options));
    cr_assert_eq(nst_stylize_options_size(), sizeof(nst_stylize_options));
}

Test(abi, stylize_defaults_are_the_documented_ones) {
    nst_stylize_options o;
    memset(&o, 0xa5, sizeof o);
    nst_stylize_options_default(&o);
    cr_assert_str_eq(o.device, "cpu");
    cr_assert_eq(o.threads, 0);
    cr_assert_eq(o.size, 0);
    cr_assert_eq(o.scale, 0.0);
    cr_assert_eq(o.batch, 1);
    cr_assert_eq(o.smooth, 0.0f);
    cr_assert_eq(o.smooth_threshold, 24.0f);
    cr_assert_eq(o.original_colors, false);
    cr_assert_eq(o.quality, 95);
}
