/* Schema and model: every step key's type rules (Pydantic-v2-lax), defaults, the build-tag
 * injection into push/commit, path resolution, and the cross-step rules of spec §2.3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_helpers.h"

typedef struct fx {
  char *dir;
  brr_config *cfg;
  brr_diags d;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = th_tmpdir();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  brr_config_free(f->cfg);
  brr_diags_free(&f->d);
  th_rmdir(f->dir);
  free(f);
  return 0;
}

static const brr_config *ok(fx *f, const char *yaml) {
  brr_config_free(f->cfg);
  f->cfg = NULL;
  int rc = th_load(f->dir, yaml, &f->cfg, &f->d);
  if (rc != 0) th_dump(&f->d);
  assert_int_equal(rc, 0);
  return f->cfg;
}

/* Load must fail with an error whose "path: message" contains `frag`, marked at `line`
 * where the text `at` starts (NULL: anywhere). */
static const brr_diag *bad(fx *f, const char *yaml, const char *frag, unsigned line, const char *at) {
  brr_config_free(f->cfg);
  f->cfg = NULL;
  int rc = th_load(f->dir, yaml, &f->cfg, &f->d);
  assert_int_not_equal(rc, 0);
  assert_null(f->cfg);
  const brr_diag *g = th_find(&f->d, frag, false);
  if (!g) {
    th_dump(&f->d);
    fail_msg("no error containing '%s'", frag);
  }
  if (line) assert_int_equal(g->mark.line, line);
  if (at) {
    const char *p = yaml;
    for (unsigned l = 1; l < g->mark.line; l++) p = strchr(p, '\n') + 1;
    if (strncmp(p + g->mark.col - 1, at, strlen(at)) != 0)
      fail_msg("mark %u:%u points at '%.20s', expected '%s'", g->mark.line, g->mark.col, p + g->mark.col - 1, at);
  }
  return g;
}

static void test_top_level_defaults(void **state) {
  fx *f = *state;
  const brr_config *c = ok(f, "steps:\n  a: {run: {image: busybox}}\n");
  assert_true(c->use_legacy_builder);
  assert_false(c->has_version);
  assert_int_equal(c->n_steps, 1);
  assert_string_equal(c->steps[0].name.s, "a");
  assert_int_equal(c->steps[0].name.mark.line, 2);
  assert_ptr_equal(brr_config_step(c, "a"), &c->steps[0]);
  assert_null(brr_config_step(c, "b"));
  c = ok(f, "version: '2.1'\nuse-legacy-builder: 'off'\nsteps:\n  a: {run: {image: x}}\n");
  assert_true(c->has_version);
  assert_float_equal(c->version, 2.1, 1e-9);
  assert_false(c->use_legacy_builder);
  c = ok(f, "version: 2\nredirect: null\nsteps:\n  a: {run: {image: x}}\n");
  assert_float_equal(c->version, 2.0, 1e-9);
  /* step order is file order */
  c = ok(f, "steps:\n  z: {run: {image: x}}\n  a: {run: {image: x}}\n  m: {run: {image: x}}\n");
  assert_string_equal(c->steps[0].name.s, "z");
  assert_string_equal(c->steps[2].name.s, "m");
  assert_int_equal(c->steps[2].index, 2);
}

static void test_lax_types(void **state) {
  fx *f = *state;
  /* booleans: true/1/"yes"/"on"/"t"/"y" and their opposites */
  const brr_config *c = ok(f, "steps:\n  a:\n    run:\n      image: x\n      pull: 'yes'\n      systemd: 1\n"
                              "      systemd_cgroup2: 'OFF'\n      privileged: 't'\n      xfail: 0.0\n");
  const brr_run *r = c->steps[0].run;
  assert_int_equal(r->c.pull, BRR_TRUE);
  assert_int_equal(r->c.systemd, BRR_TRUE);
  assert_int_equal(r->c.systemd_cgroup2, BRR_FALSE);
  assert_true(r->privileged);
  assert_false(r->xfail);
  bad(f, "steps:\n  a: {run: {image: x, pull: 2}}\n", "expected a boolean, got an integer", 2, "2}");
  bad(f, "steps:\n  a: {run: {image: x, pull: 'nope'}}\n", "got the string 'nope'", 2, "'nope'");
  /* integers: ints, integral floats, numeric strings, booleans */
  c = ok(f, "steps:\n  a:\n    run: {image: x, cpu-shares: '512', cpu-period: 100000.0, cpu-quota: true}\n");
  r = c->steps[0].run;
  assert_true(r->c.has_cpu_shares && r->c.cpu_shares == 512);
  assert_true(r->c.has_cpu_period && r->c.cpu_period == 100000);
  assert_true(r->c.has_cpu_quota && r->c.cpu_quota == 1);
  bad(f, "steps:\n  a: {run: {image: x, cpu-shares: ten}}\n", "got the string 'ten'", 2, "ten");
  /* strings: never numbers or booleans */
  bad(f, "steps:\n  a: {run: {image: x, user: 1000}}\n", "expected a string, got an integer", 2, "1000");
  bad(f, "steps:\n  a: {run: {image: x, cwd: yes}}\n", "expected a string, got a boolean", 2, "yes");
  bad(f, "steps:\n  a: {run: {image: x, cmd: 2.0}}\n", "quote it", 2, "2.0");
  /* null means "not set" for every optional key */
  c = ok(f, "steps:\n  a:\n    run: {image: x, cmd: null, pull: ~, env: null, cpu-shares: null}\n");
  r = c->steps[0].run;
  assert_null(r->c.cmd.s);
  assert_int_equal(r->c.pull, BRR_UNSET);
  assert_false(r->c.has_cpu_shares);
}

static void test_build(void **state) {
  fx *f = *state;
  th_write(f->dir, "ctx/Dockerfile", "FROM busybox\n");
  th_write(f->dir, "docker/Custom.df", "FROM alpine\n");
  /* a string is the context path; its Dockerfile is found */
  const brr_config *c = ok(f, "steps:\n  a:\n    build: ctx\n");
  const brr_build *b = c->steps[0].build;
  assert_string_equal(b->path.s, "ctx");
  char *want = brr_path_join(f->dir, "ctx");
  assert_string_equal(b->path_abs, want);
  free(want);
  want = brr_path_join(f->dir, "ctx/Dockerfile");
  assert_string_equal(b->dockerfile_abs, want);
  free(want);
  assert_false(b->dockerfile_inline);
  assert_int_equal(b->pull, BRR_UNSET);
  /* an existing file is a path, anything else inline text */
  c = ok(f, "steps:\n  a:\n    build: {path: ctx, dockerfile: docker/Custom.df, target: t, pull: false,"
            " no-cache: yes, platform: linux/arm64}\n  b:\n    build: {dockerfile: 'FROM busybox'}\n");
  b = c->steps[0].build;
  want = brr_path_join(f->dir, "docker/Custom.df");
  assert_string_equal(b->dockerfile_abs, want);
  free(want);
  assert_false(b->dockerfile_inline);
  assert_string_equal(b->target.s, "t");
  assert_int_equal(b->pull, BRR_FALSE);
  assert_true(b->no_cache);
  assert_string_equal(b->platform.s, "linux/arm64");
  b = c->steps[1].build;
  assert_true(b->dockerfile_inline);
  assert_null(b->dockerfile_abs);
  assert_null(b->path.s);
  /* inject, buildargs (raw values), secrets, platforms, import */
  c = ok(f, "use-legacy-builder: false\nsteps:\n  a:\n    build:\n      inject: {'a/*.txt': /dest/, b.txt: ~}\n"
            "      buildargs: {V: 2.0, B: true, S: s}\n      secrets: ['id=a,src=a.txt']\n"
            "      platforms: [linux/amd64, linux/arm64]\n      dockerfile: FROM x\n"
            "  i:\n    build: {import: img.tar}\n");
  b = c->steps[0].build;
  assert_int_equal(b->n_inject, 2);
  assert_string_equal(b->inject[0].glob.s, "a/*.txt");
  assert_string_equal(b->inject[0].dest.s, "/dest/");
  assert_null(b->inject[1].dest.s);
  assert_int_equal(b->buildargs.n, 3);
  brr_buf s = BRR_BUF_INIT;
  brr_val_pystr(b->buildargs.v[0].val, &s);
  assert_string_equal(s.data, "2.0");  /* passed through str() at task time */
  brr_buf_free(&s);
  assert_int_equal(b->secrets.n, 1);
  assert_int_equal(b->platforms.n, 2);
  assert_string_equal(c->steps[1].build->import.s, "img.tar");
  /* missing context: a warning, not an error (it may be produced by an earlier step) */
  ok(f, "steps:\n  a:\n    build: {path: later}\n");
  assert_non_null(th_find(&f->d, "build context 'later' does not exist", true));
  bad(f, "steps:\n  a:\n    build: {target: x}\n", "a build needs a path", 3, "build:");  /* the key, not its value */
  bad(f, "steps:\n  a:\n    build: 5\n", "expected a map, got an integer", 3, "5");
}

static void test_cache_from(void **state) {
  fx *f = *state;
  const brr_config *c = ok(f, "steps:\n  a: {build: {dockerfile: x, cache_from: img:1}}\n"
                              "  b: {build: {dockerfile: x, cache_from: [img:2, img:3]}}\n"
                              "  c: {build: {dockerfile: x, cache_from: {type: registry, ref: img:4}}}\n"
                              "  d: {build: {dockerfile: x, cache_from: [{type: local, src: /c}, {type: registry, ref: img:5}]}}\n"
                              "  e: {build: {dockerfile: x, cache_from: 'type=registry,ref=img:6', cache_to: {type: inline}}}\n");
  assert_int_equal(c->steps[0].build->cache_from_refs.n, 1);
  assert_string_equal(c->steps[0].build->cache_from_refs.v[0].s, "img:1");
  assert_int_equal(c->steps[1].build->cache_from_refs.n, 2);
  assert_string_equal(c->steps[2].build->cache_from_refs.v[0].s, "img:4");
  assert_int_equal(c->steps[3].build->cache_from_refs.n, 1);
  assert_string_equal(c->steps[3].build->cache_from_refs.v[0].s, "img:5");
  assert_string_equal(c->steps[4].build->cache_from_refs.v[0].s, "img:6");
  assert_non_null(c->steps[4].build->cache_to);
  bad(f, "steps:\n  a: {build: {dockerfile: x, cache_from: 5}}\n", "expected a string, a map of strings, or a list", 2, "5}");
  bad(f, "steps:\n  a: {build: {dockerfile: x, cache_to: [a]}}\n", "expected a string or a map of strings", 2, "[a]");
}

static void test_run_keys(void **state) {
  fx *f = *state;
  const brr_config *c = ok(f,
      "steps:\n  a:\n    run:\n      image: busybox\n      cmd: echo 1\n      cmds: [echo 2, echo 3]\n"
      "      provisioners: {shell: s.sh}\n      shell: /bin/bash\n      cwd: /src\n      user: me\n"
      "      hostname: h\n      dns: [1.1.1.1]\n      dns_search: example.com\n"
      "      extra_hosts: {db: 10.0.0.1}\n      env: {A: 1, B: ~, C: 'x'}\n      files: {f.txt: /f:ro}\n"
      "      volumes_from: [svc]\n      ports: {8080: 8081, '9000': ~}\n      containers: [c1]\n"
      "      caches: {k: /c, /p: [k1, k2]}\n      mem-limit: 512m\n      ssh-keys: [key]\n"
      "      platform: linux/amd64\n      cap_add: NET_ADMIN\n      no-cache: true\n"
      "      artifacts: {'*.txt': ~, 'out/': {format: uncompressed, push: false, custom: 1}}\n"
      "      post-build: pb\n");
  const brr_run *r = c->steps[0].run;
  assert_string_equal(r->c.image.s, "busybox");
  assert_string_equal(r->c.cmd.s, "echo 1");
  assert_int_equal(r->c.cmds.n, 2);
  assert_string_equal(r->c.provisioners.v[0].key.s, "shell");
  assert_string_equal(r->c.dns_search.s, "example.com");
  assert_int_equal(r->c.env.n, 3);
  assert_null(r->c.env.v[1].val);           /* bare KEY */
  assert_int_equal(r->c.env.v[0].val->type, BRR_VAL_INT);
  assert_int_equal(r->c.ports.n, 2);
  assert_string_equal(r->c.ports.v[0].key.s, "8080");
  assert_int_equal(r->c.ports.v[0].val->u.i, 8081);
  assert_string_equal(r->c.ports.v[1].key.s, "9000");
  assert_null(r->c.ports.v[1].val);
  assert_int_equal(r->c.caches.n, 2);
  assert_int_equal(r->c.caches.v[1].val->type, BRR_VAL_LIST);
  assert_string_equal(brr_val_cstr(r->c.mem_limit), "512m");
  assert_int_equal(r->cap_add.n, 1);       /* a string becomes a one-item list */
  assert_string_equal(r->cap_add.v[0].s, "NET_ADMIN");
  assert_int_equal(r->artifacts.n, 2);
  assert_null(r->artifacts.v[0].val);
  assert_non_null(r->post_build);
  assert_string_equal(r->post_build->path.s, "pb");
  /* mem-limit as bytes; cap_add as a list */
  c = ok(f, "steps:\n  a: {run: {image: x, mem-limit: 536870912, cap_add: [A, B]}}\n");
  assert_int_equal(c->steps[0].run->c.mem_limit->u.i, 536870912);
  assert_int_equal(c->steps[0].run->cap_add.n, 2);
  bad(f, "steps:\n  a: {run: {image: x, mem-limit: [1]}}\n", "expected a string (512m, 1g) or a number of bytes", 2, "[1]");
  bad(f, "steps:\n  a: {run: {image: x, caches: {k: 5}}}\n", "expected a string or a list of strings", 2, "5}");
  bad(f, "steps:\n  a: {run: {image: x, env: {1: a}}}\n", "key 1 must be a string", 2, "1: a");
  bad(f, "steps:\n  a: {run: {image: x, ports: {80: web}}}\n", "expected a port number or null", 2, "web");
  bad(f, "steps:\n  a: {run: {image: x, artifacts: {a: {push: maybe}}}}\n", "steps.a.run.artifacts.a.push", 0, NULL);
  bad(f, "steps:\n  a: {run: {image: x, provisioners: [shell]}}\n", "expected a map, got a list", 2, "[shell]");
}

static void test_services(void **state) {
  fx *f = *state;
  const brr_config *c = ok(f,
      "steps:\n  a:\n    run:\n      image: x\n      services:\n        db:\n          image: postgres\n"
      "          wait_for: [5432, {port: 80, timeout: 5}, '8080']\n          inject-ssh-agent: true\n"
      "          run: ignored\n        web:\n          build: ctx\n          cmd: serve\n");
  const brr_run *r = c->steps[0].run;
  assert_int_equal(r->n_services, 2);
  const brr_service *db = &r->services[0];
  assert_string_equal(db->name.s, "db");
  assert_string_equal(db->c.image.s, "postgres");
  assert_int_equal(db->n_wait_for, 3);
  assert_int_equal(db->wait_for[0].port, 5432);
  assert_int_equal(db->wait_for[0].timeout, 600);  /* default */
  assert_int_equal(db->wait_for[1].port, 80);
  assert_int_equal(db->wait_for[1].timeout, 5);
  assert_int_equal(db->wait_for[2].port, 8080);
  assert_true(db->inject_ssh_agent);
  assert_string_equal(r->services[1].build->path.s, "ctx");
  bad(f, "steps:\n  a:\n    run:\n      services:\n        db: {image: p, wait_for: [{timeout: 3}]}\n",
      "missing required key 'port'", 5, "{timeout");
  bad(f, "steps:\n  a:\n    run:\n      services:\n        db: {image: p, wait_for: [70000]}\n",
      "out of range", 5, "70000");
  bad(f, "steps:\n  a:\n    run:\n      services:\n        db: {image: p, xfail: true}\n",
      "unknown key 'xfail' in a service", 5, "xfail");
}

static void test_push_commit_injection(void **state) {
  fx *f = *state;
  const char *tag = "unknown-0.i000000.m0-42";  /* placeholder identity, build number 42 */
  const brr_config *c = ok(f,
      "steps:\n  a:\n    build: {dockerfile: x}\n    push: repo/img:1.0\n    commit: repo/plain\n"
      "  b:\n    build: {dockerfile: x}\n    push:\n      - host:5000/img\n      - host:5000/img:v2\n"
      "      - {repository: r, tags: [t1]}\n      - {repository: r2, tags: [t1], add_build_tag: false}\n"
      "      - {repository: r3, tags: ['unknown-0.i000000.m0-42', x]}\n      - {repository: r4}\n");
  assert_string_equal(c->build_docker_tag, tag);
  const brr_step *a = &c->steps[0];
  assert_int_equal(a->n_push, 1);
  assert_true(a->push[0].push);
  assert_string_equal(a->push[0].repository.s, "repo/img");
  assert_int_equal(a->push[0].tags.n, 2);
  assert_string_equal(a->push[0].tags.v[0].s, "1.0");
  assert_string_equal(a->push[0].tags.v[1].s, tag);
  assert_int_equal(a->n_commit, 1);
  assert_false(a->commit[0].push);
  assert_int_equal(a->commit[0].tags.n, 1);   /* no implicit latest */
  const brr_step *b = &c->steps[1];
  assert_int_equal(b->n_push, 6);
  assert_string_equal(b->push[0].repository.s, "host:5000/img");  /* a registry port is not a tag */
  assert_int_equal(b->push[0].tags.n, 1);
  assert_string_equal(b->push[1].repository.s, "host:5000/img");
  assert_string_equal(b->push[1].tags.v[0].s, "v2");
  assert_int_equal(b->push[2].tags.n, 2);
  assert_int_equal(b->push[3].tags.n, 1);       /* add_build_tag: false */
  assert_false(b->push[3].add_build_tag);
  assert_int_equal(b->push[4].tags.n, 2);       /* already there: not added twice */
  assert_int_equal(b->push[5].tags.n, 1);
  assert_string_equal(b->push[5].tags.v[0].s, tag);
  /* a list item that is falsy, empty repositories, tags that are not strings */
  bad(f, "steps:\n  a: {push: [~]}\n", "expected an image repository string or a map, got null", 2, "~");
  bad(f, "steps:\n  a: {push: ''}\n", "the image repository is empty", 2, "''");
  bad(f, "steps:\n  a: {push: {repository: r, tags: [1.0]}}\n", "steps.a.push.tags.0", 2, "1.0");
  bad(f, "steps:\n  a: {push: {repository: r, add_build_tag: false, tags: []}}\n", "needs at least one tag", 2, "[]");
  bad(f, "steps:\n  a: {commit: {repository: r, security-scan: {enable: true}}}\n", "did you mean 'enabled'", 2, "enable");
}

static void test_remote_pypi_depends(void **state) {
  fx *f = *state;
  const brr_config *c = ok(f,
      "version: 2.0\nsteps:\n  a:\n    remote: {host: builder, cmd: make, artifacts: {'*.rpm': ~}}\n"
      "  b:\n    pypi-push: pypi\n    depends: [a]\n  c:\n    pypi-push:\n      - internal\n"
      "      - {repository: https://x, username: u, password: p, skip_existing: yes}\n    depends: [a, b]\n");
  assert_string_equal(c->steps[0].remote->host.s, "builder");
  assert_int_equal(c->steps[0].remote->artifacts.n, 1);
  assert_int_equal(c->steps[1].n_pypi_push, 1);
  assert_string_equal(c->steps[1].pypi_push[0].repository.s, "pypi");
  assert_false(c->steps[1].pypi_push[0].skip_existing);
  assert_int_equal(c->steps[2].n_pypi_push, 2);
  assert_true(c->steps[2].pypi_push[1].skip_existing);
  assert_int_equal(c->steps[2].depends.n, 2);
  assert_string_equal(c->steps[2].depends.v[1].s, "b");
  bad(f, "steps:\n  a: {remote: {host: h}}\n", "missing required key 'cmd'", 2, "{host");
  bad(f, "steps:\n  a: {pypi-push: {username: u}}\n", "missing required key 'repository'", 2, "{username");
  bad(f, "steps:\n  a: {depends: [1], run: {image: x}}\n", "steps.a.depends.0", 2, "1]");
  /* a step with no task is allowed, with a warning */
  ok(f, "steps:\n  a: {}\n  b: {run: {image: x}}\n");
  assert_non_null(th_find(&f->d, "the step has no task", true));
}

static void test_cross_step_rules(void **state) {
  fx *f = *state;
  /* secrets: legacy builder refuses them on single-platform steps only */
  bad(f, "steps:\n  a: {build: {dockerfile: x, secrets: [id=a]}}\n", "Build secrets are not supported", 2, "secrets:");
  ok(f, "use-legacy-builder: false\nsteps:\n  a: {build: {dockerfile: x, secrets: [id=a]}}\n");
  ok(f, "steps:\n  a: {build: {dockerfile: x, secrets: [id=a], platforms: [linux/amd64]}}\n");
  /* multi-platform: no duplicate push tags, also against single-platform pushes */
  bad(f, "steps:\n  mp: {build: {dockerfile: x, platforms: [linux/amd64]}, push: r/i:1}\n"
         "  sp: {build: {dockerfile: y}, push: r/i:1}\n", "Cannot specify duplicate tag r/i:1 in build step sp", 3, "r/i:1");
  ok(f, "steps:\n  mp: {build: {dockerfile: x, platforms: [linux/amd64]}, push: r/i:1}\n"
        "  sp: {build: {dockerfile: y}, push: r/j:1}\n");
  /* commits are not checked for duplicates */
  ok(f, "steps:\n  mp: {build: {dockerfile: x, platforms: [linux/amd64]}, commit: r/i:1}\n"
        "  sp: {build: {dockerfile: y}, commit: r/i:1}\n");
  /* re-tagging a multi-platform image from a single-platform step */
  const brr_diag *g = bad(f, "steps:\n  mp: {build: {dockerfile: x, platforms: [linux/amd64]}, push: r/mp:v1}\n"
                             "  sp:\n    run: {image: r/mp:v1}\n    commit: r/other\n",
                          "cannot re-tag images", 4, "{image: r/mp");
  assert_non_null(strstr(g->msg, "['r/mp:v1']"));
  /* FROM without a tag is :latest; a multi-platform step re-tagging is fine */
  bad(f, "steps:\n  mp: {build: {dockerfile: x, platforms: [linux/amd64]}, push: [{repository: r/mp, tags: [latest]}]}\n"
         "  sp: {build: {dockerfile: \"FROM r/mp\\n\"}, push: r/x}\n", "['r/mp:latest']", 0, NULL);
  ok(f, "steps:\n  mp: {build: {dockerfile: x, platforms: [linux/amd64]}, push: r/mp:v1}\n"
        "  mp2: {build: {dockerfile: FROM r/mp:v1, platforms: [linux/amd64]}, push: r/mp2:v1}\n");
  /* every problem is reported */
  brr_config_free(f->cfg);
  f->cfg = NULL;
  assert_int_not_equal(th_load(f->dir, "steps:\n  mp:\n    build: {dockerfile: x, platform: p, import: i.tar,"
                                        " platforms: [a]}\n    run: {image: x}\n", &f->cfg, &f->d), 0);
  assert_non_null(th_find(&f->d, "Cannot specify both platform (p)", false));
  assert_non_null(th_find(&f->d, "import is not allowed", false));
  assert_non_null(th_find(&f->d, "run is not allowed", false));
}

static void test_unknown_keys_suggest(void **state) {
  fx *f = *state;
  const brr_diag *g = bad(f, "steps:\n  a:\n    build: {dockerfile: x, platfroms: [a]}\n",
                          "unknown key 'platfroms' in build; did you mean 'platforms'?", 3, "platfroms");
  assert_string_equal(g->path, "steps.a.build");
  g = bad(f, "steps:\n  a:\n    build: {dockerfile: x, zzz: 1}\n", "unknown key 'zzz' in build (valid keys: path,", 3, "zzz");
  bad(f, "vresion: 2\nsteps:\n  a: {run: {image: x}}\n", "did you mean 'version'?", 1, "vresion");
  bad(f, "steps:\n  a: {run: {image: x, evn: {}}}\n", "did you mean 'env'?", 2, "evn");
  bad(f, "steps:\n  a: {comit: r}\n", "did you mean 'commit'?", 2, "comit");
  /* keys that are not strings (found by fuzzing: the step checks read them as strings) */
  bad(f, "steps:\n  a: {1: x, run: {image: x}}\n", "unknown key '1' in a step", 2, "1: x");
  bad(f, "steps:\n  a: {run: {image: x, true: 1}}\n", "unknown key 'True' in run", 2, "true");
}

static void test_steps_selection(void **state) {
  fx *f = *state;
  th_write(f->dir, "buildrunner.yaml", "steps:\n  a: {run: {image: x}}\n  b: {run: {image: x}}\n");
  brr_load_opts o = th_opts(f->dir);
  char *sel[] = {"b", "a", NULL};
  o.steps = sel;
  brr_diags_clear(&f->d);
  assert_int_equal(brr_config_load(&o, &f->cfg, &f->d), 0);
  brr_config_free(f->cfg);
  f->cfg = NULL;
  char *bad_sel[] = {"a", "x", "y", NULL};
  o.steps = bad_sel;
  assert_int_not_equal(brr_config_load(&o, &f->cfg, &f->d), 0);
  assert_non_null(th_find(&f->d, "The following steps do not exist: x, y", false));
  assert_int_equal(brr_diags_exit_code(&f->d), BRR_EXIT_CONFIG);
}

/* brr's own incremental keys: `inputs:` globs checked where they are written, `incremental` a bool. */
static void test_incremental_keys(void **state) {
  fx *f = *state;
  const brr_config *c = ok(f,
      "steps:\n  a:\n    inputs: ['src/**/*.c', Makefile]\n    incremental: false\n"
      "    run: {image: busybox, cmd: 'true'}\n  b:\n    run: {image: busybox}\n");
  assert_int_equal(c->steps[0].inputs.n, 2);
  assert_string_equal(c->steps[0].inputs.v[1].s, "Makefile");
  assert_int_equal(c->steps[0].incremental, BRR_FALSE);
  assert_int_equal(c->steps[1].inputs.n, 0);
  assert_int_equal(c->steps[1].incremental, BRR_UNSET);
  const brr_diag *g = bad(f, "steps:\n  a:\n    inputs: ['ok/*', '/etc/*']\n    run: {image: busybox}\n",
                          "steps.a.inputs: \"/etc/*\" is absolute", 3, "'/etc/*'");
  assert_int_equal(g->exit_code, BRR_EXIT_CONFIG);
  bad(f, "steps:\n  a:\n    inputs:\n      - 'src/[a-'\n    run: {image: busybox}\n",
      "is not a valid glob", 4, "'src/[a-'");
  bad(f, "steps:\n  a:\n    inputs: src\n    run: {image: busybox}\n", "steps.a.inputs", 3, "src");
  bad(f, "steps:\n  a:\n    incremental: maybe\n    run: {image: busybox}\n", "steps.a.incremental", 3,
      "maybe");
  /* on its own, `inputs:` is no task */
  ok(f, "steps:\n  a:\n    inputs: [x]\n");
  assert_non_null(th_find(&f->d, "the step has no task", true));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_top_level_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lax_types, setup, teardown),
      cmocka_unit_test_setup_teardown(test_build, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache_from, setup, teardown),
      cmocka_unit_test_setup_teardown(test_run_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_services, setup, teardown),
      cmocka_unit_test_setup_teardown(test_push_commit_injection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_remote_pypi_depends, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cross_step_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_keys_suggest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_steps_selection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_incremental_keys, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
