/* `brr --clean`: remove what brr processes of this host that are gone (kill -9) left on the
 * engine and in the temp dir, one line per object on stdout (src/tasks/sweep.c does it). */
#include <stdio.h>
#include <stdlib.h>

#include "brr/cli.h"
#include "brr/engine.h"
#include "brr/tasks.h"

/* sysexits' EX_UNAVAILABLE: the engine cannot be reached (README's exit codes) */
enum { CLEAN_EXIT_UNAVAILABLE = 69 };

static void report(void *ud, const char *what, const char *owner, const char *error) {
  (void)ud;
  if (error) fprintf(stderr, "brr: warning: cannot remove %s (owner %s): %s\n", what, owner ? owner : "?", error);
  else if (owner) printf("removed %s (owner %s)\n", what, owner);
  else printf("removed %s\n", what);
}

int brr_cli_clean(const brr_cli *cli) {
  const char *tmp = getenv("TMPDIR");
  char *error = NULL;
  int failed = 0;
  brr_engine_endpoint ep;
  if (brr_engine_endpoint_resolve(cli->context, &ep, &error) != 0) {
    fprintf(stderr, "brr: error: --clean: cannot use the Docker engine: %s\n", error);
    free(error);
    return CLEAN_EXIT_UNAVAILABLE;
  }
  int removed = brr_sweep_stale(&ep, cli->docker_timeout, tmp && *tmp ? tmp : "/tmp", report, NULL, &failed, &error);
  brr_engine_endpoint_free(&ep);
  if (removed < 0) {
    fprintf(stderr, "brr: error: --clean: %s\n", error ? error : "failed");
    free(error);
    return CLEAN_EXIT_UNAVAILABLE;
  }
  free(error);
  printf("brr --clean: removed %d object(s) left by brr processes that are gone%s\n", removed,
         failed ? "; some could not be removed" : "");
  if (fflush(stdout) != 0) return BRR_EXIT_FAILED;
  return failed ? BRR_EXIT_FAILED : BRR_EXIT_OK;
}
