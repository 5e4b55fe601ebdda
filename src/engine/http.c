/* The libuv adapter for libcurl's multi interface, in one file as hiredis keeps each event
 * loop's glue in one adapter: curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION)
 * and when to wake it (CURLMOPT_TIMERFUNCTION); uv_poll and uv_timer report back through
 * curl_multi_socket_action. Callbacks into the caller can free the whole client, so every
 * entry from the loop is bracketed by enter/leave and the teardown of curl state waits until
 * the outermost frame unwinds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"

typedef struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  brr_http *h;
  struct sock_ctx *prev, *next;  /* h->socks: open polls, for the teardown */
} sock_ctx;

struct brr_http_req {
  brr_http *h;
  brr_http_req *prev, *next;     /* h->reqs: added to the multi, not yet removed */
  brr_http_req *dnext;           /* h->deferred: cancelled, on_done still to run */
  brr_http_req *anext;           /* h->adds: waiting to be added to the multi */
  CURL *easy;
  struct curl_slist *hdrs;
  brr_http_request rq;           /* callbacks and ud (strings are not used after start) */
  brr_engine_body body;          /* copy of the caller's body description */
  bool has_body;
  bool via_unix;                 /* rq.unix_socket was set */
  size_t mem_pos;                /* bytes of body.data already sent */
  int fd;                        /* body.path opened, or -1 */
  brr_buf resp_headers, resp_body;
  bool headers_done;             /* on_headers ran for the final answer */
  bool cancelled;                /* no more callbacks but on_done(ECANCELED) */
  bool finished;                 /* on_done ran */
  int abort_code;                /* why a callback aborted the transfer */
  int defer_result;              /* what a deferred on_done reports (cancel, unreadable body) */
  char errbuf[CURL_ERROR_SIZE];
};

struct brr_http {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;              /* curl's timeout */
  uv_timer_t defer;              /* runs on_done of cancelled requests on the next turn */
  brr_http_req *reqs;
  brr_http_req *deferred;
  brr_http_req *adds;            /* started from inside a curl callback, where curl refuses
                                    curl_multi_add_handle: added once curl has returned */
  int in_curl;                   /* frames inside curl_multi_socket_action */
  sock_ctx *socks;
  int depth;                     /* frames of ours on the stack that may call back */
  bool freeing, destroyed;
  int open_handles;              /* uv handles not yet closed back to us */
};

static void destroy(brr_http *h);

static void enter(brr_http *h) { h->depth++; }

static void leave(brr_http *h) {
  if (--h->depth == 0 && h->freeing && !h->destroyed) destroy(h);
}

static void handle_closed(uv_handle_t *hd) {
  brr_http *h = hd->data;
  if (--h->open_handles == 0) free(h);
}

static void sock_closed(uv_handle_t *hd) {
  sock_ctx *c = hd->data;
  brr_http *h = c->h;
  free(c);
  if (--h->open_handles == 0 && h->destroyed) free(h);
}

static void sock_close(brr_http *h, sock_ctx *c) {
  if (c->prev) c->prev->next = c->next; else h->socks = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_close((uv_handle_t *)&c->poll, sock_closed);
}

/* ---- completion ------------------------------------------------------------------------- */

static void req_unlink(brr_http_req *r) {
  brr_http *h = r->h;
  if (r->prev) r->prev->next = r->next; else if (h->reqs == r) h->reqs = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

static void req_free(brr_http_req *r) {
  if (r->easy) curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->hdrs);
  if (r->fd >= 0) close(r->fd);
  brr_buf_free(&r->resp_headers);
  brr_buf_free(&r->resp_body);
  free(r);
}

static int map_curl_error(brr_http_req *r, CURLcode rc) {
  switch (rc) {
  case CURLE_OK: return 0;
  case CURLE_OPERATION_TIMEDOUT: return BRR_ETIMEOUT;
  case CURLE_WRITE_ERROR:
  case CURLE_READ_ERROR:
  case CURLE_ABORTED_BY_CALLBACK:
    return r->abort_code ? r->abort_code : BRR_EIO;
  default: return BRR_EIO;
  }
}

static void deliver(brr_http_req *r, int result, const char *error) {
  brr_http_response res = {0};
  res.result = result;
  if (r->easy) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
  res.error = result ? (error && *error ? error : "request failed") : NULL;
  if (!r->rq.on_data) {
    res.body = brr_buf_cstr(&r->resp_body);
    res.body_len = r->resp_body.len;
  }
  res.headers = brr_buf_cstr(&r->resp_headers);
  r->finished = true;
  r->rq.on_done(r->rq.ud, &res);
}

/* curl says "Failed to connect to localhost port 80" when it could not even make a socket:
 * name the real cause when the process is out of descriptors. Heap, or NULL. */
static char *out_of_fds(CURL *easy) {
  long os_errno = 0;
  curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
  int e = (int)os_errno;
  if (e != EMFILE && e != ENFILE) {
    int probe = fcntl(0, F_DUPFD_CLOEXEC, 0);   /* is there a descriptor left at all? */
    if (probe >= 0) {
      close(probe);
      return NULL;
    }
    if (errno != EMFILE && errno != ENFILE) return NULL;
    e = errno;
  }
  struct rlimit rl;
  if (e == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    return brr_xasprintf("out of file descriptors (%s): the open-file limit is %llu; raise it "
                         "(ulimit -n) or run fewer nodes at once (-j)", strerror(e),
                         (unsigned long long)rl.rlim_cur);
  return brr_xasprintf("out of file descriptors (%s)", strerror(e));
}

/* A transfer curl finished: detach it, tell the caller, free it. */
static void complete(brr_http_req *r, CURLcode rc) {
  curl_multi_remove_handle(r->h->multi, r->easy);
  req_unlink(r);
  int result = map_curl_error(r, rc);
  const char *msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
  if (result == BRR_ECANCELED && r->abort_code) msg = "aborted by the receiver";
  char *fds = rc != CURLE_OK ? out_of_fds(r->easy) : NULL;
  long os_errno = 0;
  if (!fds && rc == CURLE_COULDNT_CONNECT && r->via_unix &&
      curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno > 0)
    /* curl names the URL's "localhost port 80", which a unix socket never uses */
    fds = brr_xasprintf("cannot connect to the socket: %s", strerror((int)os_errno));
  deliver(r, result, fds ? fds : msg);
  free(fds);
  req_free(r);
}

static void drain_done(brr_http *h) {
  CURLMsg *m;
  int left;
  while (!h->freeing && (m = curl_multi_info_read(h->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL *easy = m->easy_handle;
    CURLcode rc = m->data.result;
    brr_http_req *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    if (r->cancelled) continue;   /* its on_done is already queued */
    complete(r, rc);
  }
}

static void defer_result(brr_http_req *r, int result);

/* Add the requests started while curl was on the stack. */
static void flush_adds(brr_http *h) {
  while (h->adds && !h->freeing) {
    brr_http_req *r = h->adds;
    h->adds = r->anext;
    r->anext = NULL;
    if (r->cancelled) continue;   /* already queued for its on_done */
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
      snprintf(r->errbuf, sizeof r->errbuf, "libcurl refused the request");
      defer_result(r, BRR_EIO);
    }
  }
}

static void on_defer(uv_timer_t *t) {
  brr_http *h = t->data;
  enter(h);
  flush_adds(h);
  while (h->deferred && !h->freeing) {
    brr_http_req *r = h->deferred;
    h->deferred = r->dnext;
    curl_multi_remove_handle(h->multi, r->easy);
    req_unlink(r);
    deliver(r, r->defer_result, r->defer_result == BRR_ECANCELED ? "cancelled" : r->errbuf);
    req_free(r);
  }
  leave(h);
}

/* ---- curl -> libuv -------------------------------------------------------------------------- */

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_ctx *c = p->data;
  brr_http *h = c->h;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  enter(h);
  h->in_curl++;
  curl_multi_socket_action(h->multi, c->fd, flags, &running);
  h->in_curl--;
  flush_adds(h);
  drain_done(h);
  leave(h);
}

static void on_timeout(uv_timer_t *t) {
  brr_http *h = t->data;
  int running;
  enter(h);
  h->in_curl++;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  h->in_curl--;
  flush_adds(h);
  drain_done(h);
  leave(h);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
  (void)easy;
  brr_http *h = userp;
  sock_ctx *c = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (c) {
      curl_multi_assign(h->multi, s, NULL);
      sock_close(h, c);
    }
    return 0;
  }
  if (!c) {
    c = brr_xcalloc(1, sizeof *c);
    c->fd = s;
    c->h = h;
    if (uv_poll_init_socket(h->loop, &c->poll, s) != 0) {
      free(c);
      return -1;
    }
    c->poll.data = c;
    h->open_handles++;
    c->next = h->socks;
    if (h->socks) h->socks->prev = c;
    h->socks = c;
    curl_multi_assign(h->multi, s, c);
  }
  int ev = 0;
  if (what & CURL_POLL_IN) ev |= UV_READABLE;
  if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
  uv_poll_start(&c->poll, ev, on_poll);
  return 0;
}

static int on_timer_set(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  brr_http *h = userp;
  if (timeout_ms < 0) uv_timer_stop(&h->timer);
  else uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

/* ---- transfer callbacks ------------------------------------------------------------------------ */

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  brr_http_req *r = ud;
  size_t len = sz * n;
  if (r->cancelled || r->h->freeing) return 0;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    brr_buf_reset(&r->resp_headers);
    r->headers_done = false;
  }
  brr_buf_append(&r->resp_headers, p, len);
  bool blank = (len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n');
  if (blank && !r->headers_done) {
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200) {
      r->headers_done = true;
      if (r->rq.on_headers) r->rq.on_headers(r->rq.ud, code, brr_buf_cstr(&r->resp_headers));
      if (r->cancelled || r->h->freeing) return 0;
    }
  }
  return len;
}

static size_t on_write(char *p, size_t sz, size_t n, void *ud) {
  brr_http_req *r = ud;
  size_t len = sz * n;
  if (r->cancelled || r->h->freeing) return 0;
  if (r->rq.on_data) {
    int rc = r->rq.on_data(r->rq.ud, p, len);
    if (rc == BRR_ENGINE_DATA_PAUSE && !r->cancelled && !r->h->freeing) return CURL_WRITEFUNC_PAUSE;
    if (rc) {
      r->abort_code = rc;
      return 0;
    }
    if (r->cancelled || r->h->freeing) return 0;
  } else {
    brr_buf_append(&r->resp_body, p, len);
  }
  return len;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *ud) {
  brr_http_req *r = ud;
  size_t cap = sz * n;
  if (r->cancelled || r->h->freeing) return CURL_READFUNC_ABORT;
  const brr_engine_body *b = &r->body;
  if (b->data) {
    size_t k = b->len - r->mem_pos;
    if (k > cap) k = cap;
    memcpy(buf, (const char *)b->data + r->mem_pos, k);
    r->mem_pos += k;
    return k;
  }
  if (r->fd >= 0) {
    ssize_t k;
    do k = read(r->fd, buf, cap); while (k < 0 && errno == EINTR);
    if (k < 0) {
      r->abort_code = BRR_EIO;
      return CURL_READFUNC_ABORT;
    }
    return (size_t)k;
  }
  if (b->read) {
    ssize_t k = b->read(b->read_ud, buf, cap);
    if (r->cancelled || r->h->freeing) return CURL_READFUNC_ABORT;
    if (k == BRR_ENGINE_READ_PAUSE) return CURL_READFUNC_PAUSE;
    if (k < 0 || (size_t)k > cap) {
      r->abort_code = BRR_EIO;
      return CURL_READFUNC_ABORT;
    }
    return (size_t)k;
  }
  return 0;
}

/* Rewinding lets curl resend a body when a reused connection turned out to be closed;
 * memory and files can, a producer cannot. */
static int on_seek(void *ud, curl_off_t offset, int origin) {
  brr_http_req *r = ud;
  if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
  if (r->body.data) {
    if ((size_t)offset > r->body.len) return CURL_SEEKFUNC_FAIL;
    r->mem_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
  }
  if (r->fd >= 0)
    return lseek(r->fd, (off_t)offset, SEEK_SET) == (off_t)offset ? CURL_SEEKFUNC_OK
                                                                   : CURL_SEEKFUNC_FAIL;
  return CURL_SEEKFUNC_CANTSEEK;
}

/* ---- requests ----------------------------------------------------------------------------------- */

static void add_header(brr_http_req *r, const char *line) {
  struct curl_slist *s = curl_slist_append(r->hdrs, line);
  if (!s) abort();  /* out of memory, as brr_xmalloc */
  r->hdrs = s;
}

/* Returns the body size (-1: unknown), or -2 when the file cannot be opened. */
static int64_t setup_body(brr_http_req *r) {
  const brr_engine_body *b = &r->body;
  if (b->data || (!b->path && !b->read)) return (int64_t)b->len;
  if (b->path) {
    r->fd = open(b->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (r->fd < 0 || fstat(r->fd, &st) != 0) return -2;
    return (int64_t)st.st_size;
  }
  return b->size >= 0 ? b->size : -1;
}

static int setup_method(brr_http_req *r, const char *method) {
  CURL *c = r->easy;
  int64_t size = 0;
  if (r->has_body) {
    size = setup_body(r);
    if (size == -2) return -1;
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, r);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
  }
  if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    if (!r->has_body) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    } else if (size >= 0) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    } else {
      add_header(r, "Transfer-Encoding: chunked");
    }
  } else if (strcmp(method, "PUT") == 0) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(r->has_body ? size : 0));
  } else if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  return 0;
}

void brr_http_tls_apply(void *curl_easy, const brr_http_tls *tls) {
  CURL *c = curl_easy;
  if (!tls) return;
  /* libcurl copies these strings */
  if (tls->ca) curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca);
  if (tls->cert) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, tls->cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (tls->key) {
    curl_easy_setopt(c, CURLOPT_SSLKEY, tls->key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  }
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
}

static void setup_easy(brr_http_req *r, const brr_http_request *rq) {
  CURL *c = r->easy;
  curl_easy_setopt(c, CURLOPT_URL, rq->url);
  if (rq->unix_socket) curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, rq->unix_socket);
  r->via_unix = rq->unix_socket != NULL;
  brr_http_tls_apply(c, rq->tls);
  curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)r);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  if (rq->timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
  if (rq->connect_timeout_ms > 0)
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, rq->connect_timeout_ms);
  if (rq->follow) {
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  }
  if (rq->idle_timeout_s > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, rq->idle_timeout_s);
  }
  /* Without this curl waits up to a second for "100 Continue" before large bodies. */
  add_header(r, "Expect:");
  for (const char *const *hd = rq->headers; hd && *hd; hd++) add_header(r, *hd);
}

brr_http_req *brr_http_start(brr_http *h, const brr_http_request *rq) {
  if (h->freeing) return NULL;
  brr_http_req *r = brr_xcalloc(1, sizeof *r);
  r->h = h;
  r->rq = *rq;
  r->fd = -1;
  if (rq->body) {
    r->body = *rq->body;
    r->has_body = true;
  }
  r->easy = curl_easy_init();
  if (!r->easy) abort();
  setup_easy(r, rq);
  int bad = setup_method(r, rq->method ? rq->method : "GET");
  curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
  r->next = h->reqs;
  if (h->reqs) h->reqs->prev = r;
  h->reqs = r;
  if (bad) {
    /* the body file is unreadable: report it through the cancel path, so on_done still
     * runs from the loop and not inside this call */
    snprintf(r->errbuf, sizeof r->errbuf, "cannot read %s: %s", r->body.path, strerror(errno));
    defer_result(r, BRR_EIO);
  } else if (h->in_curl) {
    r->anext = h->adds;
    h->adds = r;
    uv_timer_start(&h->defer, on_defer, 0, 0);
  } else {
    enter(h);
    CURLMcode rc = curl_multi_add_handle(h->multi, r->easy);
    leave(h);
    if (rc != CURLM_OK) {
      snprintf(r->errbuf, sizeof r->errbuf, "libcurl refused the request: %s",
               curl_multi_strerror(rc));
      defer_result(r, BRR_EIO);
    }
  }
  return r;
}

/* Queue on_done(result) for the next loop turn. */
static void defer_result(brr_http_req *r, int result) {
  brr_http *h = r->h;
  r->cancelled = true;
  r->defer_result = result;
  r->dnext = h->deferred;
  h->deferred = r;
  uv_timer_start(&h->defer, on_defer, 0, 0);
}

void brr_http_cancel(brr_http_req *r) {
  if (!r || r->cancelled || r->finished) return;
  defer_result(r, BRR_ECANCELED);
}

void brr_http_resume(brr_http_req *r) {
  if (!r || r->cancelled || r->finished) return;
  enter(r->h);
  r->h->in_curl++;
  curl_easy_pause(r->easy, CURLPAUSE_CONT);
  r->h->in_curl--;
  flush_adds(r->h);
  leave(r->h);
}

/* ---- client ------------------------------------------------------------------------------------- */

brr_http *brr_http_new(uv_loop_t *loop) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  brr_http *h = brr_xcalloc(1, sizeof *h);
  h->loop = loop;
  h->multi = curl_multi_init();
  if (!h->multi) abort();
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  uv_timer_init(loop, &h->timer);
  uv_timer_init(loop, &h->defer);
  h->timer.data = h->defer.data = h;
  h->open_handles = 2;
  return h;
}

void brr_http_free(brr_http *h) {
  if (!h || h->freeing) return;
  h->freeing = true;
  enter(h);
  /* on_done may start requests (refused now) or cancel others (already finishing): the list
   * does not change under us except through req_unlink, which no callback reaches here */
  for (brr_http_req *r = h->reqs; r; r = r->next) {
    if (r->finished) continue;
    r->cancelled = true;
    deliver(r, BRR_ECANCELED, "cancelled: client closed");
  }
  leave(h);
}

static void destroy(brr_http *h) {
  h->destroyed = true;
  while (h->reqs) {
    brr_http_req *r = h->reqs;
    curl_multi_remove_handle(h->multi, r->easy);
    req_unlink(r);
    req_free(r);
  }
  h->deferred = h->adds = NULL;
  curl_multi_cleanup(h->multi);
  h->multi = NULL;
  while (h->socks) sock_close(h, h->socks);
  uv_timer_stop(&h->timer);
  uv_timer_stop(&h->defer);
  uv_close((uv_handle_t *)&h->timer, handle_closed);
  uv_close((uv_handle_t *)&h->defer, handle_closed);
  curl_global_cleanup();
}

char *brr_http_header(const char *headers, const char *name) {
  size_t nlen = strlen(name);
  for (const char *p = headers; p && *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
      const char *v = p + nlen + 1, *end = p + len;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) end--;
      return brr_xstrndup(v, (size_t)(end - v));
    }
    if (!eol) break;
    p = eol + 1;
  }
  return NULL;
}
