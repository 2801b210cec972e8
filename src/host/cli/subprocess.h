/* Child processes for the CLI (src/host/cli/subprocess.c): ffprobe and the ffmpeg decoder and
 * encoder of `nstyle stylize` on video files (video.c), the jobs of a manifest (manifest_run.c).
 * A program is started with fork and execvp (found on $PATH, no shell), its stdin and stdout
 * on pipes or /dev/null, its stderr always on a pipe that a thread of ours drains (so the child
 * never blocks on it) keeping the head and the last line for messages. Each child runs in a
 * process group of its own, with SIGINT, SIGTERM and SIGPIPE at their default actions and no
 * signal blocked: Ctrl-C at the terminal reaches nstyle only, which then decides how the
 * children end (the encoder finishes its file). A child is killed when the thread that started
 * it ends (PR_SET_PDEATHSIG), so nstyle killed with SIGKILL leaves no child writing on (tested
 * by tests/test_cli_hardening.c). Every descriptor of ours is close-on-exec, so no child holds
 * another child's pipe open. Part of the CLI; nothing here prints. Tested through
 * tests/test_cli_video.c. */
#ifndef NSTYLE_CLI_SUBPROCESS_H
#define NSTYLE_CLI_SUBPROCESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum { NST_CLI_PIPE_STDIN = 1, NST_CLI_PIPE_STDOUT = 2 };

typedef struct {
    pid_t pid;  /* 0 when not started */
    int in_fd;  /* our end of its stdin (we write), or -1 */
    int out_fd; /* our end of its stdout (we read), or -1 */
    int err_fd; /* the read end of its stderr, the stderr thread's */
    pthread_t err_thread;
    bool err_running; /* the stderr thread is to be joined */
    /* its stderr: the first bytes, the last line, the total */
    char err_head[2048];
    size_t err_head_len, err_total;
    char err_tail[512]; /* the last (or current) line */
    size_t err_tail_len;
    char err_last[512]; /* the last complete line */
    /* how it ended, once known */
    bool exited; /* the fields below are set (the child may still be a zombie) */
    bool reaped;
    int exit_code; /* or -1 when a signal ended it */
    int signal;
} nst_cli_proc;

/* Starts argv[0] (looked up on $PATH) with argv; pipes is a mask of NST_CLI_PIPE_*. Returns 0,
 * or the errno of the failure (ENOENT: no such program on $PATH). */
int nst_cli_proc_start(nst_cli_proc *p, const char *const *argv, int pipes);
/* Closes our end of its stdin: the child reads end of file. */
void nst_cli_proc_close_in(nst_cli_proc *p);
/* Waits until the child has exited and its stderr is read to the end, without reaping it (so
 * its pid cannot be reused while another thread may still signal it). */
void nst_cli_proc_wait_exit(nst_cli_proc *p);
/* Sends sig unless the child has been reaped. */
void nst_cli_proc_kill(nst_cli_proc *p, int sig);
/* Closes our pipe ends, waits for the child and reaps it: true when it exited with code 0.
 * Nothing (true) for a process never started; called again it answers the same. */
bool nst_cli_proc_finish(nst_cli_proc *p);
/* Whether its stderr had any text. */
bool nst_cli_proc_said_anything(const nst_cli_proc *p);
/* "ffmpeg: <first lines>; ...; <last line>" from its stderr, one line, or "ffmpeg exited with
 * code 1" / "ffmpeg was killed by signal 9" when it said nothing. name is the program's. */
void nst_cli_proc_message(const nst_cli_proc *p, const char *name, char *buf, size_t size);

/* read() until n bytes or end of file, retrying on EINTR: the bytes read, or -1 (errno set). */
long nst_cli_read_full(int fd, void *buf, size_t n);
/* write() all n bytes, retrying on EINTR: 0, or the errno of the failure (EPIPE: the reader is
 * gone; the caller ignores SIGPIPE). */
int nst_cli_write_full(int fd, const void *buf, size_t n);

#endif
