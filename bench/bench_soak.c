/* Soak through the library in one process (scripts/soak.sh, docs/hardening.md):
 *   build/bench_soak render  --model VGG --content C --style S [--count 200] [--iterations 5]
 *   build/bench_soak stylize --model TN --content C [--count 2000]
 * render: `count` renders of C in S's style (relu2_2 content, relu1_2 and relu2_2 style, Adam,
 * deterministic, one thread); stylize: `count` frames, each its own nst_stylize_images call,
 * alternating C and C mirrored. After each render (or every 20 frames) it reads its resident
 * memory (VmRSS), open file descriptors (/proc/self/fd) and threads (/proc/self/status); it
 * prints those at the first and the last sample, the least-squares slope of the resident
 * memory over the samples after the first tenth (KiB per 100 renders or per 1,000 frames), and
 * whether the last render (frame) equals the first bit for bit. --csv FILE writes every
 * sample (i,rss_kib,fds,threads). Exits 1 when the outputs differ or the fds or threads grew. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nstyle/nstyle.h"
#include "nstyle/render.h"
#include "nstyle/stylize.h"

typedef struct {
    long rss_kib, fds, threads;
} sample;

static sample measure(void) {
    sample s = {0, 0, 0};
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "VmRSS: %ld", &s.rss_kib);
        sscanf(line, "Threads: %ld", &s.threads);
    }
    if (f)
        fclose(f);
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        s.fds += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return s; /* the DIR's own fd is counted alike every time */
}

static float *load_float(nst_ctx *ctx, const char *path, int *w, int *h) {
    nst_image img = {0};
    if (nst_image_load(ctx, path, 3, &img) != NST_OK)
        return NULL;
    float *f = malloc((size_t)img.width * img.height * 3 * sizeof *f);
    if (f && nst_image_to_float(ctx, &img, f) != NST_OK) {
        free(f);
        f = NULL;
    }
    *w = img.width, *h = img.height;
    nst_image_free(&img);
    return f;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_soak render --model VGG --content C --style S [--count N] "
                    "[--iterations I] [--csv FILE]\n       bench_soak stylize --model TN "
                    "--content C [--count N] [--csv FILE]\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "render") != 0 && strcmp(argv[1], "stylize") != 0)) {
        usage();
        return 2;
    }
    const bool render = strcmp(argv[1], "render") == 0;
    const char *model = NULL, *content = NULL, *style = NULL, *csv = NULL;
    int count = render ? 200 : 2000, iterations = 5;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0) model = argv[i + 1];
        else if (strcmp(argv[i], "--content") == 0) content = argv[i + 1];
        else if (strcmp(argv[i], "--style") == 0) style = argv[i + 1];
        else if (strcmp(argv[i], "--csv") == 0) csv = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0) count = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--iterations") == 0) iterations = atoi(argv[i + 1]);
        else {
            usage();
            return 2;
        }
    }
    if (!model || !content || (render && !style) || count < 10) {
        usage();
        return 2;
    }
    nst_ctx *ctx = nst_ctx_create();
    if (!ctx || nst_ctx_set_device(ctx, "cpu") != NST_OK)
        return 1;
    nst_ctx_set_threads(ctx, 1);
    int w = 0, h = 0, sw = 0, sh = 0;
    float *c = load_float(ctx, content, &w, &h), *s = render ? load_float(ctx, style, &sw, &sh)
                                                           : NULL;
    if (!c || (render && !s)) {
        fprintf(stderr, "bench_soak: %s\n", nst_last_error(ctx));
        return 1;
    }
    const int every = render ? 1 : 20, n_samples = count / every;
    sample *smp = calloc((size_t)n_samples, sizeof *smp);
    const size_t n_px = (size_t)w * h * 3;
    uint8_t *first = malloc(n_px * 4), *last = malloc(n_px * 4), *in = malloc(n_px * 2);
    nst_stylizer *st = NULL;
    nst_render_options o;
    nst_render_options_default(&o);
    if (render) {
        o.width = w, o.height = h, o.content = c, o.style = s;
        o.style_width = sw, o.style_height = sh, o.iterations = iterations;
        o.content_layers = "relu2_2", o.style_layers = "relu1_2,relu2_2";
        o.weights_path = model, o.deterministic = true;
    } else {
        if (nst_stylizer_open(ctx, model, &st) != NST_OK) {
            fprintf(stderr, "bench_soak: %s\n", nst_last_error(ctx));
            return 1;
        }
        for (int y = 0; y < h; y++) /* in: C, then C mirrored */
            for (int x = 0; x < w; x++)
                for (int k = 0; k < 3; k++) {
                    const float v = c[((size_t)y * w + x) * 3 + k] * 255.0f + 0.5f;
                    in[((size_t)y * w + x) * 3 + k] = (uint8_t)v;
                    in[n_px + ((size_t)y * w + (w - 1 - x)) * 3 + k] = (uint8_t)v;
                }
    }
    size_t out_bytes = 0;
    for (int i = 0; i < count; i++) {
        uint8_t *dst = i == 0 ? first : last;
        if (render) {
            nst_render_result r = {0};
            if (nst_render_gatys(ctx, &o, &r) != NST_OK) {
                fprintf(stderr, "bench_soak: render %d: %s\n", i, nst_last_error(ctx));
                return 1;
            }
            out_bytes = (size_t)r.width * r.height * 3 * sizeof(float);
            memcpy(dst, r.image, out_bytes);
            nst_render_result_free(&r);
        } else {
            /* the last frame is the first one's input again */
            const uint8_t *src = in + (size_t)(i == count - 1 ? 0 : i % 2) * n_px;
            if (nst_stylize_images(st, src, 1, w, h, dst) != NST_OK) {
                fprintf(stderr, "bench_soak: frame %d: %s\n", i, nst_last_error(ctx));
                return 1;
            }
            out_bytes = n_px;
        }
        if ((i + 1) % every == 0)
            smp[(i + 1) / every - 1] = measure();
    }
    /* least squares over the samples after the first tenth (the warm-up) */
    const int from = n_samples / 10;
    double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0;
    for (int k = from; k < n_samples; k++) {
        const double x = (double)(k + 1) * every, y = (double)smp[k].rss_kib;
        sx += x, sy += y, sxx += x * x, sxy += x * y, n++;
    }
    const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    const bool same = memcmp(first, last, out_bytes) == 0;
    const sample a = smp[0], b = smp[n_samples - 1];
    const int per = render ? 100 : 1000;
    printf("%s: %d %s of %dx%d in one process\n", argv[1], count, render ? "renders" : "frames",
           w, h);
    printf("resident memory: %ld KiB after the first %s, %ld KiB after the last; slope %.1f KiB "
           "per %d %s (least squares over %d samples)\n", a.rss_kib,
           render ? "render" : "20 frames", b.rss_kib, slope * per, per,
           render ? "renders" : "frames", (int)n);
    printf("file descriptors: %ld -> %ld; threads: %ld -> %ld\n", a.fds, b.fds, a.threads,
           b.threads);
    printf("the last %s equals the first bit for bit: %s\n", render ? "render" : "frame",
           same ? "yes" : "NO");
    if (csv) {
        FILE *f = fopen(csv, "w");
        if (f) {
            fprintf(f, "i,rss_kib,fds,threads\n");
            for (int k = 0; k < n_samples; k++)
                fprintf(f, "%d,%ld,%ld,%ld\n", (k + 1) * every, smp[k].rss_kib, smp[k].fds,
                        smp[k].threads);
            fclose(f);
        }
    }
    nst_stylizer_close(st);
    free(smp), free(first), free(last), free(in), free(c), free(s);
    nst_ctx_destroy(ctx);
    return same && b.fds <= a.fds && b.threads <= a.threads ? 0 : 1;
}
