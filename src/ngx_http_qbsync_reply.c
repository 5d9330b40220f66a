
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_reply.h"
#include "qbsync_json.h"


/* a code, a fixed message or one of the event parser's, and the quoting */
#define NGX_HTTP_QBSYNC_ERROR_BODY_MAX  1024


ngx_int_t
ngx_http_qbsync_reply_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    ngx_str_t  type;

    ngx_str_set(&type, "application/json");

    return ngx_http_qbsync_reply(r, status, &type, body, len);
}


ngx_int_t
ngx_http_qbsync_reply(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (status == 422) {
        /* nginx knows no reason phrase for it */
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Entity");
    }

    r->headers_out.content_type = *content_type;
    r->headers_out.content_type_len = content_type->len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_qbsync_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    u_char  *body;
    size_t   len;

    body = ngx_pnalloc(r->pool, NGX_HTTP_QBSYNC_ERROR_BODY_MAX);
    if (body == NULL) {
        return NGX_ERROR;
    }

    len = qbsync_json_error(body, NGX_HTTP_QBSYNC_ERROR_BODY_MAX, code,
                            message);
    if (len == 0) {
        return NGX_ERROR;
    }

    return ngx_http_qbsync_reply_json(r, status, body, len);
}


ngx_int_t
ngx_http_qbsync_set_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *name;
    h->value = *value;

    return NGX_OK;
}


ngx_int_t
ngx_http_qbsync_set_retry_after(ngx_http_request_t *r, time_t seconds)
{
    u_char     *p;
    ngx_str_t   name, value;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, "Retry-After");

    value.data = p;
    value.len = ngx_sprintf(p, "%T", seconds) - p;

    return ngx_http_qbsync_set_header(r, &name, &value);
}
