/* Geometric transforms as keys (include/nstyle/geometry.h): the parser, theta,
 * and the host resampling through affine_grid + grid_sample on a CPU context.
 * Tested by tests/test_render_geometry.c. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../errors.h"
#include "nstyle/ops.h"
#include "nstyle/geometry.h"

nst_geometry nst_geometry_identity(void) { return (nst_geometry){.scale_x = 1.0, .scale_y = 1.0}; }

static nst_status fail(char *err, size_t size, const char *fmt, ...) {
    if (err && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
    }
    return NST_ERR_INVALID_ARG;
}

/* One number of key's value: finite (and > 0 when positive). */
static nst_status number(const char *key, const char *text, size_t len, bool positive, double *v,
                         char *err, size_t size) {
    char buf[64];
    if (len == 0)
        return fail(err, size, "transform key '%s' has an empty value", key);
    if (len >= sizeof buf)
        return fail(err, size, "transform key '%s': value '%.*s...' is too long", key, 20, text);
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    *v = strtod(buf, &end);
    if (end == buf || *end)
        return fail(err, size, "transform key '%s': '%s' is not a number", key, buf);
    if (!isfinite(*v) || errno == ERANGE)
        return fail(err, size, "transform key '%s': '%s' is not a finite number", key, buf);
    if (positive && !(*v > 0))
        return fail(err, size, "transform key '%s': '%s' must be > 0", key, buf);
    return NST_OK;
}

nst_status nst_geometry_parse(const char *text, nst_geometry *out, char *err, size_t err_size) {
    static const char *keys[] = {"rotate", "scale", "translate"};
    static const int min_values[] = {1, 1, 2}, max_values[] = {1, 2, 2};
    *out = nst_geometry_identity();
    if (!text || !*text)
        return fail(err, err_size,
                    "empty transform (want e.g. rotate=15,scale=0.8,"
                    "translate=0.1,0)");
    bool seen[3] = {false, false, false};
    double v[3][2] = {{0, 0}, {1, 1}, {0, 0}};
    const char *p = text;
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *comma = strchr(p, ',');
        if (!eq || (comma && comma < eq))
            return fail(err, err_size,
                        "transform '%s': '%.*s' has no key (keys: rotate=DEG, "
                        "scale=S or SX,SY, translate=TX,TY)",
                        text, (int)(comma ? (size_t)(comma - p) : strlen(p)), p);
        const size_t klen = (size_t)(eq - p);
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (strlen(keys[i]) == klen && strncmp(p, keys[i], klen) == 0)
                k = i;
        if (k < 0)
            return fail(err, err_size,
                        "transform '%s': unknown key '%.*s' (keys: rotate, scale, "
                        "translate)",
                        text, (int)klen, p);
        if (seen[k])
            return fail(err, err_size, "transform '%s': key '%s' is given twice", text, keys[k]);
        seen[k] = true;
        /* the values: up to the next "key=" (a token with '=') or the end */
        const char *q = eq + 1;
        int n = 0;
        for (;;) {
            const char *c = strchr(q, ',');
            const size_t len = c ? (size_t)(c - q) : strlen(q);
            if (memchr(q, '=', len))
                break;
            if (n == max_values[k])
                return fail(err, err_size, "transform '%s': key '%s' takes at most %d value%s",
                            text, keys[k], max_values[k], max_values[k] > 1 ? "s" : "");
            NST__TRY(number(keys[k], q, len, k == 1, &v[k][n], err, err_size));
            n++;
            q += len;
            if (!*q)
                break;
            q++; /* the comma */
            if (!*q)
                return fail(err, err_size, "transform '%s' ends with a comma", text);
        }
        if (n < min_values[k])
            return fail(err, err_size, "transform '%s': key '%s' wants %s (got %d value%s)", text,
                        keys[k], k == 2 ? "two values tx,ty" : "a value", n, n == 1 ? "" : "s");
        if (k == 1 && n == 1)
            v[1][1] = v[1][0];
        p = q;
    }
    out->set = true;
    out->rotate_deg = v[0][0];
    out->scale_x = v[1][0], out->scale_y = v[1][1];
    out->translate_x = v[2][0], out->translate_y = v[2][1];
    return NST_OK;
}

void nst_geometry_theta(const nst_geometry *g, int width, int height, float theta[6]) {
    if (g && g->set && g->raw) {
        memcpy(theta, g->theta, 6 * sizeof *theta);
        return;
    }
    if (!g || !g->set) {
        const float id[6] = {1, 0, 0, 0, 1, 0};
        memcpy(theta, id, sizeof id);
        return;
    }
    const double a = g->rotate_deg * (M_PI / 180.0), c = cos(a), s = sin(a);
    const double aspect = (double)width / (double)height; /* W / H */
    const double t00 = c / g->scale_x, t01 = -s / (aspect * g->scale_x);
    const double t10 = s * aspect / g->scale_y, t11 = c / g->scale_y;
    const double tx = g->translate_x, ty = g->translate_y;
    theta[0] = (float)t00, theta[1] = (float)t01, theta[2] = (float)-(t00 * tx + t01 * ty);
    theta[3] = (float)t10, theta[4] = (float)t11, theta[5] = (float)-(t10 * tx + t11 * ty);
}

nst_status nst_geometry_apply(nst_ctx *ctx, const float theta[6], nst_grid_padding padding,
                              const float *src, int width, int height, int channels, float *dst) {
    if (!src || !dst || width < 1 || height < 1 || channels < 1)
        return NST__ERR(ctx, NST_ERR_INVALID_ARG, "transform: no image or a %dx%dx%d one", width,
                        height, channels);
    float *grid = malloc((size_t)width * (size_t)height * 2 * sizeof *grid);
    nst_ctx *cpu = grid ? nst_ctx_create() : NULL;
    if (!cpu) {
        free(grid);
        return NST__ERR(ctx, NST_ERR_NO_MEMORY, "transform: no host memory for a %dx%d grid", width,
                        height);
    }
    float th[6];
    memcpy(th, theta, sizeof th);
    nst_tensor tt = nst_tensor_make(NST_F32, NST_BACKEND_CPU, th, 3, (const int64_t[]){1, 2, 3});
    nst_tensor tg = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, grid, 1, height, width, 2);
    nst_tensor tx =
        nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, (void *)src, 1, height, width, channels);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, dst, 1, height, width, channels);
    nst_affine_grid_params ag = {.theta = &tt, .grid = &tg};
    nst_grid_sample_params gs = {.x = &tx, .grid = &tg, .y = &ty, .padding = padding};
    nst_status st = nst_affine_grid_forward(cpu, &ag);
    if (st == NST_OK)
        st = nst_grid_sample_forward(cpu, &gs);
    if (st != NST_OK)
        st = NST__ERR(ctx, st, "transform: %s", nst_last_error(cpu));
    nst_ctx_destroy(cpu);
    free(grid);
    return st;
}

const char *nst_grid_padding_name(nst_grid_padding p) {
    return p == NST_PAD_ZEROS        ? "zeros"
           : p == NST_PAD_BORDER     ? "border"
           : p == NST_PAD_REFLECTION ? "reflection"
                                     : "?";
}

int nst_grid_padding_from_name(const char *name) {
    static const char *names[] = {"zeros", "border", "reflection"};
    for (int i = 0; name && i < 3; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}
