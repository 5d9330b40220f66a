
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_OAUTH_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_OAUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_zone.h"
#include "ngx_http_qbsync_call.h"


/* What one request needs to get a QuickBooks access token. */
typedef struct {
    ngx_http_qbsync_oauth_t     *oauth;
    ngx_shm_zone_t              *shm_zone;

    ngx_http_qbsync_call_t       refresh;
    ngx_http_qbsync_key_t        lock;

    /* polls the zone while another worker refreshes */
    ngx_event_t                  wait;
    ngx_msec_t                   waited;

    ngx_str_t                    authorization;    /* Bearer token */
    uint32_t                     generation;       /* of that token */
    time_t                       retry_after;

    unsigned                     refreshing:1;
    unsigned                     holds_lock:1;
} ngx_http_qbsync_oauth_ctx_t;


ngx_int_t ngx_http_qbsync_oauth_check_file(ngx_cycle_t *cycle, ngx_log_t *log,
    ngx_str_t *path);
ngx_int_t ngx_http_qbsync_check_file(ngx_cycle_t *cycle, ngx_log_t *log,
    ngx_str_t *path, const char *what, const char *why,
    ngx_uint_t may_be_missing);

void ngx_http_qbsync_oauth_init(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx, ngx_http_qbsync_oauth_t *oauth,
    ngx_shm_zone_t *shm_zone);
ngx_int_t ngx_http_qbsync_oauth_token(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx);
void ngx_http_qbsync_oauth_rejected(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx);
void ngx_http_qbsync_oauth_finish(ngx_http_request_t *r,
    ngx_http_qbsync_oauth_ctx_t *octx);


void ngx_http_qbsync_oauth_state(ngx_shm_zone_t *shm_zone,
    ngx_str_t *token_file, time_t *expires_at, time_t *refresh_expires_at,
    ngx_uint_t *reauthorize);


#endif /* _NGX_HTTP_QBSYNC_OAUTH_H_INCLUDED_ */
