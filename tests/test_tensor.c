/* The scalar conversions of src/host/tensor.c against independent references:
 * - F16 -> F32 and BF16 -> F32 for all 65536 bit patterns, against a decoding in double with
 *   ldexp (subnormals, signed zeros, infinities, NaN sign and payload);
 * - F32 -> F16 and F32 -> BF16 round to nearest, ties to even, against a reference that finds the
 *   two neighbouring representable values in a table of every pattern and compares with their
 *   midpoint (exact in double), for every midpoint and its two float neighbours, random floats,
 *   overflow to infinity and underflow to subnormals and zero.
 * Every check is exact (bit for bit): these conversions have one correct answer. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "test_support.h"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A narrow format: exponent and mantissa widths decide everything. */
typedef struct {
    const char *name;
    int exp_bits, man_bits;
    float (*to_f32)(uint16_t);
    uint16_t (*from_f32)(float);
} narrow_format;

static const narrow_format F16 = {"F16", 5, 10, nst_f16_to_f32, nst_f32_to_f16};
static const narrow_format BF16 = {"BF16", 8, 7, nst_bf16_to_f32, nst_f32_to_bf16};

static int bias(const narrow_format *fmt) { return (1 << (fmt->exp_bits - 1)) - 1; }
static uint16_t inf_pattern(const narrow_format *fmt) {
    return (uint16_t)(((1u << fmt->exp_bits) - 1) << fmt->man_bits);
}

/* IEEE 754 decoding written from the definition: (-1)^s * 2^(e - bias) * 1.m, subnormals
 * 2^(1 - bias) * 0.m. NaN for an all-ones exponent with a non-zero mantissa. */
static double decode(const narrow_format *fmt, uint16_t h) {
    int sign = h >> 15;
    int e = (h >> fmt->man_bits) & ((1 << fmt->exp_bits) - 1);
    int m = h & ((1 << fmt->man_bits) - 1);
    double v;
    if (e == (1 << fmt->exp_bits) - 1)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp(m, 1 - bias(fmt) - fmt->man_bits);
    else
        v = ldexp((1 << fmt->man_bits) + m, e - bias(fmt) - fmt->man_bits);
    return sign ? -v : v;
}

static void check_all_decodes(const narrow_format *fmt) {
    for (uint32_t p = 0; p < 65536; p++) {
        uint16_t h = (uint16_t)p;
        float got = fmt->to_f32(h);
        double want = decode(fmt, h);
        cr_assert_eq(signbit(got) != 0, (h >> 15) != 0, "%s 0x%04x: sign of %a", fmt->name, h,
                     (double)got);
        if (isnan(want)) {
            cr_assert(isnan(got), "%s 0x%04x: expected NaN, got %a", fmt->name, h, (double)got);
            /* the payload survives: the mantissa bits move to the top of the f32 mantissa */
            uint32_t payload = (bits_of(got) >> (23 - fmt->man_bits)) & ((1u << fmt->man_bits) - 1);
            cr_assert_eq(payload, h & ((1u << fmt->man_bits) - 1u), "%s 0x%04x: NaN payload 0x%x",
                         fmt->name, h, payload);
            /* and narrowing gives it back, quieted (top mantissa bit set) */
            uint16_t quiet = (uint16_t)(h | (1u << (fmt->man_bits - 1)));
            cr_assert_eq(fmt->from_f32(got), quiet, "%s 0x%04x: NaN narrows to 0x%04x", fmt->name,
                         h, fmt->from_f32(got));
            continue;
        }
        cr_assert((double)got == want, "%s 0x%04x: got %a, expected %a", fmt->name, h, (double)got,
                  want);
        /* every value is representable, so narrowing is the exact inverse */
        cr_assert_eq(fmt->from_f32(got), h, "%s 0x%04x: round trip gives 0x%04x", fmt->name, h,
                     fmt->from_f32(got));
    }
}

Test(tensor_convert, f16_to_f32_all_patterns) { check_all_decodes(&F16); }
Test(tensor_convert, bf16_to_f32_all_patterns) { check_all_decodes(&BF16); }

/* ---- narrowing ---------------------------------------------------------------------------- */

/* values[p] for the non-negative finite patterns 0 .. inf-1, plus values[inf] = 2^(emax+1), the
 * value the next pattern would have with an unbounded exponent: IEEE rounding overflows to
 * infinity exactly when that neighbour wins. */
typedef struct {
    const narrow_format *fmt;
    double values[0x7f81];
    uint16_t inf;
} value_table;

static void table_init(value_table *t, const narrow_format *fmt) {
    t->fmt = fmt;
    t->inf = inf_pattern(fmt);
    for (uint32_t p = 0; p < t->inf; p++)
        t->values[p] = decode(fmt, (uint16_t)p);
    t->values[t->inf] = ldexp(1.0, bias(fmt) + 1);
}

/* Round to nearest, ties to the even pattern, by finding the neighbours lo <= |x| < lo + 1. */
static uint16_t reference_round(const value_table *t, float x) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    if (a >= t->values[t->inf])
        return (uint16_t)(sign | t->inf);
    uint32_t lo = 0, hi = t->inf; /* values[lo] <= a < values[hi] */
    while (hi - lo > 1) {
        uint32_t mid = (lo + hi) / 2;
        if (t->values[mid] <= a)
            lo = mid;
        else
            hi = mid;
    }
    /* the midpoint of adjacent values needs one more bit than the format: exact in double */
    double half = (t->values[lo] + t->values[hi]) / 2;
    uint32_t r = a < half ? lo : a > half ? hi : (lo % 2 == 0 ? lo : hi);
    return (uint16_t)(sign | r);
}

static void check_round(const value_table *t, float x) {
    uint16_t want = reference_round(t, x), got = t->fmt->from_f32(x);
    if (got != want)
        cr_assert_fail("%s: %a (0x%08x) rounds to 0x%04x, expected 0x%04x", t->fmt->name, (double)x,
                       bits_of(x), got, want);
}

static void check_narrowing(const narrow_format *fmt) {
    static value_table t; /* ~260 KB: static keeps it off the stack */
    table_init(&t, fmt);
    /* every midpoint between neighbours (ties) and the floats just either side, both signs;
     * the midpoints fit in f32 since they need mantissa bits + 1 <= 24 */
    for (uint32_t p = 0; p < t.inf; p++) {
        float mid = (float)((t.values[p] + t.values[p + 1]) / 2);
        cr_assert((double)mid == (t.values[p] + t.values[p + 1]) / 2, "midpoint not exact");
        const float xs[5] = {(float)t.values[p], mid, nextafterf(mid, 0.0f),
                             nextafterf(mid, INFINITY), (float)t.values[p + 1]};
        for (int i = 0; i < 5; i++) {
            check_round(&t, xs[i]);
            check_round(&t, -xs[i]);
        }
    }
    /* random f32 patterns over the whole range, and random ones near the format's range */
    nst_test_rng rng = nst_test_rng_seed(fmt->man_bits);
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)nst_test_rng_next(&rng);
        if ((u & 0x7fffffffu) > 0x7f800000u)
            continue; /* NaN: checked separately */
        check_round(&t, float_of(u));
        /* f32 exponent fields from below the smallest subnormal to above the largest value */
        int lo_exp = 127 - bias(fmt) - fmt->man_bits - 3, hi_exp = 127 + bias(fmt) + 2;
        lo_exp = lo_exp < 0 ? 0 : lo_exp;
        hi_exp = hi_exp > 255 ? 255 : hi_exp;
        uint32_t e =
            (uint32_t)(lo_exp + (int)(nst_test_rng_next(&rng) % (uint64_t)(hi_exp - lo_exp)));
        check_round(&t, float_of((u & 0x807fffffu) | (e << 23)));
    }
    /* infinities, NaN, zeros and the extremes of f32 */
    cr_assert_eq(fmt->from_f32(INFINITY), t.inf);
    cr_assert_eq(fmt->from_f32(-INFINITY), (uint16_t)(0x8000 | t.inf));
    cr_assert_eq(fmt->from_f32(0.0f), 0);
    cr_assert_eq(fmt->from_f32(-0.0f), 0x8000);
    cr_assert(isnan(fmt->to_f32(fmt->from_f32(NAN))));
    cr_assert(isnan(fmt->to_f32(fmt->from_f32(float_of(0x7f800001u)))), "signalling NaN stays NaN");
    cr_assert(isnan(fmt->to_f32(fmt->from_f32(float_of(0xffc00000u)))));
    check_round(&t, FLT_MAX);
    check_round(&t, float_of(1)); /* smallest f32 subnormal */
}

Test(tensor_convert, f32_to_f16_round_to_nearest_even) {
    check_narrowing(&F16);
    /* the boundaries, written out: 65504 is the largest half, 65520 the tie that overflows */
    cr_assert_eq(nst_f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(nst_f32_to_f16(nextafterf(65520.0f, 0)), 0x7bff);
    cr_assert_eq(nst_f32_to_f16(65520.0f), 0x7c00);
    cr_assert_eq(nst_f32_to_f16(-1e10f), 0xfc00);
    /* underflow: 2^-24 is the smallest subnormal, 2^-25 a tie that goes to (even) zero */
    cr_assert_eq(nst_f32_to_f16(0x1p-24f), 0x0001);
    cr_assert_eq(nst_f32_to_f16(0x1p-25f), 0x0000);
    cr_assert_eq(nst_f32_to_f16(nextafterf(0x1p-25f, 1)), 0x0001);
    cr_assert_eq(nst_f32_to_f16(-0x1p-26f), 0x8000);
    cr_assert_eq(nst_f32_to_f16(0x1.8p-24f), 0x0002);   /* tie between 1 and 2 ulps: even */
    cr_assert_eq(nst_f32_to_f16(0x1.ff8p-15f), 0x03ff); /* largest subnormal, 1023 * 2^-24 */
    cr_assert_eq(nst_f32_to_f16(0x1.ffcp-15f), 0x0400); /* tie, odd: up to the smallest normal */
}

Test(tensor_convert, f32_to_bf16_round_to_nearest_even) {
    check_narrowing(&BF16);
    cr_assert_eq(nst_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(nst_f32_to_bf16(float_of(0x3f808000u)), 0x3f80); /* tie, even stays */
    cr_assert_eq(nst_f32_to_bf16(float_of(0x3f818000u)), 0x3f82); /* tie, odd goes up */
    cr_assert_eq(nst_f32_to_bf16(float_of(0x7f7f8000u)), 0x7f80); /* tie above the max: inf */
    cr_assert_eq(nst_f32_to_bf16(float_of(0x7f7f7fffu)), 0x7f7f);
    cr_assert_eq(nst_f32_to_bf16(float_of(0x00008000u)), 0x0000); /* subnormal tie to zero */
    cr_assert_eq(nst_f32_to_bf16(float_of(0x00018000u)), 0x0002);
}
