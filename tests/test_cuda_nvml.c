/* The GPU listing's memory figures through NVML (src/host/cuda/nvml.c) without a driver: a
 * stand-in libnvidia-ml (tests/cuda_fakes/nvml.c) with one GPU at a known PCI bus id answers
 * the free and total memory and the driver release; an unknown bus id and a missing library
 * are refused with their reasons, so `nstyle info` leaves the free memory out instead of
 * guessing it. Links libnstyle_cuda.so. */
#include <criterion/criterion.h>
#include <string.h>

#include "test_support.h"

#ifndef NST_HAVE_CUDA
Test(cuda_nvml, needs_the_cuda_module) {
    cr_skip_test("CPU-only build (NST_CUDA=OFF or no CUDA toolkit): no NVML code to test");
}
#else
#include "host/cuda/nvml.h"

Test(cuda_nvml, memory_and_driver_of_a_gpu_by_its_bus_id) {
    nst__nvml n;
    char why[256] = "";
    cr_assert(nst__nvml_open(&n, NST_TEST_FAKE_NVML, why, sizeof why), "%s", why);
    size_t free_b = 0, total_b = 0;
    cr_assert(nst__nvml_memory(&n, "00000000:01:00.0", &free_b, &total_b, why, sizeof why), "%s",
              why);
    cr_assert_eq(free_b, (size_t)79 << 30);
    cr_assert_eq(total_b, (size_t)80 << 30);
    cr_assert_not(nst__nvml_memory(&n, "00000000:02:00.0", &free_b, &total_b, why, sizeof why));
    cr_assert(strstr(why, "00000000:02:00.0") && strstr(why, "Not Found"), "%s", why);
    char release[32];
    cr_assert(nst__nvml_driver(&n, release, sizeof release));
    cr_assert_str_eq(release, "575.51.03");
    nst__nvml_close(&n);
    cr_assert_null(n.lib);
}

Test(cuda_nvml, a_missing_library_is_reported_not_guessed) {
    nst__nvml n;
    char why[256] = "";
    cr_assert_not(nst__nvml_open(&n, "libnvidia-ml-not-here.so.1", why, sizeof why));
    cr_assert(strstr(why, "NVML is not available") && strstr(why, "libnvidia-ml-not-here"), "%s",
              why);
    cr_assert_null(n.lib);
}
#endif
