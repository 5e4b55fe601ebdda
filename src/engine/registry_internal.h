/* Private to the registry client (registry.c core, registry_auth.c credentials and tokens,
 * registry_copy.c composite operations, registry_wire.c pure helpers). */
#ifndef BRR_REGISTRY_INTERNAL_H
#define BRR_REGISTRY_INTERNAL_H

#include "brr/registry.h"
#include "http.h"
#include "brr/spawn.h"

typedef struct rcall rcall;
typedef struct creds_entry creds_entry;
typedef struct creds_waiter creds_waiter;
typedef struct token_entry token_entry;

/* How a call ended, after its authentication and retries. `res` is NULL when no HTTP answer
 * is at hand (cancelled while waiting for a retry, credentials that failed). */
typedef void (*rcall_done_fn)(rcall *c, int status, const brr_http_response *res);

/* One HTTP exchange of an operation, with its 401 handling and retries. */
struct rcall {
  brr_registry *reg;
  brr_registry_req *req;           /* the operation it belongs to */
  char *method, *url, *host;
  char *scope;                     /* "repository:<repo>:pull[,push]", or NULL */
  char *scope2;                    /* a second scope (the source of a mount), or NULL */
  char **headers;                  /* extra "Name: value" lines, NULL-terminated */
  size_t nheaders, capheaders;
  brr_engine_body body;
  bool has_body;
  char *owned_body;
  /* streamed 2xx bodies: bytes to on_data; on_reset before a retry starts over */
  int (*on_data)(void *ud, const char *data, size_t len);
  void (*on_reset)(void *ud);
  void *data_ud;
  long status_seen;                /* the status of the answer being received */
  brr_buf err_body;                /* the body of a non-2xx answer when streaming */
  long deadline_ms;                /* whole call including retries and tokens, 0: none */
  uint64_t started_ms;
  bool retry;                      /* 5xx, 429 and failed connections are retried */
  bool follow;                     /* follow redirects (blob downloads) */
  bool any_status_ok;              /* ping: every answer is final */
  unsigned attempt;
  bool auth_tried;
  char *auth_line;                 /* the Authorization header being sent */
  char *token_form;                /* the body of an identity-token exchange */
  uv_timer_t *timer;               /* backoff */
  brr_http_req *http;
  creds_waiter *waiter;            /* waiting for the host's credentials */
  brr_registry_challenge chal;
  bool cancelled, finished;
  rcall_done_fn done;
  void *ud;
};

struct brr_registry_req {
  brr_registry *reg;
  brr_registry_req *prev, *next;   /* reg->live */
  brr_registry_req *dnext;         /* reg->deferred */
  const char *what;                /* error message prefix */
  brr_registry_cb cb;
  brr_registry_creds_cb ccb;
  void *ud;
  bool cancelled, finished, queued;
  bool no_sync;                    /* inside cancel or free: finish on a later turn */
  int calls;                       /* rcalls and waits in flight */
  rcall **inflight;                /* the rcalls among them */
  size_t ninflight, capinflight;
  void (*op_cancel)(brr_registry_req *q);  /* stop the operation's own waits */
  creds_waiter *waiter;            /* creds_get: waiting for the lookup */
  void *op;                        /* composite operation state */
  void (*op_free)(void *op);
  /* result */
  int status;
  long http_status;
  char *error;
  char *digest, *media_type;
  brr_buf body;
  int64_t size;
  long rl_limit, rl_remaining;
  unsigned attempts;
  const brr_engine_auth *auth;
};

struct creds_waiter {
  creds_waiter *next;
  creds_entry *e;
  void (*fn)(void *ctx, creds_entry *e);
  void *ctx;
};

struct creds_entry {
  creds_entry *next;
  char *host;
  int state;                       /* 0 looking, 1 ready, 2 failed */
  brr_registry_creds creds;
  brr_engine_auth auth;            /* views of creds */
  bool has;
  char *error;
  brr_spawn *helper;
  creds_waiter *waiters;
};

struct token_entry {
  token_entry *next;
  char *key;                       /* "<host> <scope> <scope2>" */
  char *line;                      /* "Authorization: Bearer ..." */
  uint64_t expires_ms;
};

struct brr_registry {
  uv_loop_t *loop;
  brr_http *http;
  char *config_dir, *hub_url, *temp_dir;
  char *alias_host, *alias_reach;  /* brr_registry_alias */
  int timeout_s;
  unsigned max_attempts, backoff_ms;
  brr_registry_req *live;
  brr_registry_req *deferred;
  uv_timer_t defer;
  creds_entry *creds;
  token_entry *tokens;
  char **basic;                    /* "host\nAuthorization: Basic ..." per host that said Basic */
  struct repo_lock *locks;         /* copies in progress per destination repository */
  size_t nbasic, capbasic;
  bool freeing;
  int open_handles;
};

/* ---- registry.c ---- */
brr_registry_req *brr_reg_req_new(brr_registry *r, const char *what, brr_registry_cb cb, void *ud);
/* Set the result to a failure (the first one wins). */
void brr_reg_req_fail(brr_registry_req *q, int status, long http, const char *fmt, ...) BRR_PRINTF(4, 5);
/* Finish now: callback, unlink, free. */
void brr_reg_req_finish(brr_registry_req *q);
/* Finish on a later loop turn. */
void brr_reg_req_finish_later(brr_registry_req *q);
/* Whether the operation should stop (cancelled or failed); finishes it when nothing of it
 * is in flight any more. */
bool brr_reg_req_stopping(brr_registry_req *q);

/* A call on `q` to `url` (absolute); headers and body are added before brr_reg_call_send. */
rcall *brr_reg_call_new(brr_registry_req *q, const char *method, const char *host,
                        const char *url, rcall_done_fn done, void *ud);
void brr_reg_call_header(rcall *c, const char *fmt, ...) BRR_PRINTF(2, 3);
void brr_reg_call_scope(rcall *c, const char *repo, bool push);
void brr_reg_call_send(rcall *c);
void brr_reg_call_cancel(rcall *c);
/* End a call now (its done callback runs, then it is freed). */
void brr_reg_call_end(rcall *c, int status, const brr_http_response *res);
/* Send a call again as it is (after its Authorization changed). */
void brr_reg_call_resend(rcall *c);
/* Milliseconds left before the call's deadline: 0 without one, -1 when it has passed. */
long brr_reg_call_time_left(const rcall *c);
/* Fail the request from a call that ended with `status` != 0: "cancelled", the registry's
 * own error text ("GET <url>: HTTP 404: manifest unknown (MANIFEST_UNKNOWN)") or the
 * transport's error. */
void brr_reg_call_failed(brr_registry_req *q, const rcall *c, int status, const brr_http_response *res);
/* Map an answer to a status: 2xx 0, 404 ENOENT, other codes EFAILED. */
int brr_reg_status_of(long http);
/* "http://host" for loopback hosts, the Hub's URL for docker.io, else "https://host". */
char *brr_reg_base_url(const brr_registry *r, const char *host);
/* base + "/v2/" + repo + "/" + kind + "/" + reference. Heap. */
char *brr_reg_url(const brr_registry *r, const brr_registry_ref *ref, const char *kind,
                  const char *reference);
/* The Accept header for manifests. */
extern const char *const BRR_REG_ACCEPT;

/* ---- registry_auth.c ---- */
/* `host`'s credentials (looked up on first use): the entry when the lookup is over (fn is
 * not called), else NULL with *w set: fn runs when it is, then the waiter is freed;
 * brr_reg_creds_unwant drops it before. */
creds_entry *brr_reg_creds_want(brr_registry *r, const char *host,
                                void (*fn)(void *ctx, creds_entry *e), void *ctx, creds_waiter **w);
void brr_reg_creds_unwant(creds_waiter *w);
/* Answer a 401: pick up credentials, then a token or a Basic header, then resend. */
void brr_reg_auth_challenge(rcall *c, const char *www_authenticate);
/* The Authorization line to send first on a call (cached Basic or token), or NULL. */
const char *brr_reg_auth_cached(brr_registry *r, const rcall *c);
void brr_reg_auth_free_all(brr_registry *r);

#endif
