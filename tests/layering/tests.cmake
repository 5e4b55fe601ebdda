# Layering rules the code must keep (docs/architecture.md):
#   graph_pure          no file under src/graph calls the file system or asks the host
set(BRR_LAYERING_TESTS_DIR ${CMAKE_CURRENT_LIST_DIR})
add_test(NAME graph_pure COMMAND bash ${BRR_LAYERING_TESTS_DIR}/graph_pure_test.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(graph_pure PROPERTIES LABELS unit)
#   layering_producers  sched.h, tasks.h, src/sched and src/tasks include events.h, not ui.h
add_test(NAME layering_producers COMMAND bash ${BRR_LAYERING_TESTS_DIR}/producers_test.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(layering_producers PROPERTIES LABELS unit)
#   layering_tasks_files  brr/tasks_files.h and its users include no engine, scheduler or libuv
add_test(NAME layering_tasks_files COMMAND bash ${BRR_LAYERING_TESTS_DIR}/tasks_files_test.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(layering_tasks_files PROPERTIES LABELS unit)
#   layering_symbols    every global symbol of libbrrcore.a and brr starts with brr_ or BRR_
add_test(NAME layering_symbols
         COMMAND bash ${BRR_LAYERING_TESTS_DIR}/symbols_test.sh $<TARGET_FILE:brrcore> $<TARGET_FILE:brr>)
set_tests_properties(layering_symbols PROPERTIES LABELS unit)
