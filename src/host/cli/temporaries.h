/* The temporaries a killed run left (src/host/cli/temporaries.c). Every output is written to
 * "<output>.tmp-..." in its folder and renamed (nst__atomic_write, a video's ffmpeg file, a
 * manifest job's child); a SIGKILL leaves that file behind. Each command removes, before it
 * writes, the ones of the outputs it is about to write, and nothing else. Tested by
 * tests/test_cli_manifest.c (compiled in) and, through the commands, tests/test_cli_hardening.c.
 */
#ifndef NSTYLE_CLI_TEMPORARIES_H
#define NSTYLE_CLI_TEMPORARIES_H

/* Removes the regular files in output's folder whose names are output's own name followed by
 * ".tmp-" and at least one more character. Returns how many were removed, or -1 when the
 * folder cannot be read (a missing folder: nothing to remove). */
int nst_cli_clean_temporaries(const char *output);
/* The same for the numbered files of output (render --save-every's snapshots): the names
 * STEM_NNNNNN.EXT (six or more digits) of output STEM.EXT, followed by ".tmp-" and more. */
int nst_cli_clean_numbered_temporaries(const char *output);

#endif
