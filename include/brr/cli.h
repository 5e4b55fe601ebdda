/* brr — the command line: buildrunner's flags (same meaning, short forms and defaults) plus
 * brr's own. main.c only dispatches: parse, load, compile, run or print. */
#ifndef BRR_CLI_H
#define BRR_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct brr_cli {
  /* buildrunner's flags (spec §10) */
  const char *global_config;      /* -c */
  const char *directory;          /* -d (default: cwd) */
  const char *results_dir;        /* -b (default: <dir>/buildrunner.results) */
  const char *file;               /* -f (default: buildrunner.yaml) */
  bool debug;                     /* -x */
  char **container_labels;        /* --container-labels k=v,...: "k=v" strings, NULL-terminated */
  const char *build_number;       /* -n */
  int docker_timeout;             /* -t, seconds; default 600, 0 -> 3600 */
  bool push;
  bool keep_images;               /* deprecated no-op */
  bool cleanup_images;
  bool local_images;
  const char *platform;
  bool keep_step_artifacts;
  bool clean_cache;
  char **steps;                   /* -s, repeated and comma-split; NULL-terminated or NULL */
  bool publish_ports;
  bool disable_timestamps;
  bool no_color;
  bool print_generated_files;
  bool log_generated_files;
  bool disable_multi_platform;
  const char *security_scan_enabled;        /* "true" / "false" */
  const char *security_scan_scanner;
  const char *security_scan_version;
  const char *security_scan_config_file;
  const char *security_scan_max_score_threshold;
  /* brr's own */
  int jobs;                       /* -j; 0: default (cores + 2, at least 16) */
  bool keep_going;                /* -k / --keep-going */
  bool incremental;               /* --incremental (or `incremental: true` in the global config) */
  bool serial;                    /* --serial: buildrunner's exact order */
  bool with_deps;                 /* --with-deps: --steps plus what they depend on */
  const char *graph;              /* --graph[=text|dot|mermaid|json]: print and exit */
  const char *progress;           /* --progress=auto|tty|plain|ci|json (or BRR_PROGRESS) */
  const char *context;            /* --context NAME: the docker context (docs/engine.md) */
  bool clean;                     /* --clean: remove what killed brr runs left, and exit */
  int heartbeat_s;                /* --heartbeat / BRR_HEARTBEAT: 0 default, -1 none */
  const char *trace;              /* --trace FILE, or NULL (trace.json in the results dir) */
  bool strict_templates;          /* --strict-templates */
  bool help, version;
  const char *print_schema;       /* --print-schema[=project|global]: print the JSON Schema */
  bool list_steps;                /* --list-steps: print the step names (for completions) */
  bool help_man;                  /* --help-man (hidden): the man page, from the option table */
  const char *completion;         /* --completion=bash|zsh|fish (hidden): a completion script */
  unsigned long long used_mask;   /* one bit per option seen (conflicting-flag warnings) */
} brr_cli;

/* Parse argv. Returns 0, or BRR_EXIT_USAGE after printing the problem to `err`. */
int brr_cli_parse(brr_cli *cli, int argc, char **argv, FILE *err);
void brr_cli_print_help(FILE *out, const char *prog);

/* One visible option of the table --help prints (hidden ones are skipped): what the man page
 * and the completion scripts are generated from. Returns false past the last. */
typedef struct brr_cli_optinfo {
  const char *name;            /* long name, without "--" */
  char short_name;             /* '\0' when there is none */
  int has_arg;                 /* 0 none, 1 required, 2 optional (getopt's values) */
  const char *metavar;         /* DIR, FILE, N... or NULL */
  const char *group;
  const char *help;
  const char *const *values;   /* the fixed set of values it takes (NULL-terminated) or NULL */
} brr_cli_optinfo;
bool brr_cli_opt_info(size_t i, brr_cli_optinfo *out);

/* docgen.c: everything else generated from the same table and the tables next to it. */
void brr_cli_print_exit_codes(FILE *out);     /* the "Exit codes:" paragraph of --help */
int brr_cli_print_man(FILE *out);             /* brr.1 in roff; 0 or -1 on a write error */
int brr_cli_print_completion(FILE *out, const char *shell);  /* bash, zsh or fish */
int brr_cli_print_version(FILE *out);         /* version, commit, libraries' run-time versions */
void brr_cli_free(brr_cli *cli);
/* Run the compiled graph (results dir, ui, runtime, scheduler) and return the exit code. */
struct brr_config;
struct brr_graph;
int brr_cli_run(const brr_cli *cli, struct brr_config *cfg, struct brr_graph *g);
/* --clean: remove the containers, networks, volumes and temp dirs of brr processes on this
 * host that are gone (after kill -9), report each on stdout; the exit code. */
int brr_cli_clean(const brr_cli *cli);
/* Run brr with these arguments (what main() does); returns the exit code. */
int brr_main(int argc, char **argv);

#endif
