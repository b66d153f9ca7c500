# cosock_warnings: the warning flags, linked PRIVATE so they never leak to users of cosock.
add_library(cosock_warnings INTERFACE)
target_compile_options(cosock_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wpedantic>
  $<$<AND:$<BOOL:${COSOCK_WERROR}>,$<CXX_COMPILER_ID:GNU,Clang>>:-Werror>
  # g++ 12 at -O2 takes Asio's coroutine frame allocation (awaitable_frame_base's operator new and
  # sized operator delete) for a mismatched pair wherever a coroutine is inlined into its caller:
  # a false positive (GCC bug 109224, fixed in g++ 13) that would otherwise fail any -O2 -Werror
  # build of library, examples or tests.
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-mismatched-new-delete>)
