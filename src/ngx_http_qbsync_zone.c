
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_zone.h"
#include "ngx_http_qbsync_oauth.h"
#include "ngx_http_qbsync_deadletter.h"
#include "ngx_http_qbsync_metrics.h"
#include "qbsync_events.h"


#define NGX_HTTP_QBSYNC_KEY_INFLIGHT  1
#define NGX_HTTP_QBSYNC_KEY_DONE      2
#define NGX_HTTP_QBSYNC_RECORD        3

/*
 * Work done under the zone's mutex stays bounded: a few lazy expiries per
 * queue and insert, and at most this many evictions when the slab is
 * exhausted.
 */
#define NGX_HTTP_QBSYNC_EXPIRE_BATCH  2
#define NGX_HTTP_QBSYNC_EVICT_MAX     32


/* the last events, every worker's, newest at (pushed - 1) % capacity */
typedef struct {
    ngx_uint_t                   capacity;
    uint64_t                     pushed;
    qbsync_events_stats_t        since_start;
    qbsync_events_record_t       records[1];
} ngx_http_qbsync_ring_t;


/* keys and records share one tree; ns keeps their key spaces apart */
typedef struct {
    u_char                       color;
    u_char                       kind;
    u_char                       action;
    u_char                       len;
    uint32_t                     ns;
    ngx_queue_t                  queue;

    /* 0: a pinned record */
    ngx_msec_t                   expires;
    ngx_msec_t                   used;

    uint64_t                     ticket;
    uint32_t                     value_len;

    /* the key, then the record's value */
    u_char                       data[1];
} ngx_http_qbsync_node_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;

    /* oldest lease at the tail */
    ngx_queue_t                  inflight;

    /* least recently used at the tail: evicted first */
    ngx_queue_t                  done;
    ngx_queue_t                  records;

    ngx_queue_t                  pinned;

    uint64_t                     next_ticket;
    ngx_uint_t                   eviction_logged;
    ngx_http_qbsync_counters_t   counters;
    ngx_http_qbsync_metrics_t    metrics;
    ngx_http_qbsync_ring_t      *ring;
} ngx_http_qbsync_shctx_t;


typedef struct {
    ngx_http_qbsync_shctx_t     *sh;
    ngx_slab_pool_t             *shpool;

    /* checked when the zone is set up: the whole configuration is known */
    ngx_cycle_t                 *cycle;
    ngx_array_t                  token_files;    /* ngx_str_t */
    ngx_str_t                    dead_letter;    /* qbsync_dead_letter */
    ngx_uint_t                   events;         /* the ring's records */
} ngx_http_qbsync_zone_t;


/* where a worker last found the node of a hash: see lookup() */
typedef struct {
    ngx_http_qbsync_zone_t      *zone;
    ngx_http_qbsync_node_t      *node;
    uint64_t                     ticket;
    uint32_t                     hash;
} ngx_http_qbsync_hint_t;


#define NGX_HTTP_QBSYNC_HINTS  64


static ngx_int_t ngx_http_qbsync_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_qbsync_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_qbsync_node_cmp(uint32_t ns, u_char *key,
    size_t len, ngx_http_qbsync_node_t *qn);
static uint32_t ngx_http_qbsync_hash(uint32_t ns, ngx_str_t *key);
static ngx_uint_t ngx_http_qbsync_still(ngx_http_qbsync_zone_t *zone,
    ngx_http_qbsync_node_t *qn, uint64_t ticket, uint32_t ns,
    ngx_str_t *key);
static ngx_http_qbsync_node_t *ngx_http_qbsync_held(
    ngx_http_qbsync_zone_t *zone, ngx_http_qbsync_key_t *key);
static void ngx_http_qbsync_hint(ngx_http_qbsync_zone_t *zone, uint32_t hash,
    ngx_http_qbsync_node_t *qn);
static ngx_http_qbsync_node_t *ngx_http_qbsync_walk(
    ngx_http_qbsync_zone_t *zone, uint32_t hash, uint32_t ns,
    ngx_str_t *key);
static ngx_http_qbsync_node_t *ngx_http_qbsync_lookup(
    ngx_http_qbsync_zone_t *zone, uint32_t hash, uint32_t ns, ngx_str_t *key);
static ngx_http_qbsync_node_t *ngx_http_qbsync_insert(
    ngx_http_qbsync_zone_t *zone, uint32_t hash, uint32_t ns, ngx_str_t *key,
    size_t value_len, ngx_uint_t *evicted);
static ngx_http_qbsync_node_t *ngx_http_qbsync_record_node(
    ngx_http_qbsync_zone_t *zone, uint32_t hash, uint32_t ns, ngx_str_t *key,
    size_t size, ngx_uint_t *evicted);
static ngx_int_t ngx_http_qbsync_evict_one(ngx_http_qbsync_zone_t *zone);
static void ngx_http_qbsync_expire(ngx_http_qbsync_zone_t *zone,
    ngx_msec_t now);
static void ngx_http_qbsync_delete(ngx_http_qbsync_zone_t *zone,
    ngx_http_qbsync_node_t *qn);
static void ngx_http_qbsync_unlock(ngx_shm_zone_t *shm_zone,
    ngx_uint_t evicted);
static void ngx_http_qbsync_warn_eviction(ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_http_qbsync_ring_init(ngx_http_qbsync_zone_t *zone);
static ngx_msec_t ngx_http_qbsync_zone_now(void);
static time_t ngx_http_qbsync_seconds_until(ngx_msec_t expires,
    ngx_msec_t now);


static ngx_http_qbsync_hint_t  ngx_http_qbsync_hints[NGX_HTTP_QBSYNC_HINTS];


char *
ngx_http_qbsync_zone_add(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *events,
    ngx_shm_zone_t **shm_zone)
{
    u_char                  *p;
    ssize_t                  size;
    ngx_int_t                n;
    ngx_str_t                name, s;
    ngx_shm_zone_t          *zone;
    ngx_http_qbsync_zone_t  *ctx;

    p = (u_char *) ngx_strlchr(value->data, value->data + value->len, ':');

    if (p == NULL || p == value->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected name:size", value);
        return NGX_CONF_ERROR;
    }

    name.data = value->data;
    name.len = p - value->data;

    s.data = p + 1;
    s.len = value->data + value->len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", value);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", value);
        return NGX_CONF_ERROR;
    }

    zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_qbsync_module);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "qbsync_zone \"%V\" is already declared", &name);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_qbsync_zone_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->cycle = cf->cycle;

    /* a small zone keeps its room for keys: an eighth at most goes here */
    ctx->events = ngx_min(NGX_HTTP_QBSYNC_EVENTS_DEFAULT,
                          size / 8 / sizeof(qbsync_events_record_t));
    ctx->events = ngx_max(ctx->events, 1);

    if (events) {
        n = NGX_ERROR;

        if (events->len > 7 && ngx_strncmp(events->data, "events=", 7) == 0) {
            n = ngx_atoi(events->data + 7, events->len - 7);
        }

        if (n == NGX_ERROR || n < 1 || n > NGX_HTTP_QBSYNC_EVENTS_MAX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"events=\" and 1 to %d", events,
                               NGX_HTTP_QBSYNC_EVENTS_MAX);
            return NGX_CONF_ERROR;
        }

        ctx->events = n;
    }

    if (ngx_array_init(&ctx->token_files, cf->pool, 1, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    zone->init = ngx_http_qbsync_init_zone;
    zone->data = ctx;

    *shm_zone = zone;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_qbsync_zone_add_token_file(ngx_shm_zone_t *shm_zone, ngx_str_t *path)
{
    ngx_str_t               *file;
    ngx_http_qbsync_zone_t  *zone;

    zone = shm_zone->data;

    file = ngx_array_push(&zone->token_files);
    if (file == NULL) {
        return NGX_ERROR;
    }

    *file = *path;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_qbsync_zone_t  *ozone = data;

    size_t                   len;
    ngx_str_t               *files;
    ngx_uint_t               i;
    ngx_http_qbsync_zone_t  *zone;

    zone = shm_zone->data;

    /*
     * Here, unlike while the http block is parsed, the "user" directive is
     * known wherever it stands; and a failure here fails a reload without
     * stopping the running nginx.
     */

    files = zone->token_files.elts;

    for (i = 0; i < zone->token_files.nelts; i++) {
        if (ngx_http_qbsync_oauth_check_file(zone->cycle, shm_zone->shm.log,
                                             &files[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (zone->dead_letter.len
        && ngx_http_qbsync_check_file(zone->cycle, shm_zone->shm.log,
                                      &zone->dead_letter, "dead-letter file",
                                      "the module appends every dead letter "
                                      "to it", 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ozone) {
        /* a reload keeps the keys and records: redeliveries stay duplicates */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        if (zone->sh->ring->capacity == zone->events) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "qbsync_zone \"%V\": events=%ui instead of %ui, the "
                      "event ring starts empty", &shm_zone->shm.name,
                      zone->events, zone->sh->ring->capacity);

        ngx_slab_free(zone->shpool, zone->sh->ring);

        return ngx_http_qbsync_ring_init(zone);
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_http_qbsync_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_qbsync_rbtree_insert_value);

    ngx_queue_init(&zone->sh->inflight);
    ngx_queue_init(&zone->sh->done);
    ngx_queue_init(&zone->sh->records);
    ngx_queue_init(&zone->sh->pinned);

    len = sizeof(" in qbsync_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in qbsync_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* running out of slab is expected and handled by eviction */
    zone->shpool->log_nomem = 0;

    if (ngx_http_qbsync_ring_init(zone) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a new zone: the dead letters still waiting are in the file only */
    if (zone->dead_letter.len) {
        return ngx_http_qbsync_dead_letter_load(shm_zone, &zone->dead_letter,
                                                shm_zone->shm.log);
    }

    return NGX_OK;
}


void
ngx_http_qbsync_zone_set_dead_letter(ngx_shm_zone_t *shm_zone,
    ngx_str_t *path)
{
    ngx_http_qbsync_zone_t  *zone;

    zone = shm_zone->data;
    zone->dead_letter = *path;
}


uint32_t
ngx_http_qbsync_zone_ns(const char *kind, ngx_str_t *name)
{
    uint32_t  hash;

    ngx_crc32_init(hash);
    ngx_crc32_update(&hash, (u_char *) kind, ngx_strlen(kind));
    ngx_crc32_update(&hash, (u_char *) " ", 1);
    ngx_crc32_update(&hash, name->data, name->len);
    ngx_crc32_final(hash);

    return hash;
}


ngx_http_qbsync_key_rc_e
ngx_http_qbsync_key_acquire(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_msec_t lease, time_t *retry_after,
    ngx_uint_t *action)
{
    uint32_t                  hash;
    ngx_msec_t                now;
    ngx_uint_t                evicted, warn;
    ngx_queue_t              *q;
    ngx_http_qbsync_zone_t   *zone;
    ngx_http_qbsync_node_t   *qn, *oldest;
    ngx_http_qbsync_key_rc_e  rc;

    zone = shm_zone->data;
    hash = ngx_http_qbsync_hash(key->ns, &key->id);
    now = ngx_http_qbsync_zone_now();
    evicted = 0;
    warn = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_qbsync_expire(zone, now);

    qn = ngx_http_qbsync_lookup(zone, hash, key->ns, &key->id);

    if (qn) {

        if (qn->expires > now
            && !(qn->kind == NGX_HTTP_QBSYNC_KEY_DONE && key->reclaim
                 && qn->action == key->reclaim))
        {
            if (qn->kind == NGX_HTTP_QBSYNC_KEY_DONE) {
                qn->used = now;
                ngx_queue_remove(&qn->queue);
                ngx_queue_insert_head(&zone->sh->done, &qn->queue);
                if (action) {
                    *action = qn->action;
                }

                rc = NGX_HTTP_QBSYNC_KEY_DUPLICATE;

            } else {
                *retry_after = ngx_http_qbsync_seconds_until(qn->expires, now);
                rc = NGX_HTTP_QBSYNC_KEY_IN_PROGRESS;
            }

            ngx_shmtx_unlock(&zone->shpool->mutex);
            return rc;
        }

        if (qn->kind == NGX_HTTP_QBSYNC_KEY_INFLIGHT) {
            /* its request died with its worker, or outlived the lease */
            (void) ngx_atomic_fetch_add(&zone->sh->counters.keys_taken_over,
                                        1);
        }

        if (qn->value_len == key->detail.len) {
            ngx_queue_remove(&qn->queue);

        } else {
            ngx_http_qbsync_delete(zone, qn);
            qn = NULL;
        }
    }

    if (qn == NULL) {
        qn = ngx_http_qbsync_insert(zone, hash, key->ns, &key->id,
                                    key->detail.len, &evicted);

        if (qn == NULL) {
            q = ngx_queue_last(&zone->sh->inflight);
            oldest = ngx_queue_data(q, ngx_http_qbsync_node_t, queue);

            *retry_after = ngx_queue_empty(&zone->sh->inflight)
                           ? 1
                           : ngx_http_qbsync_seconds_until(oldest->expires,
                                                           now);

            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_HTTP_QBSYNC_KEY_ZONE_FULL;
        }

        if (evicted && !zone->sh->eviction_logged) {
            zone->sh->eviction_logged = 1;
            warn = 1;
        }
    }

    qn->kind = NGX_HTTP_QBSYNC_KEY_INFLIGHT;
    qn->action = 0;
    qn->value_len = (uint32_t) key->detail.len;

    if (key->detail.len) {
        ngx_memcpy(qn->data + qn->len, key->detail.data, key->detail.len);
    }

    qn->expires = now + lease;
    qn->used = now;
    qn->ticket = ++zone->sh->next_ticket;
    key->ticket = qn->ticket;
    key->node = qn;

    ngx_queue_insert_head(&zone->sh->inflight, &qn->queue);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (warn) {
        ngx_http_qbsync_warn_eviction(shm_zone);
    }

    return NGX_HTTP_QBSYNC_KEY_ACQUIRED;
}


ngx_int_t
ngx_http_qbsync_key_peek(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_uint_t *action, u_char *detail,
    size_t size, size_t *len)
{
    uint32_t                 hash;
    ngx_int_t                rc;
    ngx_msec_t               now;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;
    hash = ngx_http_qbsync_hash(key->ns, &key->id);
    now = ngx_http_qbsync_zone_now();
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    qn = ngx_http_qbsync_lookup(zone, hash, key->ns, &key->id);

    if (qn != NULL && qn->kind == NGX_HTTP_QBSYNC_KEY_DONE
        && qn->expires > now)
    {
        qn->used = now;
        ngx_queue_remove(&qn->queue);
        ngx_queue_insert_head(&zone->sh->done, &qn->queue);

        *action = qn->action;
        *len = ngx_min(size, (size_t) qn->value_len);
        ngx_memcpy(detail, qn->data + qn->len, *len);

        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_http_qbsync_key_complete(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_msec_t ttl, ngx_uint_t action,
    ngx_log_t *log)
{
    ngx_uint_t               held;
    ngx_msec_t               now;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;
    now = ngx_http_qbsync_zone_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    qn = ngx_http_qbsync_held(zone, key);
    held = (qn != NULL);

    if (held) {
        qn->kind = NGX_HTTP_QBSYNC_KEY_DONE;
        qn->action = (u_char) action;
        qn->expires = now + ttl;
        qn->used = now;

        ngx_queue_remove(&qn->queue);
        ngx_queue_insert_head(&zone->sh->done, &qn->queue);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (!held) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "qbsync: \"%V\" completed after its in-flight "
                      "lease expired; qbsync_inflight_lease is shorter "
                      "than the work takes", &key->id);
    }
}


void
ngx_http_qbsync_key_release(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_log_t *log)
{
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    qn = ngx_http_qbsync_held(zone, key);

    if (qn != NULL) {
        ngx_http_qbsync_delete(zone, qn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "qbsync: released \"%V\"", &key->id);
}


ngx_int_t
ngx_http_qbsync_record_get(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_str_t *key, void *value, size_t size)
{
    uint32_t                 hash;
    ngx_int_t                rc;
    ngx_msec_t               now;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;
    hash = ngx_http_qbsync_hash(ns, key);
    now = ngx_http_qbsync_zone_now();
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    qn = ngx_http_qbsync_lookup(zone, hash, ns, key);

    if (qn != NULL && qn->kind == NGX_HTTP_QBSYNC_RECORD) {

        if (qn->expires && qn->expires <= now) {
            ngx_http_qbsync_delete(zone, qn);

        } else {
            ngx_memzero(value, size);
            ngx_memcpy(value, qn->data + qn->len,
                       ngx_min(size, (size_t) qn->value_len));

            if (qn->expires) {
                qn->used = now;
                ngx_queue_remove(&qn->queue);
                ngx_queue_insert_head(&zone->sh->records, &qn->queue);
            }

            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_http_qbsync_record_put(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_str_t *key, const void *value, size_t size, ngx_msec_t ttl)
{
    uint32_t                 hash;
    ngx_msec_t               now;
    ngx_uint_t               evicted;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;
    hash = ngx_http_qbsync_hash(ns, key);
    now = ngx_http_qbsync_zone_now();
    evicted = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_qbsync_expire(zone, now);

    qn = ngx_http_qbsync_record_node(zone, hash, ns, key, size, &evicted);

    if (qn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_ERROR;
    }

    if (qn->value_len) {
        ngx_queue_remove(&qn->queue);
    }

    qn->value_len = (uint32_t) size;

    ngx_memcpy(qn->data + qn->len, value, size);

    qn->expires = ttl ? now + ttl : 0;
    qn->used = now;

    ngx_queue_insert_head(ttl ? &zone->sh->records : &zone->sh->pinned,
                          &qn->queue);

    ngx_http_qbsync_unlock(shm_zone, evicted);

    return NGX_OK;
}


/*
 * Reads, changes and writes back a pinned record in one hold of the lock,
 * for state that workers change together (a realm's rate limiter).  A
 * missing record starts zeroed.  value is the caller's buffer of size
 * bytes: the record's bytes follow its key unaligned, so the update
 * runs on an aligned copy.
 */

ngx_int_t
ngx_http_qbsync_record_update(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_str_t *key, void *value, size_t size,
    ngx_http_qbsync_update_pt update, void *data)
{
    uint32_t                 hash;
    ngx_int_t                rc;
    ngx_msec_t               now;
    ngx_uint_t               evicted;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;
    hash = ngx_http_qbsync_hash(ns, key);
    now = ngx_http_qbsync_zone_now();
    evicted = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    qn = ngx_http_qbsync_record_node(zone, hash, ns, key, size, &evicted);

    if (qn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_ERROR;
    }

    if (qn->value_len == 0) {
        qn->value_len = (uint32_t) size;
        qn->expires = 0;
        qn->used = now;
        ngx_memzero(qn->data + qn->len, size);
        ngx_queue_insert_head(&zone->sh->pinned, &qn->queue);
    }

    ngx_memcpy(value, qn->data + qn->len, size);

    rc = update(value, data);

    ngx_memcpy(qn->data + qn->len, value, size);

    ngx_http_qbsync_unlock(shm_zone, evicted);

    return rc;
}


ngx_int_t
ngx_http_qbsync_record_each(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_http_qbsync_each_pt each, void *data)
{
    ngx_int_t                rc;
    ngx_str_t                key;
    ngx_queue_t             *q;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;
    rc = NGX_OK;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->pinned);
         q != ngx_queue_sentinel(&zone->sh->pinned);
         q = ngx_queue_next(q))
    {
        qn = ngx_queue_data(q, ngx_http_qbsync_node_t, queue);

        if (qn->ns != ns || qn->kind != NGX_HTTP_QBSYNC_RECORD) {
            continue;
        }

        key.data = qn->data;
        key.len = qn->len;

        rc = each(&key, qn->data + qn->len, qn->value_len, data);
        if (rc != NGX_OK) {
            break;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_http_qbsync_record_delete(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_str_t *key)
{
    uint32_t                 hash;
    ngx_int_t                rc;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;
    hash = ngx_http_qbsync_hash(ns, key);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    qn = ngx_http_qbsync_lookup(zone, hash, ns, key);

    if (qn != NULL && qn->kind == NGX_HTTP_QBSYNC_RECORD) {
        ngx_http_qbsync_delete(zone, qn);
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/*
 * The keys of the records of ns that expire (a realm's items), copied
 * into keys (of ngx_str_t) so that the caller looks at them unlocked.
 */

ngx_int_t
ngx_http_qbsync_record_keys(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_pool_t *pool, ngx_array_t *keys)
{
    ngx_int_t                rc;
    ngx_str_t               *key;
    ngx_queue_t             *q;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;
    rc = NGX_OK;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->records);
         q != ngx_queue_sentinel(&zone->sh->records);
         q = ngx_queue_next(q))
    {
        qn = ngx_queue_data(q, ngx_http_qbsync_node_t, queue);

        if (qn->ns != ns || qn->kind != NGX_HTTP_QBSYNC_RECORD) {
            continue;
        }

        key = ngx_array_push(keys);
        if (key == NULL) {
            rc = NGX_ERROR;
            break;
        }

        key->len = qn->len;
        key->data = ngx_pnalloc(pool, qn->len);

        if (key->data == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_memcpy(key->data, qn->data, qn->len);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/* The ring is taken before any key or record: its size is the operator's. */

static ngx_int_t
ngx_http_qbsync_ring_init(ngx_http_qbsync_zone_t *zone)
{
    size_t  size;

    size = offsetof(ngx_http_qbsync_ring_t, records)
           + zone->events * sizeof(qbsync_events_record_t);

    zone->sh->ring = ngx_slab_calloc(zone->shpool, size);

    if (zone->sh->ring == NULL) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "qbsync_zone is too small for events=%ui (%uz bytes)",
                      zone->events, size);
        return NGX_ERROR;
    }

    zone->sh->ring->capacity = zone->events;

    return NGX_OK;
}


void
ngx_http_qbsync_ring_push(ngx_shm_zone_t *shm_zone,
    qbsync_events_record_t *record)
{
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_ring_t  *ring;

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ring = zone->sh->ring;

    ring->records[ring->pushed % ring->capacity] = *record;
    ring->pushed++;

    qbsync_events_stats_add(&ring->since_start, record);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Newest first, under the lock: each() copies what it keeps and returns
 * NGX_OK to go on.  since_start, if not NULL, gets the counts since the
 * ring began.
 */

void
ngx_http_qbsync_ring_walk(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_ring_pt each, void *data,
    qbsync_events_stats_t *since_start)
{
    uint64_t                 i, n;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_ring_t  *ring;

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ring = zone->sh->ring;
    n = ngx_min(ring->pushed, (uint64_t) ring->capacity);

    for (i = 1; i <= n; i++) {
        if (each(&ring->records[(ring->pushed - i) % ring->capacity], data)
            != NGX_OK)
        {
            break;
        }
    }

    if (since_start) {
        *since_start = ring->since_start;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_http_qbsync_metrics_t *
ngx_http_qbsync_zone_metrics(ngx_shm_zone_t *shm_zone)
{
    ngx_http_qbsync_zone_t  *zone;

    zone = shm_zone->data;

    return &zone->sh->metrics;
}


/* For the metrics and the status: a few figures, counted under the lock. */

void
ngx_http_qbsync_zone_usage(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_zone_usage_t *usage)
{
    ngx_queue_t             *q;
    ngx_http_qbsync_zone_t  *zone;

    zone = shm_zone->data;

    ngx_memzero(usage, sizeof(ngx_http_qbsync_zone_usage_t));

    usage->size = shm_zone->shm.size;

    ngx_shmtx_lock(&zone->shpool->mutex);

    usage->used = usage->size - zone->shpool->pfree * ngx_pagesize;

    for (q = ngx_queue_head(&zone->sh->inflight);
         q != ngx_queue_sentinel(&zone->sh->inflight);
         q = ngx_queue_next(q))
    {
        usage->keys_in_flight++;
    }

    for (q = ngx_queue_head(&zone->sh->done);
         q != ngx_queue_sentinel(&zone->sh->done);
         q = ngx_queue_next(q))
    {
        usage->keys_done++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_uint_t
ngx_http_qbsync_record_count(ngx_shm_zone_t *shm_zone, uint32_t ns,
    ngx_uint_t pinned)
{
    ngx_uint_t               n;
    ngx_queue_t             *q, *queue;
    ngx_http_qbsync_zone_t  *zone;
    ngx_http_qbsync_node_t  *qn;

    zone = shm_zone->data;
    queue = pinned ? &zone->sh->pinned : &zone->sh->records;
    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(queue);
         q != ngx_queue_sentinel(queue);
         q = ngx_queue_next(q))
    {
        qn = ngx_queue_data(q, ngx_http_qbsync_node_t, queue);

        if (qn->ns == ns && qn->kind == NGX_HTTP_QBSYNC_RECORD) {
            n++;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


void
ngx_http_qbsync_count(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_outcome_e outcome)
{
    ngx_http_qbsync_zone_t  *zone;

    zone = shm_zone->data;

    (void) ngx_atomic_fetch_add(&zone->sh->counters.outcomes[outcome], 1);
}


static void
ngx_http_qbsync_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t       **p;
    ngx_http_qbsync_node_t   *qn, *qnt;

    qn = (ngx_http_qbsync_node_t *) &node->color;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            qnt = (ngx_http_qbsync_node_t *) &temp->color;

            p = (ngx_http_qbsync_node_cmp(qn->ns, qn->data, qn->len, qnt) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_int_t
ngx_http_qbsync_node_cmp(uint32_t ns, u_char *key, size_t len,
    ngx_http_qbsync_node_t *qn)
{
    if (ns != qn->ns) {
        return (ns < qn->ns) ? -1 : 1;
    }

    return ngx_memn2cmp(key, qn->data, len, (size_t) qn->len);
}


static uint32_t
ngx_http_qbsync_hash(uint32_t ns, ngx_str_t *key)
{
    uint32_t  hash;

    ngx_crc32_init(hash);
    ngx_crc32_update(&hash, (u_char *) &ns, sizeof(uint32_t));
    ngx_crc32_update(&hash, key->data, key->len);
    ngx_crc32_final(hash);

    return hash;
}


/*
 * Whether qn, remembered with its ticket, is still the live node of that
 * key.  A remembered pointer may be from before a reload that moved the
 * zone, or to a node since deleted (its ticket cleared) or its memory
 * reused: it is read only once it is known to lie within the zone.
 */
static ngx_uint_t
ngx_http_qbsync_still(ngx_http_qbsync_zone_t *zone,
    ngx_http_qbsync_node_t *qn, uint64_t ticket, uint32_t ns,
    ngx_str_t *key)
{
    u_char  *p;

    p = (u_char *) qn;

    return ticket != 0
           && p > (u_char *) zone->shpool
           && p < zone->shpool->end
           && (size_t) (zone->shpool->end - p)
              >= offsetof(ngx_http_qbsync_node_t, data) + key->len
           && qn->ticket == ticket
           && ngx_http_qbsync_node_cmp(ns, key->data, key->len, qn) == 0;
}


/*
 * The in-flight node a request acquired, found where acquire() left it
 * rather than by a walk down the tree.  Under the lock.
 */
static ngx_http_qbsync_node_t *
ngx_http_qbsync_held(ngx_http_qbsync_zone_t *zone,
    ngx_http_qbsync_key_t *key)
{
    ngx_http_qbsync_node_t  *qn;

    qn = key->node;

    if (!ngx_http_qbsync_still(zone, qn, key->ticket, key->ns, &key->id)
        || qn->kind != NGX_HTTP_QBSYNC_KEY_INFLIGHT)
    {
        return NULL;
    }

    return qn;
}


/*
 * Most lookups of a delivery are of nodes it or its neighbours just
 * touched: the realm's limiter and token, the product's mapping, the
 * event's own key.  Each worker remembers where the last nodes of a few
 * hashes were, and checks that one is still that node (in the zone, live
 * by its ticket, same key) before it walks the tree: a walk down a tree of
 * a million keys misses the cache at every level.  Under the lock.
 */
static ngx_http_qbsync_node_t *
ngx_http_qbsync_lookup(ngx_http_qbsync_zone_t *zone, uint32_t hash,
    uint32_t ns, ngx_str_t *key)
{
    ngx_http_qbsync_hint_t  *hint;
    ngx_http_qbsync_node_t  *qn;

    hint = &ngx_http_qbsync_hints[hash % NGX_HTTP_QBSYNC_HINTS];
    qn = hint->node;

    if (hint->zone == zone && hint->hash == hash
        && ngx_http_qbsync_still(zone, qn, hint->ticket, ns, key))
    {
        return qn;
    }

    qn = ngx_http_qbsync_walk(zone, hash, ns, key);

    if (qn) {
        ngx_http_qbsync_hint(zone, hash, qn);
    }

    return qn;
}


static void
ngx_http_qbsync_hint(ngx_http_qbsync_zone_t *zone, uint32_t hash,
    ngx_http_qbsync_node_t *qn)
{
    ngx_http_qbsync_hint_t  *hint;

    hint = &ngx_http_qbsync_hints[hash % NGX_HTTP_QBSYNC_HINTS];

    hint->zone = zone;
    hint->hash = hash;
    hint->node = qn;
    hint->ticket = qn->ticket;
}


static ngx_http_qbsync_node_t *
ngx_http_qbsync_walk(ngx_http_qbsync_zone_t *zone, uint32_t hash,
    uint32_t ns, ngx_str_t *key)
{
    ngx_int_t                rc;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_http_qbsync_node_t  *qn;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        qn = (ngx_http_qbsync_node_t *) &node->color;

        rc = ngx_http_qbsync_node_cmp(ns, key->data, key->len, qn);

        if (rc == 0) {
            return qn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static ngx_http_qbsync_node_t *
ngx_http_qbsync_insert(ngx_http_qbsync_zone_t *zone, uint32_t hash,
    uint32_t ns, ngx_str_t *key, size_t value_len, ngx_uint_t *evicted)
{
    size_t                   size;
    ngx_rbtree_node_t       *node;
    ngx_http_qbsync_node_t  *qn;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_qbsync_node_t, data)
           + key->len + value_len;

    for ( ;; ) {
        node = ngx_slab_alloc_locked(zone->shpool, size);

        if (node != NULL) {
            break;
        }

        if (*evicted == NGX_HTTP_QBSYNC_EVICT_MAX
            || ngx_http_qbsync_evict_one(zone) != NGX_OK)
        {
            return NULL;
        }

        (*evicted)++;
    }

    node->key = hash;

    qn = (ngx_http_qbsync_node_t *) &node->color;

    qn->len = (u_char) key->len;
    qn->ns = ns;
    qn->value_len = 0;
    qn->ticket = ++zone->sh->next_ticket;
    ngx_memcpy(qn->data, key->data, key->len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);

    ngx_http_qbsync_hint(zone, hash, qn);

    return qn;
}


/*
 * Makes room: the least recently used of the completed keys and the
 * records goes.  Keys in flight and pinned records are never evicted:
 * dropping one would let a concurrent redelivery through, or lose state
 * that exists nowhere else.
 */

/*
 * The record of that key and size, or a new node for it whose value_len
 * is still 0 and which is in no queue yet (the caller places it).  A node
 * of another kind or size under the key gives way.
 */

static ngx_http_qbsync_node_t *
ngx_http_qbsync_record_node(ngx_http_qbsync_zone_t *zone, uint32_t hash,
    uint32_t ns, ngx_str_t *key, size_t size, ngx_uint_t *evicted)
{
    ngx_http_qbsync_node_t  *qn;

    qn = ngx_http_qbsync_lookup(zone, hash, ns, key);

    if (qn != NULL
        && (qn->kind != NGX_HTTP_QBSYNC_RECORD || qn->value_len != size))
    {
        ngx_http_qbsync_delete(zone, qn);
        qn = NULL;
    }

    if (qn == NULL) {
        qn = ngx_http_qbsync_insert(zone, hash, ns, key, size, evicted);

        if (qn == NULL) {
            return NULL;
        }

        qn->kind = NGX_HTTP_QBSYNC_RECORD;
        qn->value_len = 0;
    }

    return qn;
}


static ngx_int_t
ngx_http_qbsync_evict_one(ngx_http_qbsync_zone_t *zone)
{
    ngx_queue_t             *q;
    ngx_http_qbsync_node_t  *done, *record;

    done = NULL;
    record = NULL;

    if (!ngx_queue_empty(&zone->sh->done)) {
        q = ngx_queue_last(&zone->sh->done);
        done = ngx_queue_data(q, ngx_http_qbsync_node_t, queue);
    }

    if (!ngx_queue_empty(&zone->sh->records)) {
        q = ngx_queue_last(&zone->sh->records);
        record = ngx_queue_data(q, ngx_http_qbsync_node_t, queue);
    }

    if (done == NULL && record == NULL) {
        return NGX_DECLINED;
    }

    if (record == NULL || (done != NULL && done->used <= record->used)) {
        ngx_http_qbsync_delete(zone, done);
        (void) ngx_atomic_fetch_add(&zone->sh->counters.keys_evicted, 1);

    } else {
        ngx_http_qbsync_delete(zone, record);
        (void) ngx_atomic_fetch_add(&zone->sh->counters.records_evicted, 1);
    }

    return NGX_OK;
}


static void
ngx_http_qbsync_expire(ngx_http_qbsync_zone_t *zone, ngx_msec_t now)
{
    ngx_uint_t               i, n;
    ngx_queue_t             *queue, *q;
    ngx_http_qbsync_node_t  *qn;
    ngx_queue_t             *queues[3];

    queues[0] = &zone->sh->inflight;
    queues[1] = &zone->sh->done;
    queues[2] = &zone->sh->records;

    for (i = 0; i < 3; i++) {
        queue = queues[i];

        for (n = 0; n < NGX_HTTP_QBSYNC_EXPIRE_BATCH; n++) {

            if (ngx_queue_empty(queue)) {
                break;
            }

            q = ngx_queue_last(queue);
            qn = ngx_queue_data(q, ngx_http_qbsync_node_t, queue);

            if (qn->expires > now) {
                break;
            }

            ngx_http_qbsync_delete(zone, qn);
        }
    }
}


static void
ngx_http_qbsync_delete(ngx_http_qbsync_zone_t *zone,
    ngx_http_qbsync_node_t *qn)
{
    ngx_rbtree_node_t  *node;

    node = (ngx_rbtree_node_t *)
               ((u_char *) qn - offsetof(ngx_rbtree_node_t, color));

    ngx_queue_remove(&qn->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, node);

    /*
     * The slab leaves a freed chunk as it was: without this, a request
     * whose key was taken over would still find its ticket here (held()),
     * and a worker's hint its node (lookup()).
     */
    qn->ticket = 0;

    ngx_slab_free_locked(zone->shpool, node);
}


/* The end of a change: a first eviction is logged, outside the lock. */

static void
ngx_http_qbsync_unlock(ngx_shm_zone_t *shm_zone, ngx_uint_t evicted)
{
    ngx_uint_t               warn;
    ngx_http_qbsync_zone_t  *zone;

    zone = shm_zone->data;

    warn = (evicted && !zone->sh->eviction_logged);

    if (warn) {
        zone->sh->eviction_logged = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (warn) {
        ngx_http_qbsync_warn_eviction(shm_zone);
    }
}


static void
ngx_http_qbsync_warn_eviction(ngx_shm_zone_t *shm_zone)
{
    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "qbsync_zone \"%V\" is full: evicting the oldest "
                  "completed event ids and cached records; a redelivery "
                  "of an evicted event is no longer recognised as a "
                  "duplicate, consider a larger zone (logged once)",
                  &shm_zone->shm.name);
}


/* wall-clock milliseconds: comparable across workers and reloads */

static ngx_msec_t
ngx_http_qbsync_zone_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (ngx_msec_t) (tp->sec * 1000 + tp->msec);
}


static time_t
ngx_http_qbsync_seconds_until(ngx_msec_t expires, ngx_msec_t now)
{
    if (expires <= now) {
        return 1;
    }

    return (time_t) ((expires - now + 999) / 1000);
}
