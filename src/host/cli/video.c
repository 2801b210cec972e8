/* Video files through ffprobe and two ffmpeg processes (video.h).
 *
 * The decoder: ffmpeg -i IN -map 0:<video stream> -r RATE -s WxH -pix_fmt rgb24 -f rawvideo
 * pipe:1, its frames read whole from the pipe. -r makes the frame rate constant (ffmpeg
 * duplicates or drops frames of a variable-rate input to keep time, so the audio stays in
 * step); for a constant-rate input it changes nothing. -s is only a guard: it is the size
 * ffprobe gave, so a misjudged rotation cannot shift every row.
 * The encoder: ffmpeg -f rawvideo -pix_fmt rgb24 -s WxH -framerate RATE -i pipe:0 -i IN
 * -map 0:v -map_metadata 1 [-map 1:a -c:a copy|aac|libopus -shortest] -c:v CODEC -pix_fmt P
 * -crf N TMP, TMP being "<out>.tmp-XXXXXX.<ext>" (the extension picks the container). The
 * input gives the metadata and the sound; -shortest ends the sound with the last frame written,
 * so a run cut short stays in step. Before it starts, a short ffmpeg run writes the audio alone
 * into TMP to learn whether the container takes it as it is.
 *
 * A decoder that exits with an error, ends inside a frame, or complains and ends more than a
 * frame short of the count ffprobe announced (a truncated file) is a failure naming the frame;
 * one that complains but delivers every frame leaves a warning.
 * Tested by tests/test_cli_video.c. */
#include "video.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nstyle/image.h"

static const char *ext_of(const char *path) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash + 1) && dot[1] ? dot + 1 : NULL;
}

bool nst_cli_is_video_name(const char *path) {
    static const char *const exts[] = {"mp4", "m4v", "mkv", "mov", "webm", "avi", "mpg",
                                       "mpeg", "ts", "m2ts", "mts", "ogv", "flv", "wmv",
                                       "3gp", "gif", "y4m", "nut", NULL};
    const char *e = ext_of(path);
    for (int i = 0; e && exts[i]; i++)
        if (strcasecmp(e, exts[i]) == 0)
            return true;
    return false;
}

static void not_found(const char *program, char *err, size_t size) {
    snprintf(err, size, "%s was not found on $PATH: install ffmpeg (Debian, Ubuntu: apt-get "
             "install %s), which brings ffmpeg and ffprobe", program, NST_CLI_FFMPEG_PACKAGE);
}

/* ---- ffprobe --------------------------------------------------------------------------------- */

typedef struct {
    int index, width, height, rotation, attached_pic;
    long nb_frames;
    double duration;
    char type[16], codec[32], r_rate[32], avg_rate[32];
} probed_stream;

static bool parse_rate(const char *s, long *num, long *den) {
    char *end;
    *num = strtol(s, &end, 10);
    *den = 1;
    if (*end == '/')
        *den = strtol(end + 1, &end, 10);
    return *end == '\0' && *num > 0 && *den > 0;
}

static void stream_field(probed_stream *st, const char *key, const char *val) {
    char *end;
    const long n = strtol(val, &end, 10);
    const bool whole = *val && *end == '\0';
    if (strcmp(key, "index") == 0 && whole)
        st->index = (int)n;
    else if (strcmp(key, "codec_type") == 0)
        snprintf(st->type, sizeof st->type, "%s", val);
    else if (strcmp(key, "codec_name") == 0)
        snprintf(st->codec, sizeof st->codec, "%s", val);
    else if (strcmp(key, "width") == 0 && whole)
        st->width = (int)n;
    else if (strcmp(key, "height") == 0 && whole)
        st->height = (int)n;
    else if (strcmp(key, "r_frame_rate") == 0)
        snprintf(st->r_rate, sizeof st->r_rate, "%s", val);
    else if (strcmp(key, "avg_frame_rate") == 0)
        snprintf(st->avg_rate, sizeof st->avg_rate, "%s", val);
    else if (strcmp(key, "nb_frames") == 0 && whole)
        st->nb_frames = n;
    else if (strcmp(key, "duration") == 0 && strcmp(val, "N/A") != 0)
        st->duration = strtod(val, NULL);
    else if ((strcmp(key, "rotation") == 0 || strcmp(key, "TAG:rotate") == 0) && whole)
        st->rotation = (int)n;
    else if (strcmp(key, "DISPOSITION:attached_pic") == 0 && whole)
        st->attached_pic = (int)n;
}

/* The frame rate to keep: the stream's base rate when its average agrees (a constant rate),
 * else the average (a variable rate), else whichever ffprobe gave. */
static bool choose_rate(const probed_stream *st, nst_cli_video_info *info) {
    long rn, rd, an, ad;
    const bool r_ok = parse_rate(st->r_rate, &rn, &rd), a_ok = parse_rate(st->avg_rate, &an, &ad);
    const double r = r_ok ? (double)rn / rd : 0, a = a_ok ? (double)an / ad : 0;
    const bool use_r = r_ok && (!a_ok || fabs(r / a - 1.0) < 0.01);
    if (!use_r && !a_ok)
        return false;
    info->fps = use_r ? r : a;
    snprintf(info->rate, sizeof info->rate, "%ld/%ld", use_r ? rn : an, use_r ? rd : ad);
    return info->fps > 0 && info->fps <= 1000;
}

/* Reads all of fd (at most 1 MiB) into a new NUL-terminated buffer. */
static char *read_all(int fd) {
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 == cap) {
            char *b = cap < (1u << 20) ? realloc(buf, 2 * cap) : NULL;
            if (!b)
                break;
            buf = b;
            cap *= 2;
        }
        const long n = nst_cli_read_full(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* ffprobe's default output: [STREAM] key=value ... [/STREAM], [FORMAT] ... [/FORMAT]. */
static void parse_probe(char *text, nst_cli_video_info *info, probed_stream *video,
                        double *format_duration) {
    probed_stream cur;
    bool in_stream = false, in_format = false, have_video = false;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        line[strcspn(line, "\r")] = '\0';
        if (strcmp(line, "[STREAM]") == 0) {
            memset(&cur, 0, sizeof cur);
            cur.index = -1;
            cur.nb_frames = -1;
            cur.duration = -1;
            in_stream = true;
        } else if (strcmp(line, "[/STREAM]") == 0 && in_stream) {
            in_stream = false;
            if (strcmp(cur.type, "audio") == 0 && info->audio_streams++ == 0)
                snprintf(info->audio_codec, sizeof info->audio_codec, "%s", cur.codec);
            if (strcmp(cur.type, "video") == 0 && !cur.attached_pic && !have_video) {
                *video = cur;
                have_video = true;
            }
        } else if (strcmp(line, "[FORMAT]") == 0) {
            in_format = true;
        } else if (strcmp(line, "[/FORMAT]") == 0) {
            in_format = false;
        } else {
            char *eq = strchr(line, '=');
            if (!eq)
                continue;
            *eq = '\0';
            if (in_stream)
                stream_field(&cur, line, eq + 1);
            else if (in_format && strcmp(line, "duration") == 0 && strcmp(eq + 1, "N/A") != 0)
                *format_duration = strtod(eq + 1, NULL);
        }
    }
    if (!have_video)
        video->index = -1;
}

int nst_cli_video_probe(const char *path, nst_cli_video_info *info, char *err, size_t err_size) {
    memset(info, 0, sizeof *info);
    const char *argv[] = {"ffprobe", "-hide_banner", "-loglevel", "error", "-show_entries",
                          "stream=index,codec_type,codec_name,width,height,r_frame_rate,"
                          "avg_frame_rate,nb_frames,duration:stream_disposition=attached_pic:"
                          "stream_side_data=rotation:stream_tags=rotate:format=duration",
                          "-of", "default", "--", path, NULL};
    nst_cli_proc p;
    const int rc = nst_cli_proc_start(&p, argv, NST_CLI_PIPE_STDOUT);
    if (rc != 0) {
        if (rc == ENOENT)
            not_found("ffprobe", err, err_size);
        else
            snprintf(err, err_size, "cannot start ffprobe: %s", strerror(rc));
        return 1;
    }
    char *text = read_all(p.out_fd);
    const bool ok = nst_cli_proc_finish(&p);
    if (!ok || !text) {
        char msg[768];
        nst_cli_proc_message(&p, "ffprobe", msg, sizeof msg);
        snprintf(err, err_size, "cannot read video '%s': %s", path, text ? msg : "out of memory");
        free(text);
        return 1;
    }
    probed_stream v;
    double format_duration = -1;
    parse_probe(text, info, &v, &format_duration);
    free(text);
    if (v.index < 0) {
        snprintf(err, err_size, "'%s' holds no video stream (ffprobe found %d audio stream%s)",
                 path, info->audio_streams, info->audio_streams == 1 ? "" : "s");
        return 1;
    }
    const bool turned = abs(v.rotation) % 180 == 90;
    info->width = turned ? v.height : v.width;
    info->height = turned ? v.width : v.height;
    info->stream = v.index;
    snprintf(info->codec, sizeof info->codec, "%s", v.codec);
    if (info->width < 1 || info->height < 1 || info->width > NST_IMAGE_MAX_SIDE ||
        info->height > NST_IMAGE_MAX_SIDE ||
        (long long)info->width * info->height > NST_IMAGE_MAX_PIXELS) {
        snprintf(err, err_size, "'%s': video stream %d is %dx%d (%s): not a size nstyle can "
                 "work on (1 to %d pixels a side, %lld in all)", path, v.index, info->width,
                 info->height, v.codec, NST_IMAGE_MAX_SIDE, NST_IMAGE_MAX_PIXELS);
        return 1;
    }
    if (!choose_rate(&v, info)) {
        snprintf(err, err_size, "'%s': ffprobe gives no usable frame rate for video stream %d "
                 "(r_frame_rate %s, avg_frame_rate %s)", path, v.index, v.r_rate, v.avg_rate);
        return 1;
    }
    info->frames = v.nb_frames > 0 ? v.nb_frames : -1;
    info->duration = v.duration > 0 ? v.duration : format_duration > 0 ? format_duration : -1;
    info->expected = info->frames > 0 ? info->frames
                     : info->duration > 0 ? lround(info->duration * info->fps) : -1;
    return 0;
}

/* ---- the temporary output -------------------------------------------------------------------- */

/* Permissions for the output: an existing file's, else 0666 less the umask (read from /proc:
 * umask() changes it to read it), else 0644. */
static mode_t output_mode(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return st.st_mode & 07777;
    mode_t mode = 0644;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned mask;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Umask: %o", &mask) == 1) {
            mode = 0666 & ~(mode_t)mask;
            break;
        }
    if (f)
        fclose(f);
    return mode;
}

static int make_tmp(nst_cli_video *v, char *err, size_t err_size) {
    const char *ext = ext_of(v->out_path);
    if (!ext) {
        snprintf(err, err_size, "-o '%s' has no extension to choose the container by (.mp4, "
                 ".mkv, .mov, .webm, ...)", v->out_path);
        return 1;
    }
    const int n = snprintf(v->tmp_path, sizeof v->tmp_path, "%s.tmp-XXXXXX.%s", v->out_path, ext);
    if (n < 0 || (size_t)n >= sizeof v->tmp_path) {
        snprintf(err, err_size, "output path too long: '%s'", v->out_path);
        v->tmp_path[0] = '\0';
        return 1;
    }
    const int fd = mkstemps(v->tmp_path, (int)strlen(ext) + 1);
    if (fd < 0) {
        snprintf(err, err_size, "cannot write into the folder of '%s': %s", v->out_path,
                 strerror(errno));
        v->tmp_path[0] = '\0';
        return 1;
    }
    (void)fchmod(fd, output_mode(v->out_path));
    close(fd);
    return 0;
}

static void remove_tmp(nst_cli_video *v) {
    if (v->tmp_path[0])
        unlink(v->tmp_path);
    v->tmp_path[0] = '\0';
}

/* Makes the finished temporary the output, durably. */
static int publish(nst_cli_video *v, char *err, size_t err_size) {
    const int fd = open(v->tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    if (rename(v->tmp_path, v->out_path) != 0) {
        snprintf(err, err_size, "cannot rename '%s' to '%s': %s", v->tmp_path, v->out_path,
                 strerror(errno));
        return -1;
    }
    v->tmp_path[0] = '\0';
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", v->out_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir] = '\0';
    const int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* ---- starting the processes ------------------------------------------------------------------ */

/* Whether the output container takes the input's audio encoded as `codec` ("copy", "aac"):
 * ffmpeg writes a tenth of a second of it, alone, into the temporary. */
static bool audio_fits(nst_cli_video *v, const char *codec, char *msg, size_t msg_size) {
    const char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                          "-i", v->in_path, "-map", "0:a", "-c:a", codec, "-t", "0.1",
                          v->tmp_path, NULL};
    nst_cli_proc p;
    const int rc = nst_cli_proc_start(&p, argv, 0);
    if (rc != 0) {
        snprintf(msg, msg_size, "cannot start ffmpeg: %s", strerror(rc));
        return false;
    }
    const bool ok = nst_cli_proc_finish(&p);
    if (!ok)
        nst_cli_proc_message(&p, "ffmpeg", msg, msg_size);
    return ok;
}

static int choose_audio(nst_cli_video *v, bool webm, char *err, size_t err_size) {
    if (v->info.audio_streams == 0) {
        snprintf(v->audio, sizeof v->audio, "none");
        return 0;
    }
    const char *const tries[] = {"copy", webm ? "libopus" : "aac"};
    char msg[2][700];
    for (int i = 0; i < 2; i++)
        if (audio_fits(v, tries[i], msg[i], sizeof msg[i])) {
            snprintf(v->audio, sizeof v->audio, "%s", tries[i]);
            return 0;
        }
    snprintf(err, err_size, "'%s' cannot hold the audio of '%s' (%s) as it is (%s) nor as %s "
             "(%s)", v->out_path, v->in_path, v->info.audio_codec, msg[0], tries[1], msg[1]);
    return 1;
}

static int start_encoder(nst_cli_video *v, char *err, size_t err_size) {
    char size[32], crf[16];
    snprintf(size, sizeof size, "%dx%d", v->out_w, v->out_h);
    snprintf(crf, sizeof crf, "%d", v->crf);
    const char *argv[48];
    int n = 0;
    const char *head[] = {"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-framerate",
                          v->info.rate, "-i", "pipe:0"};
    for (size_t i = 0; i < sizeof head / sizeof *head; i++)
        argv[n++] = head[i];
    const char *input[] = {"-i", v->in_path, "-map", "0:v:0", "-map_metadata", "1"};
    for (size_t i = 0; i < sizeof input / sizeof *input; i++) /* its metadata and sound */
        argv[n++] = input[i];
    if (strcmp(v->audio, "none") != 0) {
        const char *audio[] = {"-map", "1:a", "-c:a", v->audio, "-shortest"};
        for (size_t i = 0; i < sizeof audio / sizeof *audio; i++)
            argv[n++] = audio[i];
    }
    argv[n++] = "-c:v";
    argv[n++] = v->codec;
    if (strcmp(v->pix_fmt, "auto") != 0) {
        argv[n++] = "-pix_fmt";
        argv[n++] = v->pix_fmt;
    }
    argv[n++] = "-crf";
    argv[n++] = crf;
    if (strcmp(v->codec, "libvpx-vp9") == 0) { /* constant quality: no bitrate cap */
        argv[n++] = "-b:v";
        argv[n++] = "0";
    }
    const char *ext = ext_of(v->out_path);
    if (strcasecmp(ext, "mp4") == 0 || strcasecmp(ext, "mov") == 0 || strcasecmp(ext, "m4v") == 0) {
        argv[n++] = "-movflags"; /* the index at the front: playable while it downloads */
        argv[n++] = "+faststart";
    }
    argv[n++] = v->tmp_path;
    argv[n] = NULL;
    const int rc = nst_cli_proc_start(&v->enc, argv, NST_CLI_PIPE_STDIN);
    if (rc == ENOENT)
        not_found("ffmpeg", err, err_size);
    else if (rc != 0)
        snprintf(err, err_size, "cannot start ffmpeg: %s", strerror(rc));
    return rc != 0;
}

static int start_decoder(nst_cli_video *v, char *err, size_t err_size) {
    char map[32], size[32];
    snprintf(map, sizeof map, "0:%d", v->info.stream);
    snprintf(size, sizeof size, "%dx%d", v->info.width, v->info.height);
    const char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                          "-i", v->in_path, "-map", map, "-r", v->info.rate, "-s", size,
                          "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1", NULL};
    const int rc = nst_cli_proc_start(&v->dec, argv, NST_CLI_PIPE_STDOUT);
    if (rc == ENOENT)
        not_found("ffmpeg", err, err_size);
    else if (rc != 0)
        snprintf(err, err_size, "cannot start ffmpeg: %s", strerror(rc));
    return rc != 0;
}

int nst_cli_video_open(nst_cli_video *v, const char *in_path, const char *out_path,
                       const nst_cli_video_info *info, const nst_cli_video_options *o, char *err,
                       size_t err_size) {
    memset(v, 0, sizeof *v);
    v->in_path = in_path;
    v->out_path = out_path;
    v->info = *info;
    v->out_w = o->width;
    v->out_h = o->height;
    const char *ext = ext_of(out_path);
    const bool webm = ext && strcasecmp(ext, "webm") == 0;
    const bool gif = ext && strcasecmp(ext, "gif") == 0;
    snprintf(v->codec, sizeof v->codec, "%s", o->codec ? o->codec
                                              : webm   ? "libvpx-vp9"
                                              : gif    ? "gif"
                                                       : "libx264");
    if (gif) /* no sound in a GIF */
        v->info.audio_streams = 0;
    v->crf = o->crf >= 0 ? o->crf : NST_CLI_VIDEO_CRF;
    /* The YUV encoders get yuv420p, which every player plays, but H.264 and H.265 cannot store
     * 4:2:0 at an odd width or height; any other encoder (libx264rgb, ffv1, png ...) keeps
     * ffmpeg's choice. */
    static const char *const yuv[] = {"libx264", "libx265", "libvpx", "libvpx-vp9", "libaom-av1",
                                      "libsvtav1", "mpeg4", "mpeg2video", NULL};
    bool is_yuv = false;
    for (int i = 0; yuv[i]; i++)
        is_yuv = is_yuv || strcmp(v->codec, yuv[i]) == 0;
    const bool odd = v->out_w % 2 || v->out_h % 2;
    const bool x26x = strcmp(v->codec, "libx264") == 0 || strcmp(v->codec, "libx265") == 0;
    snprintf(v->pix_fmt, sizeof v->pix_fmt, "%s", !is_yuv ? "auto" : odd && x26x ? "yuv444p"
                                                                                : "yuv420p");
    if (odd && x26x)
        snprintf(v->note, sizeof v->note, "%dx%d has an odd side, which %s cannot store as "
                 "yuv420p: encoding yuv444p, which some players do not play (an even --size "
                 "gives yuv420p)", v->out_w, v->out_h, v->codec);
    if (make_tmp(v, err, err_size) != 0)
        return 1;
    if (choose_audio(v, webm, err, err_size) != 0 || start_encoder(v, err, err_size) != 0) {
        remove_tmp(v);
        return 1;
    }
    if (start_decoder(v, err, err_size) != 0) {
        nst_cli_proc_kill(&v->enc, SIGTERM);
        nst_cli_proc_finish(&v->enc);
        remove_tmp(v);
        return 1;
    }
    return 0;
}

/* ---- frames ---------------------------------------------------------------------------------- */

int nst_cli_video_read(nst_cli_video *v, uint8_t *rgb, char *err, size_t err_size) {
    const size_t bytes = (size_t)v->info.width * v->info.height * 3;
    const long got = nst_cli_read_full(v->dec.out_fd, rgb, bytes);
    if (got == (long)bytes) {
        v->read++;
        return 1;
    }
    const int read_errno = errno;
    nst_cli_proc_wait_exit(&v->dec);
    char msg[768];
    nst_cli_proc_message(&v->dec, "ffmpeg", msg, sizeof msg);
    const long frame = v->read + 1;
    char of[64] = "";
    if (v->info.expected > 0)
        snprintf(of, sizeof of, " of %s%ld", v->info.frames > 0 ? "" : "about ",
                 v->info.expected);
    if (got < 0) {
        snprintf(err, err_size, "%s: frame %ld%s: cannot read the decoder's output: %s (%s)",
                 v->in_path, frame, of, strerror(read_errno), msg);
        return -1;
    }
    if (got > 0) {
        snprintf(err, err_size, "%s: frame %ld%s: the decoder stopped inside it (%ld of %zu "
                 "bytes): %s", v->in_path, frame, of, got, bytes, msg);
        return -1;
    }
    if (v->dec.exit_code != 0) {
        snprintf(err, err_size, "%s: frame %ld%s: the decoder failed: %s", v->in_path, frame, of,
                 msg);
        return -1;
    }
    if (nst_cli_proc_said_anything(&v->dec)) {
        if (v->info.expected < 0 || v->read + 1 < v->info.expected) {
            snprintf(err, err_size, "%s: frame %ld%s: the input breaks off here: %s",
                     v->in_path, frame, of, msg);
            return -1;
        }
        snprintf(v->warning, sizeof v->warning, "ffmpeg complained while decoding %s, but all "
                 "%ld frames came: %s", v->in_path, v->read, msg);
    }
    if (v->read == 0) {
        snprintf(err, err_size, "%s: the decoder gave no frame", v->in_path);
        return -1;
    }
    return 0;
}

int nst_cli_video_write(nst_cli_video *v, const uint8_t *rgb, char *err, size_t err_size) {
    const size_t bytes = (size_t)v->out_w * v->out_h * 3;
    const int rc = nst_cli_write_full(v->enc.in_fd, rgb, bytes);
    if (rc == 0) {
        v->written++;
        return 0;
    }
    v->encoder_failed = true;
    nst_cli_proc_close_in(&v->enc);
    nst_cli_proc_wait_exit(&v->enc);
    char msg[768];
    nst_cli_proc_message(&v->enc, "ffmpeg", msg, sizeof msg);
    snprintf(err, err_size, "cannot encode '%s' (%s, %s; %ld frames sent): %s", v->out_path,
             v->codec, v->pix_fmt, v->written, rc == EPIPE ? msg : strerror(rc));
    return -1;
}

int nst_cli_video_close(nst_cli_video *v, bool keep, char *err, size_t err_size) {
    nst_cli_proc_kill(&v->dec, SIGTERM); /* done already, unless the run stopped early */
    nst_cli_proc_finish(&v->dec);
    keep = keep && v->written > 0 && !v->encoder_failed;
    if (!keep)
        nst_cli_proc_kill(&v->enc, SIGTERM);
    nst_cli_proc_close_in(&v->enc); /* end of input: ffmpeg finishes the file */
    const bool ok = nst_cli_proc_finish(&v->enc);
    int rc = 0;
    if (keep && !ok) {
        char msg[768];
        nst_cli_proc_message(&v->enc, "ffmpeg", msg, sizeof msg);
        snprintf(err, err_size, "cannot finish '%s' after %ld frames: %s", v->out_path,
                 v->written, msg);
        rc = -1;
    } else if (keep) {
        rc = publish(v, err, err_size);
    }
    remove_tmp(v);
    return rc;
}
