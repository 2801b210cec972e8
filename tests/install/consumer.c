/* A program built against an installed nstyle: one ReLU through the op table on the CPU, the
 * build's version, and the CUDA module as libnstyle finds it (beside libnstyle.so when linked
 * to the shared library). Built and run by tests/scripts/test_install.sh, through pkg-config
 * and through find_package(nstyle) (tests/install/CMakeLists.txt). Exit 0 when the ReLU is
 * right. */
#include <nstyle/nstyle.h>
#include <stdio.h>

int main(void) {
    nst_ctx *ctx = nst_ctx_create();
    float x[4] = {-1.0f, 2.0f, -3.0f, 4.0f}, y[4] = {9.0f, 9.0f, 9.0f, 9.0f};
    nst_tensor tx = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, x, 1, 2, 2, 1);
    nst_tensor ty = nst_tensor_nhwc(NST_F32, NST_BACKEND_CPU, y, 1, 2, 2, 1);
    nst_relu_params p = {.x = &tx, .y = &ty};
    if (!ctx || nst_relu_forward(ctx, &p) != NST_OK) {
        fprintf(stderr, "relu: %s\n", ctx ? nst_last_error(ctx) : "no context");
        return 1;
    }
    char cuda[2048];
    nst_status cuda_status = nst_cuda_libraries(cuda, sizeof cuda);
    printf("nstyle %s\nrelu %g %g %g %g\ncuda %s: %s\n", nst_get_build_info().version, y[0],
           y[1], y[2], y[3], cuda_status == NST_OK ? "ok" : "unavailable", cuda);
    nst_ctx_destroy(ctx);
    return y[0] == 0.0f && y[1] == 2.0f && y[2] == 0.0f && y[3] == 4.0f ? 0 : 1;
}
