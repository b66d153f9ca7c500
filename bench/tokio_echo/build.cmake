# Builds the benchmark's Tokio peer, or says why not and succeeds (the peer is optional):
#   cmake -D SOURCE_DIR=<this dir> -D WORK_DIR=<build>/bench/tokio_echo.cargo
#         -D OUTPUT=<build>/bench/tokio_echo [-D REGISTRY=/usr/share/cargo/registry] -P build.cmake
# Crates come only from Debian's packages (librust-*-dev, unpacked in REGISTRY) and cargo runs
# --offline: WORK_DIR holds a copy of the project, a CARGO_HOME whose config.toml replaces
# crates.io with REGISTRY, Cargo.lock and target/, so that neither the source tree nor ~/.cargo
# is written. Debian's cargo and rustc (/usr/bin) come first, as on a Debian CI machine; else the
# first cargo on PATH, with the rustc beside it.
cmake_minimum_required(VERSION 3.25)
if(NOT REGISTRY)
  set(REGISTRY /usr/share/cargo/registry)
endif()

find_program(cargo cargo PATHS /usr/bin NO_DEFAULT_PATH)
find_program(cargo cargo)
file(GLOB tokio_crates "${REGISTRY}/tokio-1.*")
if(NOT cargo OR NOT tokio_crates)
  message(STATUS "tokio_echo: skipped, no cargo or no tokio crate in ${REGISTRY} "
                 "(Debian: apt-get install cargo librust-tokio-dev); run.py runs without Tokio")
  return()
endif()
cmake_path(GET cargo PARENT_PATH toolchain)
find_program(rustc rustc PATHS "${toolchain}" NO_DEFAULT_PATH)
find_program(rustc rustc)

file(COPY "${SOURCE_DIR}/Cargo.toml" "${SOURCE_DIR}/src" DESTINATION "${WORK_DIR}")
file(CONFIGURE OUTPUT "${WORK_DIR}/cargo-home/config.toml" @ONLY CONTENT [[
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "@REGISTRY@"

[net]
offline = true
]])
# A lock file written by another cargo may have a format this one cannot read; resolving again
# against the registry is instant and, with one version of each crate there, gives the same crates.
file(REMOVE "${WORK_DIR}/Cargo.lock")
execute_process(
  COMMAND "${CMAKE_COMMAND}" -E env "CARGO_HOME=${WORK_DIR}/cargo-home" "RUSTC=${rustc}"
          "${cargo}" build --release --offline --manifest-path "${WORK_DIR}/Cargo.toml"
  RESULT_VARIABLE failed)
if(failed)
  message(FATAL_ERROR "tokio_echo: ${cargo} build failed (rustc: ${rustc}, crates: ${REGISTRY})")
endif()
file(COPY_FILE "${WORK_DIR}/target/release/tokio_echo" "${OUTPUT}" ONLY_IF_DIFFERENT)

# What built it, for run.py's header: "tokio 1.24.2, rustc 1.63.0".
file(READ "${WORK_DIR}/Cargo.lock" lock)
string(REGEX MATCH "name = \"tokio\"\nversion = \"([^\"]+)\"" _ "${lock}")
set(tokio_version "${CMAKE_MATCH_1}")
execute_process(COMMAND "${rustc}" --version OUTPUT_VARIABLE rustc_version OUTPUT_STRIP_TRAILING_WHITESPACE)
string(REGEX MATCH "^rustc [^ ]+" rustc_version "${rustc_version}")
file(CONFIGURE OUTPUT "${OUTPUT}.version" CONTENT "tokio ${tokio_version}, ${rustc_version}\n")
