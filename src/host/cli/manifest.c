/* Batch manifests: the file, the shard, the thread count, the summary's name and the jobs'
 * temporary outputs (manifest.h). */
#define _GNU_SOURCE /* getline, strndup */
#include "manifest.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A whole number in [lo, hi] from s (digits only): true and *out, else false. */
static bool whole(const char *s, long lo, long hi, long *out) {
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
        return false;
    const long v = strtol(s, NULL, 10);
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* ---- the file -------------------------------------------------------------------------------- */

static void job_free(nst_cli_manifest_job *j) {
    for (int k = 0; k < NST_MANIFEST_MAX_FIELDS; k++)
        free(j->field[k]);
    for (int k = 0; k < j->n_opts; k++)
        free(j->opts[k]);
    free(j->opts);
}

void nst_cli_manifest_free(nst_cli_manifest *m) {
    for (int i = 0; i < m->n; i++)
        job_free(&m->jobs[i]);
    free(m->jobs);
    m->jobs = NULL;
    m->n = 0;
}

/* Splits one line (no newline) into j: 0, or 2 with err. */
static int parse_line(const char *path, int line, char *text, int fields,
                      nst_cli_manifest_job *j, char *err, size_t err_size) {
    j->line = line;
    int n = 0;
    for (char *p = text;; n++) {
        char *tab = strchr(p, '\t');
        const size_t len = tab ? (size_t)(tab - p) : strlen(p);
        if (len == 0) {
            snprintf(err, err_size, "%s, line %d: field %d is empty (fields are separated by one "
                     "tab)", path, line, n + 1);
            return 2;
        }
        if (n >= fields && (len < 3 || strncmp(p, "--", 2) != 0)) {
            snprintf(err, err_size, "%s, line %d: field %d '%.*s' is not an option: after the "
                     "%d paths, each field is one --name=value or --flag", path, line, n + 1,
                     (int)len, p, fields);
            return 2;
        }
        char *copy = strndup(p, len);
        char **more = n >= fields ? realloc(j->opts, (size_t)(j->n_opts + 1) * sizeof *more)
                                  : j->opts;
        if (!copy || (n >= fields && !more)) {
            free(copy);
            snprintf(err, err_size, "%s: out of memory", path);
            return 1;
        }
        if (n < fields) {
            j->field[n] = copy;
        } else {
            j->opts = more;
            j->opts[j->n_opts++] = copy;
        }
        if (!tab)
            break;
        p = tab + 1;
    }
    if (n + 1 < fields) {
        snprintf(err, err_size, "%s, line %d: %d field%s, want %d (%s) tab-separated", path, line,
                 n + 1, n ? "s" : "", fields,
                 fields == 2 ? "input, output" : "content, style, output");
        return 2;
    }
    return 0;
}

int nst_cli_manifest_read(const char *path, int fields, nst_cli_manifest *m, char *err,
                          size_t err_size) {
    memset(m, 0, sizeof *m);
    m->fields = fields;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "cannot read the manifest '%s': %s", path, strerror(errno));
        return 1;
    }
    char *text = NULL;
    size_t cap = 0;
    ssize_t len;
    int line = 0, rc = 0, room = 0;
    while (rc == 0 && (len = getline(&text, &cap, f)) >= 0) {
        line++;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            text[--len] = '\0';
        if (len == 0 || text[0] == '#' || strspn(text, " \t") == (size_t)len)
            continue;
        if (m->n == room) {
            room = room ? 2 * room : 64;
            nst_cli_manifest_job *more = realloc(m->jobs, (size_t)room * sizeof *more);
            if (!more) {
                snprintf(err, err_size, "%s: out of memory", path);
                rc = 1;
                break;
            }
            m->jobs = more;
        }
        nst_cli_manifest_job *j = &m->jobs[m->n++];
        memset(j, 0, sizeof *j);
        rc = parse_line(path, line, text, fields, j, err, err_size);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, err_size, "cannot read the manifest '%s': %s", path, strerror(errno));
        rc = 1;
    }
    free(text);
    fclose(f);
    if (rc == 0 && m->n == 0) {
        snprintf(err, err_size, "%s lists no job (one a line: %s, tab-separated)", path,
                 fields == 2 ? "input, output" : "content, style, output");
        rc = 2;
    }
    for (int i = 0; rc == 0 && i < m->n; i++) /* quadratic, but a manifest is read once */
        for (int k = 0; rc == 0 && k < i; k++)
            if (strcmp(m->jobs[i].field[fields - 1], m->jobs[k].field[fields - 1]) == 0) {
                snprintf(err, err_size, "%s, lines %d and %d: both write '%s'", path,
                         m->jobs[k].line, m->jobs[i].line, m->jobs[i].field[fields - 1]);
                rc = 2;
            }
    if (rc != 0)
        nst_cli_manifest_free(m);
    return rc;
}

/* ---- the shard ------------------------------------------------------------------------------- */

bool nst_cli_shard_takes(const nst_cli_shard *s, int job) { return job % s->count == s->index; }

static int bad_env(const char *name, const char *value, const char *why, char *err,
                   size_t err_size) {
    snprintf(err, err_size, "%s='%s' %s", name, value ? value : "", why);
    return 2;
}

static int shard_from_slurm(const char *id_text, nst_cli_shard *s, char *err, size_t err_size) {
    const char *names[3] = {"SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP",
                            "SLURM_ARRAY_TASK_COUNT"};
    long id, v[3];
    if (!whole(id_text, 0, INT_MAX, &id))
        return bad_env("SLURM_ARRAY_TASK_ID", id_text, "is not a task index", err, err_size);
    for (int k = 0; k < 3; k++) {
        const char *t = getenv(names[k]);
        if (k == 1 && !t) { /* Slurm leaves the step out of some arrays: 1 */
            v[k] = 1;
            continue;
        }
        if (!whole(t, k == 0 ? 0 : 1, INT_MAX, &v[k]))
            return bad_env(names[k], t, t ? "is not a whole number of the right range"
                                          : "is not set (Slurm sets it in an array task)",
                           err, err_size);
    }
    if (id < v[0] || (id - v[0]) % v[1] != 0 || (id - v[0]) / v[1] >= v[2]) {
        snprintf(err, err_size, "SLURM_ARRAY_TASK_ID %ld is not SLURM_ARRAY_TASK_MIN %ld + k * "
                 "SLURM_ARRAY_TASK_STEP %ld with k below SLURM_ARRAY_TASK_COUNT %ld: an array "
                 "with gaps (--array=1,4,9) needs --shard I/N", id, v[0], v[1], v[2]);
        return 2;
    }
    *s = (nst_cli_shard){(int)((id - v[0]) / v[1]), (int)v[2], "slurm"};
    return 0;
}

int nst_cli_shard_resolve(const char *option, nst_cli_shard *s, char *err, size_t err_size) {
    *s = (nst_cli_shard){0, 1, "none"};
    if (option) {
        const char *slash = strchr(option, '/');
        char first[16];
        long i, n;
        if (!slash || slash - option >= (long)sizeof first)
            return bad_env("--shard", option, "wants I/N, 1 <= I <= N (e.g. 2/8)", err,
                           err_size);
        snprintf(first, sizeof first, "%.*s", (int)(slash - option), option);
        if (!whole(slash + 1, 1, 1000000, &n) || !whole(first, 1, n, &i)) {
            snprintf(err, err_size, "--shard wants I/N with 1 <= I <= N (got '%s')", option);
            return 2;
        }
        *s = (nst_cli_shard){(int)i - 1, (int)n, "--shard"};
        return 0;
    }
    const char *id = getenv("SLURM_ARRAY_TASK_ID");
    if (id)
        return shard_from_slurm(id, s, err, err_size);
    const char *k8s = getenv("JOB_COMPLETION_INDEX");
    if (!k8s)
        return 0;
    long index, count;
    const char *count_text = getenv("NSTYLE_SHARD_COUNT");
    if (!whole(count_text, 1, 1000000, &count))
        return bad_env("NSTYLE_SHARD_COUNT", count_text,
                       count_text ? "is not a shard count (a whole number from 1)"
                                  : "is not set: with JOB_COMPLETION_INDEX, set it to the Job's "
                                    "completions",
                       err, err_size);
    if (!whole(k8s, 0, count - 1, &index)) {
        snprintf(err, err_size, "JOB_COMPLETION_INDEX='%s' is not an index from 0 below "
                 "NSTYLE_SHARD_COUNT %ld", k8s, count);
        return 2;
    }
    *s = (nst_cli_shard){(int)index, (int)count, "kubernetes"};
    return 0;
}

/* ---- threads, the summary, temporaries ------------------------------------------------------- */

int nst_cli_threads_resolve(const char *option, int *threads, const char **source, char *err,
                            size_t err_size) {
    long v;
    const char *slurm = getenv("SLURM_CPUS_PER_TASK");
    if (option) {
        if (!whole(option, 1, 1024, &v)) {
            snprintf(err, err_size, "--threads wants a whole number 1..1024 (got '%s')", option);
            return 2;
        }
        *source = "--threads";
    } else if (slurm) {
        if (!whole(slurm, 1, 1024, &v))
            return bad_env("SLURM_CPUS_PER_TASK", slurm, "is not a whole number 1..1024", err,
                           err_size);
        *source = "SLURM_CPUS_PER_TASK";
    } else {
        v = sysconf(_SC_NPROCESSORS_ONLN);
        v = v < 1 ? 1 : v > 1024 ? 1024 : v;
        *source = "cores";
    }
    *threads = (int)v;
    return 0;
}

int nst_cli_manifest_summary_path(const char *option, const char *manifest,
                                  const nst_cli_shard *s, char *buf, size_t size, char *err,
                                  size_t err_size) {
    char tag[48];
    snprintf(tag, sizeof tag, "%d-of-%d", s->index + 1, s->count);
    if (!option) {
        snprintf(buf, size, "%s.shard-%s.json", manifest, tag);
        return 0;
    }
    const char *at = strstr(option, "{shard}");
    if (!at && s->count > 1) {
        snprintf(err, err_size, "--json '%s' would be every shard's file: put {shard} in it "
                 "(e.g. summary-{shard}.json)", option);
        return 2;
    }
    if (!at)
        snprintf(buf, size, "%s", option);
    else
        snprintf(buf, size, "%.*s%s%s", (int)(at - option), option, tag, at + 7);
    return 0;
}

void nst_cli_manifest_temp_output(const char *output, long pid, char *buf, size_t size) {
    const char *slash = strrchr(output, '/');
    const char *dot = strrchr(slash ? slash + 1 : output, '.');
    snprintf(buf, size, "%s.tmp-%ld-job%s", output, pid, dot ? dot : "");
}
