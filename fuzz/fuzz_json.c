/* libFuzzer target: the strict JSON parser (src/host/json.c) on arbitrary bytes, at the nesting
 * limit the safetensors reader uses. Besides crashes, leaks and undefined behaviour (ASan, UBSan)
 * it checks what json.h promises of an accepted document: every string and key is valid UTF-8
 * and NUL-terminated at its length, no object holds a key twice, integers agree with their double
 * value; and that a document written back (strings through nst__json_put_string, numbers exactly)
 * parses to the same tree. A refusal must leave the tree empty and say where it failed.
 * Run by fuzz/run.sh json N; seeds in fuzz/corpus/json. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_support.h"
#include "json.h"

#define DEPTH 16 /* safetensors.c's ST_MAX_DEPTH */

static bool same_key(const nst__json_member *a, const nst__json_member *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

static void check_tree(const nst__json *v) {
    switch (v->type) {
    case NST__JSON_STRING:
        fuzz_require(v->str && v->str[v->str_len] == '\0', "string not NUL-terminated");
        fuzz_require(nst__utf8_valid(v->str, v->str_len), "string is not valid UTF-8");
        break;
    case NST__JSON_NUMBER:
        if (v->is_int)
            fuzz_require(v->number == (double)v->integer, "integer and double disagree");
        break;
    case NST__JSON_ARRAY:
        for (size_t i = 0; i < v->count; i++)
            check_tree(&v->items[i]);
        break;
    case NST__JSON_OBJECT:
        for (size_t i = 0; i < v->count; i++) {
            const nst__json_member *m = &v->members[i];
            fuzz_require(m->key && m->key[m->key_len] == '\0', "key not NUL-terminated");
            fuzz_require(nst__utf8_valid(m->key, m->key_len), "key is not valid UTF-8");
            for (size_t j = 0; j < i && v->count <= 64; j++)
                fuzz_require(!same_key(&v->members[j], m), "duplicate key accepted");
            check_tree(&m->value);
        }
        break;
    default:
        break;
    }
}

/* A string with NULs, which nst__json_put_string (NUL-terminated input) cannot take. */
static void put_bytes_escaped(nst__strbuf *b, const char *s, size_t n) {
    nst__strbuf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c < 0x20 || c == '"' || c == '\\') {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            nst__strbuf_put(b, esc, 6);
        } else {
            nst__strbuf_put(b, s + i, 1);
        }
    }
    nst__strbuf_put(b, "\"", 1);
}

static void put_string(nst__strbuf *b, const char *s, size_t n) {
    if (strlen(s) == n)
        nst__json_put_string(b, s);
    else
        put_bytes_escaped(b, s, n);
}

static void write_tree(nst__strbuf *b, const nst__json *v) {
    char num[64];
    switch (v->type) {
    case NST__JSON_NULL:
        nst__strbuf_puts(b, "null");
        break;
    case NST__JSON_BOOL:
        nst__strbuf_puts(b, v->boolean ? "true" : "false");
        break;
    case NST__JSON_NUMBER:
        if (v->is_int)
            snprintf(num, sizeof num, "%" PRId64, v->integer);
        else if (isfinite(v->number))
            snprintf(num, sizeof num, "%.17e", v->number); /* exact, and never an integer */
        else
            snprintf(num, sizeof num, "%s1e999", v->number < 0 ? "-" : "");
        nst__strbuf_puts(b, num);
        break;
    case NST__JSON_STRING:
        put_string(b, v->str, v->str_len);
        break;
    case NST__JSON_ARRAY:
        nst__strbuf_puts(b, "[");
        for (size_t i = 0; i < v->count; i++) {
            if (i)
                nst__strbuf_puts(b, ",");
            write_tree(b, &v->items[i]);
        }
        nst__strbuf_puts(b, "]");
        break;
    case NST__JSON_OBJECT:
        nst__strbuf_puts(b, "{");
        for (size_t i = 0; i < v->count; i++) {
            if (i)
                nst__strbuf_puts(b, ",");
            put_string(b, v->members[i].key, v->members[i].key_len);
            nst__strbuf_puts(b, ":");
            write_tree(b, &v->members[i].value);
        }
        nst__strbuf_puts(b, "}");
        break;
    }
}

static bool same_tree(const nst__json *a, const nst__json *b) {
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case NST__JSON_BOOL:
        return a->boolean == b->boolean;
    case NST__JSON_NUMBER:
        if (a->is_int != b->is_int || (a->is_int && a->integer != b->integer))
            return false;
        return a->number == b->number || (isnan(a->number) && isnan(b->number));
    case NST__JSON_STRING:
        return a->str_len == b->str_len && memcmp(a->str, b->str, a->str_len) == 0;
    case NST__JSON_ARRAY:
        if (a->count != b->count)
            return false;
        for (size_t i = 0; i < a->count; i++)
            if (!same_tree(&a->items[i], &b->items[i]))
                return false;
        return true;
    case NST__JSON_OBJECT:
        if (a->count != b->count)
            return false;
        for (size_t i = 0; i < a->count; i++)
            if (!same_key(&a->members[i], &b->members[i]) ||
                !same_tree(&a->members[i].value, &b->members[i].value))
                return false;
        return true;
    default:
        return true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    (void)nst__utf8_valid(text, size);
    nst__json v;
    char err[256];
    if (!nst__json_parse(text, size, DEPTH, &v, err, sizeof err)) {
        fuzz_require(v.type == NST__JSON_NULL && v.count == 0 && !v.str && !v.items &&
                         !v.members,
                     "a refusal left a tree behind");
        fuzz_require(strncmp(err, "at byte ", 8) == 0, "a refusal does not say where");
        return 0;
    }
    check_tree(&v);
    nst__strbuf b = {0};
    write_tree(&b, &v);
    fuzz_require(!b.failed, "out of memory writing the tree back");
    nst__json again;
    fuzz_require(nst__json_parse(b.data ? b.data : "", b.len, DEPTH, &again, err, sizeof err),
                 "the document written back does not parse");
    fuzz_require(same_tree(&v, &again), "the document written back parses differently");
    nst__json_release(&again);
    nst__strbuf_free(&b);
    nst__json_release(&v);
    return 0;
}
