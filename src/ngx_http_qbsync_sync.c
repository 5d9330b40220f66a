
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_sync.h"
#include "ngx_http_qbsync_mapping.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_limiter.h"
#include "ngx_http_qbsync_deadletter.h"
#include "ngx_http_qbsync_oauth.h"
#include "ngx_http_qbsync_qbo.h"
#include "ngx_http_qbsync_reply.h"
#include "qbsync_item.h"
#include "qbsync_json.h"
#include "qbsync_money.h"
#include "qbsync_qbo.h"
#include "qbsync_stripe.h"


#define NGX_HTTP_QBSYNC_RETRY_AFTER          30
#define NGX_HTTP_QBSYNC_THROTTLED_RETRY      60
#define NGX_HTTP_QBSYNC_REAUTHORIZE_RETRY    300

#define NGX_HTTP_QBSYNC_ANSWER_MAX      2048


typedef enum {
    NGX_HTTP_QBSYNC_STEP_FETCH = 0,
    NGX_HTTP_QBSYNC_STEP_PLAN,
    NGX_HTTP_QBSYNC_STEP_FIND_SKU,
    NGX_HTTP_QBSYNC_STEP_FIND_NAME,
    NGX_HTTP_QBSYNC_STEP_CREATE,
    NGX_HTTP_QBSYNC_STEP_UPDATE,
    NGX_HTTP_QBSYNC_STEP_READ,
    NGX_HTTP_QBSYNC_STEP_DONE
} ngx_http_qbsync_step_e;


struct ngx_http_qbsync_sync_s {
    ngx_http_request_t          *request;
    ngx_http_qbsync_ctx_t       *ctx;
    ngx_http_qbsync_loc_conf_t  *conf;
    qbsync_allocator_t           allocator;

    qbsync_stripe_event_t        event;
    qbsync_product_t             product;

    ngx_http_qbsync_step_e       step;

    ngx_str_t                    product_id;
    ngx_http_qbsync_key_t        lock;

    ngx_http_qbsync_mapping_t    mapping;

    /* the item as the product wants it */
    ngx_str_t                    name;
    ngx_str_t                    description;
    ngx_str_t                    unit_price;
    ngx_str_t                    warning;

    /* the item in QuickBooks */
    ngx_str_t                    item_id;
    ngx_str_t                    sync_token;
    ngx_str_t                    found_name;

    ngx_http_qbsync_call_t       call;

    /* qbsync_retry: the tries of the current call, and the wait between */
    ngx_event_t                  retry_wait;
    ngx_msec_t                   started;
    uint32_t                     tries;
    uint32_t                     calls;           /* retries included */
    uint64_t                     previous_delay;
    qbsync_retry_random_t        random;

    /* the realm's rate limiter: this call's slot and lease */
    ngx_http_qbsync_pace_t       pace;

    ngx_http_qbsync_oauth_ctx_t  oauth;
    qbsync_qbo_reply_t           reply;

    ngx_http_qbsync_action_e     action;
    ngx_uint_t                   status;
    const char                  *error;
    ngx_str_t                    message;
    time_t                       retry_after;

    unsigned                     has_mapping:1;
    unsigned                     holds_lock:1;
    unsigned                     active:1;
    unsigned                     found_active:1;
    unsigned                     deleting:1;
    unsigned                     price_only:1;
    unsigned                     calling:1;
    unsigned                     retried_auth:1;
    unsigned                     retried_stale:1;
    unsigned                     retried_missing:1;
    unsigned                     resolved_name:1;
    unsigned                     suffixed:1;
};


static ngx_int_t ngx_http_qbsync_sync_run(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_event(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_price(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_lock(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_fetch(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_plan(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_recall(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_keep_suffix(
    ngx_http_qbsync_sync_t *sync);
static void ngx_http_qbsync_sync_price_of(ngx_http_qbsync_sync_t *sync,
    ngx_str_t *price_id, qbsync_price_t *price);
static ngx_uint_t ngx_http_qbsync_sync_unchanged(
    ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_qbo(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_prepare(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_write_body(ngx_http_qbsync_sync_t *sync,
    ngx_str_t *body, ngx_str_t *request_id);
static ngx_int_t ngx_http_qbsync_sync_found(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_named(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_written(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_suffix(ngx_http_qbsync_sync_t *sync);
static void ngx_http_qbsync_sync_take(ngx_http_qbsync_sync_t *sync,
    qbsync_qbo_item_t *item);
static void ngx_http_qbsync_sync_remember(ngx_http_qbsync_sync_t *sync,
    ngx_uint_t written);
static ngx_int_t ngx_http_qbsync_sync_done(ngx_http_qbsync_sync_t *sync,
    ngx_http_qbsync_action_e action);
static ngx_int_t ngx_http_qbsync_sync_fail(ngx_http_qbsync_sync_t *sync,
    ngx_uint_t status, const char *error, const char *message,
    time_t retry_after);
static ngx_int_t ngx_http_qbsync_sync_unavailable(
    ngx_http_qbsync_sync_t *sync, const char *what);
static ngx_int_t ngx_http_qbsync_sync_rejected(ngx_http_qbsync_sync_t *sync);
static ngx_int_t ngx_http_qbsync_sync_retry(ngx_http_qbsync_sync_t *sync,
    ngx_uint_t quickbooks);
static ngx_int_t ngx_http_qbsync_sync_pace(ngx_http_qbsync_sync_t *sync);
static void ngx_http_qbsync_sync_paced(ngx_http_qbsync_sync_t *sync);
static const char *ngx_http_qbsync_sync_heard(ngx_http_qbsync_call_t *call);
static void ngx_http_qbsync_sync_cleanup(void *data);
static qbsync_stripe_rc_t ngx_http_qbsync_sync_parse(
    ngx_http_qbsync_sync_t *sync, char *error, size_t size);
static ngx_str_t *ngx_http_qbsync_sync_copy(ngx_http_qbsync_sync_t *sync,
    ngx_str_t *dst, const char *data, size_t len);


ngx_int_t
ngx_http_qbsync_sync_start(ngx_http_request_t *r, ngx_http_qbsync_ctx_t *ctx,
    ngx_http_qbsync_loc_conf_t *qlcf)
{
    ngx_pool_cleanup_t      *cln;
    qbsync_stripe_rc_t       rc;
    ngx_http_qbsync_sync_t  *sync;
    char                     error[QBSYNC_STRIPE_ERROR_MAX];

    sync = ngx_pcalloc(r->pool, sizeof(ngx_http_qbsync_sync_t));
    if (sync == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_qbsync_sync_cleanup;
    cln->data = sync;

    ctx->sync = sync;

    sync->request = r;
    sync->ctx = ctx;
    sync->conf = qlcf;
    sync->allocator.alloc = ngx_http_qbsync_pool_alloc;
    sync->allocator.ctx = r->pool;

    sync->started = ngx_current_msec;
    sync->retry_wait.handler = ngx_http_qbsync_call_wake;
    sync->retry_wait.data = r;
    sync->retry_wait.log = r->connection->log;
    qbsync_retry_seed(&sync->random,
                      ((uint64_t) ngx_random() << 32)
                      ^ (uint64_t) ngx_random() ^ ((uint64_t) ngx_pid << 16)
                      ^ sync->started);

    ngx_http_qbsync_oauth_init(r, &sync->oauth, qlcf->oauth, qlcf->shm_zone);

    if (ctx->tree) {
        rc = qbsync_stripe_event_read(ctx->tree, &sync->allocator,
                                      &sync->event, error, sizeof(error));

    } else {
        rc = ngx_http_qbsync_sync_parse(sync, error, sizeof(error));
    }

    if (rc == QBSYNC_STRIPE_NOMEM) {
        return NGX_ERROR;
    }

    if (rc != QBSYNC_STRIPE_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "qbsync: event \"%V\" cannot be synced: %s",
                      &ctx->key.id, error);
        ngx_http_qbsync_sync_fail(sync, NGX_HTTP_QBSYNC_UNPROCESSABLE,
                                  "invalid_event", error, 0);
        return NGX_OK;
    }

    if (ngx_http_qbsync_sync_event(sync) == NGX_ERROR) {
        return NGX_ERROR;
    }

    return ngx_http_qbsync_sync_run(sync);
}


/* a replay's event, read again from the body the gate checked in place */

static qbsync_stripe_rc_t
ngx_http_qbsync_sync_parse(ngx_http_qbsync_sync_t *sync, char *error,
    size_t size)
{
    u_char                 *body, *p;
    size_t                  i, len;
    ngx_http_qbsync_ctx_t  *ctx;

    ctx = sync->ctx;
    len = 0;

    for (i = 0; i < ctx->nbody; i++) {
        len += ctx->body[i].len;
    }

    /* the tree parser wants the body whole */
    body = ngx_pnalloc(sync->request->pool, len + 1);
    if (body == NULL) {
        return QBSYNC_STRIPE_NOMEM;
    }

    p = body;

    for (i = 0; i < ctx->nbody; i++) {
        p = ngx_cpymem(p, ctx->body[i].data, ctx->body[i].len);
    }

    return qbsync_stripe_event_parse(body, len, &sync->allocator,
                                     &sync->event, error, size);
}


ngx_int_t
ngx_http_qbsync_sync_resume(ngx_http_request_t *r,
    ngx_http_qbsync_sync_t *sync)
{
    return ngx_http_qbsync_sync_run(sync);
}


static ngx_int_t
ngx_http_qbsync_sync_run(ngx_http_qbsync_sync_t *sync)
{
    ngx_int_t  rc;

    for ( ;; ) {

        if (sync->retry_wait.timer_set) {
            return NGX_AGAIN;
        }

        switch (sync->step) {

        case NGX_HTTP_QBSYNC_STEP_FETCH:
            rc = ngx_http_qbsync_sync_fetch(sync);
            break;

        case NGX_HTTP_QBSYNC_STEP_PLAN:
            rc = ngx_http_qbsync_sync_plan(sync);
            break;

        case NGX_HTTP_QBSYNC_STEP_DONE:
            return NGX_OK;

        default:
            rc = ngx_http_qbsync_sync_qbo(sync);
        }

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {
            ngx_http_qbsync_sync_fail(sync, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal_error",
                                      "the event could not be synced; "
                                      "retry later",
                                      NGX_HTTP_QBSYNC_RETRY_AFTER);
        }
    }
}


/* What the event asks for, before any call. */

static ngx_int_t
ngx_http_qbsync_sync_event(ngx_http_qbsync_sync_t *sync)
{
    ngx_str_t                    *type, event_type;
    ngx_uint_t                    livemode;
    ngx_http_qbsync_loc_conf_t   *qlcf;

    qlcf = sync->conf;
    event_type = ngx_http_qbsync_str(&sync->event.type);
    type = &event_type;
    livemode = qlcf->livemode;

    /* a test-mode event must never write to a production company */
    if ((livemode == NGX_HTTP_QBSYNC_LIVEMODE_LIVE && !sync->event.livemode)
        || (livemode == NGX_HTTP_QBSYNC_LIVEMODE_TEST && sync->event.livemode))
    {
        ngx_log_error(NGX_LOG_WARN, sync->request->connection->log, 0,
                      "qbsync: event \"%V\" is a %s-mode event, ignored by "
                      "qbsync_livemode %s", &sync->ctx->key.id,
                      sync->event.livemode ? "live" : "test",
                      livemode == NGX_HTTP_QBSYNC_LIVEMODE_LIVE
                      ? "live" : "test");

        ngx_str_set(&sync->warning, "the event's mode differs from "
                                    "qbsync_livemode");
        return ngx_http_qbsync_sync_done(sync, NGX_HTTP_QBSYNC_ACTION_IGNORED);
    }

    if (sync->event.kind == QBSYNC_STRIPE_PRICE
        && type->len > 6 && ngx_strncmp(type->data, "price.", 6) == 0)
    {
        if (qlcf->stripe) {
            sync->product_id = ngx_http_qbsync_str(&sync->event.price.product);
            return ngx_http_qbsync_sync_lock(sync);
        }

        return ngx_http_qbsync_sync_price(sync);
    }

    if (sync->event.kind != QBSYNC_STRIPE_PRODUCT
        || type->len < 8 || ngx_strncmp(type->data, "product.", 8) != 0)
    {
        return ngx_http_qbsync_sync_done(sync, NGX_HTTP_QBSYNC_ACTION_IGNORED);
    }

    sync->product_id = ngx_http_qbsync_str(&sync->event.product.id);
    sync->product = sync->event.product;

    if (type->len == sizeof("product.deleted") - 1
        && ngx_strncmp(type->data, "product.deleted", type->len) == 0)
    {
        sync->product.deleted = 1;
    }

    sync->has_mapping =
        (ngx_http_qbsync_record_get(qlcf->shm_zone, qlcf->quickbooks->ns,
                                    &sync->product_id, &sync->mapping,
                                    sizeof(ngx_http_qbsync_mapping_t))
         == NGX_OK);

    /*
     * Without qbsync_stripe the event is the only truth: an older one
     * than the last applied must not undo it.  Same-second events are
     * applied in their arrival order.  A deletion is final, however late.
     */

    if (qlcf->stripe == NULL && sync->has_mapping && !sync->product.deleted
        && sync->event.created < sync->mapping.product_created)
    {
        return ngx_http_qbsync_sync_done(sync, NGX_HTTP_QBSYNC_ACTION_STALE);
    }

    return ngx_http_qbsync_sync_lock(sync);
}


/*
 * Without qbsync_stripe, price events are remembered: a product event
 * names its default price by id only.  A change of a product's current
 * default price updates its item's UnitPrice.
 */

static ngx_int_t
ngx_http_qbsync_sync_price(ngx_http_qbsync_sync_t *sync)
{
    ngx_str_t                     id, type, unit_price;
    qbsync_price_t               *price;
    ngx_http_qbsync_loc_conf_t   *qlcf;
    ngx_http_qbsync_price_rec_t   rec;
    uint32_t                      ns;

    qlcf = sync->conf;
    price = &sync->event.price;
    id = ngx_http_qbsync_str(&price->id);
    type = ngx_http_qbsync_str(&sync->event.type);
    ns = ngx_http_qbsync_zone_ns("prices", &qlcf->quickbooks->realm);

    if (ngx_http_qbsync_record_get(qlcf->shm_zone, ns, &id, &rec, sizeof(rec))
        == NGX_OK
        && sync->event.created < rec.created)
    {
        return ngx_http_qbsync_sync_done(sync, NGX_HTTP_QBSYNC_ACTION_STALE);
    }

    if (type.len == sizeof("price.deleted") - 1
        && ngx_strncmp(type.data, "price.deleted", type.len) == 0)
    {
        ngx_http_qbsync_record_delete(qlcf->shm_zone, ns, &id);
        return ngx_http_qbsync_sync_done(sync,
                                         NGX_HTTP_QBSYNC_ACTION_PRICE_RECORDED);
    }

    ngx_memzero(&rec, sizeof(rec));
    rec.created = sync->event.created;

    if (price->currency.len <= sizeof(rec.currency)
        && price->unit_amount_decimal.len <= sizeof(rec.amount)
        && price->product.len <= sizeof(rec.product))
    {
        rec.has_amount = price->has_amount;
        rec.currency_len = (u_char) price->currency.len;
        ngx_memcpy(rec.currency, price->currency.data, price->currency.len);
        rec.amount_len = (u_char) price->unit_amount_decimal.len;
        ngx_memcpy(rec.amount, price->unit_amount_decimal.data,
                   price->unit_amount_decimal.len);
        rec.product_len = (u_char) price->product.len;
        ngx_memcpy(rec.product, price->product.data, price->product.len);
    }

    if (ngx_http_qbsync_record_put(qlcf->shm_zone, ns, &id, &rec, sizeof(rec),
                                   NGX_HTTP_QBSYNC_RECORD_TTL)
        != NGX_OK)
    {
        return ngx_http_qbsync_sync_fail(sync,
                                         NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "zone_full",
                                         "the price could not be "
                                         "remembered; retry later",
                                         NGX_HTTP_QBSYNC_RETRY_AFTER);
    }

    sync->product_id = ngx_http_qbsync_str(&price->product);

    sync->has_mapping =
        (ngx_http_qbsync_record_get(qlcf->shm_zone, qlcf->quickbooks->ns,
                                    &sync->product_id, &sync->mapping,
                                    sizeof(ngx_http_qbsync_mapping_t))
         == NGX_OK);

    if (!sync->has_mapping || sync->mapping.item_id_len == 0
        || sync->mapping.default_price_len != id.len
        || ngx_strncmp(sync->mapping.default_price, id.data, id.len) != 0)
    {
        return ngx_http_qbsync_sync_done(sync,
                                         NGX_HTTP_QBSYNC_ACTION_PRICE_RECORDED);
    }

    ngx_http_qbsync_sync_price_of(sync, &id, price);

    unit_price = sync->unit_price;

    if (unit_price.len == 0
        || (sync->mapping.has_unit_price
            && sync->mapping.unit_price_len == unit_price.len
            && ngx_strncmp(sync->mapping.unit_price, unit_price.data,
                           unit_price.len)
               == 0))
    {
        return ngx_http_qbsync_sync_done(sync, unit_price.len
                                   ? NGX_HTTP_QBSYNC_ACTION_UNCHANGED
                                   : NGX_HTTP_QBSYNC_ACTION_PRICE_RECORDED);
    }

    /* only the price changes: the rest of the item stays as last written */

    sync->price_only = 1;
    sync->active = sync->mapping.active;

    if (ngx_http_qbsync_sync_copy(sync, &sync->name,
                                  (char *) sync->mapping.name,
                                  sync->mapping.name_len)
        == NULL
        || ngx_http_qbsync_sync_recall(sync) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_qbsync_sync_lock(sync) != NGX_OK
        || sync->step == NGX_HTTP_QBSYNC_STEP_DONE)
    {
        return NGX_OK;
    }

    sync->step = NGX_HTTP_QBSYNC_STEP_UPDATE;

    return NGX_OK;
}


/* One sync at a time per product, across workers. */

static ngx_int_t
ngx_http_qbsync_sync_lock(ngx_http_qbsync_sync_t *sync)
{
    time_t                       retry_after;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = sync->conf;

    sync->lock.ns = ngx_http_qbsync_zone_ns("lock",
                                            &qlcf->quickbooks->realm);
    sync->lock.id = sync->product_id;

    if (sync->lock.id.len == 0
        || sync->lock.id.len > NGX_HTTP_QBSYNC_KEY_MAX)
    {
        return ngx_http_qbsync_sync_fail(sync, NGX_HTTP_QBSYNC_UNPROCESSABLE,
                                         "invalid_event",
                                         "the event names no usable product",
                                         0);
    }

    retry_after = NGX_HTTP_QBSYNC_RETRY_AFTER;

    switch (ngx_http_qbsync_key_acquire(qlcf->shm_zone, &sync->lock,
                                        (ngx_msec_t) qlcf->inflight_lease
                                        * 1000, &retry_after, NULL))
    {
    case NGX_HTTP_QBSYNC_KEY_ACQUIRED:
        sync->holds_lock = 1;
        break;

    case NGX_HTTP_QBSYNC_KEY_IN_PROGRESS:
        return ngx_http_qbsync_sync_fail(sync, NGX_HTTP_CONFLICT,
                                         "in_progress",
                                         "another event of this product is "
                                         "being synced; retry later",
                                         retry_after);

    default:
        return ngx_http_qbsync_sync_fail(sync, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "zone_full",
                                         "every key is in flight; retry "
                                         "later", retry_after);
    }

    sync->step = qlcf->stripe ? NGX_HTTP_QBSYNC_STEP_FETCH
                              : NGX_HTTP_QBSYNC_STEP_PLAN;

    return NGX_OK;
}


/*
 * With qbsync_stripe the event is only a signal: the product is read from
 * Stripe with its default price, so that order and missing price events
 * stop mattering.
 */

static ngx_int_t
ngx_http_qbsync_sync_fetch(ngx_http_qbsync_sync_t *sync)
{
    qbsync_stripe_rc_t   rc;
    ngx_http_request_t  *r;
    char                 error[QBSYNC_STRIPE_ERROR_MAX];

    r = sync->request;

    if (!sync->calling) {

        if (ngx_http_qbsync_stripe_product(r->pool, sync->conf->stripe,
                                           &sync->call, &sync->product_id)
            != NGX_OK
            || ngx_http_qbsync_call_start(r, &sync->call) != NGX_OK)
        {
            return NGX_ERROR;
        }

        sync->tries++;
        sync->calls++;
        sync->calling = 1;
        return NGX_AGAIN;
    }

    if (!sync->call.done) {
        return NGX_AGAIN;
    }

    sync->calling = 0;

    if (ngx_http_qbsync_sync_retry(sync, 0) == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    sync->has_mapping =
        (ngx_http_qbsync_record_get(sync->conf->shm_zone,
                                    sync->conf->quickbooks->ns,
                                    &sync->product_id, &sync->mapping,
                                    sizeof(ngx_http_qbsync_mapping_t))
         == NGX_OK);

    if (sync->call.status == NGX_HTTP_NOT_FOUND) {
        /* deleted in Stripe: its item is deactivated */
        ngx_memzero(&sync->product, sizeof(qbsync_product_t));
        sync->product.id.data = (char *) sync->product_id.data;
        sync->product.id.len = sync->product_id.len;
        sync->product.deleted = 1;
        sync->step = NGX_HTTP_QBSYNC_STEP_PLAN;
        return NGX_OK;
    }

    if (sync->call.status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qbsync: Stripe %s %ui for product \"%V\"",
                      ngx_http_qbsync_sync_heard(&sync->call),
                      sync->call.status, &sync->product_id);

        return ngx_http_qbsync_sync_fail(sync, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "stripe_unavailable",
                                         "Stripe's API could not be "
                                         "reached; retry later",
                                         NGX_HTTP_QBSYNC_RETRY_AFTER);
    }

    rc = qbsync_stripe_product_parse(sync->call.response.data,
                                     sync->call.response.len,
                                     &sync->allocator, &sync->product,
                                     error, sizeof(error));

    if (rc == QBSYNC_STRIPE_NOMEM) {
        return NGX_ERROR;
    }

    if (rc != QBSYNC_STRIPE_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qbsync: Stripe's product \"%V\" is not usable: %s",
                      &sync->product_id, error);

        return ngx_http_qbsync_sync_fail(sync, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "stripe_unavailable", error,
                                         NGX_HTTP_QBSYNC_RETRY_AFTER);
    }

    sync->step = NGX_HTTP_QBSYNC_STEP_PLAN;

    return NGX_OK;
}


/* The item last written, as the mapping remembers it. */

static ngx_int_t
ngx_http_qbsync_sync_recall(ngx_http_qbsync_sync_t *sync)
{
    if (ngx_http_qbsync_sync_copy(sync, &sync->item_id,
                                  (char *) sync->mapping.item_id,
                                  sync->mapping.item_id_len)
        == NULL
        || ngx_http_qbsync_sync_copy(sync, &sync->sync_token,
                                     (char *) sync->mapping.sync_token,
                                     sync->mapping.sync_token_len)
           == NULL)
    {
        return NGX_ERROR;
    }

    sync->found_active = sync->mapping.active;

    return NGX_OK;
}


/* The item as the product wants it, and whether QuickBooks must hear it. */

static ngx_int_t
ngx_http_qbsync_sync_plan(ngx_http_qbsync_sync_t *sync)
{
    u_char            *buf;
    size_t             len;
    ngx_str_t          default_price;
    qbsync_product_t  *product;

    product = &sync->product;

    if (sync->has_mapping
        && sync->mapping.item_id_len
        && ngx_http_qbsync_sync_recall(sync) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (product->deleted) {
        /* a deleted product is its id only: the item keeps its fields */
        sync->deleting = 1;
        sync->active = 0;

        if (sync->item_id.len == 0) {
            sync->step = NGX_HTTP_QBSYNC_STEP_FIND_SKU;
            return NGX_OK;
        }

        if (ngx_http_qbsync_sync_copy(sync, &sync->name,
                                      (char *) sync->mapping.name,
                                      sync->mapping.name_len)
            == NULL)
        {
            return NGX_ERROR;
        }

        sync->step = NGX_HTTP_QBSYNC_STEP_UPDATE;
        return NGX_OK;
    }

    buf = ngx_pnalloc(sync->request->pool, QBSYNC_ITEM_NAME_SIZE);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    len = qbsync_item_name(product->name.data, product->name.len,
                           (char *) buf, QBSYNC_ITEM_NAME_SIZE);

    if (len == 0) {
        return ngx_http_qbsync_sync_fail(sync, NGX_HTTP_QBSYNC_UNPROCESSABLE,
                                         "invalid_product",
                                         "the product's name is empty once "
                                         "QuickBooks' name rules apply", 0);
    }

    sync->name.data = buf;
    sync->name.len = len;

    if (sync->has_mapping && sync->mapping.suffixed
        && ngx_http_qbsync_sync_keep_suffix(sync) != NGX_OK)
    {
        return NGX_ERROR;
    }

    buf = ngx_pnalloc(sync->request->pool, QBSYNC_ITEM_DESCRIPTION_SIZE);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    sync->description.data = buf;
    sync->description.len =
        qbsync_item_description(product->description.data,
                                product->description.len, (char *) buf,
                                QBSYNC_ITEM_DESCRIPTION_SIZE);

    sync->active = product->active;

    default_price = ngx_http_qbsync_str(&product->default_price);

    ngx_http_qbsync_sync_price_of(sync, &default_price,
                                  product->has_price ? &product->price : NULL);

    if (ngx_http_qbsync_sync_unchanged(sync)) {
        ngx_http_qbsync_sync_remember(sync, 0);
        return ngx_http_qbsync_sync_done(sync,
                                         NGX_HTTP_QBSYNC_ACTION_UNCHANGED);
    }

    sync->step = sync->item_id.len ? NGX_HTTP_QBSYNC_STEP_UPDATE
                                   : NGX_HTTP_QBSYNC_STEP_FIND_SKU;

    return NGX_OK;
}


/*
 * The UnitPrice a price gives, in the item's currency: the price as
 * given (fetch mode, a price event) or as remembered from price events.
 * Anything else leaves QuickBooks' UnitPrice alone, with a warning.
 */

static void
ngx_http_qbsync_sync_price_of(ngx_http_qbsync_sync_t *sync,
    ngx_str_t *price_id, qbsync_price_t *price)
{
    ngx_http_qbsync_unit_price(sync->request->pool, sync->conf, price_id,
                               price, &sync->unit_price, &sync->warning);
}


static ngx_uint_t
ngx_http_qbsync_sync_unchanged(ngx_http_qbsync_sync_t *sync)
{
    return sync->has_mapping
           && ngx_http_qbsync_mapping_unchanged(&sync->mapping,
                                                sync->conf->item->digest,
                                                &sync->name,
                                                &sync->description,
                                                &sync->unit_price,
                                                sync->active);
}


/*
 * A QuickBooks call of the current step: a token first (refreshed if
 * need be), the call, and once if QuickBooks answers 401 a refresh and
 * the call again.
 */

static ngx_int_t
ngx_http_qbsync_sync_qbo(ngx_http_qbsync_sync_t *sync)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = sync->request;

    if (!sync->calling) {

        if (!sync->pace.leased) {
            rc = ngx_http_qbsync_sync_pace(sync);

            if (rc != NGX_OK) {
                return (rc == NGX_DONE) ? NGX_OK : rc;
            }
        }

        rc = ngx_http_qbsync_oauth_token(r, &sync->oauth);

        switch (rc) {

        case NGX_OK:
            break;

        case NGX_AGAIN:
            return NGX_AGAIN;

        case NGX_DECLINED:
            return ngx_http_qbsync_sync_fail(sync,
                                             NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "quickbooks_reauthorization_"
                                             "required",
                                             "Intuit refused the refresh "
                                             "token; the QuickBooks "
                                             "connection must be "
                                             "re-authorised",
                                             NGX_HTTP_QBSYNC_REAUTHORIZE_RETRY);

        default:
            return ngx_http_qbsync_sync_fail(sync,
                                             NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "quickbooks_unavailable",
                                             "no QuickBooks access token "
                                             "could be had; retry later",
                                             sync->oauth.retry_after);
        }

        if (ngx_http_qbsync_sync_prepare(sync) != NGX_OK) {
            return NGX_ERROR;
        }

        sync->call.authorization = sync->oauth.authorization;

        if (ngx_http_qbsync_call_start(r, &sync->call) != NGX_OK) {
            return NGX_ERROR;
        }

        sync->tries++;
        sync->calls++;
        sync->calling = 1;
        return NGX_AGAIN;
    }

    if (!sync->call.done) {
        return NGX_AGAIN;
    }

    sync->calling = 0;

    ngx_http_qbsync_sync_paced(sync);

    if (ngx_http_qbsync_sync_retry(sync, 1) == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (sync->call.status == NGX_HTTP_UNAUTHORIZED && !sync->retried_auth) {
        sync->retried_auth = 1;
        ngx_http_qbsync_oauth_rejected(r, &sync->oauth);
        return NGX_OK;
    }

    if (sync->call.status != NGX_HTTP_OK
        && sync->call.status != NGX_HTTP_BAD_REQUEST)
    {
        return ngx_http_qbsync_sync_unavailable(sync,
                                      ngx_http_qbsync_sync_heard(&sync->call));
    }

    switch (qbsync_qbo_reply_parse(sync->call.response.data,
                                   sync->call.response.len, &sync->allocator,
                                   &sync->reply))
    {
    case QBSYNC_QBO_OK:
        break;

    case QBSYNC_QBO_NOMEM:
        return NGX_ERROR;

    default:
        return ngx_http_qbsync_sync_unavailable(sync, "gave an unreadable "
                                                "answer");
    }

    switch (sync->step) {

    case NGX_HTTP_QBSYNC_STEP_FIND_SKU:
        return ngx_http_qbsync_sync_found(sync);

    case NGX_HTTP_QBSYNC_STEP_FIND_NAME:
        return ngx_http_qbsync_sync_named(sync);

    case NGX_HTTP_QBSYNC_STEP_READ:

        if (sync->reply.fault || sync->reply.nitems == 0) {
            return ngx_http_qbsync_sync_rejected(sync);
        }

        ngx_http_qbsync_sync_take(sync, &sync->reply.items[0]);
        sync->step = NGX_HTTP_QBSYNC_STEP_UPDATE;
        return NGX_OK;

    default: /* CREATE, UPDATE */
        return ngx_http_qbsync_sync_written(sync);
    }
}


static ngx_int_t
ngx_http_qbsync_sync_prepare(ngx_http_qbsync_sync_t *sync)
{
    size_t                         size;
    ngx_str_t                      query, body, request_id;
    ngx_pool_t                    *pool;
    ngx_http_qbsync_quickbooks_t  *qb;

    pool = sync->request->pool;
    qb = sync->conf->quickbooks;

    switch (sync->step) {

    case NGX_HTTP_QBSYNC_STEP_FIND_SKU:
    case NGX_HTTP_QBSYNC_STEP_FIND_NAME:

        size = sizeof("select * from Item where Name = '' and Active in "
                      "(true, false)") * 3
               + 6 * ngx_max(sync->name.len, sync->product_id.len);

        query.data = ngx_pnalloc(pool, size);
        if (query.data == NULL) {
            return NGX_ERROR;
        }

        query.len = (sync->step == NGX_HTTP_QBSYNC_STEP_FIND_SKU)
                    ? qbsync_item_query_by_sku((char *) sync->product_id.data,
                                               sync->product_id.len,
                                               (char *) query.data, size)
                    : qbsync_item_query_by_name((char *) sync->name.data,
                                                sync->name.len,
                                                (char *) query.data, size);
        if (query.len == 0) {
            return NGX_ERROR;
        }

        return ngx_http_qbsync_qbo_query(pool, qb, &sync->call, &query);

    case NGX_HTTP_QBSYNC_STEP_READ:
        return ngx_http_qbsync_qbo_read(pool, qb, &sync->call,
                                        &sync->item_id);

    default: /* CREATE, UPDATE */

        if (ngx_http_qbsync_sync_write_body(sync, &body, &request_id)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return ngx_http_qbsync_qbo_write(pool, qb, &sync->call, &body,
                                         &request_id);
    }
}


/*
 * Every write sends all the fields the product owns.  Two writes have
 * less to say: a deleted product (its id only) deactivates its item, and
 * a price event changes the price of the item last written.
 */

static ngx_int_t
ngx_http_qbsync_sync_write_body(ngx_http_qbsync_sync_t *sync,
    ngx_str_t *body, ngx_str_t *request_id)
{
    size_t                        size;
    const char                   *operation;
    ngx_pool_t                   *pool;
    qbsync_item_t                 item;
    ngx_http_qbsync_item_conf_t  *conf;

    pool = sync->request->pool;
    conf = sync->conf->item;

    ngx_memzero(&item, sizeof(qbsync_item_t));

    item.name = (char *) sync->name.data;
    item.name_len = sync->name.len;
    item.sku = (char *) sync->product_id.data;
    item.sku_len = sync->product_id.len;
    item.active = sync->active;

    if (!sync->deleting && !sync->price_only) {
        item.description = (char *) sync->description.data;
        item.description_len = sync->description.len;
        item.type = (char *) conf->type.data;
        item.income_account = (char *) conf->income_account.data;
        item.expense_account = (char *) conf->expense_account.data;
    }

    if (!sync->deleting && sync->unit_price.len) {
        item.unit_price = (char *) sync->unit_price.data;
        item.unit_price_len = sync->unit_price.len;
    }

    size = 1024 + 6 * (sync->name.len + sync->description.len
                       + sync->product_id.len);

    body->data = ngx_pnalloc(pool, size);
    request_id->data = ngx_pnalloc(pool, QBSYNC_ITEM_REQUEST_ID_MAX + 1);

    if (body->data == NULL || request_id->data == NULL) {
        return NGX_ERROR;
    }

    if (sync->step == NGX_HTTP_QBSYNC_STEP_CREATE) {
        operation = "create";
        body->len = qbsync_item_create_body(&item, body->data, size);

    } else {
        operation = "update";
        body->len = qbsync_item_update_body(&item,
                                            (char *) sync->item_id.data,
                                            sync->item_id.len,
                                            (char *) sync->sync_token.data,
                                            sync->sync_token.len,
                                            body->data, size);
    }

    if (body->len == 0) {
        return NGX_ERROR;
    }

    request_id->len = qbsync_item_request_id((char *) sync->ctx->key.id.data,
                                             sync->ctx->key.id.len,
                                             operation, body->data,
                                             body->len,
                                             (char *) request_id->data);

    return request_id->len ? NGX_OK : NGX_ERROR;
}


/* The item whose Sku is the product id, if QuickBooks has one. */

static ngx_int_t
ngx_http_qbsync_sync_found(ngx_http_qbsync_sync_t *sync)
{
    ngx_uint_t          i;
    qbsync_qbo_item_t  *item;

    if (sync->reply.fault) {
        return ngx_http_qbsync_sync_rejected(sync);
    }

    for (i = 0; i < sync->reply.nitems; i++) {
        item = &sync->reply.items[i];

        if (item->sku.len == sync->product_id.len
            && ngx_strncmp(item->sku.data, sync->product_id.data,
                           item->sku.len)
               == 0)
        {
            ngx_http_qbsync_sync_take(sync, item);

            if (sync->deleting) {
                sync->name = sync->found_name;
            }

            sync->step = NGX_HTTP_QBSYNC_STEP_UPDATE;
            return NGX_OK;
        }
    }

    if (sync->deleting) {
        /*
         * Deleted before any of its events made an item: the deletion is
         * remembered all the same, so that an older event arriving late
         * cannot create the item of a product that no longer exists.
         */
        ngx_http_qbsync_sync_remember(sync, 0);
        return ngx_http_qbsync_sync_done(sync, NGX_HTTP_QBSYNC_ACTION_IGNORED);
    }

    sync->step = NGX_HTTP_QBSYNC_STEP_FIND_NAME;

    return NGX_OK;
}


/*
 * An item already holds the name (QuickBooks compares names without
 * regard to case, inactive items included): one with no Sku is adopted,
 * one of another product leaves this one a suffixed name.
 */

static ngx_int_t
ngx_http_qbsync_sync_named(ngx_http_qbsync_sync_t *sync)
{
    ngx_uint_t          i;
    qbsync_qbo_item_t  *item;

    if (sync->reply.fault) {
        return ngx_http_qbsync_sync_rejected(sync);
    }

    for (i = 0; i < sync->reply.nitems; i++) {
        item = &sync->reply.items[i];

        if (item->name.len != sync->name.len
            || ngx_strncasecmp((u_char *) item->name.data, sync->name.data,
                               item->name.len)
               != 0)
        {
            continue;
        }

        if (item->sku.len == 0) {
            ngx_http_qbsync_sync_take(sync, item);
            sync->step = NGX_HTTP_QBSYNC_STEP_UPDATE;
            return NGX_OK;
        }

        if (ngx_http_qbsync_sync_suffix(sync) != NGX_OK) {
            return ngx_http_qbsync_sync_rejected(sync);
        }

        break;
    }

    sync->step = NGX_HTTP_QBSYNC_STEP_CREATE;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_sync_written(ngx_http_qbsync_sync_t *sync)
{
    ngx_uint_t                was_active;
    ngx_http_qbsync_action_e  action;

    if (sync->reply.fault) {

        switch (sync->reply.code) {

        case 5010:
            /* a stale SyncToken: read the item, write once more */
            if (!sync->retried_stale && sync->item_id.len) {
                sync->retried_stale = 1;
                sync->step = NGX_HTTP_QBSYNC_STEP_READ;
                return NGX_OK;
            }

            break;

        case 6240:
            /* the name is taken, by an item the query did not show yet */
            if (sync->step == NGX_HTTP_QBSYNC_STEP_CREATE
                && !sync->resolved_name)
            {
                sync->resolved_name = 1;
                sync->step = NGX_HTTP_QBSYNC_STEP_FIND_NAME;
                return NGX_OK;
            }

            /* a rename onto another item's name */
            if (sync->step == NGX_HTTP_QBSYNC_STEP_UPDATE && !sync->deleting
                && ngx_http_qbsync_sync_suffix(sync) == NGX_OK)
            {
                return NGX_OK;
            }

            break;

        case 610:
            /* the cached item is gone from QuickBooks: look it up again */
            if (sync->step == NGX_HTTP_QBSYNC_STEP_UPDATE
                && !sync->retried_missing)
            {
                sync->retried_missing = 1;
                ngx_str_null(&sync->item_id);
                sync->has_mapping = 0;
                sync->step = NGX_HTTP_QBSYNC_STEP_FIND_SKU;
                return NGX_OK;
            }

            break;
        }

        return ngx_http_qbsync_sync_rejected(sync);
    }

    if (sync->reply.nitems == 0) {
        return ngx_http_qbsync_sync_unavailable(sync, "gave no item");
    }

    was_active = sync->found_active;

    if (sync->step == NGX_HTTP_QBSYNC_STEP_CREATE) {
        action = NGX_HTTP_QBSYNC_ACTION_CREATED;

    } else if (was_active && !sync->active) {
        action = NGX_HTTP_QBSYNC_ACTION_DEACTIVATED;

    } else if (!was_active && sync->active) {
        action = NGX_HTTP_QBSYNC_ACTION_REACTIVATED;

    } else if (sync->deleting) {
        action = NGX_HTTP_QBSYNC_ACTION_UNCHANGED;

    } else {
        action = NGX_HTTP_QBSYNC_ACTION_UPDATED;
    }

    ngx_http_qbsync_sync_take(sync, &sync->reply.items[0]);
    ngx_http_qbsync_sync_remember(sync, 1);

    return ngx_http_qbsync_sync_done(sync, action);
}


/*
 * An item that got a suffix keeps it while the product keeps its name:
 * the name it would clash with is most likely still taken, and without
 * the suffix every write would meet fault 6240 first.  A renamed product
 * tries its plain name again.
 */

static ngx_int_t
ngx_http_qbsync_sync_keep_suffix(ngx_http_qbsync_sync_t *sync)
{
    ngx_str_t   plain;
    ngx_int_t   rc;

    plain = sync->name;

    rc = ngx_http_qbsync_sync_suffix(sync);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK
        || sync->name.len != sync->mapping.name_len
        || ngx_memcmp(sync->name.data, sync->mapping.name, sync->name.len)
           != 0)
    {
        sync->name = plain;
        sync->suffixed = 0;
    }

    return NGX_OK;
}


/* "<name> (<product id>)", still at most 100 code points; once only. */

static ngx_int_t
ngx_http_qbsync_sync_suffix(ngx_http_qbsync_sync_t *sync)
{
    u_char  *buf;

    if (sync->suffixed) {
        return NGX_DECLINED;
    }

    buf = ngx_pnalloc(sync->request->pool, QBSYNC_ITEM_NAME_SIZE);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    sync->name.len =
        qbsync_item_name_with_suffix((char *) sync->name.data,
                                     sync->name.len,
                                     (char *) sync->product_id.data,
                                     sync->product_id.len, (char *) buf,
                                     QBSYNC_ITEM_NAME_SIZE);
    sync->name.data = buf;
    sync->suffixed = 1;

    return sync->name.len ? NGX_OK : NGX_DECLINED;
}


static void
ngx_http_qbsync_sync_take(ngx_http_qbsync_sync_t *sync,
    qbsync_qbo_item_t *item)
{
    sync->item_id = ngx_http_qbsync_str(&item->id);
    sync->sync_token = ngx_http_qbsync_str(&item->sync_token);
    sync->found_name = ngx_http_qbsync_str(&item->name);
    sync->found_active = item->active;
}


/* What the zone keeps of the product after the event. */

static void
ngx_http_qbsync_sync_remember(ngx_http_qbsync_sync_t *sync,
    ngx_uint_t written)
{
    ngx_http_qbsync_mapping_t   *m;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = sync->conf;
    m = &sync->mapping;

    if (!sync->has_mapping) {
        ngx_memzero(m, sizeof(ngx_http_qbsync_mapping_t));
    }

    /* a deletion counts too: no older update may bring the item back */
    if (sync->event.kind == QBSYNC_STRIPE_PRODUCT) {
        m->product_created = ngx_max(m->product_created, sync->event.created);
    }

    if (sync->event.kind == QBSYNC_STRIPE_PRODUCT && !sync->deleting) {

        if (sync->product.default_price.len <= sizeof(m->default_price)) {
            m->default_price_len = (u_char) sync->product.default_price.len;
            ngx_memcpy(m->default_price, sync->product.default_price.data,
                       sync->product.default_price.len);
        }
    }

    if (written) {

        if (ngx_http_qbsync_mapping_item(m, &sync->item_id, &sync->sync_token,
                                         &sync->name, sync->active)
            != NGX_OK)
        {
            /* ids longer than QuickBooks uses: not cached, looked up */
            return;
        }

        if (!sync->deleting && !sync->price_only) {
            ngx_http_qbsync_mapping_content(m, qlcf->item->digest,
                                            &sync->description,
                                            sync->suffixed);
        }

        if (!sync->deleting) {
            ngx_http_qbsync_mapping_unit_price(m, &sync->unit_price);
        }
    }

    ngx_http_qbsync_mapping_store(qlcf, &sync->product_id, m,
                                  sync->request->connection->log);
}


static ngx_int_t
ngx_http_qbsync_sync_done(ngx_http_qbsync_sync_t *sync,
    ngx_http_qbsync_action_e action)
{
    sync->action = action;
    sync->status = NGX_HTTP_OK;
    sync->step = NGX_HTTP_QBSYNC_STEP_DONE;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_sync_fail(ngx_http_qbsync_sync_t *sync, ngx_uint_t status,
    const char *error, const char *message, time_t retry_after)
{
    sync->status = status;
    sync->error = error;
    sync->retry_after = retry_after;
    sync->step = NGX_HTTP_QBSYNC_STEP_DONE;

    /* the message may be a caller's buffer that is gone by the answer */
    if (ngx_http_qbsync_sync_copy(sync, &sync->message, message,
                                  ngx_strlen(message))
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * QuickBooks is down, slow, throttling or answering nonsense: Stripe
 * redelivers the event later.  Intuit's support asks for intuit_tid.
 */

static ngx_int_t
ngx_http_qbsync_sync_unavailable(ngx_http_qbsync_sync_t *sync,
    const char *what)
{
    time_t  retry_after;

    ngx_log_error(NGX_LOG_ERR, sync->request->connection->log, 0,
                  "qbsync: QuickBooks %s %ui for event \"%V\", "
                  "intuit_tid \"%V\"", what, sync->call.status,
                  &sync->ctx->key.id, &sync->call.intuit_tid);

    if (sync->call.status == NGX_HTTP_TOO_MANY_REQUESTS) {
        retry_after = sync->call.retry_after ? sync->call.retry_after
                                             : NGX_HTTP_QBSYNC_THROTTLED_RETRY;

    } else {
        retry_after = NGX_HTTP_QBSYNC_RETRY_AFTER;
    }

    return ngx_http_qbsync_sync_fail(sync, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "quickbooks_unavailable",
                                     "QuickBooks could not take the change "
                                     "now; retry later", retry_after);
}


/*
 * A call that failed for a reason that may pass (a 5xx, a 429, a timeout,
 * a reset: nginx's proxy answers those 502 or 504) goes again after the
 * wait qbsync_retry gives, while its attempts and the delivery's budget
 * last: NGX_AGAIN, the request sleeps on a timer.  Anything else, and a
 * call out of tries, is the caller's to answer: NGX_DECLINED.  A retried
 * write is the same request, so it carries the same requestid.
 */

static ngx_int_t
ngx_http_qbsync_sync_retry(ngx_http_qbsync_sync_t *sync, ngx_uint_t quickbooks)
{
    uint64_t                delay;
    ngx_uint_t              status;
    qbsync_retry_policy_t  *policy;

    status = sync->call.status;
    policy = sync->conf->retry;

    if (ngx_http_qbsync_call_retry(&sync->call, policy,
                                   sync->conf->limits->cooldown / 1000,
                                   sync->tries, sync->previous_delay,
                                   &sync->random,
                                   ngx_current_msec - sync->started, &delay)
        != NGX_OK)
    {
        if (status != 0 && status != NGX_HTTP_TOO_MANY_REQUESTS
            && status < NGX_HTTP_INTERNAL_SERVER_ERROR)
        {
            sync->tries = 0;
            sync->previous_delay = 0;
        }

        return NGX_DECLINED;
    }

    if (quickbooks) {
        ngx_log_error(NGX_LOG_ERR, sync->request->connection->log, 0,
                      "qbsync: QuickBooks %s %ui for event \"%V\", "
                      "intuit_tid \"%V\"; try %uD of %uD in %uL ms",
                      ngx_http_qbsync_sync_heard(&sync->call), status,
                      &sync->ctx->key.id, &sync->call.intuit_tid,
                      sync->tries + 1, policy->attempts, delay);

    } else {
        ngx_log_error(NGX_LOG_ERR, sync->request->connection->log, 0,
                      "qbsync: Stripe %s %ui for product \"%V\"; "
                      "try %uD of %uD in %uL ms",
                      ngx_http_qbsync_sync_heard(&sync->call), status,
                      &sync->product_id, sync->tries + 1, policy->attempts,
                      delay);
    }

    sync->previous_delay = delay;

    ngx_http_qbsync_count_retry(sync->conf->shm_zone);
    ngx_add_timer(&sync->retry_wait, (ngx_msec_t) delay);

    return NGX_AGAIN;
}


/* for the log: whether the status came from the peer or from nginx */

static const char *
ngx_http_qbsync_sync_heard(ngx_http_qbsync_call_t *call)
{
    return call->answered ? "answered" : "could not be reached:";
}


/*
 * Every call to QuickBooks waits for its slot with the realm's limiter,
 * on a timer, as long as the retry budget allows; past it, the event goes
 * back to Stripe with the limiter's own estimate as Retry-After.  NGX_OK:
 * the call may start; NGX_AGAIN: waiting; NGX_DONE: answered.
 */

static ngx_int_t
ngx_http_qbsync_sync_pace(ngx_http_qbsync_sync_t *sync)
{
    time_t                       retry_after;
    ngx_int_t                    rc;
    ngx_msec_t                   elapsed, budget, wait;
    ngx_http_qbsync_loc_conf_t  *conf;

    conf = sync->conf;
    elapsed = ngx_current_msec - sync->started;
    budget = (elapsed < conf->retry->budget)
             ? (ngx_msec_t) conf->retry->budget - elapsed : 0;

    rc = ngx_http_qbsync_limiter_acquire(sync->request, conf->shm_zone,
                                         conf->quickbooks->ns, conf->limits,
                                         1, 0, budget, &sync->pace, &wait);

    switch (rc) {

    case NGX_OK:
        return NGX_OK;

    case NGX_AGAIN:
        ngx_add_timer(&sync->retry_wait, wait);
        return NGX_AGAIN;

    case NGX_DECLINED:
        retry_after = (time_t) ((wait + 999) / 1000);

        ngx_log_error(NGX_LOG_WARN, sync->request->connection->log, 0,
                      "qbsync: the rate limit of realm \"%V\" leaves no "
                      "room for event \"%V\" within its budget; back to "
                      "Stripe for %T s", &conf->quickbooks->realm,
                      &sync->ctx->key.id, retry_after);

        if (ngx_http_qbsync_sync_fail(sync, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "quickbooks_rate_limited",
                                      "QuickBooks' rate limit leaves no room "
                                      "for this event now; retry later",
                                      retry_after > 0 ? retry_after : 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* answered: the step loop sees the sync done */
        return NGX_DONE;

    default:
        ngx_log_error(NGX_LOG_WARN, sync->request->connection->log, 0,
                      "qbsync_zone \"%V\" has no room for the rate limiter "
                      "of realm \"%V\"", &conf->shm_zone->shm.name,
                      &conf->quickbooks->realm);

        if (ngx_http_qbsync_sync_fail(sync, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "zone_full",
                                      "no room to pace the call to "
                                      "QuickBooks; retry later",
                                      NGX_HTTP_QBSYNC_RETRY_AFTER)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_DONE;
    }
}


static void
ngx_http_qbsync_sync_paced(ngx_http_qbsync_sync_t *sync)
{
    ngx_http_qbsync_limiter_done(sync->conf->shm_zone,
                                 sync->conf->quickbooks->ns,
                                 sync->conf->limits, &sync->pace,
                                 sync->call.answered ? sync->call.status : 0,
                                 sync->call.retry_after);
}


/* A fault no retry can fix: QuickBooks' own words, for the operator. */

static ngx_int_t
ngx_http_qbsync_sync_rejected(ngx_http_qbsync_sync_t *sync)
{
    u_char              *p;
    qbsync_qbo_reply_t  *reply;

    reply = &sync->reply;

    ngx_log_error(NGX_LOG_ERR, sync->request->connection->log, 0,
                  "qbsync: QuickBooks rejected the item of \"%V\" for event "
                  "\"%V\": fault %l %*s: %*s, intuit_tid \"%V\"",
                  &sync->product_id, &sync->ctx->key.id, reply->code,
                  reply->message.len, reply->message.data,
                  reply->detail.len, reply->detail.data,
                  &sync->call.intuit_tid);

    p = ngx_pnalloc(sync->request->pool,
                    reply->message.len + reply->detail.len + 64);
    if (p == NULL) {
        return NGX_ERROR;
    }

    sync->message.data = p;
    sync->message.len = ngx_sprintf(p, "QuickBooks fault %l: %*s%s%*s",
                                    reply->code, reply->message.len,
                                    reply->message.data,
                                    reply->detail.len ? ": " : "",
                                    reply->detail.len, reply->detail.data)
                        - p;

    sync->status = NGX_HTTP_QBSYNC_UNPROCESSABLE;
    sync->error = "quickbooks_rejected";
    sync->retry_after = 0;
    sync->step = NGX_HTTP_QBSYNC_STEP_DONE;

    return NGX_OK;
}


/* No retry can fix it: parked for an operator, with qbsync_dead_letter. */

void
ngx_http_qbsync_sync_settle(ngx_http_request_t *r,
    ngx_http_qbsync_sync_t *sync)
{
    ngx_int_t  rc;

    if (sync->status != NGX_HTTP_QBSYNC_UNPROCESSABLE) {
        return;
    }

    rc = ngx_http_qbsync_dead_letter_park(r, sync->ctx, &sync->product_id,
                                          sync->error, &sync->message);

    if (rc == NGX_OK) {
        sync->status = NGX_HTTP_OK;
        sync->action = NGX_HTTP_QBSYNC_ACTION_DEAD_LETTERED;
        sync->warning = sync->message;

    } else if (rc == NGX_ERROR) {
        sync->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        sync->error = "dead_letter_failed";
        ngx_str_set(&sync->message, "the event could not be parked as a "
                                    "dead letter; retry later");
        sync->retry_after = NGX_HTTP_QBSYNC_RETRY_AFTER;
    }
}


void
ngx_http_qbsync_sync_outcome(ngx_http_qbsync_sync_t *sync,
    ngx_uint_t *status, ngx_http_qbsync_action_e *action, ngx_str_t *error,
    ngx_str_t *message)
{
    *status = sync->status;
    *action = sync->action;

    if (sync->status == NGX_HTTP_OK || sync->error == NULL) {
        /* synced, or cut short before it was decided (status 0) */
        ngx_str_null(error);
        *message = sync->warning;
        return;
    }

    error->data = (u_char *) sync->error;
    error->len = ngx_strlen(sync->error);
    *message = sync->message;
}


void
ngx_http_qbsync_sync_detail(ngx_http_qbsync_sync_t *sync, ngx_str_t *product,
    ngx_str_t *item_id, ngx_uint_t *calls)
{
    *product = sync->product_id;
    *item_id = sync->item_id;
    *calls = sync->calls;
}


/*
 * 200 {"event", "action", "qb_item_id", "warning"} when the event is
 * synced, deliberately ignored, stale or recorded; the refusal otherwise.
 */

ngx_int_t
ngx_http_qbsync_sync_answer(ngx_http_request_t *r,
    ngx_http_qbsync_sync_t *sync)
{
    u_char                *body, *message;
    size_t                 len;
    const char            *action;
    qbsync_json_member_t   members[4];

    ngx_http_qbsync_sync_settle(r, sync);

    if (sync->status != NGX_HTTP_OK) {

        if (sync->retry_after
            && ngx_http_qbsync_set_retry_after(r, sync->retry_after)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        message = ngx_pnalloc(r->pool, sync->message.len + 1);
        if (message == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_cpystrn(message, sync->message.data, sync->message.len + 1);

        return ngx_http_qbsync_reply_error(r, sync->status, sync->error,
                                           (char *) message);
    }

    sync->ctx->action = sync->action;
    action = ngx_http_qbsync_action_name(sync->action);

    /* the mode warning has had its own line */
    if (sync->warning.len && sync->action != NGX_HTTP_QBSYNC_ACTION_IGNORED
        && sync->action != NGX_HTTP_QBSYNC_ACTION_DEAD_LETTERED)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "qbsync: event \"%V\" synced: %s%s%V, but %V",
                      &sync->ctx->key.id, action,
                      sync->item_id.len ? ", item " : "", &sync->item_id,
                      &sync->warning);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "qbsync: event \"%V\" synced: %s%s%V",
                      &sync->ctx->key.id, action,
                      sync->item_id.len ? ", item " : "", &sync->item_id);
    }

    ngx_memzero(members, sizeof(members));

    members[0].name = "event";
    members[0].value = (char *) sync->ctx->key.id.data;
    members[0].len = sync->ctx->key.id.len;

    members[1].name = "action";
    members[1].value = action;
    members[1].len = ngx_strlen(action);

    if (sync->item_id.len) {
        members[2].name = "qb_item_id";
        members[2].value = (char *) sync->item_id.data;
        members[2].len = sync->item_id.len;
    }

    if (sync->warning.len) {
        members[3].name = (sync->action == NGX_HTTP_QBSYNC_ACTION_DEAD_LETTERED)
                          ? "reason" : "warning";
        members[3].value = (char *) sync->warning.data;
        members[3].len = sync->warning.len;
    }

    body = ngx_pnalloc(r->pool, NGX_HTTP_QBSYNC_ANSWER_MAX);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = qbsync_json_object(body, NGX_HTTP_QBSYNC_ANSWER_MAX, members, 4);
    if (len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_qbsync_reply_json(r, NGX_HTTP_OK, body, len);
}


/* The end of the request: the product lock and the token refresh go. */

static void
ngx_http_qbsync_sync_cleanup(void *data)
{
    ngx_http_qbsync_sync_finish(data);
}


void
ngx_http_qbsync_sync_finish(ngx_http_qbsync_sync_t *sync)
{
    ngx_http_qbsync_oauth_finish(sync->request, &sync->oauth);

    if (sync->retry_wait.timer_set) {
        ngx_del_timer(&sync->retry_wait);
    }

    ngx_http_qbsync_sync_paced(sync);

    if (sync->holds_lock) {
        sync->holds_lock = 0;
        ngx_http_qbsync_key_release(sync->conf->shm_zone, &sync->lock,
                                    ngx_cycle->log);
    }
}


static ngx_str_t *
ngx_http_qbsync_sync_copy(ngx_http_qbsync_sync_t *sync, ngx_str_t *dst,
    const char *data, size_t len)
{
    dst->data = ngx_pnalloc(sync->request->pool, len);
    if (dst->data == NULL) {
        return NULL;
    }

    ngx_memcpy(dst->data, data, len);
    dst->len = len;

    return dst;
}


