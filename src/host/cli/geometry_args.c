/* `nstyle render`'s geometry options (src/host/cli/geometry_args.h). Tested
 * by tests/test_cli_render.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "geometry_args.h"

static const char *command = "render"; /* whose usage errors these are */

void nst_cli_geo_set_command(const char *name) { command = name; }

static int usage(const char *fmt, const char *arg) {
    return nst_cli_usage_error(command, fmt, arg);
}

int nst_cli_geo_option(int c, const char *v, nst_render_options *o, nst_cli_geo_text *t) {
    char err[320];
    long n = 0;
    switch (c) {
    case NST_CLI_GEO_CONTENT:
    case NST_CLI_GEO_STYLE: {
        const bool content = c == NST_CLI_GEO_CONTENT;
        if (nst_geometry_parse(v, content ? &o->content_transform : &o->style_transform, err,
                               sizeof err) != NST_OK) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s: %s",
                     content ? "--content-transform" : "--style-transform", err);
            return usage("%s", msg);
        }
        *(content ? &t->content : &t->style) = v;
        break;
    }
    case NST_CLI_GEO_PADDING: {
        const int p = nst_grid_padding_from_name(v);
        if (p < 0)
            return usage("--transform-padding wants zeros, border or reflection (got '%s')", v);
        o->transform_padding = (nst_grid_padding)p;
        break;
    }
    case NST_CLI_GEO_ROBUST:
    case NST_CLI_GEO_AUGMENT:
        if (!nst_cli_parse_long(v, 0, 64, &n))
            return usage(c == NST_CLI_GEO_ROBUST ? "--robust wants a number of views 0..64 (got "
                                                   "'%s')"
                                                 : "--style-augment wants a number of views "
                                                   "0..64 (got '%s')",
                         v);
        *(c == NST_CLI_GEO_ROBUST ? &o->robust_views : &o->style_augment) = (int)n;
        break;
    case NST_CLI_GEO_LEARN:
        o->learn_style_transform = true;
        break;
    case NST_CLI_GEO_PENALTY:
        if (!nst_cli_parse_double(v, 0, 1e30, &o->style_transform_penalty))
            return usage("--style-transform-penalty wants a number >= 0 (got '%s')", v);
        break;
    case NST_CLI_GEO_LR:
        if (!nst_cli_parse_double(v, 1e-12, 1e6, &o->style_transform_lr))
            return usage("--style-transform-lr wants a number > 0 (got '%s')", v);
        break;
    default:
        return NST_EXIT_USAGE;
    }
    return -1;
}

int nst_cli_geo_check(const nst_render_options *o, int n_styles) {
    const bool lbfgs = o->optimizer == NST_OPTIMIZER_LBFGS;
    if (o->robust_views > 0 && lbfgs)
        return usage("--robust draws new views every iteration, which L-BFGS "
                     "cannot follow: use "
                     "--optimizer adam (got %s)",
                     "--optimizer lbfgs");
    if (o->normalize_gradients && (o->robust_views > 0 || o->learn_style_transform))
        return usage("--normalize-gradients does not combine with %s (its gradients are taken "
                     "from the unnormalised losses)",
                     o->robust_views > 0 ? "--robust" : "--learn-style-transform");
    if (!o->learn_style_transform)
        return -1;
    if (lbfgs)
        return usage("--learn-style-transform steps theta with Adam: use "
                     "--optimizer adam (got "
                     "%s)",
                     "--optimizer lbfgs");
    if (n_styles > 1)
        return usage("--learn-style-transform takes one style image (got %s)", "several -s");
    if (o->robust_views > 0 || o->style_augment > 0)
        return usage("--learn-style-transform does not combine with %s",
                     o->robust_views > 0 ? "--robust" : "--style-augment");
    return -1;
}

void nst_cli_geo_help(const nst_render_options *d) {
    printf("\n"
           "Geometry (affine_grid + grid_sample, bilinear, align_corners false):\n"
           "      --content-transform T  resample the content first; T is keys in "
           "any order,\n"
           "                         each once: rotate=DEG (counter-clockwise), "
           "scale=S or\n"
           "                         SX,SY (> 0, < 1 shrinks), translate=TX,TY "
           "(right, down, in\n"
           "                         [-1, 1] units of half the side), e.g.\n"
           "                         rotate=15,scale=0.8,translate=0.1,0; applied "
           "as scale,\n"
           "                         then rotate, then translate, about the centre\n"
           "      --style-transform T    the same for every style image (with\n"
           "                         --learn-style-transform: theta's starting "
           "point)\n"
           "      --transform-padding P  zeros, border or reflection (default %s), "
           "for every\n"
           "                         resampling here\n"
           "      --robust N         the style loss also over N random views of the "
           "result per\n"
           "                         iteration (rotate +-%g deg, scale %g..%g, "
           "shift +-%g; mean\n"
           "                         over the N views and the image itself), the "
           "gradient back\n"
           "                         through the sampler; the content loss stays on "
           "the image\n"
           "      --style-augment K  each style's Gram targets: the mean over K "
           "random views\n"
           "      --learn-style-transform  learn the style image's theta (2x3, from "
           "the identity)\n"
           "                         with Adam through the Gram targets' gradient\n"
           "      --style-transform-penalty L  L |theta - I|^2 added to the loss "
           "(default %g)\n"
           "      --style-transform-lr X  theta's Adam learning rate (default "
           "--lr)\n",
           nst_grid_padding_name(d->transform_padding), d->view_rotate_deg, d->view_scale_min,
           d->view_scale_max, d->view_shift, d->style_transform_penalty);
}

nst_status nst_cli_geo_content(nst_ctx *ctx, const nst_render_options *o, nst_image *content) {
    if (!o->content_transform.set)
        return NST_OK;
    const size_t n = (size_t)content->width * content->height * 3;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    nst_status st = a && b ? nst_image_to_float(ctx, content, a) : NST_ERR_NO_MEMORY;
    float theta[6];
    nst_geometry_theta(&o->content_transform, content->width, content->height, theta);
    if (st == NST_OK)
        st = nst_geometry_apply(ctx, theta, o->transform_padding, a, content->width,
                                content->height, 3, b);
    nst_image out = {0};
    if (st == NST_OK)
        st = nst_image_from_float(ctx, b, content->width, content->height, 3, &out);
    if (st == NST_OK) {
        nst_image_free(content);
        *content = out;
    }
    free(a);
    free(b);
    return st;
}

void nst_cli_geo_summary(const nst_render_options *o, const nst_render_result *r) {
    if (o->robust_views > 0)
        printf("  robust   style loss of the %d views %.5g\n", o->robust_views,
               r->robust_style_loss);
    if (o->learn_style_transform) {
        const float *t = r->style_theta;
        printf("  style theta [%.4f %.4f %.4f; %.4f %.4f %.4f], penalty %.5g\n", t[0], t[1], t[2],
               t[3], t[4], t[5], r->style_transform_penalty_loss);
    }
}

void nst_cli_geo_json(nst_cli_json *j, const nst_render_options *o, const nst_cli_geo_text *t,
                      const nst_render_result *r) {
    nst_cli_json_str(j, "content_transform", t->content);
    nst_cli_json_str(j, "style_transform", t->style);
    nst_cli_json_str(j, "transform_padding", nst_grid_padding_name(o->transform_padding));
    nst_cli_json_int(j, "robust_views", o->robust_views);
    if (o->robust_views > 0)
        nst_cli_json_num(j, "robust_style_loss", r->robust_style_loss);
    nst_cli_json_int(j, "style_augment", o->style_augment);
    nst_cli_json_bool(j, "learn_style_transform", o->learn_style_transform);
    if (o->learn_style_transform) {
        double theta[6];
        for (int i = 0; i < 6; i++)
            theta[i] = r->style_theta[i];
        nst_cli_json_num_array(j, "style_theta", theta, 6);
        nst_cli_json_num(j, "style_transform_penalty", o->style_transform_penalty);
        nst_cli_json_num(j, "style_transform_penalty_loss", r->style_transform_penalty_loss);
    }
}
