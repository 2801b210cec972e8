/* What every command reports: the one JSON summary schema (--json FILE) and the progress display
 * on stderr. Part of the CLI, the only code that prints.
 *
 * The JSON summary is one object:
 *   {"schema": "nstyle-summary/1", "command": "render", "nstyle_version": "0.1.0",
 *    "ok": true, "error": null | "the message", "device": "cpu",
 *    ... the command's own fields ...,
 *    "memory": {"peak_bytes": {"weights": N, ..., "arena_slack": N, "total": N},
 *               "device_memory": {...} | null}}
 * Sizes are bytes, times seconds unless a key says ms. docs/json.md lists each command's fields. */
#ifndef NSTYLE_CLI_REPORT_H
#define NSTYLE_CLI_REPORT_H

#include "args.h" /* nst_cli_usage_error */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nstyle/nstyle.h"

/* ---- JSON summary ---------------------------------------------------------------------------- */

typedef struct nst_cli_json nst_cli_json;

/* Starts a summary for `command` (NULL when host memory runs out: every call below then does
 * nothing and nst_cli_json_write reports the failure). */
nst_cli_json *nst_cli_json_begin(const char *command);
void nst_cli_json_free(nst_cli_json *j);
/* Fields of the current object (the summary, or the one opened last). NaN and infinities are
 * written as null; strings are escaped. */
void nst_cli_json_str(nst_cli_json *j, const char *key, const char *value); /* NULL: null */
void nst_cli_json_num(nst_cli_json *j, const char *key, double value);
void nst_cli_json_int(nst_cli_json *j, const char *key, int64_t value);
void nst_cli_json_bool(nst_cli_json *j, const char *key, bool value);
void nst_cli_json_null(nst_cli_json *j, const char *key);
/* A nested object or array of numbers. */
void nst_cli_json_object_begin(nst_cli_json *j, const char *key);
void nst_cli_json_object_end(nst_cli_json *j);
void nst_cli_json_num_array(nst_cli_json *j, const char *key, const double *v, size_t n);
/* An array of objects: array_begin, then for each element item_begin, its fields and
 * object_end; then array_end. */
void nst_cli_json_array_begin(nst_cli_json *j, const char *key);
void nst_cli_json_item_begin(nst_cli_json *j);
void nst_cli_json_array_end(nst_cli_json *j);
/* The "memory" object from the context's tracker (peak bytes by tag, device memory). */
void nst_cli_json_memory(nst_cli_json *j, nst_ctx *ctx);
/* Adds "ok" and "error" (from ctx's last message when status is not NST_OK), "device", and writes
 * the summary to path atomically ("-" = stdout). Returns 0, or 1 after printing why to stderr. */
int nst_cli_json_write(nst_cli_json *j, nst_ctx *ctx, nst_status status, const char *path);
/* The same with "error" from `error` when it is not NULL or empty (a failure the CLI found,
 * such as ffmpeg's), else from ctx. */
int nst_cli_json_write_error(nst_cli_json *j, nst_ctx *ctx, nst_status status,
                             const char *error, const char *path);

/* ---- usage errors ---------------------------------------------------------------------------- */


/* ---- human summaries ----------------------------------------------------------------------- */

/* bytes as "512 B", "3.2 KiB", "81.4 MiB", "2.07 GiB" into buf. */
void nst_cli_format_bytes(size_t bytes, char *buf, size_t size);
/* One line "peak memory: weights 78.1 MiB, activations 42.0 MiB, ..., total 140.2 MiB" from the
 * context's tracker (tags with a zero peak left out), then, on a GPU, the device's
 * "device: 1.2 GiB free of 80.0 GiB, CUDA context and others 527 MiB". `indent` spaces first. */
void nst_cli_print_memory(FILE *out, nst_ctx *ctx, int indent);

/* ---- progress -------------------------------------------------------------------------------- */

/* A progress display on stderr: on a terminal one line redrawn in place (a bar, done/total, the
 * rate, the ETA and the caller's text); otherwise plain lines, at most one every `plain_every`
 * seconds plus the last; nothing when quiet. A total of 0 or less is unknown: the count and the
 * rate only. */
typedef struct {
    bool quiet, tty;
    const char *label; /* "iter", "image" */
    long total;
    double start, last_print, plain_every;
    int width; /* the last line's length, to clear it */
} nst_cli_progress;

void nst_cli_progress_start(nst_cli_progress *p, const char *label, long total, bool quiet);
/* done of total; `text` (may be NULL) follows the figures ("content 1.2e4 style 3.4e5"). */
void nst_cli_progress_update(nst_cli_progress *p, long done, const char *text);
/* Ends the display (a newline after the in-place line). */
void nst_cli_progress_finish(nst_cli_progress *p);
/* Seconds since an arbitrary fixed point (monotonic). */
double nst_cli_now(void);

#endif
