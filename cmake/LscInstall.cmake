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

# pkg-config: the shared library; Libs.private lists what a static link also needs.
set(LSC_PC_LIBS_PRIVATE "")
foreach(lib ${LAPACKE_LIBRARIES} ${LAPACK_LIBRARIES} ${BLAS_LIBRARIES})
  string(APPEND LSC_PC_LIBS_PRIVATE " ${lib}")
endforeach()
if(OpenMP_C_FOUND)
  string(APPEND LSC_PC_LIBS_PRIVATE " ${OpenMP_C_FLAGS}")
endif()
string(APPEND LSC_PC_LIBS_PRIVATE " -ldl -lm")
configure_file(cmake/lsc.pc.in ${PROJECT_BINARY_DIR}/lsc.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/lsc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
