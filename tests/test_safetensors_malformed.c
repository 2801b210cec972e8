/* The safetensors reader on files it must refuse or that sit at the edge of the format
 * (src/host/safetensors.c, json.c): malformed headers written here, each refused with
 * NST_ERR_FORMAT and a message naming the file and the problem, through both the mmap path and
 * the read() fallback; bad length fields; valid edge cases (no tensors, padding, escapes, an
 * empty tensor); open errors. Round trips and the writer: tests/test_safetensors.c.
 * All checks are exact. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/safetensors.h"
#include "test_files.h"
#include "test_support.h"
#include "test_tensors.h"

/* Internal entry point of src/host/safetensors.c: use_mmap false takes the read() fallback. */
nst_status nst__st_open_with(nst_ctx *ctx, const char *path, bool use_mmap, nst_st_file **out);

/* A file with the given header length field, header text and data_bytes bytes of data. */
static void write_st(const char *path, uint64_t hlen, const char *header, size_t data_bytes) {
    size_t n = strlen(header);
    unsigned char *buf = calloc(8 + n + data_bytes + 1, 1);
    cr_assert_not_null(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, n);
    for (size_t i = 0; i < data_bytes; i++)
        buf[8 + n + i] = (unsigned char)i;
    nst_test_write_bytes(path, buf, 8 + n + data_bytes);
    free(buf);
}

/* ---- malformed files ---------------------------------------------------------------------- */

/* header JSON, data section size, and a piece of the expected message */
typedef struct {
    const char *file;
    const char *header;
    size_t data_bytes;
    const char *expect;
} bad_header;

#define T1 "\"dtype\":\"F32\",\"shape\":[1]"
static const bad_header bad_headers[] = {
    {"truncated", "{\"a\":{" T1 ",\"data_offsets\":[0,4]}", 4, "unexpected end"},
    {"trailing_garbage", "{\"a\":{" T1 ",\"data_offsets\":[0,4]}} x", 4, "after the JSON value"},
    {"unterminated_string", "{\"a", 0, "unterminated string"},
    {"trailing_comma", "{\"a\":{" T1 ",\"data_offsets\":[0,4],}}", 4, "expected a string key"},
    {"bad_escape", "{\"a\\q\":{" T1 ",\"data_offsets\":[0,4]}}", 4, "invalid escape"},
    {"lone_surrogate", "{\"\\ud800x\":{" T1 ",\"data_offsets\":[0,4]}}", 4, "surrogate"},
    {"control_char", "{\"a\x01\":{" T1 ",\"data_offsets\":[0,4]}}", 4, "control character"},
    {"invalid_utf8", "{\"a\xc0\xaf\":{" T1 ",\"data_offsets\":[0,4]}}", 4, "UTF-8"},
    {"leading_zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4,
     "leading zero"},
    {"bare_word", "{\"a\":{\"dtype\":F32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "unexpected character 'F'"},
    {"too_deep", "{\"__metadata__\":{\"k\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}}", 0,
     "nesting"},
    {"not_object", "[1,2]", 0, "not a JSON object"},
    {"leading_space", " {}", 0, "must begin with '{'"},
    {"entry_not_object", "{\"a\":5}", 0, "tensor 'a': entry is not an object"},
    {"unknown_dtype", "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
     "unsupported dtype 'I64'"},
    {"missing_dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'dtype' missing"},
    {"unknown_field", "{\"a\":{" T1 ",\"data_offsets\":[0,4],\"foo\":1}}", 4,
     "unknown field 'foo'"},
    {"duplicate_field", "{\"a\":{" T1 ",\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
     "duplicate key \"dtype\""},
    {"size_mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
     "needs 3 elements of 4 bytes, but data_offsets span 8"},
    {"negative_shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
     "shape[0] is not a non-negative integer"},
    {"fractional_shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
     "shape[0] is not a non-negative integer"},
    {"exponent_shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,1e0],\"data_offsets\":[0,8]}}", 8,
     "shape[1] is not a non-negative integer"},
    {"string_shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
     "shape[0] is not a non-negative integer"},
    {"shape_not_array", "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4,
     "'shape' missing or not an array"},
    {"too_many_dims",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     "9 dimensions"},
    {"shape_overflow",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", 4,
     "overflows"},
    {"huge_integer",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4,
     "shape[0] is not a non-negative integer"},
    {"offsets_out_of_range", "{\"a\":{" T1 ",\"data_offsets\":[4,8]}}", 4,
     "beyond the 4-byte data section"},
    {"begin_after_end", "{\"a\":{" T1 ",\"data_offsets\":[8,4]}}", 8, "begin 8 > end 4"},
    {"offsets_one_number", "{\"a\":{" T1 ",\"data_offsets\":[0]}}", 4, "'data_offsets' must be"},
    {"offsets_negative", "{\"a\":{" T1 ",\"data_offsets\":[-4,0]}}", 4, "'data_offsets' must be"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "tensors 'a' [0, 8) and 'b' [4, 12) overlap"},
    {"same_range", "{\"a\":{" T1 ",\"data_offsets\":[0,4]},\"b\":{" T1 ",\"data_offsets\":[0,4]}}",
     4, "overlap"},
    {"gap", "{\"a\":{" T1 ",\"data_offsets\":[0,4]},\"b\":{" T1 ",\"data_offsets\":[8,12]}}", 12,
     "bytes [4, 8) before tensor 'b' belong to no tensor"},
    {"gap_at_start", "{\"b\":{" T1 ",\"data_offsets\":[4,8]}}", 8,
     "bytes [0, 4) before tensor 'b'"},
    {"trailing_bytes", "{\"a\":{" T1 ",\"data_offsets\":[0,4]}}", 8, "4 trailing bytes"},
    {"no_tensors_but_data", "{}", 4, "4 trailing bytes"},
    {"metadata_not_string", "{\"__metadata__\":{\"k\":1}}", 0, "value of 'k' is not a string"},
    {"metadata_not_object", "{\"__metadata__\":[\"k\"]}", 0, "__metadata__ is not an object"},
    {"duplicate_name",
     "{\"a\":{" T1 ",\"data_offsets\":[0,4]},\"a\":{" T1 ",\"data_offsets\":[4,8]}}", 8,
     "duplicate key \"a\""},
    {"nul_in_name", "{\"a\\u0000b\":{" T1 ",\"data_offsets\":[0,4]}}", 4, "NUL"},
};

static void expect_refused(nst_ctx *ctx, const char *path, const char *file, const char *expect) {
    for (int mode = 0; mode < 2; mode++) { /* mmap, then the read() fallback */
        nst_st_file *f = (nst_st_file *)1;
        nst_status s = nst__st_open_with(ctx, path, mode == 0, &f);
        const char *msg = nst_last_error(ctx);
        cr_assert_eq(s, NST_ERR_FORMAT, "%s: status %s (%s)", file, nst_status_name(s), msg);
        cr_assert_null(f, "%s: *out must be NULL on failure", file);
        cr_assert(strstr(msg, file) != NULL, "%s: message does not name the file: %s", file, msg);
        cr_assert(strstr(msg, expect) != NULL, "%s: message lacks '%s': %s", file, expect, msg);
    }
}

Test(safetensors, malformed_headers_refused) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512], file[128];
    nst_test_tmpdir(dir, sizeof dir);
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        const bad_header *b = &bad_headers[i];
        snprintf(file, sizeof file, "%s.safetensors", b->file);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        write_st(path, strlen(b->header), b->header, b->data_bytes);
        expect_refused(ctx, path, file, b->expect);
    }
    nst_ctx_destroy(ctx);
}

Test(safetensors, malformed_lengths_refused) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    const char *ok_header = "{\"a\":{" T1 ",\"data_offsets\":[0,4]}}";
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    nst_test_write_bytes(path, "", 0);
    expect_refused(ctx, path, "empty.safetensors", "shorter than the 8-byte header length");
    snprintf(path, sizeof path, "%s/short.safetensors", dir);
    nst_test_write_bytes(path, "\x02\0\0\0\0", 5);
    expect_refused(ctx, path, "short.safetensors", "file is 5 bytes");
    snprintf(path, sizeof path, "%s/zero_length.safetensors", dir);
    write_st(path, 0, ok_header, 4);
    expect_refused(ctx, path, "zero_length.safetensors", "header length is 0");
    snprintf(path, sizeof path, "%s/past_end.safetensors", dir);
    write_st(path, strlen(ok_header) + 5, ok_header, 4);
    expect_refused(ctx, path, "past_end.safetensors", "runs past the end of the file");
    snprintf(path, sizeof path, "%s/huge_length.safetensors", dir);
    write_st(path, 1ull << 62, ok_header, 4);
    expect_refused(ctx, path, "huge_length.safetensors", "exceeds the limit");
    /* one byte short of the header: the JSON is cut, not the length */
    snprintf(path, sizeof path, "%s/cut_json.safetensors", dir);
    write_st(path, strlen(ok_header) - 1, ok_header, 0);
    expect_refused(ctx, path, "cut_json.safetensors", "malformed header JSON");
    nst_ctx_destroy(ctx);
}

Test(safetensors, valid_edge_cases_accepted) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    /* no tensors at all; padding after the JSON; escapes decoded in names */
    snprintf(path, sizeof path, "%s/none.safetensors", dir);
    write_st(path, 2, "{}", 0);
    nst_st_file *f = nst_test_st_open(ctx, path);
    cr_assert_eq(nst_st_count(f), 0);
    cr_assert_null(nst_st_find(f, "a"));
    cr_assert_eq(nst_st_metadata_count(f), 0);
    nst_st_close(f);
    const char *h = "{\"caf\\u00e9\":{" T1 ",\"data_offsets\":[4,8]},"
                    "\"\\ud83d\\ude00\\/\\t\":{" T1 ",\"data_offsets\":[0,4]},"
                    "\"z\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[4,4]},"
                    "\"__metadata__\":{}}\n   ";
    snprintf(path, sizeof path, "%s/escapes.safetensors", dir);
    write_st(path, strlen(h), h, 8);
    f = nst_test_st_open(ctx, path);
    cr_assert_eq(nst_st_count(f), 3);
    /* by offset; at offset 4 the empty tensor comes before the 4-byte one */
    cr_assert_str_eq(nst_st_at(f, 0)->name, "\xf0\x9f\x98\x80/\t");
    cr_assert_str_eq(nst_st_at(f, 1)->name, "z");
    cr_assert_str_eq(nst_st_at(f, 2)->name, "caf\xc3\xa9");
    cr_assert_not_null(nst_st_find(f, "caf\xc3\xa9"));
    const unsigned char *d = nst_st_find(f, "caf\xc3\xa9")->data;
    cr_assert(d[0] == 4 && d[3] == 7, "data of the second range (write_st fills bytes 0, 1, 2...)");
    nst_st_close(f);
    nst_ctx_destroy(ctx);
}

Test(safetensors, open_errors) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    char dir[256], path[512];
    nst_test_tmpdir(dir, sizeof dir);
    nst_st_file *f = NULL;
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    cr_assert_eq(nst_st_open(ctx, path, &f), NST_ERR_IO);
    cr_assert_null(f);
    cr_assert(strstr(nst_last_error(ctx), "missing.safetensors") != NULL, "%s",
              nst_last_error(ctx));
    cr_assert_eq(nst_st_open(ctx, dir, &f), NST_ERR_IO, "a directory is not a file");
    cr_assert(strstr(nst_last_error(ctx), "not a regular file") != NULL, "%s", nst_last_error(ctx));
    cr_assert_eq(nst_st_open(ctx, path, NULL), NST_ERR_INVALID_ARG);
    cr_assert_eq(nst_st_open(ctx, NULL, &f), NST_ERR_INVALID_ARG);
    nst_st_close(NULL);
    nst_ctx_destroy(ctx);
}
