# test_ptx_exact (tests/ptx/check_ptx.sh): the kernels declared bit-exact hold no FMA or other
# arithmetic that rounds unlike the CPU, read from PTX made with the build's own compile commands.
# Included by the top-level CMakeLists.txt when tests are on and NST_CUDA is not OFF; without
# nvcc the test is skipped with the reason printed.
if(NST_HAVE_CUDA)
  # the build's exact compile command of each kernel source, for the test to reuse
  set_target_properties(nstyle_cuda PROPERTIES EXPORT_COMPILE_COMMANDS ON)
  add_test(NAME test_ptx_exact
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/check_ptx.sh ${CMAKE_BINARY_DIR}
                   ${CMAKE_SOURCE_DIR} ${CMAKE_COMMAND})
else()
  add_test(NAME test_ptx_exact
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/check_ptx.sh --skip
                   "no CUDA compiler (nvcc) was found when this build was configured")
endif()
set_tests_properties(test_ptx_exact PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE ${NST_TEST_SKIP_CODE})
