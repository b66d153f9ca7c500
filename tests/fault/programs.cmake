# The example programs under faults (label fault): descriptor exhaustion and injected accept
# failures, signals in every kind of wait, 10,000 connections, UDP loss in a network namespace,
# and bad input to every program. Python unittest modules beside this file (tests/fault/README.md).
# They need prlimit and strace (descriptors), nft (UDP loss), unshare/nsenter and ip; a test
# whose tool or permission is missing is skipped with the reason in its output, and its ctest
# test shows as skipped.
if(TARGET echo_server)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  # Through support/run_unittest.py (cosock_python_tests): a test that cannot run here shows as
  # skipped in ctest. Tests that skip for a reason of their own run apart (NAME.<suffix>):
  # OutOfDescriptors needs prlimit and no UBSan, the bad host literals a network namespace;
  # test_descriptors' InjectedAcceptFailures needs strace, test_udp_loss nft and a namespace,
  # test_load a higher RLIMIT_NOFILE, each for the whole module.
  set(cosock_apart_test_descriptors "emfile=*.OutOfDescriptors.*")
  set(cosock_apart_test_bad_input "netns=*.test_bad_host_literals_are_refused_with_one_line")
  foreach(module test_descriptors test_signals test_load test_udp_loss test_bad_input)
    cosock_python_tests(NAME fault.${module} MODULE ${module} DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
      LABELS fault TIMEOUT 600
      ENVIRONMENT "COSOCK_EXAMPLES_DIR=$<TARGET_FILE_DIR:echo_server>" PYTHONDONTWRITEBYTECODE=1
      APART ${cosock_apart_${module}})
  endforeach()
endif()
