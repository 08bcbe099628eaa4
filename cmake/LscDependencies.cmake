# BLAS, LAPACK, LAPACKE and OpenMP through CMake's own modules. OpenBLAS is preferred (Debian:
# libopenblas-dev, liblapacke-dev); any BLAS with the CBLAS interface works.
if(NOT DEFINED BLA_VENDOR)
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS QUIET)
  if(NOT BLAS_FOUND)
    unset(BLA_VENDOR)
  endif()
endif()
find_package(BLAS REQUIRED)
find_package(LAPACK REQUIRED)
find_package(LAPACKE REQUIRED)

# cblas.h: Debian installs it under the multiarch include directory through alternatives.
find_path(LSC_CBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas openblas-pthread x86_64-linux-gnu x86_64-linux-gnu/openblas-pthread)
if(NOT LSC_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "cblas.h not found: install libopenblas-dev (Debian) or set LSC_CBLAS_INCLUDE_DIR")
endif()

find_package(OpenMP COMPONENTS C)
if(NOT OpenMP_C_FOUND)
  message(STATUS "lsc: OpenMP not found, the CPU backend runs its own loops on one thread")
endif()
