/* The run node with an engine error at each call of its sequence: a connection closed without an answer (for that call and every later one of its route:
 * libcurl sends a request again once when a kept-alive connection closes).
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
  for (size_t i = 0; i < BRR_ARRAY_LEN(CALLS); i++) {
    {
      const int drop = 1;
      const call *c = &CALLS[i];
      th *h = full_new();
      fake_rule *r = fake_rule_error(on_call(h, c, drop), 500, "injected failure");
      if (drop) fake_rule_drop(r);
      int rc = th_run(h, FULL, NULL);
      int want = drop ? c->rcdrop : c->rc500;
      if (rc != want) fprintf(stderr, "call %zu: %s %s #%u drop=%d\n", i, c->method, c->pattern, c->nth, drop);
      th_assert(h, rc == want);
      /* a failure names the engine's error */
      if (want) th_assert(h, th_ended(h, drop ? "Empty reply from server" : "injected failure (HTTP 500)"));
      if (want && strcmp(c->pattern, "/images/*/tag") != 0) th_assert(h, th_ended(h, "full/run failed"));
      if (!strcmp(c->method, "DELETE") && drop) {
        /* never answered: it stays, and the end of the run says so */
        th_assert(h, !th_clean(h));
        th_assert(h, h->finish_rc != 0);
      } else {
        th_assert(h, th_clean(h));
        th_assert(h, h->finish_rc == 0);
      }
      th_free(h);
    }
  }
}


int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_engine_error_each_call)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
