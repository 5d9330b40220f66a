
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_CALL_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_CALL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "qbsync_retry.h"


/*
 * One HTTP call to QuickBooks, Intuit's OAuth endpoint or Stripe, made as
 * an in-memory subrequest to the internal location that proxies to it.
 * The subrequest carries only what is set here: its own method, body,
 * Content-Length and a fresh header list, nothing of Stripe's request.
 */
typedef struct {
    ngx_uint_t                   method;          /* NGX_HTTP_GET or _POST */
    ngx_uint_t                   operation;       /* for the metrics */
    ngx_str_t                    uri;
    ngx_str_t                    args;
    ngx_str_t                    authorization;
    ngx_str_t                    content_type;    /* empty without a body */
    ngx_str_t                    body;

    /* 0: no answer at all; nginx's 502 or 504 when its proxy gave up */
    ngx_uint_t                   status;
    ngx_str_t                    response;
    /* where the answer was copied: a long request gives it back early */
    u_char                      *buffer;
    /* the request pool's large blocks before the call, see _call_free() */
    ngx_pool_large_t            *large;
    ngx_uint_t                   vacant;
    uint64_t                     started;         /* us */
    u_char                       span_id[16];     /* in its traceparent */
    ngx_str_t                    intuit_tid;
    time_t                       retry_after;     /* 0 when not given */

    unsigned                     done:1;
    unsigned                     answered:1;      /* status is the peer's */
} ngx_http_qbsync_call_t;


ngx_int_t ngx_http_qbsync_call_start(ngx_http_request_t *r,
    ngx_http_qbsync_call_t *call);

/* a call nobody waits for (the trace export): its answer is dropped */
ngx_int_t ngx_http_qbsync_call_background(ngx_http_request_t *r,
    ngx_http_qbsync_call_t *call);
/*
 * For a request that makes many calls (the batch location): the large
 * blocks the ended call took from the request's pool (the proxy's
 * buffers, the copy of the answer) go back at once, not at the request's
 * end.  Only once the answer is read: call->response is gone with them.
 */
void ngx_http_qbsync_call_free(ngx_http_request_t *r,
    ngx_http_qbsync_call_t *call);
ngx_table_elt_t *ngx_http_qbsync_find_header(ngx_list_t *headers,
    ngx_str_t *name);
void ngx_http_qbsync_call_wake(ngx_event_t *ev);

/*
 * Whether a call that ended goes again, and after how long (*delay ms):
 * NGX_OK for a 5xx, a 429 or no answer (a timeout, a reset: nginx's 502
 * or 504) while the policy's attempts and budget (elapsed ms spent) allow;
 * after a 429 no sooner than its Retry-After or cooldown ms.  Anything
 * else is the caller's to answer: NGX_DECLINED.
 */
ngx_int_t ngx_http_qbsync_call_retry(ngx_http_qbsync_call_t *call,
    qbsync_retry_policy_t *policy, uint64_t cooldown, uint32_t tries,
    uint64_t previous, qbsync_retry_random_t *random, ngx_msec_t elapsed,
    uint64_t *delay);


#endif /* _NGX_HTTP_QBSYNC_CALL_H_INCLUDED_ */
