/* Instance norm's index math and the phases of its shared-memory kernels (src/kernels/
 * instance_norm.cu launches them; the CPU emulation runs the kernels, thread by thread with
 * real barriers, over the same grids). Semantics of src/cpu/instance_norm.c (PyTorch
 * InstanceNorm2d, biased variance, two passes for the variance, statistics in double):
 *   forward  mean = sum(x)/M, var = sum((x - mean)^2)/M, rstd = 1/sqrt(var + eps),
 *            y = (x - mean) * (rstd * gamma) + beta, mean/rstd saved when asked for;
 *   backward S1 = sum(dy), S2 = sum(dy * xhat) per (n, c); dgamma += / = sum_n S2, dbeta sum_n S1;
 *            dx = gamma * rstd * ((dy - S1/M) - xhat * S2/M).
 * With `per_image` set, conditional instance norm (cond_instance_norm_*): gamma, beta (N, C) of
 * each image, and dgamma, dbeta (N, C) each image's own S2, S1 (no sum over images). With `pool`
 * set, the forward's first finalize writes sum/M as float there too: global average pooling
 * (global_pool.cu) runs the sum kernels alone.
 * Deterministic fixed-order sums, no atomics: a partial-sum kernel has one block per (image n,
 * pixel chunk s, channel tile); its 256 threads are `ct` channel lanes (a power of two, up to
 * 32) times `rt` = 256/ct pixel rows; thread (row, lane) adds pixels lo+row, lo+row+rt, ... of
 * its chunk for channel tile*ct + lane in double, the block adds its rows with a shared-memory
 * tree, and row 0 stores the chunk's partial (N, chunks, C). The finalize kernel adds each
 * (n, c)'s chunks in order (backward: per c, the images in order). The chunk count depends only
 * on the shape (nst_k_norm_shape_make), so the bits never change between runs; they agree with
 * the CPU within fp32 rounding (the double sums are added in another order). Loads are coalesced
 * over channels (a warp covers 32 consecutive channels of a pixel, or ct channels of 32/ct
 * consecutive pixels).
 * Finalize launch (nst_k_norm_fin_grid): one block of 32 threads per item, (n, c) forward and c
 * backward. One thread per item, as a 1-D grid would have it, gives N*C threads (32 to a few
 * hundred for C = 32..128): one or two blocks of 256, each thread waiting on L2 for its up to
 * 1024 partials a few loads at a time. An item's additions cannot be split between threads
 * without changing their order, and with it the bits, but its loads can: the block's threads
 * load a stage of 256 partials into shared memory at once (coalescing is lost, the partials of an
 * item being C apart, but they are few), then thread 0 adds them in chunk order from shared
 * memory. N*C blocks (C backward) spread over the SMs, and an item waits on L2 once per stage.
 * The elementwise kernels (normalize, dx) are 1-D grid-stride over channel vectors (float4 when
 * C % 4 == 0 and aligned) with per-(n, c) constants from scratch.
 * Scratch (nst_k_norm_layout): the partials, the double means, three float (N, C) tables.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_INSTANCE_NORM_CUH
#define NSTYLE_INSTANCE_NORM_CUH

#include <math.h>

#include "kernel_common.cuh"

#define NST_K_NORM_THREADS 256
#define NST_K_NORM_MAX_CHUNKS 1024
/* Pixels per thread in a chunk before the launch adds chunks. */
#define NST_K_NORM_PER_THREAD 16
/* The finalize kernel: threads per block, chunk partials per stage, shared memory (doubles: a
 * stage of part1, one of part2, then four sums from NST_K_NORM_FIN_ACC). */
#define NST_K_NORM_FIN_THREADS 32
#define NST_K_NORM_FIN_STAGE 256
#define NST_K_NORM_FIN_ACC (2 * NST_K_NORM_FIN_STAGE)
#define NST_K_NORM_FIN_SM (NST_K_NORM_FIN_ACC + 4)

typedef struct {
    int64_t N, M, C;      /* images, pixels per plane, channels */
    int ct, rt;           /* channel lanes x pixel rows = NST_K_NORM_THREADS */
    int64_t tiles, chunks; /* channel tiles, pixel chunks per image */
} nst_k_norm_shape;

NST_HDI nst_k_norm_shape nst_k_norm_shape_make(int64_t N, int64_t M, int64_t C) {
    nst_k_norm_shape d;
    d.N = N, d.M = M, d.C = C;
    d.ct = 1;
    while (d.ct < C && d.ct < 32)
        d.ct *= 2;
    d.rt = NST_K_NORM_THREADS / d.ct;
    d.tiles = (C + d.ct - 1) / d.ct;
    const int64_t per_chunk = (int64_t)d.rt * NST_K_NORM_PER_THREAD;
    d.chunks = (M + per_chunk - 1) / per_chunk;
    d.chunks = d.chunks < 1 ? 1 : d.chunks > NST_K_NORM_MAX_CHUNKS ? NST_K_NORM_MAX_CHUNKS : d.chunks;
    return d;
}

/* Byte offsets of the scratch pieces, each 64-byte aligned; `total` bytes in all. */
typedef struct {
    size_t part1, part2, mean, t0, t1, t2, total;
} nst_k_norm_layout;

NST_HDI size_t nst_k_norm_align(size_t b) {
    return (b + 63) & ~(size_t)63;
}

NST_HDI nst_k_norm_layout nst_k_norm_layout_make(nst_k_norm_shape d, int backward) {
    const size_t nsc = (size_t)(d.N * d.chunks * d.C), nc = (size_t)(d.N * d.C);
    nst_k_norm_layout l;
    size_t at = 0;
    l.part1 = at, at = nst_k_norm_align(at + nsc * sizeof(double));
    l.part2 = at, at = nst_k_norm_align(at + (backward ? nsc * sizeof(double) : 0));
    l.mean = at, at = nst_k_norm_align(at + (backward ? 0 : nc * sizeof(double)));
    l.t0 = at, at = nst_k_norm_align(at + nc * sizeof(float));
    l.t1 = at, at = nst_k_norm_align(at + nc * sizeof(float));
    l.t2 = at, at = nst_k_norm_align(at + nc * sizeof(float));
    l.total = at;
    return l;
}

enum { NST_K_NORM_SUM = 0, NST_K_NORM_SQUARES = 1, NST_K_NORM_GRAD = 2 };

typedef struct {
    const float *x;      /* (N, M, C) */
    const float *gamma;  /* (C) or NULL */
    const float *beta;   /* (C) or NULL */
    const float *dy;     /* (N, M, C), backward */
    const float *mean_in, *rstd_in; /* (N, C), backward */
    float *y;            /* (N, M, C), forward */
    float *mean_out, *rstd_out;     /* (N, C) or NULL, forward */
    float *dx;           /* (N, M, C) or NULL, backward */
    float *dgamma, *dbeta; /* (C) or NULL, backward */
    double *part1, *part2; /* (N, chunks, C) scratch */
    double *mean;        /* (N, C) scratch, forward */
    float *t0, *t1, *t2; /* (N, C) scratch: mean, scale, shift (forward); k1, m1, m2 (backward) */
    nst_k_norm_shape d;
    float eps;
    int accumulate;
    int mode;            /* the partial kernel's sum: NST_K_NORM_SUM, _SQUARES or _GRAD */
    int per_image;       /* gamma, beta, dgamma, dbeta (N, C): conditional instance norm */
    float *pool;         /* (N, C) or NULL: sum/M of the NST_K_NORM_SUM finalize, as float */
    int v;               /* the elementwise kernels' vector width */
} nst_k_norm;

/* The kernels' arguments over a scratch region laid out by nst_k_norm_layout_make. */
NST_HDI nst_k_norm nst_k_norm_make(nst_k_norm_shape d, void *scratch, int backward) {
    nst_k_norm p;
    const nst_k_norm_layout l = nst_k_norm_layout_make(d, backward);
    char *s = (char *)scratch;
    p.x = p.gamma = p.beta = p.dy = p.mean_in = p.rstd_in = NULL;
    p.y = p.mean_out = p.rstd_out = p.dx = p.dgamma = p.dbeta = NULL;
    p.part1 = (double *)(s + l.part1);
    p.part2 = backward ? (double *)(s + l.part2) : NULL;
    p.mean = backward ? NULL : (double *)(s + l.mean);
    p.t0 = (float *)(s + l.t0), p.t1 = (float *)(s + l.t1), p.t2 = (float *)(s + l.t2);
    p.d = d, p.eps = 0.0f, p.accumulate = 0, p.mode = NST_K_NORM_SUM, p.v = 1;
    p.per_image = 0, p.pool = NULL;
    return p;
}

/* The vector width of the elementwise kernels, once the tensor pointers are set. */
NST_HDI int nst_k_norm_vec(const nst_k_norm *p) {
    return nst_k_vec_ok(p->d.C, p->x, p->y, p->dy, p->dx) &&
                   nst_k_vec_ok(0, p->mean_in, p->rstd_in, NULL, NULL)
               ? 4
               : 1;
}

/* ---- the partial-sum kernel: blocks N * chunks * tiles, NST_K_NORM_THREADS threads,
 * shared memory 2 * NST_K_NORM_THREADS doubles ---- */
NST_HDI int64_t nst_k_norm_partial_blocks(const nst_k_norm *p) {
    return p->d.N * p->d.chunks * p->d.tiles;
}

/* Phase 1: thread (row, lane) sums its pixels of the block's chunk into sm[t] (and, for the
 * gradient sums, S2 into sm[NST_K_NORM_THREADS + t]). */
NST_HDI void nst_k_norm_partial_load(int64_t block, int thread, const nst_k_norm *p, double *sm) {
    const nst_k_norm_shape d = p->d;
    const int lane = thread % d.ct, row = thread / d.ct;
    const int64_t tile = block % d.tiles, s = (block / d.tiles) % d.chunks;
    const int64_t n = block / (d.tiles * d.chunks), c = tile * d.ct + lane;
    const int64_t lo = d.M * s / d.chunks, hi = d.M * (s + 1) / d.chunks;
    double a = 0.0, b = 0.0;
    if (c < d.C) {
        const float *x = p->x + n * d.M * d.C + c; /* channel c of image n, stride C */
        if (p->mode == NST_K_NORM_SUM) {
            for (int64_t q = lo + row; q < hi; q += d.rt)
                a += (double)x[q * d.C];
        } else if (p->mode == NST_K_NORM_SQUARES) {
            const double mu = p->mean[n * d.C + c];
            for (int64_t q = lo + row; q < hi; q += d.rt) {
                const double t = (double)x[q * d.C] - mu;
                a = NST_DADD(a, NST_DMUL(t, t));
            }
        } else {
            const float *dy = p->dy + n * d.M * d.C + c;
            const double mu = p->mean_in[n * d.C + c], rs = p->rstd_in[n * d.C + c];
            for (int64_t q = lo + row; q < hi; q += d.rt) {
                const double g = dy[q * d.C];
                a += g;
                b = NST_DADD(b, NST_DMUL(g, NST_DMUL((double)x[q * d.C] - mu, rs)));
            }
        }
    }
    sm[thread] = a;
    sm[NST_K_NORM_THREADS + thread] = b;
}

/* The tree phases: step s (rt/2, rt/4, ... 1) adds row + s into row for every lane. */
NST_HDI void nst_k_norm_partial_step(int thread, int s, const nst_k_norm *p, double *sm) {
    const int lane = thread % p->d.ct, row = thread / p->d.ct;
    nst_k_tree_step(row, lane, p->d.ct, s, sm);
    if (p->mode == NST_K_NORM_GRAD)
        nst_k_tree_step(row, lane, p->d.ct, s, sm + NST_K_NORM_THREADS);
}

/* Last phase: row 0 stores its lane's chunk partial(s). */
NST_HDI void nst_k_norm_partial_store(int64_t block, int thread, const nst_k_norm *p,
                                      const double *sm) {
    const nst_k_norm_shape d = p->d;
    const int lane = thread % d.ct, row = thread / d.ct;
    const int64_t tile = block % d.tiles, s = (block / d.tiles) % d.chunks;
    const int64_t n = block / (d.tiles * d.chunks), c = tile * d.ct + lane;
    if (row != 0 || c >= d.C)
        return;
    const int64_t at = (n * d.chunks + s) * d.C + c;
    p->part1[at] = sm[lane];
    if (p->mode == NST_K_NORM_GRAD)
        p->part2[at] = sm[NST_K_NORM_THREADS + lane];
}

/* ---- finalize: blocks of NST_K_NORM_FIN_THREADS threads, one item per block (grid-stride over
 * the items: (n, c) forward, c backward); an item's chunk partials are taken NST_K_NORM_FIN_STAGE
 * at a time: phase 1, the block loads them into shared memory; phase 2, thread 0 adds them in
 * chunk order to the item's sums, which stay in shared memory, and finishes the item (n, c)
 * after its last stage. Shared memory NST_K_NORM_FIN_SM doubles. ---- */
NST_HDI int64_t nst_k_norm_fin_items(const nst_k_norm *p) {
    return p->mode == NST_K_NORM_GRAD ? p->d.C : p->d.N * p->d.C;
}

/* Stages of one image's chunks, and of an item (backward: its images one after another). */
NST_HDI int64_t nst_k_norm_fin_image_stages(const nst_k_norm *p) {
    return (p->d.chunks + NST_K_NORM_FIN_STAGE - 1) / NST_K_NORM_FIN_STAGE;
}
NST_HDI int64_t nst_k_norm_fin_stages(const nst_k_norm *p) {
    return nst_k_norm_fin_image_stages(p) * (p->mode == NST_K_NORM_GRAD ? p->d.N : 1);
}

NST_HDI nst_k_grid nst_k_norm_fin_grid(const nst_k_norm *p) {
    const int64_t items = nst_k_norm_fin_items(p);
    nst_k_grid g;
    g.threads = NST_K_NORM_FIN_THREADS;
    g.blocks = items < NST_K_MAX_BLOCKS ? items : NST_K_MAX_BLOCKS;
    return g;
}

/* Stage s of an item: the image n, channel c and chunks [*lo, *hi) it covers. */
NST_HDI void nst_k_norm_fin_at(const nst_k_norm *p, int64_t item, int64_t s, int64_t *n,
                               int64_t *c, int64_t *lo, int64_t *hi) {
    const int64_t per = nst_k_norm_fin_image_stages(p);
    *n = p->mode == NST_K_NORM_GRAD ? s / per : item / p->d.C;
    *c = p->mode == NST_K_NORM_GRAD ? item : item % p->d.C;
    *lo = (s % per) * NST_K_NORM_FIN_STAGE;
    *hi = *lo + NST_K_NORM_FIN_STAGE < p->d.chunks ? *lo + NST_K_NORM_FIN_STAGE : p->d.chunks;
}

/* Phase 1 of stage s: thread t loads chunks lo + t, lo + t + threads, ... into sm (part1's at
 * sm[k - lo], part2's NST_K_NORM_FIN_STAGE further): a fixed number of loads per thread, all
 * issued before the first store (blocks of at least NST_K_NORM_FIN_THREADS threads). */
NST_HDI void nst_k_norm_fin_load(int64_t item, int thread, int threads, int64_t s,
                                 const nst_k_norm *p, double *sm) {
    enum { J = NST_K_NORM_FIN_STAGE / NST_K_NORM_FIN_THREADS };
    int64_t n, c, lo, hi;
    nst_k_norm_fin_at(p, item, s, &n, &c, &lo, &hi);
    const int64_t C = p->d.C, first = n * p->d.chunks * C + c; /* chunk k at first + k * C */
    const bool grad = p->mode == NST_K_NORM_GRAD;
    double a[J], b[J];
    for (int j = 0; j < J; j++) {
        const int64_t k = lo + thread + (int64_t)j * threads;
        a[j] = k < hi ? p->part1[first + k * C] : 0.0;
        b[j] = grad && k < hi ? p->part2[first + k * C] : 0.0;
    }
    for (int j = 0; j < J; j++) {
        const int64_t k = lo + thread + (int64_t)j * threads;
        if (k < hi) {
            sm[k - lo] = a[j];
            if (grad)
                sm[NST_K_NORM_FIN_STAGE + k - lo] = b[j];
        }
    }
}

/* What an item's sums give, after the last stage of image n (acc: s1, s2 of that image; sg, sb,
 * backward, the images' s2 and s1 added in image order). */
NST_HDI void nst_k_norm_fin_item(const nst_k_norm *p, int64_t n, int64_t c, double *acc) {
    const int64_t i = n * p->d.C + c, a = p->per_image ? i : c; /* gamma and beta's index */
    if (p->mode == NST_K_NORM_SUM) {
        p->mean[i] = acc[0] / (double)p->d.M;
        if (p->pool)
            p->pool[i] = (float)p->mean[i];
    } else if (p->mode == NST_K_NORM_SQUARES) {
        const double rstd = 1.0 / sqrt(acc[0] / (double)p->d.M + (double)p->eps);
        p->t0[i] = (float)p->mean[i];
        p->t1[i] = (float)NST_DMUL(rstd, p->gamma ? (double)p->gamma[a] : 1.0);
        p->t2[i] = p->beta ? p->beta[a] : 0.0f;
        if (p->mean_out)
            p->mean_out[i] = p->t0[i];
        if (p->rstd_out)
            p->rstd_out[i] = (float)rstd;
    } else {
        acc[2] = (n == 0 ? 0.0 : acc[2]) + acc[1];
        acc[3] = (n == 0 ? 0.0 : acc[3]) + acc[0];
        p->t0[i] = (float)NST_DMUL(p->gamma ? (double)p->gamma[a] : 1.0, (double)p->rstd_in[i]);
        p->t1[i] = (float)(acc[0] / (double)p->d.M);
        p->t2[i] = (float)(acc[1] / (double)p->d.M);
        if (p->per_image) { /* this image's own sums */
            if (p->dgamma)
                p->dgamma[i] = (float)(p->accumulate ? p->dgamma[i] + acc[1] : acc[1]);
            if (p->dbeta)
                p->dbeta[i] = (float)(p->accumulate ? p->dbeta[i] + acc[0] : acc[0]);
            return;
        }
        if (n < p->d.N - 1)
            return;
        if (p->dgamma)
            p->dgamma[c] = (float)(p->accumulate ? p->dgamma[c] + acc[2] : acc[2]);
        if (p->dbeta)
            p->dbeta[c] = (float)(p->accumulate ? p->dbeta[c] + acc[3] : acc[3]);
    }
}

/* Phase 2 of stage s: thread 0 adds the stage's partials to the image's sums in chunk order
 * (from 0 at the image's first stage) and, after its last, finishes (n, c). */
NST_HDI void nst_k_norm_fin_add(int64_t item, int thread, int64_t s, const nst_k_norm *p,
                                double *sm) {
    if (thread != 0)
        return;
    int64_t n, c, lo, hi;
    nst_k_norm_fin_at(p, item, s, &n, &c, &lo, &hi);
    double *acc = sm + NST_K_NORM_FIN_ACC;
    double s1 = lo == 0 ? 0.0 : acc[0], s2 = lo == 0 ? 0.0 : acc[1];
    for (int64_t k = 0; k < hi - lo; k++)
        s1 += sm[k];
    if (p->mode == NST_K_NORM_GRAD)
        for (int64_t k = 0; k < hi - lo; k++)
            s2 += sm[NST_K_NORM_FIN_STAGE + k];
    acc[0] = s1, acc[1] = s2;
    if (hi == p->d.chunks)
        nst_k_norm_fin_item(p, n, c, acc);
}

/* ---- elementwise kernels: 1-D grid-stride over (N, M, C / v) ---- */
NST_HDI int64_t nst_k_norm_elem_work(const nst_k_norm *p) {
    return p->d.N * p->d.M * (p->d.C / p->v);
}

/* y = (x - mean) * scale + shift (product rounded, then added: the CPU's rounding). */
NST_HDI void nst_k_norm_apply_body(int64_t block, int thread, int threads, int64_t blocks,
                                   const nst_k_norm *p) {
    const int v = p->v;
    const int64_t CG = p->d.C / v, MC = p->d.M * CG, stride = nst_k_stride(blocks, threads);
    const int64_t work = nst_k_norm_elem_work(p);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t nc = (i / MC) * p->d.C + (i % CG) * v;
        const nst_f4 x = nst_k_ldv(p->x + i * v, v), mu = nst_k_ldv(p->t0 + nc, v);
        const nst_f4 sc = nst_k_ldv(p->t1 + nc, v), sh = nst_k_ldv(p->t2 + nc, v);
        nst_f4 y;
        y.x = NST_FADD(NST_FMUL(x.x - mu.x, sc.x), sh.x);
        y.y = NST_FADD(NST_FMUL(x.y - mu.y, sc.y), sh.y);
        y.z = NST_FADD(NST_FMUL(x.z - mu.z, sc.z), sh.z);
        y.w = NST_FADD(NST_FMUL(x.w - mu.w, sc.w), sh.w);
        nst_k_stv(p->y + i * v, y, v);
    }
}

NST_HDI float nst_k_norm_dx_lane(float x, float dy, float mean, float rstd, float k1, float m1,
                                 float m2) {
    const float xhat = NST_FMUL(x - mean, rstd);
    return NST_FMUL(k1, (dy - m1) - NST_FMUL(xhat, m2));
}

/* dx = k1 * ((dy - m1) - xhat * m2), xhat = (x - mean) * rstd. */
NST_HDI void nst_k_norm_dx_body(int64_t block, int thread, int threads, int64_t blocks,
                                const nst_k_norm *p) {
    const int v = p->v;
    const int64_t CG = p->d.C / v, MC = p->d.M * CG, stride = nst_k_stride(blocks, threads);
    const int64_t work = nst_k_norm_elem_work(p);
    for (int64_t i = nst_k_first(block, thread, threads); i < work; i += stride) {
        const int64_t nc = (i / MC) * p->d.C + (i % CG) * v;
        const nst_f4 x = nst_k_ldv(p->x + i * v, v), g = nst_k_ldv(p->dy + i * v, v);
        const nst_f4 mu = nst_k_ldv(p->mean_in + nc, v), rs = nst_k_ldv(p->rstd_in + nc, v);
        const nst_f4 k1 = nst_k_ldv(p->t0 + nc, v), m1 = nst_k_ldv(p->t1 + nc, v);
        const nst_f4 m2 = nst_k_ldv(p->t2 + nc, v);
        nst_f4 o;
        o.x = nst_k_norm_dx_lane(x.x, g.x, mu.x, rs.x, k1.x, m1.x, m2.x);
        o.y = nst_k_norm_dx_lane(x.y, g.y, mu.y, rs.y, k1.y, m1.y, m2.y);
        o.z = nst_k_norm_dx_lane(x.z, g.z, mu.z, rs.z, k1.z, m1.z, m2.z);
        o.w = nst_k_norm_dx_lane(x.w, g.w, mu.w, rs.w, k1.w, m1.w, m2.w);
        nst_k_stv(p->dx + i * v, o, v);
    }
}

#if NST_K_KERNELS
/* The partial-sum kernel: phases separated by barriers, each phase one of the functions above. */
static __global__ void nst_k_norm_partial_kernel(nst_k_norm p) {
    NST_K_SHARED(double, sm, 2 * NST_K_NORM_THREADS);
    nst_k_norm_partial_load(blockIdx.x, threadIdx.x, &p, sm);
    __syncthreads();
    for (int s = p.d.rt / 2; s > 0; s /= 2) {
        nst_k_norm_partial_step(threadIdx.x, s, &p, sm);
        __syncthreads();
    }
    nst_k_norm_partial_store(blockIdx.x, threadIdx.x, &p, sm);
}

/* The finalize of p->mode on any 1-D grid: the block walks items block, block + blocks, ...,
 * each stage by stage, the phases split by barriers (every thread of the block calls it). */
static __device__ void nst_k_norm_fin_block(int64_t block, int thread, int threads,
                                            int64_t blocks, const nst_k_norm *p) {
    NST_K_SHARED(double, sm, NST_K_NORM_FIN_SM);
    const int64_t items = nst_k_norm_fin_items(p), stages = nst_k_norm_fin_stages(p);
    for (int64_t item = block; item < items; item += blocks) {
        for (int64_t s = 0; s < stages; s++) {
            nst_k_norm_fin_load(item, thread, threads, s, p, sm);
            __syncthreads();
            nst_k_norm_fin_add(item, thread, s, p, sm);
            __syncthreads();
        }
    }
}

static __global__ void nst_k_norm_finalize_kernel(nst_k_norm p) {
    nst_k_norm_fin_block(blockIdx.x, threadIdx.x, blockDim.x, gridDim.x, &p);
}
#endif

#endif
