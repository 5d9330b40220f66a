
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_METRICS_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "qbsync_metrics.h"


typedef enum {
    NGX_HTTP_QBSYNC_STAGE_VERIFY = 0,
    NGX_HTTP_QBSYNC_STAGE_PARSE,
    NGX_HTTP_QBSYNC_STAGE_DEDUPE,
    NGX_HTTP_QBSYNC_STAGE_OAUTH,
    NGX_HTTP_QBSYNC_STAGE_QB_QUERY,
    NGX_HTTP_QBSYNC_STAGE_QB_WRITE,
    NGX_HTTP_QBSYNC_STAGE_QUEUE_WAIT,
    NGX_HTTP_QBSYNC_STAGE_TOTAL,
    NGX_HTTP_QBSYNC_STAGES
} ngx_http_qbsync_stage_e;


/* what a call to QuickBooks, Intuit's OAuth endpoint or Stripe did */
typedef enum {
    NGX_HTTP_QBSYNC_OP_QUERY = 0,
    NGX_HTTP_QBSYNC_OP_READ,
    NGX_HTTP_QBSYNC_OP_CREATE,
    NGX_HTTP_QBSYNC_OP_UPDATE,
    NGX_HTTP_QBSYNC_OP_BATCH,
    NGX_HTTP_QBSYNC_OP_TOKEN_REFRESH,
    NGX_HTTP_QBSYNC_OP_STRIPE_PRODUCT,
    NGX_HTTP_QBSYNC_OPS
} ngx_http_qbsync_operation_e;


/* the statuses counted one by one; the others are "other" */
#define NGX_HTTP_QBSYNC_STATUSES          12

/* webhook outcomes: every answer's word (see the .c), and "other" */
#define NGX_HTTP_QBSYNC_WEBHOOK_OUTCOMES  40


/*
 * The zone's figures, shared by every worker and kept over reloads:
 * counters and histograms changed with atomic operations, never under
 * the zone's lock.
 */
typedef struct ngx_http_qbsync_metrics_s {
    uint64_t                     webhooks[NGX_HTTP_QBSYNC_WEBHOOK_OUTCOMES];
    uint64_t                     calls[NGX_HTTP_QBSYNC_OPS]
                                      [NGX_HTTP_QBSYNC_STATUSES];
    uint64_t                     retries;
    uint64_t                     throttled;
    uint64_t                     dead_lettered;

    /* for the health: QuickBooks' last answer, its failures since */
    uint64_t                     last_success;     /* Unix seconds */
    uint64_t                     failures;
    qbsync_histogram_t           stages[NGX_HTTP_QBSYNC_STAGES];
} ngx_http_qbsync_metrics_t;


/* the names of the counters and stages, NULL past the last */
extern const char *const
    ngx_http_qbsync_outcome_words[NGX_HTTP_QBSYNC_WEBHOOK_OUTCOMES];
extern const char *const
    ngx_http_qbsync_operation_names[NGX_HTTP_QBSYNC_OPS];
extern const char *const
    ngx_http_qbsync_status_names[NGX_HTTP_QBSYNC_STATUSES];
extern const char *const
    ngx_http_qbsync_stage_names[NGX_HTTP_QBSYNC_STAGES];


/* a monotonic clock in microseconds, for the stages' durations */
uint64_t ngx_http_qbsync_now_us(void);

/* the wall clock in nanoseconds, for the traces' spans */
uint64_t ngx_http_qbsync_now_ns(void);

void ngx_http_qbsync_observe(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_stage_e stage, uint64_t us);
void ngx_http_qbsync_count_call(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_operation_e operation, ngx_uint_t status, uint64_t us);
void ngx_http_qbsync_count_retry(ngx_shm_zone_t *shm_zone);
void ngx_http_qbsync_count_dead_letter(ngx_shm_zone_t *shm_zone);

/* a webhook delivery's outcome (the answer's word) and its total time */
void ngx_http_qbsync_metrics_delivery(ngx_shm_zone_t *shm_zone,
    ngx_str_t *word, ngx_msec_t ms);

ngx_int_t ngx_http_qbsync_metrics_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_QBSYNC_METRICS_H_INCLUDED_ */
