/* Fused multi-tensor Adam: the device table, the block-to-slot mapping and the per-element math
 * (src/kernels/adam.cu launches it; the CPU emulation runs it over the same grid). Semantics of
 * src/cpu/adam.c (torch.optim.Adam, L2 weight decay added to the gradient, eps outside the
 * square root), with the constants of nst_adam_step_make(), in the CPU's float operations in
 * the CPU's order (products rounded before adds, IEEE division and square root): the GPU gives
 * the CPU's bits.
 * One launch updates every slot of a step. Scratch holds a header (the step constants) and one
 * row per slot (its four pointers, element count, first chunk, vector width), uploaded before
 * the launch; the kernel reads the constants from device memory, so a captured CUDA graph can
 * replay the launch after the constants are rewritten.
 * Launch shape: each slot is cut into chunks of NST_K_ADAM_CHUNK elements; a 1-D grid-stride
 * grid of 256-thread blocks walks the chunks of all slots, block-uniformly (a binary search over
 * the slots' first chunks picks the slot); thread t updates elements t, t + 256, ... of the
 * chunk as float4 (when the slot's four pointers are 16-byte aligned) or floats, coalesced; each
 * element is read and written by one thread.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_ADAM_CUH
#define NSTYLE_ADAM_CUH

#include <math.h>

#include "kernel_common.cuh"
#include "nstyle/ops.h"

#define NST_K_ADAM_THREADS 256
/* Elements per chunk: 4 float4 per thread. */
#define NST_K_ADAM_CHUNK (NST_K_ADAM_THREADS * 16)

#if defined(__CUDA_ARCH__)
#define NST_K_FDIV(a, b) __fdiv_rn((a), (b))
#define NST_K_FSQRT(a) __fsqrt_rn(a)
#else
#define NST_K_FDIV(a, b) ((a) / (b))
#define NST_K_FSQRT(a) sqrtf(a)
#endif

typedef struct {
    float *param;       /* (n) */
    const float *grad;  /* (n) */
    float *m, *v;       /* (n) */
    int64_t n;
    int64_t first_chunk; /* chunks of the slots before this one */
    int64_t vec;        /* 4 when the four pointers are 16-byte aligned, else 1 */
} nst_k_adam_slot;

/* The device table: the header, then the slot rows (nst_k_adam_layout). */
typedef struct {
    nst_adam_step step;
} nst_k_adam_head;

typedef struct {
    const nst_k_adam_head *head;   /* scratch */
    const nst_k_adam_slot *slots;  /* (n_slots) scratch */
    int64_t chunks;                /* of all slots */
    int n_slots;
} nst_k_adam;

NST_HDI size_t nst_k_adam_slots_offset(void) {
    return (sizeof(nst_k_adam_head) + 63) & ~(size_t)63;
}

/* Scratch bytes of the table for n_slots slots. */
NST_HDI size_t nst_k_adam_scratch(int n_slots) {
    return nst_k_adam_slots_offset() + (size_t)n_slots * sizeof(nst_k_adam_slot);
}

NST_HDI int64_t nst_k_adam_slot_chunks(int64_t n) {
    return (n + NST_K_ADAM_CHUNK - 1) / NST_K_ADAM_CHUNK;
}

/* The table row of slot s, whose chunks start at `first`. */
static inline nst_k_adam_slot nst_k_adam_row(const nst_adam_slot *s, int64_t first) { /* host */
    nst_k_adam_slot r;
    r.param = (float *)s->param->data;
    r.grad = (const float *)s->grad->data;
    r.m = (float *)s->m->data;
    r.v = (float *)s->v->data;
    r.n = nst_tensor_numel(s->param);
    r.first_chunk = first;
    r.vec = nst_k_vec_ok(0, r.param, r.grad, r.m, r.v) ? 4 : 1;
    return r;
}

/* The slot holding chunk c: the last slot whose first chunk is <= c (empty slots have none). */
NST_HDI int nst_k_adam_find(const nst_k_adam *p, int64_t c) {
    int lo = 0, hi = p->n_slots - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (p->slots[mid].first_chunk <= c)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* One element: src/cpu/adam.c's loop body, operation for operation. */
NST_HDI void nst_k_adam_elem(const nst_adam_step *st, float step_size, float *param, float grad,
                             float *m, float *v) {
    const float g = NST_FADD(grad, NST_FMUL(st->weight_decay, *param));
    const float mi = NST_FADD(NST_FMUL(st->beta1, *m), NST_FMUL(st->one_minus_beta1, g));
    const float vi =
        NST_FADD(NST_FMUL(st->beta2, *v), NST_FMUL(st->one_minus_beta2, NST_FMUL(g, g)));
    *m = mi;
    *v = vi;
    const float denom = NST_FADD(NST_K_FDIV(NST_K_FSQRT(vi), st->bias_correction2_sqrt), st->eps);
    *param = *param - NST_FMUL(step_size, NST_K_FDIV(mi, denom));
}

/* The kernel body: block-uniform grid-stride over all chunks. */
NST_HDI void nst_k_adam_body(int64_t block, int thread, int threads, int64_t blocks,
                             const nst_k_adam *p) {
    const nst_adam_step st = p->head->step;
    const float step_size = NST_K_FDIV(st.lr, st.bias_correction1);
    for (int64_t c = block; c < p->chunks; c += blocks) {
        const nst_k_adam_slot s = p->slots[nst_k_adam_find(p, c)];
        const int64_t lo = (c - s.first_chunk) * NST_K_ADAM_CHUNK;
        const int64_t hi = lo + NST_K_ADAM_CHUNK < s.n ? lo + NST_K_ADAM_CHUNK : s.n;
        const int v = (int)s.vec;
        const int64_t nv = (hi - lo) / v;
        for (int64_t i = thread; i < nv; i += threads) {
            const int64_t e = lo + i * v;
            nst_f4 pa = nst_k_ldv(s.param + e, v), mm = nst_k_ldv(s.m + e, v);
            nst_f4 vv = nst_k_ldv(s.v + e, v);
            const nst_f4 g = nst_k_ldv(s.grad + e, v);
            nst_k_adam_elem(&st, step_size, &pa.x, g.x, &mm.x, &vv.x);
            if (v == 4) {
                nst_k_adam_elem(&st, step_size, &pa.y, g.y, &mm.y, &vv.y);
                nst_k_adam_elem(&st, step_size, &pa.z, g.z, &mm.z, &vv.z);
                nst_k_adam_elem(&st, step_size, &pa.w, g.w, &mm.w, &vv.w);
            }
            nst_k_stv(s.param + e, pa, v), nst_k_stv(s.m + e, mm, v), nst_k_stv(s.v + e, vv, v);
        }
        /* the last n % 4 elements of a 4-wide slot, one per thread */
        for (int64_t e = lo + nv * v + thread; e < hi; e += threads)
            nst_k_adam_elem(&st, step_size, s.param + e, s.grad[e], s.m + e, s.v + e);
    }
}

NST_HDI nst_k_grid nst_k_adam_grid(const nst_k_adam *p) {
    nst_k_grid g;
    g.threads = NST_K_ADAM_THREADS;
    g.blocks = p->chunks < NST_K_MAX_BLOCKS ? p->chunks : NST_K_MAX_BLOCKS;
    return g;
}

#if NST_K_KERNELS
static __global__ void nst_k_adam_kernel(nst_k_adam p) {
    nst_k_adam_body(blockIdx.x, threadIdx.x, blockDim.x, gridDim.x, &p);
}
#endif

#endif
