# What brr ships, checked with the real tools (no Docker needed):
#   install_tree     cmake --install into a temp prefix: binary, man page (rendered by man/groff
#                    without warnings), completions, schemas; the installed brr runs
#   completion_shells the generated bash, zsh and fish completions in the real shells: flags,
#                    values, step names read from the file -d/-f name
#   deb_package      cpack -G DEB, inspected with dpkg-deb, installed and removed with dpkg
#                    into a temp root; the packaged brr runs
set(BRR_INSTALL_TESTS_DIR ${CMAKE_CURRENT_LIST_DIR})
foreach(t install_tree completion_shells deb_package)
  add_test(NAME ${t} COMMAND bash ${BRR_INSTALL_TESTS_DIR}/${t}_test.sh)
  set_tests_properties(${t} PROPERTIES LABELS unit TIMEOUT 300
                       ENVIRONMENT "${BRR_TEST_ENV};BRR_TESTS_DIR=${BRR_INSTALL_TESTS_DIR}")
endforeach()
