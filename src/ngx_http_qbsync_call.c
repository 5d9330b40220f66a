
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_call.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_gate.h"


static ngx_int_t ngx_http_qbsync_call_make(ngx_http_request_t *r,
    ngx_http_qbsync_call_t *call, ngx_http_post_subrequest_t *ps,
    ngx_uint_t flags);
static ngx_int_t ngx_http_qbsync_call_headers(ngx_http_request_t *sr,
    ngx_http_qbsync_call_t *call);
static ngx_table_elt_t *ngx_http_qbsync_call_header(ngx_http_request_t *sr,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_qbsync_call_body(ngx_http_request_t *sr,
    ngx_http_qbsync_call_t *call);
static ngx_int_t ngx_http_qbsync_call_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_qbsync_call_counted(ngx_http_request_t *sr,
    ngx_http_qbsync_call_t *call, ngx_int_t rc);


/* ngx_palloc_large() puts a block in one of the first five entries */
#define NGX_HTTP_QBSYNC_LARGE_REUSED  5


static ngx_str_t  ngx_http_qbsync_get_method = ngx_string("GET");
static ngx_str_t  ngx_http_qbsync_post_method = ngx_string("POST");
static ngx_str_t  ngx_http_qbsync_intuit_tid = ngx_string("intuit_tid");
static ngx_str_t  ngx_http_qbsync_retry_after = ngx_string("Retry-After");


ngx_int_t
ngx_http_qbsync_call_start(ngx_http_request_t *r, ngx_http_qbsync_call_t *call)
{
    ngx_uint_t                    i;
    ngx_pool_large_t             *l;
    ngx_http_post_subrequest_t   *ps;

    call->status = 0;
    call->done = 0;
    call->answered = 0;
    call->retry_after = 0;
    call->buffer = NULL;
    ngx_str_null(&call->response);
    ngx_str_null(&call->intuit_tid);

    call->started = ngx_http_qbsync_now_us();
    call->large = r->pool->large;
    call->vacant = 0;

    for (i = 0, l = call->large; l && i < NGX_HTTP_QBSYNC_LARGE_REUSED;
         i++, l = l->next)
    {
        if (l->alloc == NULL) {
            call->vacant |= (ngx_uint_t) 1 << i;
        }
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_qbsync_call_done;
    ps->data = call;

    return ngx_http_qbsync_call_make(r, call, ps,
                                     NGX_HTTP_SUBREQUEST_WAITED
                                     |NGX_HTTP_SUBREQUEST_IN_MEMORY);
}


ngx_int_t
ngx_http_qbsync_call_background(ngx_http_request_t *r,
    ngx_http_qbsync_call_t *call)
{
    return ngx_http_qbsync_call_make(r, call, NULL,
                                     NGX_HTTP_SUBREQUEST_BACKGROUND);
}


static ngx_int_t
ngx_http_qbsync_call_make(ngx_http_request_t *r, ngx_http_qbsync_call_t *call,
    ngx_http_post_subrequest_t *ps, ngx_uint_t flags)
{
    ngx_http_request_t  *sr;

    if (ngx_http_subrequest(r, &call->uri, &call->args, &sr, ps, flags)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (flags & NGX_HTTP_SUBREQUEST_BACKGROUND) {
        /* as the mirror module does: an answer's body would wait forever */
        sr->header_only = 1;
    }

    if (call->method == NGX_HTTP_POST) {
        sr->method = NGX_HTTP_POST;
        sr->method_name = ngx_http_qbsync_post_method;

    } else {
        sr->method = NGX_HTTP_GET;
        sr->method_name = ngx_http_qbsync_get_method;
    }

    if (ngx_http_qbsync_call_headers(sr, call) != NGX_OK
        || ngx_http_qbsync_call_body(sr, call) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A subrequest starts with a copy of the parent's headers_in: everything
 * Stripe sent, its Content-Length and signature included.  The call gets
 * a list of its own instead, so the internal location needs no
 * proxy_set_header for these and nothing of Stripe's request leaks.
 */

static ngx_int_t
ngx_http_qbsync_call_headers(ngx_http_request_t *sr,
    ngx_http_qbsync_call_t *call)
{
    ngx_str_t               accept, traceparent;
    ngx_http_qbsync_ctx_t  *ctx;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, sr->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    ngx_str_set(&accept, "application/json");

    if (ngx_http_qbsync_call_header(sr, "Accept", &accept) == NULL) {
        return NGX_ERROR;
    }

    if (call->authorization.len) {
        sr->headers_in.authorization =
            ngx_http_qbsync_call_header(sr, "Authorization",
                                        &call->authorization);
        if (sr->headers_in.authorization == NULL) {
            return NGX_ERROR;
        }
    }

    ctx = ngx_http_qbsync_get_ctx(sr->main);

    if (ctx) {
        /* the same trace, the call's own span */
        traceparent.data = ngx_pnalloc(sr->pool, 55);
        if (traceparent.data == NULL) {
            return NGX_ERROR;
        }

        ngx_http_qbsync_span_id(call->span_id);

        traceparent.len = ngx_http_qbsync_traceparent(ctx, traceparent.data,
                                                      call->span_id)
                          - traceparent.data;

        if (ngx_http_qbsync_call_header(sr, "traceparent", &traceparent)
            == NULL)
        {
            return NGX_ERROR;
        }
    }

    if (call->content_type.len) {
        sr->headers_in.content_type =
            ngx_http_qbsync_call_header(sr, "Content-Type",
                                        &call->content_type);
        if (sr->headers_in.content_type == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_qbsync_call_header(ngx_http_request_t *sr, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NULL;
    }

    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(sr->pool, h->key.len);
    if (h->lowcase_key == NULL) {
        return NULL;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);

    return h;
}


static ngx_int_t
ngx_http_qbsync_call_body(ngx_http_request_t *sr, ngx_http_qbsync_call_t *call)
{
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_request_body_t  *rb;

    rb = ngx_pcalloc(sr->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    sr->request_body = rb;

    if (call->body.len == 0) {
        return NGX_OK;
    }

    b = ngx_calloc_buf(sr->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = call->body.data;
    b->last = call->body.data + call->body.len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;

    cl = ngx_alloc_chain_link(sr->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->buf = b;

    sr->headers_in.content_length_n = call->body.len;

    return NGX_OK;
}


/* Called once or more as the subrequest ends: records its answer once. */

static ngx_int_t
ngx_http_qbsync_call_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_qbsync_call_t *call = data;

    ngx_buf_t        *b;
    ngx_table_elt_t  *h;

    if (call->done) {
        return rc;
    }

    call->done = 1;

    ngx_http_qbsync_call_counted(sr, call, rc);

    if (rc == NGX_ERROR || sr->connection->error) {
        /* no usable answer: a reset, or one too big for memory */
        call->status = 0;
        return rc;
    }

    call->status = sr->headers_out.status;

    if (call->status == 0) {
        /* the proxy gave up: 502 for a reset or refusal, 504 for a timeout */
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            call->status = rc;
        }

        return rc;
    }

    call->answered = 1;

    if (sr->out && sr->out->buf) {
        b = sr->out->buf;
        call->response.data = b->pos;
        call->response.len = b->last - b->pos;
        call->buffer = b->start;
    }

    h = ngx_http_qbsync_find_header(&sr->headers_out.headers,
                                    &ngx_http_qbsync_intuit_tid);
    if (h) {
        call->intuit_tid = h->value;
    }

    h = ngx_http_qbsync_find_header(&sr->headers_out.headers,
                                    &ngx_http_qbsync_retry_after);
    if (h) {
        call->retry_after = ngx_atotm(h->value.data, h->value.len);

        if (call->retry_after == NGX_ERROR) {
            call->retry_after = 0;
        }
    }

    return rc;
}


/*
 * A subrequest allocates from its main request's pool; what is large is
 * on the pool's list of large blocks, newest first.  The call's blocks
 * are those ahead of the mark taken at its start, and those put in an
 * entry after the mark that was vacant then (ngx_palloc_large() reuses
 * one of the first few entries).  Nothing of the request's own takes a
 * large block while its call is in flight.
 */

void
ngx_http_qbsync_call_free(ngx_http_request_t *r, ngx_http_qbsync_call_t *call)
{
    ngx_uint_t         i;
    ngx_pool_large_t  *l;

    for (l = r->pool->large; l && l != call->large; l = l->next) {
        if (l->alloc) {
            ngx_free(l->alloc);
            l->alloc = NULL;
        }
    }

    for (i = 0; l && i < NGX_HTTP_QBSYNC_LARGE_REUSED; i++, l = l->next) {
        if ((call->vacant & ((ngx_uint_t) 1 << i)) && l->alloc) {
            ngx_free(l->alloc);
            l->alloc = NULL;
        }
    }

    call->buffer = NULL;
    ngx_str_null(&call->response);
}


/* The metrics of the main request's zone: the call's status and time. */

static void
ngx_http_qbsync_call_counted(ngx_http_request_t *sr,
    ngx_http_qbsync_call_t *call, ngx_int_t rc)
{
    uint64_t                     us;
    ngx_uint_t                   status;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = ngx_http_get_module_loc_conf(sr->main, ngx_http_qbsync_module);

    if (rc == NGX_ERROR || sr->connection->error) {
        status = 0;

    } else if (sr->headers_out.status) {
        status = sr->headers_out.status;

    } else {
        /* nginx's own 502 or 504: counted as no answer */
        status = 0;
    }

    us = ngx_http_qbsync_now_us() - call->started;

    ngx_http_qbsync_count_call(qlcf->shm_zone, call->operation, status, us);
    ngx_http_qbsync_span_add(sr->main,
                             ngx_http_qbsync_operation_names[call->operation],
                             us, call->span_id, status);
}


/* the first header of that name that is not deleted, or NULL */

ngx_table_elt_t *
ngx_http_qbsync_find_header(ngx_list_t *headers, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * The handler of a request's own timer (a wait between tries, for another
 * worker's token refresh, for the rate limiter): the request goes on where
 * it stopped, as when a call ends.
 */

void
ngx_http_qbsync_call_wake(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    r->write_event_handler(r);

    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_qbsync_call_retry(ngx_http_qbsync_call_t *call,
    qbsync_retry_policy_t *policy, uint64_t cooldown, uint32_t tries,
    uint64_t previous, qbsync_retry_random_t *random, ngx_msec_t elapsed,
    uint64_t *delay)
{
    uint64_t  throttled;

    if (call->status != 0 && call->status != NGX_HTTP_TOO_MANY_REQUESTS
        && call->status < NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        return NGX_DECLINED;
    }

    *delay = qbsync_retry_delay(policy, tries, previous, random);

    if (call->status == NGX_HTTP_TOO_MANY_REQUESTS) {
        throttled = call->retry_after ? (uint64_t) call->retry_after * 1000
                                      : cooldown;
        *delay = ngx_max(*delay, throttled);
    }

    return qbsync_retry_allowed(policy, tries, elapsed, *delay)
           ? NGX_OK : NGX_DECLINED;
}
