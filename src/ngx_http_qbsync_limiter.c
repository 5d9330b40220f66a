
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_limiter.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_zone.h"


typedef struct {
    qbsync_limits_t             *limits;
    ngx_http_qbsync_pace_t      *pace;
    uint64_t                     now;
    uint64_t                     budget;
    uint64_t                     wait;
    uint32_t                     entries;
    ngx_uint_t                   batch;
    ngx_uint_t                   status;
    uint64_t                     retry_after;
} ngx_http_qbsync_limiter_call_t;


static ngx_int_t ngx_http_qbsync_limiter_ask(void *value, void *data);
static ngx_int_t ngx_http_qbsync_limiter_end(void *value, void *data);
static ngx_int_t ngx_http_qbsync_limiter_update(ngx_shm_zone_t *shm_zone,
    uint32_t ns, ngx_http_qbsync_update_pt update,
    ngx_http_qbsync_limiter_call_t *call);


static ngx_str_t  ngx_http_qbsync_limiter_key = ngx_string("limiter");


ngx_int_t
ngx_http_qbsync_limiter_acquire(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, uint32_t ns,
    qbsync_limits_t *limits, uint32_t entries, ngx_uint_t batch,
    ngx_msec_t budget, ngx_http_qbsync_pace_t *pace, ngx_msec_t *wait)
{
    uint64_t                        now, us;
    ngx_int_t                       rc;
    ngx_http_qbsync_limiter_call_t  call;

    ngx_memzero(&call, sizeof(ngx_http_qbsync_limiter_call_t));

    call.limits = limits;
    call.pace = pace;
    call.budget = (uint64_t) budget * 1000;
    call.entries = entries;
    call.batch = batch;

    if (pace->slot == 0) {
        pace->asked = ngx_http_qbsync_now_us();
    }

    rc = ngx_http_qbsync_limiter_update(shm_zone, ns,
                                        ngx_http_qbsync_limiter_ask, &call);

    if (rc == NGX_OK) {
        now = ngx_http_qbsync_now_us();
        us = (now > pace->asked) ? now - pace->asked : 0;

        ngx_http_qbsync_observe(shm_zone, NGX_HTTP_QBSYNC_STAGE_QUEUE_WAIT,
                                us);
        ngx_http_qbsync_span_add(r, "queue_wait", us, NULL, 0);
    }

    /* timers count whole milliseconds: never wake before the slot */
    *wait = (ngx_msec_t) ((call.wait + 999) / 1000);

    return rc;
}


void
ngx_http_qbsync_limiter_done(ngx_shm_zone_t *shm_zone, uint32_t ns,
    qbsync_limits_t *limits, ngx_http_qbsync_pace_t *pace, ngx_uint_t status,
    time_t retry_after)
{
    ngx_http_qbsync_limiter_call_t  call;

    if (!pace->leased) {
        return;
    }

    ngx_memzero(&call, sizeof(ngx_http_qbsync_limiter_call_t));

    call.limits = limits;
    call.pace = pace;
    call.status = status;
    call.retry_after = (uint64_t) retry_after * 1000000;

    (void) ngx_http_qbsync_limiter_update(shm_zone, ns,
                                          ngx_http_qbsync_limiter_end, &call);

    pace->leased = 0;
    pace->slot = 0;
    pace->ticket = 0;
}


static ngx_int_t
ngx_http_qbsync_limiter_update(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_http_qbsync_update_pt update, ngx_http_qbsync_limiter_call_t *call)
{
    qbsync_limiter_t  limiter;

    /*
     * The monotonic clock, one for every worker of the machine.  A worker's
     * cached reading lags a little at most: it can only make a call wait
     * longer than its slot, never start it early.
     */
    call->now = (uint64_t) ngx_current_msec * 1000;

    return ngx_http_qbsync_record_update(shm_zone, ns,
                                         &ngx_http_qbsync_limiter_key,
                                         &limiter, sizeof(qbsync_limiter_t),
                                         update, call);
}


static ngx_int_t
ngx_http_qbsync_limiter_ask(void *value, void *data)
{
    qbsync_limiter_t                *limiter = value;
    ngx_http_qbsync_limiter_call_t  *call = data;

    switch (qbsync_limiter_acquire(limiter, call->limits, call->now,
                                   call->entries, call->batch != 0,
                                   call->budget, &call->pace->slot,
                                   &call->wait, &call->pace->ticket))
    {
    case QBSYNC_LIMITER_GO:
        call->pace->leased = 1;
        return NGX_OK;

    case QBSYNC_LIMITER_WAIT:
        return NGX_AGAIN;

    default: /* QBSYNC_LIMITER_REFUSED */
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_qbsync_limiter_end(void *value, void *data)
{
    qbsync_limiter_t                *limiter = value;
    ngx_http_qbsync_limiter_call_t  *call = data;

    qbsync_limiter_release(limiter, call->pace->ticket);

    if (call->status == NGX_HTTP_TOO_MANY_REQUESTS) {
        qbsync_limiter_throttled(limiter, call->limits, call->now,
                                 call->retry_after);

    } else if (call->status != 0) {
        qbsync_limiter_success(limiter, call->limits);
    }

    return NGX_OK;
}


/* A copy of a realm's limiter as it is, for the metrics. */

void
ngx_http_qbsync_limiter_state(ngx_shm_zone_t *shm_zone, uint32_t ns,
    qbsync_limits_t *limits, qbsync_limiter_t *limiter)
{
    if (ngx_http_qbsync_record_get(shm_zone, ns, &ngx_http_qbsync_limiter_key,
                                   limiter, sizeof(qbsync_limiter_t))
        != NGX_OK)
    {
        ngx_memzero(limiter, sizeof(qbsync_limiter_t));
    }

    /* a fresh limiter runs at the full rate */
    if (limiter->rate == 0) {
        limiter->rate = limits->per_minute;
    }
}
