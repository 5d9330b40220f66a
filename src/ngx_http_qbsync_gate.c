
/*
 * Copyright (C) qbsync authors
 */


#include <openssl/rand.h>

#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_sync.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_body.h"
#include "ngx_http_qbsync_call.h"
#include "ngx_http_qbsync_reply.h"
#include "qbsync_event.h"
#include "qbsync_json.h"
#include "qbsync_stripe.h"


typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   status;
    const char                  *message;

    /* {"error": name, "message": message}, written once at startup */
    ngx_str_t                    body;
} ngx_http_qbsync_outcome_t;


static ngx_int_t ngx_http_qbsync_gate_prepare_answers(void);
static void ngx_http_qbsync_cleanup(void *data);
static void ngx_http_qbsync_trace_start(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx);
static ngx_uint_t ngx_http_qbsync_trace_hex(u_char *p, size_t len);
static void ngx_http_qbsync_gate_stage(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_stage_e stage,
    uint64_t started);
static void ngx_http_qbsync_trace_random(u_char *buf, size_t len);
static ngx_uint_t ngx_http_qbsync_is_json(ngx_table_elt_t *content_type);
static void ngx_http_qbsync_gate_body_handler(ngx_http_request_t *r);
static ngx_http_qbsync_outcome_e ngx_http_qbsync_check_body(
    ngx_http_request_t *r, ngx_http_qbsync_loc_conf_t *qlcf,
    ngx_http_qbsync_ctx_t *ctx, qbsync_event_t *event);
static int ngx_http_qbsync_seen(void *data, qbsync_event_t *event);
static ngx_http_qbsync_outcome_e ngx_http_qbsync_acquire(
    ngx_http_request_t *r, ngx_http_qbsync_loc_conf_t *qlcf,
    ngx_http_qbsync_ctx_t *ctx, time_t *retry_after);
static void ngx_http_qbsync_decide(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_http_qbsync_loc_conf_t *qlcf,
    ngx_http_qbsync_outcome_e outcome, const char *message);
static ngx_int_t ngx_http_qbsync_gate_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_qbsync_event_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_qbsync_event_type_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_qbsync_verify_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_qbsync_action_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_qbsync_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_qbsync_set_variable(ngx_http_variable_value_t *v,
    ngx_str_t *value);


/* indexed by ngx_http_qbsync_outcome_e */
static ngx_http_qbsync_outcome_t  ngx_http_qbsync_outcomes[] = {

    { ngx_string("verified"), NGX_HTTP_OK, NULL, ngx_null_string },

    { ngx_string("duplicate"), NGX_HTTP_OK, NULL, ngx_null_string },

    { ngx_string("in_progress"), NGX_HTTP_CONFLICT,
      "another delivery of this event is being processed; retry later",
      ngx_null_string },

    { ngx_string("zone_full"), NGX_HTTP_SERVICE_UNAVAILABLE,
      "every idempotency key is in flight; retry later",
      ngx_null_string },

    { ngx_string("method_not_allowed"), NGX_HTTP_NOT_ALLOWED,
      "webhook deliveries must be POST requests",
      ngx_null_string },

    { ngx_string("unsupported_media_type"), NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
      "webhook deliveries must have Content-Type: application/json",
      ngx_null_string },

    { ngx_string("missing_signature"), NGX_HTTP_BAD_REQUEST,
      "the Stripe-Signature header is missing or empty",
      ngx_null_string },

    { ngx_string("malformed_signature"), NGX_HTTP_BAD_REQUEST,
      "the Stripe-Signature header needs one decimal t and key=value "
      "elements",
      ngx_null_string },

    { ngx_string("no_v1_signature"), NGX_HTTP_BAD_REQUEST,
      "the Stripe-Signature header has no v1 signature of 64 hex digits",
      ngx_null_string },

    { ngx_string("timestamp_out_of_tolerance"), NGX_HTTP_BAD_REQUEST,
      "the signature timestamp is outside the tolerance",
      ngx_null_string },

    { ngx_string("signature_mismatch"), NGX_HTTP_BAD_REQUEST,
      "no v1 signature matches the body for any endpoint secret",
      ngx_null_string },

    { ngx_string("invalid_json"), NGX_HTTP_BAD_REQUEST,
      "the body is not valid JSON",
      ngx_null_string },

    { ngx_string("invalid_event"), NGX_HTTP_BAD_REQUEST,
      "the body is not a Stripe event",
      ngx_null_string },

    { ngx_string("internal_error"), NGX_HTTP_INTERNAL_SERVER_ERROR,
      "the webhook could not be processed; retry later",
      ngx_null_string }
};


static ngx_http_variable_t  ngx_http_qbsync_gate_vars[] = {

    { ngx_string("qbsync_event_id"), NULL,
      ngx_http_qbsync_event_id_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("qbsync_event_type"), NULL,
      ngx_http_qbsync_event_type_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("qbsync_verify_status"), NULL,
      ngx_http_qbsync_verify_status_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("qbsync_action"), NULL,
      ngx_http_qbsync_action_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("qbsync_trace_id"), NULL,
      ngx_http_qbsync_trace_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("qbsync_traceparent"), NULL,
      ngx_http_qbsync_trace_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* the refusals' bodies never depend on the request: one copy serves all */
static u_char  ngx_http_qbsync_answers[2048];


/* indexed by ngx_http_qbsync_action_e */
static const char  *ngx_http_qbsync_actions[] = {
    NULL,
    "created",
    "updated",
    "deactivated",
    "reactivated",
    "unchanged",
    "ignored",
    "stale",
    "price_recorded",
    "dead_lettered"
};


static ngx_str_t  ngx_http_qbsync_stripe_signature =
    ngx_string("Stripe-Signature");


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_qbsync_gate_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_qbsync_gate_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_qbsync_gate_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_qbsync_gate_prepare_answers() != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not prepare the webhook answers");
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * The precontent phase runs after the whole access phase, so allow,
     * deny and auth_basic have had their say before any HMAC is spent.
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_qbsync_gate_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_qbsync_gate_header_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_gate_prepare_answers(void)
{
    u_char                     *p, *last;
    size_t                      len;
    ngx_http_qbsync_outcome_t  *o;

    p = ngx_http_qbsync_answers;
    last = p + sizeof(ngx_http_qbsync_answers);

    for (o = ngx_http_qbsync_outcomes;
         o < ngx_http_qbsync_outcomes + NGX_HTTP_QBSYNC_OUTCOMES;
         o++)
    {
        if (o->message == NULL) {
            continue;
        }

        len = qbsync_json_error(p, last - p, (char *) o->name.data,
                                o->message);
        if (len == 0) {
            return NGX_ERROR;
        }

        o->body.data = p;
        o->body.len = len;
        p += len;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_qbsync_gate_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_qbsync_outcome_e    outcome;
    ngx_http_qbsync_ctx_t  *ctx;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_qbsync_get_ctx(r);

    if (ctx) {
        return ctx->phase_rc;
    }

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    if (qlcf->mode != NGX_HTTP_QBSYNC_VERIFY) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_qbsync_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->phase_rc = NGX_DONE;

    outcome = ngx_http_qbsync_check_headers(r, qlcf, ctx);

    if (outcome != NGX_HTTP_QBSYNC_VERIFIED) {
        ngx_http_finalize_request(r,
                                  ngx_http_qbsync_refuse(r, qlcf, ctx,
                                                         outcome));
        return NGX_DONE;
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_qbsync_gate_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


ngx_http_qbsync_ctx_t *
ngx_http_qbsync_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_qbsync_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_qbsync_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {

        /*
         * An internal redirect clears module contexts; the cleanup handler
         * still holds ours, so the gate runs once per request and the key
         * is settled by the response finally sent.
         */

        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_qbsync_cleanup) {
                ctx = cln->data;
                break;
            }
        }
    }

    return ctx;
}


ngx_http_qbsync_ctx_t *
ngx_http_qbsync_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_qbsync_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_qbsync_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_qbsync_cleanup;
    cln->data = ctx;

    ngx_http_qbsync_trace_start(r, ctx);
    ctx->started_ns = ngx_http_qbsync_now_ns();

    ngx_http_set_ctx(r, ctx, ngx_http_qbsync_module);

    return ctx;
}


/*
 * The trace a caller started (a valid traceparent: version 00, ids not
 * all zeros) goes on; otherwise this request starts one.  Its own span
 * id is always new.
 */

static void
ngx_http_qbsync_trace_start(ngx_http_request_t *r, ngx_http_qbsync_ctx_t *ctx)
{
    u_char            *p, raw[16];
    ngx_str_t          name;
    ngx_table_elt_t   *h;

    ngx_str_set(&name, "traceparent");

    h = ngx_http_qbsync_find_header(&r->headers_in.headers, &name);

    if (h && h->value.len >= 55) {
        p = h->value.data;

        if (p[0] == '0' && p[1] == '0' && p[2] == '-' && p[35] == '-'
            && p[52] == '-'
            && ngx_http_qbsync_trace_hex(p + 3, 32)
            && ngx_http_qbsync_trace_hex(p + 36, 16))
        {
            ngx_memcpy(ctx->trace_id, p + 3, 32);
            ngx_memcpy(ctx->parent_id, p + 36, 16);
            ctx->has_parent = 1;
        }
    }

    if (!ctx->has_parent) {
        ngx_http_qbsync_trace_random(raw, 16);
        ngx_hex_dump(ctx->trace_id, raw, 16);
    }

    ngx_http_qbsync_trace_random(raw, 8);
    ngx_hex_dump(ctx->span_id, raw, 8);
}


/* lowercase hex, and not all zeros, as W3C's trace context wants */

static ngx_uint_t
ngx_http_qbsync_trace_hex(u_char *p, size_t len)
{
    size_t      i;
    ngx_uint_t  zero;

    zero = 1;

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return 0;
        }

        if (p[i] != '0') {
            zero = 0;
        }
    }

    return !zero;
}


/*
 * Trace and span ids: xorshift128+, seeded from OpenSSL's generator once
 * in each process (RAND_bytes costs microseconds a call, a request needs
 * two ids at least), so that two workers or two hosts never draw alike.
 */

static void
ngx_http_qbsync_trace_random(u_char *buf, size_t len)
{
    size_t            n;
    uint64_t          x, y;
    static uint64_t   state[2];
    static ngx_pid_t  seeded;

    if (seeded != ngx_pid) {
        if (RAND_bytes((u_char *) state, sizeof(state)) != 1) {
            state[0] = ((uint64_t) ngx_random() << 32) ^ ngx_random()
                       ^ (uint64_t) ngx_time();
            state[1] = ((uint64_t) ngx_random() << 32) ^ ngx_random()
                       ^ (uint64_t) ngx_pid;
        }

        state[0] |= 1;
        seeded = ngx_pid;
    }

    while (len) {
        x = state[0];
        y = state[1];
        state[0] = y;
        x ^= x << 23;
        state[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
        x = state[1] + y;

        n = ngx_min(len, sizeof(uint64_t));
        ngx_memcpy(buf, &x, n);
        buf += n;
        len -= n;
    }
}


void
ngx_http_qbsync_span_id(u_char *id)
{
    u_char  raw[8];

    ngx_http_qbsync_trace_random(raw, 8);
    ngx_hex_dump(id, raw, 8);
}


/* Only when the location exports its traces: spans cost memory. */

void
ngx_http_qbsync_span_add(ngx_http_request_t *r, const char *name,
    uint64_t us, u_char *span_id, ngx_uint_t status)
{
    ngx_http_qbsync_ctx_t       *ctx;
    ngx_http_qbsync_span_t      *span;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = ngx_http_get_module_loc_conf(r->main, ngx_http_qbsync_module);
    ctx = ngx_http_qbsync_get_ctx(r->main);

    if (ctx == NULL || qlcf->trace_export.len == 0) {
        return;
    }

    if (ctx->spans == NULL) {
        ctx->spans = ngx_array_create(r->main->pool, 8,
                                      sizeof(ngx_http_qbsync_span_t));
        if (ctx->spans == NULL) {
            return;
        }
    }

    span = ngx_array_push(ctx->spans);
    if (span == NULL) {
        return;
    }

    span->name = name;
    span->end_ns = ngx_http_qbsync_now_ns();
    span->start_ns = span->end_ns - us * 1000;
    span->status = status;
    span->client = (span_id != NULL);

    if (span_id) {
        ngx_memcpy(span->span_id, span_id, 16);

    } else {
        ngx_http_qbsync_span_id(span->span_id);
    }
}


u_char *
ngx_http_qbsync_traceparent(ngx_http_qbsync_ctx_t *ctx, u_char *buf,
    u_char *span)
{
    u_char  *p, id[16];

    if (span == NULL) {
        ngx_http_qbsync_span_id(id);
        span = id;
    }

    p = ngx_cpymem(buf, "00-", 3);
    p = ngx_cpymem(p, ctx->trace_id, 32);
    *p++ = '-';
    p = ngx_cpymem(p, span, 16);

    return ngx_cpymem(p, "-01", 3);
}


/*
 * A request that ends without a response header (the client went away,
 * the worker is shutting down) gives its key back: Stripe will redeliver.
 */

static void
ngx_http_qbsync_cleanup(void *data)
{
    ngx_http_qbsync_ctx_t  *ctx = data;

    if (ctx->holds_key) {
        ctx->holds_key = 0;
        ngx_http_qbsync_key_release(ctx->shm_zone, &ctx->key,
                                    ngx_cycle->log);
    }
}


ngx_http_qbsync_outcome_e
ngx_http_qbsync_check_headers(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_ctx_t *ctx)
{
    ngx_table_elt_t        *header;
    qbsync_signature_rc_t   rc;

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_QBSYNC_METHOD_NOT_ALLOWED;
    }

    if (!ngx_http_qbsync_is_json(r->headers_in.content_type)) {
        return NGX_HTTP_QBSYNC_UNSUPPORTED_MEDIA_TYPE;
    }

    header = ngx_http_qbsync_find_header(&r->headers_in.headers,
                                         &ngx_http_qbsync_stripe_signature);

    if (header == NULL) {
        return NGX_HTTP_QBSYNC_MISSING_SIGNATURE;
    }

    rc = qbsync_signature_parse(header->value.data, header->value.len,
                                &ctx->signature);

    if (rc == QBSYNC_SIGNATURE_OK) {
        /* a replay is refused here, before it costs an HMAC */
        rc = qbsync_signature_check_time(&ctx->signature, ngx_time(),
                                         qlcf->tolerance);
    }

    switch (rc) {

    case QBSYNC_SIGNATURE_OK:
        return NGX_HTTP_QBSYNC_VERIFIED;

    case QBSYNC_SIGNATURE_MISSING:
        return NGX_HTTP_QBSYNC_MISSING_SIGNATURE;

    case QBSYNC_SIGNATURE_MALFORMED:
        return NGX_HTTP_QBSYNC_MALFORMED_SIGNATURE;

    case QBSYNC_SIGNATURE_NO_V1:
        return NGX_HTTP_QBSYNC_NO_V1_SIGNATURE;

    case QBSYNC_SIGNATURE_OUT_OF_TOLERANCE:
        return NGX_HTTP_QBSYNC_TIMESTAMP_OUT_OF_TOLERANCE;

    default:
        return NGX_HTTP_QBSYNC_INTERNAL_ERROR;
    }
}


/* "application/json", any case, optionally followed by parameters */

static ngx_uint_t
ngx_http_qbsync_is_json(ngx_table_elt_t *content_type)
{
    u_char  *p, *last;

    if (content_type == NULL) {
        return 0;
    }

    p = content_type->value.data;
    last = p + content_type->value.len;

    if ((size_t) (last - p) < sizeof("application/json") - 1
        || ngx_strncasecmp(p, (u_char *) "application/json",
                           sizeof("application/json") - 1)
           != 0)
    {
        return 0;
    }

    for (p += sizeof("application/json") - 1; p < last; p++) {
        if (*p == ';') {
            return 1;
        }

        if (*p != ' ' && *p != '\t') {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_qbsync_gate_body_handler(ngx_http_request_t *r)
{
    time_t                       retry_after;
    qbsync_event_t               event;
    ngx_http_qbsync_ctx_t       *ctx;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    ctx = ngx_http_qbsync_get_ctx(r);
    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    if (ngx_http_qbsync_admit(r, qlcf, ctx, &event, &retry_after)
        == NGX_HTTP_QBSYNC_VERIFIED)
    {
        ctx->phase_rc = NGX_DECLINED;

        /* the backend reads the same body: proxy_pass, mirror */
        r->preserve_body = 1;

        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
        return;
    }

    ngx_http_finalize_request(r,
                              ngx_http_qbsync_answer(r, ctx, event.message,
                                                     retry_after));
}


/*
 * A delivery refused on its headers alone: its body is read only to be
 * thrown away, so that the connection can be kept.
 */

ngx_int_t
ngx_http_qbsync_refuse(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_ctx_t *ctx,
    ngx_http_qbsync_outcome_e outcome)
{
    ngx_int_t  rc;

    ngx_http_qbsync_decide(r, ctx, qlcf, outcome, NULL);

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_qbsync_answer(r, ctx, NULL, 0);
}


/* All that is decided once the body is read, in the gate or the webhook. */

ngx_http_qbsync_outcome_e
ngx_http_qbsync_admit(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_ctx_t *ctx,
    qbsync_event_t *event, time_t *retry_after)
{
    ngx_http_qbsync_outcome_e  outcome;

    *retry_after = 0;

    outcome = ngx_http_qbsync_check_body(r, qlcf, ctx, event);

    if (outcome == NGX_HTTP_QBSYNC_VERIFIED) {
        outcome = ngx_http_qbsync_acquire(r, qlcf, ctx, retry_after);
    }

    ngx_http_qbsync_decide(r, ctx, qlcf, outcome, event->message);

    return outcome;
}


/* Signature first: a forged body is never parsed. */

static ngx_http_qbsync_outcome_e
ngx_http_qbsync_check_body(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_ctx_t *ctx,
    qbsync_event_t *event)
{
    size_t                   nchunks;
    uint64_t                 started;
    qbsync_chunk_t          *chunks;
    qbsync_event_rc_t        erc;
    qbsync_signature_rc_t    src;

    event->message[0] = '\0';

    if (ngx_http_qbsync_body_chunks(r, &chunks, &nchunks) != NGX_OK) {
        return NGX_HTTP_QBSYNC_INTERNAL_ERROR;
    }

    ctx->body = chunks;
    ctx->nbody = nchunks;

    started = ngx_http_qbsync_now_us();

    src = qbsync_signature_verify(&ctx->signature, qlcf->secrets->elts,
                                  qlcf->secrets->nelts, chunks, nchunks);

    ngx_http_qbsync_gate_stage(r, qlcf, NGX_HTTP_QBSYNC_STAGE_VERIFY,
                               started);

    if (src == QBSYNC_SIGNATURE_MISMATCH) {
        return NGX_HTTP_QBSYNC_SIGNATURE_MISMATCH;
    }

    if (src != QBSYNC_SIGNATURE_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qbsync: HMAC computation failed");
        return NGX_HTTP_QBSYNC_INTERNAL_ERROR;
    }

    if (ctx->tree
        && qbsync_stripe_tree_init(ctx->tree, &ctx->tree_allocator) != 0)
    {
        return NGX_HTTP_QBSYNC_INTERNAL_ERROR;
    }

    started = ngx_http_qbsync_now_us();

    erc = qbsync_event_parse_tree(chunks, nchunks, event, ctx->tree,
                                  ngx_http_qbsync_seen, r);

    if (erc == QBSYNC_EVENT_SEEN) {
        ngx_http_qbsync_gate_stage(r, qlcf, NGX_HTTP_QBSYNC_STAGE_DEDUPE,
                                   started);
        return NGX_HTTP_QBSYNC_DUPLICATE;
    }

    ngx_http_qbsync_gate_stage(r, qlcf, NGX_HTTP_QBSYNC_STAGE_PARSE, started);

    switch (erc) {

    case QBSYNC_EVENT_OK:
        event->message[0] = '\0';
        break;

    case QBSYNC_EVENT_INVALID_JSON:
        return NGX_HTTP_QBSYNC_INVALID_JSON;

    case QBSYNC_EVENT_INVALID:
        return NGX_HTTP_QBSYNC_INVALID_EVENT;

    default:
        return NGX_HTTP_QBSYNC_INTERNAL_ERROR;
    }

    ctx->key.id.data = ngx_pnalloc(r->pool,
                                         event->id_len + event->type_len);
    if (ctx->key.id.data == NULL) {
        return NGX_HTTP_QBSYNC_INTERNAL_ERROR;
    }

    ctx->key.id.len = event->id_len;
    ngx_memcpy(ctx->key.id.data, event->id, event->id_len);

    ctx->event_type.data = ctx->key.id.data + event->id_len;
    ctx->event_type.len = event->type_len;
    ngx_memcpy(ctx->event_type.data, event->type, event->type_len);

    return NGX_HTTP_QBSYNC_VERIFIED;
}


/*
 * Told the event's id as the parse reads it: a redelivery of an event
 * already handled is answered on its id alone, and the rest of the body
 * is never parsed (see qbsync_event_parse_tree()).
 */

static int
ngx_http_qbsync_seen(void *data, qbsync_event_t *event)
{
    ngx_http_request_t *r = data;

    u_char                      *p;
    size_t                       type_len;
    ngx_uint_t                   action;
    ngx_http_qbsync_ctx_t       *ctx;
    ngx_http_qbsync_key_t        key;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    ctx = ngx_http_qbsync_get_ctx(r);
    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    ngx_memzero(&key, sizeof(ngx_http_qbsync_key_t));
    key.ns = qlcf->endpoint;
    key.id.data = (u_char *) event->id;
    key.id.len = event->id_len;

    if (ngx_http_qbsync_key_peek(qlcf->shm_zone, &key, &action,
                                 (u_char *) event->type,
                                 QBSYNC_EVENT_TYPE_MAX, &type_len)
        != NGX_OK)
    {
        return 0;
    }

    p = ngx_pnalloc(r->pool, event->id_len + type_len);
    if (p == NULL) {
        return 0;
    }

    ctx->key.id.data = p;
    ctx->key.id.len = event->id_len;
    p = ngx_cpymem(p, event->id, event->id_len);

    ctx->event_type.data = p;
    ctx->event_type.len = type_len;
    ngx_memcpy(p, event->type, type_len);

    ctx->action = action;

    return 1;
}


static ngx_http_qbsync_outcome_e
ngx_http_qbsync_acquire(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_ctx_t *ctx,
    time_t *retry_after)
{
    uint64_t                  started;
    ngx_uint_t                action;
    ngx_http_qbsync_key_rc_e  rc;

    ctx->shm_zone = qlcf->shm_zone;
    ctx->idempotency_ttl = (ngx_msec_t) qlcf->idempotency_ttl * 1000;
    ctx->key.ns = qlcf->endpoint;
    ctx->key.detail = ctx->event_type;

    started = ngx_http_qbsync_now_us();

    rc = ngx_http_qbsync_key_acquire(qlcf->shm_zone, &ctx->key,
                                     (ngx_msec_t) qlcf->inflight_lease * 1000,
                                     retry_after, &action);

    ngx_http_qbsync_gate_stage(r, qlcf, NGX_HTTP_QBSYNC_STAGE_DEDUPE, started);

    switch (rc) {

    case NGX_HTTP_QBSYNC_KEY_ACQUIRED:
        ctx->holds_key = 1;
        return NGX_HTTP_QBSYNC_VERIFIED;

    case NGX_HTTP_QBSYNC_KEY_DUPLICATE:
        ctx->action = action;
        return NGX_HTTP_QBSYNC_DUPLICATE;

    case NGX_HTTP_QBSYNC_KEY_IN_PROGRESS:
        return NGX_HTTP_QBSYNC_IN_PROGRESS;

    default: /* NGX_HTTP_QBSYNC_KEY_ZONE_FULL */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "qbsync_zone \"%V\" has no room: every key is in "
                      "flight", &qlcf->shm_zone->shm.name);
        return NGX_HTTP_QBSYNC_ZONE_FULL;
    }
}


/* Records the outcome for the variables, the counters and the log. */

static void
ngx_http_qbsync_decide(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_http_qbsync_loc_conf_t *qlcf,
    ngx_http_qbsync_outcome_e outcome, const char *message)
{
    ngx_http_qbsync_outcome_t  *o;

    ctx->outcome = outcome;
    ctx->decided = 1;

    ngx_http_qbsync_count(qlcf->shm_zone, outcome);

    o = &ngx_http_qbsync_outcomes[outcome];

    if (ctx->key.id.len) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "qbsync: event \"%V\" (%V): %V",
                      &ctx->key.id, &ctx->event_type, &o->name);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "qbsync: webhook refused: %V: %s", &o->name,
                  (message && message[0]) ? message : o->message);
}


ngx_int_t
ngx_http_qbsync_answer(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, const char *message, time_t retry_after)
{
    u_char                     *body;
    size_t                      len;
    ngx_str_t                   name, value;
    ngx_http_qbsync_outcome_t  *o;

    o = &ngx_http_qbsync_outcomes[ctx->outcome];

    switch (ctx->outcome) {

    case NGX_HTTP_QBSYNC_DUPLICATE:
        len = sizeof("{\"duplicate\":true,\"event\":\"\",\"action\":\"\"}")
              + sizeof("price_recorded") + 6 * ctx->key.id.len;

        body = ngx_pnalloc(r->pool, len);
        if (body == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = qbsync_json_duplicate(body, len,
                                    (char *) ctx->key.id.data,
                                    ctx->key.id.len,
                                    ngx_http_qbsync_action_name(ctx->action));
        if (len == 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_qbsync_reply_json(r, NGX_HTTP_OK, body, len);

    case NGX_HTTP_QBSYNC_METHOD_NOT_ALLOWED:
        ngx_str_set(&name, "Allow");
        ngx_str_set(&value, "POST");

        if (ngx_http_qbsync_set_header(r, &name, &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        break;

    case NGX_HTTP_QBSYNC_IN_PROGRESS:
    case NGX_HTTP_QBSYNC_ZONE_FULL:
        if (ngx_http_qbsync_set_retry_after(r, retry_after) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        break;

    default:
        break;
    }

    if (message == NULL || message[0] == '\0') {
        return ngx_http_qbsync_reply_json(r, o->status, o->body.data,
                                          o->body.len);
    }

    return ngx_http_qbsync_reply_error(r, o->status, (char *) o->name.data,
                                       message);
}


/*
 * The key is settled as soon as the status is known, not in the log phase:
 * a redelivery arriving right after the answer already sees it done.
 */

static ngx_int_t
ngx_http_qbsync_gate_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                   status;
    ngx_http_qbsync_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_qbsync_get_ctx(r);

    if (ctx == NULL || !ctx->holds_key) {
        return ngx_http_next_header_filter(r);
    }

    ctx->holds_key = 0;
    status = r->headers_out.status;

    if (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_qbsync_key_complete(ctx->shm_zone, &ctx->key,
                                     ctx->idempotency_ttl, ctx->action,
                                     r->connection->log);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "qbsync: event \"%V\" answered %ui: released for "
                      "redelivery", &ctx->key.id, status);

        ngx_http_qbsync_key_release(ctx->shm_zone, &ctx->key,
                                    r->connection->log);
    }

    return ngx_http_next_header_filter(r);
}


/*
 * The one word for what became of a delivery, for the metrics and the
 * events: the gate's refusal, "duplicate", the sync's action or error,
 * or "verified" when another content handler takes the event.
 */

void
ngx_http_qbsync_delivery_outcome(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_str_t *word)
{
    ngx_str_t                 error, message;
    ngx_uint_t                status;
    const char               *name;
    ngx_http_qbsync_action_e  action;

    if (ctx->outcome != NGX_HTTP_QBSYNC_VERIFIED || ctx->sync == NULL) {
        *word = ngx_http_qbsync_outcomes[ctx->outcome].name;
        return;
    }

    ngx_http_qbsync_sync_outcome(ctx->sync, &status, &action, &error,
                                 &message);

    name = ngx_http_qbsync_action_name(action);

    if (status == NGX_HTTP_OK && name != NULL) {
        word->data = (u_char *) name;
        word->len = ngx_strlen(name);
        return;
    }

    if (error.len) {
        *word = error;
        return;
    }

    /* the client went away before the sync was decided */
    ngx_str_set(word, "other");
}


static ngx_int_t
ngx_http_qbsync_event_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_qbsync_ctx_t  *ctx;

    ctx = ngx_http_qbsync_get_ctx(r->main);

    if (ctx == NULL || ctx->key.id.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_qbsync_set_variable(v, &ctx->key.id);

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_event_type_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_qbsync_ctx_t  *ctx;

    ctx = ngx_http_qbsync_get_ctx(r->main);

    if (ctx == NULL || ctx->event_type.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_qbsync_set_variable(v, &ctx->event_type);

    return NGX_OK;
}


/*
 * $qbsync_action: the word of the answer's "action" (a duplicate's is the
 * first delivery's); not found for an answer with an error instead.
 */

static ngx_int_t
ngx_http_qbsync_action_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               word;
    ngx_http_qbsync_ctx_t  *ctx;

    ctx = ngx_http_qbsync_get_ctx(r->main);

    if (ctx == NULL || !ctx->decided) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ctx->outcome == NGX_HTTP_QBSYNC_DUPLICATE) {
        if (ctx->action == NGX_HTTP_QBSYNC_ACTION_NONE) {
            v->not_found = 1;
            return NGX_OK;
        }

        word.data = (u_char *) ngx_http_qbsync_action_name(ctx->action);
        word.len = ngx_strlen(word.data);

        ngx_http_qbsync_set_variable(v, &word);
        return NGX_OK;
    }

    ngx_http_qbsync_delivery_outcome(r->main, ctx, &word);

    if (ctx->outcome != NGX_HTTP_QBSYNC_VERIFIED || ctx->sync == NULL
        || r->main->headers_out.status != NGX_HTTP_OK)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_qbsync_set_variable(v, &word);

    return NGX_OK;
}


/* a stage of the gate: into the metrics, and the trace when exported */

static void
ngx_http_qbsync_gate_stage(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_stage_e stage,
    uint64_t started)
{
    uint64_t  now, us;

    now = ngx_http_qbsync_now_us();
    us = (now > started) ? now - started : 0;

    ngx_http_qbsync_observe(qlcf->shm_zone, stage, us);
    ngx_http_qbsync_span_add(r, ngx_http_qbsync_stage_names[stage], us, NULL,
                             0);
}


/*
 * $qbsync_trace_id, and $qbsync_traceparent for the operator's own
 * backends: this request's span as their parent.
 */

static ngx_int_t
ngx_http_qbsync_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                 *p;
    ngx_str_t               value;
    ngx_http_qbsync_ctx_t  *ctx;

    ctx = ngx_http_qbsync_get_ctx(r->main);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (data == 0) {
        value.data = ctx->trace_id;
        value.len = 32;

    } else {
        p = ngx_pnalloc(r->pool, 55);
        if (p == NULL) {
            return NGX_ERROR;
        }

        value.data = p;
        value.len = ngx_http_qbsync_traceparent(ctx, p, ctx->span_id) - p;
    }

    ngx_http_qbsync_set_variable(v, &value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_verify_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_qbsync_ctx_t  *ctx;

    ctx = ngx_http_qbsync_get_ctx(r->main);

    if (ctx == NULL || !ctx->decided) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_qbsync_set_variable(v,
                                 &ngx_http_qbsync_outcomes[ctx->outcome].name);

    return NGX_OK;
}


static void
ngx_http_qbsync_set_variable(ngx_http_variable_value_t *v, ngx_str_t *value)
{
    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = value->data;
}


ngx_uint_t
ngx_http_qbsync_outcome_status(ngx_http_qbsync_outcome_e outcome)
{
    return ngx_http_qbsync_outcomes[outcome].status;
}


const char *
ngx_http_qbsync_action_name(ngx_http_qbsync_action_e action)
{
    return ngx_http_qbsync_actions[action];
}
