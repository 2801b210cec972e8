/* The Gram matrix's tiled kernels, forward and backward, as phases (src/kernels/gram.cu
 * launches them; the CPU emulation runs the kernels, thread by thread with real barriers, over
 * the same grids). Semantics of src/cpu/gram.c: per image, F = the (H*W, C) feature map,
 * G = F^T F / (C*H*W) and dF = F (dG + dG^T) / (C*H*W) (accumulate adds to dF).
 * Forward, SYRK-style with split-K: blocks N * chunks * T, T the upper-triangle pairs of 64 x 64
 * tiles of G (ti <= tj); 256 threads, each a 4 x 4 register block (rows ty + 16a, columns
 * tx + 16b of the tile). Per stage of 16 feature rows the block loads the rows' columns of tile
 * ti and of tile tj into shared memory (consecutive threads, consecutive channels: coalesced),
 * then every thread does 16 rank-1 updates with fused multiply-adds (fmaf on both sides, so the
 * emulation rounds as the GPU). Each block covers one fixed chunk of the H*W rows (the chunk
 * count depends only on the shape) and stores its tile of unscaled sums into partials
 * (N, chunks, C, C); a final 1-D kernel adds the chunks in order in double, scales by 1/(C*H*W)
 * and writes G in full, mirroring the upper triangle. No atomics: the same bits on every run;
 * they agree with the CPU (OpenBLAS, other order) within fp32 rounding.
 * Backward: S = dG + dG^T (1-D kernel into scratch, the CPU's float adds), then a tiled GEMM
 * dF = (X S) / (C*H*W): blocks N * (H*W / 64) * (C / 64) output tiles, stages of 16 over C, the
 * same 4 x 4 register blocks; each dF element is one thread's sum (fixed order).
 * Shared memory per block: 16 x 65 (padded against bank conflicts) + 16 x 64 floats.
 * Scratch (nst_k_gram_scratch): forward the partials, backward S.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_GRAM_CUH
#define NSTYLE_GRAM_CUH

#include <math.h>

#include "kernel_common.cuh"

#define NST_K_GRAM_THREADS 256
#define NST_K_GRAM_TILE 64
#define NST_K_GRAM_KT 16
#define NST_K_GRAM_APAD (NST_K_GRAM_TILE + 1)
#define NST_K_GRAM_SMEM (NST_K_GRAM_KT * NST_K_GRAM_APAD + NST_K_GRAM_KT * NST_K_GRAM_TILE)
/* Rows per split-K chunk before the forward adds chunks, and the most chunks. */
#define NST_K_GRAM_CHUNK_ROWS 1024
#define NST_K_GRAM_MAX_CHUNKS 256

typedef struct {
    const float *x;  /* (N, HW, C) */
    float *g;        /* (N, C, C), forward */
    const float *dg; /* (N, C, C), backward */
    float *dx;       /* (N, HW, C), backward */
    float *part;     /* (N, chunks, C, C) scratch, forward */
    float *sym;      /* (N, C, C) scratch, backward */
    int64_t N, HW, C;
    int64_t nt;      /* 64-wide tiles over C */
    int64_t chunks, chunk_rows; /* forward split-K: rows [s * chunk_rows, ...) */
    double scale;    /* 1 / (C * HW) */
    int accumulate;
} nst_k_gram;

/* Per-thread state between phases: the 4 x 4 register block. */
typedef struct {
    float acc[16];
} nst_k_gram_acc;

NST_HDI nst_k_gram nst_k_gram_make(const float *x, int64_t N, int64_t HW, int64_t C) {
    nst_k_gram p;
    p.x = x, p.g = NULL, p.dg = NULL, p.dx = NULL, p.part = NULL, p.sym = NULL;
    p.N = N, p.HW = HW, p.C = C;
    p.nt = (C + NST_K_GRAM_TILE - 1) / NST_K_GRAM_TILE;
    int64_t k = (HW + NST_K_GRAM_CHUNK_ROWS - 1) / NST_K_GRAM_CHUNK_ROWS;
    k = k < 1 ? 1 : k > NST_K_GRAM_MAX_CHUNKS ? NST_K_GRAM_MAX_CHUNKS : k;
    int64_t rows = (HW + k - 1) / k;
    rows = (rows + NST_K_GRAM_KT - 1) / NST_K_GRAM_KT * NST_K_GRAM_KT;
    p.chunk_rows = rows < NST_K_GRAM_KT ? NST_K_GRAM_KT : rows;
    p.chunks = (HW + p.chunk_rows - 1) / p.chunk_rows;
    if (p.chunks < 1)
        p.chunks = 1;
    p.scale = (C > 0 && HW > 0) ? 1.0 / ((double)C * (double)HW) : 0.0;
    p.accumulate = 0;
    return p;
}

/* Scratch bytes: forward partials, or backward's S. */
NST_HDI size_t nst_k_gram_scratch(const nst_k_gram *p, int backward) {
    return backward ? (size_t)(p->N * p->C * p->C) * sizeof(float)
                    : (size_t)(p->N * p->chunks * p->C * p->C) * sizeof(float);
}

NST_HDI int64_t nst_k_gram_pairs(const nst_k_gram *p) {
    return p->nt * (p->nt + 1) / 2;
}

NST_HDI int64_t nst_k_gram_forward_blocks(const nst_k_gram *p) {
    return p->N * p->chunks * nst_k_gram_pairs(p);
}

NST_HDI int64_t nst_k_gram_forward_stages(const nst_k_gram *p) {
    return p->chunk_rows / NST_K_GRAM_KT;
}

/* Block -> image n, chunk s, tiles ti <= tj (pairs in row-major upper-triangle order). */
NST_HDI void nst_k_gram_forward_block(const nst_k_gram *p, int64_t block, int64_t *n, int64_t *s,
                                      int64_t *ti, int64_t *tj) {
    const int64_t T = nst_k_gram_pairs(p);
    int64_t pair = block % T;
    *s = (block / T) % p->chunks;
    *n = block / (T * p->chunks);
    int64_t i = 0;
    while (pair >= p->nt - i) {
        pair -= p->nt - i;
        i++;
    }
    *ti = i, *tj = i + pair;
}

/* The 16 rank-1 updates of one stage (after a load phase). */
NST_HDI void nst_k_gram_mac(int thread, const float *sm, nst_k_gram_acc *st) {
    const int tx = thread % 16, ty = thread / 16;
    const float *As = sm, *Bs = sm + NST_K_GRAM_KT * NST_K_GRAM_APAD;
    for (int kk = 0; kk < NST_K_GRAM_KT; kk++) {
        float a[4], b[4];
        for (int u = 0; u < 4; u++) {
            a[u] = As[kk * NST_K_GRAM_APAD + ty + 16 * u];
            b[u] = Bs[kk * NST_K_GRAM_TILE + tx + 16 * u];
        }
        for (int u = 0; u < 4; u++)
            for (int v = 0; v < 4; v++)
                st->acc[u * 4 + v] = fmaf(a[u], b[v], st->acc[u * 4 + v]);
    }
}

NST_HDI void nst_k_gram_zero(nst_k_gram_acc *st) {
    for (int i = 0; i < 16; i++)
        st->acc[i] = 0.0f;
}

/* ---- forward: per stage a load phase then a mac phase; then the store ---- */
NST_HDI void nst_k_gram_forward_load(int64_t block, int thread, int64_t stage,
                                     const nst_k_gram *p, float *sm) {
    int64_t n, s, ti, tj;
    nst_k_gram_forward_block(p, block, &n, &s, &ti, &tj);
    const int64_t r0 = s * p->chunk_rows + stage * NST_K_GRAM_KT;
    const int64_t r_end = (s + 1) * p->chunk_rows < p->HW ? (s + 1) * p->chunk_rows : p->HW;
    const float *x = p->x + n * p->HW * p->C;
    float *As = sm, *Bs = sm + NST_K_GRAM_KT * NST_K_GRAM_APAD;
    for (int u = 0; u < 4; u++) {
        const int e = thread + NST_K_GRAM_THREADS * u, row = e / NST_K_GRAM_TILE;
        const int col = e % NST_K_GRAM_TILE;
        const int64_t r = r0 + row, ci = ti * NST_K_GRAM_TILE + col, cj = tj * NST_K_GRAM_TILE + col;
        As[row * NST_K_GRAM_APAD + col] = r < r_end && ci < p->C ? x[r * p->C + ci] : 0.0f;
        Bs[row * NST_K_GRAM_TILE + col] = r < r_end && cj < p->C ? x[r * p->C + cj] : 0.0f;
    }
}

NST_HDI void nst_k_gram_forward_store(int64_t block, int thread, const nst_k_gram *p,
                                      const nst_k_gram_acc *st) {
    int64_t n, s, ti, tj;
    nst_k_gram_forward_block(p, block, &n, &s, &ti, &tj);
    const int tx = thread % 16, ty = thread / 16;
    float *part = p->part + (n * p->chunks + s) * p->C * p->C;
    for (int u = 0; u < 4; u++)
        for (int v = 0; v < 4; v++) {
            const int64_t i = ti * NST_K_GRAM_TILE + ty + 16 * u;
            const int64_t j = tj * NST_K_GRAM_TILE + tx + 16 * v;
            if (i < p->C && j < p->C)
                part[i * p->C + j] = st->acc[u * 4 + v];
        }
}

/* Final: 1-D grid-stride over N*C*C; G[n, i, j] from the upper-triangle partials. */
NST_HDI void nst_k_gram_final_body(int64_t block, int thread, int threads, int64_t blocks,
                                   const nst_k_gram *p) {
    const int64_t C = p->C, work = p->N * C * C, stride = nst_k_stride(blocks, threads);
    for (int64_t e = nst_k_first(block, thread, threads); e < work; e += stride) {
        const int64_t n = e / (C * C), i = (e / C) % C, j = e % C;
        const int64_t lo = i < j ? i : j, hi = i < j ? j : i;
        double s = 0.0;
        if (p->HW > 0)
            for (int64_t k = 0; k < p->chunks; k++)
                s += (double)p->part[(n * p->chunks + k) * C * C + lo * C + hi];
        p->g[e] = (float)NST_DMUL(s, p->scale);
    }
}

/* ---- backward ---- */
/* S = dG + dG^T: 1-D grid-stride over N*C*C. */
NST_HDI void nst_k_gram_sym_body(int64_t block, int thread, int threads, int64_t blocks,
                                 const nst_k_gram *p) {
    const int64_t C = p->C, work = p->N * C * C, stride = nst_k_stride(blocks, threads);
    for (int64_t e = nst_k_first(block, thread, threads); e < work; e += stride) {
        const int64_t n = e / (C * C), i = (e / C) % C, j = e % C;
        p->sym[e] = p->dg[e] + p->dg[(n * C + j) * C + i];
    }
}

NST_HDI int64_t nst_k_gram_row_tiles(const nst_k_gram *p) {
    return (p->HW + NST_K_GRAM_TILE - 1) / NST_K_GRAM_TILE;
}
NST_HDI int64_t nst_k_gram_backward_blocks(const nst_k_gram *p) {
    return p->N * nst_k_gram_row_tiles(p) * p->nt;
}
NST_HDI int64_t nst_k_gram_backward_stages(const nst_k_gram *p) {
    return (p->C + NST_K_GRAM_KT - 1) / NST_K_GRAM_KT;
}

/* Block -> image n, row tile rt (64 rows of HW), column tile ct (64 channels). */
NST_HDI void nst_k_gram_backward_block(const nst_k_gram *p, int64_t block, int64_t *n,
                                       int64_t *rt, int64_t *ct) {
    const int64_t R = nst_k_gram_row_tiles(p);
    *ct = block % p->nt;
    *rt = (block / p->nt) % R;
    *n = block / (p->nt * R);
}

/* Stage load: As[kk][rr] = X[r0 + rr, k0 + kk], Bs[kk][jj] = S[k0 + kk, j0 + jj]. */
NST_HDI void nst_k_gram_backward_load(int64_t block, int thread, int64_t stage,
                                      const nst_k_gram *p, float *sm) {
    int64_t n, rt, ct;
    nst_k_gram_backward_block(p, block, &n, &rt, &ct);
    const int64_t C = p->C, k0 = stage * NST_K_GRAM_KT;
    const float *x = p->x + n * p->HW * C, *sym = p->sym + n * C * C;
    float *As = sm, *Bs = sm + NST_K_GRAM_KT * NST_K_GRAM_APAD;
    for (int u = 0; u < 4; u++) {
        const int e = thread + NST_K_GRAM_THREADS * u;
        const int rr = e / NST_K_GRAM_KT, kk = e % NST_K_GRAM_KT;
        const int64_t r = rt * NST_K_GRAM_TILE + rr, k = k0 + kk;
        As[kk * NST_K_GRAM_APAD + rr] = r < p->HW && k < C ? x[r * C + k] : 0.0f;
        const int kb = e / NST_K_GRAM_TILE, jj = e % NST_K_GRAM_TILE;
        const int64_t kr = k0 + kb, j = ct * NST_K_GRAM_TILE + jj;
        Bs[kb * NST_K_GRAM_TILE + jj] = kr < C && j < C ? sym[kr * C + j] : 0.0f;
    }
}

NST_HDI void nst_k_gram_backward_store(int64_t block, int thread, const nst_k_gram *p,
                                       const nst_k_gram_acc *st) {
    int64_t n, rt, ct;
    nst_k_gram_backward_block(p, block, &n, &rt, &ct);
    const int tx = thread % 16, ty = thread / 16;
    const float alpha = (float)p->scale;
    float *dx = p->dx + n * p->HW * p->C;
    for (int u = 0; u < 4; u++)
        for (int v = 0; v < 4; v++) {
            const int64_t r = rt * NST_K_GRAM_TILE + ty + 16 * u;
            const int64_t j = ct * NST_K_GRAM_TILE + tx + 16 * v;
            if (r >= p->HW || j >= p->C)
                continue;
            const float d = NST_FMUL(alpha, st->acc[u * 4 + v]);
            dx[r * p->C + j] = p->accumulate ? NST_FADD(d, dx[r * p->C + j]) : d;
        }
}

#if NST_K_KERNELS
static __global__ void nst_k_gram_forward_kernel(nst_k_gram p) {
    NST_K_SHARED(float, sm, NST_K_GRAM_SMEM);
    nst_k_gram_acc st;
    nst_k_gram_zero(&st);
    const int64_t stages = nst_k_gram_forward_stages(&p);
    for (int64_t s = 0; s < stages; s++) {
        nst_k_gram_forward_load(blockIdx.x, threadIdx.x, s, &p, sm);
        __syncthreads();
        nst_k_gram_mac(threadIdx.x, sm, &st);
        __syncthreads();
    }
    nst_k_gram_forward_store(blockIdx.x, threadIdx.x, &p, &st);
}

static __global__ void nst_k_gram_backward_kernel(nst_k_gram p) {
    NST_K_SHARED(float, sm, NST_K_GRAM_SMEM);
    nst_k_gram_acc st;
    nst_k_gram_zero(&st);
    const int64_t stages = nst_k_gram_backward_stages(&p);
    for (int64_t s = 0; s < stages; s++) {
        nst_k_gram_backward_load(blockIdx.x, threadIdx.x, s, &p, sm);
        __syncthreads();
        nst_k_gram_mac(threadIdx.x, sm, &st);
        __syncthreads();
    }
    nst_k_gram_backward_store(blockIdx.x, threadIdx.x, &p, &st);
}
#endif

#endif
