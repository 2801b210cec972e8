/* Inputs, outputs and the decode/encode threads of `nstyle stylize` (stylize_io.h).
 * The reader and the writer each use a context of their own (a context is one thread's), so
 * decoding the next frames and encoding the last ones overlap the compute loop; the queues are
 * bounded, so memory stays at a few frames whatever the number of inputs.
 * For a video file the reader takes raw frames from the decoder's pipe and the writer hands them
 * to the encoder's (video.c); resizing is the same as for images, in the reader.
 * Tested by tests/test_cli_stylize.c (folders in name order, several files, output names, an
 * unreadable frame in a folder stopping the run with the frames before it written) and
 * tests/test_cli_video.c. */
#include "stylize_io.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- inputs and outputs ------------------------------------------------------------------- */

static bool has_ext(const char *name, const char *const *exts) {
    const char *dot = strrchr(name, '.');
    for (int i = 0; dot && exts[i]; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0)
            return true;
    return false;
}

static const char *const read_exts[] = {"png", "jpg", "jpeg", "bmp", "tga", NULL};
static const char *const write_exts[] = {"png", "jpg", "jpeg", NULL};

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

typedef struct {
    char **v;
    int n, cap;
} strings;

static int push(strings *s, char *p) {
    if (!p)
        return -1;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) {
            free(p);
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = p;
    return 0;
}

static void free_strings(strings *s) {
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return p;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the images of folder dir, sorted by name. */
static int list_folder(const char *dir, strings *s, char *err, size_t err_size) {
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_size, "cannot read folder '%s': %s", dir, strerror(errno));
        return 1;
    }
    const int first = s->n;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_ext(e->d_name, read_exts))
            continue;
        if (push(s, join(dir, e->d_name)) != 0) {
            closedir(d);
            snprintf(err, err_size, "out of memory listing '%s'", dir);
            return 1;
        }
    }
    closedir(d);
    qsort(s->v + first, (size_t)(s->n - first), sizeof *s->v, cmp_str);
    if (s->n == first) {
        snprintf(err, err_size, "folder '%s' holds no images (.png .jpg .jpeg .bmp .tga)", dir);
        return 2;
    }
    return 0;
}

/* mkdir -p */
static int make_dirs(const char *path, char *err, size_t err_size) {
    char *p = strdup(path);
    int rc = p ? 0 : 1;
    for (char *c = p ? p + 1 : NULL; c && rc == 0; c++) {
        const bool end = *c == '\0';
        if (*c != '/' && !end)
            continue;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            snprintf(err, err_size, "cannot make output folder '%s': %s", p, strerror(errno));
            rc = 1;
        } else if (!is_dir(p)) {
            snprintf(err, err_size, "output '%s' is not a folder", p);
            rc = 1;
        }
        if (end)
            break;
        *c = '/';
    }
    free(p);
    return rc;
}

/* out_dir/<base name of in without its extension>.png */
static char *output_in(const char *out_dir, const char *in) {
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    char name[1024];
    snprintf(name, sizeof name, "%s", base);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    strncat(name, ".png", sizeof name - strlen(name) - 1);
    return join(out_dir, name);
}

int nst_cli_jobs_make(const char *const *args, int n_args, const char *out_arg, nst_cli_jobs *jobs,
                      char *err, size_t err_size) {
    memset(jobs, 0, sizeof *jobs);
    strings in = {0}, out = {0};
    int rc = 0;
    bool any_folder = false;
    for (int i = 0; i < n_args && rc == 0; i++) {
        if (is_dir(args[i])) {
            any_folder = true;
            rc = list_folder(args[i], &in, err, err_size);
        } else if (push(&in, strdup(args[i])) != 0) {
            snprintf(err, err_size, "out of memory");
            rc = 1;
        }
    }
    const bool to_file = rc == 0 && in.n == 1 && !any_folder && has_ext(out_arg, write_exts) &&
                         !is_dir(out_arg);
    if (rc == 0 && in.n > 1 && has_ext(out_arg, write_exts) && !is_dir(out_arg)) {
        snprintf(err, err_size, "%d inputs but -o '%s' names one image: give a folder", in.n,
                 out_arg);
        rc = 2;
    }
    if (rc == 0 && !to_file)
        rc = make_dirs(out_arg, err, err_size);
    for (int i = 0; i < in.n && rc == 0; i++)
        if (push(&out, to_file ? strdup(out_arg) : output_in(out_arg, in.v[i])) != 0) {
            snprintf(err, err_size, "out of memory");
            rc = 1;
        }
    if (rc == 0) { /* two inputs that would write the same file (a.png and a.jpg) */
        char **sorted = malloc((size_t)out.n * sizeof *sorted);
        if (!sorted) {
            snprintf(err, err_size, "out of memory");
            rc = 1;
        } else {
            memcpy(sorted, out.v, (size_t)out.n * sizeof *sorted);
            qsort(sorted, (size_t)out.n, sizeof *sorted, cmp_str);
            for (int i = 1; i < out.n && rc == 0; i++)
                if (strcmp(sorted[i], sorted[i - 1]) == 0) {
                    snprintf(err, err_size, "two inputs would both be written to '%s': rename "
                             "one of them", sorted[i]);
                    rc = 2;
                }
            free(sorted);
        }
    }
    if (rc != 0) {
        free_strings(&in);
        free_strings(&out);
        return rc;
    }
    jobs->in = in.v;
    jobs->out = out.v;
    jobs->n = in.n;
    return 0;
}

void nst_cli_jobs_free(nst_cli_jobs *jobs) {
    free_strings(&(strings){jobs->in, jobs->n, jobs->n});
    free_strings(&(strings){jobs->out, jobs->n, jobs->n});
    memset(jobs, 0, sizeof *jobs);
}

/* ---- frames and queues ---------------------------------------------------------------------- */

void nst_cli_frame_free(nst_cli_frame *f) {
    if (!f)
        return;
    nst_image_free(&f->img);
    free(f);
}

int nst_cli_queue_init(nst_cli_queue *q, int cap) {
    memset(q, 0, sizeof *q);
    q->items = calloc((size_t)cap, sizeof *q->items);
    if (!q->items)
        return -1;
    q->cap = cap;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return 0;
}

void nst_cli_queue_destroy(nst_cli_queue *q) {
    if (!q->items)
        return;
    for (int i = 0; i < q->count; i++)
        nst_cli_frame_free(q->items[(q->head + i) % q->cap]);
    free(q->items);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    q->items = NULL;
}

bool nst_cli_queue_push(nst_cli_queue *q, nst_cli_frame *f) {
    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->count == q->cap)
        pthread_cond_wait(&q->cv, &q->mu);
    const bool ok = !q->closed;
    if (ok) {
        q->items[(q->head + q->count) % q->cap] = f;
        q->count++;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

nst_cli_frame *nst_cli_queue_pop(nst_cli_queue *q) {
    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->count == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    nst_cli_frame *f = NULL;
    if (q->count > 0) {
        f = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return f;
}

void nst_cli_queue_close(nst_cli_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* ---- the reader ------------------------------------------------------------------------------ */

void nst_cli_target_size(int size, double scale, int w, int h, int *tw, int *th) {
    double f = scale > 0 ? scale : size > 0 ? (double)size / (w > h ? w : h) : 1.0;
    *tw = (int)lround(w * f);
    *th = (int)lround(h * f);
    if (size > 0) /* the long side exactly N */
        *(w >= h ? tw : th) = size;
    *tw = *tw < 1 ? 1 : *tw;
    *th = *th < 1 ? 1 : *th;
}

static nst_status fit(nst_ctx *ctx, const nst_cli_reader *r, nst_image *img) {
    int tw, th;
    nst_cli_target_size(r->size, r->scale, img->width, img->height, &tw, &th);
    if (tw == img->width && th == img->height)
        return NST_OK;
    nst_image small = {0};
    nst_status st = nst_image_resize(ctx, img, tw, th, &small);
    nst_image_free(img);
    *img = small;
    return st;
}

static nst_status decode(nst_ctx *ctx, const nst_cli_reader *r, const char *path, nst_image *img) {
    if (nst_image_load(ctx, path, 3, img) != NST_OK)
        return nst_last_status(ctx);
    return fit(ctx, r, img);
}

/* The video's next frame into f: 1, 0 at the end (f untouched), -1 with f's status and error. */
static int next_video_frame(nst_ctx *ctx, const nst_cli_reader *r, nst_cli_frame *f) {
    const nst_cli_video_info *info = &r->video->info;
    f->img = (nst_image){info->width, info->height, 3,
                         malloc((size_t)info->width * info->height * 3)};
    int rc = f->img.data ? nst_cli_video_read(r->video, f->img.data, f->error, sizeof f->error)
                         : (snprintf(f->error, sizeof f->error, "out of memory"), -1);
    if (rc == 1 && (f->status = fit(ctx, r, &f->img)) != NST_OK) {
        snprintf(f->error, sizeof f->error, "%s", nst_last_error(ctx));
        rc = -1;
    }
    if (rc == -1 && f->status == NST_OK)
        f->status = NST_ERR_IO;
    if (rc == 0)
        nst_image_free(&f->img);
    return rc;
}

static void *reader_main(void *arg) {
    nst_cli_reader *r = arg;
    nst_ctx *ctx = nst_ctx_create();
    for (int i = 0; r->video || i < r->jobs->n; i++) {
        nst_cli_frame *f = calloc(1, sizeof *f);
        if (!f)
            break;
        f->index = i;
        if (!ctx) {
            f->status = NST_ERR_NO_MEMORY;
            snprintf(f->error, sizeof f->error, "out of memory");
        } else if (r->video) {
            if (next_video_frame(ctx, r, f) == 0) {
                free(f);
                break;
            }
        } else if ((f->status = decode(ctx, r, r->jobs->in[i], &f->img)) != NST_OK) {
            snprintf(f->error, sizeof f->error, "%s", nst_last_error(ctx));
        }
        const bool failed = f->status != NST_OK;
        if (!nst_cli_queue_push(r->queue, f)) {
            nst_cli_frame_free(f);
            break;
        }
        if (failed)
            break;
    }
    nst_cli_queue_close(r->queue);
    nst_ctx_destroy(ctx);
    return NULL;
}

int nst_cli_reader_start(nst_cli_reader *r) {
    return pthread_create(&r->thread, NULL, reader_main, r);
}

void nst_cli_reader_join(nst_cli_reader *r) { pthread_join(r->thread, NULL); }

/* ---- the writer ------------------------------------------------------------------------------ */

static void *writer_main(void *arg) {
    nst_cli_writer *w = arg;
    nst_ctx *ctx = nst_ctx_create();
    w->status = ctx ? NST_OK : NST_ERR_NO_MEMORY;
    if (!ctx) {
        snprintf(w->error, sizeof w->error, "out of memory");
        atomic_store(&w->failed, true);
    }
    nst_cli_frame *f;
    while ((f = nst_cli_queue_pop(w->queue)) != NULL) {
        if (w->status == NST_OK && w->video) {
            if (nst_cli_video_write(w->video, f->img.data, w->error, sizeof w->error) == 0) {
                w->written++;
            } else {
                w->status = NST_ERR_IO;
                atomic_store(&w->failed, true);
            }
        } else if (w->status == NST_OK) {
            w->status = nst_image_save(ctx, w->jobs->out[f->index], &f->img, w->quality);
            if (w->status == NST_OK) {
                w->written++;
            } else {
                snprintf(w->error, sizeof w->error, "%s", nst_last_error(ctx));
                atomic_store(&w->failed, true);
                w->failed_frame = f; /* kept for the caller */
                continue;
            }
        }
        nst_cli_frame_free(f);
    }
    nst_ctx_destroy(ctx);
    return NULL;
}

int nst_cli_writer_start(nst_cli_writer *w) {
    w->written = 0;
    w->failed_frame = NULL;
    atomic_store(&w->failed, false);
    w->status = NST_OK;
    w->error[0] = '\0';
    return pthread_create(&w->thread, NULL, writer_main, w);
}

void nst_cli_writer_join(nst_cli_writer *w) { pthread_join(w->thread, NULL); }
