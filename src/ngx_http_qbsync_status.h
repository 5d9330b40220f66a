
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_STATUS_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * qbsync_health: ok, degraded (200) or down (503), component by
 * component, after refreshing the QuickBooks token when it is due;
 * qbsync_status: the same, with the counters, the stages, the slow ones,
 * the last events and the configuration without its secrets.
 */
ngx_int_t ngx_http_qbsync_health_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_qbsync_status_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_QBSYNC_STATUS_H_INCLUDED_ */
