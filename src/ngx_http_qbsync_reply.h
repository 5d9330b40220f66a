
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_REPLY_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_REPLY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_qbsync_reply(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, u_char *body, size_t len);
ngx_int_t ngx_http_qbsync_reply_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);
ngx_int_t ngx_http_qbsync_reply_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
ngx_int_t ngx_http_qbsync_set_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);
ngx_int_t ngx_http_qbsync_set_retry_after(ngx_http_request_t *r,
    time_t seconds);


#endif /* _NGX_HTTP_QBSYNC_REPLY_H_INCLUDED_ */
