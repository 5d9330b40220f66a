
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_DEADLETTER_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_DEADLETTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_gate.h"


/*
 * Parks an event that no retry can sync: a line in the dead-letter file,
 * written and fsync'd before Stripe hears 200, and the same in the zone
 * for the admin location.  NGX_DECLINED without qbsync_dead_letter.
 */
ngx_int_t ngx_http_qbsync_dead_letter_park(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_str_t *product, const char *error,
    ngx_str_t *reason);

/* At start, a new zone learns the dead letters not yet resolved. */
ngx_int_t ngx_http_qbsync_dead_letter_load(ngx_shm_zone_t *shm_zone,
    ngx_str_t *path, ngx_log_t *log);

ngx_int_t ngx_http_qbsync_dead_letter_admin_handler(ngx_http_request_t *r);

/* the letters waiting in the zone */
ngx_uint_t ngx_http_qbsync_dead_letter_count(ngx_shm_zone_t *shm_zone);


#endif /* _NGX_HTTP_QBSYNC_DEADLETTER_H_INCLUDED_ */
