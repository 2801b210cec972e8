/* Small strict JSON (RFC 8259) parser into a tree, and the pieces of a writer, for safetensors
 * headers. Internal to the library.
 *
 * Strict means: exactly one value with nothing but whitespace after it, no trailing commas, no
 * comments, no duplicate keys in any object, strings must be valid UTF-8 with control characters
 * escaped, \uXXXX escapes decoded (surrogate pairs combined, lone surrogates refused), and a
 * nesting limit. Numbers follow the JSON grammar; those written without fraction or exponent that
 * fit an int64 are also available exactly as integers.
 *
 * Tested through the safetensors reader and writer in tests/test_safetensors.c and
 * tests/test_safetensors_malformed.c. */
#ifndef NSTYLE_JSON_H
#define NSTYLE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    NST__JSON_NULL,
    NST__JSON_BOOL,
    NST__JSON_NUMBER,
    NST__JSON_STRING,
    NST__JSON_ARRAY,
    NST__JSON_OBJECT
} nst__json_type;

typedef struct nst__json nst__json;
typedef struct nst__json_member nst__json_member;

struct nst__json {
    nst__json_type type;
    bool boolean;              /* BOOL */
    bool is_int;               /* NUMBER without fraction/exponent, within int64 */
    int64_t integer;           /* NUMBER, when is_int */
    double number;             /* NUMBER (strtod: assumes the "C" numeric locale) */
    char *str;                 /* STRING: decoded UTF-8, NUL-terminated (may hold NULs) */
    size_t str_len;            /* STRING: bytes, without the terminator */
    size_t count;              /* ARRAY elements or OBJECT members */
    nst__json *items;          /* ARRAY: [count] */
    nst__json_member *members; /* OBJECT: [count], in document order */
};

struct nst__json_member {
    char *key; /* decoded UTF-8, NUL-terminated */
    size_t key_len;
    nst__json value;
};

/* Parses text[0, len) into *out. On failure returns false, leaves *out empty (NULL type) and
 * writes "at byte N: what was wrong" into err. max_depth bounds the nesting of arrays/objects. */
bool nst__json_parse(const char *text, size_t len, int max_depth, nst__json *out, char *err,
                     size_t err_size);
/* Frees everything *v owns (not v itself); *v becomes NULL type. */
void nst__json_release(nst__json *v);
/* The member value named key in an OBJECT, or NULL. */
const nst__json *nst__json_find(const nst__json *obj, const char *key);
/* Whether s[0, n) is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
bool nst__utf8_valid(const char *s, size_t n);

/* A growable text buffer; failed turns true (and stays) when an allocation fails. */
typedef struct {
    char *data; /* NUL-terminated when len > 0 */
    size_t len, cap;
    bool failed;
} nst__strbuf;

void nst__strbuf_put(nst__strbuf *b, const char *s, size_t n);
void nst__strbuf_puts(nst__strbuf *b, const char *s);
void nst__strbuf_free(nst__strbuf *b);
/* Appends s as a quoted JSON string: '"' and '\' escaped, control characters as \n, \t ... or
 * \u00XX, other bytes (UTF-8) as they are. */
void nst__json_put_string(nst__strbuf *b, const char *s);

#endif
