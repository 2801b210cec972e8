/* SIGINT / SIGTERM for the commands that run long (render, train; src/host/cli/signals.c): the
 * first one only sets nst_cli_cancel_signal, which the run polls (the library's cancel flag, or
 * a progress callback) to stop after its current step and write what it has; the second one
 * takes the default action and ends the process at once (SA_RESETHAND). Around a file write a
 * write guard holds signals back, process-wide (the CPU backend's OpenMP threads can receive
 * them too, so a per-thread mask would not do): while it is up a signal is only noted, and when
 * it comes down the dispositions are put back and a held-back signal is raised again, so it does
 * then what it would have done. */
#ifndef NSTYLE_CLI_SIGNALS_H
#define NSTYLE_CLI_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

extern volatile sig_atomic_t nst_cli_cancel_signal; /* the first SIGINT/SIGTERM, else 0 */

void nst_cli_signals_install(void);

typedef struct {
    struct sigaction old_int, old_term;
    bool up;
} nst_cli_write_guard;

void nst_cli_write_guard_begin(nst_cli_write_guard *g); /* nothing when it is up already */
void nst_cli_write_guard_end(nst_cli_write_guard *g); /* nothing when it is not up */

#endif
