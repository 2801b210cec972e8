# The CPU emulation of the CUDA kernels (tests/emul/test_kernel_emul.c): plain C over the
# kernels' headers, so it builds and runs in every variant, CPU-only and sanitized ones included.
# Included by the top-level CMakeLists.txt when tests are on. test_kernel_emul_asan is the same
# test under AddressSanitizer and UBSan, for builds whose flags do not sanitize already (the
# sanitize variant of scripts/test.sh builds everything that way).
# test_kernel_emul.c dispatches every op to its emulated launcher: the elementwise, pooling,
# upsampling, padding and instance-norm ones in itself, each other op family in an
# emul_<family>.c. The Criterion tests live in test_kernel_emul.c, emul_norm_finalize.c and
# emul_rounding.c.
set(NST_EMUL_SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernel_emul.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_adam.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_affine_grid.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_grid_sample.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_gram.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_reduce.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_mse_tv.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_colour.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_norm_finalize.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_rounding.c
                     ${CMAKE_CURRENT_LIST_DIR}/extra_cases.c)
add_executable(test_kernel_emul ${NST_EMUL_SOURCES} $<TARGET_OBJECTS:nst_test_main>)
target_compile_options(test_kernel_emul PRIVATE -Wall -Wextra -Wshadow)
target_include_directories(test_kernel_emul PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_kernel_emul PRIVATE nst_test_support)
add_test(NAME test_kernel_emul COMMAND test_kernel_emul --jobs=2)
set_tests_properties(test_kernel_emul PROPERTIES TIMEOUT 600
                     SKIP_RETURN_CODE ${NST_TEST_SKIP_CODE})

if(NOT CMAKE_C_FLAGS MATCHES "-fsanitize")
  set(NST_EMUL_SAN -fsanitize=address,undefined -fno-sanitize-recover=undefined
                   -fno-omit-frame-pointer)
  add_executable(test_kernel_emul_asan ${NST_EMUL_SOURCES} $<TARGET_OBJECTS:nst_test_main>)
  target_compile_options(test_kernel_emul_asan PRIVATE -Wall -Wextra -Wshadow ${NST_EMUL_SAN})
  target_link_options(test_kernel_emul_asan PRIVATE -fsanitize=address,undefined)
  target_include_directories(test_kernel_emul_asan PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(test_kernel_emul_asan PRIVATE nst_test_support)
  add_test(NAME test_kernel_emul_asan COMMAND test_kernel_emul_asan --jobs=2)
  set_tests_properties(test_kernel_emul_asan PROPERTIES TIMEOUT 600
                       SKIP_RETURN_CODE ${NST_TEST_SKIP_CODE}
                       ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
endif()
