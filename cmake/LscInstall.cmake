# cmake --install: header, shared and static libraries, the CMake package (find_package(lsc)
# gives lsc::lsc and lsc::lsc_static) and a pkg-config file.
include(CMakePackageConfigHelpers)

install(FILES include/lsc.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS lsc lsc_static EXPORT lscTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT lscTargets NAMESPACE lsc:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/lsc)
configure_package_config_file(cmake/lscConfig.cmake.in ${PROJECT_BINARY_DIR}/lscConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/lsc)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/lscConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/lscConfig.cmake ${PROJECT_BINARY_DIR}/lscConfigVersion.cmake
  cmake/FindLAPACKE.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/lsc)

# pkg-config: the shared library; Libs.private lists what a static link also needs. The prefix is
# written at install time, so `cmake --install --prefix P` gives a lsc.pc that points into P.
set(_lsc_pc_private "")
foreach(lib ${LAPACKE_LIBRARIES} ${LAPACK_LIBRARIES} ${BLAS_LIBRARIES})
  if(lib MATCHES "^-")
    list(APPEND _lsc_pc_private "${lib}")
  elseif(IS_ABSOLUTE "${lib}")
    list(APPEND _lsc_pc_private "${lib}")
  else()
    list(APPEND _lsc_pc_private "-l${lib}")
  endif()
endforeach()
if(OpenMP_C_FOUND)
  list(APPEND _lsc_pc_private ${OpenMP_C_FLAGS})
endif()
list(APPEND _lsc_pc_private -ldl -lm)
list(REMOVE_DUPLICATES _lsc_pc_private)
list(JOIN _lsc_pc_private " " LSC_PC_LIBS_PRIVATE)
string(PREPEND LSC_PC_LIBS_PRIVATE " ")
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(LSC_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(LSC_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
set(LSC_PC_PREFIX "@LSC_PC_PREFIX@") # left for the install step below
configure_file(cmake/lsc.pc.in ${PROJECT_BINARY_DIR}/lsc.pc.in @ONLY)
install(CODE "
  set(LSC_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/lsc.pc.in\" \"${PROJECT_BINARY_DIR}/lsc.pc\" @ONLY)
")
install(FILES ${PROJECT_BINARY_DIR}/lsc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
