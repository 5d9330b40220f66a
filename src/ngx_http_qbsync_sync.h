
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_SYNC_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_SYNC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qbsync_gate.h"


/*
 * The sync of one verified, first-time event to QuickBooks.  Start and
 * resume return NGX_AGAIN while a call is under way (the request's write
 * event handler resumes it) and NGX_OK once the answer is decided;
 * ngx_http_qbsync_sync_answer() then sends it.
 */

ngx_int_t ngx_http_qbsync_sync_start(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_http_qbsync_loc_conf_t *qlcf);
ngx_int_t ngx_http_qbsync_sync_resume(ngx_http_request_t *r,
    ngx_http_qbsync_sync_t *sync);
ngx_int_t ngx_http_qbsync_sync_answer(ngx_http_request_t *r,
    ngx_http_qbsync_sync_t *sync);

/*
 * For the dead-letter admin, which replays several events in one request:
 * the outcome once decided (a permanent failure parked again, with
 * qbsync_dead_letter), and the end of a sync before its request ends
 * (its product lock, its token wait, its limiter lease go).
 */
void ngx_http_qbsync_sync_settle(ngx_http_request_t *r,
    ngx_http_qbsync_sync_t *sync);
void ngx_http_qbsync_sync_outcome(ngx_http_qbsync_sync_t *sync,
    ngx_uint_t *status, ngx_http_qbsync_action_e *action, ngx_str_t *error,
    ngx_str_t *message);
void ngx_http_qbsync_sync_finish(ngx_http_qbsync_sync_t *sync);

/* for the events: the product, its item, the calls made (retries too) */
void ngx_http_qbsync_sync_detail(ngx_http_qbsync_sync_t *sync,
    ngx_str_t *product, ngx_str_t *item_id, ngx_uint_t *calls);


#endif /* _NGX_HTTP_QBSYNC_SYNC_H_INCLUDED_ */
