
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_ZONE_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "qbsync_events.h"


/* event ids, product ids and price ids all fit */
#define NGX_HTTP_QBSYNC_KEY_MAX  255


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
    ngx_atomic_t                 records_evicted;
} ngx_http_qbsync_counters_t;


/*
 * What a request holds while its event (or a product's sync) is in
 * flight: ns separates the key spaces (an endpoint, a realm's products).
 */
typedef struct {
    uint32_t                     ns;
    ngx_str_t                    id;
    uint64_t                     ticket;

    /* where the acquired key was, checked by its ticket before any use */
    void                        *node;

    /* a done key with this action is taken like a free one (a replay) */
    ngx_uint_t                   reclaim;

    /* kept with the key, for its duplicates: an event's type */
    ngx_str_t                    detail;
} ngx_http_qbsync_key_t;


/* the ring keeps 1,000 events unless events= says otherwise */
#define NGX_HTTP_QBSYNC_EVENTS_DEFAULT  1000
#define NGX_HTTP_QBSYNC_EVENTS_MAX      1000000


char *ngx_http_qbsync_zone_add(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *events, ngx_shm_zone_t **shm_zone);
uint32_t ngx_http_qbsync_zone_ns(const char *kind, ngx_str_t *name);
ngx_int_t ngx_http_qbsync_zone_add_token_file(ngx_shm_zone_t *shm_zone,
    ngx_str_t *path);
void ngx_http_qbsync_zone_set_dead_letter(ngx_shm_zone_t *shm_zone,
    ngx_str_t *path);

ngx_http_qbsync_key_rc_e ngx_http_qbsync_key_acquire(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_msec_t lease, time_t *retry_after,
    ngx_uint_t *action);
/*
 * Whether the key is done, without taking it: NGX_OK with its action and
 * detail (up to size bytes) for a duplicate, NGX_DECLINED otherwise.
 */
ngx_int_t ngx_http_qbsync_key_peek(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_uint_t *action, u_char *detail,
    size_t size, size_t *len);
void ngx_http_qbsync_key_complete(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_msec_t ttl, ngx_uint_t action,
    ngx_log_t *log);
void ngx_http_qbsync_key_release(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_log_t *log);

/*
 * Records: small values under a key, kept for ttl and evicted least
 * recently used first when the zone is full; a ttl of 0 pins a record
 * (never expired, never evicted), for state that must not be lost.
 */
ngx_int_t ngx_http_qbsync_record_get(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_str_t *key, void *value, size_t size);
ngx_int_t ngx_http_qbsync_record_put(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_str_t *key, const void *value, size_t size, ngx_msec_t ttl);
/* NGX_OK: deleted; NGX_DECLINED: there was no such record */
ngx_int_t ngx_http_qbsync_record_delete(ngx_shm_zone_t *shm_zone,
    uint32_t ns, ngx_str_t *key);
ngx_int_t ngx_http_qbsync_record_keys(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_pool_t *pool, ngx_array_t *keys);

typedef ngx_int_t (*ngx_http_qbsync_update_pt)(void *value, void *data);
typedef ngx_int_t (*ngx_http_qbsync_each_pt)(ngx_str_t *key, u_char *value,
    size_t size, void *data);

ngx_int_t ngx_http_qbsync_record_update(ngx_shm_zone_t *shm_zone,
    uint32_t ns, ngx_str_t *key, void *value, size_t size,
    ngx_http_qbsync_update_pt update, void *data);

/*
 * Calls each() on every pinned record of the key space ns, under the lock:
 * each() copies what it needs (the value is unaligned) and returns NGX_OK
 * to go on.
 */
ngx_int_t ngx_http_qbsync_record_each(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_http_qbsync_each_pt each, void *data);

typedef struct {
    size_t                       size;
    size_t                       used;
    ngx_uint_t                   keys_in_flight;
    ngx_uint_t                   keys_done;
} ngx_http_qbsync_zone_usage_t;


struct ngx_http_qbsync_metrics_s  *ngx_http_qbsync_zone_metrics(
    ngx_shm_zone_t *shm_zone);
void ngx_http_qbsync_zone_usage(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_zone_usage_t *usage);

/*
 * The records of a key space, those that expire (a realm's items) or the
 * pinned ones (a zone's dead letters).
 */
ngx_uint_t ngx_http_qbsync_record_count(ngx_shm_zone_t *shm_zone,
    uint32_t ns, ngx_uint_t pinned);

typedef ngx_int_t (*ngx_http_qbsync_ring_pt)(
    qbsync_events_record_t *record, void *data);

void ngx_http_qbsync_ring_push(ngx_shm_zone_t *shm_zone,
    qbsync_events_record_t *record);
void ngx_http_qbsync_ring_walk(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_ring_pt each, void *data,
    qbsync_events_stats_t *since_start);

void ngx_http_qbsync_count(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_outcome_e outcome);


#endif /* _NGX_HTTP_QBSYNC_ZONE_H_INCLUDED_ */
