
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_CALL_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_CALL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * One HTTP call to QuickBooks, Intuit's OAuth endpoint or Stripe, made as
 * an in-memory subrequest to the internal location that proxies to it.
 * The subrequest carries only what is set here: its own method, body,
 * Content-Length and a fresh header list, nothing of Stripe's request.
 */
typedef struct {
    ngx_uint_t                   method;          /* NGX_HTTP_GET or _POST */
    ngx_str_t                    uri;
    ngx_str_t                    args;
    ngx_str_t                    authorization;
    ngx_str_t                    content_type;    /* empty without a body */
    ngx_str_t                    body;

    /* 0: no answer at all; nginx's 502 or 504 when its proxy gave up */
    ngx_uint_t                   status;
    ngx_str_t                    response;
    ngx_str_t                    intuit_tid;
    time_t                       retry_after;     /* 0 when not given */

    unsigned                     done:1;
    unsigned                     answered:1;      /* status is the peer's */
} ngx_http_qbsync_call_t;


ngx_int_t ngx_http_qbsync_call_start(ngx_http_request_t *r,
    ngx_http_qbsync_call_t *call);
ngx_table_elt_t *ngx_http_qbsync_find_header(ngx_list_t *headers,
    ngx_str_t *name);
void ngx_http_qbsync_call_wake(ngx_event_t *ev);


#endif /* _NGX_HTTP_QBSYNC_CALL_H_INCLUDED_ */
