/* The run of a batch manifest (src/host/cli/manifest_run.c), for `nstyle stylize --manifest`
 * and `nstyle render --manifest` (docs/cluster.md). Every line of the manifest is checked first
 * by the command's own option parser (a bad line is a usage error before any work); then each
 * job of this process's shard runs as a child process of the same nstyle, with the command
 * line's options, the thread count, --quiet and the line's options, writing its result to a
 * temporary file that is renamed to the output when the child succeeds. A job whose output
 * exists and decodes is skipped; the temporaries a killed run of the same output left are
 * removed first. A failed job does not stop the others. After each job the shard's JSON
 * summary is written again (atomically). SIGINT or SIGTERM is passed on to the running job and
 * stops the shard after it (its temporary removed); exit 0 when every job is done or skipped,
 * 1 when one failed, 2 usage error, 130/143 stopped by a signal. Tested by
 * tests/test_cli_manifest.c and tests/scripts/test_slurm.sh. */
#ifndef NSTYLE_CLI_MANIFEST_RUN_H
#define NSTYLE_CLI_MANIFEST_RUN_H

#include <stdbool.h>

typedef struct {
    const char *command;            /* "stylize" or "render" */
    int fields;                     /* the paths on a line, the output last */
    const char *const *flags;       /* the option each path is given to the child with */
    const char *const *field_names; /* the summary's key for each path */
    /* Parses argv as the command would, without running anything: -1 when it would run the
     * job with exactly these paths (field[k] is the very pointer in argv), else the exit code
     * after printing why. */
    int (*check)(int argc, char **argv, const char *const *field);
} nst_cli_manifest_command;

/* Whether argv (the command's, from its name) asks for a manifest run: --manifest without
 * --help. */
bool nst_cli_manifest_asked(int argc, char **argv);
/* The whole run; returns the exit code. */
int nst_cli_manifest_main(const nst_cli_manifest_command *cmd, int argc, char **argv);

#endif
