# The GPU parity tool (nst_parity) and its ctest wrapper: CUDA builds only. Included by the
# top-level CMakeLists.txt when CUDA and tests are on. The GPU benchmarks: bench/bench_gpu.cmake.
add_executable(nst_parity ${CMAKE_CURRENT_LIST_DIR}/parity.c
                          ${CMAKE_SOURCE_DIR}/tests/emul/extra_cases.c)
target_compile_options(nst_parity PRIVATE -Wall -Wextra -Wshadow)
target_include_directories(nst_parity PRIVATE ${CMAKE_SOURCE_DIR}/tests/emul)
target_link_libraries(nst_parity PRIVATE nst_test_support nst_parity_support)

add_executable(test_parity ${CMAKE_CURRENT_LIST_DIR}/test_parity.c $<TARGET_OBJECTS:nst_test_main>)
target_compile_options(test_parity PRIVATE -Wall -Wextra)
target_compile_definitions(test_parity PRIVATE NST_PARITY_PATH="$<TARGET_FILE:nst_parity>")
target_link_libraries(test_parity PRIVATE nst_test_support)
add_dependencies(test_parity nst_parity)
if(TARGET nstyle_cuda)
  add_dependencies(nst_parity nstyle_cuda)
endif()
add_test(NAME test_parity COMMAND test_parity --jobs=1)
set_tests_properties(test_parity PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE ${NST_TEST_SKIP_CODE})
