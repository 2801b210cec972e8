# The parity tool's pass settings and tolerances (parity_setup.c, parity_bound.c) as a library
# of their own: nst_parity (CUDA builds, parity.cmake) links it, and so does the GPU-free test
# of them, tests/test_parity_bound.c, built in every variant. Included by the top-level
# CMakeLists.txt when tests are on.
add_library(nst_parity_support STATIC ${CMAKE_CURRENT_LIST_DIR}/parity_setup.c
                                      ${CMAKE_CURRENT_LIST_DIR}/parity_bound.c)
target_compile_options(nst_parity_support PRIVATE -Wall -Wextra -Wshadow)
target_include_directories(nst_parity_support PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(nst_parity_support PUBLIC nstyle)
if(TARGET test_parity_bound)
  target_link_libraries(test_parity_bound PRIVATE nst_parity_support)
endif()
