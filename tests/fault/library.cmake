# In-process fault tests of the library (label `fault`): peers that reset or vanish, partial
# writes, hostile input, stalls, every awaitable under every kind of cancellation, and churn.
# Included from tests/fault/CMakeLists.txt; cosock_test_main comes from tests/CMakeLists.txt.
add_executable(cosock_fault_tests
  ${CMAKE_CURRENT_SOURCE_DIR}/../support/allocation_counter.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/stream_faults_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/cancellation_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/churn_test.cpp)
target_include_directories(cosock_fault_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/..)
target_link_libraries(cosock_fault_tests PRIVATE cosock::cosock cosock_test_main cosock_warnings)
target_precompile_headers(cosock_fault_tests REUSE_FROM cosock_unit_tests)

# One ctest test per suite, so that they run in parallel and fail separately. `churn` takes
# COSOCK_CHURN_CYCLES from the environment (default 50000: under a minute in Debug).
foreach(suite peers partial_writes bad_input stalls cancellation churn)
  add_test(NAME fault.${suite} COMMAND cosock_fault_tests --run_test=${suite} --log_level=warning)
  set_tests_properties(fault.${suite} PROPERTIES LABELS fault TIMEOUT 120)
endforeach()
set_tests_properties(fault.churn PROPERTIES TIMEOUT 300)
