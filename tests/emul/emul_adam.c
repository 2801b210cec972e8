/* adam.cu's launcher emulated (emul.h): its host-to-device upload of the step header and the
 * slot table turned into a memcpy into scratch laid out as the launcher lays it out, then the
 * fused kernel over its grid. Run by tests/emul/test_kernel_emul.c over the shared and extra
 * Adam cases, compared bit for bit with the CPU op. */
#include <string.h>

#include "../../src/kernels/adam.cuh"
#include "emul.h"

void emul_adam(const nst_adam_params *p, const emul_mode *m) {
    if (p->n_slots == 0)
        return;
    /* the launcher's upload: the header and the table rows into the scratch layout */
    char *scratch =
        emul_scratch(nst_k_adam_scratch(p->n_slots), "the step constants and slot table");
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
    if (g.blocks > 0)
        EMUL_K(m, nst_k_adam_kernel, g.blocks, g.threads, &k);
    emul_scratch_free(scratch);
}
