/* Interrupted runs and full disks, through the built CLI (src/host/cli/temporaries.c, the
 * atomic writes of src/host/atomic_file.c, SIGXFSZ ignored in src/host/cli/main.c):
 * - a rerun of stylize (a folder, a video), render (with --save-every) and train (with
 *   checkpoints) removes the "<output>.tmp-..." files a killed run left for the outputs it
 *   writes, and nothing else (files of other names planted next to them stay);
 * - past RLIMIT_FSIZE (EFBIG) and on a full tmpfs (ENOSPC; mounted in a mount namespace of its
 *   own, the test skips saying why where that is refused) render, stylize and train exit 1
 *   with one line on stderr naming the file and the cause, and leave neither the output nor a
 *   temporary.
 * Small sizes (32x24 images, 16-pixel training crops, two-layer VGG from tests/golden) keep it
 * to seconds. docs/hardening.md lists it in its table. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_files.h"
#include "test_images.h"
#include "test_support.h"
#include "test_transformer_model.h"

#define VGG NST_SOURCE_DIR "/tests/golden/train.safetensors" /* conv1_1 .. conv2_2 */

static char out[16384], err[16384];
static char dir[256], net[512];

static void setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(net, sizeof net, "%s/net.safetensors", dir);
    nst_test_tn_write(net, 5, &(nst_test_tn_options){.f16_convs = true});
}

TestSuite(hardening, .init = setup, .timeout = 300);

static const char *path_of(const char *name) { return nst_test_path_in(dir, name); }

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static void write_image(const char *path, int w, int h, uint64_t seed) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = nst_test_image_random(w, h, 3, seed);
    cr_assert_eq(nst_image_save(ctx, path, &img, 95), NST_OK, "%s", nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

static void expect_decodes(const char *path) {
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_expect_eq(nst_image_load(ctx, path, 0, &img), NST_OK, "%s", nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

/* Plants each of gone[] and kept[] (names in dir) as a half-written file; after the command ran
 * (exit 0), gone[] must be removed and kept[] still there. */
static void plant(const char *const *names) {
    for (; *names; names++)
        nst_test_write_bytes(path_of(*names), "half", 4);
}

static void expect_cleaned(const char *const *gone, const char *const *kept) {
    for (; *gone; gone++)
        cr_expect(!exists(path_of(*gone)), "%s was left", *gone);
    for (; *kept; kept++)
        cr_expect(exists(path_of(*kept)), "%s was removed", *kept);
}

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* In dir: content.png 32x24 and style.png 24x24 for render; photos/ and style.png for train. */
static void inputs(void) {
    write_image(path_of("content.png"), 32, 24, 1);
    write_image(path_of("style.png"), 24, 24, 2);
    mkdir(path_of("photos"), 0755);
    write_image(path_of("photos/a.png"), 24, 20, 3);
    write_image(path_of("photos/b.png"), 20, 24, 4);
}

#define RENDER(outp, ...)                                                                      \
    nst_test_run_cli((const char *const[]){"render", "-c", path_of("content.png"), "-s",       \
                                           path_of("style.png"), "-o", outp, "--model", VGG,  \
                                           "--content-layers", "relu2_2", "--style-layers",    \
                                           "relu1_2,relu2_2", "--iterations", "4",             \
                                           "--threads", "1", "-q", __VA_ARGS__, NULL},         \
                     out, sizeof out, err, sizeof err)

#define TRAIN(model, ...)                                                                      \
    nst_test_run_cli((const char *const[]){"train", "-s", path_of("style.png"), "--data",      \
                                           path_of("photos"), "-o", model, "-m", VGG,          \
                                           "--style-layers", "relu1_2,relu2_2", "--size",      \
                                           "16", "--batch", "2", "--steps", "2", "--threads",  \
                                           "1", "-q", __VA_ARGS__, NULL},                      \
                     out, sizeof out, err, sizeof err)

#define STYLIZE(in, outp)                                                                      \
    nst_test_run_cli((const char *const[]){"stylize", "-m", net, "-i", in, "-o", outp, "--quiet", \
                                           "--threads", "1", NULL},                            \
                     out, sizeof out, err, sizeof err)

/* ---- reruns remove what a killed run left --------------------------------------------------- */

Test(hardening, stylize_folder_rerun_removes_its_outputs_temporaries) {
    mkdir(path_of("frames"), 0755);
    mkdir(path_of("styled"), 0755);
    for (int i = 1; i <= 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "frames/frame_%04d.png", i);
        write_image(path_of(name), 16, 12, (uint64_t)i);
    }
    const char *const *gone = NAMES("styled/frame_0001.png.tmp-Ab12Cd",
                                    "styled/frame_0003.png.tmp-x9Y8z7");
    const char *const *kept = NAMES("styled/frame_0001.png.tmpx", "styled/frame_0001.png.tmp-",
                                    "styled/other.png.tmp-Ab12Cd", "styled/notes.txt",
                                    "frames/frame_0002.png.tmp-Ab12Cd");
    plant(gone);
    plant(kept);
    const int rc = STYLIZE(path_of("frames"), path_of("styled"));
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    expect_cleaned(gone, kept);
    expect_decodes(path_of("styled/frame_0001.png"));
    expect_decodes(path_of("styled/frame_0003.png"));
}

/* dir/name: a 64x48 clip of n frames at 10 fps made by ffmpeg; skips the test without it. */
static void make_clip(const char *name, int n) {
    if (system("ffmpeg -version >/dev/null 2>&1") != 0)
        cr_skip_test("ffmpeg is not installed (Debian: apt-get install ffmpeg; "
                     "scripts/install-deps.sh installs it)");
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -f lavfi -i testsrc=size=64x48:rate=10 "
             "-frames:v %d -pix_fmt yuv420p '%s'", n, path_of(name));
    cr_assert_eq(system(cmd), 0, "ffmpeg could not make %s", name);
}

Test(hardening, stylize_video_rerun_removes_its_outputs_temporaries) {
    make_clip("clip.mp4", 3);
    const char *const *gone = NAMES("out.mp4.tmp-Ab12Cd.mp4", "out.mp4.tmp-Zz");
    const char *const *kept = NAMES("out.mkv.tmp-Ab12Cd.mkv", "clip.mp4.tmp-Ab12Cd.mp4");
    plant(gone);
    plant(kept);
    const int rc = STYLIZE(path_of("clip.mp4"), path_of("out.mp4"));
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    expect_cleaned(gone, kept);
    cr_expect(exists(path_of("out.mp4")));
}

/* A process whose command line holds needle, other than this one: its pid, else 0. */
static int process_with(const char *needle) {
    DIR *d = opendir("/proc");
    int found = 0;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        const int pid = atoi(e->d_name);
        char p[64], buf[4096];
        snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
        FILE *f = pid > 0 && pid != getpid() ? fopen(p, "r") : NULL;
        const size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        for (size_t i = 0; i < n; i++)
            buf[i] = buf[i] ? buf[i] : ' ';
        buf[n] = 0;
        if (n && strstr(buf, needle))
            found = pid;
    }
    if (d)
        closedir(d);
    return found;
}

Test(hardening, sigkill_of_a_video_stylize_leaves_no_encoder_writing_on) {
    make_clip("long.mp4", 400);
    /* nstyle's orphans become this process's children, so that how they end can be seen */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    const pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr))
            _exit(127);
        execl(NST_CLI_PATH, "nstyle", "stylize", "-m", net, "-i", path_of("long.mp4"), "-o",
              path_of("out.mp4"), "--threads", "1", "--quiet", (char *)NULL);
        _exit(127);
    }
    const char *tmp = path_of("out.mp4.tmp-");
    for (int i = 0; i < 1000 && !process_with(tmp); i++) /* the encoder is writing */
        usleep(10000);
    const int enc = process_with(tmp);
    cr_assert(enc, "no encoder writing %s*", tmp);
    /* stopped, it cannot finish on its own when its input ends: only a kill ends it */
    kill(enc, SIGSTOP);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    int status = 0, got = 0;
    for (int i = 0; i < 200 && (got = waitpid(enc, &status, WNOHANG)) == 0; i++)
        usleep(10000);
    if (got == 0)
        kill(enc, SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0) /* the decoder */
        continue;
    cr_expect(got == enc && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "the encoder outlived the killed nstyle");
    make_clip("clip.mp4", 3);
    const int rc = STYLIZE(path_of("clip.mp4"), path_of("out.mp4")); /* the rerun, shorter */
    cr_expect_eq(rc, 0, "exit %d: %s", rc, err);
    int left = 0;
    nst_test_count_entries(dir, &left);
    cr_expect_eq(left, 0, "the rerun left %d temporaries", left);
}

Test(hardening, render_rerun_removes_output_snapshot_and_json_temporaries) {
    inputs();
    const char *const *gone = NAMES("out.png.tmp-Ab12Cd", "out_000002.png.tmp-Ab12Cd",
                                    "out_000004.png.tmp-Ef34Gh", "out_1234567.png.tmp-Ab12Cd",
                                    "run.json.tmp-Ab12Cd");
    const char *const *kept = NAMES("out_12.png.tmp-Ab12Cd", "out_000002.jpg.tmp-Ab12Cd",
                                    "out_00000x.png.tmp-Ab12Cd", "content.png.tmp-Ab12Cd",
                                    "xout.png.tmp-Ab12Cd");
    plant(gone);
    plant(kept);
    const int rc = RENDER(path_of("out.png"), "--save-every", "2", "--json", path_of("run.json"));
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    expect_cleaned(gone, kept);
    expect_decodes(path_of("out.png"));
    expect_decodes(path_of("out_000002.png"));
}

Test(hardening, train_rerun_removes_model_checkpoint_and_json_temporaries) {
    inputs();
    const char *const *gone = NAMES("m.safetensors.tmp-Ab12Cd", "m.ckpt.safetensors.tmp-Ab12Cd",
                                    "t.json.tmp-Ab12Cd");
    const char *const *kept = NAMES("m.safetensors.tmpx", "n.safetensors.tmp-Ab12Cd",
                                    "style.png.tmp-Ab12Cd");
    plant(gone);
    plant(kept);
    const int rc = TRAIN(path_of("m.safetensors"), "--checkpoint-every", "1", "--json",
                         path_of("t.json"));
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    expect_cleaned(gone, kept);
    cr_expect(exists(path_of("m.safetensors")) && exists(path_of("m.ckpt.safetensors")));
}

/* ---- full disks ------------------------------------------------------------------------------ */

/* stderr holds exactly one line, and it names path and the cause. */
static void expect_one_line(const char *path, const char *cause) {
    const char *nl = strchr(err, '\n');
    cr_expect(nl && !nl[1], "more than one line on stderr: %s", err);
    cr_expect(strstr(err, path) && strstr(err, cause), "stderr lacks '%s' or '%s': %s", path,
              cause, err);
}

/* Nothing in folder: no output, no temporary. */
static void expect_empty(const char *folder) {
    int tmp = 0;
    const int n = nst_test_count_entries(folder, &tmp);
    cr_expect_eq(n, 0, "%d files left in %s (%d temporaries)", n, folder, tmp);
}

/* Runs the next command with files limited to `bytes`, SIGXFSZ at its default (the CLI must
 * ignore it itself). */
static struct rlimit saved;
static void limit_files(rlim_t bytes) {
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    struct rlimit l = {bytes, saved.rlim_max};
    signal(SIGXFSZ, SIG_DFL);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &l), 0);
}
static void unlimit_files(void) { cr_assert_eq(setrlimit(RLIMIT_FSIZE, &saved), 0); }

Test(hardening, past_rlimit_fsize_each_command_fails_naming_the_file_and_efbig) {
    inputs();
    mkdir(path_of("o"), 0755);
    const char *cause = strerror(EFBIG);
    limit_files(1024);
    int rc = RENDER(path_of("o/out.png"), "--size", "32");
    unlimit_files();
    cr_expect_eq(rc, 1, "render: exit %d: %s", rc, err);
    expect_one_line(path_of("o/out.png"), cause);
    expect_empty(path_of("o"));

    limit_files(1024);
    rc = STYLIZE(path_of("content.png"), path_of("o/styled.png"));
    unlimit_files();
    cr_expect_eq(rc, 1, "stylize: exit %d: %s", rc, err);
    expect_one_line(path_of("o/styled.png"), cause);
    expect_empty(path_of("o"));

    limit_files(4096);
    rc = TRAIN(path_of("o/m.safetensors"), "--checkpoint-every", "1");
    unlimit_files();
    cr_expect_eq(rc, 1, "train: exit %d: %s", rc, err);
    expect_one_line(path_of("o/m.ckpt.safetensors"), cause);
    expect_empty(path_of("o"));
}

/* The same on a 4 KiB tmpfs mounted on dir/full in a mount namespace of its own (as root, or
 * as the root of a user namespace): each command's exit code, stderr and what it left there
 * (listed before the namespace, and the tmpfs with it, goes away). */
Test(hardening, on_a_full_tmpfs_each_command_fails_naming_the_file_and_enospc) {
    inputs();
    write_image(path_of("big.png"), 96, 72, 5); /* its results do not fit in 4 KiB */
    mkdir(path_of("full"), 0755);
    const char *ns = geteuid() == 0 ? "unshare --mount" : "unshare --user --map-root-user --mount";
    char probe[1200];
    snprintf(probe, sizeof probe, "%s sh -c 'mount -t tmpfs -o size=4k tmpfs \"%s\"' "
             ">/dev/null 2>&1", ns, path_of("full"));
    if (system(probe) != 0)
        cr_skip_test("cannot mount a tmpfs in a mount namespace here (%s: not permitted); "
                     "the RLIMIT_FSIZE test covers the same paths", ns);
    char script[8192];
    const char *cli = NST_CLI_PATH, *f = path_of("full"), *vgg = VGG;
    snprintf(script, sizeof script,
             "set -u; mount -t tmpfs -o size=4k tmpfs '%s' || exit 9; cd '%s'\n"
             "run() { name=$1; shift; '%s' \"$@\" 2>$name.err; echo $? >$name.rc;"
             " ls -A full >$name.ls; rm -f full/*; }\n"
             "run render render -c big.png -s style.png -o full/out.png --model '%s'"
             " --content-layers relu2_2 --style-layers relu1_2,relu2_2 --iterations 2"
             " --threads 1 -q\n"
             "run stylize stylize -m net.safetensors -i big.png -o full/styled.png"
             " --threads 1 --quiet\n"
             "run train train -s style.png --data photos -o full/m.safetensors -m '%s'"
             " --style-layers relu1_2,relu2_2 --size 16 --batch 2 --steps 1 --threads 1 -q\n",
             f, dir, cli, vgg, vgg);
    nst_test_write_bytes(path_of("full.sh"), script, strlen(script));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s sh '%s'", ns, path_of("full.sh"));
    cr_assert_eq(system(cmd), 0, "the namespace's script failed");
    const char *cause = strerror(ENOSPC);
    const char *const names[] = {"render", "stylize", "train"};
    const char *const files[] = {"full/out.png", "full/styled.png", "full/m.safetensors"};
    for (int i = 0; i < 3; i++) {
        char p[64];
        snprintf(p, sizeof p, "%s.rc", names[i]);
        char *rc = nst_test_read_text(path_of(p));
        cr_expect_eq(atoi(rc), 1, "%s: exit %s", names[i], rc);
        free(rc);
        snprintf(p, sizeof p, "%s.err", names[i]);
        char *e = nst_test_read_text(path_of(p));
        snprintf(err, sizeof err, "%s", e);
        free(e);
        expect_one_line(files[i], cause);
        snprintf(p, sizeof p, "%s.ls", names[i]);
        char *ls = nst_test_read_text(path_of(p));
        cr_expect_str_eq(ls, "", "%s left in the full folder: %s", names[i], ls);
        free(ls);
    }
}
