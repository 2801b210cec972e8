/* The file side of `nstyle stylize` (src/host/cli/cmd_stylize.c): which images a command line names
 * and where each result goes, and the reader and writer threads that decode and encode around
 * the compute loop through bounded queues, from and to image files or, for a video file, the
 * ffmpeg pipes of video.h. Part of the CLI; nothing here prints. */
#ifndef NSTYLE_CLI_STYLIZE_IO_H
#define NSTYLE_CLI_STYLIZE_IO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "nstyle/nstyle.h"
#include "video.h"

/* ---- inputs and outputs ------------------------------------------------------------------- */

typedef struct {
    char **in, **out; /* n paths each */
    int n;
} nst_cli_jobs;

/* Expands args (files, or folders: every .png .jpg .jpeg .bmp .tga in it, any case, sorted by
 * name) and maps each to its output: out_arg itself when there is one input file and out_arg
 * has an image extension and is not a folder; else out_arg/<base name>.png (out_arg created
 * when missing). Returns 0, or fills err and returns 2 (usage: nothing to do, an output that
 * two inputs share, several inputs into one file) or 1 (a folder that cannot be read or made). */
int nst_cli_jobs_make(const char *const *args, int n_args, const char *out_arg, nst_cli_jobs *jobs,
                      char *err, size_t err_size);
void nst_cli_jobs_free(nst_cli_jobs *jobs);

/* ---- frames and queues ---------------------------------------------------------------------- */

/* The size an input of w x h is stylised at: the long side `size` pixels (0 = keep), or scaled
 * by `scale` (0 = keep). */
void nst_cli_target_size(int size, double scale, int w, int h, int *tw, int *th);

typedef struct {
    int index;         /* into the jobs; for a video, the frame number from 0 */
    nst_image img;     /* decoded RGB, resized as asked; then the stylised pixels */
    nst_status status; /* NST_OK, or why the frame could not be read */
    char error[1024];
} nst_cli_frame;

void nst_cli_frame_free(nst_cli_frame *f);

/* A bounded FIFO of frames between two threads. Closing it wakes every waiter: push then fails,
 * pop returns what is left and then NULL. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    nst_cli_frame **items;
    int cap, head, count;
    bool closed;
} nst_cli_queue;

int nst_cli_queue_init(nst_cli_queue *q, int cap); /* 0, or -1 without memory */
void nst_cli_queue_destroy(nst_cli_queue *q);      /* frees the frames still queued */
bool nst_cli_queue_push(nst_cli_queue *q, nst_cli_frame *f); /* false once closed */
nst_cli_frame *nst_cli_queue_pop(nst_cli_queue *q);          /* NULL: closed and empty */
void nst_cli_queue_close(nst_cli_queue *q);

/* ---- the reader and the writer ------------------------------------------------------------- */

typedef struct {
    const nst_cli_jobs *jobs; /* the images, or the video's one job */
    nst_cli_video *video;     /* NULL for images */
    int size;      /* long side in pixels, 0 = keep */
    double scale;  /* 0 = keep */
    nst_cli_queue *queue;
    pthread_t thread;
} nst_cli_reader;

/* Decodes the jobs' inputs (or the video's frames) in order into reader->queue, then closes it.
 * A frame that cannot be read is queued with its status and message, and the reader stops
 * there. */
int nst_cli_reader_start(nst_cli_reader *r);
void nst_cli_reader_join(nst_cli_reader *r);

typedef struct {
    const nst_cli_jobs *jobs;
    nst_cli_video *video; /* NULL for images */
    int quality; /* JPEG */
    nst_cli_queue *queue;
    pthread_t thread;
    atomic_bool failed; /* set when a write failed: the compute loop can stop */
    /* results, read after the join */
    int written;
    nst_status status;
    char error[1024];
    nst_cli_frame *failed_frame; /* the image whose write failed (the caller frees it) */
} nst_cli_writer;

/* Encodes each frame popped from writer->queue to its output (atomically), or into the video's
 * encoder, until the queue is closed and empty; after a failure it keeps that image and drains
 * the rest, writing nothing more. */
int nst_cli_writer_start(nst_cli_writer *w);
void nst_cli_writer_join(nst_cli_writer *w);

#endif
