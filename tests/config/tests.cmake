# Config front end checks beyond the cmocka units:
#   yaml_pyyaml_oracle  brr's YAML loader against PyYAML (Debian python3-yaml) on a corpus
#   config_examples     every buildrunner example without templates loads and validates
#   config_invalid      the invalid-config corpus: exit code and file:line:col + message
set(BRR_CONFIG_TESTS_DIR ${CMAKE_CURRENT_LIST_DIR})
add_executable(yaml_dump ${BRR_CONFIG_TESTS_DIR}/yaml_dump.c)
target_compile_options(yaml_dump PRIVATE ${BRR_WARN})
target_link_libraries(yaml_dump PRIVATE brrcore)

add_test(NAME yaml_pyyaml_oracle
         COMMAND /usr/bin/python3 ${BRR_CONFIG_TESTS_DIR}/yaml_oracle.py $<TARGET_FILE:yaml_dump>)
set_tests_properties(yaml_pyyaml_oracle PROPERTIES LABELS unit ENVIRONMENT "${BRR_TEST_ENV}")

# buildrunner's example configs (adobe/buildrunner examples/), read where they are: the
# conformance folder (BRR_CONFORMANCE_DIR, tests/CMakeLists.txt); skipped when it is absent.
add_test(NAME config_examples
         COMMAND bash ${BRR_CONFIG_TESTS_DIR}/examples_test.sh
                 ${BRR_CONFORMANCE_DIR}/buildrunner-examples)
set_tests_properties(config_examples PROPERTIES LABELS unit ENVIRONMENT "${BRR_TEST_ENV}"
                     SKIP_RETURN_CODE ${BRR_TEST_SKIP})

add_test(NAME config_invalid
         COMMAND /usr/bin/python3 ${BRR_CONFIG_TESTS_DIR}/invalid_test.py $<TARGET_FILE:brr>
                 ${BRR_CONFIG_TESTS_DIR}/invalid)
set_tests_properties(config_invalid PROPERTIES LABELS unit ENVIRONMENT "${BRR_TEST_ENV}")

add_test(NAME config_cli COMMAND bash ${BRR_CONFIG_TESTS_DIR}/cli_test.sh)
set_tests_properties(config_cli PROPERTIES LABELS unit ENVIRONMENT "${BRR_TEST_ENV}")

# the JSON Schemas (brr --print-schema) against the conformance examples, with Debian's
# python3-jsonschema; skipped when the conformance folder is absent
add_test(NAME config_schema_json
         COMMAND /usr/bin/python3 ${BRR_CONFIG_TESTS_DIR}/schema_test.py $<TARGET_FILE:brr>
                 ${BRR_CONFORMANCE_DIR})
set_tests_properties(config_schema_json PROPERTIES LABELS unit ENVIRONMENT "${BRR_TEST_ENV}"
                     SKIP_RETURN_CODE ${BRR_TEST_SKIP})
