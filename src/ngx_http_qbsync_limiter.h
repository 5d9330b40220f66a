
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_LIMITER_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_LIMITER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "qbsync_limiter.h"


/* A request's place with a realm's limiter: a reserved slot, a lease. */
typedef struct {
    uint64_t                     slot;
    uint64_t                     ticket;
    uint64_t                     asked;       /* us, for the queue's wait */
    unsigned                     leased:1;
} ngx_http_qbsync_pace_t;


/*
 * NGX_OK: the call may start (it holds a lease until _done), its wait
 * counted in the metrics and r's trace; NGX_AGAIN:
 * wait *wait ms and ask again; NGX_DECLINED: not within budget ms, come
 * back in *wait ms; NGX_ERROR: the zone has no room for the limiter.
 */
ngx_int_t ngx_http_qbsync_limiter_acquire(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, uint32_t ns, qbsync_limits_t *limits,
    uint32_t entries, ngx_uint_t batch, ngx_msec_t budget,
    ngx_http_qbsync_pace_t *pace, ngx_msec_t *wait);

/*
 * The call ended with status (0 when it never got an answer): the lease
 * goes back, a 429 slows the realm down, an answer speeds it back up.
 */
void ngx_http_qbsync_limiter_done(ngx_shm_zone_t *shm_zone, uint32_t ns,
    qbsync_limits_t *limits, ngx_http_qbsync_pace_t *pace, ngx_uint_t status,
    time_t retry_after);


void ngx_http_qbsync_limiter_state(ngx_shm_zone_t *shm_zone, uint32_t ns,
    qbsync_limits_t *limits, qbsync_limiter_t *limiter);


#endif /* _NGX_HTTP_QBSYNC_LIMITER_H_INCLUDED_ */
