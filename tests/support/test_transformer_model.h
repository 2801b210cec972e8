/* Synthetic TransformerNet weight files for the stylize tests: the 62 pytorch/examples tensors
 * with small random values (conv weights uniform in +-1/sqrt(fan_in), IN gamma near 1, the
 * output conv's bias 128 so outputs span the 0-255 range), optionally broken in one way, and a
 * naive double-precision forward pass over such a file, written independently of
 * src/host/networks/transformer.c, straight from ../shared/data/README.md section 1; and the
 * flicker and ghosting measures of temporal smoothing. */
#ifndef NSTYLE_TEST_TRANSFORMER_MODEL_H
#define NSTYLE_TEST_TRANSFORMER_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "nstyle/stylize.h"

typedef struct {
    bool f16_convs;      /* conv weights as F16 (as the real models), else F32 */
    const char *drop;    /* a tensor to leave out */
    const char *extra;   /* an extra tensor (1-d, 4 values) to add */
    const char *reshape; /* a tensor written with its first dimension halved */
    const char *input;   /* metadata "input" (NULL: "rgb-0-255") */
} nst_test_tn_options;

/* Writes the model to path from nst_test_rng_seed(seed); fails the test on error. */
void nst_test_tn_write(const char *path, uint64_t seed, const nst_test_tn_options *opt);
/* The network over n frames in (n, h, w, 3), 0-255, into out (n, h, w, 3): the net's output
 * cropped to h x w, unclamped; weights read from path (F16/F32 widened to double). */
void nst_test_tn_reference(const char *path, const double *in, int n, int w, int h, double *out);

/* Temporal smoothing measured on stylised frames (nst_smoother with NST_SMOOTH_THRESHOLD).
 * Flicker: n frames of the static scene (h, w, 3), each with its own uniform noise of +-noise
 * levels, stylised by s and smoothed with alpha (0: off); the mean |out_t - out_{t-1}| of the
 * 8-bit outputs over t = 1 .. n-1. */
double nst_test_flicker(nst_stylizer *s, const uint8_t *scene, int w, int h, int n, int noise,
                        float alpha);
/* Ghosting: two frames cut from src (h, w + shift, 3), the content moving right by shift
 * pixels; the mean |smoothed - per-frame| of the second frame's 8-bit output, and in *moved
 * the mean |y_1 - y_0| of the per-frame outputs (what blending regardless of motion would mix
 * in). */
double nst_test_ghost(nst_stylizer *s, const uint8_t *src, int w, int h, int shift, float alpha,
                      double *moved);

#endif
