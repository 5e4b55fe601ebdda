/* brr — the entry point only dispatches; see app.c. */
#include "brr/cli.h"

int main(int argc, char **argv) { return brr_main(argc, argv); }
