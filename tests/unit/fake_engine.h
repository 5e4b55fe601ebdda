/* A fake Docker engine for unit tests: a scripted HTTP server (libmicrohttpd) that serves
 * the Engine API on a unix socket in a temporary directory, on threads of its own, so that
 * brr's REAL engine client (libcurl over the socket, brr_engine_new with host
 * "unix://<dir>/docker.sock", or the runtime with opts.docker_host) is what the tests drive.
 * It is the stand-in for a real engine where none can be had (the unit tests run with no
 * Docker reachable); the e2e tests still run everything against a real one.
 *
 * Life cycle:
 *   fake_engine *fe = fake_engine_start();
 *   brr_engine_opts o = {.host = fake_engine_host(fe)};   ... run the code under test ...
 *   assert_int_equal(fake_engine_count(fe, "DELETE", "/containers/c1"), 1);
 *   fake_engine_stop(fe);                                  (frees everything, joins threads)
 *
 * Paths: every path the server sees loses its API version prefix ("/v1.41/containers/create"
 * is "/containers/create") and its query string (kept apart, see fake_request). Patterns
 * are fnmatch(3) globs without FNM_PATHNAME, so `*` also matches '/': "/containers/ * /wait"
 * (without the spaces) matches the wait of any container.
 *
 * Default answers (a small in-memory world, so a whole run works without any rule):
 *   GET|HEAD /_ping (API-Version: 1.41), GET /version, GET /info;
 *   containers: POST /containers/create (201, new id; labels, name, image, Tty remembered),
 *     start/stop/kill/restart (204), wait ({"StatusCode": 0}), attach/logs (empty
 *     multiplexed stream), GET json (inspect: State, Config, NetworkSettings), DELETE (204,
 *     404 when unknown), GET archive (a tar holding one file named after the path's last
 *     component, content "fake\n"), PUT archive (200), exec create/start (empty
 *     stream)/json (ExitCode 0), POST /commit (the image then exists);
 *   images: POST /images/create (pull or import: JSON lines with a Digest status; the image
 *     then exists), GET /images/{name}/json (200 for known images, else 404), tag, DELETE,
 *     push (JSON lines with an aux Digest), POST /build (JSON lines with aux ID), list;
 *     GET /images/{name}/get (a `docker save` tar: manifest.json with the RepoTags, the
 *     config), POST /images/load (the body must be such a tar, whole: its RepoTags then
 *     exist, answered as JSON lines "Loaded image: ..."; anything else is a 500);
 *   networks and volumes: create (201), connect/disconnect (200), DELETE (204), lists that
 *     honour filters={"label":[...]} (so brr's cleanup and sweep find what they created).
 *   Anything else: 404 {"message": "fake engine: no rule for ..."} (and it is logged).
 *
 * Rules override the defaults: the newest rule whose method, pattern and filters match and
 * whose call window holds answers. Every rule counts each request that matches its method,
 * pattern and filters (whoever answers it), so fake_rule_nth(r, 2) answers only the second
 * such call and lets the others fall through to older rules or the defaults.
 *
 * Threads: rules may be added and the log read from the test's thread at any time (a mutex
 * guards them); callbacks (fake_rule_handler, fake_rule_on_request) run on a server thread.
 * Registry API paths (/v2/...) are not served: brr reaches a registry on its own address,
 * so a test that needs one serves it itself (tests/unit/http_stub.h, a TCP port). */
#ifndef BRR_TESTS_FAKE_ENGINE_H
#define BRR_TESTS_FAKE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct fake_engine fake_engine;
typedef struct fake_rule fake_rule;

/* One request the server received, as logged (every field NUL-terminated, owned by the fake,
 * valid until fake_engine_stop). */
typedef struct fake_request {
  char *method;          /* "POST" */
  char *path;            /* without the /v1.NN prefix or query: "/containers/abc/start" */
  char *query;           /* decoded "k=v&k2=v2" in the order sent; "" when none */
  char *body;            /* the request body (may hold NULs: see body_len) */
  size_t body_len;
  char *content_type;    /* Content-Type header, or NULL */
  char *registry_auth;   /* X-Registry-Auth header, or NULL */
  int status;            /* status answered; 0 while held, or when the connection was dropped */
} fake_request;

/* What a rule answers. Build it with the fake_rule_* setters, or fill it in a handler. */
typedef enum fake_hold {
  FAKE_HOLD_NONE,        /* answer at once */
  FAKE_HOLD_HEADERS,     /* send nothing until released (fake_engine_release), the client
                            goes away, or the fake stops; then answer (released) or close */
  FAKE_HOLD_BODY         /* send the headers and the body, then keep the stream open until
                            released (it then ends normally), the client goes away, or stop */
} fake_hold;

typedef struct fake_reply {
  int status;            /* HTTP status; 0: close the connection without answering */
  char *content_type;    /* heap or NULL (application/json) */
  char *body;            /* heap, or NULL for an empty body */
  size_t body_len;
  char *headers;         /* heap, extra header lines "Name: value\n...", or NULL */
  fake_hold hold;
  bool cut;              /* send the headers and the body, then drop the connection before the
                            stream's end (a connection lost mid-stream) */
} fake_reply;

/* A dynamic answer, computed per request on a server thread; `out` holds the rule's static
 * answer (or the default one) on entry: change what you need (heap strings; free what you
 * replace). The world (default objects) is locked while it runs: do not call fake_engine_*. */
typedef void (*fake_handler)(void *ud, const fake_request *req, fake_reply *out);

/* ---- life cycle --------------------------------------------------------------------------- */

/* Start the fake on a new socket in a new temp dir; aborts the test program on failure. */
fake_engine *fake_engine_start(void);
/* "unix:///tmp/brr-fake-XXXXXX/docker.sock" */
const char *fake_engine_host(const fake_engine *fe);
/* Stop the server (held requests are closed), remove the socket and its directory, free. */
void fake_engine_stop(fake_engine *fe);

/* ---- rules ---------------------------------------------------------------------------------- */

/* A new rule for `method` ("GET", ...; "*" any) and path glob `pattern`; it answers 200 with
 * an empty body until told otherwise. */
fake_rule *fake_engine_on(fake_engine *fe, const char *method, const char *pattern);
/* The answer: status, content type (NULL: application/json) and body (len (size_t)-1:
 * strlen(body); NULL body: empty). */
fake_rule *fake_rule_reply(fake_rule *r, int status, const char *content_type, const void *body,
                           size_t len);
/* Shorthands: a JSON body; the engine's error form {"message": msg}. */
fake_rule *fake_rule_json(fake_rule *r, int status, const char *json);
fake_rule *fake_rule_error(fake_rule *r, int status, const char *message);
/* Add a response header line ("Name: value"). */
fake_rule *fake_rule_header(fake_rule *r, const char *line);
fake_rule *fake_rule_hold(fake_rule *r, fake_hold hold);
/* Close the connection without any answer (a dropped connection). */
fake_rule *fake_rule_drop(fake_rule *r);
/* Send headers and body, then drop the connection (the stream is cut mid-way). */
fake_rule *fake_rule_cut(fake_rule *r);
/* Only the nth matching call (1-based) is answered by this rule. */
fake_rule *fake_rule_nth(fake_rule *r, unsigned n);
/* Every matching call from the nth (1-based) on is answered by this rule (a dropped
 * connection, for one: libcurl sends a request again once when a kept-alive connection
 * closes without an answer). */
fake_rule *fake_rule_from(fake_rule *r, unsigned n);
/* Only the first n matching calls are answered by this rule. */
fake_rule *fake_rule_times(fake_rule *r, unsigned n);
/* Filters: the request body / decoded query must contain `needle`. */
fake_rule *fake_rule_body_has(fake_rule *r, const char *needle);
fake_rule *fake_rule_query_has(fake_rule *r, const char *needle);
/* Compute the answer per request (see fake_handler). */
fake_rule *fake_rule_handler(fake_rule *r, fake_handler fn, void *ud);
/* Called on a server thread when this rule is chosen for a request, before it answers
 * (e.g. to cancel the run at that moment); the fake's lock is not held. */
fake_rule *fake_rule_on_request(fake_rule *r, void (*fn)(void *ud, const fake_request *req),
                                void *ud);
/* When this rule is chosen: raise `signo` in this process (e.g. SIGINT to cancel a run whose
 * scheduler handles signals), `count` times in a row. Standard signals do not queue: two
 * raised at once may arrive as one, and one that arrives after the scheduler has removed its
 * handlers kills the test; for the abort path, hold a teardown call and let the grace period
 * run out instead (tests/unit/tasks_run_test.c). Pair it with a hold, so that the run cannot
 * end before the signal is seen. */
fake_rule *fake_rule_raise(fake_rule *r, int signo, int count);
/* The shorthand for "fail the nth call of this route with status S": fake_engine_on +
 * fake_rule_nth + fake_rule_error ("fake failure"); nth 0: every call. */
fake_rule *fake_engine_fail(fake_engine *fe, const char *method, const char *pattern, unsigned nth,
                            int status);
/* Release the requests this rule holds right now; later ones hold again. */
void fake_rule_release(fake_rule *r);
/* Release every request held right now (FAKE_HOLD_*); later ones hold again. */
void fake_engine_release(fake_engine *fe);

/* ---- stream bodies (heap; free) --------------------------------------------------------------- */

/* Append one multiplexed frame (stream 1 stdout, 2 stderr) of `text` to *buf (len *len). */
void fake_mux_frame(char **buf, size_t *len, int stream, const char *text, size_t text_len);
/* A tar (made by libarchive) of the members given as name, content pairs, NULL-terminated;
 * a name ending in '/' is a directory (its content is ignored, pass ""). */
char *fake_tar(size_t *len, ...);
/* A tar (libarchive) of one regular file `name` holding `n` bytes of `data` (NULs allowed). */
char *fake_tar_bytes(size_t *len, const char *name, const void *data, size_t n);

/* ---- the world ------------------------------------------------------------------------------- */

typedef enum fake_kind { FAKE_CONTAINER, FAKE_NETWORK, FAKE_VOLUME, FAKE_IMAGE } fake_kind;
/* Make an image exist (GET /images/{ref}/json answers 200). */
void fake_engine_add_image(fake_engine *fe, const char *ref);
/* Put an object in the world as if made before the test (not counted as created):
 * `labels_json` an object of labels ("{\"brr.managed\":\"1\"}") or NULL. */
void fake_engine_add_object(fake_engine *fe, fake_kind kind, const char *name, const char *labels_json);
/* The address containers report on their network (inspect; default 172.17.0.2): set
 * "127.0.0.1" to have brr's wait_for probes reach a port the test listens on. */
void fake_engine_set_ip(fake_engine *fe, const char *ip);
/* How many objects of `kind` exist now (created and not removed). */
size_t fake_engine_live(fake_engine *fe, fake_kind kind);
/* How many were ever created through the API. */
size_t fake_engine_created(fake_engine *fe, fake_kind kind);

/* ---- the log ----------------------------------------------------------------------------------- */

size_t fake_engine_n_requests(fake_engine *fe);
const fake_request *fake_engine_request(fake_engine *fe, size_t i);
/* How many requests matched `method` ("*": any) and `pattern`. */
size_t fake_engine_count(fake_engine *fe, const char *method, const char *pattern);
/* The nth (0-based) matching request, or NULL. */
const fake_request *fake_engine_find(fake_engine *fe, const char *method, const char *pattern,
                                     size_t nth);
/* Block until `count` matching requests have arrived (true) or `timeout_ms` passed (false):
 * for a test thread other than the one running the loop. */
bool fake_engine_wait_for(fake_engine *fe, const char *method, const char *pattern, size_t count,
                          int timeout_ms);
/* A run step without services gets /source from a source container: a never-started
 * container named "<run container's name>-source", created from the run's source image
 * (imported once per engine: POST /images/create?fromSrc=-), whose /source volume the run
 * container takes (volumes_from). These tell those calls from the others of their route. */
/* Whether `q` is the create of a source container (its query's name ends in "-source"). */
bool fake_request_is_source_create(const fake_request *q);
/* POST /containers/create of source containers (`source`) or of every other container. */
size_t fake_engine_count_creates(fake_engine *fe, bool source);
const fake_request *fake_engine_find_create(fake_engine *fe, bool source, size_t nth);
/* POST /images/create that pull (query with fromImage) / import (query with fromSrc). */
size_t fake_engine_count_pulls(fake_engine *fe);
const fake_request *fake_engine_find_pull(fake_engine *fe, size_t nth);
size_t fake_engine_count_imports(fake_engine *fe);
const fake_request *fake_engine_find_import(fake_engine *fe, size_t nth);
/* Containers ever created through the API that are source containers (`source`) or not. */
size_t fake_engine_created_containers(fake_engine *fe, bool source);

/* All requests as "METHOD /path?query" lines (heap), for failure messages. */
char *fake_engine_dump(fake_engine *fe);

#endif
