/* The op contract's argument lists (include/nstyle/ops.h, nst_op_args): each op's tensors in a
 * fixed order, with their role (input, output, both), whether they may be absent (a backward
 * op's outputs: "not needed") and whether they are always F32. src/host/op_check.c checks them
 * once for every backend; a dry run records the buffers an op touches from them; the parity
 * tool and the tests put guard bytes around every output they list.
 * Tested by tests/test_op_contract.c (every op's list). */
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* ---- argument lists ------------------------------------------------------------------------ */

enum { OPT = 1u, F32 = 2u };

typedef struct {
    nst_op_arg *out;
    int max, n;
} arglist;

static void add(arglist *l, const char *name, const nst_tensor *t, nst_arg_role role,
                unsigned flags, int slot) {
    if (l->n < l->max)
        l->out[l->n] = (nst_op_arg){.name = name, .slot = slot, .t = (nst_tensor *)t,
                                    .role = role, .optional = (flags & OPT) != 0,
                                    .f32 = (flags & F32) != 0};
    l->n++;
}

#define IN(name, t, flags) add(l, name, t, NST_ARG_IN, flags, -1)
#define OUT(name, t, flags) add(l, name, t, NST_ARG_OUT, flags, -1)
#define INOUT(name, t, flags) add(l, name, t, NST_ARG_INOUT, flags, -1)

static void args_op(nst_op op, const void *params, arglist *l) {
    switch (op) {
    case NST_OP_CONV2D_FORWARD: {
        const nst_conv2d_params *p = params;
        IN("x", p->x, 0), IN("w", p->w, 0), IN("b", p->b, OPT), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_CONV2D_BACKWARD_DATA: {
        const nst_conv2d_params *p = params;
        IN("dy", p->dy, 0), IN("w", p->w, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_CONV2D_BACKWARD_FILTER: {
        const nst_conv2d_params *p = params;
        IN("x", p->x, OPT), IN("w", p->w, 0), IN("dy", p->dy, 0);
        OUT("dw", p->dw, OPT), OUT("db", p->db, OPT);
        break;
    }
    case NST_OP_RELU_FORWARD: {
        const nst_relu_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_RELU_BACKWARD: {
        const nst_relu_params *p = params;
        IN("x", p->x, 0), IN("dy", p->dy, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_POOL2X2_FORWARD: {
        const nst_pool2x2_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_POOL2X2_BACKWARD: {
        const nst_pool2x2_params *p = params;
        IN("x", p->x, OPT), IN("dy", p->dy, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_UPSAMPLE2X_FORWARD: {
        const nst_upsample2x_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_UPSAMPLE2X_BACKWARD: {
        const nst_upsample2x_params *p = params;
        IN("dy", p->dy, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_REFLECT_PAD_FORWARD: {
        const nst_reflect_pad_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_REFLECT_PAD_BACKWARD: {
        const nst_reflect_pad_params *p = params;
        IN("dy", p->dy, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_INSTANCE_NORM_FORWARD: {
        const nst_instance_norm_params *p = params;
        IN("x", p->x, 0), IN("gamma", p->gamma, OPT), IN("beta", p->beta, OPT);
        OUT("y", p->y, 0), OUT("mean", p->mean, OPT | F32), OUT("rstd", p->rstd, OPT | F32);
        break;
    }
    case NST_OP_INSTANCE_NORM_BACKWARD: {
        const nst_instance_norm_params *p = params;
        IN("x", p->x, 0), IN("gamma", p->gamma, OPT), IN("mean", p->mean, F32);
        IN("rstd", p->rstd, F32), IN("dy", p->dy, 0);
        OUT("dx", p->dx, OPT), OUT("dgamma", p->dgamma, OPT), OUT("dbeta", p->dbeta, OPT);
        break;
    }
    case NST_OP_LINEAR_FORWARD: {
        const nst_linear_params *p = params;
        IN("x", p->x, 0), IN("w", p->w, 0), IN("b", p->b, OPT), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_LINEAR_BACKWARD: {
        const nst_linear_params *p = params;
        IN("x", p->x, OPT), IN("w", p->w, 0), IN("dy", p->dy, 0);
        OUT("dx", p->dx, OPT), OUT("dw", p->dw, OPT), OUT("db", p->db, OPT);
        break;
    }
    case NST_OP_ADD: {
        const nst_add_params *p = params;
        IN("a", p->a, 0), IN("b", p->b, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_SCALE: {
        const nst_scale_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_AXPY: {
        const nst_scale_params *p = params;
        IN("x", p->x, 0), INOUT("y", p->y, 0);
        break;
    }
    case NST_OP_CLAMP: {
        const nst_clamp_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_REDUCE_SUM:
    case NST_OP_REDUCE_MEAN: {
        const nst_reduce_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, F32);
        break;
    }
    case NST_OP_ADAM: {
        const nst_adam_params *p = params;
        if (p->n_slots > 0 && !p->slots)
            add(l, "slots", NULL, NST_ARG_INOUT, 0, -1); /* refused as missing */
        for (int i = 0; p->slots && i < p->n_slots; i++) {
            const nst_adam_slot *s = &p->slots[i];
            add(l, "param", s->param, NST_ARG_INOUT, F32, i);
            add(l, "grad", s->grad, NST_ARG_IN, F32, i);
            add(l, "m", s->m, NST_ARG_INOUT, F32, i);
            add(l, "v", s->v, NST_ARG_INOUT, F32, i);
        }
        break;
    }
    case NST_OP_AFFINE_GRID_FORWARD: {
        const nst_affine_grid_params *p = params;
        IN("theta", p->theta, 0), OUT("grid", p->grid, 0);
        break;
    }
    case NST_OP_AFFINE_GRID_BACKWARD: {
        const nst_affine_grid_params *p = params;
        IN("dgrid", p->dgrid, 0), OUT("dtheta", p->dtheta, OPT);
        break;
    }
    case NST_OP_GRID_SAMPLE_FORWARD: {
        const nst_grid_sample_params *p = params;
        IN("x", p->x, 0), IN("grid", p->grid, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_GRID_SAMPLE_BACKWARD: {
        const nst_grid_sample_params *p = params;
        IN("x", p->x, 0), IN("grid", p->grid, 0), IN("dy", p->dy, 0);
        OUT("dx", p->dx, OPT), OUT("dgrid", p->dgrid, OPT);
        break;
    }
    case NST_OP_GRAM_FORWARD: {
        const nst_gram_params *p = params;
        IN("x", p->x, 0), OUT("g", p->g, F32);
        break;
    }
    case NST_OP_GRAM_BACKWARD: {
        const nst_gram_params *p = params;
        IN("x", p->x, 0), IN("dg", p->dg, F32), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_MSE_FORWARD: {
        const nst_mse_params *p = params;
        IN("a", p->a, 0), IN("b", p->b, 0), OUT("loss", p->loss, F32);
        break;
    }
    case NST_OP_MSE_BACKWARD: {
        const nst_mse_params *p = params;
        IN("a", p->a, 0), IN("b", p->b, 0), OUT("da", p->da, OPT);
        break;
    }
    case NST_OP_TV_FORWARD: {
        const nst_tv_params *p = params;
        IN("x", p->x, 0), OUT("loss", p->loss, F32);
        break;
    }
    case NST_OP_TV_BACKWARD: {
        const nst_tv_params *p = params;
        IN("x", p->x, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_RGB_TO_YUV:
    case NST_OP_YUV_TO_RGB: {
        const nst_colour_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_INPUT_CONVERT_FORWARD: {
        const nst_input_convert_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_INPUT_CONVERT_BACKWARD: {
        const nst_input_convert_params *p = params;
        IN("dy", p->dy, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_DWCONV2D_FORWARD: {
        const nst_conv2d_params *p = params;
        IN("x", p->x, 0), IN("w", p->w, 0), IN("b", p->b, OPT), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_DWCONV2D_BACKWARD_DATA: {
        const nst_conv2d_params *p = params;
        IN("dy", p->dy, 0), IN("w", p->w, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_DWCONV2D_BACKWARD_FILTER: {
        const nst_conv2d_params *p = params;
        IN("x", p->x, OPT), IN("w", p->w, 0), IN("dy", p->dy, 0);
        OUT("dw", p->dw, OPT), OUT("db", p->db, OPT);
        break;
    }
    case NST_OP_SIGMOID_FORWARD: {
        const nst_sigmoid_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_SIGMOID_BACKWARD: {
        const nst_sigmoid_params *p = params;
        IN("y", p->y, 0), IN("dy", p->dy, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_GLOBAL_AVG_POOL_FORWARD: {
        const nst_global_avg_pool_params *p = params;
        IN("x", p->x, 0), OUT("y", p->y, 0);
        break;
    }
    case NST_OP_GLOBAL_AVG_POOL_BACKWARD: {
        const nst_global_avg_pool_params *p = params;
        IN("dy", p->dy, 0), OUT("dx", p->dx, OPT);
        break;
    }
    case NST_OP_COND_INSTANCE_NORM_FORWARD: {
        const nst_instance_norm_params *p = params;
        IN("x", p->x, 0), IN("gamma", p->gamma, 0), IN("beta", p->beta, 0);
        OUT("y", p->y, 0), OUT("mean", p->mean, OPT | F32), OUT("rstd", p->rstd, OPT | F32);
        break;
    }
    case NST_OP_COND_INSTANCE_NORM_BACKWARD: {
        const nst_instance_norm_params *p = params;
        IN("x", p->x, 0), IN("gamma", p->gamma, 0), IN("mean", p->mean, F32);
        IN("rstd", p->rstd, F32), IN("dy", p->dy, 0);
        OUT("dx", p->dx, OPT), OUT("dgamma", p->dgamma, OPT), OUT("dbeta", p->dbeta, OPT);
        break;
    }
    default:
        break;
    }
}

int nst_op_args(nst_op op, const void *params, nst_op_arg *out, int max) {
    if ((unsigned)op >= NST_OP_COUNT || !params)
        return -1;
    arglist l = {out, out ? max : 0, 0};
    args_op(op, params, &l);
    return l.n;
}

int nst__op_args_collect(nst_ctx *ctx, nst_op op, const void *params,
                         nst_op_arg stack[NST__OP_ARGS_STACK], nst_op_arg **out) {
    *out = stack;
    const int n = nst_op_args(op, params, stack, NST__OP_ARGS_STACK);
    if (n <= NST__OP_ARGS_STACK)
        return n;
    *out = malloc((size_t)n * sizeof **out);
    if (!*out) {
        *out = stack;
        NST__ERR(ctx, NST_ERR_NO_MEMORY, "op %s: no host memory to list its %d tensors",
                 nst_op_get_info(op)->name, n);
        return -1;
    }
    nst_op_args(op, params, *out, n);
    return n;
}

void nst__op_args_release(const nst_op_arg *stack, nst_op_arg *args) {
    if (args != stack)
        free(args);
}
