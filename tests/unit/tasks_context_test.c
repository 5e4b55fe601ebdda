/* tasks: build inputs (inject destinations, Dockerfile choice), the legacy context tar and
 * the buildx context directory (spec §2.2, §3.1, §7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "brr/tasks_files.h"
#include "unit/tasks_util.h"

static const char *yaml = "buildrunner.yaml";

static brr_str S(const char *s, unsigned line) { return (brr_str){s, {yaml, line, 7}}; }

/* The build dir every test works in:
 *   files/a.txt files/b.txt files/c.dat files/.h   conf/x.conf conf/ln -> x.conf
 *   Dockerfile.alt   ctx/{Dockerfile, app.py, x.pyc, secret/s, .git/x} */
static char *make_build_dir(void) {
  char *b = tu_mkdtemp();
  tu_write(b, "files/a.txt", "A", 0644);
  tu_write(b, "files/b.txt", "B", 0600);
  tu_write(b, "files/c.dat", "C", 0644);
  tu_write(b, "files/.h", "hidden", 0644);
  tu_write(b, "conf/x.conf", "conf", 0640);
  tu_symlink(b, "conf/ln", "x.conf");
  tu_write(b, "Dockerfile.alt", "FROM alt\n", 0644);
  tu_write(b, "ctx/Dockerfile", "FROM ctx\n", 0644);
  tu_write(b, "ctx/app.py", "print(1)\n", 0755);
  tu_write(b, "ctx/x.pyc", "bytecode", 0644);
  tu_write(b, "ctx/secret/s", "s", 0600);
  tu_write(b, "ctx/.git/x", "git", 0644);
  return b;
}

/* ---- inject destinations ---- */

typedef struct dest_case {
  const char *glob, *dest;   /* dest NULL: YAML null */
  const char *want;          /* "src=dest|src=dest" with src relative to the build dir */
} dest_case;

static char *describe(const brr_build_inputs *in, const char *b) {
  brr_buf out = BRR_BUF_INIT;
  for (size_t i = 0; i < in->n_inject; i++) {
    if (i) brr_buf_putc(&out, '|');
    brr_buf_printf(&out, "%s=%s", in->inject[i].src + strlen(b) + 1, in->inject[i].dest);
  }
  return brr_buf_detach(&out);
}

static void test_inject_destinations(void **state) {
  (void)state;
  char *b = make_build_dir();
  static const dest_case cases[] = {
      {"files/a.txt", "dir/", "files/a.txt=dir/a.txt"},      /* trailing slash: into */
      {"files/a.txt", "dir/.", "files/a.txt=dir/a.txt"},     /* last component "." */
      {"files/a.txt", "dir/..", "files/a.txt=a.txt"},        /* last component ".." */
      {"files/a.txt", ".", "files/a.txt=a.txt"},
      {"files/a.txt", "new.txt", "files/a.txt=new.txt"},     /* one match: exactly dest */
      {"files/a.txt", "sub/new.txt", "files/a.txt=sub/new.txt"},
      {"files/a.txt", NULL, "files/a.txt=a.txt"},            /* empty: the root */
      {"files/a.txt", "", "files/a.txt=a.txt"},
      {"files/*.txt", "out", "files/a.txt=out/a.txt|files/b.txt=out/b.txt"},  /* several */
      {"files/*.txt", NULL, "files/a.txt=a.txt|files/b.txt=b.txt"},
      {"files/[ab].txt", "x/", "files/a.txt=x/a.txt|files/b.txt=x/b.txt"},
      {"files/*", "all", "files/a.txt=all/a.txt|files/b.txt=all/b.txt|files/c.dat=all/c.dat"},
      {"files/a.txt", "/abs/x", "files/a.txt=abs/x"},        /* leading / = context root */
      {"files/a.txt", "/", "files/a.txt=a.txt"},
      {"files/a.txt", "/Dockerfile", "files/a.txt=Dockerfile"},
      {"conf", "etc/conf", "conf=etc/conf"},
      {"conf", NULL, "conf=."},                              /* a directory into the root */
      {"./files/../files/c.dat", "d", "files/c.dat=d"},
  };
  for (size_t i = 0; i < BRR_ARRAY_LEN(cases); i++) {
    brr_inject inj = {S(cases[i].glob, 3), S(cases[i].dest, 3)};
    brr_build bld = {0};
    bld.inject = &inj;
    bld.n_inject = 1;
    bld.dockerfile = S("FROM scratch", 2);
    bld.dockerfile_inline = true;
    brr_build_inputs in;
    brr_diags d = BRR_DIAGS_INIT;
    if (brr_build_inputs_resolve(&bld, b, "s", &in, &d) != 0)
      fail_msg("case %zu: %s", i, d.n ? d.v[0].msg : "?");
    char *got = describe(&in, b);
    if (strcmp(got, cases[i].want) != 0)
      fail_msg("case %zu (%s -> %s): got %s want %s", i, cases[i].glob,
               cases[i].dest ? cases[i].dest : "null", got, cases[i].want);
    free(got);
    brr_build_inputs_free(&in);
    brr_diags_free(&d);
  }
  brr_rm_rf(b);
  free(b);
}

static void test_inject_errors(void **state) {
  (void)state;
  char *b = make_build_dir();
  /* a glob matching nothing: buildrunner's message, the absolute pattern, the key's mark */
  brr_inject inj[2] = {{S("files/*.nope", 12), S("x", 12)}, {S("files/a.txt", 13), S("../up", 13)}};
  brr_build bld = {0};
  bld.inject = inj;
  bld.n_inject = 1;
  brr_build_inputs in;
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_build_inputs_resolve(&bld, b, "pkg", &in, &d), BRR_ECONFIG);
  assert_int_equal(d.n_errors, 1);
  char *want = brr_xasprintf("Unable to expand inject glob: %s/files/*.nope", b);
  assert_string_equal(d.v[0].msg, want);
  assert_string_equal(d.v[0].path, "steps.pkg.build.inject");
  assert_int_equal(d.v[0].mark.line, 12);
  assert_int_equal(brr_diags_exit_code(&d), BRR_EXIT_CONFIG);
  free(want);
  brr_diags_free(&d);
  /* a destination climbing out of the context */
  bld.inject = inj + 1;
  assert_int_equal(brr_build_inputs_resolve(&bld, b, "pkg", &in, &d), BRR_ECONFIG);
  assert_non_null(strstr(d.v[0].msg, "outside the build context"));
  assert_int_equal(d.v[0].mark.line, 13);
  brr_diags_free(&d);
  /* the same source matched twice keeps its place and takes the last destination */
  brr_inject twice[3] = {{S("files/a.txt", 1), S("first", 1)},
                         {S("files/b.txt", 2), S("bee", 2)},
                         {S("files/a*", 3), S("second", 3)}};
  bld.inject = twice;
  bld.n_inject = 3;
  bld.dockerfile = S("FROM x", 4);
  bld.dockerfile_inline = true;
  assert_int_equal(brr_build_inputs_resolve(&bld, b, "pkg", &in, &d), 0);
  char *got = describe(&in, b);
  assert_string_equal(got, "files/a.txt=second|files/b.txt=bee");
  free(got);
  brr_build_inputs_free(&in);
  brr_rm_rf(b);
  free(b);
}

/* ---- the Dockerfile and the path ---- */

static void test_dockerfile_choice(void **state) {
  (void)state;
  char *b = make_build_dir();
  brr_build_inputs in;
  brr_diags d = BRR_DIAGS_INIT;
  char *ctx = brr_path_join(b, "ctx");
  char *alt = brr_path_join(b, "Dockerfile.alt");
  char *ctx_df = brr_path_join(ctx, "Dockerfile");

  brr_build bld = {0};
  bld.path = S("ctx", 5);
  assert_int_equal(brr_build_inputs_resolve(&bld, b, "s", &in, &d), 0);
  assert_string_equal(in.context, ctx);
  assert_string_equal(in.dockerfile_path, ctx_df);  /* <path>/Dockerfile */
  assert_false(in.dockerfile_injected);
  brr_build_inputs_free(&in);

  brr_inject inj = {S("Dockerfile.alt", 6), S("/Dockerfile", 6)};
  bld.inject = &inj;
  bld.n_inject = 1;
  assert_int_equal(brr_build_inputs_resolve(&bld, b, "s", &in, &d), 0);
  assert_string_equal(in.dockerfile_path, alt);    /* an inject to /Dockerfile overrides */
  assert_true(in.dockerfile_injected);
  brr_build_inputs_free(&in);

  bld.dockerfile = S("ctx/Dockerfile", 7);        /* the key wins over the inject */
  assert_int_equal(brr_build_inputs_resolve(&bld, b, "s", &in, &d), 0);
  assert_string_equal(in.dockerfile_path, ctx_df);
  assert_false(in.dockerfile_injected);
  brr_build_inputs_free(&in);

  bld.dockerfile = S("FROM busybox\nRUN true\n", 7);  /* not a file: inline text */
  bld.n_inject = 0;
  assert_int_equal(brr_build_inputs_resolve(&bld, b, "s", &in, &d), 0);
  assert_null(in.dockerfile_path);
  assert_string_equal(in.dockerfile_text, "FROM busybox\nRUN true\n");
  brr_build_inputs_free(&in);
  assert_int_equal(d.n, 0);

  /* a path without a Dockerfile anywhere */
  brr_build nodf = {0};
  nodf.path = S("conf", 9);
  assert_int_equal(brr_build_inputs_resolve(&nodf, b, "s", &in, &d), BRR_ECONFIG);
  assert_string_equal(d.v[0].msg, "Cannot find a Dockerfile in the given path or inject configurations");
  assert_int_equal(d.v[0].mark.line, 9);
  brr_diags_free(&d);
  /* ... which an import does not need */
  nodf.import = S("image.tar", 10);
  assert_int_equal(brr_build_inputs_resolve(&nodf, b, "s", &in, &d), 0);
  brr_build_inputs_free(&in);

  /* none of path, dockerfile, inject */
  brr_value node = {.type = BRR_VAL_MAP, .mark = {yaml, 20, 5}};
  brr_build empty = {0};
  empty.node = &node;
  assert_int_equal(brr_build_inputs_resolve(&empty, b, "s", &in, &d), BRR_ECONFIG);
  assert_non_null(strstr(d.v[0].msg, "must specify a \"path\", \"dockerfile\", or \"inject\""));
  assert_int_equal(d.v[0].mark.line, 20);
  brr_diags_free(&d);

  /* a path that is missing, or not a directory */
  brr_build gone = {0};
  gone.path = S("nope", 11);
  assert_int_equal(brr_build_inputs_resolve(&gone, b, "s", &in, &d), BRR_ECONFIG);
  assert_non_null(strstr(d.v[0].msg, "does not exist"));
  assert_int_equal(d.v[0].mark.line, 11);
  brr_diags_free(&d);
  gone.path = S("Dockerfile.alt", 11);
  assert_int_equal(brr_build_inputs_resolve(&gone, b, "s", &in, &d), BRR_ECONFIG);
  assert_non_null(strstr(d.v[0].msg, "is not a directory"));
  brr_diags_free(&d);

  free(ctx_df);
  free(alt);
  free(ctx);
  brr_rm_rf(b);
  free(b);
}

/* ---- the legacy tar ---- */

static int resolve(const char *b, brr_build *bld, brr_build_inputs *in) {
  brr_diags d = BRR_DIAGS_INIT;
  int rc = brr_build_inputs_resolve(bld, b, "s", in, &d);
  if (rc) fail_msg("resolve: %s", d.v[0].msg);
  brr_diags_free(&d);
  return rc;
}

static void make_tar(const char *b, const brr_build_inputs *in, tu_tar *t, char **df_name) {
  char *out = brr_path_join(b, "../ctx.tar");
  brr_diags d = BRR_DIAGS_INIT;
  if (brr_build_context_tar(in, out, df_name, &d) != 0) fail_msg("tar: %s", d.v[0].msg);
  assert_true(tu_tar_read(out, t));
  unlink(out);
  free(out);
  brr_diags_free(&d);
}

/* buildrunner's own tar: path tree (filtered), injects, then the Dockerfile; later writers
 * replace earlier files of the same name instead of duplicating them. */
static void test_tar_assembled(void **state) {
  (void)state;
  char *b = make_build_dir();
  tu_write(b, "ctx/.dockerignore", "*.pyc\nsecret\n", 0644);
  brr_inject inj[2] = {{S("files/a.txt", 1), S("app.py", 1)}, {S("conf", 2), S("etc", 2)}};
  brr_build bld = {0};
  bld.path = S("ctx", 3);
  bld.inject = inj;
  bld.n_inject = 2;
  brr_build_inputs in;
  resolve(b, &bld, &in);
  tu_tar t;
  char *df = NULL;
  make_tar(b, &in, &t, &df);
  assert_string_equal(df, "Dockerfile");
  char *names = tu_tar_names(&t);
  assert_string_equal(names, ".dockerignore|.git/|.git/x|app.py|etc/|etc/ln|etc/x.conf|Dockerfile");
  assert_string_equal(tu_tar_find(&t, "app.py")->data, "A");            /* the inject won */
  assert_string_equal(tu_tar_find(&t, "Dockerfile")->data, "FROM ctx\n");
  assert_string_equal(tu_tar_find(&t, "etc/ln")->symlink, "x.conf");     /* links kept */
  assert_int_equal(tu_tar_find(&t, "etc/x.conf")->perm, 0640);
  assert_int_equal(tu_tar_find(&t, "etc/x.conf")->uid, 0);               /* root, like docker */
  free(names);
  free(df);
  tu_tar_free(&t);
  brr_build_inputs_free(&in);

  /* no path: the injects and the inline Dockerfile alone */
  brr_build nopath = {0};
  nopath.inject = inj;
  nopath.n_inject = 1;
  nopath.dockerfile = S("FROM inline\n", 4);
  nopath.dockerfile_inline = true;
  resolve(b, &nopath, &in);
  make_tar(b, &in, &t, &df);
  names = tu_tar_names(&t);
  assert_string_equal(names, "app.py|Dockerfile");
  assert_string_equal(tu_tar_find(&t, "Dockerfile")->data, "FROM inline\n");
  free(names);
  free(df);
  tu_tar_free(&t);
  brr_build_inputs_free(&in);

  /* an injected Dockerfile is the Dockerfile: it is not written twice */
  brr_inject dfi = {S("Dockerfile.alt", 5), S("Dockerfile", 5)};
  nopath.inject = &dfi;
  nopath.dockerfile = S(NULL, 0);
  nopath.dockerfile_inline = false;
  resolve(b, &nopath, &in);
  make_tar(b, &in, &t, &df);
  names = tu_tar_names(&t);
  assert_string_equal(names, "Dockerfile");
  assert_string_equal(tu_tar_find(&t, "Dockerfile")->data, "FROM alt\n");
  free(names);
  free(df);
  tu_tar_free(&t);
  brr_build_inputs_free(&in);
  brr_rm_rf(b);
  free(b);
}

static char *sha1sum(const char *text) {
  char *b = tu_mkdtemp();
  tu_write(b, "f", text, 0644);
  char *p = brr_path_join(b, "f");
  char *argv[] = {(char *)"sha1sum", p, NULL};
  brr_buf out = BRR_BUF_INIT;
  assert_int_equal(tu_run(argv, NULL, &out), 0);
  char *hex = brr_xstrndup(out.data, 40);
  brr_buf_free(&out);
  brr_rm_rf(b);
  free(p);
  free(b);
  return hex;
}

/* docker's own client tar: .dockerignore applies, Dockerfile and .dockerignore always go. */
static void test_tar_plain(void **state) {
  (void)state;
  char *b = make_build_dir();
  tu_write(b, "ctx/.dockerignore", "*\n!app.py\n!keep/file\n", 0644);
  tu_write(b, "ctx/keep/file", "kept", 0644);
  tu_write(b, "ctx/keep/other", "dropped", 0644);
  brr_build bld = {0};
  bld.path = S("ctx", 3);
  brr_build_inputs in;
  resolve(b, &bld, &in);
  tu_tar t;
  char *df = NULL;
  make_tar(b, &in, &t, &df);
  assert_string_equal(df, "Dockerfile");
  char *names = tu_tar_names(&t);
  /* keep/ itself is excluded but walked into, as docker does */
  assert_string_equal(names, ".dockerignore|Dockerfile|app.py|keep/file");
  free(names);
  free(df);
  tu_tar_free(&t);
  brr_build_inputs_free(&in);

  /* a Dockerfile outside the context travels under a name derived from its bytes */
  bld.dockerfile = S("Dockerfile.alt", 4);
  resolve(b, &bld, &in);
  make_tar(b, &in, &t, &df);
  char *hex = sha1sum("FROM alt\n");
  char *want = brr_xasprintf(".dockerfile.%s", hex);
  assert_string_equal(df, want);
  assert_string_equal(tu_tar_find(&t, want)->data, "FROM alt\n");
  assert_null(tu_tar_find(&t, "Dockerfile"));  /* excluded by "*", not the Dockerfile here */
  /* as docker's CLI: the added name goes into the .dockerignore sent, so the daemon drops it */
  char *ignore = brr_xasprintf("*\n!app.py\n!keep/file\n%s\n", want);
  assert_string_equal(tu_tar_find(&t, ".dockerignore")->data, ignore);
  free(ignore);
  names = tu_tar_names(&t);
  char *all = brr_xasprintf("app.py|keep/file|.dockerignore|%s", want);
  assert_string_equal(names, all);
  free(all);
  free(names);
  free(want);
  free(hex);
  free(df);
  tu_tar_free(&t);
  brr_build_inputs_free(&in);

  /* inline text with a path: the same */
  bld.dockerfile = S("FROM txt\n", 4);
  bld.dockerfile_inline = true;
  resolve(b, &bld, &in);
  make_tar(b, &in, &t, &df);
  hex = sha1sum("FROM txt\n");
  want = brr_xasprintf(".dockerfile.%s", hex);
  assert_string_equal(df, want);
  assert_string_equal(tu_tar_find(&t, want)->data, "FROM txt\n");
  free(want);
  free(hex);
  free(df);
  tu_tar_free(&t);
  brr_build_inputs_free(&in);
  brr_rm_rf(b);
  free(b);
}

static void test_tar_bad_dockerignore(void **state) {
  (void)state;
  char *b = make_build_dir();
  tu_write(b, "ctx/.dockerignore", "ok\n[broken\n", 0644);
  brr_build bld = {0};
  bld.path = S("ctx", 8);
  brr_build_inputs in;
  resolve(b, &bld, &in);
  char *out = brr_path_join(b, "ctx.tar");
  char *df = NULL;
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_build_context_tar(&in, out, &df, &d), BRR_ECONFIG);
  assert_null(df);
  assert_false(tu_exists(b, "ctx.tar"));
  assert_int_equal(d.v[0].mark.line, 8);
  assert_non_null(strstr(d.v[0].msg, "/ctx/.dockerignore:2: invalid .dockerignore pattern"));
  brr_diags_free(&d);
  brr_build_inputs_free(&in);
  free(out);
  brr_rm_rf(b);
  free(b);
}

/* ---- the buildx directory ---- */

static void test_context_dir(void **state) {
  (void)state;
  char *b = make_build_dir();
  tu_symlink(b, "ctx/link", "app.py");
  tu_set_mtime(b, "ctx/x.pyc", 1234567890);
  char *tmp = tu_mkdtemp();
  brr_inject inj[3] = {{S("files/a.txt", 1), S("deep/a.txt", 1)}, {S("conf", 2), S("etc", 2)},
                       {S("files/b.txt", 3), S("app.py", 3)}};
  brr_build bld = {0};
  bld.path = S("ctx", 3);
  bld.inject = inj;
  bld.n_inject = 3;
  brr_build_inputs in;
  resolve(b, &bld, &in);
  brr_build_context c;
  brr_diags d = BRR_DIAGS_INIT;
  assert_int_equal(brr_build_context_dir(&in, tmp, &c, &d), 0);
  assert_non_null(c.temp);
  assert_true(brr_startswith(c.dir, tmp));
  assert_null(c.dockerfile);
  assert_false(tu_exists(c.dir, ".git"));                    /* .git is not copied */
  assert_true(tu_exists(c.dir, "x.pyc"));                    /* .dockerignore is buildx's job */
  struct stat st;
  char *pyc = brr_path_join(c.dir, "x.pyc");
  assert_int_equal(stat(pyc, &st), 0);
  assert_int_equal(st.st_mtime, 1234567890);                 /* mtimes are kept */
  free(pyc);
  char buf[64] = {0};
  char *lnk = brr_path_join(c.dir, "link");
  assert_true(readlink(lnk, buf, sizeof buf - 1) > 0);       /* the context's links stay links */
  assert_string_equal(buf, "app.py");
  free(lnk);
  char *s = tu_read_rel(c.dir, "deep/a.txt");
  assert_string_equal(s, "A");
  free(s);
  char *ln = brr_path_join(c.dir, "etc/ln");                 /* injected links are followed */
  assert_int_equal(lstat(ln, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  free(ln);
  s = tu_read_rel(c.dir, "app.py");                          /* an inject replaces a file */
  assert_string_equal(s, "B");
  free(s);
  s = tu_read_rel(c.dir, "Dockerfile");
  assert_string_equal(s, "FROM ctx\n");
  free(s);
  char *made = brr_xstrdup(c.temp);
  brr_build_context_cleanup(&c);
  assert_int_equal(stat(made, &st), -1);                     /* the cleanup removes it */
  free(made);
  brr_build_inputs_free(&in);

  /* an inject through a link of the context is refused, never written outside */
  char *outside = tu_mkdtemp();
  char *esc = brr_path_join(b, "ctx/esc");
  assert_int_equal(symlink(outside, esc), 0);
  brr_inject through = {S("files/a.txt", 14), S("esc/pwned", 14)};
  brr_build bad = {0};
  bad.path = S("ctx", 3);
  bad.inject = &through;
  bad.n_inject = 1;
  resolve(b, &bad, &in);
  brr_diags d2 = BRR_DIAGS_INIT;
  assert_int_equal(brr_build_context_dir(&in, tmp, &c, &d2), BRR_EIO);
  assert_int_equal(brr_diags_exit_code(&d2), BRR_EXIT_FAILED);
  assert_null(c.dir);                                        /* cleaned up already */
  char *find[] = {(char *)"find", tmp, (char *)"-mindepth", (char *)"1", NULL};
  brr_buf left = BRR_BUF_INIT;
  assert_int_equal(tu_run(find, NULL, &left), 0);
  assert_int_equal(left.len, 0);
  brr_buf_free(&left);
  assert_false(tu_exists(outside, "pwned"));
  brr_diags_free(&d2);
  brr_build_inputs_free(&in);
  unlink(esc);
  free(esc);
  brr_rm_rf(outside);
  free(outside);

  /* no inject, inline text: the original path, the text in a temporary file */
  brr_build inl = {0};
  inl.path = S("ctx", 3);
  inl.dockerfile = S("FROM inline\n", 4);
  inl.dockerfile_inline = true;
  resolve(b, &inl, &in);
  assert_int_equal(brr_build_context_dir(&in, tmp, &c, &d), 0);
  assert_string_equal(c.dir, in.context);
  s = tu_read(c.dockerfile);
  assert_string_equal(s, "FROM inline\n");
  free(s);
  brr_build_context_cleanup(&c);
  brr_build_inputs_free(&in);

  /* no inject, no path, inline: the context is the Dockerfile alone */
  inl.path = S(NULL, 0);
  resolve(b, &inl, &in);
  assert_int_equal(brr_build_context_dir(&in, tmp, &c, &d), 0);
  assert_string_equal(c.dir, c.temp);
  assert_true(tu_exists(c.dir, "Dockerfile"));
  brr_build_context_cleanup(&c);
  brr_build_inputs_free(&in);

  /* nothing to copy: the path itself, nothing to clean */
  brr_build plain = {0};
  plain.path = S("ctx", 3);
  resolve(b, &plain, &in);
  assert_int_equal(brr_build_context_dir(&in, tmp, &c, &d), 0);
  assert_string_equal(c.dir, in.context);
  assert_string_equal(c.dockerfile, in.dockerfile_path);
  assert_null(c.temp);
  brr_build_context_cleanup(&c);
  brr_build_inputs_free(&in);
  /* a Dockerfile file and no path: its directory is the context */
  plain.path = S(NULL, 0);
  plain.dockerfile = S("ctx/Dockerfile", 4);
  resolve(b, &plain, &in);
  assert_int_equal(brr_build_context_dir(&in, tmp, &c, &d), 0);
  char *ctx = brr_path_join(b, "ctx");
  assert_string_equal(c.dir, ctx);
  free(ctx);
  brr_build_context_cleanup(&c);
  brr_build_inputs_free(&in);

  assert_int_equal(d.n, 0);
  brr_rm_rf(tmp);
  free(tmp);
  brr_rm_rf(b);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inject_destinations), cmocka_unit_test(test_inject_errors),
      cmocka_unit_test(test_dockerfile_choice),   cmocka_unit_test(test_tar_assembled),
      cmocka_unit_test(test_tar_plain),           cmocka_unit_test(test_tar_bad_dockerignore),
      cmocka_unit_test(test_context_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
