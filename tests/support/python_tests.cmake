# tests/support/python_tests.cmake (included by tests/CMakeLists.txt): cosock_python_tests, which
# registers a Python unittest module as ctest tests through support/run_unittest.py, so that a
# test that cannot run here (no IPv6, no CAP_NET_RAW, a missing tool) shows as skipped in ctest
# (exit status 77), never as passed.
#
# cosock_python_tests(NAME <ctest name> MODULE <module> DIRECTORY <dir> LABELS <label>...
#                     TIMEOUT <s> ENVIRONMENT <VAR=value>... APART <suffix>=<pattern>...)
#
# Each APART entry is a test of its own, NAME.<suffix>: the module's tests whose id
# (module.Class.test_method) matches the fnmatch <pattern>, those that may be skipped on some
# machines for one reason. NAME runs the rest, so that a skip there does not hide what passed.
function(cosock_python_tests)
  cmake_parse_arguments(arg "" "NAME;MODULE;DIRECTORY;TIMEOUT" "LABELS;ENVIRONMENT;APART" ${ARGN})
  set(runner ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/run_unittest.py)
  set(excludes)
  foreach(apart IN LISTS arg_APART)
    string(FIND "${apart}" "=" at)
    string(SUBSTRING "${apart}" 0 ${at} suffix)
    math(EXPR at "${at} + 1")
    string(SUBSTRING "${apart}" ${at} -1 pattern)
    add_test(NAME ${arg_NAME}.${suffix}
      COMMAND ${Python3_EXECUTABLE} ${runner} --only ${pattern} ${arg_MODULE}
      WORKING_DIRECTORY ${arg_DIRECTORY})
    set_tests_properties(${arg_NAME}.${suffix} PROPERTIES LABELS "${arg_LABELS}" TIMEOUT ${arg_TIMEOUT}
      ENVIRONMENT "${arg_ENVIRONMENT}" SKIP_RETURN_CODE 77)
    list(APPEND excludes --exclude ${pattern})
  endforeach()
  add_test(NAME ${arg_NAME}
    COMMAND ${Python3_EXECUTABLE} ${runner} ${excludes} ${arg_MODULE}
    WORKING_DIRECTORY ${arg_DIRECTORY})
  set_tests_properties(${arg_NAME} PROPERTIES LABELS "${arg_LABELS}" TIMEOUT ${arg_TIMEOUT}
    ENVIRONMENT "${arg_ENVIRONMENT}" SKIP_RETURN_CODE 77)
endfunction()
