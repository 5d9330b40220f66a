
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_QBO_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_QBO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_call.h"


/*
 * The calls of the sync, ready for ngx_http_qbsync_call_start(): the
 * QuickBooks Accounting API under qbsync_quickbooks' internal location,
 * and Stripe's product API under qbsync_stripe's.
 */

ngx_int_t ngx_http_qbsync_qbo_query(ngx_pool_t *pool,
    ngx_http_qbsync_quickbooks_t *qb, ngx_http_qbsync_call_t *call,
    ngx_str_t *query);
ngx_int_t ngx_http_qbsync_qbo_write(ngx_pool_t *pool,
    ngx_http_qbsync_quickbooks_t *qb, ngx_http_qbsync_call_t *call,
    ngx_str_t *body, ngx_str_t *request_id);
ngx_int_t ngx_http_qbsync_qbo_batch(ngx_pool_t *pool,
    ngx_http_qbsync_quickbooks_t *qb, ngx_http_qbsync_call_t *call,
    ngx_str_t *body, ngx_str_t *request_id);
ngx_int_t ngx_http_qbsync_qbo_read(ngx_pool_t *pool,
    ngx_http_qbsync_quickbooks_t *qb, ngx_http_qbsync_call_t *call,
    ngx_str_t *item_id);
ngx_int_t ngx_http_qbsync_stripe_product(ngx_pool_t *pool,
    ngx_http_qbsync_stripe_t *stripe, ngx_http_qbsync_call_t *call,
    ngx_str_t *product_id);


#endif /* _NGX_HTTP_QBSYNC_QBO_H_INCLUDED_ */
