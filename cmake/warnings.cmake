# cosock_warnings: the warning flags, linked PRIVATE so they never leak to users of cosock.
add_library(cosock_warnings INTERFACE)
target_compile_options(cosock_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wpedantic>
  $<$<AND:$<BOOL:${COSOCK_WERROR}>,$<CXX_COMPILER_ID:GNU,Clang>>:-Werror>)
