# The example programs under faults (label fault): descriptor exhaustion and injected accept
# failures, signals in every kind of wait, 10,000 connections, UDP loss in a network namespace,
# and bad input to every program. Python unittest modules beside this file (tests/fault/README.md).
# They need prlimit and strace (descriptors), nft (UDP loss), unshare/nsenter and ip; a test
# whose tool or permission is missing is skipped with the reason in its output.
if(TARGET echo_server)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  foreach(module test_descriptors test_signals test_load test_udp_loss test_bad_input)
    add_test(NAME fault.${module}
      COMMAND ${Python3_EXECUTABLE} -m unittest -v ${module}
      WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
    set_tests_properties(fault.${module} PROPERTIES LABELS fault TIMEOUT 600
      ENVIRONMENT "COSOCK_EXAMPLES_DIR=$<TARGET_FILE_DIR:echo_server>;PYTHONDONTWRITEBYTECODE=1")
  endforeach()
endif()
