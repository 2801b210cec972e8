/* The JSON summary, the progress display, usage errors and memory lines every command shares
 * (report.h).
 * Tested through the commands' CLI tests, which read back the JSON they write. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"

/* ---- JSON ------------------------------------------------------------------------------------ */

#define JSON_MAX_DEPTH 16

struct nst_cli_json {
    char *buf;
    size_t len, cap;
    bool failed;            /* out of host memory */
    int depth;
    bool first[JSON_MAX_DEPTH]; /* no member written yet at this depth */
};

static void put(nst_cli_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(nst_cli_json *j, const char *fmt, ...) {
    if (!j || j->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            j->failed = true;
            return;
        }
        if ((size_t)n < j->cap - j->len) {
            j->len += (size_t)n;
            return;
        }
        size_t cap = 2 * j->cap + (size_t)n + 64;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->failed = true;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
}

static void put_string(nst_cli_json *j, const char *s) {
    put(j, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            put(j, "\\%c", *c);
        else if (*c == '\n')
            put(j, "\\n");
        else if (*c == '\t')
            put(j, "\\t");
        else if (*c < 0x20)
            put(j, "\\u%04x", *c);
        else
            put(j, "%c", *c);
    }
    put(j, "\"");
}

static void key(nst_cli_json *j, const char *k) {
    if (!j)
        return;
    put(j, "%s\n%*s", j->first[j->depth] ? "" : ",", 2 * (j->depth + 1), "");
    j->first[j->depth] = false;
    put_string(j, k);
    put(j, ": ");
}

nst_cli_json *nst_cli_json_begin(const char *command) {
    nst_cli_json *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->first[0] = true;
    put(j, "{");
    nst_cli_json_str(j, "schema", "nstyle-summary/1");
    nst_cli_json_str(j, "command", command);
    nst_cli_json_str(j, "nstyle_version", nst_get_build_info().version);
    return j;
}

void nst_cli_json_free(nst_cli_json *j) {
    if (j)
        free(j->buf);
    free(j);
}

void nst_cli_json_str(nst_cli_json *j, const char *k, const char *value) {
    key(j, k);
    if (value)
        put_string(j, value);
    else
        put(j, "null");
}

void nst_cli_json_num(nst_cli_json *j, const char *k, double value) {
    key(j, k);
    if (isfinite(value))
        put(j, "%.17g", value);
    else
        put(j, "null");
}

void nst_cli_json_int(nst_cli_json *j, const char *k, int64_t value) {
    key(j, k);
    put(j, "%lld", (long long)value);
}

void nst_cli_json_bool(nst_cli_json *j, const char *k, bool value) {
    key(j, k);
    put(j, value ? "true" : "false");
}

void nst_cli_json_null(nst_cli_json *j, const char *k) {
    key(j, k);
    put(j, "null");
}

void nst_cli_json_object_begin(nst_cli_json *j, const char *k) {
    if (!j)
        return;
    key(j, k);
    put(j, "{");
    if (j->depth + 1 >= JSON_MAX_DEPTH) {
        j->failed = true;
        return;
    }
    j->first[++j->depth] = true;
}

void nst_cli_json_object_end(nst_cli_json *j) {
    if (!j || j->depth == 0)
        return;
    const bool empty = j->first[j->depth];
    j->depth--;
    if (empty)
        put(j, "}");
    else
        put(j, "\n%*s}", 2 * (j->depth + 1), "");
}

void nst_cli_json_array_begin(nst_cli_json *j, const char *k) {
    if (!j)
        return;
    key(j, k);
    put(j, "[");
    if (j->depth + 1 >= JSON_MAX_DEPTH) {
        j->failed = true;
        return;
    }
    j->first[++j->depth] = true;
}

void nst_cli_json_item_begin(nst_cli_json *j) {
    if (!j || j->depth + 1 >= JSON_MAX_DEPTH) {
        if (j)
            j->failed = true;
        return;
    }
    put(j, "%s\n%*s{", j->first[j->depth] ? "" : ",", 2 * (j->depth + 1), "");
    j->first[j->depth] = false;
    j->first[++j->depth] = true;
}

void nst_cli_json_array_end(nst_cli_json *j) {
    if (!j || j->depth == 0)
        return;
    const bool empty = j->first[j->depth];
    j->depth--;
    if (empty)
        put(j, "]");
    else
        put(j, "\n%*s]", 2 * (j->depth + 1), "");
}

void nst_cli_json_num_array(nst_cli_json *j, const char *k, const double *v, size_t n) {
    key(j, k);
    put(j, "[");
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i]))
            put(j, "%s%.17g", i ? ", " : "", v[i]);
        else
            put(j, "%snull", i ? ", " : "");
    }
    put(j, "]");
}

void nst_cli_json_memory(nst_cli_json *j, nst_ctx *ctx) {
    nst_tracker_snapshot s;
    nst_tracker_snapshot_get(ctx, &s);
    nst_cli_json_object_begin(j, "memory");
    nst_cli_json_object_begin(j, "peak_bytes");
    for (int t = 0; t < NST_TAG_COUNT; t++)
        nst_cli_json_int(j, nst_mem_tag_name((nst_mem_tag)t), (int64_t)s.peak[t]);
    nst_cli_json_int(j, "arena_slack", (int64_t)s.arena_slack_peak);
    nst_cli_json_int(j, "total", (int64_t)s.peak_total);
    nst_cli_json_object_end(j);
    if (s.has_device_info) {
        nst_cli_json_object_begin(j, "device_memory");
        nst_cli_json_int(j, "total", (int64_t)s.device_total);
        nst_cli_json_int(j, "free", (int64_t)s.device_free);
        nst_cli_json_int(j, "context_and_other", (int64_t)s.device_other);
        nst_cli_json_object_end(j);
    } else {
        nst_cli_json_null(j, "device_memory");
    }
    nst_cli_json_object_end(j);
}

int nst_cli_json_write(nst_cli_json *j, nst_ctx *ctx, nst_status status, const char *path) {
    return nst_cli_json_write_error(j, ctx, status, NULL, path);
}

int nst_cli_json_write_error(nst_cli_json *j, nst_ctx *ctx, nst_status status,
                             const char *error, const char *path) {
    if (!j || j->failed) {
        fprintf(stderr, "nstyle: out of host memory while writing the JSON summary\n");
        return 1;
    }
    while (j->depth > 0)
        nst_cli_json_object_end(j);
    nst_cli_json_bool(j, "ok", status == NST_OK);
    nst_cli_json_str(j, "error", status == NST_OK ? NULL
                                 : error && *error ? error : nst_last_error(ctx));
    nst_cli_json_str(j, "device", ctx ? nst_ctx_device_name(ctx) : NULL);
    put(j, "\n}\n");
    if (j->failed) {
        fprintf(stderr, "nstyle: out of host memory while writing the JSON summary\n");
        return 1;
    }
    if (strcmp(path, "-") == 0) {
        fwrite(j->buf, 1, j->len, stdout);
        fflush(stdout);
        return 0;
    }
    nst_ctx *own = ctx ? NULL : nst_ctx_create();
    nst_ctx *w = ctx ? ctx : own;
    nst_status st = w ? nst_write_file_atomic(w, path, j->buf, j->len) : NST_ERR_NO_MEMORY;
    if (st != NST_OK)
        fprintf(stderr, "nstyle: cannot write the JSON summary %s: %s\n", path,
                w ? nst_last_error(w) : "out of host memory");
    nst_ctx_destroy(own);
    return st == NST_OK ? 0 : 1;
}

/* ---- human summaries ----------------------------------------------------------------------- */

void nst_cli_format_bytes(size_t bytes, char *buf, size_t size) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        snprintf(buf, size, "%zu B", bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, v < 10 ? "%.2f %s" : "%.1f %s", v, units[u]);
}

void nst_cli_print_memory(FILE *out, nst_ctx *ctx, int indent) {
    nst_tracker_snapshot s;
    nst_tracker_snapshot_get(ctx, &s);
    char b[32];
    fprintf(out, "%*speak memory:", indent, "");
    for (int t = 0; t < NST_TAG_COUNT; t++) {
        if (!s.peak[t])
            continue;
        nst_cli_format_bytes(s.peak[t], b, sizeof b);
        fprintf(out, " %s %s,", nst_mem_tag_name((nst_mem_tag)t), b);
    }
    if (s.arena_slack_peak) {
        nst_cli_format_bytes(s.arena_slack_peak, b, sizeof b);
        fprintf(out, " arena slack %s,", b);
    }
    nst_cli_format_bytes(s.peak_total, b, sizeof b);
    fprintf(out, " total %s\n", b);
    if (s.has_device_info) {
        char total[32], other[32];
        nst_cli_format_bytes(s.device_free, b, sizeof b);
        nst_cli_format_bytes(s.device_total, total, sizeof total);
        nst_cli_format_bytes(s.device_other, other, sizeof other);
        fprintf(out, "%*sdevice: %s free of %s, CUDA context and others %s\n", indent, "", b,
                total, other);
    }
}

/* ---- progress -------------------------------------------------------------------------------- */

double nst_cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nst_cli_progress_start(nst_cli_progress *p, const char *label, long total, bool quiet) {
    memset(p, 0, sizeof *p);
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO) == 1;
    p->label = label;
    p->total = total;
    p->start = nst_cli_now();
    p->last_print = -1e30;
    p->plain_every = 2.0;
}

static void format_eta(double s, char *buf, size_t size) {
    if (!isfinite(s) || s < 0)
        snprintf(buf, size, "?");
    else if (s < 60)
        snprintf(buf, size, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

void nst_cli_progress_update(nst_cli_progress *p, long done, const char *text) {
    if (p->quiet)
        return;
    const double now = nst_cli_now(), elapsed = now - p->start;
    const bool known = p->total > 0, last = known && done >= p->total;
    if (!p->tty && !last && now - p->last_print < p->plain_every)
        return;
    if (p->tty && !last && now - p->last_print < 0.1)
        return;
    p->last_print = now;
    const double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    char eta[32];
    format_eta(rate > 0 ? (double)(p->total - done) / rate : NAN, eta, sizeof eta);
    char line[512];
    int n;
    if (!known) { /* no total: the count and the rate */
        n = snprintf(line, sizeof line, "%s %ld  %.2f %s/s%s%s", p->label, done, rate, p->label,
                     text ? "  " : "", text ? text : "");
        if (p->tty)
            fprintf(stderr, "\r%s%*s", line, p->width > n ? p->width - n : 0, "");
        else
            fprintf(stderr, "%s\n", line);
        p->width = p->tty ? n : 0;
    } else if (p->tty) {
        enum { BAR = 24 };
        char bar[BAR + 1];
        const int fill = p->total > 0 ? (int)(BAR * (double)done / (double)p->total) : 0;
        for (int i = 0; i < BAR; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR] = '\0';
        n = snprintf(line, sizeof line, "[%s] %s %ld/%ld  %.2f %s/s  ETA %s%s%s", bar, p->label,
                     done, p->total, rate, p->label, eta, text ? "  " : "", text ? text : "");
        fprintf(stderr, "\r%s%*s", line, p->width > n ? p->width - n : 0, "");
        p->width = n;
    } else {
        n = snprintf(line, sizeof line, "%s %ld/%ld  %.2f %s/s  ETA %s%s%s", p->label, done,
                     p->total, rate, p->label, eta, text ? "  " : "", text ? text : "");
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

void nst_cli_progress_finish(nst_cli_progress *p) {
    if (!p->quiet && p->tty && p->width > 0)
        fprintf(stderr, "\n");
    p->width = 0;
}
