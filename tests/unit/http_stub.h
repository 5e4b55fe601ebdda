/* A scripted HTTP/1.1 server on the test's loop, for clients that must be shown answers a
 * real server gives only on bad days (5xx, 429, token challenges, silence). Each route
 * matches "METHOD /path-prefix" and answers its scripted responses in turn (the last one
 * repeats); every request is recorded with its headers and body. */
#ifndef BRR_TEST_HTTP_STUB_H
#define BRR_TEST_HTTP_STUB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "brr/util.h"

#define STUB_MAX_ROUTES 32
#define STUB_MAX_ANSWERS 8
#define STUB_HANG "HANG"   /* an answer that never comes */

typedef struct stub_route {
  char *method, *prefix;
  char *answers[STUB_MAX_ANSWERS];
  size_t n, hits;
} stub_route;

typedef struct stub_request {
  char *method, *path, *headers;
  brr_buf body;
} stub_request;

typedef struct stub {
  uv_loop_t *loop;
  uv_tcp_t server;
  int port;
  stub_route routes[STUB_MAX_ROUTES];
  size_t n_routes;
  stub_request *reqs;
  size_t n_reqs, cap_reqs;
  int open;          /* handles not closed */
} stub;

typedef struct stub_conn {
  uv_tcp_t tcp;
  stub *s;
  brr_buf in;
} stub_conn;

static inline void stub_conn_closed(uv_handle_t *h) {
  stub_conn *c = h->data;
  c->s->open--;
  brr_buf_free(&c->in);
  free(c);
}

static inline void stub_written(uv_write_t *w, int status) {
  (void)status;
  free(w->data);
  free(w);
}

static inline void stub_send(stub_conn *c, const char *text) {
  uv_write_t *w = brr_xcalloc(1, sizeof *w);
  char *copy = brr_xstrdup(text);
  w->data = copy;
  uv_buf_t b = uv_buf_init(copy, (unsigned)strlen(copy));
  uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, stub_written);
}

static inline stub_route *stub_match(stub *s, const char *method, const char *path) {
  for (size_t i = 0; i < s->n_routes; i++)
    if (!strcmp(s->routes[i].method, method) && brr_startswith(path, s->routes[i].prefix)) return &s->routes[i];
  return NULL;
}

/* Handle every complete request in the connection's buffer. */
static inline void stub_serve(stub_conn *c) {
  for (;;) {
    char *end = strstr(brr_buf_cstr(&c->in), "\r\n\r\n");
    if (!end) return;
    size_t head = (size_t)(end - c->in.data) + 4;
    size_t clen = 0;
    for (const char *p = c->in.data; p && p < end; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL)
      if (!strncasecmp(p, "Content-Length:", 15)) clen = strtoul(p + 15, NULL, 10);
    if (c->in.len < head + clen) return;
    stub_request r = {0};
    char *sp1 = strchr(c->in.data, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    r.method = brr_xstrndup(c->in.data, (size_t)(sp1 - c->in.data));
    r.path = brr_xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    r.headers = brr_xstrndup(c->in.data, head);
    brr_buf_append(&r.body, c->in.data + head, clen);
    BRR_VEC_PUSH(c->s->reqs, c->s->n_reqs, c->s->cap_reqs, r);
    stub_route *rt = stub_match(c->s, r.method, r.path);
    if (getenv("STUB_DEBUG")) fprintf(stderr, "stub: %s %s -> %s\n", r.method, r.path, rt ? rt->prefix : "no route");
    const char *ans = "HTTP/1.1 599 No Route\r\nContent-Length: 0\r\n\r\n";
    if (rt) {
      ans = rt->answers[rt->hits < rt->n ? rt->hits : rt->n - 1];
      rt->hits++;
    }
    memmove(c->in.data, c->in.data + head + clen, c->in.len - head - clen);
    c->in.len -= head + clen;
    c->in.data[c->in.len] = '\0';
    if (strcmp(ans, STUB_HANG) == 0) return;
    stub_send(c, ans);
  }
}

static inline void stub_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  (void)h;
  b->base = brr_xmalloc(n);
  b->len = n;
}

static inline void stub_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  stub_conn *c = st->data;
  if (n > 0) brr_buf_append(&c->in, b->base, (size_t)n);
  free(b->base);
  if (n < 0) {
    if (!uv_is_closing((uv_handle_t *)st)) uv_close((uv_handle_t *)st, stub_conn_closed);
    return;
  }
  stub_serve(c);
}

static inline void stub_accept(uv_stream_t *srv, int status) {
  stub *s = srv->data;
  if (status != 0) return;
  stub_conn *c = brr_xcalloc(1, sizeof *c);
  c->s = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  s->open++;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, stub_conn_closed);
    return;
  }
  uv_read_start((uv_stream_t *)&c->tcp, stub_alloc, stub_read);
}

static inline void stub_start(stub *s, uv_loop_t *loop) {
  memset(s, 0, sizeof *s);
  s->loop = loop;
  uv_tcp_init(loop, &s->server);
  s->server.data = s;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&s->server, (const struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&s->server, 64, stub_accept);
  struct sockaddr_storage got;
  int len = sizeof got;
  uv_tcp_getsockname(&s->server, (struct sockaddr *)&got, &len);
  s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
  s->open = 1;
}

/* Add a route answering `answers` (NULL-terminated, copied) in turn. */
static inline void stub_route_add(stub *s, const char *method, const char *prefix, const char *const *answers) {
  stub_route *r = &s->routes[s->n_routes++];
  r->method = brr_xstrdup(method);
  r->prefix = brr_xstrdup(prefix);
  for (r->n = 0; answers[r->n]; r->n++) r->answers[r->n] = brr_xstrdup(answers[r->n]);
}

/* Forget every route (requests stay recorded). */
static inline void stub_routes_clear(stub *s) {
  for (size_t i = 0; i < s->n_routes; i++) {
    free(s->routes[i].method);
    free(s->routes[i].prefix);
    for (size_t k = 0; k < s->routes[i].n; k++) free(s->routes[i].answers[k]);
  }
  s->n_routes = 0;
}

/* A whole answer: status line, headers ("Name: v\r\n" each, may be ""), body. Heap. */
static inline char *stub_answer(int code, const char *headers, const char *body) {
  return brr_xasprintf("HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n\r\n%s", code, headers, strlen(body), body);
}

/* How many requests matched `method` and `prefix`. */
static inline size_t stub_count(const stub *s, const char *method, const char *prefix) {
  size_t n = 0;
  for (size_t i = 0; i < s->n_reqs; i++)
    n += !strcmp(s->reqs[i].method, method) && brr_startswith(s->reqs[i].path, prefix);
  return n;
}

/* The last request matching, or NULL. */
static inline const stub_request *stub_last(const stub *s, const char *method, const char *prefix) {
  for (size_t i = s->n_reqs; i > 0; i--)
    if (!strcmp(s->reqs[i - 1].method, method) && brr_startswith(s->reqs[i - 1].path, prefix)) return &s->reqs[i - 1];
  return NULL;
}

static inline void stub_close_walk(uv_handle_t *h, void *arg) {
  stub *s = arg;
  if (h->type == UV_TCP && !uv_is_closing(h) && h != (uv_handle_t *)&s->server)
    uv_close(h, stub_conn_closed);
}

static inline void stub_server_closed(uv_handle_t *h) {
  stub *s = h->data;
  s->open--;
}

/* Close the server and its connections, run the loop until they are gone, free records. */
static inline void stub_stop(stub *s) {
  uv_walk(s->loop, stub_close_walk, s);
  uv_close((uv_handle_t *)&s->server, stub_server_closed);
  while (s->open > 0) uv_run(s->loop, UV_RUN_ONCE);
  stub_routes_clear(s);
  for (size_t i = 0; i < s->n_reqs; i++) {
    free(s->reqs[i].method);
    free(s->reqs[i].path);
    free(s->reqs[i].headers);
    brr_buf_free(&s->reqs[i].body);
  }
  free(s->reqs);
}

#endif
