/* `nstyle stylize` on video files (src/host/cli/video.c, subprocess.c, stylize_run.c): runs the
 * built CLI with the synthetic TransformerNet (tests/support/test_transformer_model.c) on tiny
 * clips made here with ffmpeg's testsrc and sine sources, and checks with ffprobe and ffmpeg:
 * - frame rate, frame count, size, the title and the audio stream kept (copied; re-encoded to
 *   AAC where the container refuses the input's PCM); an odd size (161x97) kept, as yuv444p;
 *   --size;
 * - the frames equal the frames-folder path's (ffmpeg to PNGs, stylize the folder, ffmpeg back
 *   with the same settings) decoded, and the codec's loss against the PNGs is small;
 * - a truncated input fails naming the frame and ffmpeg's message, and leaves no file; an
 *   unknown encoder fails with ffmpeg's message;
 * - --original-colors: the output's U and V are the input's wherever nothing was clamped
 *   (a lossless libx264rgb encode, so only the 8-bit truncation remains);
 * - SIGINT stops after the current frame and leaves a playable file of the frames done, its
 *   audio cut to them; exit 130;
 * - without ffmpeg on $PATH the message names the package; usage errors.
 * The tests that need ffmpeg skip, saying so, when it is not installed (scripts/install-deps.sh
 * installs it). Clips are 64x48 or smaller at 10 fps, a few frames, to keep CI time small. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_files.h"
#include "test_images.h"
#include "test_support.h"
#include "test_transformer_model.h"

static char out[16384], err[16384];

#define RUN(...)                                                                                   \
    nst_test_run_cli((const char *const[]){"stylize", __VA_ARGS__, NULL}, out, sizeof out, err,    \
                     sizeof err)

static char dir[256], model[512];

static void setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(model, sizeof model, "%s/net.safetensors", dir);
    nst_test_tn_write(model, 5, &(nst_test_tn_options){.f16_convs = true});
}

TestSuite(cli_video, .init = setup, .timeout = 300);

static const char *path_of(const char *name) { return nst_test_path_in(dir, name); }

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* ---- running ffmpeg and ffprobe ------------------------------------------------------------- */

/* Runs argv (argv[0] looked up on $PATH): its exit code, 127 when it cannot run. Its stdout goes
 * into *data (malloc'ed, NUL-terminated, *len bytes) when data is not NULL; its stderr into
 * dir/tool.log. */
static int tool(const char *const *argv, uint8_t **data, size_t *len) {
    int p[2] = {-1, -1};
    cr_assert_eq(pipe(p), 0);
    const pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        const int log = open(path_of("tool.log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int null = open("/dev/null", O_RDWR);
        dup2(null, STDIN_FILENO);
        dup2(data ? p[1] : null, STDOUT_FILENO);
        dup2(log >= 0 ? log : null, STDERR_FILENO);
        close(p[0]);
        close(p[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (n + 1 == cap)
            buf = realloc(buf, cap *= 2);
        const ssize_t r = read(p[0], buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(p[0]);
    buf[n] = 0;
    int status = 0;
    waitpid(pid, &status, 0);
    if (data) {
        *data = buf;
        *len = n;
    } else {
        free(buf);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void need_ffmpeg(void) {
    const bool ok = tool((const char *const[]){"ffmpeg", "-version", NULL}, NULL, NULL) == 0 &&
                    tool((const char *const[]){"ffprobe", "-version", NULL}, NULL, NULL) == 0;
    if (!ok)
        cr_skip_test("ffmpeg and ffprobe are not installed (Debian: apt-get install ffmpeg; "
                     "scripts/install-deps.sh installs it)");
}

static void must(const char *const *argv) {
    const int rc = tool(argv, NULL, NULL);
    if (rc != 0) {
        size_t n = 0;
        char *log = (char *)nst_test_read_bytes(path_of("tool.log"), &n);
        cr_assert_fail("%s exited with %d: %s", argv[0], rc, log);
    }
}

/* A clip of `seconds` at 10 fps from testsrc, with a 440 Hz sine as `audio` (an ffmpeg audio
 * encoder) or none (NULL); yuv444p at an odd size; faststart puts the MP4 index first. */
static const char *make_clip(const char *name, int w, int h, double seconds, const char *audio,
                             bool faststart) {
    const char *path = path_of(name);
    char src[64], t[32];
    snprintf(src, sizeof src, "testsrc=size=%dx%d:rate=10", w, h);
    snprintf(t, sizeof t, "%g", seconds);
    const char *argv[40] = {"ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", src};
    int n = 9;
    if (audio) {
        const char *a[] = {"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-c:a",
                           audio};
        for (size_t i = 0; i < sizeof a / sizeof *a; i++)
            argv[n++] = a[i];
    }
    const char *v[] = {"-t", t, "-c:v", "libx264", "-pix_fmt",
                       w % 2 || h % 2 ? "yuv444p" : "yuv420p", "-metadata", "title=a test clip"};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        argv[n++] = v[i];
    if (faststart) {
        argv[n++] = "-movflags";
        argv[n++] = "+faststart";
    }
    argv[n++] = path;
    argv[n] = NULL;
    must(argv);
    return path;
}

typedef struct {
    int width, height, frames;
    char rate[32], pix_fmt[32], audio[32]; /* audio "" when none */
    char title[64];                        /* the file's title tag */
    double video_duration, audio_duration;
} probed;

static probed probe(const char *path) {
    uint8_t *text = NULL;
    size_t len = 0;
    const int rc = tool((const char *const[]){"ffprobe", "-v", "error", "-count_frames",
                                              "-show_entries",
                                              "stream=codec_type,codec_name,width,height,"
                                              "r_frame_rate,nb_read_frames,pix_fmt,duration:"
                                              "format_tags=title",
                                              "-of", "default", path, NULL},
                        &text, &len);
    cr_assert_eq(rc, 0, "ffprobe cannot read %s", path);
    probed p = {.video_duration = -1, .audio_duration = -1};
    /* one stream's fields, committed at its end (codec_name comes before codec_type) */
    char type[16] = "", codec[32] = "", rate[32] = "", pix[32] = "";
    int w = 0, h = 0, frames = 0;
    double duration = -1;
    for (char *line = strtok((char *)text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strcmp(line, "[/STREAM]") == 0) {
            if (strcmp(type, "audio") == 0) {
                snprintf(p.audio, sizeof p.audio, "%s", codec);
                p.audio_duration = duration;
            } else if (strcmp(type, "video") == 0) {
                p.width = w, p.height = h, p.frames = frames, p.video_duration = duration;
                snprintf(p.rate, sizeof p.rate, "%s", rate);
                snprintf(p.pix_fmt, sizeof p.pix_fmt, "%s", pix);
            }
            type[0] = codec[0] = rate[0] = pix[0] = '\0';
            w = h = frames = 0;
            duration = -1;
        }
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        if (strcmp(k, "codec_type") == 0)
            snprintf(type, sizeof type, "%s", v);
        else if (strcmp(k, "codec_name") == 0)
            snprintf(codec, sizeof codec, "%s", v);
        else if (strcmp(k, "width") == 0)
            w = atoi(v);
        else if (strcmp(k, "height") == 0)
            h = atoi(v);
        else if (strcmp(k, "r_frame_rate") == 0)
            snprintf(rate, sizeof rate, "%s", v);
        else if (strcmp(k, "pix_fmt") == 0)
            snprintf(pix, sizeof pix, "%s", v);
        else if (strcmp(k, "nb_read_frames") == 0)
            frames = atoi(v);
        else if (strcmp(k, "duration") == 0 && strcmp(v, "N/A") != 0)
            duration = atof(v);
        else if (strcmp(k, "TAG:title") == 0)
            snprintf(p.title, sizeof p.title, "%s", v);
    }
    free(text);
    return p;
}

/* Every frame of path as RGB: (frames, h, w, 3). */
static uint8_t *decode(const char *path, int w, int h, int *frames) {
    uint8_t *data = NULL;
    size_t len = 0;
    cr_assert_eq(tool((const char *const[]){"ffmpeg", "-nostdin", "-v", "error", "-i", path,
                                            "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt",
                                            "rgb24", "-", NULL},
                      &data, &len),
                 0, "ffmpeg cannot decode %s", path);
    const size_t one = (size_t)w * h * 3;
    cr_assert_eq(len % one, 0, "%s: %zu bytes are not whole %dx%d frames", path, len, w, h);
    *frames = (int)(len / one);
    return data;
}

static void expect_no_temporaries(void) {
    int tmp = -1;
    nst_test_count_entries(dir, &tmp);
    cr_expect_eq(tmp, 0, "a temporary file was left in %s", dir);
}

static char *read_text(const char *path) {
    size_t n = 0;
    return (char *)nst_test_read_bytes(path, &n);
}

/* ---- what the output keeps ------------------------------------------------------------------ */

Test(cli_video, mp4_keeps_rate_count_size_and_copies_the_audio) {
    need_ffmpeg();
    const char *clip = make_clip("clip.mp4", 64, 48, 0.6, "aac", false);
    cr_assert_eq(RUN("-m", model, "-i", clip, "-o", path_of("out.mp4"), "--json",
                     path_of("run.json")), 0, "%s", err);
    const probed p = probe(path_of("out.mp4"));
    cr_expect(p.width == 64 && p.height == 48, "%dx%d", p.width, p.height);
    cr_expect_str_eq(p.rate, "10/1");
    cr_expect_eq(p.frames, 6);
    cr_expect_str_eq(p.pix_fmt, "yuv420p");
    cr_expect_str_eq(p.audio, "aac");
    cr_expect_str_eq(p.title, "a test clip");
    cr_expect(strstr(out, "stylized 6 frames of") && strstr(out, "audio copied (aac)"), "%s",
              out);
    cr_expect(strstr(err, "frame 6/6"), "no progress line for the last frame: %s", err);
    char *j = read_text(path_of("run.json"));
    const char *fields[] = {"\"ok\": true", "\"cancelled\": false", "\"frames_written\": 6",
                            "\"frames_expected\": 6", "\"frame_rate\": \"10/1\"",
                            "\"codec\": \"libx264\"", "\"crf\": 18", "\"audio\": \"copy\""};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        cr_expect(strstr(j, fields[i]), "JSON lacks %s:\n%s", fields[i], j);
    free(j);
    expect_no_temporaries();
}

Test(cli_video, frames_equal_the_frames_folder_path) {
    need_ffmpeg();
    const char *clip = make_clip("clip.mp4", 64, 48, 0.5, NULL, false);
    cr_assert_eq(RUN("-m", model, "-i", clip, "-o", path_of("out.mp4"), "--batch", "2",
                     "--smooth", "0.5", "--quiet"), 0, "%s", err);
    /* the same frames through a folder: ffmpeg to PNG, stylize, ffmpeg back the same way */
    mkdir(path_of("frames"), 0755);
    char pattern[700], styled[700];
    snprintf(pattern, sizeof pattern, "%s/f_%%04d.png", path_of("frames"));
    must((const char *const[]){"ffmpeg", "-nostdin", "-v", "error", "-i", clip, pattern, NULL});
    cr_assert_eq(RUN("-m", model, "-i", path_of("frames"), "-o", path_of("styled"), "--batch",
                     "2", "--smooth", "0.5", "--quiet"), 0, "%s", err);
    snprintf(styled, sizeof styled, "%s/f_%%04d.png", path_of("styled"));
    must((const char *const[]){"ffmpeg", "-nostdin", "-v", "error", "-framerate", "10", "-i",
                               styled, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18",
                               path_of("ref.mp4"), NULL});
    int n = 0, m = 0;
    uint8_t *a = decode(path_of("out.mp4"), 64, 48, &n);
    uint8_t *b = decode(path_of("ref.mp4"), 64, 48, &m);
    cr_assert_eq(n, 5);
    cr_assert_eq(m, 5);
    const size_t one = 64 * 48 * 3;
    int worst = 0;
    for (size_t i = 0; i < 5 * one; i++)
        worst = abs(a[i] - b[i]) > worst ? abs(a[i] - b[i]) : worst;
    /* and the codec's loss against the PNGs themselves */
    double loss = 0;
    for (int f = 0; f < 5; f++) {
        char p[700];
        snprintf(p, sizeof p, "%s/f_%04d.png", path_of("styled"), f + 1);
        nst_ctx *ctx = nst_test_cpu_ctx();
        nst_image png = {0};
        cr_assert_eq(nst_image_load(ctx, p, 3, &png), NST_OK, "%s", nst_last_error(ctx));
        nst_image dec = {64, 48, 3, a + f * one};
        int frame_worst = 0;
        loss = fmax(loss, nst_test_image_mean_abs_diff(&png, &dec, &frame_worst));
        nst_image_free(&png);
        nst_ctx_destroy(ctx);
    }
    cr_log_info("video path vs frames path, both encoded alike: max |diff| %d; codec loss "
                "against the PNGs: mean |diff| up to %.2f", worst, loss);
    cr_expect_leq(worst, 2, "the video path's frames differ from the folder path's by %d", worst);
    /* the synthetic net's output is close to noise, and 4:2:0 halves its colour: about 8 */
    cr_expect_lt(loss, 12.0, "libx264 crf 18 lost %.2f on average", loss);
    free(a);
    free(b);
}

Test(cli_video, odd_size_without_audio_and_size) {
    need_ffmpeg();
    const char *clip = make_clip("odd.mkv", 161, 97, 0.4, NULL, false);
    cr_assert_eq(RUN("-m", model, "-i", clip, "-o", path_of("out.mkv"), "--quiet"), 0, "%s",
                 err);
    probed p = probe(path_of("out.mkv"));
    cr_expect(p.width == 161 && p.height == 97, "%dx%d", p.width, p.height);
    cr_expect_eq(p.frames, 4);
    cr_expect_str_eq(p.rate, "10/1");
    cr_expect_str_eq(p.pix_fmt, "yuv444p");
    cr_expect_str_empty(p.audio, "an audio stream appeared: %s", p.audio);
    cr_expect_str_eq(p.title, "a test clip");
    cr_expect(strstr(err, "odd side") && strstr(err, "yuv444p"), "no note: %s", err);
    cr_assert_eq(RUN("-m", model, "-i", clip, "-o", path_of("small.mp4"), "--size", "80",
                     "--quiet"), 0, "%s", err);
    p = probe(path_of("small.mp4"));
    cr_expect(p.width == 80 && p.height == 48, "--size 80: %dx%d", p.width, p.height);
    cr_expect_eq(p.frames, 4);
    cr_expect_str_eq(p.pix_fmt, "yuv420p");
    expect_no_temporaries();
}

Test(cli_video, pcm_audio_into_mp4_is_reencoded_to_aac) {
    need_ffmpeg();
    const char *clip = make_clip("pcm.mkv", 64, 48, 0.3, "pcm_s16le", false);
    cr_assert_eq(RUN("-m", model, "-i", clip, "-o", path_of("out.mp4"), "--json",
                     path_of("run.json")), 0, "%s", err);
    const probed p = probe(path_of("out.mp4"));
    cr_expect_eq(p.frames, 3);
    cr_expect_str_eq(p.audio, "aac");
    cr_expect(strstr(out, "re-encoded to aac"), "%s", out);
    char *j = read_text(path_of("run.json"));
    cr_expect(strstr(j, "\"audio\": \"aac\""), "%s", j);
    free(j);
}

/* ---- failures -------------------------------------------------------------------------------- */

/* The first 60 % of src into name. */
static const char *truncated(const char *src, const char *name) {
    size_t n = 0;
    uint8_t *bytes = nst_test_read_bytes(src, &n);
    nst_test_write_bytes(path_of(name), bytes, n * 6 / 10);
    free(bytes);
    return path_of(name);
}

Test(cli_video, truncated_input_fails_naming_the_frame_and_writes_nothing) {
    need_ffmpeg();
    /* the index first: ffprobe reads it, the decoder runs out of data at a frame */
    const char *whole = make_clip("whole.mp4", 48, 32, 2.0, NULL, true);
    const char *cut = truncated(whole, "cut.mp4");
    cr_assert_eq(RUN("-m", model, "-i", cut, "-o", path_of("out.mp4"), "--json",
                     path_of("run.json"), "--quiet"), 1, "%s", err);
    cr_expect(strstr(err, "cut.mp4: frame ") && strstr(err, " of 20: ") &&
              strstr(err, "ffmpeg: "), "%s", err);
    cr_expect(!exists(path_of("out.mp4")));
    char *j = read_text(path_of("run.json"));
    cr_expect(strstr(j, "\"ok\": false") && strstr(j, " of 20: "), "%s", j);
    free(j);
    /* the index last, cut off: ffprobe itself fails */
    const char *end = truncated(make_clip("end.mp4", 48, 32, 1.0, NULL, false), "end_cut.mp4");
    cr_assert_eq(RUN("-m", model, "-i", end, "-o", path_of("out2.mp4"), "--quiet"), 1, "%s", err);
    cr_expect(strstr(err, "end_cut.mp4") && strstr(err, "moov atom not found"), "%s", err);
    cr_expect(!exists(path_of("out2.mp4")));
    expect_no_temporaries();
}

Test(cli_video, unknown_encoder_fails_with_ffmpegs_message) {
    need_ffmpeg();
    const char *clip = make_clip("clip.mp4", 48, 32, 0.2, NULL, false);
    cr_assert_eq(RUN("-m", model, "-i", clip, "-o", path_of("out.mp4"), "--codec", "nosuch",
                     "--quiet"), 1, "%s", err);
    cr_expect(strstr(err, "Unknown encoder 'nosuch'"), "%s", err);
    cr_expect(!exists(path_of("out.mp4")));
    expect_no_temporaries();
}

Test(cli_video, missing_ffmpeg_names_the_package) {
    const char *clip = path_of("clip.mp4");
    nst_test_write_bytes(clip, "not really a video", 18);
    mkdir(path_of("empty"), 0755);
    const char *saved = getenv("PATH");
    char *keep = saved ? strdup(saved) : NULL;
    setenv("PATH", path_of("empty"), 1);
    const int rc = RUN("-m", model, "-i", clip, "-o", path_of("out.mp4"));
    if (keep)
        setenv("PATH", keep, 1);
    free(keep);
    cr_expect_eq(rc, 1, "%s", err);
    cr_expect(strstr(err, "not found") && strstr(err, "apt-get install ffmpeg"), "%s", err);
    cr_expect(!exists(path_of("out.mp4")));
    expect_no_temporaries();
}

Test(cli_video, usage_errors_and_help) {
    const char *clip = path_of("clip.mp4");
    nst_test_write_bytes(clip, "not really a video", 18);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = nst_test_image_random(20, 20, 3, 1);
    cr_assert_eq(nst_image_save(ctx, path_of("a.png"), &img, 0), NST_OK);
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
    cr_expect_eq(RUN("-m", model, "-i", clip, path_of("a.png"), "-o", path_of("res")), 2);
    cr_expect(strstr(err, "alone"), "%s", err);
    cr_expect_eq(RUN("-m", model, "-i", clip, "-o", path_of("o.png")), 2);
    cr_expect(strstr(err, "video output"), "%s", err);
    cr_expect_eq(RUN("-m", model, "-i", clip, "-o", dir), 2);
    cr_expect_eq(RUN("-m", model, "-i", path_of("a.png"), "-o", path_of("o.mp4")), 2);
    cr_expect(strstr(err, "video input"), "%s", err);
    cr_expect(!exists(path_of("o.mp4")), "a folder o.mp4 was made");
    cr_expect_eq(RUN("-m", model, "-i", clip, "-o", path_of("o.mp4"), "--crf", "64"), 2);
    cr_expect_eq(RUN("-m", model, "-i", clip, "-o", path_of("o.mp4"), "--codec", "-x"), 2);
    cr_expect_eq(RUN("-m", model, "-i", path_of("a.png"), "-o", path_of("o.png"), "--codec",
                     "libx264"), 2);
    cr_assert_eq(RUN("--help"), 0);
    const char *needles[] = {"--codec", "--crf", "--original-colors", "clip.mp4", "Ctrl-C",
                             "apt-get install", "130"};
    for (size_t i = 0; i < sizeof needles / sizeof *needles; i++)
        cr_expect(strstr(out, needles[i]), "help lacks '%s'", needles[i]);
}

/* ---- original colours ----------------------------------------------------------------------- */

/* BT.601 chroma (scikit-image's rgb2yuv) of an 8-bit pixel. */
static void chroma(const uint8_t *p, double *u, double *v) {
    *u = -0.14714119 * p[0] - 0.28886916 * p[1] + 0.43601035 * p[2];
    *v = 0.61497538 * p[0] - 0.51496512 * p[1] - 0.10001026 * p[2];
}

Test(cli_video, original_colors_keep_the_input_chroma) {
    need_ffmpeg();
    const char *clip = make_clip("clip.mp4", 64, 48, 0.4, NULL, false);
    /* lossless RGB out, so only the 8-bit truncation stands between the two */
    cr_assert_eq(RUN("-m", model, "-i", clip, "-o", path_of("out.mkv"), "--original-colors",
                     "--codec", "libx264rgb", "--crf", "0", "--json", path_of("run.json"),
                     "--quiet"), 0, "%s", err);
    int n = 0, m = 0;
    uint8_t *in = decode(clip, 64, 48, &n), *res = decode(path_of("out.mkv"), 64, 48, &m);
    cr_assert_eq(n, 4);
    cr_assert_eq(m, 4);
    double worst = 0;
    size_t inside = 0;
    for (size_t i = 0; i < (size_t)n * 64 * 48 * 3; i += 3) {
        if (res[i] == 0 || res[i] == 255 || res[i + 1] == 0 || res[i + 1] == 255 ||
            res[i + 2] == 0 || res[i + 2] == 255)
            continue; /* clamped, perhaps */
        double u0, v0, u1, v1;
        chroma(in + i, &u0, &v0);
        chroma(res + i, &u1, &v1);
        worst = fmax(worst, fmax(fabs(u1 - u0), fabs(v1 - v0)));
        inside++;
    }
    cr_log_info("original colours: max |UV - input UV| %.3f over %zu of %d pixels", worst, inside,
                n * 64 * 48);
    /* truncating each channel by less than 1 moves U by < 0.44 and V by < 0.62 */
    cr_expect_leq(worst, 0.62, "U or V differs from the input's by %.3f", worst);
    cr_expect_gt(inside, (size_t)n * 64 * 48 / 4, "only %zu pixels unclamped", inside);
    char *j = read_text(path_of("run.json"));
    cr_expect(strstr(j, "\"original_colors\": true") && strstr(j, "\"pix_fmt\": \"auto\""), "%s",
              j);
    free(j);
    free(in);
    free(res);
}

/* ---- Ctrl-C ---------------------------------------------------------------------------------- */

Test(cli_video, sigint_finishes_a_playable_file_of_the_frames_done) {
    need_ffmpeg();
    const char *clip = make_clip("long.mp4", 48, 32, 10.0, "aac", false);
    int fd;
    const int pid = nst_test_start_cli((const char *const[]){"stylize", "-m", model, "-i", clip,
                                                             "-o", path_of("out.mp4"), "--json",
                                                             path_of("run.json"), NULL},
                                       "frame 1/100", &fd);
    kill(pid, SIGINT);
    const int status = nst_test_wait_cli(pid, fd);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %#x, want exit 130",
              status);
    const probed p = probe(path_of("out.mp4"));
    cr_expect(p.frames >= 1 && p.frames < 100, "%d frames", p.frames);
    cr_expect_str_eq(p.audio, "aac");
    cr_expect_leq(fabs(p.audio_duration - p.video_duration), 0.15,
                  "audio %.3f s against video %.3f s", p.audio_duration, p.video_duration);
    char *j = read_text(path_of("run.json"));
    cr_expect(strstr(j, "\"cancelled\": true") && strstr(j, "\"ok\": true"), "%s", j);
    char want[64];
    snprintf(want, sizeof want, "\"frames_written\": %d", p.frames);
    cr_expect(strstr(j, want), "%s in %s", want, j);
    free(j);
    expect_no_temporaries();
}
