/* Command-line parsing: one table drives getopt_long, --help, the man page and the shell
 * completions (docgen.c reads it through brr_cli_opt_info). */
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "brr/cli.h"
#include "brr/diag.h"
#include "brr/ui.h"
#include "brr/util.h"

enum {
  OPT_CONTAINER_LABELS = 1000,
  OPT_PUSH,
  OPT_KEEP_IMAGES,
  OPT_CLEANUP_IMAGES,
  OPT_LOCAL_IMAGES,
  OPT_PLATFORM,
  OPT_KEEP_STEP_ARTIFACTS,
  OPT_CLEAN_CACHE,
  OPT_PUBLISH_PORTS,
  OPT_DISABLE_TIMESTAMPS,
  OPT_NO_COLOR,
  OPT_VERSION,
  OPT_PRINT_GENERATED,
  OPT_LOG_GENERATED,
  OPT_DISABLE_MP,
  OPT_SS_ENABLED,
  OPT_SS_SCANNER,
  OPT_SS_VERSION,
  OPT_SS_CONFIG_FILE,
  OPT_SS_MAX_SCORE,
  OPT_SERIAL,
  OPT_WITH_DEPS,
  OPT_GRAPH,
  OPT_PROGRESS,
  OPT_PRINT_SCHEMA,
  OPT_LIST_STEPS,
  OPT_HELP_MAN,
  OPT_COMPLETION,
  OPT_CONTEXT,
  OPT_CLEAN,
  OPT_HEARTBEAT,
  OPT_TRACE,
  OPT_STRICT_TEMPLATES,
  OPT_INCREMENTAL,
};

typedef struct opt_def {
  const char *name;
  int val;             /* short letter or OPT_* */
  int has_arg;         /* no_argument, required_argument, optional_argument */
  const char *metavar;
  const char *group;   /* NULL: hidden (for the build's own use: man page, completions) */
  const char *help;
} opt_def;

static const opt_def OPTS[] = {
    {"directory", 'd', required_argument, "DIR", "Input", "build directory (default: the current directory)"},
    {"file", 'f', required_argument, "FILE", "Input", "build configuration file, relative to DIR (default: buildrunner.yaml)"},
    {"global-config", 'c', required_argument, "FILE", "Input", "global configuration file (default: DIR/.buildrunner.yaml)"},
    {"build-results-directory", 'b', required_argument, "DIR", "Input", "results directory (default: DIR/buildrunner.results)"},
    {"build-number", 'n', required_argument, "N", "Input", "build number (default: epoch seconds)"},

    {"strict-templates", OPT_STRICT_TEMPLATES, no_argument, NULL, "Input", "printing an undefined template variable is an error (default: empty, as Jinja2)"},

    {"steps", 's', required_argument, "A,B", "Selection and order", "run only these steps (repeatable, comma-separated)"},
    {"with-deps", OPT_WITH_DEPS, no_argument, NULL, "Selection and order", "with --steps: also run what those steps depend on"},
    {"jobs", 'j', required_argument, "N", "Selection and order", "run at most N nodes at once (default: cores + 2, at least 16)"},
    {"serial", OPT_SERIAL, no_argument, NULL, "Selection and order", "run one node at a time in buildrunner's exact order"},
    {"keep-going", 'k', no_argument, NULL, "Selection and order", "after a failure, run everything that does not depend on it"},
    {"incremental", OPT_INCREMENTAL, no_argument, NULL, "Selection and order", "reuse the outputs of steps whose inputs did not change since their last success (docs/incremental.md)"},
    {"graph", OPT_GRAPH, optional_argument, "FMT", "Selection and order", "print the graph (text|dot|mermaid|json) and exit"},

    {"push", OPT_PUSH, no_argument, NULL, "Images", "push images to their registries after every step succeeded"},
    {"local-images", OPT_LOCAL_IMAGES, no_argument, NULL, "Images", "never pull images that exist locally (pull: false everywhere)"},
    {"platform", OPT_PLATFORM, required_argument, "P", "Images", "build and run for platform P only (collapses platforms)"},
    {"disable-multi-platform", OPT_DISABLE_MP, no_argument, NULL, "Images", "build one platform of multi-platform steps"},
    {"cleanup-images", OPT_CLEANUP_IMAGES, no_argument, NULL, "Images", "remove the images this run generated at the end (never an image it did not create)"},
    {"keep-images", OPT_KEEP_IMAGES, no_argument, NULL, "Images", "deprecated, does nothing"},
    {"docker-timeout", 't', required_argument, "S", "Images", "Docker API timeout in seconds (default: 600; 0: 3600)"},
    {"context", OPT_CONTEXT, required_argument, "NAME", "Images", "the docker context to use (default: DOCKER_HOST, DOCKER_CONTEXT, the current one)"},

    {"publish-ports", OPT_PUBLISH_PORTS, no_argument, NULL, "Run steps", "publish the ports of run steps on the host"},
    {"container-labels", OPT_CONTAINER_LABELS, required_argument, "K=V,..", "Run steps", "labels for every container brr creates"},
    {"keep-step-artifacts", OPT_KEEP_STEP_ARTIFACTS, no_argument, NULL, "Run steps", "keep the results directory of an earlier run"},
    {"clean-cache", OPT_CLEAN_CACHE, no_argument, NULL, "Run steps", "empty caches-root before the build"},
    {"clean", OPT_CLEAN, no_argument, NULL, "Run steps", "remove what killed brr runs on this host left (containers, networks, volumes, temp dirs), and exit"},

    {"security-scan-enabled", OPT_SS_ENABLED, required_argument, "true|false", "Security scan", "override security-scan.enabled"},
    {"security-scan-scanner", OPT_SS_SCANNER, required_argument, "NAME", "Security scan", "override security-scan.scanner (only trivy)"},
    {"security-scan-version", OPT_SS_VERSION, required_argument, "V", "Security scan", "override security-scan.version"},
    {"security-scan-config-file", OPT_SS_CONFIG_FILE, required_argument, "FILE", "Security scan", "override security-scan.config from a YAML file"},
    {"security-scan-max-score-threshold", OPT_SS_MAX_SCORE, required_argument, "X", "Security scan", "override security-scan.max-score-threshold"},

    {"progress", OPT_PROGRESS, required_argument, "MODE", "Output", "auto|tty|plain|ci|json (default: $BRR_PROGRESS or auto)"},
    {"heartbeat", OPT_HEARTBEAT, required_argument, "S", "Output", "ci mode: a line naming the running steps every S seconds while output is held (default: $BRR_HEARTBEAT or 30; 0: none)"},
    {"trace", OPT_TRACE, required_argument, "FILE", "Output", "write a Chrome trace of the run to FILE (default: trace.json in the results directory)"},
    {"no-color", OPT_NO_COLOR, no_argument, NULL, "Output", "no colours (NO_COLOR is honoured too)"},
    {"disable-timestamps", OPT_DISABLE_TIMESTAMPS, no_argument, NULL, "Output", "no timestamps on the console"},
    {"debug", 'x', no_argument, NULL, "Output", "show debug messages"},
    {"print-generated-files", OPT_PRINT_GENERATED, no_argument, NULL, "Output", "print the rendered configuration and exit"},
    {"log-generated-files", OPT_LOG_GENERATED, no_argument, NULL, "Output", "log the rendered configuration and continue"},

    {"help", 'h', no_argument, NULL, "Information", "show this help and exit"},
    {"version", OPT_VERSION, no_argument, NULL, "Information", "print the version, the commit and the libraries' versions and exit"},
    {"print-schema", OPT_PRINT_SCHEMA, optional_argument, "global", "Information", "print the JSON Schema of buildrunner.yaml (or of the global configuration) and exit"},
    {"list-steps", OPT_LIST_STEPS, no_argument, NULL, "Information", "print the names of the steps, one a line, and exit"},

    {"help-man", OPT_HELP_MAN, no_argument, NULL, NULL, "print the man page (roff) and exit"},
    {"completion", OPT_COMPLETION, required_argument, "SHELL", NULL, "print the completion script for bash, zsh or fish and exit"},
};

/* The values of options that take one of a fixed set (validated here, completed by the shells). */
static const char *const GRAPH_FORMATS[] = {"text", "dot", "mermaid", "json", NULL};
static const char *const PROGRESS_MODES[] = {"auto", "tty", "plain", "ci", "json", NULL};
static const char *const SCHEMA_KINDS[] = {"project", "global", NULL};
static const char *const SHELLS[] = {"bash", "zsh", "fish", NULL};
static const struct {
  int val;
  const char *const *values;
} CHOICES[] = {{OPT_GRAPH, GRAPH_FORMATS}, {OPT_PROGRESS, PROGRESS_MODES},
               {OPT_PRINT_SCHEMA, SCHEMA_KINDS}, {OPT_COMPLETION, SHELLS}};

#define N_OPTS BRR_ARRAY_LEN(OPTS)
_Static_assert(N_OPTS <= 64, "used_mask has one bit per option");

static const opt_def *find_opt(int val) {
  for (size_t i = 0; i < N_OPTS; i++)
    if (OPTS[i].val == val) return &OPTS[i];
  return NULL;
}

static const char *const *choices_of(int val) {
  for (size_t i = 0; i < BRR_ARRAY_LEN(CHOICES); i++)
    if (CHOICES[i].val == val) return CHOICES[i].values;
  return NULL;
}

static bool one_of(const char *s, const char *const *values) {
  for (size_t i = 0; values[i]; i++)
    if (strcmp(s, values[i]) == 0) return true;
  return false;
}

/* "a, b, c or d" */
static void join_choices(char *buf, size_t size, const char *const *values) {
  size_t n = 0, len = 0;
  while (values[n]) n++;
  buf[0] = '\0';
  for (size_t i = 0; i < n && len < size; i++) {
    int w = snprintf(buf + len, size - len, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", values[i]);
    if (w < 0) break;
    len += (size_t)w;
  }
}

bool brr_cli_opt_info(size_t i, brr_cli_optinfo *out) {
  size_t k = 0;
  for (size_t j = 0; j < N_OPTS; j++) {
    if (!OPTS[j].group) continue;
    if (k++ != i) continue;
    *out = (brr_cli_optinfo){OPTS[j].name, OPTS[j].val < 128 ? (char)OPTS[j].val : '\0',
                             OPTS[j].has_arg, OPTS[j].metavar, OPTS[j].group, OPTS[j].help,
                             choices_of(OPTS[j].val)};
    return true;
  }
  return false;
}

void brr_cli_print_help(FILE *out, const char *prog) {
  fprintf(out,
          "usage: %s [options]\n"
          "Runs the steps of a buildrunner.yaml as a dependency graph: every independent step,\n"
          "and every platform of a multi-platform build, at the same time.\n",
          prog);
  const char *group = NULL;
  for (size_t i = 0; i < N_OPTS; i++) {
    const opt_def *o = &OPTS[i];
    if (!o->group) continue;  /* hidden */
    if (!group || strcmp(group, o->group) != 0) {
      group = o->group;
      fprintf(out, "\n%s:\n", group);
    }
    char left[80];
    int n;
    if (o->val < 128)
      n = snprintf(left, sizeof left, "  -%c, --%s", o->val, o->name);
    else
      n = snprintf(left, sizeof left, "      --%s", o->name);
    if (o->metavar && n > 0 && (size_t)n < sizeof left)
      snprintf(left + n, sizeof left - (size_t)n, o->has_arg == optional_argument ? "[=%s]" : " %s", o->metavar);
    fprintf(out, "%-36s %s\n", left, o->help);
  }
  fputc('\n', out);
  brr_cli_print_exit_codes(out);
}

static BRR_PRINTF(2, 3) int usage_error(FILE *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(err, "brr: ");
  vfprintf(err, fmt, ap);
  fprintf(err, "\nTry 'brr --help' for more information.\n");
  va_end(ap);
  return BRR_EXIT_USAGE;
}

/* "unknown option '--jbos' (did you mean '--jobs'?)" */
static int unknown_long(FILE *err, const char *arg) {
  const char *word = arg;
  while (*word == '-') word++;
  size_t len = strcspn(word, "=");
  char *name = brr_xstrndup(word, len);
  const char *names[N_OPTS];
  for (size_t i = 0; i < N_OPTS; i++) names[i] = OPTS[i].name;
  const char *best = len ? brr_suggest(name, names, N_OPTS) : NULL;
  int rc = best ? usage_error(err, "unknown option '%s' (did you mean '--%s'?)", arg, best)
                : usage_error(err, "unknown option '%s'", arg);
  free(name);
  return rc;
}

static bool used(const brr_cli *cli, int val) {
  const opt_def *o = find_opt(val);
  return o && (cli->used_mask & (1ull << (o - OPTS)));
}

/* Flags that contradict each other: say which one wins (the run goes on). */
static void warn_conflicts(const brr_cli *cli, FILE *err) {
  if (cli->serial && used(cli, 'j') && cli->jobs != 1)
    fprintf(err, "brr: warning: --serial runs one node at a time; -j %d is ignored\n", cli->jobs);
  if (cli->print_generated_files && cli->graph)
    fprintf(err, "brr: warning: --print-generated-files prints the configuration and exits; --graph is ignored\n");
  if (cli->graph && cli->trace)
    fprintf(err, "brr: warning: --graph prints the graph and exits; --trace is ignored (nothing runs)\n");
}

static void push_split(char ***vec, size_t *n, const char *arg) {
  size_t k;
  char **parts = brr_split(arg, ',', &k);
  *vec = brr_xrealloc(*vec, (*n + k + 1) * sizeof(char *));
  for (size_t i = 0; i < k; i++) {
    if (parts[i][0] == '\0') {
      free(parts[i]);
      continue;
    }
    (*vec)[(*n)++] = parts[i];
  }
  (*vec)[*n] = NULL;
  free(parts);
}

static int parse_int(const char *s, int lo, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo || v > INT_MAX) return -1;
  *out = (int)v;
  return 0;
}

int brr_cli_parse(brr_cli *cli, int argc, char **argv, FILE *err) {
  memset(cli, 0, sizeof *cli);
  cli->docker_timeout = 600;
  struct option longopts[N_OPTS + 1];
  char shortopts[3 * N_OPTS + 2];
  size_t s = 0;
  shortopts[s++] = ':';  /* report missing arguments distinctly */
  for (size_t i = 0; i < N_OPTS; i++) {
    longopts[i] = (struct option){OPTS[i].name, OPTS[i].has_arg, NULL, OPTS[i].val};
    if (OPTS[i].val < 128) {
      shortopts[s++] = (char)OPTS[i].val;
      if (OPTS[i].has_arg == required_argument) shortopts[s++] = ':';
    }
  }
  shortopts[s] = '\0';
  longopts[N_OPTS] = (struct option){NULL, 0, NULL, 0};

  size_t n_steps = 0, n_labels = 0;
  bool schema_arg = false;  /* --print-schema=KIND given (a following word is not its KIND) */
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    for (size_t i = 0; i < N_OPTS; i++)
      if (OPTS[i].val == c) cli->used_mask |= 1ull << i;
    switch (c) {
    case 'c': cli->global_config = optarg; break;
    case 'd': cli->directory = optarg; break;
    case 'b': cli->results_dir = optarg; break;
    case 'f': cli->file = optarg; break;
    case 'x': cli->debug = true; break;
    case 'n': cli->build_number = optarg; break;
    case 't':
      if (parse_int(optarg, 0, &cli->docker_timeout) != 0)
        return usage_error(err, "--docker-timeout needs a number of seconds, got '%s'", optarg);
      if (cli->docker_timeout == 0) cli->docker_timeout = 3600;
      break;
    case 's': push_split(&cli->steps, &n_steps, optarg); break;
    case 'j':
      if (parse_int(optarg, 1, &cli->jobs) != 0)
        return usage_error(err, "--jobs needs a positive number, got '%s'", optarg);
      break;
    case 'k': cli->keep_going = true; break;
    case 'h': cli->help = true; break;
    case OPT_CONTAINER_LABELS: {
      size_t before = n_labels;
      push_split(&cli->container_labels, &n_labels, optarg);
      for (size_t i = before; i < n_labels; i++)
        if (!strchr(cli->container_labels[i], '='))
          return usage_error(err, "--container-labels: '%s' is not of the form key=value",
                             cli->container_labels[i]);
      break;
    }
    case OPT_PUSH: cli->push = true; break;
    case OPT_KEEP_IMAGES: cli->keep_images = true; break;
    case OPT_CLEANUP_IMAGES: cli->cleanup_images = true; break;
    case OPT_LOCAL_IMAGES: cli->local_images = true; break;
    case OPT_PLATFORM: cli->platform = optarg; break;
    case OPT_KEEP_STEP_ARTIFACTS: cli->keep_step_artifacts = true; break;
    case OPT_CLEAN_CACHE: cli->clean_cache = true; break;
    case OPT_PUBLISH_PORTS: cli->publish_ports = true; break;
    case OPT_DISABLE_TIMESTAMPS: cli->disable_timestamps = true; break;
    case OPT_NO_COLOR: cli->no_color = true; break;
    case OPT_VERSION: cli->version = true; break;
    case OPT_PRINT_GENERATED: cli->print_generated_files = true; break;
    case OPT_LOG_GENERATED: cli->log_generated_files = true; break;
    case OPT_DISABLE_MP: cli->disable_multi_platform = true; break;
    case OPT_SS_ENABLED:
      if (strcmp(optarg, "true") != 0 && strcmp(optarg, "false") != 0)
        return usage_error(err, "--security-scan-enabled takes true or false, got '%s'", optarg);
      cli->security_scan_enabled = optarg;
      break;
    case OPT_SS_SCANNER:
      if (strcmp(optarg, "trivy") != 0)
        return usage_error(err, "--security-scan-scanner takes trivy, got '%s'", optarg);
      cli->security_scan_scanner = optarg;
      break;
    case OPT_SS_VERSION: cli->security_scan_version = optarg; break;
    case OPT_SS_CONFIG_FILE: cli->security_scan_config_file = optarg; break;
    case OPT_SS_MAX_SCORE: {
      char *end;
      (void)strtod(optarg, &end);
      if (!*optarg || *end)
        return usage_error(err, "--security-scan-max-score-threshold needs a number, got '%s'", optarg);
      cli->security_scan_max_score_threshold = optarg;
      break;
    }
    case OPT_SERIAL: cli->serial = true; break;
    case OPT_INCREMENTAL: cli->incremental = true; break;
    case OPT_WITH_DEPS: cli->with_deps = true; break;
    case OPT_GRAPH: cli->graph = optarg ? optarg : "text"; break;
    case OPT_PROGRESS: cli->progress = optarg; break;
    case OPT_PRINT_SCHEMA:
      cli->print_schema = optarg ? optarg : "project";
      schema_arg = optarg != NULL;
      break;
    case OPT_LIST_STEPS: cli->list_steps = true; break;
    case OPT_HELP_MAN: cli->help_man = true; break;
    case OPT_COMPLETION: cli->completion = optarg; break;
    case OPT_CONTEXT:
      if (!*optarg) return usage_error(err, "%s", "--context needs a context name");
      cli->context = optarg;
      break;
    case OPT_CLEAN: cli->clean = true; break;
    case OPT_HEARTBEAT:
      if (brr_ui_heartbeat_choose(optarg, &cli->heartbeat_s) != 0)
        return usage_error(err, "--heartbeat needs a number of seconds, got '%s'", optarg);
      break;
    case OPT_STRICT_TEMPLATES: cli->strict_templates = true; break;
    case OPT_TRACE:
      if (!*optarg) return usage_error(err, "%s", "--trace needs a file name");
      cli->trace = optarg;
      break;
    case ':': {
      const opt_def *o = find_opt(optopt);
      if (o) return usage_error(err, "option --%s needs a value", o->name);
      return usage_error(err, "option '%s' needs a value", argv[optind - 1]);
    }
    default:
      if (optopt && optopt < 128) {
        char tmp[3] = {'-', (char)optopt, 0};
        return usage_error(err, "unknown option '%s'", tmp);
      }
      return unknown_long(err, argv[optind - 1]);
    }
  }
  /* `brr --print-schema global` reads as well as --print-schema=global */
  if (cli->print_schema && !schema_arg && optind < argc &&
      one_of(argv[optind], SCHEMA_KINDS))
    cli->print_schema = argv[optind++];
  if (optind < argc) return usage_error(err, "unexpected argument '%s'", argv[optind]);
  if (cli->with_deps && !cli->steps)
    return usage_error(err, "%s", "--with-deps needs --steps");
  if (!cli->progress) {
    const char *env = getenv("BRR_PROGRESS");
    if (env && *env) cli->progress = env;
  }
  if (!(cli->used_mask & (1ull << (find_opt(OPT_HEARTBEAT) - OPTS))) &&
      brr_ui_heartbeat_choose(NULL, &cli->heartbeat_s) != 0)
    return usage_error(err, "BRR_HEARTBEAT needs a number of seconds, got '%s'", getenv("BRR_HEARTBEAT"));
  const struct {
    const char *name, *value;
    int val;
  } chosen[] = {{"progress", cli->progress, OPT_PROGRESS},
                {"graph", cli->graph, OPT_GRAPH},
                {"print-schema", cli->print_schema, OPT_PRINT_SCHEMA},
                {"completion", cli->completion, OPT_COMPLETION}};
  for (size_t i = 0; i < BRR_ARRAY_LEN(chosen); i++) {
    if (!chosen[i].value || one_of(chosen[i].value, choices_of(chosen[i].val))) continue;
    char list[128];
    join_choices(list, sizeof list, choices_of(chosen[i].val));
    return usage_error(err, "--%s takes %s, got '%s'", chosen[i].name, list, chosen[i].value);
  }
  warn_conflicts(cli, err);
  return 0;
}

void brr_cli_free(brr_cli *cli) {
  brr_strv_free(cli->steps);
  brr_strv_free(cli->container_labels);
  cli->steps = cli->container_labels = NULL;
}
