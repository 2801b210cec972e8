/* SIGINT / SIGTERM handling shared by nstyle render and nstyle train (signals.h). Tested through
 * the commands: tests/test_cli_render.c and tests/test_train.c send both signals to real runs. */
#include "signals.h"

#include <string.h>

volatile sig_atomic_t nst_cli_cancel_signal;
static volatile sig_atomic_t deferred_signal; /* one that came while a guard was up */

static void on_signal(int sig) { nst_cli_cancel_signal = sig; }
static void on_signal_while_writing(int sig) { deferred_signal = sig; }

void nst_cli_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* the second one takes the default action: exit at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void nst_cli_write_guard_begin(nst_cli_write_guard *g) {
    if (g->up)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal_while_writing;
    sigemptyset(&sa.sa_mask);
    deferred_signal = 0;
    sigaction(SIGINT, &sa, &g->old_int);
    sigaction(SIGTERM, &sa, &g->old_term);
    g->up = true;
}

void nst_cli_write_guard_end(nst_cli_write_guard *g) {
    if (!g->up)
        return;
    g->up = false;
    sigaction(SIGINT, &g->old_int, NULL);
    sigaction(SIGTERM, &g->old_term, NULL);
    if (deferred_signal)
        raise(deferred_signal);
}
