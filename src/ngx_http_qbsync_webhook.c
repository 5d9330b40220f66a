
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_webhook.h"
#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_sync.h"
#include "ngx_http_qbsync_events.h"
#include "ngx_http_qbsync_trace.h"


static void ngx_http_qbsync_webhook_body_handler(ngx_http_request_t *r);
static void ngx_http_qbsync_webhook_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_qbsync_webhook_answer(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_qbsync_webhook_started(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_http_qbsync_loc_conf_t *qlcf);


/*
 * qbsync_webhook: the same checks and dedupe as the gate, then the sync,
 * and the answer to Stripe comes from the module itself.  The event's key
 * becomes done only with a 2xx answer (the gate's header filter).
 */

ngx_int_t
ngx_http_qbsync_webhook_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_qbsync_ctx_t       *ctx;
    ngx_http_qbsync_outcome_e    outcome;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    ctx = ngx_http_qbsync_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    outcome = ngx_http_qbsync_check_headers(r, qlcf, ctx);

    if (outcome != NGX_HTTP_QBSYNC_VERIFIED) {
        ngx_http_qbsync_trace_export(r,
                                     ngx_http_qbsync_outcome_status(outcome));
        return ngx_http_qbsync_refuse(r, qlcf, ctx, outcome);
    }

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_qbsync_webhook_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_qbsync_webhook_body_handler(ngx_http_request_t *r)
{
    time_t                       retry_after;
    ngx_int_t                    rc;
    qbsync_event_t               event;
    ngx_http_qbsync_ctx_t       *ctx;
    ngx_http_qbsync_outcome_e    outcome;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    ctx = ngx_http_qbsync_get_ctx(r);
    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    ctx->tree = ngx_palloc(r->pool, sizeof(qbsync_yajl_some_t));
    if (ctx->tree == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->tree_allocator.alloc = ngx_http_qbsync_pool_alloc;
    ctx->tree_allocator.ctx = r->pool;

    outcome = ngx_http_qbsync_admit(r, qlcf, ctx, &event, &retry_after);

    if (outcome != NGX_HTTP_QBSYNC_VERIFIED) {
        ngx_http_qbsync_trace_export(r,
                                     ngx_http_qbsync_outcome_status(outcome));
        ngx_http_finalize_request(r,
                                  ngx_http_qbsync_answer(r, ctx, event.message,
                                                         retry_after));
        return;
    }

    rc = ngx_http_qbsync_sync_start(r, ctx, qlcf);

    ngx_http_qbsync_webhook_started(r, ctx, qlcf);

    if (rc == NGX_AGAIN) {
        r->write_event_handler = ngx_http_qbsync_webhook_resume;
        return;
    }

    ngx_http_finalize_request(r, ngx_http_qbsync_webhook_answer(r, ctx, rc));
}


/* Woken when a call ends, or by the OAuth wait timer. */

static void
ngx_http_qbsync_webhook_resume(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_http_qbsync_ctx_t  *ctx;

    ctx = ngx_http_qbsync_get_ctx(r);

    rc = ngx_http_qbsync_sync_resume(r, ctx->sync);

    if (rc == NGX_AGAIN) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_qbsync_webhook_answer(r, ctx, rc));
}


/* The sync's answer, its trace exported just before it leaves. */

static ngx_int_t
ngx_http_qbsync_webhook_answer(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_int_t rc)
{
    ngx_str_t                 error, message;
    ngx_uint_t                status;
    ngx_http_qbsync_action_e  action;

    if (rc != NGX_OK) {
        ngx_http_qbsync_trace_export(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_qbsync_sync_outcome(ctx->sync, &status, &action, &error,
                                 &message);
    ngx_http_qbsync_trace_export(r, status);

    return ngx_http_qbsync_sync_answer(r, ctx->sync);
}


/* The event store hears of a sync as it starts: a hung one shows there. */

static void
ngx_http_qbsync_webhook_started(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_http_qbsync_loc_conf_t *qlcf)
{
    ngx_str_t                product, item_id;
    ngx_uint_t               calls;
    qbsync_events_record_t   record;

    ngx_http_qbsync_event_init(r, &record, QBSYNC_EVENTS_SYNC_STARTED,
                               "started", sizeof("started") - 1);

    qbsync_events_set(&record.stripe_event, (char *) ctx->key.id.data,
                      ctx->key.id.len);
    qbsync_events_set(&record.stripe_type, (char *) ctx->event_type.data,
                      ctx->event_type.len);

    if (ctx->sync) {
        ngx_http_qbsync_sync_detail(ctx->sync, &product, &item_id, &calls);
        qbsync_events_set(&record.product, (char *) product.data,
                          product.len);
    }

    ngx_http_qbsync_event_add(r, qlcf->shm_zone, &record);
}
