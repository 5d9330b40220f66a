
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_WEBHOOK_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_WEBHOOK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_qbsync_webhook_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_QBSYNC_WEBHOOK_H_INCLUDED_ */
