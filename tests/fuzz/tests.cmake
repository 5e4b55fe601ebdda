# Every libFuzzer harness is also built with the ordinary compiler against a small replay
# driver (tests/fuzz/replay.c) and run by ctest over a seed corpus, so a harness that no
# longer builds, or an input that now crashes or breaks an invariant, fails CI; in the
# ASan+UBSan build the inputs run under the sanitizers. Long fuzzing stays in tools/fuzz.sh.
#   yaml, graph: the project's own configurations (invalid cases, examples) and seeds/graph
#   template:    the templates of tests/template/cases (tools/template_fuzz_corpus.py)
#   registry:    seeds/registry (the first byte picks the parser)
# A corpus grown by tools/fuzz.sh (build-fuzz/corpus-fuzz_<name>) is replayed too when present.
set(BRR_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(BRR_FUZZ_SEEDS_yaml ${PROJECT_SOURCE_DIR}/tests/config/invalid ${PROJECT_SOURCE_DIR}/examples/hello
    ${BRR_FUZZ_DIR}/seeds/graph)
set(BRR_FUZZ_SEEDS_graph ${BRR_FUZZ_SEEDS_yaml})
set(BRR_FUZZ_SEEDS_registry ${BRR_FUZZ_DIR}/seeds/registry)
set(BRR_FUZZ_SEEDS_template ${PROJECT_BINARY_DIR}/fuzz-seeds-template)

file(GLOB BRR_FUZZ_HARNESSES CONFIGURE_DEPENDS ${BRR_FUZZ_DIR}/fuzz_*.c)
foreach(src ${BRR_FUZZ_HARNESSES})
  get_filename_component(harness ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" short ${harness})
  set(exe replay_${short})
  add_executable(${exe} ${src} ${BRR_FUZZ_DIR}/replay.c)
  target_compile_options(${exe} PRIVATE ${BRR_WARN})
  target_link_libraries(${exe} PRIVATE brrcore)
  if(NOT DEFINED BRR_FUZZ_SEEDS_${short})
    message(FATAL_ERROR "tests/fuzz/tests.cmake: no seed corpus for ${harness}")
  endif()
  set(dirs ${BRR_FUZZ_SEEDS_${short}})
  if(EXISTS ${PROJECT_SOURCE_DIR}/build-fuzz/corpus-${harness})
    list(APPEND dirs ${PROJECT_SOURCE_DIR}/build-fuzz/corpus-${harness})
  endif()
  if(short STREQUAL "template")
    add_test(NAME fuzz_replay_${short}
             COMMAND bash -c "/usr/bin/python3 '${PROJECT_SOURCE_DIR}/tools/template_fuzz_corpus.py' \
'${BRR_FUZZ_SEEDS_template}' && exec \"$0\" \"$@\"" $<TARGET_FILE:${exe}> ${dirs})
  else()
    add_test(NAME fuzz_replay_${short} COMMAND ${exe} ${dirs})
  endif()
  # the driver exits non-zero when it replayed nothing, so an empty corpus cannot pass
  set_tests_properties(fuzz_replay_${short} PROPERTIES LABELS "unit;fuzz" TIMEOUT 300)
endforeach()
