# The JSON event stream and the trace against their documented formats:
#   ui_events_schema  a scripted run's events validate against docs/events.schema.json
#                     (Debian's python3-jsonschema) and its trace.json is a Chrome trace
set(BRR_UI_TESTS_DIR ${CMAKE_CURRENT_LIST_DIR})
add_executable(ui_events_dump ${BRR_UI_TESTS_DIR}/events_dump.c)
target_compile_options(ui_events_dump PRIVATE ${BRR_WARN})
target_link_libraries(ui_events_dump PRIVATE brrcore)
add_test(NAME ui_events_schema
         COMMAND sh -c "rm -rf ui_events_results && /usr/bin/python3 ${BRR_UI_TESTS_DIR}/check_events.py $<TARGET_FILE:ui_events_dump> ${PROJECT_SOURCE_DIR}/docs/events.schema.json ui_events_results")
set_tests_properties(ui_events_schema PROPERTIES LABELS unit ENVIRONMENT "${BRR_TEST_ENV}")
#   ui_graph_dot      --graph=dot laid out by Debian's graphviz; --graph uses the history
add_test(NAME ui_graph_dot COMMAND bash ${BRR_UI_TESTS_DIR}/graph_dot_test.sh)
set_tests_properties(ui_graph_dot PROPERTIES LABELS unit ENVIRONMENT "${BRR_TEST_ENV}")
#   ui_diagnostics    did-you-mean, flag conflicts, -c path, snippets at keys, annotations
add_test(NAME ui_diagnostics COMMAND bash ${BRR_UI_TESTS_DIR}/diagnostics_test.sh)
set_tests_properties(ui_diagnostics PROPERTIES LABELS unit ENVIRONMENT "${BRR_TEST_ENV}")
