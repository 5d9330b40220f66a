
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_zone.h"


#define NGX_HTTP_QBSYNC_KEY_INFLIGHT  1
#define NGX_HTTP_QBSYNC_KEY_DONE      2

/*
 * Work done under the zone's mutex stays bounded: a few lazy expiries per
 * insert, and at most this many evictions when the slab is exhausted.
 */
#define NGX_HTTP_QBSYNC_EXPIRE_BATCH  2
#define NGX_HTTP_QBSYNC_EVICT_MAX     32


typedef struct {
    u_char                       color;
    u_char                       state;
    u_short                      len;
    uint32_t                     endpoint;
    ngx_queue_t                  queue;
    ngx_msec_t                   expires;
    uint64_t                     ticket;
    u_char                       event_id[1];
} ngx_http_qbsync_key_node_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;

    /* oldest lease at the tail */
    ngx_queue_t                  inflight;

    /* least recently seen at the tail: evicted first */
    ngx_queue_t                  done;

    uint64_t                     next_ticket;
    ngx_uint_t                   eviction_logged;
    ngx_http_qbsync_counters_t   counters;
} ngx_http_qbsync_shctx_t;


typedef struct {
    ngx_http_qbsync_shctx_t     *sh;
    ngx_slab_pool_t             *shpool;
} ngx_http_qbsync_zone_t;


static ngx_int_t ngx_http_qbsync_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_qbsync_key_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_qbsync_key_cmp(uint32_t endpoint, u_char *event_id,
    size_t len, ngx_http_qbsync_key_node_t *kn);
static uint32_t ngx_http_qbsync_key_hash(ngx_http_qbsync_key_t *key);
static ngx_http_qbsync_key_node_t *ngx_http_qbsync_key_lookup(
    ngx_http_qbsync_zone_t *zone, uint32_t hash, ngx_http_qbsync_key_t *key);
static ngx_http_qbsync_key_node_t *ngx_http_qbsync_key_alloc(
    ngx_http_qbsync_zone_t *zone, size_t len, ngx_uint_t *evicted);
static void ngx_http_qbsync_key_expire(ngx_http_qbsync_zone_t *zone,
    ngx_queue_t *queue, ngx_msec_t now);
static void ngx_http_qbsync_key_delete(ngx_http_qbsync_zone_t *zone,
    ngx_http_qbsync_key_node_t *kn);
static ngx_msec_t ngx_http_qbsync_zone_now(void);
static time_t ngx_http_qbsync_seconds_until(ngx_msec_t expires,
    ngx_msec_t now);


char *
ngx_http_qbsync_zone_add(ngx_conf_t *cf, ngx_str_t *value,
    ngx_shm_zone_t **shm_zone)
{
    u_char                  *p;
    ssize_t                  size;
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

    zone->init = ngx_http_qbsync_init_zone;
    zone->data = ctx;

    *shm_zone = zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_qbsync_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_qbsync_zone_t  *ozone = data;

    size_t                   len;
    ngx_http_qbsync_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload keeps the keys: redeliveries stay duplicates */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
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
                    ngx_http_qbsync_key_rbtree_insert_value);

    ngx_queue_init(&zone->sh->inflight);
    ngx_queue_init(&zone->sh->done);

    len = sizeof(" in qbsync_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in qbsync_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* running out of slab is expected and handled by eviction */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_http_qbsync_key_rc_e
ngx_http_qbsync_key_acquire(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_msec_t lease, time_t *retry_after)
{
    uint32_t                     hash;
    ngx_msec_t                   now;
    ngx_uint_t                   evicted, first_eviction;
    ngx_queue_t                 *q;
    ngx_rbtree_node_t           *node;
    ngx_http_qbsync_zone_t      *zone;
    ngx_http_qbsync_key_node_t  *kn, *oldest;
    ngx_http_qbsync_key_rc_e     rc;

    zone = shm_zone->data;
    hash = ngx_http_qbsync_key_hash(key);
    now = ngx_http_qbsync_zone_now();
    evicted = 0;
    first_eviction = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_qbsync_key_expire(zone, &zone->sh->inflight, now);
    ngx_http_qbsync_key_expire(zone, &zone->sh->done, now);

    kn = ngx_http_qbsync_key_lookup(zone, hash, key);

    if (kn) {

        if (kn->expires > now) {

            if (kn->state == NGX_HTTP_QBSYNC_KEY_DONE) {
                ngx_queue_remove(&kn->queue);
                ngx_queue_insert_head(&zone->sh->done, &kn->queue);
                rc = NGX_HTTP_QBSYNC_KEY_DUPLICATE;

            } else {
                *retry_after = ngx_http_qbsync_seconds_until(kn->expires, now);
                rc = NGX_HTTP_QBSYNC_KEY_IN_PROGRESS;
            }

            ngx_shmtx_unlock(&zone->shpool->mutex);
            return rc;
        }

        if (kn->state == NGX_HTTP_QBSYNC_KEY_INFLIGHT) {
            /* its request died with its worker, or outlived the lease */
            (void) ngx_atomic_fetch_add(&zone->sh->counters.keys_taken_over,
                                        1);
        }

        ngx_queue_remove(&kn->queue);

    } else {
        kn = ngx_http_qbsync_key_alloc(zone, key->event_id.len, &evicted);

        if (kn == NULL) {
            q = ngx_queue_last(&zone->sh->inflight);
            oldest = ngx_queue_data(q, ngx_http_qbsync_key_node_t, queue);

            *retry_after = ngx_queue_empty(&zone->sh->inflight)
                           ? 1
                           : ngx_http_qbsync_seconds_until(oldest->expires,
                                                           now);

            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_HTTP_QBSYNC_KEY_ZONE_FULL;
        }

        if (evicted && !zone->sh->eviction_logged) {
            zone->sh->eviction_logged = 1;
            first_eviction = 1;
        }

        node = (ngx_rbtree_node_t *)
                   ((u_char *) kn - offsetof(ngx_rbtree_node_t, color));
        node->key = hash;

        kn->len = (u_short) key->event_id.len;
        kn->endpoint = key->endpoint;
        ngx_memcpy(kn->event_id, key->event_id.data, key->event_id.len);

        ngx_rbtree_insert(&zone->sh->rbtree, node);
    }

    kn->state = NGX_HTTP_QBSYNC_KEY_INFLIGHT;
    kn->expires = now + lease;
    kn->ticket = ++zone->sh->next_ticket;
    key->ticket = kn->ticket;

    ngx_queue_insert_head(&zone->sh->inflight, &kn->queue);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (first_eviction) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "qbsync_zone \"%V\" is full: evicting the oldest "
                      "completed event ids; a redelivery of an evicted "
                      "event is no longer recognised as a duplicate, "
                      "consider a larger zone (logged once)",
                      &shm_zone->shm.name);
    }

    return NGX_HTTP_QBSYNC_KEY_ACQUIRED;
}


void
ngx_http_qbsync_key_complete(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_msec_t ttl, ngx_log_t *log)
{
    uint32_t                     hash;
    ngx_uint_t                   held;
    ngx_http_qbsync_zone_t      *zone;
    ngx_http_qbsync_key_node_t  *kn;

    zone = shm_zone->data;
    hash = ngx_http_qbsync_key_hash(key);

    ngx_shmtx_lock(&zone->shpool->mutex);

    kn = ngx_http_qbsync_key_lookup(zone, hash, key);

    held = (kn != NULL && kn->ticket == key->ticket
            && kn->state == NGX_HTTP_QBSYNC_KEY_INFLIGHT);

    if (held) {
        kn->state = NGX_HTTP_QBSYNC_KEY_DONE;
        kn->expires = ngx_http_qbsync_zone_now() + ttl;

        ngx_queue_remove(&kn->queue);
        ngx_queue_insert_head(&zone->sh->done, &kn->queue);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (!held) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "qbsync: event \"%V\" completed after its in-flight "
                      "lease expired; qbsync_inflight_lease is shorter "
                      "than the backend takes", &key->event_id);
    }
}


void
ngx_http_qbsync_key_release(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_key_t *key, ngx_log_t *log)
{
    uint32_t                     hash;
    ngx_http_qbsync_zone_t      *zone;
    ngx_http_qbsync_key_node_t  *kn;

    zone = shm_zone->data;
    hash = ngx_http_qbsync_key_hash(key);

    ngx_shmtx_lock(&zone->shpool->mutex);

    kn = ngx_http_qbsync_key_lookup(zone, hash, key);

    if (kn != NULL && kn->ticket == key->ticket
        && kn->state == NGX_HTTP_QBSYNC_KEY_INFLIGHT)
    {
        ngx_http_qbsync_key_delete(zone, kn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "qbsync: released event \"%V\"", &key->event_id);
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
ngx_http_qbsync_key_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t           **p;
    ngx_http_qbsync_key_node_t   *kn, *knt;

    kn = (ngx_http_qbsync_key_node_t *) &node->color;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            knt = (ngx_http_qbsync_key_node_t *) &temp->color;

            p = (ngx_http_qbsync_key_cmp(kn->endpoint, kn->event_id, kn->len,
                                         knt)
                 < 0)
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
ngx_http_qbsync_key_cmp(uint32_t endpoint, u_char *event_id, size_t len,
    ngx_http_qbsync_key_node_t *kn)
{
    if (endpoint != kn->endpoint) {
        return (endpoint < kn->endpoint) ? -1 : 1;
    }

    return ngx_memn2cmp(event_id, kn->event_id, len, (size_t) kn->len);
}


static uint32_t
ngx_http_qbsync_key_hash(ngx_http_qbsync_key_t *key)
{
    uint32_t  hash;

    ngx_crc32_init(hash);
    ngx_crc32_update(&hash, (u_char *) &key->endpoint, sizeof(uint32_t));
    ngx_crc32_update(&hash, key->event_id.data, key->event_id.len);
    ngx_crc32_final(hash);

    return hash;
}


static ngx_http_qbsync_key_node_t *
ngx_http_qbsync_key_lookup(ngx_http_qbsync_zone_t *zone, uint32_t hash,
    ngx_http_qbsync_key_t *key)
{
    ngx_int_t                    rc;
    ngx_rbtree_node_t           *node, *sentinel;
    ngx_http_qbsync_key_node_t  *kn;

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

        kn = (ngx_http_qbsync_key_node_t *) &node->color;

        rc = ngx_http_qbsync_key_cmp(key->endpoint, key->event_id.data,
                                     key->event_id.len, kn);

        if (rc == 0) {
            return kn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static ngx_http_qbsync_key_node_t *
ngx_http_qbsync_key_alloc(ngx_http_qbsync_zone_t *zone, size_t len,
    ngx_uint_t *evicted)
{
    size_t                       size;
    ngx_queue_t                 *q;
    ngx_rbtree_node_t           *node;
    ngx_http_qbsync_key_node_t  *oldest;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_qbsync_key_node_t, event_id)
           + len;

    for ( ;; ) {
        node = ngx_slab_alloc_locked(zone->shpool, size);

        if (node != NULL) {
            return (ngx_http_qbsync_key_node_t *) &node->color;
        }

        /*
         * Only completed keys are evicted: dropping one in flight would
         * let a concurrent redelivery through to the backend.
         */

        if (ngx_queue_empty(&zone->sh->done)
            || *evicted == NGX_HTTP_QBSYNC_EVICT_MAX)
        {
            return NULL;
        }

        q = ngx_queue_last(&zone->sh->done);
        oldest = ngx_queue_data(q, ngx_http_qbsync_key_node_t, queue);

        ngx_http_qbsync_key_delete(zone, oldest);

        (*evicted)++;
        (void) ngx_atomic_fetch_add(&zone->sh->counters.keys_evicted, 1);
    }
}


static void
ngx_http_qbsync_key_expire(ngx_http_qbsync_zone_t *zone, ngx_queue_t *queue,
    ngx_msec_t now)
{
    ngx_uint_t                   n;
    ngx_queue_t                 *q;
    ngx_http_qbsync_key_node_t  *kn;

    for (n = 0; n < NGX_HTTP_QBSYNC_EXPIRE_BATCH; n++) {

        if (ngx_queue_empty(queue)) {
            return;
        }

        q = ngx_queue_last(queue);
        kn = ngx_queue_data(q, ngx_http_qbsync_key_node_t, queue);

        if (kn->expires > now) {
            return;
        }

        ngx_http_qbsync_key_delete(zone, kn);
    }
}


static void
ngx_http_qbsync_key_delete(ngx_http_qbsync_zone_t *zone,
    ngx_http_qbsync_key_node_t *kn)
{
    ngx_rbtree_node_t  *node;

    node = (ngx_rbtree_node_t *)
               ((u_char *) kn - offsetof(ngx_rbtree_node_t, color));

    ngx_queue_remove(&kn->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, node);
    ngx_slab_free_locked(zone->shpool, node);
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
