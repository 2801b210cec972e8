/* Strict JSON (RFC 8259) parser into a tree, plus string escaping for the writer; see json.h for
 * what "strict" covers. Recursive descent with an explicit depth limit, so hostile input cannot
 * exhaust the stack; duplicate keys are found by sorting each object's keys (n log n, so a
 * header with many tensors stays fast).
 * Tested through tests/test_safetensors.c and tests/test_safetensors_malformed.c (malformed
 * headers, escapes, round trips). */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *begin, *p, *end;
    int depth, max_depth;
    char *err;
    size_t err_size;
} parser;

static bool fail(parser *ps, const char *fmt, ...) {
    if (ps->err_size == 0)
        return false;
    int n = snprintf(ps->err, ps->err_size, "at byte %zu: ", (size_t)(ps->p - ps->begin));
    if (n >= 0 && (size_t)n < ps->err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->err_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes available), 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0; /* continuation byte, overlong 0xc0/0xc1, or past U+10FFFF */
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool nst__utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(u + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ---- strings ----------------------------------------------------------------------------- */

static bool read_hex4(parser *ps, uint32_t *out) {
    if (ps->end - ps->p < 4)
        return fail(ps, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = ps->p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return fail(ps, "invalid hex digit in \\u escape");
        v = (v << 4) | (uint32_t)d;
    }
    ps->p += 4;
    *out = v;
    return true;
}

/* After "\u": one code point, combining a surrogate pair. */
static bool read_unicode_escape(parser *ps, uint32_t *cp) {
    uint32_t hi, lo;
    if (!read_hex4(ps, &hi))
        return false;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return fail(ps, "unpaired low surrogate \\u%04X", (unsigned)hi);
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = hi;
        return true;
    }
    if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
        return fail(ps, "high surrogate \\u%04X not followed by a low surrogate", (unsigned)hi);
    ps->p += 2;
    if (!read_hex4(ps, &lo))
        return false;
    if (lo < 0xdc00 || lo > 0xdfff)
        return fail(ps, "high surrogate \\u%04X followed by \\u%04X", (unsigned)hi, (unsigned)lo);
    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    return true;
}

static bool read_escape(parser *ps, char *out, size_t *n) {
    char c = *ps->p++;
    uint32_t cp = 0;
    switch (c) {
    case '"':
    case '\\':
    case '/':
        out[0] = c;
        break;
    case 'b':
        out[0] = '\b';
        break;
    case 'f':
        out[0] = '\f';
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case 't':
        out[0] = '\t';
        break;
    case 'u':
        if (!read_unicode_escape(ps, &cp))
            return false;
        *n = utf8_encode(cp, out);
        return true;
    default:
        ps->p--;
        return fail(ps, "invalid escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
    }
    *n = 1;
    return true;
}

/* ps->p at the opening quote. The decoded text is never longer than the raw text, so the raw
 * length up to the closing quote sizes the buffer. */
static bool parse_string(parser *ps, char **out, size_t *out_len) {
    const char *start = ps->p++;
    const char *q = ps->p;
    while (q < ps->end && *q != '"')
        q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    if (q >= ps->end) {
        ps->p = start;
        return fail(ps, "unterminated string");
    }
    char *buf = malloc((size_t)(q - ps->p) + 1);
    if (!buf)
        return fail(ps, "out of memory");
    size_t len = 0;
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) {
            free(buf);
            return fail(ps, "unescaped control character 0x%02x in string", c);
        }
        if (c == '\\') {
            ps->p++;
            size_t n = 0;
            if (!read_escape(ps, buf + len, &n)) {
                free(buf);
                return false;
            }
            len += n;
            continue;
        }
        size_t n = utf8_sequence((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
        if (n == 0) {
            free(buf);
            return fail(ps, "invalid UTF-8 in string");
        }
        memcpy(buf + len, ps->p, n);
        len += n;
        ps->p += n;
    }
    ps->p++; /* closing quote */
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return true;
}

/* ---- numbers and literals ---------------------------------------------------------------- */

static bool is_digit(const parser *ps) { return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9'; }

static bool parse_number(parser *ps, nst__json *v) {
    const char *start = ps->p;
    bool negative = false, integral = true, overflow = false;
    uint64_t magnitude = 0;
    if (*ps->p == '-') {
        negative = true;
        ps->p++;
    }
    if (!is_digit(ps))
        return fail(ps, "invalid number");
    if (*ps->p == '0') {
        ps->p++;
        if (is_digit(ps))
            return fail(ps, "leading zero in number");
    } else {
        for (; is_digit(ps); ps->p++) {
            uint64_t d = (uint64_t)(*ps->p - '0');
            if (magnitude > (UINT64_MAX - d) / 10)
                overflow = true;
            else
                magnitude = magnitude * 10 + d;
        }
    }
    if (ps->p < ps->end && *ps->p == '.') {
        integral = false;
        ps->p++;
        if (!is_digit(ps))
            return fail(ps, "digit expected after '.'");
        while (is_digit(ps))
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        integral = false;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (!is_digit(ps))
            return fail(ps, "digit expected in exponent");
        while (is_digit(ps))
            ps->p++;
    }
    v->type = NST__JSON_NUMBER;
    const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (integral && !overflow && magnitude <= limit) {
        v->is_int = true;
        v->integer = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
        v->number = (double)v->integer;
        return true;
    }
    char small[64];
    size_t n = (size_t)(ps->p - start);
    char *text = n < sizeof small ? small : malloc(n + 1);
    if (!text)
        return fail(ps, "out of memory");
    memcpy(text, start, n);
    text[n] = '\0';
    v->number = strtod(text, NULL);
    if (text != small)
        free(text);
    return true;
}

static bool parse_literal(parser *ps, nst__json *v) {
    static const struct {
        const char *word;
        nst__json_type type;
        bool value;
    } words[] = {{"true", NST__JSON_BOOL, true},
                 {"false", NST__JSON_BOOL, false},
                 {"null", NST__JSON_NULL, false}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, words[i].word, n) == 0) {
            ps->p += n;
            v->type = words[i].type;
            v->boolean = words[i].value;
            return true;
        }
    }
    unsigned char c = (unsigned char)*ps->p;
    if (c >= 0x20 && c < 0x7f)
        return fail(ps, "unexpected character '%c'", c);
    return fail(ps, "unexpected byte 0x%02x", c);
}

/* ---- containers -------------------------------------------------------------------------- */

static bool parse_value(parser *ps, nst__json *v);

/* Grows *arr (elements of size elem) so that index count fits. */
static bool grow(void **arr, size_t *cap, size_t count, size_t elem) {
    if (count < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static bool enter(parser *ps) {
    if (++ps->depth > ps->max_depth)
        return fail(ps, "nesting deeper than %d levels", ps->max_depth);
    ps->p++; /* '[' or '{' */
    return true;
}

static bool parse_array(parser *ps, nst__json *v) {
    if (!enter(ps))
        return false;
    v->type = NST__JSON_ARRAY;
    size_t cap = 0;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        ps->depth--;
        return true;
    }
    for (;;) {
        if (!grow((void **)&v->items, &cap, v->count, sizeof *v->items))
            return fail(ps, "out of memory");
        if (!parse_value(ps, &v->items[v->count])) {
            nst__json_release(&v->items[v->count]); /* not yet counted in v */
            return false;
        }
        v->count++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            ps->depth--;
            return true;
        }
        return fail(ps, ps->p < ps->end ? "expected ',' or ']'" : "unexpected end inside an array");
    }
}

static int cmp_member_key(const void *a, const void *b) {
    const nst__json_member *x = *(const nst__json_member *const *)a;
    const nst__json_member *y = *(const nst__json_member *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Sorts pointers to the members by key and compares neighbours. */
static bool check_duplicates(parser *ps, const nst__json *v, const char *object_start) {
    if (v->count < 2)
        return true;
    const nst__json_member **sorted = malloc(v->count * sizeof *sorted);
    if (!sorted)
        return fail(ps, "out of memory");
    for (size_t i = 0; i < v->count; i++)
        sorted[i] = &v->members[i];
    qsort(sorted, v->count, sizeof *sorted, cmp_member_key);
    const char *dup = NULL;
    for (size_t i = 1; i < v->count && !dup; i++)
        if (cmp_member_key(&sorted[i - 1], &sorted[i]) == 0)
            dup = sorted[i]->key;
    free(sorted);
    if (!dup)
        return true;
    ps->p = object_start;
    return fail(ps, "duplicate key \"%.200s\" in object", dup);
}

static bool parse_object(parser *ps, nst__json *v) {
    const char *start = ps->p;
    if (!enter(ps))
        return false;
    v->type = NST__JSON_OBJECT;
    size_t cap = 0;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->depth--;
        return true;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"')
            return fail(ps, ps->p < ps->end ? "expected a string key"
                                            : "unexpected end inside an object");
        if (!grow((void **)&v->members, &cap, v->count, sizeof *v->members))
            return fail(ps, "out of memory");
        nst__json_member *m = &v->members[v->count];
        memset(m, 0, sizeof *m);
        if (!parse_string(ps, &m->key, &m->key_len))
            return false;
        v->count++; /* from here the member is owned by v, so release() frees its key */
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return fail(ps, "expected ':' after key");
        ps->p++;
        if (!parse_value(ps, &m->value))
            return false;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            ps->depth--;
            return check_duplicates(ps, v, start);
        }
        return fail(ps,
                    ps->p < ps->end ? "expected ',' or '}'" : "unexpected end inside an object");
    }
}

/* On failure, *v may be partly built; the caller releases it. */
static bool parse_value(parser *ps, nst__json *v) {
    memset(v, 0, sizeof *v);
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end of input");
    switch (*ps->p) {
    case '{':
        return parse_object(ps, v);
    case '[':
        return parse_array(ps, v);
    case '"':
        v->type = NST__JSON_STRING;
        return parse_string(ps, &v->str, &v->str_len);
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps, v);
        return parse_literal(ps, v);
    }
}

bool nst__json_parse(const char *text, size_t len, int max_depth, nst__json *out, char *err,
                     size_t err_size) {
    parser ps = {text, text, text + len, 0, max_depth, err, err_size};
    if (err_size)
        err[0] = '\0';
    bool ok = parse_value(&ps, out);
    if (ok) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            ok = fail(&ps, "unexpected characters after the JSON value");
    }
    if (!ok)
        nst__json_release(out);
    return ok;
}

void nst__json_release(nst__json *v) {
    if (!v)
        return;
    free(v->str);
    for (size_t i = 0; v->items && i < v->count; i++)
        nst__json_release(&v->items[i]);
    free(v->items);
    for (size_t i = 0; v->members && i < v->count; i++) {
        free(v->members[i].key);
        nst__json_release(&v->members[i].value);
    }
    free(v->members);
    memset(v, 0, sizeof *v);
}

const nst__json *nst__json_find(const nst__json *obj, const char *key) {
    if (!obj || obj->type != NST__JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->count; i++)
        if (obj->members[i].key_len == n && memcmp(obj->members[i].key, key, n) == 0)
            return &obj->members[i].value;
    return NULL;
}

/* ---- writing ----------------------------------------------------------------------------- */

void nst__strbuf_put(nst__strbuf *b, const char *s, size_t n) {
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *p = realloc(b->data, ncap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void nst__strbuf_puts(nst__strbuf *b, const char *s) { nst__strbuf_put(b, s, strlen(s)); }

void nst__strbuf_free(nst__strbuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

void nst__json_put_string(nst__strbuf *b, const char *s) {
    nst__strbuf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        switch (c) {
        case '"':
            nst__strbuf_put(b, "\\\"", 2);
            break;
        case '\\':
            nst__strbuf_put(b, "\\\\", 2);
            break;
        case '\b':
            nst__strbuf_put(b, "\\b", 2);
            break;
        case '\f':
            nst__strbuf_put(b, "\\f", 2);
            break;
        case '\n':
            nst__strbuf_put(b, "\\n", 2);
            break;
        case '\r':
            nst__strbuf_put(b, "\\r", 2);
            break;
        case '\t':
            nst__strbuf_put(b, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                nst__strbuf_put(b, esc, 6);
            } else {
                nst__strbuf_put(b, (const char *)s, 1);
            }
        }
    }
    nst__strbuf_put(b, "\"", 1);
}
