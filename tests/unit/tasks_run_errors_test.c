/* The run node with an engine error at each call of its sequence: HTTP 500 (the engine refused).
 * The run ends with the exit code the table says, the node's error names the engine's, and
 * every container, network and volume is removed (or, for a removal never answered, the end
 * of the run reports it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/tasks_run_full.h"

static void test_engine_error_each_call(void **state) {
  (void)state;
  full_fail_each_call(false);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_engine_error_each_call)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
