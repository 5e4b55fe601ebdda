/* Private to the engine module: HTTP requests on a libuv loop through libcurl's multi
 * interface. The glue between the two (sockets, timer, completion) lives in http.c only. */
#ifndef BRR_ENGINE_HTTP_H
#define BRR_ENGINE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "brr/engine.h"

typedef struct brr_http brr_http;
typedef struct brr_http_req brr_http_req;

typedef struct brr_http_response {
  int result;           /* 0 when an HTTP answer arrived in full (any status), else
                           BRR_EIO, BRR_ETIMEOUT, BRR_ECANCELED or an on_data return value */
  long status;          /* HTTP status, 0 when none arrived */
  const char *error;    /* libcurl's message when result != 0, else NULL */
  const char *body;     /* the body when the request had no on_data, else NULL */
  size_t body_len;
  const char *headers;  /* the response's header lines ("Name: value\r\n...") */
} brr_http_response;

/* TLS to the server: libcurl with OpenSSL; NULL fields are not set. */
typedef struct brr_http_tls {
  const char *ca;            /* CA bundle to verify the server with, NULL: the system's */
  const char *cert, *key;    /* client certificate and key (PEM) */
  bool verify;               /* verify the certificate and the host name */
} brr_http_tls;

/* Apply `tls` (NULL: nothing) to an easy handle. */
void brr_http_tls_apply(void *curl_easy, const brr_http_tls *tls);

typedef struct brr_http_request {
  const char *method;        /* "GET" (NULL), "POST", "PUT", "DELETE", "HEAD" */
  const char *url;
  const char *unix_socket;   /* connect through this socket instead of TCP, or NULL */
  const brr_http_tls *tls;   /* for https URLs, or NULL */
  const char *const *headers;/* "Name: value", NULL-terminated, or NULL */
  const brr_engine_body *body; /* NULL: no body (POST sends an empty one) */
  long timeout_ms;           /* whole request, 0: none */
  long connect_timeout_ms;   /* 0: libcurl's default */
  long idle_timeout_s;       /* abort after this long below 1 byte/s, 0: none */
  bool follow;               /* follow redirects (registries send blob downloads to storage);
                                credentials are not sent on to another host */
  void *ud;
  /* The status line and headers of the final answer arrived (1xx answers are skipped). */
  void (*on_headers)(void *ud, long status, const char *headers);
  /* Body bytes as they arrive; NULL collects them into the response. Return 0, or a
   * negative BRR_E* code to abort (it becomes the response's result), or
   * BRR_ENGINE_DATA_PAUSE: the bytes were not taken; they come again after brr_http_resume. */
  int (*on_data)(void *ud, const char *data, size_t len);
  /* Exactly once, from the loop, never inside brr_http_start or brr_http_cancel. */
  void (*on_done)(void *ud, const brr_http_response *res);
} brr_http_request;

brr_http *brr_http_new(uv_loop_t *loop);
/* Completes every request still in flight with BRR_ECANCELED (synchronously), then closes
 * the handles; memory is released by their close callbacks. Safe inside any callback. */
void brr_http_free(brr_http *h);
/* Start a request; the request struct and the strings it points to are copied, the body's
 * memory and reader are not. Returns NULL only while the client is being freed. */
brr_http_req *brr_http_start(brr_http *h, const brr_http_request *rq);
/* Abort: on_done follows on the next loop turn with BRR_ECANCELED, unless it already ran. */
void brr_http_cancel(brr_http_req *r);
/* Continue a request whose body reader returned BRR_ENGINE_READ_PAUSE, or whose on_data
 * returned BRR_ENGINE_DATA_PAUSE. */
void brr_http_resume(brr_http_req *r);
/* The value of header `name` in a header block (case-insensitive), as a heap string, or
 * NULL when absent. */
char *brr_http_header(const char *headers, const char *name);

#endif
