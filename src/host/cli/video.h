/* Video files for `nstyle stylize` (src/host/cli/video.c): ffprobe reads what the input holds,
 * one ffmpeg process decodes it into raw RGB frames on a pipe and a second one encodes the
 * stylised frames from a pipe into a temporary file in the output's folder, with the input's
 * audio; the temporary is renamed over the output only when the encoder has finished it.
 * No shell, no temporary image files. Part of the CLI; nothing here prints.
 * Tested by tests/test_cli_video.c. */
#ifndef NSTYLE_CLI_VIDEO_H
#define NSTYLE_CLI_VIDEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subprocess.h"

#define NST_CLI_VIDEO_CRF 18
#define NST_CLI_FFMPEG_PACKAGE "ffmpeg" /* the Debian and Ubuntu package */

/* Whether path names a video file by its extension (.mp4 .mkv .mov .webm .avi ...): used to
 * tell a video output from a folder. Inputs are told apart differently: a file that is not an
 * image is a video. */
bool nst_cli_is_video_name(const char *path);

typedef struct {
    int width, height;   /* of the decoded frames (a rotation tag of 90 or 270 degrees applied) */
    char rate[32];       /* frames per second as ffmpeg writes it: "25/1", "30000/1001" */
    double fps;
    long frames;         /* the stream's frame count when the container has it, else -1 */
    long expected;       /* frames, else duration x fps rounded, else -1 */
    double duration;     /* seconds, or -1 */
    int stream;          /* the index of the video stream in the file */
    char codec[32];      /* its codec */
    int audio_streams;   /* how many */
    char audio_codec[32]; /* the first one's codec */
} nst_cli_video_info;

/* Runs ffprobe on path. Returns 0, or 1 with err saying why (no ffprobe: the package to
 * install; ffprobe's own message; no video stream; a frame rate or size it could not tell). */
int nst_cli_video_probe(const char *path, nst_cli_video_info *info, char *err, size_t err_size);

typedef struct {
    const char *codec; /* NULL: libx264, or libvpx-vp9 for .webm */
    int crf;           /* < 0: NST_CLI_VIDEO_CRF */
    int width, height; /* of the stylised frames */
} nst_cli_video_options;

typedef struct {
    const char *in_path, *out_path;
    nst_cli_video_info info;
    int out_w, out_h;
    char tmp_path[4200]; /* "<out>.tmp-XXXXXX.<ext>" while it exists, else "" */
    char codec[64], pix_fmt[16]; /* pix_fmt "auto": ffmpeg chooses (an encoder not YUV) */
    int crf;
    char audio[16]; /* how the audio goes: "copy", "aac", "libopus", or "none" */
    char note[256]; /* something to tell the user (the pixel format chosen for an odd size) */
    char warning[1024]; /* the decoder complained but every frame came */
    nst_cli_proc dec, enc;
    long read, written; /* frames */
    bool encoder_failed;
} nst_cli_video;

/* Starts the encoder (after checking that the output container takes the input's audio as it
 * is, else AAC, or Opus for WebM) and the decoder. Returns 0, or 1 with err (and nothing left
 * behind). */
int nst_cli_video_open(nst_cli_video *v, const char *in_path, const char *out_path,
                       const nst_cli_video_info *info, const nst_cli_video_options *o, char *err,
                       size_t err_size);
/* The reader's side: the next frame, info.width x info.height x 3 bytes, into rgb. Returns 1,
 * 0 at the end, or -1 with err naming the frame and ffmpeg's message. */
int nst_cli_video_read(nst_cli_video *v, uint8_t *rgb, char *err, size_t err_size);
/* The writer's side: one frame of out_w x out_h x 3 bytes. Returns 0, or -1 with err. */
int nst_cli_video_write(nst_cli_video *v, const uint8_t *rgb, char *err, size_t err_size);
/* Stops the decoder. keep: closes the encoder's input, so ffmpeg finishes the file with the
 * frames written, and renames it over the output (nothing is kept when no frame was written);
 * else stops the encoder. The temporary is removed either way. Returns 0, or -1 with err. */
int nst_cli_video_close(nst_cli_video *v, bool keep, char *err, size_t err_size);

#endif
