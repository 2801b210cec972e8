/* Launching the kernels of src/kernels/ under the CUDA-on-CPU shim in a mode of the emulation
 * (emul.h): the orders and seed handed to the shim, a grid-stride kernel's grid, and scratch
 * buffers with guard zones the shim watches. Used by every emul_*.c launcher and by
 * test_kernel_emul.c, which checks the shim's findings after each case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emul.h"

enum { GUARD = 64 }; /* bytes on either side of a scratch buffer */

uint64_t emul_seed(void) {
    static uint64_t seed;
    static bool read;
    if (!read) {
        const char *s = getenv("NST_EMUL_SEED");
        seed = s && *s ? strtoull(s, NULL, 0) : 0x5eed2024ULL;
        read = true;
    }
    return seed;
}

void emul_kernel(const emul_mode *m, const char *kernel, int64_t blocks, int threads,
                 const void *arg, size_t arg_size) {
    const cushim_config c = {.blocks = m->blocks, .threads = m->threads, .seed = emul_seed(),
                             .races = true};
    cushim_configure(&c);
    cushim_launch(kernel, blocks, threads, arg, arg_size);
}

nst_k_grid emul_grid(const emul_mode *m, int64_t work) {
    nst_k_grid g = nst_k_grid_for(work);
    if (m->max_blocks > 0 && g.blocks > m->max_blocks)
        g.blocks = m->max_blocks;
    return g;
}

void *emul_scratch(size_t bytes, const char *what) {
    unsigned char *b = malloc(bytes + 2 * GUARD);
    cr_assert_not_null(b, "no memory for %zu bytes of %s", bytes, what);
    memset(b, 0xff, bytes + 2 * GUARD);
    cushim_track(b + GUARD, bytes, GUARD, what);
    return b + GUARD;
}

void emul_scratch_free(void *p) {
    if (!p)
        return;
    cushim_untrack(p);
    free((unsigned char *)p - GUARD);
}
