
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_ZONE_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef enum {
    NGX_HTTP_QBSYNC_KEY_ACQUIRED = 0,
    NGX_HTTP_QBSYNC_KEY_DUPLICATE,
    NGX_HTTP_QBSYNC_KEY_IN_PROGRESS,
    NGX_HTTP_QBSYNC_KEY_ZONE_FULL
} ngx_http_qbsync_key_rc_e;


/*
 * The outcomes a webhook delivery can have; each has a counter in the
 * zone, so the figures survive reloads and add up over all workers.
 */
typedef enum {
    NGX_HTTP_QBSYNC_VERIFIED = 0,
    NGX_HTTP_QBSYNC_DUPLICATE,
    NGX_HTTP_QBSYNC_IN_PROGRESS,
    NGX_HTTP_QBSYNC_ZONE_FULL,
    NGX_HTTP_QBSYNC_METHOD_NOT_ALLOWED,
    NGX_HTTP_QBSYNC_UNSUPPORTED_MEDIA_TYPE,
    NGX_HTTP_QBSYNC_MISSING_SIGNATURE,
    NGX_HTTP_QBSYNC_MALFORMED_SIGNATURE,
    NGX_HTTP_QBSYNC_NO_V1_SIGNATURE,
    NGX_HTTP_QBSYNC_TIMESTAMP_OUT_OF_TOLERANCE,
    NGX_HTTP_QBSYNC_SIGNATURE_MISMATCH,
    NGX_HTTP_QBSYNC_INVALID_JSON,
    NGX_HTTP_QBSYNC_INVALID_EVENT,
    NGX_HTTP_QBSYNC_INTERNAL_ERROR,
    NGX_HTTP_QBSYNC_OUTCOMES
} ngx_http_qbsync_outcome_e;


typedef struct {
    ngx_atomic_t                 outcomes[NGX_HTTP_QBSYNC_OUTCOMES];
    ngx_atomic_t                 keys_taken_over;
    ngx_atomic_t                 keys_evicted;
} ngx_http_qbsync_counters_t;


/* What a request holds while its event is in flight. */
typedef struct {
    uint32_t                     endpoint;
    ngx_str_t                    event_id;
    uint64_t                     ticket;
} ngx_http_qbsync_key_t;


char *ngx_http_qbsync_zone_add(ngx_conf_t *cf, ngx_str_t *value,
    ngx_shm_zone_t **shm_zone);

ngx_http_qbsync_key_rc_e ngx_http_qbsync_key_acquire(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_msec_t lease, time_t *retry_after);
void ngx_http_qbsync_key_complete(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_msec_t ttl, ngx_log_t *log);
void ngx_http_qbsync_key_release(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_log_t *log);

void ngx_http_qbsync_count(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_outcome_e outcome);


#endif /* _NGX_HTTP_QBSYNC_ZONE_H_INCLUDED_ */
