/* Tensor descriptors and exact F16/BF16 <-> F32 scalar conversions (IEEE 754 binary16 and
 * bfloat16; round to nearest even on narrowing, subnormals, infinities and NaN kept).
 * Tested by tests/test_tensor.c. */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "nstyle/ops.h"

size_t nst_dtype_size(nst_dtype t) {
    switch (t) {
    case NST_F32:
        return 4;
    case NST_F16:
    case NST_BF16:
        return 2;
    default:
        return 0;
    }
}

const char *nst_dtype_name(nst_dtype t) {
    switch (t) {
    case NST_F32:
        return "F32";
    case NST_F16:
        return "F16";
    case NST_BF16:
        return "BF16";
    default:
        return "?";
    }
}

int64_t nst_tensor_numel(const nst_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

size_t nst_tensor_bytes(const nst_tensor *t) {
    return (size_t)nst_tensor_numel(t) * nst_dtype_size(t->dtype);
}

nst_tensor nst_tensor_make(nst_dtype dtype, nst_backend_kind backend, void *data, int ndim,
                           const int64_t *dims) {
    nst_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.backend = backend;
    t.data = data;
    t.ndim = ndim < 0 ? 0 : (ndim > NST_MAX_DIMS ? NST_MAX_DIMS : ndim);
    for (int i = 0; i < t.ndim; i++)
        t.shape[i] = dims[i];
    return t;
}

nst_tensor nst_tensor_nhwc(nst_dtype dtype, nst_backend_kind backend, void *data, int64_t n,
                           int64_t h, int64_t w, int64_t c) {
    const int64_t dims[4] = {n, h, w, c};
    return nst_tensor_make(dtype, backend, data, 4, dims);
}

const char *nst_tensor_describe(const nst_tensor *t, char *buf, size_t size) {
    if (!t) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    size_t used = 0;
    used += (size_t)snprintf(buf + used, size - used, "(");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                                 (long long)t->shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, ") %s", nst_dtype_name(t->dtype));
    return buf;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float nst_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) /* inf / NaN (payload kept, quiet bit preserved) */
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        /* subnormal: man * 2^-24, exact in f32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t nst_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or NaN */
        return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0));
    if (abs >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (abs < 0x38800000u) { /* below the smallest normal 2^-14: subnormal or zero */
        /* value / 2^-24, rounded to nearest even; the sum below does it in f32 exactly */
        float a = bits_f32(abs);
        float scaled = a * 0x1p24f; /* exact: power of two */
        /* round half to even by hand */
        uint32_t ip = (uint32_t)scaled;
        float frac = scaled - (float)ip;
        if (frac > 0.5f || (frac == 0.5f && (ip & 1u)))
            ip++;
        return (uint16_t)(sign | ip); /* ip == 0x400 becomes the smallest normal, as it should */
    }
    uint32_t exp = ((abs >> 23) - 112u) << 10;
    uint32_t man = (abs >> 13) & 0x3ffu;
    uint32_t rest = abs & 0x1fffu;
    uint32_t h = exp | man;
    if (rest > 0x1000u || (rest == 0x1000u && (man & 1u)))
        h++; /* may carry into the exponent: still correct */
    return (uint16_t)(sign | h);
}

float nst_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t nst_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a (quiet) NaN */
        return (uint16_t)((u >> 16) | 0x40u);
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}
