# tests/consumer/install.cmake — installs a cosock build into a fresh prefix and checks the layout.
#   cmake -DBUILD_DIR=<cosock build> -DPREFIX=<empty or stale dir> -DLIBDIR=lib [-DCONFIG=Debug]
#         [-DSHARED=ON] -P install.cmake
# Run by the package.install test (../package.cmake); the consumer tests then build against PREFIX.
# SPDX-License-Identifier: MIT
cmake_minimum_required(VERSION 3.25)
foreach(var BUILD_DIR PREFIX LIBDIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${PREFIX}")
set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install.cmake: cmake --install failed (${rc}):\n${out}")
endif()

set(expected
  include/cosock/cosock.hpp
  include/cosock/export.hpp
  include/cosock/version.hpp
  include/cosock/detail/operation.hpp
  ${LIBDIR}/cmake/cosock/cosock-config.cmake
  ${LIBDIR}/cmake/cosock/cosock-config-version.cmake
  ${LIBDIR}/cmake/cosock/cosock-targets.cmake
  ${LIBDIR}/pkgconfig/cosock.pc)
if(SHARED)
  list(APPEND expected ${LIBDIR}/libcosock.so)
else()
  list(APPEND expected ${LIBDIR}/libcosock.a)
endif()
foreach(file IN LISTS expected)
  if(NOT EXISTS "${PREFIX}/${file}")
    message(FATAL_ERROR "install.cmake: ${file} is missing from the install tree ${PREFIX}")
  endif()
endforeach()
# Only the library is installed: no test or example programs, no sources.
foreach(unwanted bin include/cosock/src ${LIBDIR}/libcosock_test_main.a)
  if(EXISTS "${PREFIX}/${unwanted}")
    message(FATAL_ERROR "install.cmake: ${unwanted} should not be installed")
  endif()
endforeach()
message(STATUS "install.cmake: cosock installed into ${PREFIX}")
