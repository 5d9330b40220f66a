
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_TRACE_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_TRACE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * qbsync_trace_export: the request's trace (its span, its stages' and its
 * calls') as one OTLP/HTTP JSON export, a background subrequest started
 * just before the answer with this status is sent.
 */
void ngx_http_qbsync_trace_export(ngx_http_request_t *r, ngx_uint_t status);


#endif /* _NGX_HTTP_QBSYNC_TRACE_H_INCLUDED_ */
