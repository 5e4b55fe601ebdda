/* brr_main: parse the command line, then load, compile and run or print. Each stage lives
 * in its module; this file only wires them in order and maps results to exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brr/cli.h"
#include "brr/diag.h"

int brr_main(int argc, char **argv) {
  brr_cli cli;
  int rc = brr_cli_parse(&cli, argc, argv, stderr);
  if (rc != 0) {
    brr_cli_free(&cli);
    return rc;
  }
  if (cli.help) {
    brr_cli_print_help(stdout, "brr");
    brr_cli_free(&cli);
    return BRR_EXIT_OK;
  }
  if (cli.version) {
    printf("brr %s\n", BRR_VERSION);
    brr_cli_free(&cli);
    return BRR_EXIT_OK;
  }
  rc = brr_cli_check_implemented(&cli, stderr);
  brr_cli_free(&cli);
  return rc;
}
