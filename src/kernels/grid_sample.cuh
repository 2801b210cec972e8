/* Bilinear grid sampling's index math and kernel phases (src/kernels/grid_sample.cu launches
 * them; the CPU emulation runs them over the same grids). Semantics of src/cpu/grid_sample.c
 * (PyTorch F.grid_sample, mode bilinear, padding zeros / border / reflection, align_corners
 * either way): the coordinate transforms and the four corners are src/math/grid_math.h's own
 * functions, compiled here as __host__ __device__, so both backends take the same branch on
 * every border; the channel loops are written out here so that a group of threads shares them.
 *
 * Launch shape of the pixel kernels: blocks of 256 threads = (256 / G) pixel slots x G lanes,
 * one slot per output pixel (pixel kernels) or input pixel (the gather), G = 1 for C <= 4 and
 * else the power of two >= C up to 32 (nst_k_gs_lanes). Lane l handles channels l, l + G, ...:
 * a warp reads and writes runs of consecutive channels (NHWC), coalesced.
 *   forward   y = sum over inside corners of weight * x, in corner order, products rounded
 *             before the adds: the CPU's bits.
 *   backward  phase 1: each lane scatters weight * dy into dx's four corners with atomicAdd (the
 *             default path; dx is zeroed first) and adds its channels' x * dy per corner; the
 *             tree phases add the G lane partials (fixed order); lane 0 forms dgrid = mult *
 *             (sum of d(weight) * dot), as the CPU. With G = 1 dgrid has the CPU's bits.
 * Deterministic dx (the context's deterministic setting): no float atomics. The input pixels'
 * lists of contributions are built as a CSR: count (integer atomics, whose sums do not depend on
 * order) -> exclusive scan (tile sums, one thread over the tiles, tile scan) -> fill (entries
 * {output pixel * 4 + corner, weight} at each bucket's start plus an integer atomic cursor) ->
 * gather: one slot per input pixel, lane 0 sorts its bucket by key (insertion sort: buckets hold
 * about 4 * (output pixels per input pixel) entries; a grid that sends most points to one pixel,
 * e.g. border padding far outside, makes that bucket long and slow, never wrong), a barrier,
 * then every lane adds weight * dy over the sorted entries. That is the CPU's order (output
 * pixels in row-major order, corners nw, ne, sw, se, from 0): dx has the CPU's bits, every run.
 * Scratch (deterministic only, nst_k_gs_layout): counts, starts, tile sums (ints), 4 entries per
 * output pixel; keys are int32, so 4 * N * Ho * Wo must stay below 2^31 (the launcher refuses).
 *
 * Emulating atomics: the CPU emulation's shim (tests/cushim/) runs one thread at a time, so its
 * atomicAdd (NST_K_ATOMIC_ADD_F, NST_K_FETCH_INC below) is a read-modify-write that its race
 * detector records as atomic; the orders the GPU may take are covered by running the blocks and
 * threads in reverse and shuffled orders.
 * Tested by tests/emul/test_kernel_emul.c and, on a GPU, by tests/parity/. */
#ifndef NSTYLE_GRID_SAMPLE_CUH
#define NSTYLE_GRID_SAMPLE_CUH

#include "kernel_common.cuh"
#include "../math/grid_math.h"

#define NST_K_GS_THREADS 256
/* Count elements per thread of the scan kernels: a tile is 256 * 16 counts. */
#define NST_K_GS_SCAN_ITEMS 16
#define NST_K_GS_TILE (NST_K_GS_THREADS * NST_K_GS_SCAN_ITEMS)

#if defined(__CUDA_ARCH__) || defined(NST_CUSHIM)
#define NST_K_ATOMIC_ADD_F(ptr, v) atomicAdd((ptr), (v))
#define NST_K_FETCH_INC(ptr) atomicAdd((ptr), 1)
#else
/* Host code without the shim (none calls these today): plain read-modify-writes. */
#define NST_K_ATOMIC_ADD_F(ptr, v) (*(ptr) = *(ptr) + (v))
#define NST_K_FETCH_INC(ptr) ((*(ptr))++)
#endif

typedef struct {
    int key;  /* global output pixel * 4 + corner (0 nw, 1 ne, 2 sw, 3 se) */
    float w;  /* that corner's bilinear weight */
} nst_k_gs_entry;

typedef struct {
    const float *x;    /* (N, H, W, C) */
    const float *grid; /* (N, Ho, Wo, 2) */
    float *y;          /* (N, Ho, Wo, C), forward */
    const float *dy;   /* (N, Ho, Wo, C), backward */
    float *dx;         /* (N, H, W, C): atomic scatter in the pixel kernel; NULL when none or
                          when the deterministic kernels write it */
    float *dx_gather;  /* (N, H, W, C): the deterministic gather's output, else NULL */
    float *dgrid;      /* (N, Ho, Wo, 2) or NULL */
    int *count;        /* (N*H*W) scratch: entries per input pixel, then the fill's cursors */
    int *start;        /* (N*H*W + 1) scratch: each bucket's first entry */
    int *tile_sum;     /* (tiles) scratch: count sums per scan tile, then their offsets */
    nst_k_gs_entry *entry; /* (4 * N*Ho*Wo) scratch */
    int64_t N, C, Ho, Wo, tiles;
    int H, W;
    int padding;
    bool align_corners;
    int lanes;         /* G */
} nst_k_gs;

NST_HDI int nst_k_gs_lanes(int64_t C) {
    if (C <= 4)
        return 1;
    int g = 1;
    while (g < C && g < 32)
        g *= 2;
    return g;
}

/* Byte offsets of the deterministic scratch pieces, each 64-byte aligned. */
typedef struct {
    size_t count, start, tile_sum, entry, total;
} nst_k_gs_layout;

NST_HDI size_t nst_k_gs_align(size_t b) {
    return (b + 63) & ~(size_t)63;
}

NST_HDI int64_t nst_k_gs_tiles(int64_t inputs) {
    return (inputs + NST_K_GS_TILE - 1) / NST_K_GS_TILE;
}

/* inputs = N*H*W, outputs = N*Ho*Wo. */
NST_HDI nst_k_gs_layout nst_k_gs_layout_make(int64_t inputs, int64_t outputs) {
    nst_k_gs_layout l;
    size_t at = 0;
    l.count = at, at = nst_k_gs_align(at + (size_t)inputs * sizeof(int));
    l.start = at, at = nst_k_gs_align(at + (size_t)(inputs + 1) * sizeof(int));
    l.tile_sum = at, at = nst_k_gs_align(at + (size_t)nst_k_gs_tiles(inputs) * sizeof(int));
    l.entry = at, at = nst_k_gs_align(at + (size_t)(4 * outputs) * sizeof(nst_k_gs_entry));
    l.total = at;
    return l;
}

/* Whether the deterministic path's int32 keys and offsets can index every entry. */
NST_HDI bool nst_k_gs_keys_fit(int64_t outputs) {
    return 4 * outputs <= (int64_t)0x7fffffff;
}

NST_HDI nst_k_gs nst_k_gs_make(const float *x, const float *grid, int64_t N, int64_t H, int64_t W,
                               int64_t C, int64_t Ho, int64_t Wo, int padding,
                               bool align_corners) {
    nst_k_gs p;
    p.x = x, p.grid = grid, p.y = NULL, p.dy = NULL, p.dx = NULL, p.dx_gather = NULL;
    p.dgrid = NULL, p.count = NULL, p.start = NULL, p.tile_sum = NULL, p.entry = NULL;
    p.N = N, p.C = C, p.Ho = Ho, p.Wo = Wo, p.tiles = nst_k_gs_tiles(N * H * W);
    p.H = (int)H, p.W = (int)W, p.padding = padding, p.align_corners = align_corners;
    p.lanes = nst_k_gs_lanes(C);
    return p;
}

/* Points the deterministic path's pieces into scratch laid out by nst_k_gs_layout_make. */
NST_HDI void nst_k_gs_set_scratch(nst_k_gs *p, void *scratch) {
    const nst_k_gs_layout l = nst_k_gs_layout_make(p->N * p->H * p->W, p->N * p->Ho * p->Wo);
    char *s = (char *)scratch;
    p->count = (int *)(s + l.count), p->start = (int *)(s + l.start);
    p->tile_sum = (int *)(s + l.tile_sum), p->entry = (nst_k_gs_entry *)(s + l.entry);
}

/* Blocks of a slot kernel over `items` pixels. */
NST_HDI int64_t nst_k_gs_blocks(const nst_k_gs *p, int64_t items) {
    const int64_t slots = NST_K_GS_THREADS / p->lanes;
    return (items + slots - 1) / slots;
}

/* The corners of global output pixel `pix` and its coordinate multipliers. */
NST_HDI nst__bilinear nst_k_gs_corners(const nst_k_gs *p, int64_t pix, float *mx, float *my) {
    const float *g = p->grid + pix * 2;
    const float ix = nst__grid_source_index(g[0], p->W, p->padding, p->align_corners, mx);
    const float iy = nst__grid_source_index(g[1], p->H, p->padding, p->align_corners, my);
    return nst__bilinear_corners(ix, iy, p->H, p->W);
}

/* ---- forward: slot kernel over N*Ho*Wo output pixels, no shared memory ---- */
NST_HDI void nst_k_gs_forward_body(int64_t block, int thread, const nst_k_gs *p) {
    const int G = p->lanes, lane = thread % G;
    const int64_t pix = block * (NST_K_GS_THREADS / G) + thread / G;
    if (pix >= p->N * p->Ho * p->Wo)
        return;
    float mx, my;
    const nst__bilinear b = nst_k_gs_corners(p, pix, &mx, &my);
    const int64_t C = p->C;
    const float *img = p->x + (pix / (p->Ho * p->Wo)) * p->H * p->W * C; /* (H, W, C) */
    for (int64_t c = lane; c < C; c += G) {
        float acc = 0.0f;
        for (int k = 0; k < 4; k++)
            if (b.inside[k])
                acc = NST_FADD(acc, NST_FMUL(img[b.pixel[k] * C + c], b.weight[k]));
        p->y[pix * C + c] = acc;
    }
}

/* ---- backward: slot kernel over output pixels, shared memory 4 * NST_K_GS_THREADS floats
 * (corner k of thread t at sm[k * NST_K_GS_THREADS + t]) ---- */

/* Phase 1: the atomic dx scatter (when p->dx), and the lane's per-corner sums of x * dy. */
NST_HDI void nst_k_gs_backward_load(int64_t block, int thread, const nst_k_gs *p, float *sm) {
    const int G = p->lanes, lane = thread % G;
    const int64_t pix = block * (NST_K_GS_THREADS / G) + thread / G;
    float dot[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (pix < p->N * p->Ho * p->Wo) {
        float mx, my;
        const nst__bilinear b = nst_k_gs_corners(p, pix, &mx, &my);
        const int64_t C = p->C, n = pix / (p->Ho * p->Wo), plane = (int64_t)p->H * p->W * C;
        const float *img = p->x + n * plane; /* (H, W, C) */
        const float *g = p->dy + pix * C;    /* (C) */
        for (int k = 0; k < 4; k++) {
            if (!b.inside[k])
                continue;
            const float *src = img + b.pixel[k] * C;
            if (p->dx) {
                float *dst = p->dx + n * plane + b.pixel[k] * C;
                for (int64_t c = lane; c < C; c += G)
                    NST_K_ATOMIC_ADD_F(dst + c, NST_FMUL(b.weight[k], g[c]));
            }
            if (p->dgrid)
                for (int64_t c = lane; c < C; c += G)
                    dot[k] = NST_FADD(dot[k], NST_FMUL(src[c], g[c]));
        }
    }
    for (int k = 0; k < 4; k++)
        sm[k * NST_K_GS_THREADS + thread] = dot[k];
}

/* The tree phases: step s (G/2, G/4, ... 1) adds lane + s into lane, every corner. */
NST_HDI void nst_k_gs_backward_step(int thread, int s, const nst_k_gs *p, float *sm) {
    if (thread % p->lanes >= s)
        return;
    for (int k = 0; k < 4; k++)
        sm[k * NST_K_GS_THREADS + thread] =
            NST_FADD(sm[k * NST_K_GS_THREADS + thread], sm[k * NST_K_GS_THREADS + thread + s]);
}

/* Last phase: lane 0 writes dgrid from the four dots (ATen's gix, giy). */
NST_HDI void nst_k_gs_backward_store(int64_t block, int thread, const nst_k_gs *p,
                                     const float *sm) {
    const int G = p->lanes;
    const int64_t pix = block * (NST_K_GS_THREADS / G) + thread / G;
    if (!p->dgrid || thread % G != 0 || pix >= p->N * p->Ho * p->Wo)
        return;
    float mx, my;
    const nst__bilinear b = nst_k_gs_corners(p, pix, &mx, &my);
    const float wx[4] = {-b.dist_s, b.dist_s, -b.dist_n, b.dist_n};
    const float wy[4] = {-b.dist_e, -b.dist_w, b.dist_e, b.dist_w};
    float gix = 0.0f, giy = 0.0f;
    for (int k = 0; k < 4; k++) {
        if (!b.inside[k])
            continue;
        const float dot = sm[k * NST_K_GS_THREADS + thread];
        gix = NST_FADD(gix, NST_FMUL(wx[k], dot));
        giy = NST_FADD(giy, NST_FMUL(wy[k], dot));
    }
    p->dgrid[pix * 2 + 0] = NST_FMUL(mx, gix);
    p->dgrid[pix * 2 + 1] = NST_FMUL(my, giy);
}

/* ---- deterministic dx ---- */

/* Count: 1-D grid-stride over output pixels; each inside corner adds 1 to its input pixel
 * (count zeroed before). */
NST_HDI void nst_k_gs_count_body(int64_t block, int thread, int threads, int64_t blocks,
                                 const nst_k_gs *p) {
    const int64_t work = p->N * p->Ho * p->Wo, stride = nst_k_stride(blocks, threads);
    for (int64_t pix = nst_k_first(block, thread, threads); pix < work; pix += stride) {
        float mx, my;
        const nst__bilinear b = nst_k_gs_corners(p, pix, &mx, &my);
        const int64_t base = (pix / (p->Ho * p->Wo)) * p->H * p->W;
        for (int k = 0; k < 4; k++)
            if (b.inside[k])
                (void)NST_K_FETCH_INC(p->count + base + b.pixel[k]);
    }
}

/* Scan, kernel 1 (blocks = tiles, 256 threads, shared memory 256 ints), phase 1: thread t's
 * sum of its NST_K_GS_SCAN_ITEMS consecutive counts into sm[t]. */
NST_HDI void nst_k_gs_scan_load(int64_t tile, int thread, const nst_k_gs *p, int *sm) {
    const int64_t L = p->N * p->H * p->W, lo = tile * NST_K_GS_TILE + thread * NST_K_GS_SCAN_ITEMS;
    int s = 0;
    for (int64_t i = lo; i < lo + NST_K_GS_SCAN_ITEMS && i < L; i++)
        s += p->count[i];
    sm[thread] = s;
}

/* Its tree phases (s = 128 ... 1), then thread 0 stores the tile's sum. */
NST_HDI void nst_k_gs_scan_step(int thread, int s, int *sm) {
    if (thread < s)
        sm[thread] += sm[thread + s];
}
NST_HDI void nst_k_gs_scan_store(int64_t tile, int thread, const nst_k_gs *p, const int *sm) {
    if (thread == 0)
        p->tile_sum[tile] = sm[0];
}

/* Scan, kernel 2 (one thread): tile sums -> exclusive tile offsets, and the total. */
NST_HDI void nst_k_gs_scan_tiles(const nst_k_gs *p) {
    int run = 0;
    for (int64_t t = 0; t < p->tiles; t++) {
        const int s = p->tile_sum[t];
        p->tile_sum[t] = run;
        run += s;
    }
    p->start[p->N * p->H * p->W] = run;
}

/* Scan, kernel 3 (blocks = tiles, 256 threads, shared memory 256 ints): phase 1 is
 * nst_k_gs_scan_load; phase 2, thread 0 turns sm into exclusive offsets; phase 3, each thread
 * writes the starts of its counts and zeroes them (the fill's cursors). */
NST_HDI void nst_k_gs_scan_offsets(int thread, int *sm) {
    if (thread != 0)
        return;
    int run = 0;
    for (int t = 0; t < NST_K_GS_THREADS; t++) {
        const int s = sm[t];
        sm[t] = run;
        run += s;
    }
}
NST_HDI void nst_k_gs_scan_apply(int64_t tile, int thread, const nst_k_gs *p, const int *sm) {
    const int64_t L = p->N * p->H * p->W, lo = tile * NST_K_GS_TILE + thread * NST_K_GS_SCAN_ITEMS;
    int run = p->tile_sum[tile] + sm[thread];
    for (int64_t i = lo; i < lo + NST_K_GS_SCAN_ITEMS && i < L; i++) {
        p->start[i] = run;
        run += p->count[i];
        p->count[i] = 0;
    }
}

/* Fill: 1-D grid-stride over output pixels; each inside corner takes the next slot of its
 * input pixel's bucket (in whatever order the threads come; the gather sorts). */
NST_HDI void nst_k_gs_fill_body(int64_t block, int thread, int threads, int64_t blocks,
                                const nst_k_gs *p) {
    const int64_t work = p->N * p->Ho * p->Wo, stride = nst_k_stride(blocks, threads);
    for (int64_t pix = nst_k_first(block, thread, threads); pix < work; pix += stride) {
        float mx, my;
        const nst__bilinear b = nst_k_gs_corners(p, pix, &mx, &my);
        const int64_t base = (pix / (p->Ho * p->Wo)) * p->H * p->W;
        for (int k = 0; k < 4; k++) {
            if (!b.inside[k])
                continue;
            const int64_t q = base + b.pixel[k];
            const int slot = NST_K_FETCH_INC(p->count + q);
            nst_k_gs_entry e;
            e.key = (int)(pix * 4 + k), e.w = b.weight[k];
            p->entry[p->start[q] + slot] = e;
        }
    }
}

/* Gather (slot kernel over N*H*W input pixels, no shared memory), phase 1: lane 0 sorts its
 * pixel's bucket by key. */
NST_HDI void nst_k_gs_gather_sort(int64_t block, int thread, const nst_k_gs *p) {
    const int G = p->lanes;
    const int64_t q = block * (NST_K_GS_THREADS / G) + thread / G;
    if (thread % G != 0 || q >= p->N * p->H * p->W)
        return;
    nst_k_gs_entry *e = p->entry + p->start[q];
    const int n = p->start[q + 1] - p->start[q];
    for (int i = 1; i < n; i++) {
        const nst_k_gs_entry v = e[i];
        int j = i - 1;
        while (j >= 0 && e[j].key > v.key) {
            e[j + 1] = e[j];
            j--;
        }
        e[j + 1] = v;
    }
}

/* Phase 2 (after a barrier): every lane adds weight * dy over the sorted bucket. */
NST_HDI void nst_k_gs_gather_sum(int64_t block, int thread, const nst_k_gs *p) {
    const int G = p->lanes, lane = thread % G;
    const int64_t q = block * (NST_K_GS_THREADS / G) + thread / G;
    if (q >= p->N * p->H * p->W)
        return;
    const nst_k_gs_entry *e = p->entry + p->start[q];
    const int n = p->start[q + 1] - p->start[q];
    const int64_t C = p->C;
    for (int64_t c = lane; c < C; c += G) {
        float acc = 0.0f;
        for (int i = 0; i < n; i++)
            acc = NST_FADD(acc, NST_FMUL(e[i].w, p->dy[(int64_t)(e[i].key / 4) * C + c]));
        p->dx_gather[q * C + c] = acc;
    }
}

#if NST_K_KERNELS
/* The kernels: phases separated by barriers, each phase one of the functions above. */
static __global__ void nst_k_gs_forward_kernel(nst_k_gs p) {
    nst_k_gs_forward_body(blockIdx.x, threadIdx.x, &p);
}

static __global__ void nst_k_gs_backward_kernel(nst_k_gs p) {
    NST_K_SHARED(float, sm, 4 * NST_K_GS_THREADS);
    nst_k_gs_backward_load(blockIdx.x, threadIdx.x, &p, sm);
    __syncthreads();
    for (int s = p.lanes / 2; s > 0; s /= 2) {
        nst_k_gs_backward_step(threadIdx.x, s, &p, sm);
        __syncthreads();
    }
    nst_k_gs_backward_store(blockIdx.x, threadIdx.x, &p, sm);
}

static __global__ void nst_k_gs_scan_sum_kernel(nst_k_gs p) {
    NST_K_SHARED(int, sm, NST_K_GS_THREADS);
    nst_k_gs_scan_load(blockIdx.x, threadIdx.x, &p, sm);
    __syncthreads();
    for (int s = NST_K_GS_THREADS / 2; s > 0; s /= 2) {
        nst_k_gs_scan_step(threadIdx.x, s, sm);
        __syncthreads();
    }
    nst_k_gs_scan_store(blockIdx.x, threadIdx.x, &p, sm);
}

static __global__ void nst_k_gs_scan_tiles_kernel(nst_k_gs p) {
    nst_k_gs_scan_tiles(&p);
}

static __global__ void nst_k_gs_scan_apply_kernel(nst_k_gs p) {
    NST_K_SHARED(int, sm, NST_K_GS_THREADS);
    nst_k_gs_scan_load(blockIdx.x, threadIdx.x, &p, sm);
    __syncthreads();
    nst_k_gs_scan_offsets(threadIdx.x, sm);
    __syncthreads();
    nst_k_gs_scan_apply(blockIdx.x, threadIdx.x, &p, sm);
}

static __global__ void nst_k_gs_gather_kernel(nst_k_gs p) {
    nst_k_gs_gather_sort(blockIdx.x, threadIdx.x, &p);
    __syncthreads(); /* the sorted bucket, in global memory, for the other lanes */
    nst_k_gs_gather_sum(blockIdx.x, threadIdx.x, &p);
}
#endif

#endif
