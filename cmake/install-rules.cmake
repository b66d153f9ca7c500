# install-rules.cmake: what `cmake --install` puts where (included when COSOCK_INSTALL is on).
#   include/cosock/...                       the public headers, export.hpp and version.hpp
#   lib/libcosock.a (or .so.0.1.0 + links)    the compiled part
#   lib/cmake/cosock/cosock-config.cmake     find_package(cosock 0.1 CONFIG) -> cosock::cosock
#   lib/pkgconfig/cosock.pc                  pkg-config --cflags --libs cosock
# Components: cosock_runtime (the shared library) and cosock_development (everything else).
include(CMakePackageConfigHelpers)

set(COSOCK_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/cosock"
    CACHE STRING "Where cosock-config.cmake goes, relative to the install prefix")
mark_as_advanced(COSOCK_INSTALL_CMAKEDIR)

# --- headers and library ----------------------------------------------------------------------
install(DIRECTORY "${PROJECT_SOURCE_DIR}/lib/include/" "${COSOCK_GENERATED_INCLUDE_DIR}/"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT cosock_development
        FILES_MATCHING PATTERN "*.hpp")

install(TARGETS cosock EXPORT cosock-targets
        RUNTIME COMPONENT cosock_runtime
        LIBRARY COMPONENT cosock_runtime NAMELINK_COMPONENT cosock_development
        ARCHIVE COMPONENT cosock_development
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# --- CMake package: find_package(cosock 0.1 CONFIG REQUIRED) -----------------------------------
# No build-tree export(): cosock links cosock_warnings PRIVATE through $<BUILD_INTERFACE:...>,
# which export() rejects for a static library until $<BUILD_LOCAL_INTERFACE:...> (CMake 3.26).
install(EXPORT cosock-targets
        NAMESPACE cosock::
        DESTINATION "${COSOCK_INSTALL_CMAKEDIR}"
        COMPONENT cosock_development)

set(COSOCK_BOOST_MIN_VERSION 1.81)
configure_package_config_file(cmake/cosock-config.cmake.in
                              "${PROJECT_BINARY_DIR}/cosock-config.cmake"
                              INSTALL_DESTINATION "${COSOCK_INSTALL_CMAKEDIR}")
# 0.x releases share a major version, so 0.1 also accepts a later 0.y: the config file is the
# place to tighten this (SameMinorVersion) if a 0.y release breaks the API.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/cosock-config-version.cmake"
                                 COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/cosock-config.cmake"
              "${PROJECT_BINARY_DIR}/cosock-config-version.cmake"
        DESTINATION "${COSOCK_INSTALL_CMAKEDIR}"
        COMPONENT cosock_development)

# --- pkg-config -------------------------------------------------------------------------------
# Paths relative to ${pcfiledir}, so the file stays right under `cmake --install --prefix DIR`
# (the prefix given at install time, not the one configured).
set(COSOCK_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${COSOCK_PKGCONFIGDIR}")
  set(COSOCK_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _cosock_up "/prefix/${COSOCK_PKGCONFIGDIR}" "/prefix")
  set(COSOCK_PC_PREFIX "\${pcfiledir}/${_cosock_up}")
endif()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(COSOCK_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(COSOCK_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
get_target_property(_cosock_type cosock TYPE)
set(COSOCK_PC_CFLAGS "")
if(_cosock_type STREQUAL "STATIC_LIBRARY")
  set(COSOCK_PC_CFLAGS " -DCOSOCK_STATIC_DEFINE")
endif()
configure_file(cmake/cosock.pc.in "${PROJECT_BINARY_DIR}/cosock.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/cosock.pc"
        DESTINATION "${COSOCK_PKGCONFIGDIR}"
        COMPONENT cosock_development)
