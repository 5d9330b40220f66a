
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_GATE_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_GATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_zone.h"
#include "qbsync_chunk.h"
#include "qbsync_event.h"
#include "qbsync_signature.h"


/*
 * What a sync did with an event: the word of the answer's "action", kept
 * with the event's done key so that a duplicate can say it again.
 */
typedef enum {
    NGX_HTTP_QBSYNC_ACTION_NONE = 0,
    NGX_HTTP_QBSYNC_ACTION_CREATED,
    NGX_HTTP_QBSYNC_ACTION_UPDATED,
    NGX_HTTP_QBSYNC_ACTION_DEACTIVATED,
    NGX_HTTP_QBSYNC_ACTION_REACTIVATED,
    NGX_HTTP_QBSYNC_ACTION_UNCHANGED,
    NGX_HTTP_QBSYNC_ACTION_IGNORED,
    NGX_HTTP_QBSYNC_ACTION_STALE,
    NGX_HTTP_QBSYNC_ACTION_PRICE_RECORDED,
    NGX_HTTP_QBSYNC_ACTION_DEAD_LETTERED
} ngx_http_qbsync_action_e;


typedef struct ngx_http_qbsync_sync_s  ngx_http_qbsync_sync_t;


/* a stage of a request or one of its calls, for qbsync_trace_export */
typedef struct {
    const char                  *name;
    u_char                       span_id[16];
    uint64_t                     start_ns;       /* Unix */
    uint64_t                     end_ns;
    ngx_uint_t                   status;         /* a call's; 0 if none */
    unsigned                     client:1;       /* a call: its own span */
} ngx_http_qbsync_span_t;
typedef struct ngx_http_qbsync_replay_s  ngx_http_qbsync_replay_t;
typedef struct ngx_http_qbsync_batch_s  ngx_http_qbsync_batch_t;


/* One webhook delivery, in the gate or in the webhook handler. */
typedef struct {
    ngx_http_qbsync_outcome_e    outcome;

    /* what the gate answers when the phases run it again */
    ngx_int_t                    phase_rc;

    ngx_shm_zone_t              *shm_zone;
    ngx_msec_t                   idempotency_ttl;
    ngx_http_qbsync_key_t        key;
    ngx_str_t                    event_type;

    /* the sync's action, or the one a duplicate had */
    ngx_http_qbsync_action_e     action;

    qbsync_signature_header_t    signature;

    /* the body as read, for the webhook's own parse */
    qbsync_chunk_t              *body;
    size_t                       nbody;

    /*
     * Set by the webhook before the gate's checks: the event's tree,
     * built in the same pass of yajl as they are, for the sync to read
     */
    qbsync_yajl_some_t          *tree;
    qbsync_allocator_t           tree_allocator;

    ngx_http_qbsync_sync_t      *sync;

    /* the dead-letter admin's replays, on its own request */
    ngx_http_qbsync_replay_t    *replay;

    /*
     * W3C trace context: the trace this request is part of (the incoming
     * traceparent's, or a new one), its own span and the caller's, in hex
     */
    u_char                       trace_id[32];
    u_char                       span_id[16];
    u_char                       parent_id[16];
    unsigned                     has_parent:1;

    /* when the request began, and its stages so far (spans) */
    uint64_t                     started_ns;
    ngx_array_t                 *spans;

    /* the batch location's run; an operator location's own state */
    ngx_http_qbsync_batch_t     *batch;
    void                        *operator;

    unsigned                     decided:1;
    unsigned                     holds_key:1;
} ngx_http_qbsync_ctx_t;


ngx_int_t ngx_http_qbsync_gate_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_qbsync_gate_init(ngx_conf_t *cf);
ngx_int_t ngx_http_qbsync_gate_handler(ngx_http_request_t *r);

ngx_http_qbsync_ctx_t *ngx_http_qbsync_get_ctx(ngx_http_request_t *r);
ngx_http_qbsync_ctx_t *ngx_http_qbsync_create_ctx(ngx_http_request_t *r);
ngx_http_qbsync_outcome_e ngx_http_qbsync_check_headers(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_ctx_t *ctx);
ngx_int_t ngx_http_qbsync_refuse(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_ctx_t *ctx,
    ngx_http_qbsync_outcome_e outcome);
ngx_http_qbsync_outcome_e ngx_http_qbsync_admit(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_http_qbsync_ctx_t *ctx,
    qbsync_event_t *event, time_t *retry_after);
ngx_int_t ngx_http_qbsync_answer(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, const char *message, time_t retry_after);

const char *ngx_http_qbsync_action_name(ngx_http_qbsync_action_e action);
ngx_uint_t ngx_http_qbsync_outcome_status(ngx_http_qbsync_outcome_e outcome);

/* "00-<trace id>-<span id>-01" into buf (55 bytes), a new span id when
   span is NULL */
u_char *ngx_http_qbsync_traceparent(ngx_http_qbsync_ctx_t *ctx, u_char *buf,
    u_char *span);
void ngx_http_qbsync_span_id(u_char *id);

/* a stage that took us microseconds and ended now, into the trace */
void ngx_http_qbsync_span_add(ngx_http_request_t *r, const char *name,
    uint64_t us, u_char *span_id, ngx_uint_t status);
void ngx_http_qbsync_delivery_outcome(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_str_t *word);


#endif /* _NGX_HTTP_QBSYNC_GATE_H_INCLUDED_ */
