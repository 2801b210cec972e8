# The version nstyle reports (`nstyle --version`, `nstyle info`, every JSON summary), settled when
# the build is configured. The first of these that gives one:
#   1. -DNST_VERSION=... (a container or packaging build that knows better);
#   2. git, when the source folder is the top of a git checkout: `git describe --tags --always
#      --dirty` with a leading "v" dropped (v0.2.0-3-gHASH -> 0.2.0-3-gHASH); with no tag to
#      describe from, PROJECT_VERSION-N-gHASH[-dirty], N the commits up to HEAD;
#   3. a file VERSION at the top of the source folder, its first line (a source archive or a copy
#      without .git: write it with `git describe ...` or copy the build folder's VERSION);
#   4. PROJECT_VERSION alone.
# A version holds only letters, digits and . _ + ~ - (it is compiled in as a C string).
#
# nst_version(SOURCE_DIR PROJECT_VERSION OVERRIDE OUT_VAR FROM_VAR [DEPENDS_VAR]) sets OUT_VAR to
# the version, FROM_VAR to where it came from, and DEPENDS_VAR to the git files whose change
# should re-run the configure (HEAD and the branch's ref).
# Script mode, for tests/scripts/test_version.sh:
#   cmake -DSOURCE_DIR=D -DPROJECT_VERSION=V [-DNST_VERSION=X] -P cmake/NstVersion.cmake
# prints "<version> (<where from>)".

function(nst_version source_dir project_version override out_var from_var)
  set(version "")
  set(from "")
  set(depends "")
  get_filename_component(source_dir "${source_dir}" REALPATH)
  if(NOT "${override}" STREQUAL "")
    set(version "${override}")
    set(from "-DNST_VERSION")
  else()
    find_program(NST_GIT_EXECUTABLE git)
    set(top "")
    if(NST_GIT_EXECUTABLE)
      execute_process(COMMAND "${NST_GIT_EXECUTABLE}" -C "${source_dir}" rev-parse --show-toplevel
                      RESULT_VARIABLE rc OUTPUT_VARIABLE top ERROR_QUIET
                      OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(rc EQUAL 0)
        get_filename_component(top "${top}" REALPATH)
      else()
        set(top "")
      endif()
    endif()
    # only this project's own checkout: an archive unpacked inside another repository is not one
    if(top AND top STREQUAL source_dir)
      execute_process(COMMAND "${NST_GIT_EXECUTABLE}" -C "${source_dir}" describe --tags --always
                              --dirty
                      RESULT_VARIABLE rc OUTPUT_VARIABLE described ERROR_QUIET
                      OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(rc EQUAL 0 AND described MATCHES "^([0-9a-f]+)(-dirty)?$")
        # no tag: the hash alone, which says nothing of the version; count the commits instead
        set(hash "${CMAKE_MATCH_1}")
        set(dirty "${CMAKE_MATCH_2}")
        execute_process(COMMAND "${NST_GIT_EXECUTABLE}" -C "${source_dir}" rev-list --count HEAD
                        RESULT_VARIABLE rc OUTPUT_VARIABLE count ERROR_QUIET
                        OUTPUT_STRIP_TRAILING_WHITESPACE)
        if(rc EQUAL 0)
          set(version "${project_version}-${count}-g${hash}${dirty}")
          set(from "git, no tag")
        endif()
      elseif(rc EQUAL 0)
        string(REGEX REPLACE "^v([0-9])" "\\1" version "${described}")
        set(from "git describe")
      endif()
      if(version)
        execute_process(COMMAND "${NST_GIT_EXECUTABLE}" -C "${source_dir}" rev-parse
                                --symbolic-full-name HEAD
                        OUTPUT_VARIABLE ref ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
        foreach(name HEAD ${ref})
          execute_process(COMMAND "${NST_GIT_EXECUTABLE}" -C "${source_dir}" rev-parse --git-path
                                  "${name}"
                          OUTPUT_VARIABLE path ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
          if(path AND NOT IS_ABSOLUTE "${path}")
            set(path "${source_dir}/${path}")
          endif()
          if(path AND EXISTS "${path}")
            list(APPEND depends "${path}")
          endif()
        endforeach()
      endif()
    endif()
    if(NOT version AND EXISTS "${source_dir}/VERSION")
      file(STRINGS "${source_dir}/VERSION" lines LIMIT_COUNT 1)
      string(STRIP "${lines}" version)
      set(from "the VERSION file")
    endif()
    if(NOT version)
      set(version "${project_version}")
      set(from "project(): no -DNST_VERSION, git checkout or VERSION file")
    endif()
  endif()
  if(NOT version MATCHES "^[A-Za-z0-9._+~-]+$")
    message(FATAL_ERROR "nstyle: the version '${version}' (from ${from}) may hold only letters, "
                        "digits and . _ + ~ -")
  endif()
  set(${out_var} "${version}" PARENT_SCOPE)
  set(${from_var} "${from}" PARENT_SCOPE)
  if(ARGC GREATER 5)
    set(${ARGV5} "${depends}" PARENT_SCOPE)
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(NOT DEFINED NST_VERSION)
    set(NST_VERSION "")
  endif()
  nst_version("${SOURCE_DIR}" "${PROJECT_VERSION}" "${NST_VERSION}" version from)
  message("${version} (${from})")
endif()
