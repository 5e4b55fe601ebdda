# brr's template engine against real Jinja2.
#  template_oracle_check: every stored expectation in tests/template/expected/ must still be
#  what Jinja2 (Debian's python3-jinja2, run by /usr/bin/python3) renders for its case, so no
#  expectation can drift or be edited by hand. The case runner that holds brr's engine to
#  those expectations is tests/unit/template_cases_test.c.
add_test(NAME template_oracle_check
         COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tools/jinja_oracle.py check)
set_tests_properties(template_oracle_check PROPERTIES LABELS "unit;oracle" TIMEOUT 300
                     ENVIRONMENT "${BRR_TEST_ENV}")
