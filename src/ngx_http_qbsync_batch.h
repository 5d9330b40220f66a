
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_BATCH_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_BATCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * qbsync_batch: a whole catalog (one Stripe product per NDJSON line) into
 * QuickBooks through its batch API, answered line by line as it goes.
 */
ngx_int_t ngx_http_qbsync_batch_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_QBSYNC_BATCH_H_INCLUDED_ */
