/* The safetensors reader and writer (src/host/safetensors.c, safetensors_write.c, json.c):
 * - round trips of every dtype with metadata, a 0-d scalar, a zero-size tensor, escaped names,
 *   all 65536 F16/BF16 patterns, many tensors, and the byte layout of what is written;
 * - a file made by the Python writer (tests/golden/gen_safetensors_sample.py), values recomputed
 *   here, and the real VGG19 weights in ../shared/data when present;
 * - nst_st_load_f32's name and shape checks;
 * - writer refusals and atomic saves (no temporary left behind, target untouched on failure).
 * Malformed files and open errors: tests/test_safetensors_malformed.c.
 * All checks are exact: nothing here is computed in floating point beyond one rounding. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nstyle/safetensors.h"
#include "test_files.h"
#include "test_support.h"
#include "test_tensors.h"

#include "host/safetensors_internal.h"

static void check_shape(const nst_st_tensor *t, int ndim, const int64_t *dims) {
    cr_assert_eq(t->ndim, ndim, "%s: ndim %d", t->name, t->ndim);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        cr_assert_eq(t->shape[i], dims[i], "%s: dim %d", t->name, i);
        numel *= dims[i];
    }
    cr_assert_eq(t->numel, numel, "%s: numel", t->name);
    cr_assert_eq(t->bytes, (size_t)numel * nst_st_dtype_size(t->dtype), "%s: bytes", t->name);
}

/* ---- round trips -------------------------------------------------------------------------- */

Test(safetensors, round_trip_every_dtype) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/all.safetensors", dir);

    float a32[6] = {1.5f, -2.25f, 0.0f, -0.0f, 3e38f, 1e-45f}; // (2, 3)
    uint16_t a16[4] = {0x3c00, 0xc000, 0x0001, 0x7bff};        // (4): 1, -2, 2^-24, 65504
    uint16_t abf[3] = {0x3f80, 0xc040, 0x0001};                // (3, 1): 1, -3, tiny subnormal
    double a64[4] = {0.1, -1e300, 5e-324, 1.0 / 3.0};          // (2, 2)
    float scalar = 42.5f;                                      // ()
    nst_st_writer *w = nst_st_writer_create();
    cr_assert_not_null(w);
    cr_assert_eq(nst_st_writer_add(ctx, w, "w.f32", NST_ST_F32, 2, (int64_t[]){2, 3}, a32), NST_OK);
    cr_assert_eq(nst_st_writer_add(ctx, w, "w.f16", NST_ST_F16, 1, (int64_t[]){4}, a16), NST_OK);
    cr_assert_eq(nst_st_writer_add(ctx, w, "w.bf16", NST_ST_BF16, 2, (int64_t[]){3, 1}, abf),
                 NST_OK);
    cr_assert_eq(nst_st_writer_add(ctx, w, "w.f64", NST_ST_F64, 2, (int64_t[]){2, 2}, a64), NST_OK);
    cr_assert_eq(nst_st_writer_add(ctx, w, "scalar", NST_ST_F32, 0, NULL, &scalar), NST_OK);
    cr_assert_eq(nst_st_writer_add(ctx, w, "empty", NST_ST_F32, 2, (int64_t[]){0, 5}, NULL),
                 NST_OK);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "input", "rgb-0-255"), NST_OK);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "odd \"key\"\n", "caf\xc3\xa9 \\ \x01"), NST_OK);
    a32[0] = 99.0f; /* data was copied at add time */
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);

    nst_st_file *f = nst_test_st_open(ctx, path);
    cr_assert_eq(nst_st_count(f), 6);
    const char *order[6] = {"w.f32", "w.f16", "w.bf16", "w.f64", "scalar", "empty"};
    for (int i = 0; i < 6; i++)
        cr_assert_str_eq(nst_st_at(f, i)->name, order[i], "file order is insertion order");
    cr_assert_null(nst_st_at(f, 6));
    cr_assert_null(nst_st_at(f, -1));

    const nst_st_tensor *t = nst_st_find(f, "w.f32");
    check_shape(t, 2, (int64_t[]){2, 3});
    float got[6];
    nst_st_to_f32(t, got);
    const float want32[6] = {1.5f, -2.25f, 0.0f, -0.0f, 3e38f, 1e-45f};
    cr_assert(memcmp(got, want32, sizeof got) == 0, "F32 values differ (bit for bit)");

    t = nst_st_find(f, "w.f16");
    cr_assert_eq(t->dtype, NST_ST_F16);
    check_shape(t, 1, (int64_t[]){4});
    double d[4];
    nst_st_to_f64(t, d);
    cr_assert(d[0] == 1.0 && d[1] == -2.0 && d[2] == 0x1p-24 && d[3] == 65504.0);

    t = nst_st_find(f, "w.bf16");
    cr_assert_eq(t->dtype, NST_ST_BF16);
    check_shape(t, 2, (int64_t[]){3, 1});
    nst_st_to_f32(t, got);
    cr_assert(got[0] == 1.0f && got[1] == -3.0f && got[2] == 0x1p-133f);

    t = nst_st_find(f, "w.f64");
    cr_assert_eq(t->dtype, NST_ST_F64);
    nst_st_to_f64(t, d);
    cr_assert(memcmp(d, a64, sizeof d) == 0, "F64 values differ (bit for bit)");
    nst_st_to_f32(t, got); /* F64 -> F32 rounds to nearest: the C cast does the same */
    cr_assert(got[0] == 0.1f && got[1] == -INFINITY && got[2] == 0.0f &&
              got[3] == (float)(1.0 / 3.0));

    t = nst_st_find(f, "scalar");
    check_shape(t, 0, NULL);
    nst_st_to_f32(t, got);
    cr_assert_eq(got[0], 42.5f);
    t = nst_st_find(f, "empty");
    check_shape(t, 2, (int64_t[]){0, 5});
    cr_assert_null(nst_st_find(f, "absent"));

    cr_assert_eq(nst_st_metadata_count(f), 2);
    cr_assert_str_eq(nst_st_metadata(f, "input"), "rgb-0-255");
    cr_assert_str_eq(nst_st_metadata(f, "odd \"key\"\n"), "caf\xc3\xa9 \\ \x01");
    cr_assert_null(nst_st_metadata(f, "absent"));
    const char *k, *v;
    nst_st_metadata_at(f, 0, &k, &v);
    cr_assert_str_eq(k, "input");
    cr_assert_str_eq(v, "rgb-0-255");
    nst_st_metadata_at(f, 2, &k, &v);
    cr_assert(k == NULL && v == NULL);
    nst_st_close(f);

    /* layout: length field, header padded with spaces to a multiple of 8, then contiguous data */
    size_t n;
    uint8_t *buf = nst_test_read_bytes(path, &n);
    cr_assert_geq(n, 8u, "file size %zu", n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | buf[i];
    cr_assert_eq(hlen % 8, 0u, "header length %llu", (unsigned long long)hlen);
    cr_assert_eq(n, 8 + hlen + 24 + 8 + 6 + 32 + 4 + 0, "file size %zu", n);
    size_t end = 8 + hlen;
    while (buf[end - 1] == ' ')
        end--;
    cr_assert_eq(buf[end - 1], '}');
    cr_assert_lt(8 + hlen - end, 8u, "at most 7 padding spaces");
    free(buf);
    nst_ctx_destroy(ctx);
}

Test(safetensors, every_half_pattern_through_a_file) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/halves.safetensors", dir);
    static uint16_t pat[65536];
    for (int i = 0; i < 65536; i++)
        pat[i] = (uint16_t)i;
    nst_st_writer *w = nst_st_writer_create();
    cr_assert_eq(nst_st_writer_add(ctx, w, "f16", NST_ST_F16, 2, (int64_t[]){256, 256}, pat),
                 NST_OK);
    cr_assert_eq(nst_st_writer_add(ctx, w, "bf16", NST_ST_BF16, 1, (int64_t[]){65536}, pat),
                 NST_OK);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
    for (int mode = 0; mode < 2; mode++) { /* mmap, then the read() fallback */
        nst_st_file *f = NULL;
        cr_assert_eq(nst__st_open_with(ctx, path, mode == 0, &f), NST_OK, "%s",
                     nst_last_error(ctx));
        static float got[65536];
        static double got64[65536];
        for (int k = 0; k < 2; k++) {
            const nst_st_tensor *t = nst_st_find(f, k ? "bf16" : "f16");
            cr_assert(memcmp(t->data, pat, sizeof pat) == 0, "raw bytes differ");
            nst_st_to_f32(t, got);
            nst_st_to_f64(t, got64);
            for (int i = 0; i < 65536; i++) {
                float want = k ? nst_bf16_to_f32((uint16_t)i) : nst_f16_to_f32((uint16_t)i);
                cr_assert(memcmp(&got[i], &want, 4) == 0, "%s pattern 0x%04x", t->name, i);
                cr_assert(isnan(want) ? isnan(got64[i]) : got64[i] == (double)want);
            }
        }
        nst_st_close(f);
    }
    nst_ctx_destroy(ctx);
}

Test(safetensors, escaped_names_and_many_tensors) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/many.safetensors", dir);
    const char *odd[5] = {"quote\"back\\slash", "tab\tnl\nctl\x01\x1f", "caf\xc3\xa9",
                          "emoji-\xf0\x9f\x98\x80", "slash/and/dots.weight"};
    nst_st_writer *w = nst_st_writer_create();
    float v[5];
    for (int i = 0; i < 5; i++) {
        v[i] = (float)i;
        cr_assert_eq(nst_st_writer_add(ctx, w, odd[i], NST_ST_F32, 1, (int64_t[]){1}, &v[i]),
                     NST_OK);
    }
    /* 400 more, names in a scrambled order so the name index and the file order differ */
    float vals[8];
    for (int i = 0; i < 400; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%03d", (i * 7919) % 400);
        for (int j = 0; j < 8; j++)
            vals[j] = (float)(i * 8 + j);
        cr_assert_eq(nst_st_writer_add(ctx, w, name, NST_ST_F32, 1, (int64_t[]){1 + i % 8}, vals),
                     NST_OK);
    }
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
    nst_st_file *f = nst_test_st_open(ctx, path);
    cr_assert_eq(nst_st_count(f), 405);
    for (int i = 0; i < 5; i++) {
        const nst_st_tensor *t = nst_st_find(f, odd[i]);
        cr_assert_not_null(t, "name %d not found", i);
        cr_assert_eq(t, nst_st_at(f, i));
        cr_assert_eq(*(const float *)t->data, (float)i);
    }
    for (int i = 0; i < 400; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%03d", (i * 7919) % 400);
        const nst_st_tensor *t = nst_st_find(f, name);
        cr_assert_not_null(t, "%s not found", name);
        cr_assert_eq(t, nst_st_at(f, 5 + i), "%s out of order", name);
        cr_assert_eq(t->numel, 1 + i % 8);
        float got[8];
        nst_st_to_f32(t, got);
        for (int j = 0; j < t->numel; j++)
            cr_assert_eq(got[j], (float)(i * 8 + j), "%s[%d]", name, j);
    }
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* ---- files made elsewhere ----------------------------------------------------------------- */

Test(safetensors, python_writer_sample) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_file *f = nst_test_open_golden(ctx, "safetensors_sample.safetensors");
    /* st_write.py sorts names by code point, which is UTF-8 byte order */
    const char *order[6] = {"caf\xc3\xa9", "emoji-\xf0\x9f\x98\x80", "empty", "x16", "x32", "x64"};
    cr_assert_eq(nst_st_count(f), 6);
    for (int i = 0; i < 6; i++)
        cr_assert_str_eq(nst_st_at(f, i)->name, order[i]);
    double d[12];
    nst_st_to_f64(nst_st_find(f, "caf\xc3\xa9"), d);
    cr_assert_eq(d[0], 1.0);
    nst_st_to_f64(nst_st_find(f, "emoji-\xf0\x9f\x98\x80"), d);
    cr_assert_eq(d[0], 2.0);
    check_shape(nst_st_find(f, "empty"), 2, (int64_t[]){0, 3});

    const nst_st_tensor *t = nst_st_find(f, "x64");
    check_shape(t, 2, (int64_t[]){3, 4});
    nst_st_to_f64(t, d);
    for (int i = 0; i < 12; i++) /* same IEEE operations as numpy: bit-identical */
        cr_assert_eq(d[i], ((double)i - 5.5) / 3.0, "x64[%d] = %a", i, d[i]);
    t = nst_st_find(f, "x32");
    check_shape(t, 3, (int64_t[]){1, 2, 3});
    float g[9];
    nst_st_to_f32(t, g);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(g[i], (float)i * 0.25f - 0.5f, "x32[%d]", i);
    t = nst_st_find(f, "x16");
    cr_assert_eq(t->dtype, NST_ST_F16);
    nst_st_to_f32(t, g);
    const float want16[9] = {0.0f,     -0.0f,    1.0f,     -2.5f,    65504.0f,
                             0x1p-24f, 0x1p-14f, INFINITY, -INFINITY};
    cr_assert(memcmp(g, want16, sizeof g) == 0, "x16 differs (bit for bit, signed zero included)");

    cr_assert_str_eq(nst_st_metadata(f, "generator"), "gen_safetensors_sample.py");
    cr_assert_str_eq(nst_st_metadata(f, "note"), "quote \" backslash \\ newline \n caf\xc3\xa9");
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(safetensors, real_vgg19_weights) {
    char path[4096];
    if (!nst_test_shared_path("models/vgg19-partial/vgg19_conv1_to_conv3.safetensors", path,
                              sizeof path))
        cr_skip_test("../shared/data/models/vgg19-partial is absent: no real weights to read");
    nst_ctx *ctx = nst_test_cpu_ctx();
    for (int mode = 0; mode < 2; mode++) {
        nst_st_file *f = NULL;
        cr_assert_eq(nst__st_open_with(ctx, path, mode == 0, &f), NST_OK, "%s",
                     nst_last_error(ctx));
        cr_assert_eq(nst_st_count(f), 16);
        const nst_st_tensor *t = nst_st_find(f, "features.0.weight");
        cr_assert_not_null(t);
        cr_assert_eq(t->dtype, NST_ST_F32);
        check_shape(t, 4, (int64_t[]){64, 3, 3, 3});
        cr_assert_str_eq(nst_st_metadata(f, "input"), "bgr-0-255-minus-mean");
        /* the bias bytes sit where the header says: 8 + 1552 (header) + 6912 (offset) */
        t = nst_st_find(f, "features.0.bias");
        check_shape(t, 1, (int64_t[]){64});
        unsigned char raw[256];
        FILE *fp = fopen(path, "rb");
        cr_assert(fp && fseek(fp, 8 + 1552 + 6912, SEEK_SET) == 0 && fread(raw, 1, 256, fp) == 256);
        fclose(fp);
        cr_assert(memcmp(t->data, raw, 256) == 0, "features.0.bias bytes differ from the file");
        float *w = NULL;
        cr_assert_eq(
            nst_st_load_f32(ctx, f, "features.16.weight", 4, (int64_t[]){256, 256, 3, -1}, &w),
            NST_OK, "%s", nst_last_error(ctx));
        int bad = 0; /* trained conv weights: finite and small */
        for (int i = 0; i < 256 * 256 * 9; i++)
            bad += !(isfinite(w[i]) && fabsf(w[i]) < 10.0f);
        cr_assert_eq(bad, 0, "%d implausible weights in features.16.weight", bad);
        free(w);
        nst_st_close(f);
    }
    nst_ctx_destroy(ctx);
}

Test(safetensors, load_f32_checks_name_and_shape) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/load.safetensors", dir);
    uint16_t h[6] = {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600}; /* 1 .. 6 in F16 */
    nst_st_writer *w = nst_st_writer_create();
    cr_assert_eq(nst_st_writer_add(ctx, w, "conv.weight", NST_ST_F16, 2, (int64_t[]){2, 3}, h),
                 NST_OK);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK);
    nst_st_writer_destroy(w);
    nst_st_file *f = nst_test_st_open(ctx, path);
    float *x = NULL;
    cr_assert_eq(nst_st_load_f32(ctx, f, "conv.weight", 2, (int64_t[]){-1, 3}, &x), NST_OK);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(x[i], (float)(i + 1));
    free(x);
    cr_assert_eq(nst_st_load_f32(ctx, f, "conv.weight", -1, NULL, &x), NST_OK,
                 "ndim -1: any shape");
    free(x);
    x = (float *)1;
    cr_assert_eq(nst_st_load_f32(ctx, f, "conv.weight", 2, (int64_t[]){3, 2}, &x), NST_ERR_SHAPE);
    cr_assert_null(x);
    const char *msg = nst_last_error(ctx);
    cr_assert(strstr(msg, "load.safetensors") && strstr(msg, "conv.weight") &&
                  strstr(msg, "[2, 3]") && strstr(msg, "[3, 2]"),
              "%s", msg);
    cr_assert_eq(nst_st_load_f32(ctx, f, "conv.weight", 3, (int64_t[]){2, 3, 1}, &x),
                 NST_ERR_SHAPE);
    cr_assert_eq(nst_st_load_f32(ctx, f, "conv.bias", 1, (int64_t[]){3}, &x), NST_ERR_FORMAT);
    cr_assert(strstr(nst_last_error(ctx), "conv.bias") != NULL, "%s", nst_last_error(ctx));
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

/* ---- writer refusals and atomic saves ----------------------------------------------------- */

Test(safetensors, writer_refuses_bad_input) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_st_writer *w = nst_st_writer_create();
    float x[4] = {1, 2, 3, 4};
    const int64_t s4[1] = {4};
    cr_assert_eq(nst_st_writer_add(ctx, w, "a", NST_ST_F32, 1, s4, x), NST_OK);
    cr_assert_eq(nst_st_writer_add(ctx, w, "a", NST_ST_F32, 1, s4, x), NST_ERR_INVALID_ARG);
    cr_assert(strstr(nst_last_error(ctx), "duplicate tensor name 'a'") != NULL, "%s",
              nst_last_error(ctx));
    cr_assert_eq(nst_st_writer_add(ctx, w, "b", NST_ST_DTYPE_COUNT, 1, s4, x), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_add(ctx, w, "b", (nst_st_dtype)-1, 1, s4, x), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_add(ctx, w, "b", NST_ST_F32, 1, (int64_t[]){-4}, x),
                 NST_ERR_INVALID_ARG);
    cr_assert_eq(
        nst_st_writer_add(ctx, w, "b", NST_ST_F32, 9, (int64_t[9]){1, 1, 1, 1, 1, 1, 1, 1, 4}, x),
        NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_add(ctx, w, "b", NST_ST_F32, -1, s4, x), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_add(ctx, w, "b", NST_ST_F32, 1, s4, NULL), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_add(ctx, w, "b", NST_ST_F32, 3,
                                   (int64_t[]){INT64_MAX / 2, INT64_MAX / 2, 4}, x),
                 NST_ERR_TOO_LARGE);
    cr_assert_eq(nst_st_writer_add(ctx, w, "__metadata__", NST_ST_F32, 1, s4, x),
                 NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_add(ctx, w, "bad\xff", NST_ST_F32, 1, s4, x), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_add(ctx, w, NULL, NST_ST_F32, 1, s4, x), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_add(ctx, NULL, "b", NST_ST_F32, 1, s4, x), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "k", "v"), NST_OK);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "k", "w"), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "k2", "\xed\xa0\x80"), NST_ERR_INVALID_ARG,
                 "an encoded surrogate is not UTF-8");
    cr_assert_eq(nst_st_writer_metadata(ctx, w, "k2", NULL), NST_ERR_INVALID_ARG);

    /* the refusals left the writer as it was: one tensor, one metadata entry */
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/after.safetensors", dir);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
    nst_st_file *f = nst_test_st_open(ctx, path);
    cr_assert_eq(nst_st_count(f), 1);
    cr_assert_eq(nst_st_metadata_count(f), 1);
    cr_assert_str_eq(nst_st_metadata(f, "k"), "v");
    nst_st_close(f);
    nst_st_writer_destroy(NULL);
    nst_ctx_destroy(ctx);
}

static nst_st_writer *small_writer(nst_ctx *ctx, size_t n_floats) {
    float *x = calloc(n_floats, sizeof *x);
    cr_assert_not_null(x);
    nst_st_writer *w = nst_st_writer_create();
    cr_assert_eq(nst_st_writer_add(ctx, w, "x", NST_ST_F32, 1, (int64_t[]){(int64_t)n_floats}, x),
                 NST_OK);
    free(x);
    return w;
}

static const char old_contents[] = "previous contents, not a safetensors file";

/* path holds old_contents and is the only entry of dir */
static void expect_untouched(const char *dir, const char *path) {
    size_t n;
    uint8_t *buf = nst_test_read_bytes(path, &n);
    cr_assert(n == sizeof old_contents && memcmp(buf, old_contents, n) == 0, "%s was changed",
              path);
    free(buf);
    cr_assert_eq(nst_test_count_entries(dir, NULL), 1, "a temporary file was left in %s", dir);
}

Test(safetensors, save_replaces_atomically) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    nst_test_write_bytes(path, old_contents, sizeof old_contents);
    chmod(path, 0640);
    nst_st_writer *w = small_writer(ctx, 10);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_OK, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
    cr_assert_eq(nst_test_count_entries(dir, NULL), 1, "no temporary left behind");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640u, "the replaced file's mode is kept");
    nst_st_file *f = nst_test_st_open(ctx, path);
    cr_assert_eq(nst_st_find(f, "x")->numel, 10);
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(safetensors, save_to_a_directory_fails_cleanly) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512], inner[600];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", path);
    nst_test_write_bytes(inner, "x", 1);
    nst_st_writer *w = small_writer(ctx, 10);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_ERR_IO);
    cr_assert(strstr(nst_last_error(ctx), "model.safetensors") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_test_count_entries(dir, NULL), 1, "a temporary file was left in %s", dir);
    cr_assert_eq(nst_test_count_entries(path, NULL), 1, "the directory's contents changed");
    /* a folder that does not exist: nothing to create the temporary in */
    snprintf(path, sizeof path, "%s/no/such/folder/model.safetensors", dir);
    cr_assert_eq(nst_st_writer_save(ctx, w, path), NST_ERR_IO);
    cr_assert(strstr(nst_last_error(ctx), path) != NULL, "%s", nst_last_error(ctx));
    nst_st_writer_destroy(w);
    nst_ctx_destroy(ctx);
}

Test(safetensors, save_into_read_only_folder_keeps_target) {
    if (geteuid() == 0)
        cr_skip_test("running as root, which ignores directory permissions; "
                     "save_failing_mid_write_keeps_target covers the failure path");
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    nst_test_write_bytes(path, old_contents, sizeof old_contents);
    cr_assert_eq(chmod(dir, 0555), 0);
    nst_st_writer *w = small_writer(ctx, 10);
    nst_status s = nst_st_writer_save(ctx, w, path);
    chmod(dir, 0755);
    cr_assert_eq(s, NST_ERR_IO, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "model.safetensors") != NULL, "%s", nst_last_error(ctx));
    expect_untouched(dir, path);
    nst_st_writer_destroy(w);
    nst_ctx_destroy(ctx);
}

/* A file-size limit makes write() fail part way (EFBIG), for any user. Criterion runs each test
 * in its own process, so the limit and the ignored SIGXFSZ end with the test. */
Test(safetensors, save_failing_mid_write_keeps_target) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    nst_test_write_bytes(path, old_contents, sizeof old_contents);
    nst_st_writer *w = small_writer(ctx, 1 << 16); /* 256 KiB of data */
    struct rlimit saved, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = 64 * 1024;
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    nst_status s = nst_st_writer_save(ctx, w, path);
    setrlimit(RLIMIT_FSIZE, &saved);
    cr_assert_eq(s, NST_ERR_IO, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "model.safetensors") != NULL, "%s", nst_last_error(ctx));
    cr_assert(strstr(nst_last_error(ctx), "writing failed") != NULL, "%s", nst_last_error(ctx));
    expect_untouched(dir, path);
    nst_st_writer_destroy(w);
    nst_ctx_destroy(ctx);
}
