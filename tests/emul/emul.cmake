# The CUDA kernels run on the CPU (tests/emul/test_kernel_emul.c) under the CUDA-on-CPU shim
# (tests/cushim/): host C and C++, no CUDA toolkit, so it builds and runs in every variant,
# CPU-only and sanitized ones included. Included by the top-level CMakeLists.txt when tests are
# on. test_kernel_emul_asan is the same test under AddressSanitizer and UBSan, for builds whose
# flags do not sanitize already (the sanitize variant of scripts/test.sh builds everything that
# way, and then test_kernel_emul is the sanitized one).
#
# The shim's table of kernels is written here, at configure time, from the kernel sources into
# <build>/cushim/cushim_kernels.inc: each NST_K_GLOBAL or NST_K_FLAT_GLOBAL line of a
# src/kernels/*.cu (copied, so the host compiles the very wrapper nvcc does), each
# `__global__ void name(` and each NST_K_LOSS_PARTIAL_KERNEL of a src/kernels/*.cuh. A change of
# those files configures again. tests/cushim/kernels.cpp includes it after the headers.
enable_language(CXX)
set(NST_CUSHIM_DIR ${CMAKE_SOURCE_DIR}/tests/cushim)

set(nst_cushim_wrappers "")
set(nst_cushim_rows "")
file(GLOB nst_kernel_files ${CMAKE_SOURCE_DIR}/src/kernels/*.cu
     ${CMAKE_SOURCE_DIR}/src/kernels/*.cuh)
list(SORT nst_kernel_files)
foreach(f IN LISTS nst_kernel_files)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${f})
  get_filename_component(base ${f} NAME)
  file(STRINGS ${f} lines REGEX
       "^NST_K_(FLAT_)?GLOBAL\\(|^NST_K_LOSS_PARTIAL_KERNEL\\(|__global__ void [A-Za-z_0-9]+\\(")
  foreach(line IN LISTS lines)
    if(line MATCHES "^NST_K_(FLAT_)?GLOBAL\\(([A-Za-z_0-9]+)")
      set(kernel ${CMAKE_MATCH_2}_kernel)
      if(base MATCHES "\\.cu$")
        string(APPEND nst_cushim_wrappers "${line}\n")
      endif()
    elseif(line MATCHES "^NST_K_LOSS_PARTIAL_KERNEL\\(([A-Za-z_0-9]+)")
      set(kernel ${CMAKE_MATCH_1}_partial_kernel)
    elseif(line MATCHES "__global__ void ([A-Za-z_0-9]+)\\(")
      set(kernel ${CMAKE_MATCH_1})
    endif()
    string(APPEND nst_cushim_rows "    CUSHIM_KERNEL(${kernel}, \"${base}\"),\n")
  endforeach()
endforeach()
file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/cushim/cushim_kernels.inc @ONLY CONTENT
"/* Written by tests/emul/emul.cmake from src/kernels/: do not edit. */
@nst_cushim_wrappers@
static const cushim_kernel cushim_table[] = {
@nst_cushim_rows@};
CUSHIM_TABLE(cushim_table);
")

set(NST_EMUL_SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernel_emul.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_launch.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_adam.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_affine_grid.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_grid_sample.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_gram.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_reduce.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_mse_tv.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_colour.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_norm_finalize.c
                     ${CMAKE_CURRENT_LIST_DIR}/emul_rounding.c
                     ${CMAKE_CURRENT_LIST_DIR}/test_cushim.c
                     ${CMAKE_CURRENT_LIST_DIR}/extra_cases.c
                     ${NST_CUSHIM_DIR}/cushim.cpp)
set(NST_EMUL_KERNELS ${NST_CUSHIM_DIR}/kernels.cpp ${CMAKE_CURRENT_LIST_DIR}/planted_kernels.cpp)

set(NST_EMUL_SAN -fsanitize=address,undefined -fno-sanitize-recover=undefined
                 -fno-omit-frame-pointer)
# The kernels' code: ThreadSanitizer's instrumentation for the shim's race detector (whose
# runtime is cushim.cpp, not libtsan; GCC need not call the function entry and exit hooks), no
# contraction into fused multiply-adds (the CPU ops' rounding), UBSan where the test sanitizes.
set(NST_CUSHIM_KERNEL_FLAGS -fsanitize=thread -ffp-contract=off)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND NST_CUSHIM_KERNEL_FLAGS --param=tsan-instrument-func-entry-exit=0)
endif()

# nst_emul_test(NAME SANITIZE): the test executable NAME, its C and runtime sources under
# ASan and UBSan when SANITIZE (beyond what CMAKE_C_FLAGS already gives the C sources).
function(nst_emul_test name sanitize)
  add_library(${name}_kernels OBJECT ${NST_EMUL_KERNELS})
  set_target_properties(${name}_kernels PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
                        CXX_EXTENSIONS OFF)
  target_include_directories(${name}_kernels PRIVATE ${NST_CUSHIM_DIR}
                             ${CMAKE_BINARY_DIR}/cushim ${CMAKE_SOURCE_DIR}/include
                             ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(${name}_kernels PRIVATE -Wall -Wextra -Wshadow
                         ${NST_CUSHIM_KERNEL_FLAGS})
  add_executable(${name} ${NST_EMUL_SOURCES} $<TARGET_OBJECTS:${name}_kernels>
                 $<TARGET_OBJECTS:nst_test_main>)
  set_target_properties(${name} PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
                        CXX_EXTENSIONS OFF)
  target_compile_options(${name} PRIVATE -Wall -Wextra -Wshadow)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR}
                             ${NST_CUSHIM_DIR})
  target_link_libraries(${name} PRIVATE nst_test_support)
  if(sanitize)
    target_compile_options(${name}_kernels PRIVATE -fsanitize=undefined
                           -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    target_compile_options(${name} PRIVATE ${NST_EMUL_SAN})
    target_link_options(${name} PRIVATE -fsanitize=address,undefined)
  endif()
  add_test(NAME ${name} COMMAND ${name} --jobs=2)
  set_tests_properties(${name} PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE ${NST_TEST_SKIP_CODE})
endfunction()

if(CMAKE_C_FLAGS MATCHES "-fsanitize")
  nst_emul_test(test_kernel_emul ON)
else()
  nst_emul_test(test_kernel_emul OFF)
  nst_emul_test(test_kernel_emul_asan ON)
  set_tests_properties(test_kernel_emul_asan PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
endif()
