/* Private to the engine module: the request machinery shared by docker.c (core),
 * containers.c, images.c, objects.c and cleanup.c. */
#ifndef BRR_ENGINE_INTERNAL_H
#define BRR_ENGINE_INTERNAL_H

#include "brr/engine.h"
#include "http.h"

/* How long a call may take (see engine.h). */
typedef enum { BRR_TO_CALL, BRR_TO_TRANSFER, BRR_TO_STREAM } brr_tclass;

/* What the body of a 2xx answer is. Error answers are always collected as JSON. */
typedef enum {
  BRR_BODY_JSON,    /* collect, parse into r->json when not empty */
  BRR_BODY_JSONL,   /* progress messages */
  BRR_BODY_MUX,     /* container output (raw when r->mux.raw) */
  BRR_BODY_DATA,    /* raw bytes to on_data */
} brr_body_mode;

typedef enum {
  BRR_ST_NEW,
  BRR_ST_QUEUED,    /* waits for the API version */
  BRR_ST_HTTP,      /* its HTTP request is in flight */
  BRR_ST_CHILD,     /* waits for child operations */
  BRR_ST_TIMER,     /* waits for its retry timer */
  BRR_ST_WAITER,    /* waits for a shared pull */
  BRR_ST_DEFERRED,  /* its result is set; the callback runs on the next loop turn */
  BRR_ST_DONE,      /* the callback ran; memory goes when the outermost frame unwinds */
} brr_req_state;

struct brr_engine_req {
  brr_engine *e;
  brr_engine_req *prev, *next;     /* e->live */
  brr_engine_req *qnext;           /* e->waiting or e->deferred */
  brr_engine_req *parent;          /* the composite operation this one is a step of */
  int nchildren;                   /* live children */
  const char *what;                /* "create container": the prefix of error messages */
  brr_req_state state;
  bool cancelled;

  brr_engine_cb cb;                /* completion, with cb_ud */
  void *cb_ud;
  void *sink_ud;                   /* ud of the stream callbacks below */
  brr_engine_output_cb on_output;
  brr_engine_progress_cb on_progress;
  brr_engine_data_cb on_data;
  void (*on_open)(void *ud);

  /* the HTTP call of a primitive operation */
  const char *method;
  char *path;                      /* without the version prefix */
  char **query;                    /* key, value, ..., NULL (heap strings) */
  size_t nquery, capquery;
  bool unversioned;
  char **headers;                  /* NULL-terminated heap strings */
  size_t nheaders, capheaders;
  brr_engine_body body;
  bool has_body;
  char *json_body;                 /* owned memory behind `body` for JSON bodies */
  brr_tclass tclass;
  long extra_ms;                   /* added to the plain-call limit (stop's grace) */
  brr_body_mode mode;
  brr_http_req *http;
  bool error_body;                 /* the answer is an error: collect it */
  brr_buf resp;
  brr_engine_jsonl jl;
  brr_engine_mux mux;
  char *stream_error;              /* first errorDetail of a JSON-lines stream */
  bool id_from_status;             /* import: the image id comes as a "sha256:" status */

  /* hooks */
  void (*post)(brr_engine_req *r);            /* after the answer, before the callback */
  void (*cancel_hook)(brr_engine_req *r);     /* cancel for special states */
  void (*child_done)(brr_engine_req *r, brr_engine_req *child, const brr_engine_result *res);
  brr_engine_req *child;                      /* the single child in flight, if any */
  void *op;                                   /* operation state, freed with op_free */
  void (*op_free)(void *op);
  uv_timer_t *timer;
  void (*timer_fn)(brr_engine_req *r);        /* what the timer does when it fires */

  /* the result */
  int status;
  long http_status;
  char *error;
  char *id;
  char *digest;
  int64_t exit_code;
  cJSON *json;
};

typedef struct brr_flight brr_flight;

/* ---- ssh.c: an ssh:// engine through a relay socket of brr's own ----------------------------- */
typedef struct brr_engine_ssh brr_engine_ssh;
/* Start the relay for `dest` ("[user@]host") and `port` (or NULL): a unix socket in a private
 * temp dir whose every connection is one `ssh ... docker system dial-stdio`. 0 with the
 * socket's path in *sock (heap), or BRR_EIO with a message. */
int brr_engine_ssh_start(const char *dest, const char *port, brr_engine_ssh **out, char **sock,
                         char **error);
/* ssh's last line on stderr (why a connection failed), or "". */
void brr_engine_ssh_last_error(brr_engine_ssh *s, char *buf, size_t len);
/* Kill every ssh, stop the relay, remove the directory. Safe from a signal path's _exit. */
void brr_engine_ssh_stop(brr_engine_ssh *s);

/* endpoint.c: the non-loopback host of a tcp:// or ssh:// address, else NULL (heap). */
char *brr_engine_host_remote_part(const char *host);

/* Set up an easy handle for this engine: its socket and TLS (blocking calls). */
void brr_engine_curl_setup(const brr_engine *e, void *curl_easy);
/* A libcurl write (or header) callback appending to the brr_buf in its user data; for the
 * blocking calls (pre-flight, last-resort cleanup). */
size_t brr_engine_curl_to_buf(char *p, size_t sz, size_t n, void *buf);

struct brr_engine {
  uv_loop_t *loop;
  brr_http *http;
  char *host;                  /* as given, for messages */
  char *source;                /* where the address came from, for messages */
  char *base_url, *unix_path;
  char *tls_ca, *tls_cert, *tls_key;
  brr_http_tls tls;            /* points into the three above */
  bool use_tls;
  brr_engine_ssh *ssh;         /* the relay of an ssh:// engine, or NULL */
  int timeout_s;
  char *api_max;
  char *api;                   /* negotiated, or NULL */
  cJSON *version_json;
  char *run_id;
  char **labels;               /* "k=v" for everything created, brr's own first */
  size_t nlabels;
  brr_engine_req *live;
  brr_engine_req *waiting, **waiting_tail;
  brr_engine_req *negotiation;
  brr_engine_req *deferred;
  uv_timer_t defer;
  brr_engine_req *graveyard;   /* finished while a frame of ours was on the stack */
  brr_flight *flights;
  struct { char **ids; size_t n, cap; } tracked[BRR_ENGINE_KIND_COUNT];
  brr_engine_stats stats;
  int depth;
  bool freeing, destroyed;
  int open_handles;
};

/* ---- docker.c: the request machinery --------------------------------------------------------- */
void brr_engine_enter(brr_engine *e);
void brr_engine_leave(brr_engine *e);
/* A new operation; nothing is sent until brr_engine_req_submit. */
brr_engine_req *brr_engine_req_new(brr_engine *e, const char *what, brr_engine_cb cb, void *ud);
/* Describe the HTTP call of a primitive operation. */
void brr_engine_req_http(brr_engine_req *r, const char *method, brr_tclass tclass,
                         brr_body_mode mode, const char *fmt, ...) BRR_PRINTF(5, 6);
void brr_engine_req_query(brr_engine_req *r, const char *key, const char *value);
void brr_engine_req_header(brr_engine_req *r, const char *fmt, ...) BRR_PRINTF(2, 3);
/* Take `j` as the JSON body (deleted here). */
void brr_engine_req_json_body(brr_engine_req *r, cJSON *j);
/* Fail with BRR_EINVAL etc. before anything is sent (reported on the next loop turn). */
void brr_engine_req_error(brr_engine_req *r, int status, const char *fmt, ...) BRR_PRINTF(3, 4);
/* For a create-like answer: copy the string field `key` of the JSON answer to r->id and, when
 * `kind` >= 0, register it for cleanup (a brr_engine_kind); an answer without it is BRR_EIO.
 * Does nothing when the request already failed. Returns whether r->id was set. */
bool brr_engine_req_take_id(brr_engine_req *r, const char *key, int kind);
/* Send (or queue) the operation. Returns r, or NULL when the client is being freed (the
 * callback then already ran with BRR_ECANCELED). */
brr_engine_req *brr_engine_req_submit(brr_engine_req *r);
/* Start `child` as a step of `parent`: its completion goes to parent->child_done. */
brr_engine_req *brr_engine_req_adopt(brr_engine_req *parent, brr_engine_req *child);
/* Make an already submitted `child` a step of `parent` (for several steps at once). */
void brr_engine_req_attach(brr_engine_req *parent, brr_engine_req *child);
/* Finish now (callback runs), or on the next loop turn. */
void brr_engine_req_finish(brr_engine_req *r);
void brr_engine_req_finish_later(brr_engine_req *r);
/* Run `fn` after `ms` milliseconds (state BRR_ST_TIMER; a cancel stops it). */
void brr_engine_req_after(brr_engine_req *r, uint64_t ms, void (*fn)(brr_engine_req *r));
/* Exactly one of memory, file or producer. */
bool brr_engine_body_ok(const brr_engine_body *b);
/* Copy a child's result into r (status, error, ids, exit code). */
void brr_engine_req_take_result(brr_engine_req *r, const brr_engine_result *res);
/* Path segments that can go into a URL unescaped (image names, ids). */
bool brr_engine_name_ok(const char *name);
bool brr_engine_path_ok(const char *path);
/* "k=v" strings into a JSON object (adds to `obj`); false for an entry without '='
 * when `need_eq`. */
bool brr_engine_kv_into(cJSON *obj, const char *const *kv, bool need_eq);
/* The client's labels plus `extra`, as a JSON object. */
cJSON *brr_engine_labels_json(const brr_engine *e, const char *const *extra);
cJSON *brr_engine_strv_json(const char *const *v);

/* ---- wire.c ------------------------------------------------------------------------------------ */
char *brr_engine_base64url(const void *data, size_t len);
cJSON *brr_engine_auth_json(const brr_engine_auth *auth);
char *brr_engine_json_b64(const cJSON *j);

/* ---- objects.c ------------------------------------------------------------------------------------ */
/* filters={"label":[...]} value for `label`, or brr.run=<this run> when NULL. */
char *brr_engine_label_filter(const brr_engine *e, const char *label);
/* GET path listing objects of `kind`, or NULL. */
const char *brr_engine_list_path(brr_engine_kind kind);

/* ---- images.c ------------------------------------------------------------------------------------ */
void brr_engine_flights_free(brr_engine *e);

#endif
