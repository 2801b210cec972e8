# The CUDA benchmarks that launch the bodies of src/kernels/ themselves: bench_gpu_kernels (the
# network ops' kernels in GB/s beside cudaMemcpy) and bench_gpu_brief (affine grid, grid sample,
# fused Adam and Gram at the brief's sizes; bench/peer_gpu_brief.py is its PyTorch peer). Both
# print and run on a GPU only. Included by the top-level CMakeLists.txt when CUDA is on, after
# the library's kernel sources have their compile options.
#
# Each benchmark source is built as the library builds the kernel sources whose kernels it
# compiles: with the COMPILE_OPTIONS CMakeLists.txt gives src/kernels/<family>.cu (-fmad=false
# for the kernels that claim the CPU's bits). A source whose families are built differently
# stops the configure: its kernels belong in separate sources, as instance norm, the sum
# reduction and the Gram have theirs (bench_gpu_kernels_norm_reduce.cu, bench_gpu_brief_gram.cu).

if(NOT TARGET nstyle_cuda)
  message(FATAL_ERROR "bench/bench_gpu.cmake reads the compile options of the nstyle_cuda "
                      "module's kernel sources: include it after they are set")
endif()

# nst_bench_build_like(<bench source> <family>...): the source gets the compile options of
# src/kernels/<family>.cu, which must be the same for every family named.
function(nst_bench_build_like src)
  set(first TRUE)
  foreach(family ${ARGN})
    get_source_file_property(opts ${CMAKE_SOURCE_DIR}/src/kernels/${family}.cu COMPILE_OPTIONS)
    if(NOT opts)
      set(opts "")
    endif()
    if(first)
      set(want "${opts}")
      set(first FALSE)
    elseif(NOT "${opts}" STREQUAL "${want}")
      message(FATAL_ERROR "${src} compiles kernels of src/kernels/${family}.cu, built with "
                          "'${opts}', beside kernels built with '${want}': split the source")
    endif()
  endforeach()
  if(want)
    set_source_files_properties(${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${src} PROPERTIES
                                COMPILE_OPTIONS "${want}")
  endif()
endfunction()

nst_bench_build_like(bench_gpu_kernels.cu relu eltwise pool upsample reflect_pad)
nst_bench_build_like(bench_gpu_kernels_norm_reduce.cu instance_norm reduce)
nst_bench_build_like(bench_gpu_brief.cu adam affine_grid grid_sample)
nst_bench_build_like(bench_gpu_brief_gram.cu gram)

# bench_gpu_util.cu: the stream, the L2 flush buffer and the emulation's fault hook they share
add_library(nst_bench_gpu_util OBJECT ${CMAKE_CURRENT_LIST_DIR}/bench_gpu_util.cu)

add_executable(bench_gpu_kernels ${CMAKE_CURRENT_LIST_DIR}/bench_gpu_kernels.cu
                                 ${CMAKE_CURRENT_LIST_DIR}/bench_gpu_kernels_norm_reduce.cu
                                 $<TARGET_OBJECTS:nst_bench_gpu_util>)
add_executable(bench_gpu_brief ${CMAKE_CURRENT_LIST_DIR}/bench_gpu_brief.cu
                               ${CMAKE_CURRENT_LIST_DIR}/bench_gpu_brief_gram.cu
                               $<TARGET_OBJECTS:nst_bench_gpu_util>)
foreach(target nst_bench_gpu_util bench_gpu_kernels bench_gpu_brief)
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include
                                               ${CMAKE_CURRENT_LIST_DIR})
  target_compile_options(${target} PRIVATE -Xcompiler=-Wall,-Wextra)
endforeach()
target_link_libraries(bench_gpu_kernels PRIVATE CUDA::cudart_static)
target_link_libraries(bench_gpu_brief PRIVATE CUDA::cudart_static)
