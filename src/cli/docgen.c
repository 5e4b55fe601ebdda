/* What is generated from the option table (options.c) and the tables below, so that --help,
 * the man page and the shell completions never disagree: the exit codes, brr.1, and the
 * bash, zsh and fish completion scripts. The build runs `brr --help-man` and
 * `brr --completion=SHELL` and installs their output (CMakeLists.txt). */
#include <stdio.h>
#include <string.h>

#include "brr/cli.h"
#include "brr/util.h"

static const struct {
  const char *code, *meaning;
} EXIT_CODES[] = {
    {"0", "success"},
    {"1", "a step failed"},
    {"2", "usage error, or a flag whose feature is not there yet"},
    {"69", "the results directory cannot be created"},
    {"78", "configuration error (the message names file:line:col)"},
    {"128+N", "stopped by signal N"},
};

static const struct {
  const char *name, *meaning;
} ENVIRONMENT[] = {
    {"BRR_PROGRESS", "the progress mode when --progress is not given (auto, tty, plain, ci, json)"},
    {"NO_COLOR", "when set, no colours (FORCE_COLOR=1 and CLICOLOR_FORCE=1 force them)"},
    {"DOCKER_HOST", "the Docker engine: unix:///path or tcp://host:port (default: unix:///var/run/docker.sock)"},
    {"DOCKER_TLS_VERIFY", "when set, talk TLS to a tcp:// engine and verify its certificate"},
    {"DOCKER_CERT_PATH", "folder with ca.pem, cert.pem and key.pem for the TLS engine (default: ~/.docker)"},
    {"DOCKER_CONFIG", "folder of the Docker client configuration with registry credentials (default: ~/.docker)"},
    {"BRR_DOCKER", "the docker command that runs buildx for multi-platform builds (default: docker)"},
    {"BRR_MASTER_CONFIG", "the first global configuration file (default: /etc/buildrunner/buildrunner.yaml)"},
    {"BRR_USER_CONFIG", "the user's global configuration file (default: ~/.buildrunner.yaml)"},
    {"BUILDRUNNER_TEMPDIR", "temporary folder when the global temp-dir is not set (then TMPDIR, TEMP, TMP)"},
    {"XDG_CACHE_HOME", "where the history of step durations is kept (default: ~/.cache)"},
};

static const struct {
  const char *path, *meaning;
} FILES[] = {
    {"DIR/buildrunner.yaml", "the build configuration (-f names another, relative to DIR)"},
    {"DIR/.buildrunner.yaml", "the project's global configuration (-c names another)"},
    {"~/.buildrunner.yaml", "the user's global configuration"},
    {"/etc/buildrunner/buildrunner.yaml", "the machine's global configuration"},
    {"DIR/buildrunner.results/", "artifacts, logs and artifacts.json of the run (-b names another)"},
    {"~/.cache/brr/history/", "how long each step took in earlier runs, one file per build configuration; the "
                              "scheduler starts the longest chains first ($XDG_CACHE_HOME/brr/history when set)"},
};

static const struct {
  const char *cmd, *what;
} EXAMPLES[] = {
    {"brr", "run ./buildrunner.yaml"},
    {"brr --graph", "what would run, in which order and why; then exit"},
    {"brr --graph=dot | dot -Tsvg > graph.svg", "the same as a picture"},
    {"brr -j 4 --keep-going", "at most 4 nodes at once; run all that does not depend on a failure"},
    {"brr --serial", "buildrunner's exact order, one node at a time"},
    {"brr -s test --with-deps", "one step and what it needs"},
    {"brr --progress=ci --push", "in CI: plain lines with the CI's folding, then push"},
    {"brr --print-schema > buildrunner.schema.json", "the JSON Schema for an editor"},
};

void brr_cli_print_exit_codes(FILE *out) {
  fputs("Exit codes:\n", out);
  for (size_t i = 0; i < BRR_ARRAY_LEN(EXIT_CODES); i++)
    fprintf(out, "  %-6s %s\n", EXIT_CODES[i].code, EXIT_CODES[i].meaning);
}

/* ---- the man page ------------------------------------------------------------------------ */

/* roff text: backslashes doubled, hyphens as \-, a leading dot or quote escaped */
static void roff(FILE *out, const char *s) {
  if (*s == '.' || *s == '\'') fputs("\\&", out);
  for (; *s; s++) {
    if (*s == '\\') fputs("\\e", out);
    else if (*s == '-') fputs("\\-", out);
    else fputc(*s, out);
  }
}

static void man_option(FILE *out, const brr_cli_optinfo *o) {
  fputs(".TP\n", out);
  if (o->short_name) fprintf(out, "\\fB\\-%c\\fR, ", o->short_name);
  fputs("\\fB\\-\\-", out);
  roff(out, o->name);
  fputs("\\fR", out);
  if (o->metavar) {
    fputs(o->has_arg == 2 ? "[=\\fI" : " \\fI", out);
    roff(out, o->metavar);
    fputs(o->has_arg == 2 ? "\\fR]" : "\\fR", out);
  }
  fputc('\n', out);
  roff(out, o->help);
  if (o->values && !strstr(o->help, o->values[0])) {
    fputs(" (one of:", out);
    for (size_t i = 0; o->values[i]; i++) {
      fputc(' ', out);
      roff(out, o->values[i]);
    }
    fputc(')', out);
  }
  fputs(".\n", out);
}

int brr_cli_print_man(FILE *out) {
  fprintf(out, ".TH BRR 1 \"\" \"brr %s\" \"User Commands\"\n", BRR_VERSION);
  fputs(".SH NAME\nbrr \\- run buildrunner pipelines as a dependency graph\n"
        ".SH SYNOPSIS\n.B brr\n[\\fIoptions\\fR]\n"
        ".SH DESCRIPTION\n"
        "\\fBbrr\\fR runs the steps of a buildrunner.yaml (build Docker images, run steps inside\n"
        "containers, commit and push images) as a dependency graph: every independent step, and\n"
        "every platform of a multi\\-platform build, at the same time on one event loop, against\n"
        "the Docker engine that \\fBDOCKER_HOST\\fR names. It takes buildrunner's options with the\n"
        "same meaning, plus its own.\n"
        ".SH OPTIONS\n", out);
  const char *group = NULL;
  brr_cli_optinfo o;
  for (size_t i = 0; brr_cli_opt_info(i, &o); i++) {
    if (!group || strcmp(group, o.group) != 0) {
      group = o.group;
      fputs(".SS ", out);
      roff(out, group);
      fputc('\n', out);
    }
    man_option(out, &o);
  }
  fputs(".SH EXIT STATUS\n", out);
  for (size_t i = 0; i < BRR_ARRAY_LEN(EXIT_CODES); i++) {
    fprintf(out, ".TP\n.B %s\n", EXIT_CODES[i].code);
    roff(out, EXIT_CODES[i].meaning);
    fputc('\n', out);
  }
  fputs(".SH ENVIRONMENT\n", out);
  for (size_t i = 0; i < BRR_ARRAY_LEN(ENVIRONMENT); i++) {
    fprintf(out, ".TP\n.B %s\n", ENVIRONMENT[i].name);
    roff(out, ENVIRONMENT[i].meaning);
    fputc('\n', out);
  }
  fputs(".SH FILES\n", out);
  for (size_t i = 0; i < BRR_ARRAY_LEN(FILES); i++) {
    fputs(".TP\n.I ", out);
    roff(out, FILES[i].path);
    fputc('\n', out);
    roff(out, FILES[i].meaning);
    fputc('\n', out);
  }
  fputs(".SH EXAMPLES\n", out);
  for (size_t i = 0; i < BRR_ARRAY_LEN(EXAMPLES); i++) {
    fputs(".TP\n.B ", out);
    roff(out, EXAMPLES[i].cmd);
    fputc('\n', out);
    roff(out, EXAMPLES[i].what);
    fputc('\n', out);
  }
  fputs(".SH SEE ALSO\n\\fBdocker\\fR(1); buildrunner: https://github.com/adobe/buildrunner\n", out);
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

/* ---- completions ------------------------------------------------------------------------- */

typedef enum { ARG_NONE, ARG_STEPS, ARG_DIR, ARG_FILE, ARG_VALUES, ARG_OTHER } arg_kind;

/* what an option's value is, from the table: its fixed values, or its metavar */
static arg_kind arg_of(const brr_cli_optinfo *o) {
  if (!o->has_arg) return ARG_NONE;
  if (strcmp(o->name, "steps") == 0) return ARG_STEPS;
  if (o->values) return ARG_VALUES;
  if (o->metavar && strcmp(o->metavar, "DIR") == 0) return ARG_DIR;
  if (o->metavar && strcmp(o->metavar, "FILE") == 0) return ARG_FILE;
  return ARG_OTHER;
}

static void words(FILE *out, const char *const *v) {
  for (size_t i = 0; v[i]; i++) fprintf(out, "%s%s", i ? " " : "", v[i]);
}

/* The step names come from brr itself: `brr --list-steps` with the -d/-f already typed. */
static void bash_completion(FILE *out) {
  brr_cli_optinfo o;
  fputs("# bash completion for brr (generated by `brr --completion=bash`)\n"
        "_brr_steps() {\n"
        "  local dir=. file= i w\n"
        "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "    w=${COMP_WORDS[i]}\n"
        "    case $w in\n"
        "      -d|--directory) dir=${COMP_WORDS[i+1]} ;;\n"
        "      --directory=*) dir=${w#*=} ;;\n"
        "      -d?*) dir=${w#-d} ;;\n"
        "      -f|--file) file=${COMP_WORDS[i+1]} ;;\n"
        "      --file=*) file=${w#*=} ;;\n"
        "      -f?*) file=${w#-f} ;;\n"
        "    esac\n"
        "  done\n"
        "  dir=${dir/#\\~/$HOME}\n"
        "  \"${COMP_WORDS[0]}\" --list-steps -d \"$dir\" ${file:+-f \"$file\"} 2>/dev/null\n"
        "}\n"
        "_brr() {\n"
        "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} opt= val\n"
        "  COMPREPLY=()\n"
        "  # --opt=value arrives as one word, or as --opt, =, value when = breaks words\n"
        "  if [[ $cur == --*=* ]]; then opt=${cur%%=*} val=${cur#*=}\n"
        "  elif [[ $cur == = && $prev == --* ]]; then opt=$prev val=\n"
        "  elif [[ $prev == = && COMP_CWORD -ge 2 ]]; then opt=${COMP_WORDS[COMP_CWORD-2]} val=$cur\n"
        "  elif [[ $prev == -* ]]; then opt=$prev val=$cur\n"
        "  fi\n"
        "  local pre=\n"
        "  [[ $cur == --*=* ]] && pre=$opt=\n"
        "  case $opt in\n", out);
  for (size_t i = 0; brr_cli_opt_info(i, &o); i++) {
    arg_kind k = arg_of(&o);
    if (k == ARG_NONE) continue;
    bool optional = o.has_arg == 2;  /* only --opt=value: a following word is not its value */
    if (o.short_name && !optional) fprintf(out, "    -%c|--%s)\n", o.short_name, o.name);
    else fprintf(out, "    --%s)\n", o.name);
    if (optional)
      fputs("      [[ $cur == --*=* || $cur == = || $prev == = ]] || { opt=; val=; }\n"
            "      [[ -n $opt ]] || { COMPREPLY=($(compgen -W \"$_brr_opts\" -- \"$cur\")); return; }\n", out);
    switch (k) {
    case ARG_STEPS:
      fputs("      local done=${val%,*},; [[ $val == *,* ]] || done=\n"
            "      COMPREPLY=($(compgen -P \"$pre$done\" -W \"$(_brr_steps)\" -- \"${val##*,}\")) ;;\n", out);
      break;
    case ARG_VALUES:
      fputs("      COMPREPLY=($(compgen -P \"$pre\" -W \"", out);
      words(out, o.values);
      fputs("\" -- \"$val\")) ;;\n", out);
      break;
    case ARG_DIR: fputs("      COMPREPLY=($(compgen -P \"$pre\" -d -- \"$val\")) ;;\n", out); break;
    case ARG_FILE: fputs("      COMPREPLY=($(compgen -P \"$pre\" -f -- \"$val\")) ;;\n", out); break;
    default: fputs("      ;;\n", out); break;
    }
  }
  fputs("    *)\n"
        "      COMPREPLY=($(compgen -W \"$_brr_opts\" -- \"$cur\")) ;;\n"
        "  esac\n"
        "}\n"
        "_brr_opts=\"", out);
  for (size_t i = 0; brr_cli_opt_info(i, &o); i++) {
    if (o.short_name) fprintf(out, "-%c ", o.short_name);
    fprintf(out, "--%s%s%s", o.name, o.has_arg == 2 ? " --" : "", o.has_arg == 2 ? o.name : "");
    if (o.has_arg == 2) fputc('=', out);
    fputc(' ', out);
  }
  fputs("\"\ncomplete -o filenames -F _brr brr\n", out);
}

/* zsh _arguments descriptions: brackets, colons, backslashes escaped; quotes for '...' */
static void zsh_text(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '[' || *s == ']' || *s == ':' || *s == '\\') fputc('\\', out);
    if (*s == '\'') fputs("'\\''", out);
    else fputc(*s, out);
  }
}

static void zsh_action(FILE *out, const brr_cli_optinfo *o) {
  fputc(':', out);
  zsh_text(out, o->metavar ? o->metavar : "value");
  fputc(':', out);
  switch (arg_of(o)) {
  case ARG_STEPS: fputs("_brr_steps", out); break;
  case ARG_VALUES: fputc('(', out); words(out, o->values); fputc(')', out); break;
  case ARG_DIR: fputs("_directories", out); break;
  case ARG_FILE: fputs("_files", out); break;
  default: fputs(" ", out); break;
  }
}

static void zsh_completion(FILE *out) {
  brr_cli_optinfo o;
  fputs("#compdef brr\n"
        "# zsh completion for brr (generated by `brr --completion=zsh`)\n"
        "_brr_steps() {\n"
        "  local dir=. file= i\n"
        "  for (( i = 2; i < CURRENT; i++ )); do\n"
        "    case ${words[i]} in\n"
        "      -d|--directory) dir=${words[i+1]} ;;\n"
        "      --directory=*) dir=${words[i]#*=} ;;\n"
        "      -f|--file) file=${words[i+1]} ;;\n"
        "      --file=*) file=${words[i]#*=} ;;\n"
        "    esac\n"
        "  done\n"
        "  local -a steps\n"
        "  steps=(${(f)\"$(${words[1]} --list-steps -d ${~dir} ${file:+-f} ${file:+${~file}} 2>/dev/null)\"})\n"
        "  _values -s , step $steps\n"
        "}\n"
        "_brr() {\n"
        "  _arguments -s -S \\\n", out);
  for (size_t i = 0; brr_cli_opt_info(i, &o); i++) {
    bool repeat = arg_of(&o) == ARG_STEPS;
    if (o.short_name) {
      fprintf(out, "    '%s-%c%s[", repeat ? "*" : "", o.short_name, o.has_arg ? "+" : "");
      zsh_text(out, o.help);
      fputc(']', out);
      if (o.has_arg) zsh_action(out, &o);
      fputs("' \\\n", out);
    }
    fprintf(out, "    '%s--%s%s[", repeat ? "*" : "", o.name, o.has_arg == 1 ? "=" : o.has_arg == 2 ? "=-" : "");
    zsh_text(out, o.help);
    fputc(']', out);
    if (o.has_arg) {
      if (o.has_arg == 2) fputc(':', out);  /* "::" marks the value optional */
      zsh_action(out, &o);
    }
    fputs("' \\\n", out);
  }
  fputs("    && return 0\n"
        "}\n"
        "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _brr \"$@\"; else compdef _brr brr; fi\n", out);
}

static void fish_text(FILE *out, const char *s) {
  fputc('\'', out);
  for (; *s; s++) {
    if (*s == '\'' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
  fputc('\'', out);
}

static void fish_completion(FILE *out) {
  brr_cli_optinfo o;
  fputs("# fish completion for brr (generated by `brr --completion=fish`)\n"
        "function __brr_steps\n"
        "    set -l tokens (commandline -opc)\n"
        "    set -l dir .\n"
        "    set -l file\n"
        "    set -l i 2\n"
        "    while test $i -le (count $tokens)\n"
        "        switch $tokens[$i]\n"
        "            case -d --directory\n"
        "                set i (math $i + 1); set dir $tokens[$i]\n"
        "            case '--directory=*'\n"
        "                set dir (string replace -- --directory= '' $tokens[$i])\n"
        "            case -f --file\n"
        "                set i (math $i + 1); set file $tokens[$i]\n"
        "            case '--file=*'\n"
        "                set file (string replace -- --file= '' $tokens[$i])\n"
        "        end\n"
        "        set i (math $i + 1)\n"
        "    end\n"
        "    set -l args --list-steps -d $dir\n"
        "    test -n \"$file\"; and set -a args -f $file\n"
        "    # a comma-separated list: complete the last name, keep the ones before\n"
        "    set -l cur (commandline -ct)\n"
        "    set -l done (string match -r '^.*,' -- $cur; or echo '')\n"
        "    for s in ($tokens[1] $args 2>/dev/null)\n"
        "        echo $done$s\n"
        "    end\n"
        "end\n"
        "complete -c brr -f\n", out);
  for (size_t i = 0; brr_cli_opt_info(i, &o); i++) {
    fputs("complete -c brr", out);
    if (o.short_name) fprintf(out, " -s %c", o.short_name);
    fprintf(out, " -l %s", o.name);
    arg_kind k = arg_of(&o);
    if (o.has_arg == 1) {
      switch (k) {
      case ARG_STEPS: fputs(" -x -a '(__brr_steps)'", out); break;
      case ARG_VALUES: fputs(" -x -a ", out); fputc('\'', out); words(out, o.values); fputc('\'', out); break;
      case ARG_DIR: fputs(" -x -a '(__fish_complete_directories)'", out); break;
      case ARG_FILE: fputs(" -r -F", out); break;
      default: fputs(" -x", out); break;
      }
    }
    fputs(" -d ", out);
    fish_text(out, o.help);
    fputc('\n', out);
    if (o.has_arg == 2 && o.values) {
      /* an optional value is only --opt=value: offer the joined words */
      fprintf(out, "complete -c brr -n 'string match -q -- \"--%s=*\" (commandline -ct)' -a '", o.name);
      for (size_t j = 0; o.values[j]; j++) fprintf(out, "%s--%s=%s", j ? " " : "", o.name, o.values[j]);
      fputs("'\n", out);
    }
  }
}

int brr_cli_print_completion(FILE *out, const char *shell) {
  if (strcmp(shell, "bash") == 0) bash_completion(out);
  else if (strcmp(shell, "zsh") == 0) zsh_completion(out);
  else if (strcmp(shell, "fish") == 0) fish_completion(out);
  else return -1;
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
