# tools/queue_ideal.py (the ideal queue bench-scenarios.sh prints beside each
# peak) against queueing theory, and its bad input.
add_test(NAME tools.queue_ideal COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/queue_ideal_test.py)
set_tests_properties(tools.queue_ideal PROPERTIES LABELS unit TIMEOUT 120)
