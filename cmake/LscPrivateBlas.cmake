# A private OpenBLAS inside liblsc, run on one thread, for the BLAS and LAPACK calls lsc makes from
# its own threads (host/cpu/blas_serial.c): Debian's OpenBLAS archive (libopenblas-pthread-dev,
# which libopenblas-dev brings; its threaded build has the locks that concurrent callers need,
# the serial build has none) with every symbol it defines renamed to lsc_serial_* and, once
# linked, hidden (--exclude-libs), so the caller's BLAS - its library, thread count and state - is
# never touched and no symbol of the copy can interpose on, or be interposed by, another BLAS.
#   LSC_PRIVATE_BLAS: AUTO (when the archive, nm, objcopy, ar and libgfortran are found), ON, OFF.
# Sets LSC_PRIVATE_BLAS_ON and, when on, the target lsc_serial_openblas (the renamed archive) and
# LSC_PRIVATE_BLAS_LIBS (what the archive needs: libgfortran, libm, pthreads).
set(LSC_PRIVATE_BLAS "AUTO" CACHE STRING
    "Link a private one-thread OpenBLAS into the shared library for lsc's own threads: AUTO, ON, OFF")
set_property(CACHE LSC_PRIVATE_BLAS PROPERTY STRINGS AUTO ON OFF)
set(LSC_PRIVATE_BLAS_ON OFF)
if(NOT LSC_PRIVATE_BLAS STREQUAL "OFF")
  find_file(LSC_SERIAL_OPENBLAS_ARCHIVE libopenblas.a
    PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-pthread NO_DEFAULT_PATH)
  find_library(LSC_GFORTRAN_LIBRARY NAMES gfortran libgfortran.so.5)
  find_package(Threads)
  set(_lsc_pb_missing "")
  foreach(_v LSC_SERIAL_OPENBLAS_ARCHIVE LSC_GFORTRAN_LIBRARY CMAKE_NM CMAKE_OBJCOPY CMAKE_AR)
    if(NOT ${_v})
      list(APPEND _lsc_pb_missing ${_v})
    endif()
  endforeach()
  if(NOT Threads_FOUND OR NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
    list(APPEND _lsc_pb_missing "Linux with pthreads")
  endif()
  if(_lsc_pb_missing)
    if(LSC_PRIVATE_BLAS STREQUAL "ON")
      message(FATAL_ERROR "LSC_PRIVATE_BLAS=ON needs ${_lsc_pb_missing} (Debian: libopenblas-pthread-dev, libgfortran5)")
    endif()
    message(STATUS "lsc: no private OpenBLAS (missing ${_lsc_pb_missing}): the CPU backend "
                   "sets OpenBLAS's thread count to 1 around its parallel regions (include/lsc.h)")
  else()
    set(LSC_PRIVATE_BLAS_ON ON)
    # LSC_PRIVATE_BLAS_CACHE in the environment: a directory where builds share the renamed copy
    # (made once, kept while the archive and the script are older; .ci/run's seven builds)
    if(DEFINED ENV{LSC_PRIVATE_BLAS_CACHE} AND NOT "$ENV{LSC_PRIVATE_BLAS_CACHE}" STREQUAL "")
      set(_lsc_pb_out $ENV{LSC_PRIVATE_BLAS_CACHE}/liblsc_serial_openblas.a)
    else()
      set(_lsc_pb_out ${CMAKE_BINARY_DIR}/lsc_private_blas/liblsc_serial_openblas.a)
    endif()
    add_custom_command(OUTPUT ${_lsc_pb_out}
      COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DOBJCOPY=${CMAKE_OBJCOPY} -DAR=${CMAKE_AR}
              -DIN=${LSC_SERIAL_OPENBLAS_ARCHIVE} -DOUT=${_lsc_pb_out}
              -P ${CMAKE_CURRENT_LIST_DIR}/LscRenameArchive.cmake
      DEPENDS ${LSC_SERIAL_OPENBLAS_ARCHIVE} ${CMAKE_CURRENT_LIST_DIR}/LscRenameArchive.cmake
      COMMENT "lsc: the private OpenBLAS, its symbols renamed to lsc_serial_*" VERBATIM)
    add_custom_target(lsc_serial_openblas_archive DEPENDS ${_lsc_pb_out})
    add_library(lsc_serial_openblas STATIC IMPORTED GLOBAL)
    set_target_properties(lsc_serial_openblas PROPERTIES IMPORTED_LOCATION ${_lsc_pb_out})
    add_dependencies(lsc_serial_openblas lsc_serial_openblas_archive)
    set(LSC_PRIVATE_BLAS_LIBS ${LSC_GFORTRAN_LIBRARY} Threads::Threads m)
    message(STATUS "lsc: a private one-thread OpenBLAS from ${LSC_SERIAL_OPENBLAS_ARCHIVE}")
  endif()
endif()
