# tests/package.cmake (included by tests/CMakeLists.txt): cosock used as a package, label `package`,
# and the lint checks (the GitHub workflow file, clang-format, coroutine lambdas), label `lint`.
#
# package.install            cmake --install this build into build/tests/package/prefix (fresh)
# package.find_package       tests/consumer built against that prefix with find_package, then run
# package.pkg_config         the same prefix through cosock.pc (skipped without pkg-config)
# package.add_subdirectory   tests/consumer with this source tree as a subproject; the library is
#                            built with the other linkage than this build's (static <-> shared)
# package.fetchcontent       tests/consumer configured with FetchContent_Declare(SOURCE_DIR this
#                            tree), no network: configure only, as building it would repeat
#                            add_subdirectory (FetchContent_MakeAvailable is add_subdirectory)
# Each consumer build is a `ctest --build-and-test` with this build's compiler, build type and
# flags (a sanitizer build's library needs a sanitizer program) and runs the consumer's own ctest.
# Build directories are kept between runs, so a second run only rebuilds what changed. Cost: the
# add_subdirectory build compiles the library again (about a minute of CPU in Debug).

set(cosock_package_dir "${CMAKE_CURRENT_BINARY_DIR}/package")
set(cosock_package_prefix "${cosock_package_dir}/prefix")
set(cosock_consumer_dir "${CMAKE_CURRENT_SOURCE_DIR}/consumer")

get_target_property(cosock_package_type cosock TYPE)
if(cosock_package_type STREQUAL "SHARED_LIBRARY")
  set(cosock_package_shared ON)
  set(cosock_package_other_shared OFF)
else()
  set(cosock_package_shared OFF)
  set(cosock_package_other_shared ON)
endif()

# CMAKE_CXX_FLAGS_DEBUG: a Debug consumer build checks the packaging, not the code, so it
# compiles without optimisation or debug information (it compiles the library again).
set(cosock_consumer_options
  "-DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}"
  "-DCMAKE_CXX_FLAGS_DEBUG=-O0"
  "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
  "-DCMAKE_CXX_FLAGS=${CMAKE_CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
  "-DCMAKE_SHARED_LINKER_FLAGS=${CMAKE_SHARED_LINKER_FLAGS}"
  "-DCMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}"
  "-DBoost_DIR=${Boost_DIR}"
  "-Dfmt_DIR=${fmt_DIR}")

# cosock_consumer_test(NAME MODE [option...]): builds tests/consumer in MODE and runs its tests.
function(cosock_consumer_test name mode)
  add_test(NAME package.${name}
    COMMAND "${CMAKE_CTEST_COMMAND}"
            --build-and-test "${cosock_consumer_dir}" "${cosock_package_dir}/${name}"
            --build-generator "${CMAKE_GENERATOR}"
            --build-makeprogram "${CMAKE_MAKE_PROGRAM}"
            --build-noclean
            --build-options ${cosock_consumer_options} "-DCOSOCK_CONSUMER_MODE=${mode}" ${ARGN}
            --test-command "${CMAKE_CTEST_COMMAND}" --output-on-failure --no-tests=error)
  set_tests_properties(package.${name} PROPERTIES LABELS package TIMEOUT 900)
  if(CMAKE_GENERATOR MATCHES "Makefiles")  # build-and-test builds serially otherwise
    set_tests_properties(package.${name} PROPERTIES ENVIRONMENT "MAKEFLAGS=-j2")
  endif()
endfunction()

if(COSOCK_INSTALL)
  add_test(NAME package.install
    COMMAND "${CMAKE_COMMAND}" "-DBUILD_DIR=${cosock_BINARY_DIR}" "-DPREFIX=${cosock_package_prefix}"
            "-DLIBDIR=${CMAKE_INSTALL_LIBDIR}" "-DCONFIG=$<CONFIG>" "-DSHARED=${cosock_package_shared}"
            -P "${cosock_consumer_dir}/install.cmake")
  set_tests_properties(package.install PROPERTIES LABELS package TIMEOUT 120
    FIXTURES_SETUP cosock_installed)

  cosock_consumer_test(find_package find_package
    "-DCMAKE_PREFIX_PATH=${cosock_package_prefix}" "-DCOSOCK_EXPECTED_PREFIX=${cosock_package_prefix}")
  set_tests_properties(package.find_package PROPERTIES FIXTURES_REQUIRED cosock_installed)

  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    cosock_consumer_test(pkg_config pkg-config
      "-DCMAKE_PREFIX_PATH=${cosock_package_prefix}" "-DCOSOCK_EXPECTED_PREFIX=${cosock_package_prefix}")
    set_tests_properties(package.pkg_config PROPERTIES FIXTURES_REQUIRED cosock_installed)
  else()
    message(STATUS "cosock: pkg-config not found, package.pkg_config is not run")
  endif()
endif()

cosock_consumer_test(add_subdirectory add_subdirectory
  "-DCOSOCK_SOURCE_DIR=${cosock_SOURCE_DIR}" "-DBUILD_SHARED_LIBS=${cosock_package_other_shared}")
add_test(NAME package.fetchcontent
  COMMAND "${CMAKE_COMMAND}" --fresh -S "${cosock_consumer_dir}" -B "${cosock_package_dir}/fetchcontent"
          -G "${CMAKE_GENERATOR}" ${cosock_consumer_options} -DCOSOCK_CONSUMER_MODE=fetchcontent
          "-DCOSOCK_SOURCE_DIR=${cosock_SOURCE_DIR}" "-DBUILD_SHARED_LIBS=${cosock_package_shared}")
set_tests_properties(package.fetchcontent PROPERTIES LABELS package TIMEOUT 120)

# The workflow file must stay valid YAML of the shape GitHub expects, naming presets and scripts
# that exist (PyYAML when installed, else a small parser of the YAML subset the file uses).
add_test(NAME lint.workflow
  COMMAND "${Python3_EXECUTABLE}" "${CMAKE_CURRENT_SOURCE_DIR}/lint_workflow.py"
          "${cosock_SOURCE_DIR}/.github/workflows/ci.yml")
set_tests_properties(lint.workflow PROPERTIES LABELS lint TIMEOUT 60)

# Coroutine lambdas whose closure dies before the coroutine runs, and co_await in co_spawn's
# arguments (tests/lint_coroutine_lambdas.py says why both break; it tests itself first).
add_test(NAME lint.coroutine_lambdas
  COMMAND "${Python3_EXECUTABLE}" "${CMAKE_CURRENT_SOURCE_DIR}/lint_coroutine_lambdas.py" "${cosock_SOURCE_DIR}")
set_tests_properties(lint.coroutine_lambdas PROPERTIES LABELS lint TIMEOUT 60)

# Every tracked C++ file as clang-format 14 (the version the GitHub lint job uses) writes it;
# skipped when clang-format-14 or git is missing (scripts/setup.sh installs clang-format-14).
find_program(COSOCK_CLANG_FORMAT clang-format-14)
find_program(COSOCK_GIT git)
if(COSOCK_CLANG_FORMAT AND COSOCK_GIT)
  add_test(NAME lint.format
    COMMAND sh -c "'${COSOCK_GIT}' ls-files '*.cpp' '*.hpp' | xargs '${COSOCK_CLANG_FORMAT}' --dry-run -Werror"
    WORKING_DIRECTORY "${cosock_SOURCE_DIR}")
  set_tests_properties(lint.format PROPERTIES LABELS lint TIMEOUT 120)
else()
  message(STATUS "cosock tests: lint.format needs clang-format-14 and git (not found)")
endif()
