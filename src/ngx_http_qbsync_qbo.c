
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_qbo.h"
#include "ngx_http_qbsync_metrics.h"


static ngx_int_t ngx_http_qbsync_qbo_post(ngx_pool_t *pool,
    ngx_http_qbsync_quickbooks_t *qb, ngx_http_qbsync_call_t *call,
    const char *path, ngx_str_t *body, ngx_str_t *request_id,
    ngx_uint_t operation);
static ngx_int_t ngx_http_qbsync_qbo_uri(ngx_pool_t *pool,
    ngx_http_qbsync_quickbooks_t *qb, ngx_str_t *uri, const char *path,
    ngx_str_t *id);


ngx_int_t
ngx_http_qbsync_qbo_query(ngx_pool_t *pool, ngx_http_qbsync_quickbooks_t *qb,
    ngx_http_qbsync_call_t *call, ngx_str_t *query)
{
    ngx_memzero(call, sizeof(ngx_http_qbsync_call_t));

    call->method = NGX_HTTP_GET;
    call->operation = NGX_HTTP_QBSYNC_OP_QUERY;

    if (ngx_http_qbsync_qbo_uri(pool, qb, &call->uri, "/query", NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    call->args.len = sizeof("query=&minorversion=") - 1 + query->len
                     + qb->minorversion.len;
    call->args.data = ngx_pnalloc(pool, call->args.len);
    if (call->args.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(call->args.data, "query=%V&minorversion=%V", query,
                &qb->minorversion);

    return NGX_OK;
}


/*
 * Create and update share the endpoint; the requestid makes a retried
 * write answer QuickBooks' first result instead of writing twice.
 */

ngx_int_t
ngx_http_qbsync_qbo_write(ngx_pool_t *pool, ngx_http_qbsync_quickbooks_t *qb,
    ngx_http_qbsync_call_t *call, ngx_str_t *body, ngx_str_t *request_id)
{
    /* the requestid says which: "create-..." or "update-..." */
    return ngx_http_qbsync_qbo_post(pool, qb, call, "/item", body,
                                    request_id,
                                    (request_id->len && request_id->data[0]
                                                        == 'c')
                                    ? NGX_HTTP_QBSYNC_OP_CREATE
                                    : NGX_HTTP_QBSYNC_OP_UPDATE);
}


ngx_int_t
ngx_http_qbsync_qbo_batch(ngx_pool_t *pool, ngx_http_qbsync_quickbooks_t *qb,
    ngx_http_qbsync_call_t *call, ngx_str_t *body, ngx_str_t *request_id)
{
    return ngx_http_qbsync_qbo_post(pool, qb, call, "/batch", body,
                                    request_id, NGX_HTTP_QBSYNC_OP_BATCH);
}


static ngx_int_t
ngx_http_qbsync_qbo_post(ngx_pool_t *pool, ngx_http_qbsync_quickbooks_t *qb,
    ngx_http_qbsync_call_t *call, const char *path, ngx_str_t *body,
    ngx_str_t *request_id, ngx_uint_t operation)
{
    ngx_memzero(call, sizeof(ngx_http_qbsync_call_t));

    call->method = NGX_HTTP_POST;
    call->operation = operation;
    call->body = *body;
    ngx_str_set(&call->content_type, "application/json");

    if (ngx_http_qbsync_qbo_uri(pool, qb, &call->uri, path, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    call->args.len = sizeof("minorversion=&requestid=") - 1
                     + qb->minorversion.len + request_id->len;
    call->args.data = ngx_pnalloc(pool, call->args.len);
    if (call->args.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(call->args.data, "minorversion=%V&requestid=%V",
                &qb->minorversion, request_id);

    return NGX_OK;
}


ngx_int_t
ngx_http_qbsync_qbo_read(ngx_pool_t *pool, ngx_http_qbsync_quickbooks_t *qb,
    ngx_http_qbsync_call_t *call, ngx_str_t *item_id)
{
    ngx_memzero(call, sizeof(ngx_http_qbsync_call_t));

    call->method = NGX_HTTP_GET;
    call->operation = NGX_HTTP_QBSYNC_OP_READ;

    if (ngx_http_qbsync_qbo_uri(pool, qb, &call->uri, "/item/", item_id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    call->args.len = sizeof("minorversion=") - 1 + qb->minorversion.len;
    call->args.data = ngx_pnalloc(pool, call->args.len);
    if (call->args.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(call->args.data, "minorversion=%V", &qb->minorversion);

    return NGX_OK;
}


/* GET /v1/products/{id}?expand[]=default_price */

ngx_int_t
ngx_http_qbsync_stripe_product(ngx_pool_t *pool,
    ngx_http_qbsync_stripe_t *stripe, ngx_http_qbsync_call_t *call,
    ngx_str_t *product_id)
{
    u_char  *p;

    ngx_memzero(call, sizeof(ngx_http_qbsync_call_t));

    call->method = NGX_HTTP_GET;
    call->operation = NGX_HTTP_QBSYNC_OP_STRIPE_PRODUCT;
    call->authorization = stripe->authorization;
    ngx_str_set(&call->args, "expand%5B%5D=default_price");

    call->uri.len = stripe->prefix.len + sizeof("/v1/products/") - 1
                    + 3 * product_id->len;
    call->uri.data = ngx_pnalloc(pool, call->uri.len);
    if (call->uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(call->uri.data, "%V/v1/products/", &stripe->prefix);
    p = (u_char *) ngx_escape_uri(p, product_id->data, product_id->len,
                                  NGX_ESCAPE_URI_COMPONENT);

    call->uri.len = p - call->uri.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_qbo_uri(ngx_pool_t *pool, ngx_http_qbsync_quickbooks_t *qb,
    ngx_str_t *uri, const char *path, ngx_str_t *id)
{
    u_char  *p;
    size_t   len;

    len = qb->prefix.len + sizeof("/v3/company/") - 1 + qb->realm.len
          + ngx_strlen(path) + (id ? id->len : 0);

    uri->data = ngx_pnalloc(pool, len);
    if (uri->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(uri->data, "%V/v3/company/%V%s", &qb->prefix, &qb->realm,
                    path);

    if (id) {
        p = ngx_cpymem(p, id->data, id->len);
    }

    uri->len = p - uri->data;

    return NGX_OK;
}
