
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_trace.h"
#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_call.h"
#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_metrics.h"
#include "qbsync_yajl.h"


/* OTLP's SpanKind and StatusCode */
#define NGX_HTTP_QBSYNC_SPAN_INTERNAL  1
#define NGX_HTTP_QBSYNC_SPAN_SERVER    2
#define NGX_HTTP_QBSYNC_SPAN_CLIENT    3
#define NGX_HTTP_QBSYNC_STATUS_OK      1
#define NGX_HTTP_QBSYNC_STATUS_ERROR   2

#define NGX_HTTP_QBSYNC_TRACE_SPAN     512


static int ngx_http_qbsync_trace_span(yajl_gen gen, u_char *trace_id,
    u_char *span_id, u_char *parent_id, const char *name, size_t len,
    ngx_uint_t kind, uint64_t start_ns, uint64_t end_ns, ngx_uint_t status);
static int ngx_http_qbsync_trace_member(yajl_gen gen, const char *key,
    u_char *value, size_t len);


void
ngx_http_qbsync_trace_export(ngx_http_request_t *r, ngx_uint_t status)
{
    int                          ok;
    size_t                       size;
    ngx_uint_t                   i, n;
    yajl_gen                     gen;
    qbsync_yajl_out_t            out;
    ngx_http_qbsync_ctx_t       *ctx;
    ngx_http_qbsync_span_t      *spans;
    ngx_http_qbsync_call_t      *call;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);
    ctx = ngx_http_qbsync_get_ctx(r);

    if (qlcf->trace_export.len == 0 || ctx == NULL) {
        return;
    }

    n = ctx->spans ? ctx->spans->nelts : 0;
    spans = ctx->spans ? ctx->spans->elts : NULL;

    call = ngx_pcalloc(r->pool, sizeof(ngx_http_qbsync_call_t));
    size = 1024 + (n + 1) * NGX_HTTP_QBSYNC_TRACE_SPAN
           + r->uri.len * 6;

    call->body.data = ngx_pnalloc(r->pool, size);

    if (call == NULL || call->body.data == NULL) {
        return;
    }

    gen = qbsync_yajl_gen(&out, call->body.data, size);
    if (gen == NULL) {
        return;
    }

    /*
     * {"resourceSpans":[{"resource":{"attributes":[service.name]},
     *   "scopeSpans":[{"scope":{"name"},"spans":[...]}]}]}
     */
    ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
         && yajl_gen_string(gen, (u_char *) "resourceSpans", 13)
            == yajl_gen_status_ok
         && yajl_gen_array_open(gen) == yajl_gen_status_ok
         && yajl_gen_map_open(gen) == yajl_gen_status_ok
         && yajl_gen_string(gen, (u_char *) "resource", 8)
            == yajl_gen_status_ok
         && yajl_gen_map_open(gen) == yajl_gen_status_ok
         && yajl_gen_string(gen, (u_char *) "attributes", 10)
            == yajl_gen_status_ok
         && yajl_gen_array_open(gen) == yajl_gen_status_ok
         && yajl_gen_map_open(gen) == yajl_gen_status_ok
         && ngx_http_qbsync_trace_member(gen, "key",
                                         (u_char *) "service.name", 12)
         && yajl_gen_string(gen, (u_char *) "value", 5) == yajl_gen_status_ok
         && yajl_gen_map_open(gen) == yajl_gen_status_ok
         && ngx_http_qbsync_trace_member(gen, "stringValue",
                                         (u_char *) "qbsync", 6)
         && yajl_gen_map_close(gen) == yajl_gen_status_ok
         && yajl_gen_map_close(gen) == yajl_gen_status_ok
         && yajl_gen_array_close(gen) == yajl_gen_status_ok
         && yajl_gen_map_close(gen) == yajl_gen_status_ok
         && yajl_gen_string(gen, (u_char *) "scopeSpans", 10)
            == yajl_gen_status_ok
         && yajl_gen_array_open(gen) == yajl_gen_status_ok
         && yajl_gen_map_open(gen) == yajl_gen_status_ok
         && yajl_gen_string(gen, (u_char *) "scope", 5) == yajl_gen_status_ok
         && yajl_gen_map_open(gen) == yajl_gen_status_ok
         && ngx_http_qbsync_trace_member(gen, "name",
                                         (u_char *) "ngx_http_qbsync_module",
                                         22)
         && yajl_gen_map_close(gen) == yajl_gen_status_ok
         && yajl_gen_string(gen, (u_char *) "spans", 5) == yajl_gen_status_ok
         && yajl_gen_array_open(gen) == yajl_gen_status_ok

         /* the request itself: the stages and calls are its children */
         && ngx_http_qbsync_trace_span(gen, ctx->trace_id, ctx->span_id,
                                       ctx->has_parent ? ctx->parent_id
                                                       : NULL,
                                       (char *) r->uri.data, r->uri.len,
                                       NGX_HTTP_QBSYNC_SPAN_SERVER,
                                       ctx->started_ns,
                                       ngx_http_qbsync_now_ns(), status);

    for (i = 0; ok && i < n; i++) {
        ok = ngx_http_qbsync_trace_span(gen, ctx->trace_id, spans[i].span_id,
                                        ctx->span_id, spans[i].name,
                                        ngx_strlen(spans[i].name),
                                        spans[i].client
                                        ? NGX_HTTP_QBSYNC_SPAN_CLIENT
                                        : NGX_HTTP_QBSYNC_SPAN_INTERNAL,
                                        spans[i].start_ns, spans[i].end_ns,
                                        spans[i].status);
    }

    ok = ok && yajl_gen_array_close(gen) == yajl_gen_status_ok
         && yajl_gen_map_close(gen) == yajl_gen_status_ok
         && yajl_gen_array_close(gen) == yajl_gen_status_ok
         && yajl_gen_map_close(gen) == yajl_gen_status_ok
         && yajl_gen_array_close(gen) == yajl_gen_status_ok
         && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    call->body.len = qbsync_yajl_done(gen, &out, ok);

    if (call->body.len == 0) {
        return;
    }

    call->method = NGX_HTTP_POST;
    call->uri = qlcf->trace_export;
    ngx_str_set(&call->content_type, "application/json");

    if (ngx_http_qbsync_call_background(r, call) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "qbsync: the trace of \"%V\" could not be exported",
                      &r->uri);
    }
}


/*
 * {"traceId","spanId","parentSpanId","name","kind","startTimeUnixNano",
 *  "endTimeUnixNano","attributes":[http.response.status_code],"status"}
 */

static int
ngx_http_qbsync_trace_span(yajl_gen gen, u_char *trace_id, u_char *span_id,
    u_char *parent_id, const char *name, size_t len, ngx_uint_t kind,
    uint64_t start_ns, uint64_t end_ns, ngx_uint_t status)
{
    int      ok;
    u_char  *last, number[NGX_INT64_LEN];

    ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
         && ngx_http_qbsync_trace_member(gen, "traceId", trace_id, 32)
         && ngx_http_qbsync_trace_member(gen, "spanId", span_id, 16)
         && (parent_id == NULL
             || ngx_http_qbsync_trace_member(gen, "parentSpanId", parent_id,
                                             16))
         && ngx_http_qbsync_trace_member(gen, "name", (u_char *) name, len)
         && yajl_gen_string(gen, (u_char *) "kind", 4) == yajl_gen_status_ok
         && yajl_gen_integer(gen, kind) == yajl_gen_status_ok;

    /* OTLP/JSON writes 64-bit numbers as strings */
    last = ngx_sprintf(number, "%uL", start_ns);
    ok = ok && ngx_http_qbsync_trace_member(gen, "startTimeUnixNano", number,
                                            last - number);

    last = ngx_sprintf(number, "%uL", ngx_max(end_ns, start_ns));
    ok = ok && ngx_http_qbsync_trace_member(gen, "endTimeUnixNano", number,
                                            last - number);

    if (ok && status) {
        last = ngx_sprintf(number, "%ui", status);

        ok = yajl_gen_string(gen, (u_char *) "attributes", 10)
                 == yajl_gen_status_ok
             && yajl_gen_array_open(gen) == yajl_gen_status_ok
             && yajl_gen_map_open(gen) == yajl_gen_status_ok
             && ngx_http_qbsync_trace_member(gen, "key",
                                      (u_char *) "http.response.status_code",
                                      25)
             && yajl_gen_string(gen, (u_char *) "value", 5)
                == yajl_gen_status_ok
             && yajl_gen_map_open(gen) == yajl_gen_status_ok
             && ngx_http_qbsync_trace_member(gen, "intValue", number,
                                             last - number)
             && yajl_gen_map_close(gen) == yajl_gen_status_ok
             && yajl_gen_map_close(gen) == yajl_gen_status_ok
             && yajl_gen_array_close(gen) == yajl_gen_status_ok
             && yajl_gen_string(gen, (u_char *) "status", 6)
                == yajl_gen_status_ok
             && yajl_gen_map_open(gen) == yajl_gen_status_ok
             && yajl_gen_string(gen, (u_char *) "code", 4)
                == yajl_gen_status_ok
             && yajl_gen_integer(gen, (status >= 500 || status == 0)
                                      ? NGX_HTTP_QBSYNC_STATUS_ERROR
                                      : NGX_HTTP_QBSYNC_STATUS_OK)
                == yajl_gen_status_ok
             && yajl_gen_map_close(gen) == yajl_gen_status_ok;
    }

    return ok && yajl_gen_map_close(gen) == yajl_gen_status_ok;
}


static int
ngx_http_qbsync_trace_member(yajl_gen gen, const char *key, u_char *value,
    size_t len)
{
    return yajl_gen_string(gen, (u_char *) key, ngx_strlen(key))
               == yajl_gen_status_ok
           && yajl_gen_string(gen, value, len) == yajl_gen_status_ok;
}
