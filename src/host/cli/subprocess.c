/* Child processes with pipes, spawned without a shell (subprocess.h).
 * Tested through tests/test_cli_video.c (ffprobe and ffmpeg runs, a missing ffmpeg, ffmpeg's
 * messages in nstyle's errors, Ctrl-C reaching nstyle and not the encoder). */
#define _GNU_SOURCE /* pipe2 */
#include "subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Drains the child's stderr: keeps the head, the current line and the last complete one. */
static void *err_main(void *arg) {
    nst_cli_proc *p = arg;
    const int fd = p->err_fd;
    char buf[1024];
    long n;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (long i = 0; i < n; i++) {
            const char c = buf[i];
            if (p->err_head_len + 1 < sizeof p->err_head)
                p->err_head[p->err_head_len++] = c;
            p->err_total++;
            if (c == '\n' || c == '\r') {
                if (p->err_tail_len > 0) {
                    memcpy(p->err_last, p->err_tail, p->err_tail_len);
                    p->err_last[p->err_tail_len] = '\0';
                }
                p->err_tail_len = 0;
            } else if (p->err_tail_len + 1 < sizeof p->err_tail) {
                p->err_tail[p->err_tail_len++] = c;
            }
        }
    }
    if (p->err_tail_len > 0) { /* a last line without a newline */
        memcpy(p->err_last, p->err_tail, p->err_tail_len);
        p->err_last[p->err_tail_len] = '\0';
    }
    p->err_head[p->err_head_len] = '\0';
    close(fd);
    return NULL;
}

/* fork and exec argv with in, out (-1: /dev/null) and err as its stdin, stdout and stderr, as
 * subprocess.h says. The child is killed when the thread that started it ends
 * (PR_SET_PDEATHSIG): nstyle killed with SIGKILL leaves no encoder writing on into a file the
 * next run has already cleaned up. Returns 0 with *pid, or the errno of the fork or the exec
 * (sent back on a close-on-exec pipe, as posix_spawnp would return it). */
static int spawn(pid_t *pid, const char *const *argv, int in, int out, int err) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0)
        return errno;
    const pid_t parent = getpid();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* no handler of ours runs in the child */
    const pid_t child = fork();
    if (child == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGINT, &dfl, NULL);
        sigaction(SIGTERM, &dfl, NULL);
        sigaction(SIGPIPE, &dfl, NULL);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* nstyle died before the line above */
            _exit(127);
        const int null = in < 0 || out < 0 ? open("/dev/null", O_RDWR) : -1;
        if (dup2(in >= 0 ? in : null, STDIN_FILENO) < 0 ||
            dup2(out >= 0 ? out : null, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) {
            const int e = errno;
            (void)!write(report[1], &e, sizeof e);
            _exit(127);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], (char *const *)argv);
        const int e = errno;
        (void)!write(report[1], &e, sizeof e);
        _exit(127);
    }
    int rc = child < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(report[1]);
    if (child > 0) {
        int e = 0;
        ssize_t n;
        while ((n = read(report[0], &e, sizeof e)) < 0 && errno == EINTR)
            continue;
        if (n == (ssize_t)sizeof e) { /* the exec failed */
            while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                continue;
            rc = e;
        } else {
            *pid = child;
        }
    }
    close(report[0]);
    return rc;
}

int nst_cli_proc_start(nst_cli_proc *p, const char *const *argv, int pipes) {
    memset(p, 0, sizeof *p);
    p->in_fd = p->out_fd = -1;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    int rc = 0;
    if (((pipes & NST_CLI_PIPE_STDIN) && pipe2(in, O_CLOEXEC) != 0) ||
        ((pipes & NST_CLI_PIPE_STDOUT) && pipe2(out, O_CLOEXEC) != 0) ||
        pipe2(err, O_CLOEXEC) != 0)
        rc = errno;
    if (rc == 0)
        rc = spawn(&p->pid, argv, in[0], out[1], err[1]);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    if (rc != 0) {
        p->pid = 0;
        close_fd(&in[1]);
        close_fd(&out[0]);
        close_fd(&err[0]);
        return rc;
    }
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->err_fd = err[0];
    if (pthread_create(&p->err_thread, NULL, err_main, p) == 0) {
        p->err_running = true;
    } else { /* no reader for its stderr: a message would end it with SIGPIPE, which says so */
        close(err[0]);
    }
    return 0;
}

void nst_cli_proc_close_in(nst_cli_proc *p) { close_fd(&p->in_fd); }

static void join_err(nst_cli_proc *p) {
    if (p->err_running)
        pthread_join(p->err_thread, NULL);
    p->err_running = false;
}

static void set_status(nst_cli_proc *p, int code, int sig) {
    p->exit_code = code;
    p->signal = sig;
    p->exited = true;
}

void nst_cli_proc_wait_exit(nst_cli_proc *p) {
    if (p->pid <= 0 || p->exited)
        return;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    while ((rc = waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOWAIT)) != 0 && errno == EINTR)
        ;
    if (rc != 0)
        set_status(p, -1, 0);
    else if (info.si_code == CLD_EXITED)
        set_status(p, info.si_status, 0);
    else
        set_status(p, -1, info.si_status);
    join_err(p);
}

void nst_cli_proc_kill(nst_cli_proc *p, int sig) {
    if (p->pid > 0 && !p->reaped)
        kill(p->pid, sig);
}

bool nst_cli_proc_finish(nst_cli_proc *p) {
    if (p->pid <= 0)
        return true;
    close_fd(&p->in_fd);
    close_fd(&p->out_fd);
    if (!p->reaped) {
        int status = 0;
        pid_t rc;
        while ((rc = waitpid(p->pid, &status, 0)) < 0 && errno == EINTR)
            ;
        if (!p->exited) {
            if (rc < 0)
                set_status(p, -1, 0);
            else if (WIFEXITED(status))
                set_status(p, WEXITSTATUS(status), 0);
            else
                set_status(p, -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        }
        p->reaped = true;
    }
    join_err(p);
    return p->exit_code == 0;
}

bool nst_cli_proc_said_anything(const nst_cli_proc *p) {
    for (size_t i = 0; i < p->err_head_len; i++)
        if (p->err_head[i] != '\n' && p->err_head[i] != '\r' && p->err_head[i] != ' ')
            return true;
    return false;
}

void nst_cli_proc_message(const nst_cli_proc *p, const char *name, char *buf, size_t size) {
    if (!nst_cli_proc_said_anything(p)) {
        if (p->signal)
            snprintf(buf, size, "%s was killed by signal %d (%s)", name, p->signal,
                     strsignal(p->signal));
        else
            snprintf(buf, size, "%s exited with code %d", name, p->exit_code);
        return;
    }
    /* up to 3 of the head's complete lines joined with "; ", then the last line when more */
    size_t used = (size_t)snprintf(buf, size, "%s: ", name);
    const char *s = p->err_head, *end = p->err_head + p->err_head_len;
    const bool head_is_all = p->err_head_len == p->err_total;
    const char *shown_last = NULL;
    size_t shown_len = 0;
    int lines = 0, shown = 0;
    for (; s < end; s++) {
        const char *nl = s;
        while (nl < end && *nl != '\n' && *nl != '\r')
            nl++;
        if (nl == end && !head_is_all)
            break; /* a line cut off by the head's size */
        const size_t len = (size_t)(nl - s);
        if (len > 0) {
            lines++;
            if (shown < 3 && used + 1 < size) {
                used += (size_t)snprintf(buf + used, size - used, "%s%.*s", shown ? "; " : "",
                                         (int)len, s);
                shown_last = s;
                shown_len = len;
                shown++;
            }
        }
        s = nl;
    }
    const bool more = lines > shown || !head_is_all;
    const bool last_shown = shown_last && shown_len == strlen(p->err_last) &&
                            strncmp(shown_last, p->err_last, shown_len) == 0;
    if (more && !last_shown && p->err_last[0] && used + 1 < size)
        snprintf(buf + used, size - used, "%s...; %s", shown ? "; " : "", p->err_last);
    else if (more && used + 1 < size)
        snprintf(buf + used, size - used, "; ...");
    /* ffmpeg's "[mov,mp4,m4a @ 0x55e5...]": the address tells the user nothing */
    for (char *at = strstr(buf, " @ 0x"); at; at = strstr(at, " @ 0x")) {
        char *e = at + 5;
        while ((*e >= '0' && *e <= '9') || (*e >= 'a' && *e <= 'f') || (*e >= 'A' && *e <= 'F'))
            e++;
        memmove(at, e, strlen(e) + 1);
    }
}

long nst_cli_read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        const ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    return (long)got;
}

int nst_cli_write_full(int fd, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        const ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        done += (size_t)r;
    }
    return 0;
}
