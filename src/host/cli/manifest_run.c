/* The run of a batch manifest (manifest_run.h): options, the check of every line, then the
 * shard's jobs as child processes, the skips, the renames and the summary. */
#define _GNU_SOURCE /* strsignal */
#include "manifest_run.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "manifest.h"
#include "nstyle/nstyle.h"
#include "report.h"
#include "signals.h"
#include "subprocess.h"
#include "temporaries.h"

bool nst_cli_manifest_asked(int argc, char **argv) {
    bool manifest = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return false;
        manifest = manifest || strcmp(argv[i], "--manifest") == 0 ||
                   strncmp(argv[i], "--manifest=", 11) == 0;
    }
    return manifest;
}

/* The options of the run itself, taken out of argv; the rest is every job's. */
typedef struct {
    const char *manifest, *shard, *json, *threads;
    bool quiet;
    char **common;
    int n_common;
} run_options;

/* argv[*i] is --name VALUE or --name=VALUE: *value set, *i past it; 1. Not it: 0. No value: -1. */
static int take(int argc, char **argv, int *i, const char *name, const char **value) {
    const size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return 0;
    if (argv[*i][len] == '=') {
        *value = argv[*i] + len + 1;
        return 1;
    }
    if (argv[*i][len] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

static int split_options(const char *command, int argc, char **argv, run_options *o) {
    static const char *const names[] = {"--manifest", "--shard", "--json", "--threads"};
    memset(o, 0, sizeof *o);
    o->common = calloc((size_t)argc + 1, sizeof *o->common);
    if (!o->common)
        return nst_cli_usage_error(command, "%s", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char **slots[] = {&o->manifest, &o->shard, &o->json, &o->threads};
        int hit = 0;
        for (int k = 0; k < 4 && !hit; k++)
            if ((hit = take(argc, argv, &i, names[k], slots[k])) < 0)
                return nst_cli_usage_error(command, "option '%s' needs a value", names[k]);
        if (!hit && strcmp(command, "render") == 0 && (hit = take(argc, argv, &i, "-t",
                                                                   &o->threads)) < 0)
            return nst_cli_usage_error(command, "option '%s' needs a value", "-t");
        if (!hit && strcmp(argv[i], "--quiet") == 0)
            o->quiet = true;
        else if (!hit)
            o->common[o->n_common++] = argv[i];
    }
    return -1;
}

/* ---- one job --------------------------------------------------------------------------------- */

enum { ST_PENDING, ST_DONE, ST_SKIPPED, ST_FAILED, ST_CANCELLED };
static const char *const status_names[] = {"pending", "done", "skipped", "failed", "cancelled"};

typedef struct {
    int status;
    double seconds; /* NaN when not run */
    char error[1024];
} job_result;

typedef struct {
    const nst_cli_manifest_command *cmd;
    const run_options *o;
    int threads;
    char exe[4096];
} runner;

/* The argv of a job: the command, each path after its flag (the output as `output`), the
 * command line's options, the threads, --quiet, the line's options. NULL without memory. */
static char **job_argv(const runner *r, const nst_cli_manifest_job *j, const char *output,
                       char *threads, bool with_exe, int *argc) {
    const int n = 4 + r->o->n_common + 2 + j->n_opts + 2 * r->cmd->fields + 1;
    char **v = calloc((size_t)n, sizeof *v);
    if (!v)
        return NULL;
    int k = 0;
    if (with_exe)
        v[k++] = (char *)r->exe;
    v[k++] = (char *)r->cmd->command;
    for (int f = 0; f < r->cmd->fields; f++) { /* first: a later -o or -s shows in the check */
        v[k++] = (char *)r->cmd->flags[f];
        v[k++] = f + 1 == r->cmd->fields ? (char *)output : j->field[f];
    }
    for (int i = 0; i < r->o->n_common; i++)
        v[k++] = r->o->common[i];
    v[k++] = "--threads";
    v[k++] = threads;
    v[k++] = "--quiet";
    for (int i = 0; i < j->n_opts; i++)
        v[k++] = j->opts[i];
    *argc = k;
    return v;
}

/* mkdir -p of path's folder; false with err. */
static bool make_folder_of(const char *path, char *err, size_t err_size) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return true;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        const bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
                snprintf(err, err_size, "cannot make the folder '%.900s': %s", dir,
                         strerror(errno));
                return false;
            }
            if (end)
                return true;
            *p = '/';
        }
    }
}

/* Waits for the child, passing a SIGINT or SIGTERM of ours on to it (once). */
static void wait_child(nst_cli_proc *p, bool *signalled) {
    for (;;) {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        const int rc = waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOHANG | WNOWAIT);
        if ((rc == 0 && info.si_pid == p->pid) || (rc != 0 && errno != EINTR))
            break;
        if (nst_cli_cancel_signal && !*signalled) {
            nst_cli_proc_kill(p, nst_cli_cancel_signal);
            *signalled = true;
        }
        usleep(20000);
    }
    nst_cli_proc_finish(p);
}

static void run_job(const runner *r, nst_ctx *ctx, const nst_cli_manifest_job *j,
                    job_result *res) {
    const char *output = j->field[r->cmd->fields - 1];
    res->seconds = 0;
    const double t0 = nst_cli_now();
    nst_cli_clean_temporaries(output);
    nst_image img = {0};
    if (nst_image_load(ctx, output, 0, &img) == NST_OK) { /* complete: it decodes */
        nst_image_free(&img);
        res->status = ST_SKIPPED;
        res->seconds = nst_cli_now() - t0;
        return;
    }
    res->status = ST_FAILED;
    if (!make_folder_of(output, res->error, sizeof res->error))
        return;
    char temp[4200], threads[16];
    nst_cli_manifest_temp_output(output, (long)getpid(), temp, sizeof temp);
    snprintf(threads, sizeof threads, "%d", r->threads);
    int argc;
    char **argv = job_argv(r, j, temp, threads, true, &argc);
    nst_cli_proc p;
    const int rc = argv ? nst_cli_proc_start(&p, (const char *const *)argv, 0) : ENOMEM;
    free(argv);
    if (rc != 0) {
        snprintf(res->error, sizeof res->error, "cannot start %.900s: %s", r->exe, strerror(rc));
        return;
    }
    bool signalled = false;
    wait_child(&p, &signalled);
    if (p.exit_code == 0) {
        nst_cli_write_guard g = {0};
        nst_cli_write_guard_begin(&g);
        if (rename(temp, output) == 0)
            res->status = ST_DONE;
        else
            snprintf(res->error, sizeof res->error, "cannot rename '%.450s' to '%.450s': %s", temp,
                     output, strerror(errno));
        nst_cli_write_guard_end(&g);
    } else if (signalled || p.exit_code == 130 || p.exit_code == 143) {
        res->status = ST_CANCELLED;
        snprintf(res->error, sizeof res->error, "stopped by %s",
                 strsignal(nst_cli_cancel_signal ? nst_cli_cancel_signal
                                                 : p.exit_code == 130 ? SIGINT : SIGTERM));
    } else if (p.err_last[0]) { /* the child's own message: "nstyle stylize: ..." */
        snprintf(res->error, sizeof res->error, "%s", p.err_last);
    } else {
        nst_cli_proc_message(&p, "nstyle", res->error, sizeof res->error);
    }
    nst_cli_clean_temporaries(output); /* a failed or stopped child's temporaries */
    res->seconds = nst_cli_now() - t0;
}

/* ---- the summary ----------------------------------------------------------------------------- */

typedef struct {
    const char *manifest_path, *summary_path, *threads_from;
    const nst_cli_manifest *m;
    const nst_cli_shard *shard;
    const int *mine; /* the shard's jobs, indices into m->jobs */
    int n_mine, threads, counts[5];
    const job_result *results;
    double seconds;
    bool finished;
} summary;

static int write_summary(const runner *r, nst_ctx *ctx, const summary *s) {
    nst_cli_json *j = nst_cli_json_begin(r->cmd->command);
    nst_cli_json_str(j, "manifest", s->manifest_path);
    nst_cli_json_int(j, "shard", s->shard->index + 1);
    nst_cli_json_int(j, "shards", s->shard->count);
    nst_cli_json_str(j, "shard_from", s->shard->source);
    nst_cli_json_int(j, "threads", s->threads);
    nst_cli_json_str(j, "threads_from", s->threads_from);
    nst_cli_json_int(j, "jobs_in_manifest", s->m->n);
    nst_cli_json_int(j, "jobs", s->n_mine);
    for (int k = 0; k < 5; k++)
        nst_cli_json_int(j, status_names[k], s->counts[k]);
    nst_cli_json_bool(j, "finished", s->finished);
    nst_cli_json_num(j, "seconds", s->seconds);
    nst_cli_json_array_begin(j, "results");
    for (int i = 0; i < s->n_mine; i++) {
        const nst_cli_manifest_job *job = &s->m->jobs[s->mine[i]];
        const job_result *res = &s->results[i];
        nst_cli_json_item_begin(j);
        nst_cli_json_int(j, "line", job->line);
        for (int f = 0; f < r->cmd->fields; f++)
            nst_cli_json_str(j, r->cmd->field_names[f], job->field[f]);
        nst_cli_json_str(j, "status", status_names[res->status]);
        nst_cli_json_num(j, "seconds", res->seconds);
        nst_cli_json_str(j, "error", res->error[0] ? res->error : NULL);
        nst_cli_json_object_end(j);
    }
    nst_cli_json_array_end(j);
    nst_cli_json_memory(j, ctx);
    char error[160] = "";
    if (s->counts[ST_FAILED])
        snprintf(error, sizeof error, "%d of %d jobs failed", s->counts[ST_FAILED], s->n_mine);
    else if (s->counts[ST_CANCELLED] || nst_cli_cancel_signal)
        snprintf(error, sizeof error, "stopped by %s",
                 nst_cli_cancel_signal ? strsignal(nst_cli_cancel_signal) : "a signal");
    nst_cli_write_guard g = {0};
    nst_cli_write_guard_begin(&g);
    const int rc = nst_cli_json_write_error(j, ctx, error[0] ? NST_ERR_IO : NST_OK, error,
                                            s->summary_path);
    nst_cli_write_guard_end(&g);
    nst_cli_json_free(j);
    return rc;
}

/* ---- the run --------------------------------------------------------------------------------- */

/* Every line through the command's parser: -1, or the exit code. */
static int check_all(const runner *r, const nst_cli_manifest *m) {
    char threads[16];
    snprintf(threads, sizeof threads, "%d", r->threads);
    for (int i = 0; i < m->n; i++) {
        const nst_cli_manifest_job *j = &m->jobs[i];
        int argc;
        char **argv = job_argv(r, j, j->field[m->fields - 1], threads, false, &argc);
        if (!argv)
            return nst_cli_usage_error(r->cmd->command, "%s", "out of memory");
        int rc = r->cmd->check(argc, argv, (const char *const *)j->field);
        free(argv);
        if (rc >= 0) {
            fprintf(stderr, "nstyle %s: the job on line %d of %s is refused (above)\n",
                    r->cmd->command, j->line, r->o->manifest);
            return rc == NST_EXIT_OK ? NST_EXIT_USAGE : rc;
        }
    }
    return -1;
}

static int run_all(runner *r, const nst_cli_manifest *m, summary *s, job_result *results,
                   int *mine) {
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx) {
        fprintf(stderr, "nstyle %s: out of memory\n", r->cmd->command);
        return NST_EXIT_FAILURE;
    }
    nst_cli_signals_install();
    const double t0 = nst_cli_now();
    for (int i = 0; i < m->n; i++)
        if (nst_cli_shard_takes(s->shard, i))
            mine[s->n_mine++] = i;
    s->counts[ST_PENDING] = s->n_mine;
    for (int i = 0; i < s->n_mine; i++)
        results[i] = (job_result){.status = ST_PENDING, .seconds = NAN};
    int rc = write_summary(r, ctx, s);
    for (int i = 0; rc == 0 && i < s->n_mine && !nst_cli_cancel_signal; i++) {
        const nst_cli_manifest_job *j = &m->jobs[mine[i]];
        run_job(r, ctx, j, &results[i]);
        s->counts[ST_PENDING]--;
        s->counts[results[i].status]++;
        s->seconds = nst_cli_now() - t0;
        const char *output = j->field[m->fields - 1];
        if (results[i].status == ST_FAILED)
            fprintf(stderr, "nstyle %s: %s, line %d (%s): %s\n", r->cmd->command, r->o->manifest,
                    j->line, output, results[i].error);
        else if (!r->o->quiet)
            printf("[%d/%d] line %d: %s %s in %.2f s\n", i + 1, s->n_mine, j->line, output,
                   status_names[results[i].status], results[i].seconds);
        fflush(stdout);
        rc = write_summary(r, ctx, s);
    }
    s->finished = true;
    s->seconds = nst_cli_now() - t0;
    if (rc == 0)
        rc = write_summary(r, ctx, s);
    if (!r->o->quiet)
        printf("shard %d/%d (%s): %d jobs: %d done, %d skipped, %d failed, %d not run; %d "
               "threads (%s); summary %s\n", s->shard->index + 1, s->shard->count,
               s->shard->source, s->n_mine, s->counts[ST_DONE], s->counts[ST_SKIPPED],
               s->counts[ST_FAILED], s->counts[ST_PENDING] + s->counts[ST_CANCELLED], s->threads,
               s->threads_from, s->summary_path);
    nst_ctx_destroy(ctx);
    if (rc != 0)
        return NST_EXIT_FAILURE;
    if (nst_cli_cancel_signal)
        return 128 + nst_cli_cancel_signal;
    return s->counts[ST_FAILED] ? NST_EXIT_FAILURE : NST_EXIT_OK;
}

int nst_cli_manifest_main(const nst_cli_manifest_command *cmd, int argc, char **argv) {
    run_options o;
    runner r = {.cmd = cmd, .o = &o};
    nst_cli_shard shard;
    summary s = {.shard = &shard};
    char err[1200], summary_path[4300];
    int rc = split_options(cmd->command, argc, argv, &o);
    if (rc < 0 && (!o.manifest || !o.manifest[0]))
        rc = nst_cli_usage_error(cmd->command, "%s", "--manifest wants a file");
    if (rc < 0 && (nst_cli_shard_resolve(o.shard, &shard, err, sizeof err) != 0 ||
                   nst_cli_threads_resolve(o.threads, &r.threads, &s.threads_from, err,
                                           sizeof err) != 0 ||
                   nst_cli_manifest_summary_path(o.json, o.manifest, &shard, summary_path,
                                                 sizeof summary_path, err, sizeof err) != 0))
        rc = nst_cli_usage_error(cmd->command, "%s", err);
    nst_cli_manifest m = {0};
    const int read = rc < 0 ? nst_cli_manifest_read(o.manifest, cmd->fields, &m, err,
                                                    sizeof err) : 0;
    if (read == 1) {
        fprintf(stderr, "nstyle %s: %s\n", cmd->command, err);
        rc = NST_EXIT_FAILURE;
    } else if (read == 2) {
        rc = nst_cli_usage_error(cmd->command, "%s", err);
    }
    const ssize_t len = rc < 0 ? readlink("/proc/self/exe", r.exe, sizeof r.exe - 1) : 0;
    if (rc < 0 && len <= 0) {
        fprintf(stderr, "nstyle %s: cannot find the nstyle program: %s\n", cmd->command,
                strerror(errno));
        rc = NST_EXIT_FAILURE;
    }
    if (rc < 0)
        r.exe[len] = '\0';
    if (rc < 0)
        rc = check_all(&r, &m);
    job_result *results = rc < 0 ? calloc((size_t)m.n, sizeof *results) : NULL;
    int *mine = rc < 0 ? calloc((size_t)m.n, sizeof *mine) : NULL;
    if (rc < 0 && (!results || !mine)) {
        fprintf(stderr, "nstyle %s: out of memory\n", cmd->command);
        rc = NST_EXIT_FAILURE;
    }
    if (rc < 0) {
        s.manifest_path = o.manifest;
        s.summary_path = summary_path;
        s.m = &m;
        s.mine = mine;
        s.results = results;
        s.threads = r.threads;
        rc = run_all(&r, &m, &s, results, mine);
    }
    free(results);
    free(mine);
    nst_cli_manifest_free(&m);
    free(o.common);
    return rc;
}
