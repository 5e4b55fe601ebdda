/* The build registry: where the platforms of multi-platform builds are pushed so that a
 * manifest list can join them. The global `build-registry` names one; by default ("local")
 * brr starts a registry container the first time one is needed (buildrunner's `docker run -d
 * -P <docker-registry>/registry`, through the Engine API, published on 127.0.0.1 only) and
 * removes it at the end of the run, on failure and on a signal like every object it makes.
 *
 * On a local engine brr chooses the port itself (a free one on 127.0.0.1, as the kernel gives
 * it) so that the registry's address is known at once: the platform builds start with it
 * while the container is still being created and started (buildx reaches the registry only
 * when it pushes, seconds later). Should the port be taken in between, the container is made
 * again on a port the engine chooses, and a build that started with the first address builds
 * again with the second (platform_build.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "build_internal.h"

#define REGISTRY_READY_MS 30000

struct brr_breg_wait {
  brr_breg_wait *next;
  brr_runtime *rt;
  brr_breg_cb cb;
  void *ud;
  bool cancelled;
};

char *brr_build_registry_repo(const char *host) {
  char name[256];
  brr_buf h = BRR_BUF_INIT;
  if (gethostname(name, sizeof name) != 0) name[0] = '\0';
  name[sizeof name - 1] = '\0';
  /* buildrunner: the hostname reduced to [a-z0-9] */
  for (const char *p = name; *p; p++) {
    char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) brr_buf_putc(&h, c);
  }
  char *repo = brr_xasprintf("%s/buildrunner-mp-%s", host, h.len ? h.data : "host");
  brr_buf_free(&h);
  return repo;
}

static void on_deliver(uv_timer_t *t);

/* Tell every waiter, from a timer so no callback runs inside acquire. */
static void deliver_soon(brr_runtime *rt) {
  uv_timer_t *t = brr_xcalloc(1, sizeof *t);
  uv_timer_init(rt->loop, t);
  t->data = rt;
  uv_timer_start(t, on_deliver, 0, 0);
}

static void timer_closed(uv_handle_t *h) { free(h); }

static void on_deliver(uv_timer_t *t) {
  brr_runtime *rt = t->data;
  uv_close((uv_handle_t *)t, timer_closed);
  brr_build_state *bs = rt->build_state;
  if (!bs || bs->breg < 2) return;
  while (bs->breg_waiters) {
    brr_breg_wait *w = bs->breg_waiters;
    bs->breg_waiters = w->next;
    if (!w->cancelled)
      w->cb(w->ud, bs->breg == 2 ? 0 : BRR_EFAILED, bs->breg_host, bs->breg_error);
    free(w);
  }
}

static void settle(brr_runtime *rt, const char *error) {
  brr_build_state *bs = rt->build_state;
  bs->breg = error ? 3 : 2;
  if (error) {
    free(bs->breg_error);
    bs->breg_error = brr_xasprintf("build registry: %s", error);
    brr_bus_log(rt->bus, BRR_LOG_ERROR, NULL, "%s", bs->breg_error);
  } else {
    brr_bus_log(rt->bus, BRR_LOG_INFO, NULL, "Build registry at %s", bs->breg_host);
  }
  deliver_soon(rt);
}

/* -- the temporary registry: image, create, start, inspect, ping -- */

/* The start of each engine step's callback: false when the chain ends here, because the run
 * is finishing (the request was cancelled) or the step failed (the registry is settled as
 * unusable). */
static bool step_ok(brr_runtime *rt, const brr_engine_result *res) {
  brr_build_state *bs = rt->build_state;
  if (bs->breg_finishing) return false;
  bs->breg_req = NULL;
  if (res->status) {
    settle(rt, res->error);
    return false;
  }
  return true;
}

static void pinged(void *ud, const brr_registry_result *res) {
  brr_runtime *rt = ud;
  brr_build_state *bs = rt->build_state;
  if (bs->breg_finishing) return;  /* cancelled by the end of the run */
  bs->breg_ping = NULL;
  settle(rt, res->status ? (res->error ? res->error : "it does not answer") : NULL);
}

static void inspected(void *ud, const brr_engine_result *res) {
  brr_runtime *rt = ud;
  if (!step_ok(rt, res)) return;
  brr_build_state *bs = rt->build_state;
  const cJSON *ports = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(res->json, "NetworkSettings"), "Ports");
  const cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ports, "5000/tcp"), 0);
  const cJSON *port = cJSON_GetObjectItemCaseSensitive(b, "HostPort");
  if (!cJSON_IsString(port)) {
    settle(rt, "the registry container has no published port");
    return;
  }
  free(bs->breg_host);
  bs->breg_host = brr_xasprintf("127.0.0.1:%s", port->valuestring);
  /* an engine on another machine pushes to it on its own loopback; brr reaches it through
   * the engine's host (docs/engine.md) */
  char *remote = brr_engine_remote_host(rt->engine);
  if (remote) {
    char *reach = brr_xasprintf("%s:%s", remote, port->valuestring);
    brr_registry_alias(bs->reg, bs->breg_host, reach);
    brr_bus_log(rt->bus, BRR_LOG_INFO, NULL, "The build registry %s is reached at %s", bs->breg_host, reach);
    free(reach);
    free(remote);
  }
  bs->breg_ping = brr_registry_ping(bs->reg, bs->breg_host, REGISTRY_READY_MS, pinged, rt);
}

static void create_container(brr_runtime *rt, unsigned port);

/* The container made on the port brr chose could not start (the port was taken since): it is
 * gone, make another on a port the engine chooses. */
static void failed_removed(void *ud, const brr_engine_result *res) {
  brr_runtime *rt = ud;
  brr_build_state *bs = rt->build_state;
  if (bs->breg_finishing) return;  /* finish removes it (it still has the id) */
  bs->breg_req = NULL;
  if (res->status && res->status != BRR_ENOENT) {
    settle(rt, res->error);
    return;
  }
  free(bs->breg_container);
  bs->breg_container = NULL;
  create_container(rt, 0);
}

static void started(void *ud, const brr_engine_result *res) {
  brr_runtime *rt = ud;
  brr_build_state *bs = rt->build_state;
  if (!bs->breg_finishing && res->status && bs->breg_early) {
    bs->breg_req = NULL;
    brr_bus_log(rt->bus, BRR_LOG_DEBUG, NULL, "the build registry cannot start on %s (%s): trying a port the engine chooses",
                bs->breg_host, res->error ? res->error : "failed");
    bs->breg_early = false;
    bs->breg_req = brr_engine_container_remove(rt->engine, bs->breg_container, true, true, failed_removed, rt);
    return;
  }
  if (!step_ok(rt, res)) return;
  if (bs->breg_early) {
    /* the port is brr's: no inspect, straight to the readiness check */
    bs->breg_ping = brr_registry_ping(bs->reg, bs->breg_host, REGISTRY_READY_MS, pinged, rt);
    return;
  }
  bs->breg_req = brr_engine_container_inspect(rt->engine, bs->breg_container, inspected, rt);
}

static void created(void *ud, const brr_engine_result *res) {
  brr_runtime *rt = ud;
  if (!step_ok(rt, res)) return;
  brr_build_state *bs = rt->build_state;
  bs->breg_container = brr_xstrdup(res->id);
  bs->breg_req = brr_engine_container_start(rt->engine, bs->breg_container, started, rt);
}

static char *registry_image(const brr_runtime *rt) {
  const char *reg = rt->cfg->global.docker_registry ? rt->cfg->global.docker_registry : "docker.io";
  return brr_xasprintf("%s/registry:2", reg);
}

/* A free TCP port on 127.0.0.1 as the kernel chooses it, or 0. */
static unsigned free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  unsigned port = 0;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/* port: the one brr chose on a local engine, or 0 for one the engine chooses */
static void create_container(brr_runtime *rt, unsigned port) {
  brr_build_state *bs = rt->build_state;
  char *image = registry_image(rt);
  /* on the engine's loopback only, unless the engine is on another machine: then brr
   * reaches it through the engine's host, as buildrunner's `docker run -P` would */
  char *remote = brr_engine_remote_host(rt->engine);
  char *fixed = port ? brr_xasprintf("127.0.0.1:%u:5000", port) : NULL;
  const char *ports[] = {fixed ? fixed : remote ? "::5000" : "127.0.0.1::5000", NULL};
  free(remote);
  const char *labels[] = {"brr.role=build-registry", NULL};
  brr_engine_container_spec spec = {0};
  spec.image = image;
  spec.ports = ports;
  spec.labels = labels;
  bs->breg_req = brr_engine_container_create(rt->engine, &spec, created, rt);
  free(image);
  free(fixed);
}

/* The port brr chose when it announced the address early, else 0. */
static unsigned early_port(const brr_runtime *rt) {
  const brr_build_state *bs = rt->build_state;
  if (!bs->breg_early || !bs->breg_host) return 0;
  const char *colon = strrchr(bs->breg_host, ':');
  return colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
}

static void pulled(void *ud, const brr_engine_result *res) {
  brr_runtime *rt = ud;
  if (!step_ok(rt, res)) return;
  create_container(rt, early_port(rt));
}

static void image_checked(void *ud, const brr_engine_result *res) {
  brr_runtime *rt = ud;
  brr_build_state *bs = rt->build_state;
  if (bs->breg_finishing) return;  /* cancelled by the end of the run */
  bs->breg_req = NULL;
  if (res->status == 0) {
    create_container(rt, early_port(rt));
    return;
  }
  if (res->status != BRR_ENOENT) {
    settle(rt, res->error);
    return;
  }
  char *image = registry_image(rt);
  brr_bus_log(rt->bus, BRR_LOG_INFO, NULL, "Pulling %s for the build registry", image);
  bs->breg_req = brr_engine_image_pull(rt->engine, image, NULL, NULL, NULL, pulled, rt);
  free(image);
}

static void start(brr_runtime *rt) {
  brr_build_state *bs = rt->build_state;
  const char *conf = rt->cfg->global.build_registry;
  if (conf && *conf && strcmp(conf, "local") != 0) {
    bs->breg_host = brr_xstrdup(conf);
    settle(rt, NULL);
    return;
  }
  if (getenv("BUILDRUNNER_CONTAINER")) {
    settle(rt, "cannot start a registry container from inside a build container; set `build-registry` in "
               "the global configuration");
    return;
  }
  bs->breg = 1;
  char *remote = brr_engine_remote_host(rt->engine);
  unsigned port = remote ? 0 : free_port();
  free(remote);
  if (port) {
    bs->breg_early = true;
    bs->breg_host = brr_xasprintf("127.0.0.1:%u", port);
  }
  char *image = registry_image(rt);
  bs->breg_req = brr_engine_image_inspect(rt->engine, image, image_checked, rt);
  free(image);
}

const char *brr_build_registry_early_host(brr_runtime *rt) {
  const brr_build_state *bs = rt->build_state;
  if (!bs || !bs->breg_host) return NULL;
  return bs->breg == 2 || (bs->breg == 1 && bs->breg_early) ? bs->breg_host : NULL;
}

void brr_build_registry_prestart(brr_runtime *rt) {
  brr_build_state *bs = brr_build_state_get(rt);
  if (bs->breg != 0 || bs->breg_users == 0) return;
  bs->breg = 1;
  start(rt);
}

brr_breg_wait *brr_build_registry_acquire(brr_runtime *rt, brr_breg_cb cb, void *ud) {
  brr_build_state *bs = brr_build_state_get(rt);
  brr_breg_wait *w = brr_xcalloc(1, sizeof *w);
  w->rt = rt;
  w->cb = cb;
  w->ud = ud;
  w->next = bs->breg_waiters;
  bs->breg_waiters = w;
  if (bs->breg == 0) {
    bs->breg = 1;
    start(rt);
  } else if (bs->breg >= 2) {
    deliver_soon(rt);  /* ready, failed, or already removed */
  }
  return w;
}

void brr_build_registry_cancel(brr_breg_wait *w) {
  if (w) w->cancelled = true;
}

void brr_build_registry_forget_waiters(brr_runtime *rt) {
  brr_build_state *bs = rt->build_state;
  while (bs->breg_waiters) {
    brr_breg_wait *w = bs->breg_waiters;
    bs->breg_waiters = w->next;
    free(w);
  }
}

bool brr_build_registry_user(const brr_graph *g, size_t i) {
  const brr_node *n = &g->nodes[i];
  if (n->kind == BRR_NODE_PLATFORM_BUILD || n->kind == BRR_NODE_MANIFEST) return true;
  if (n->kind != BRR_NODE_PUSH) return false;
  /* a push of a multi-platform step copies its manifest list out of the registry */
  for (size_t k = 0; k < g->n_nodes; k++)
    if (g->nodes[k].kind == BRR_NODE_MANIFEST && g->nodes[k].step == n->step) return true;
  return false;
}

/* -- removal: early, or at the end of the run -- */

static void removed(void *ud, const brr_engine_result *res) {
  brr_runtime *rt = ud;
  brr_build_state *bs = rt->build_state;
  bs->breg_req = NULL;
  bs->breg_removing = false;
  if (res->status && res->status != BRR_ENOENT && res->status != BRR_ECANCELED)
    brr_bus_log(rt->bus, BRR_LOG_WARNING, NULL, "cannot remove the build registry: %s", res->error);
  if (res->status == 0 || res->status == BRR_ENOENT) {
    free(bs->breg_container);
    bs->breg_container = NULL;
  }
  void (*done)(brr_runtime *) = bs->breg_done;
  bs->breg_done = NULL;
  if (done) done(rt);
}

static void remove_container(brr_runtime *rt) {
  brr_build_state *bs = rt->build_state;
  bs->breg_removing = true;
  /* volumes too: the registry image declares one for its storage */
  bs->breg_req = brr_engine_container_remove(rt->engine, bs->breg_container, true, true, removed, rt);
}

void brr_build_registry_release(brr_runtime *rt) {
  brr_build_state *bs = rt->build_state;
  if (!bs || bs->breg_users == 0) return;
  if (--bs->breg_users > 0 || bs->breg != 2 || !bs->breg_container || bs->breg_finishing) return;
  brr_bus_log(rt->bus, BRR_LOG_DEBUG, NULL, "the build registry is no longer needed: removing it");
  bs->breg = 4;  /* gone: a late acquire would fail */
  free(bs->breg_error);
  bs->breg_error = brr_xstrdup("build registry: already removed");
  remove_container(rt);
}

void brr_build_registry_finish(brr_runtime *rt, void (*done)(brr_runtime *rt)) {
  brr_build_state *bs = rt->build_state;
  bs->breg_finishing = true;
  for (brr_breg_wait *w = bs->breg_waiters; w; w = w->next) w->cancelled = true;
  if (bs->breg_removing) {
    /* the early removal is under way: the run ends when it has */
    bs->breg_done = done;
    return;
  }
  if (bs->breg_ping) brr_registry_cancel(bs->breg_ping);
  if (bs->breg_req) brr_engine_cancel(bs->breg_req);
  bs->breg_ping = NULL;
  bs->breg_req = NULL;
  if (!bs->breg_container) {
    done(rt);
    return;
  }
  bs->breg_done = done;
  remove_container(rt);
}
