# The install_consumer test (cmake -P): installs the built library into a scratch prefix, then
# builds and runs a small C99 consumer (main.c) against that prefix in three ways:
#   1. find_package(lsc) and lsc::lsc (shared),
#   2. find_package(lsc) and lsc::lsc_static,
#   3. the compiler alone with `pkg-config --cflags --libs lsc`, run without LD_LIBRARY_PATH (lsc.pc
#      links with an RPATH), then README's C example the same way, its output compared with
#      README's, and the installed `lsc` command.
# Any failure stops with FATAL_ERROR and the output of the step that failed.
#   -DSOURCE_DIR=<lsc source> -DBUILD_DIR=<lsc build> -DWORK_DIR=<scratch> -DC_COMPILER=<cc>
#   optional -DCONFIG=<config> for multi-config generators.
cmake_minimum_required(VERSION 3.22)

foreach(var SOURCE_DIR BUILD_DIR WORK_DIR C_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake needs -D${var}=...")
  endif()
endforeach()

set(PREFIX "${WORK_DIR}/prefix")
set(CONSUMER_SRC "${SOURCE_DIR}/tests/consumer")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# Runs a command; on failure stops with what it printed.
function(step what)
  string(TIMESTAMP _t0 "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " _cmd "${ARGN}")
    message(FATAL_ERROR "install_consumer: ${what} failed (${rc}):\n  ${_cmd}\n${out}")
  endif()
  string(TIMESTAMP _t1 "%s")
  math(EXPR _dt "${_t1} - ${_t0}")
  message(STATUS "ok (${_dt} s): ${what}")
  string(STRIP "${out}" out)
  set(STEP_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

set(_config_args "")
if(CONFIG)
  set(_config_args --config "${CONFIG}")
endif()

# ---- install -------------------------------------------------------------------------------
step("cmake --install into ${PREFIX}"
  "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${_config_args})
foreach(f include/lsc.h)
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "install_consumer: ${PREFIX}/${f} was not installed")
  endif()
endforeach()

# ---- find_package: shared, then static ------------------------------------------------------
foreach(kind shared static)
  if(kind STREQUAL "static")
    set(_static ON)
  else()
    set(_static OFF)
  endif()
  set(_bin "${WORK_DIR}/cmake-${kind}")
  step("configure the find_package consumer (${kind})"
    "${CMAKE_COMMAND}" -S "${CONSUMER_SRC}" -B "${_bin}" "-DCMAKE_C_COMPILER=${C_COMPILER}"
    "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DLSC_EXPECT_PREFIX=${PREFIX}"
    -DLSC_CONSUMER_STATIC=${_static} -DCMAKE_BUILD_TYPE=Release)
  step("build the find_package consumer (${kind})"
    "${CMAKE_COMMAND}" --build "${_bin}" ${_config_args})
  file(GLOB_RECURSE _exe "${_bin}/lsc_consumer" "${_bin}/lsc_consumer.exe")
  list(LENGTH _exe _n)
  if(NOT _n EQUAL 1)
    message(FATAL_ERROR "install_consumer: expected one lsc_consumer under ${_bin}, found '${_exe}'")
  endif()
  if(kind STREQUAL "static" AND CMAKE_HOST_UNIX)
    # a static link must not need liblsc.so at run time
    find_program(_ldd ldd)
    if(_ldd)
      execute_process(COMMAND "${_ldd}" "${_exe}" OUTPUT_VARIABLE _deps ERROR_QUIET)
      if(_deps MATCHES "liblsc\\.so")
        message(FATAL_ERROR "install_consumer: the lsc::lsc_static consumer depends on liblsc.so:\n${_deps}")
      endif()
    endif()
  endif()
  step("run the find_package consumer (${kind})" "${_exe}")
  message(STATUS "  ${STEP_OUTPUT}")
endforeach()

# ---- pkg-config -------------------------------------------------------------------------------
# GNUInstallDirs puts the libraries in lib, lib64 or lib/<multiarch>: take whichever holds lsc.pc.
file(GLOB _pcs "${PREFIX}/lib*/pkgconfig/lsc.pc" "${PREFIX}/lib/*/pkgconfig/lsc.pc"
  "${PREFIX}/share/pkgconfig/lsc.pc")
list(LENGTH _pcs _n)
if(NOT _n EQUAL 1)
  message(FATAL_ERROR "install_consumer: expected one lsc.pc under ${PREFIX}, found '${_pcs}'")
endif()
get_filename_component(_pcdir "${_pcs}" DIRECTORY)
get_filename_component(_libdir "${_pcdir}" DIRECTORY)

find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
if(NOT PKG_CONFIG_EXECUTABLE)
  message(FATAL_ERROR "install_consumer: pkg-config not found (Debian: apt-get install pkg-config)")
endif()
set(ENV{PKG_CONFIG_PATH} "${_pcdir}")
step("pkg-config --cflags --libs lsc" "${PKG_CONFIG_EXECUTABLE}" --cflags --libs lsc)
string(STRIP "${STEP_OUTPUT}" _flags)
message(STATUS "  pkg-config: ${_flags}")
string(FIND "${_flags}" "-I${PREFIX}/include" _at_inc)
string(FIND "${_flags}" "-L${_libdir}" _at_lib)
if(_at_inc EQUAL -1 OR _at_lib EQUAL -1)
  message(FATAL_ERROR "install_consumer: lsc.pc does not point into the prefix ${PREFIX}: ${_flags}")
endif()
separate_arguments(_flags UNIX_COMMAND "${_flags}")
set(_exe "${WORK_DIR}/pkgconfig/lsc_consumer")
file(MAKE_DIRECTORY "${WORK_DIR}/pkgconfig")
step("compile the consumer with pkg-config's flags"
  "${C_COMPILER}" -std=c99 -Wall -Wextra -pedantic -Werror "${CONSUMER_SRC}/main.c"
  -o "${_exe}" ${_flags})
# lsc.pc's RPATH must find the library: no LD_LIBRARY_PATH
step("run the pkg-config consumer"
  "${CMAKE_COMMAND}" -E env --unset=LD_LIBRARY_PATH "${_exe}")
message(STATUS "  ${STEP_OUTPUT}")

# ---- README's C example, exactly as printed there, and the output README shows -------------------
file(READ "${SOURCE_DIR}/README.md" _readme)
string(FIND "${_readme}" "## A short C example" _at)
if(_at EQUAL -1)
  message(FATAL_ERROR "install_consumer: README.md has no '## A short C example'")
endif()
string(SUBSTRING "${_readme}" ${_at} -1 _readme)
string(REGEX MATCH "```c\n(.*)\n```\n" _m "${_readme}")
string(FIND "${CMAKE_MATCH_1}" "\n```" _end)
string(SUBSTRING "${CMAKE_MATCH_1}" 0 ${_end} _example)
string(REGEX MATCH "```text\n([^`]*)\n```" _m "${_readme}")
set(_expected "${CMAKE_MATCH_1}")
if(_example STREQUAL "" OR _expected STREQUAL "")
  message(FATAL_ERROR "install_consumer: README's C example or its expected output not found")
endif()
file(WRITE "${WORK_DIR}/example/example.c" "${_example}\n")
step("compile README's C example with pkg-config's flags"
  "${C_COMPILER}" -std=c99 -Wall -Wextra -pedantic -Werror "${WORK_DIR}/example/example.c"
  -o "${WORK_DIR}/example/example" ${_flags})
step("run README's C example" "${CMAKE_COMMAND}" -E env --unset=LD_LIBRARY_PATH "${WORK_DIR}/example/example")
if(NOT STEP_OUTPUT STREQUAL _expected)
  message(FATAL_ERROR "install_consumer: README's C example printed\n${STEP_OUTPUT}\nwhere README shows\n${_expected}")
endif()
message(STATUS "  ${STEP_OUTPUT}")

# ---- the installed command line finds the installed library through its RPATH ----------------------
find_program(_lsc_cli lsc PATHS "${PREFIX}/bin" NO_DEFAULT_PATH)
if(NOT _lsc_cli)
  message(FATAL_ERROR "install_consumer: ${PREFIX}/bin/lsc was not installed")
endif()
step("run the installed lsc" "${CMAKE_COMMAND}" -E env --unset=LD_LIBRARY_PATH "${_lsc_cli}" --version)
message(STATUS "install_consumer: every consumer built and ran")
