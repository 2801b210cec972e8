/* Batch manifests of `nstyle stylize --manifest` and `nstyle render --manifest`
 * (src/host/cli/manifest.c): reading the tab-separated file, which shard of it this process
 * takes (--shard I/N, a Slurm array task, a Kubernetes indexed Job), the thread count, the
 * summary's name, and where a job's child writes its output first (the cleaning of what a
 * killed run left is temporaries.h's). Plain C with no state; the run itself is
 * manifest_run.c's. Nothing here prints. Tested by tests/test_cli_manifest.c
 * (compiled in) and, end to end, tests/scripts/test_slurm.sh (docs/cluster.md). */
#ifndef NSTYLE_CLI_MANIFEST_H
#define NSTYLE_CLI_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

enum { NST_MANIFEST_MAX_FIELDS = 3 };

typedef struct {
    int line;                               /* in the file, from 1 */
    char *field[NST_MANIFEST_MAX_FIELDS];   /* stylize: input, output; render: content, style,
                                               output */
    char **opts;                            /* the further fields, each "--name[=value]" */
    int n_opts;
} nst_cli_manifest_job;

typedef struct {
    nst_cli_manifest_job *jobs;
    int n, fields;
} nst_cli_manifest;

/* Reads path: one job a line, `fields` tab-separated fields (none empty) and then any number
 * of options "--name=value" or "--flag"; blank lines and lines starting with '#' are skipped,
 * a CR before the newline ignored. Returns 0; 1 when the file cannot be read; 2 when a line is
 * malformed, no job is listed, or two jobs share an output (the last field): err names the
 * file, the line and what is wrong. */
int nst_cli_manifest_read(const char *path, int fields, nst_cli_manifest *m, char *err,
                          size_t err_size);
void nst_cli_manifest_free(nst_cli_manifest *m);

/* Which jobs this process takes: those with index % count == index (job indices from 0 in
 * file order). */
typedef struct {
    int index, count;   /* 0 <= index < count */
    const char *source; /* "--shard", "slurm", "kubernetes", or "none" (all jobs) */
} nst_cli_shard;

/* From --shard "I/N" (1 <= I <= N) when option is not NULL; else from Slurm's
 * SLURM_ARRAY_TASK_ID: (ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP of
 * SLURM_ARRAY_TASK_COUNT (an array with gaps is refused: it needs --shard); else from
 * JOB_COMPLETION_INDEX (from 0) of NSTYLE_SHARD_COUNT; else every job. Returns 0, or 2 with
 * err saying which value is wrong. */
int nst_cli_shard_resolve(const char *option, nst_cli_shard *s, char *err, size_t err_size);
bool nst_cli_shard_takes(const nst_cli_shard *s, int job);

/* The CPU thread count: --threads (option, not NULL), else SLURM_CPUS_PER_TASK, else the
 * online cores; *source is "--threads", "SLURM_CPUS_PER_TASK" or "cores". Returns 0, or 2 with
 * err naming the bad value. */
int nst_cli_threads_resolve(const char *option, int *threads, const char **source, char *err,
                            size_t err_size);

/* The shard's JSON summary: --json's path (option) with "{shard}" replaced by "I-of-N" (1-based),
 * or by default MANIFEST.shard-I-of-N.json. Returns 0, or 2 when option names one file for
 * several shards (no "{shard}" in it while N > 1). */
int nst_cli_manifest_summary_path(const char *option, const char *manifest,
                                  const nst_cli_shard *s, char *buf, size_t size, char *err,
                                  size_t err_size);

/* Where a job's child process writes its result before it is renamed to output: OUTPUT.tmp-
 * PID-job followed by output's extension (so the format is the same). */
void nst_cli_manifest_temp_output(const char *output, long pid, char *buf, size_t size);

#endif
