/* CPU emulation of the fused Adam kernel (adam.cuh): adam.cu's launcher over its whole grid,
 * every block and thread, its host-to-device upload of the step header and the slot table
 * turned into a memcpy into an exact-size heap buffer laid out as the launcher lays out its
 * scratch. Run by tests/emul/test_kernel_emul.c over the shared and extra Adam cases (grid
 * order, reverse order, scalar path, a 2-block grid), compared bit for bit with the CPU op. */
#include <string.h>

#include "../../src/kernels/adam.cuh"
#include "emul.h"

void emul_adam(const nst_adam_params *p, const emul_mode *m) {
    if (p->n_slots == 0)
        return;
    /* the launcher's upload: the header and the table rows into the scratch layout */
    char *scratch = emul_xmalloc(nst_k_adam_scratch(p->n_slots));
    nst_k_adam_head head = {.step = p->step};
    memcpy(scratch, &head, sizeof head);
    nst_k_adam_slot *table = (nst_k_adam_slot *)(scratch + nst_k_adam_slots_offset());
    int64_t chunks = 0;
    for (int i = 0; i < p->n_slots; i++) {
        nst_k_adam_slot row = nst_k_adam_row(&p->slots[i], chunks);
        if (m->scalar)
            row.vec = 1;
        chunks += nst_k_adam_slot_chunks(row.n);
        memcpy(&table[i], &row, sizeof row);
    }
    const nst_k_adam k = {.head = (const nst_k_adam_head *)scratch, .slots = table,
                          .chunks = chunks, .n_slots = p->n_slots};
    nst_k_grid g = nst_k_adam_grid(&k);
    if (m->max_blocks > 0 && g.blocks > m->max_blocks)
        g.blocks = m->max_blocks;
    for (int64_t bi = 0; bi < g.blocks; bi++)
        for (int ti = 0; ti < g.threads; ti++)
            nst_k_adam_body(at(bi, g.blocks, m->reverse), (int)at(ti, g.threads, m->reverse),
                            g.threads, g.blocks, &k);
    free(scratch);
}
