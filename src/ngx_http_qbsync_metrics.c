
/*
 * Copyright (C) qbsync authors
 */


#include <time.h>

#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_reply.h"
#include "ngx_http_qbsync_sync.h"
#include "ngx_http_qbsync_zone.h"
#include "ngx_http_qbsync_limiter.h"
#include "ngx_http_qbsync_oauth.h"
#include "ngx_http_qbsync_deadletter.h"
#include "qbsync_yajl.h"


/* a first guess at the page; doubled until it fits */
#define NGX_HTTP_QBSYNC_METRICS_PAGE  32768


typedef struct {
    u_char                      *pos;
    u_char                      *end;
    ngx_uint_t                   overflow;
} ngx_http_qbsync_text_t;


/* one number a zone, in the order of ngx_http_qbsync_scalars[] */
#define NGX_HTTP_QBSYNC_SCALARS  6


typedef struct {
    const char                  *name;
    const char                  *help;
    qbsync_metrics_type_e        type;
} ngx_http_qbsync_family_t;


/* what one zone says, read once for a scrape */
typedef struct {
    ngx_shm_zone_t              *shm_zone;
    ngx_http_qbsync_metrics_t    m;
    ngx_http_qbsync_zone_usage_t usage;
    uint64_t                     scalars[NGX_HTTP_QBSYNC_SCALARS];
} ngx_http_qbsync_scrape_t;


static void ngx_http_qbsync_atomic_max(uint64_t *word, uint64_t value);
static void ngx_http_qbsync_atomic_min(uint64_t *word, uint64_t value);
static ngx_uint_t ngx_http_qbsync_status_index(ngx_uint_t status);
static ngx_uint_t ngx_http_qbsync_outcome_index(ngx_str_t *word);
static ngx_int_t ngx_http_qbsync_scrape(ngx_http_request_t *r,
    ngx_array_t *zones);
static void ngx_http_qbsync_metrics_text(ngx_http_request_t *r,
    ngx_array_t *zones, ngx_http_qbsync_text_t *t);
static void ngx_http_qbsync_metrics_realms(ngx_http_request_t *r,
    ngx_http_qbsync_text_t *t);
static void ngx_http_qbsync_metrics_tokens(ngx_http_request_t *r,
    ngx_http_qbsync_text_t *t);
static void ngx_http_qbsync_family(ngx_http_qbsync_text_t *t,
    const char *name, const char *help, qbsync_metrics_type_e type);
static void ngx_http_qbsync_sample(ngx_http_qbsync_text_t *t,
    const char *name, qbsync_metrics_label_t *labels, size_t n,
    uint64_t value);
static void ngx_http_qbsync_label(qbsync_metrics_label_t *label,
    const char *name, ngx_str_t *value);
static void ngx_http_qbsync_label_text(qbsync_metrics_label_t *label,
    const char *name, const char *value);
static size_t ngx_http_qbsync_metrics_json(ngx_http_request_t *r,
    ngx_array_t *zones, u_char *buf, size_t size);
static ngx_int_t ngx_http_qbsync_json_counts(yajl_gen gen, const char *name,
    const char *const *names, const uint64_t *counts, ngx_uint_t n);
static ngx_int_t ngx_http_qbsync_json_snapshot(yajl_gen gen,
    qbsync_metrics_snapshot_t *snapshot);


static ngx_http_qbsync_family_t  ngx_http_qbsync_scalars[] = {
    { "qbsync_retries_total", "Calls tried again after a 5xx, a 429, a "
      "timeout or a reset", QBSYNC_METRICS_COUNTER },
    { "qbsync_rate_limited_total", "429 answers from QuickBooks",
      QBSYNC_METRICS_COUNTER },
    { "qbsync_dead_letters", "Dead letters waiting for an operator",
      QBSYNC_METRICS_GAUGE },
    { "qbsync_dead_lettered_total", "Events parked as dead letters",
      QBSYNC_METRICS_COUNTER },
    { "qbsync_zone_used_bytes", "Bytes of the zone in use",
      QBSYNC_METRICS_GAUGE },
    { "qbsync_zone_size_bytes", "Bytes of the zone", QBSYNC_METRICS_GAUGE }
};


const char *const  ngx_http_qbsync_stage_names[NGX_HTTP_QBSYNC_STAGES] = {
    "verify", "parse", "dedupe", "oauth", "qb_query", "qb_write",
    "queue_wait", "total"
};


const char *const  ngx_http_qbsync_operation_names[NGX_HTTP_QBSYNC_OPS] = {
    "query", "read", "create", "update", "batch", "token_refresh",
    "stripe_product"
};


/* "none": the peer never answered, nginx's proxy gave up or was reset */
static const ngx_uint_t  ngx_http_qbsync_statuses[] = {
    200, 400, 401, 403, 404, 429, 500, 502, 503, 504, 0
};

const char *const  ngx_http_qbsync_status_names[NGX_HTTP_QBSYNC_STATUSES] = {
    "200", "400", "401", "403", "404", "429", "500", "502", "503", "504",
    "none", "other"
};


/*
 * The word of a delivery's outcome: the answer's "action" when the event
 * was synced or deliberately left, its "error" otherwise, "duplicate" and
 * "verified" (qbsync_verify, for another content handler).  Fixed, so
 * that the counters need no lock; one never listed counts as "other".
 */
const char *const
    ngx_http_qbsync_outcome_words[NGX_HTTP_QBSYNC_WEBHOOK_OUTCOMES] = {
    "verified", "duplicate", "created", "updated", "deactivated",
    "reactivated", "unchanged", "ignored", "stale", "price_recorded",
    "dead_lettered", "in_progress", "zone_full", "method_not_allowed",
    "unsupported_media_type", "missing_signature", "malformed_signature",
    "no_v1_signature", "timestamp_out_of_tolerance", "signature_mismatch",
    "invalid_json", "invalid_event", "internal_error", "invalid_product",
    "quickbooks_unavailable", "quickbooks_rate_limited",
    "quickbooks_reauthorization_required", "quickbooks_rejected",
    "stripe_unavailable", "dead_letter_failed", "other"
};


uint64_t
ngx_http_qbsync_now_us(void)
{
    struct timespec  ts;

    /* vDSO: no system call, so a few per request cost next to nothing */
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


uint64_t
ngx_http_qbsync_now_ns(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}


/* qbsync_metrics.h says how: min and max first, the count last */

void
ngx_http_qbsync_observe(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_stage_e stage, uint64_t us)
{
    qbsync_histogram_t  *h;

    if (shm_zone == NULL) {
        return;
    }

    h = &ngx_http_qbsync_zone_metrics(shm_zone)->stages[stage];

    if (us == 0) {
        us = 1;
    }

    ngx_http_qbsync_atomic_min(&h->min_us, us);
    ngx_http_qbsync_atomic_max(&h->max_us, us);

    (void) __atomic_fetch_add(&h->sum_us, us, __ATOMIC_RELAXED);
    (void) __atomic_fetch_add(&h->buckets[qbsync_metrics_bucket(us)], 1,
                              __ATOMIC_RELAXED);
    (void) __atomic_fetch_add(&h->count, 1, __ATOMIC_RELEASE);
}


static void
ngx_http_qbsync_atomic_min(uint64_t *word, uint64_t value)
{
    uint64_t  old;

    old = __atomic_load_n(word, __ATOMIC_RELAXED);

    while ((old == 0 || value < old)
           && !__atomic_compare_exchange_n(word, &old, value, 1,
                                           __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED))
    {
        /* old now holds what another worker wrote: compare again */
    }
}


static void
ngx_http_qbsync_atomic_max(uint64_t *word, uint64_t value)
{
    uint64_t  old;

    old = __atomic_load_n(word, __ATOMIC_RELAXED);

    while (value > old
           && !__atomic_compare_exchange_n(word, &old, value, 1,
                                           __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED))
    {
        /* old now holds what another worker wrote: compare again */
    }
}


void
ngx_http_qbsync_count_call(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_operation_e operation, ngx_uint_t status, uint64_t us)
{
    ngx_http_qbsync_metrics_t  *m;

    if (shm_zone == NULL) {
        return;
    }

    m = ngx_http_qbsync_zone_metrics(shm_zone);

    (void) __atomic_fetch_add(
                     &m->calls[operation][ngx_http_qbsync_status_index(status)],
                     1, __ATOMIC_RELAXED);

    if (status == NGX_HTTP_TOO_MANY_REQUESTS) {
        (void) __atomic_fetch_add(&m->throttled, 1, __ATOMIC_RELAXED);
    }

    if (operation <= NGX_HTTP_QBSYNC_OP_BATCH) {

        /* a 4xx is an answer: QuickBooks is there, the request was not */
        if (status >= NGX_HTTP_OK && status < NGX_HTTP_INTERNAL_SERVER_ERROR
            && status != NGX_HTTP_TOO_MANY_REQUESTS)
        {
            __atomic_store_n(&m->last_success, (uint64_t) ngx_time(),
                             __ATOMIC_RELAXED);
            __atomic_store_n(&m->failures, 0, __ATOMIC_RELAXED);

        } else {
            (void) __atomic_fetch_add(&m->failures, 1, __ATOMIC_RELAXED);
        }
    }

    switch (operation) {

    case NGX_HTTP_QBSYNC_OP_QUERY:
    case NGX_HTTP_QBSYNC_OP_READ:
        ngx_http_qbsync_observe(shm_zone, NGX_HTTP_QBSYNC_STAGE_QB_QUERY, us);
        break;

    case NGX_HTTP_QBSYNC_OP_CREATE:
    case NGX_HTTP_QBSYNC_OP_UPDATE:
    case NGX_HTTP_QBSYNC_OP_BATCH:
        ngx_http_qbsync_observe(shm_zone, NGX_HTTP_QBSYNC_STAGE_QB_WRITE, us);
        break;

    case NGX_HTTP_QBSYNC_OP_TOKEN_REFRESH:
        ngx_http_qbsync_observe(shm_zone, NGX_HTTP_QBSYNC_STAGE_OAUTH, us);
        break;

    default:
        break;
    }
}


void
ngx_http_qbsync_count_retry(ngx_shm_zone_t *shm_zone)
{
    if (shm_zone) {
        (void) __atomic_fetch_add(
                           &ngx_http_qbsync_zone_metrics(shm_zone)->retries,
                           1, __ATOMIC_RELAXED);
    }
}


void
ngx_http_qbsync_count_dead_letter(ngx_shm_zone_t *shm_zone)
{
    if (shm_zone) {
        (void) __atomic_fetch_add(
                     &ngx_http_qbsync_zone_metrics(shm_zone)->dead_lettered,
                     1, __ATOMIC_RELAXED);
    }
}


static ngx_uint_t
ngx_http_qbsync_status_index(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_http_qbsync_statuses) / sizeof(ngx_uint_t);
         i++)
    {
        if (ngx_http_qbsync_statuses[i] == status) {
            return i;
        }
    }

    return NGX_HTTP_QBSYNC_STATUSES - 1;
}


static ngx_uint_t
ngx_http_qbsync_outcome_index(ngx_str_t *word)
{
    ngx_uint_t  i;

    /* the last word is "other" */
    for (i = 0; ngx_http_qbsync_outcome_words[i + 1]; i++) {
        if (ngx_strlen(ngx_http_qbsync_outcome_words[i]) == word->len
            && ngx_strncmp(ngx_http_qbsync_outcome_words[i], word->data,
                           word->len)
               == 0)
        {
            break;
        }
    }

    return i;
}


/* A delivery's final outcome and time, from the events' log phase. */

void
ngx_http_qbsync_metrics_delivery(ngx_shm_zone_t *shm_zone, ngx_str_t *word,
    ngx_msec_t ms)
{
    ngx_http_qbsync_metrics_t  *m;

    m = ngx_http_qbsync_zone_metrics(shm_zone);

    (void) __atomic_fetch_add(
                     &m->webhooks[ngx_http_qbsync_outcome_index(word)], 1,
                     __ATOMIC_RELAXED);

    ngx_http_qbsync_observe(shm_zone, NGX_HTTP_QBSYNC_STAGE_TOTAL,
                            (uint64_t) ms * 1000);
}


/*
 * qbsync_metrics: every zone's figures, as Prometheus' text exposition
 * format or, with ?format=json, as one JSON object.
 */

ngx_int_t
ngx_http_qbsync_metrics_handler(ngx_http_request_t *r)
{
    size_t                  size, len;
    u_char                 *buf;
    ngx_int_t               rc;
    ngx_str_t               format, type;
    ngx_uint_t              json;
    ngx_array_t             zones;
    ngx_http_qbsync_text_t  t;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "the metrics are read with GET");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    json = (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK
            && format.len == 4 && ngx_strncmp(format.data, "json", 4) == 0);

    if (ngx_http_qbsync_scrape(r, &zones) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (size = NGX_HTTP_QBSYNC_METRICS_PAGE; /* void */ ; size *= 2) {

        buf = ngx_pnalloc(r->pool, size);
        if (buf == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (json) {
            len = ngx_http_qbsync_metrics_json(r, &zones, buf, size);

            if (len) {
                return ngx_http_qbsync_reply_json(r, NGX_HTTP_OK, buf, len);
            }

        } else {
            t.pos = buf;
            t.end = buf + size;
            t.overflow = 0;

            ngx_http_qbsync_metrics_text(r, &zones, &t);

            if (!t.overflow) {
                len = t.pos - buf;
                break;
            }
        }

        ngx_pfree(r->pool, buf);

        if (size > 64 * 1024 * 1024) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_str_set(&type, "text/plain; version=0.0.4; charset=utf-8");

    return ngx_http_qbsync_reply(r, NGX_HTTP_OK, &type, buf, len);
}


/* A copy of each zone's figures, so that the text is written unlocked. */

static ngx_int_t
ngx_http_qbsync_scrape(ngx_http_request_t *r, ngx_array_t *zones)
{
    ngx_uint_t                    i;
    ngx_shm_zone_t              **shm_zones;
    ngx_http_qbsync_scrape_t     *s;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    shm_zones = qmcf->zones.elts;

    if (ngx_array_init(zones, r->pool, ngx_max(qmcf->zones.nelts, 1),
                       sizeof(ngx_http_qbsync_scrape_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < qmcf->zones.nelts; i++) {
        s = ngx_array_push(zones);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->shm_zone = shm_zones[i];
        ngx_memcpy(&s->m, ngx_http_qbsync_zone_metrics(shm_zones[i]),
                   sizeof(ngx_http_qbsync_metrics_t));
        ngx_http_qbsync_zone_usage(shm_zones[i], &s->usage);

        s->scalars[0] = s->m.retries;
        s->scalars[1] = s->m.throttled;
        s->scalars[2] = ngx_http_qbsync_dead_letter_count(shm_zones[i]);
        s->scalars[3] = s->m.dead_lettered;
        s->scalars[4] = s->usage.used;
        s->scalars[5] = s->usage.size;
    }

    return NGX_OK;
}


static void
ngx_http_qbsync_metrics_text(ngx_http_request_t *r, ngx_array_t *zones,
    ngx_http_qbsync_text_t *t)
{
    ngx_uint_t                 i, j, k;
    ngx_http_qbsync_scrape_t  *s;
    qbsync_metrics_label_t     labels[3];

    s = zones->elts;

    ngx_http_qbsync_family(t, "qbsync_webhooks_total",
                           "Webhook deliveries answered, by outcome: the "
                           "answer's action or error",
                           QBSYNC_METRICS_COUNTER);

    for (i = 0; i < zones->nelts; i++) {
        ngx_http_qbsync_label(&labels[0], "zone", &s[i].shm_zone->shm.name);

        for (j = 0; j < NGX_HTTP_QBSYNC_WEBHOOK_OUTCOMES; j++) {
            if (ngx_http_qbsync_outcome_words[j] == NULL) {
                break;
            }

            ngx_http_qbsync_label_text(&labels[1], "outcome",
                                       ngx_http_qbsync_outcome_words[j]);
            ngx_http_qbsync_sample(t, "qbsync_webhooks_total", labels, 2,
                                   s[i].m.webhooks[j]);
        }
    }

    ngx_http_qbsync_family(t, "qbsync_quickbooks_calls_total",
                           "Calls to QuickBooks (and to Intuit's token "
                           "endpoint and Stripe's API), by operation and "
                           "status; none: no answer",
                           QBSYNC_METRICS_COUNTER);

    for (i = 0; i < zones->nelts; i++) {
        ngx_http_qbsync_label(&labels[0], "zone", &s[i].shm_zone->shm.name);

        for (j = 0; j < NGX_HTTP_QBSYNC_OPS; j++) {
            ngx_http_qbsync_label_text(&labels[1], "operation",
                                       ngx_http_qbsync_operation_names[j]);

            for (k = 0; k < NGX_HTTP_QBSYNC_STATUSES; k++) {
                if (s[i].m.calls[j][k] == 0) {
                    continue;
                }

                ngx_http_qbsync_label_text(&labels[2], "status",
                                           ngx_http_qbsync_status_names[k]);
                ngx_http_qbsync_sample(t, "qbsync_quickbooks_calls_total",
                                       labels, 3, s[i].m.calls[j][k]);
            }
        }
    }

    for (j = 0; j < NGX_HTTP_QBSYNC_SCALARS; j++) {
        ngx_http_qbsync_family(t, ngx_http_qbsync_scalars[j].name,
                               ngx_http_qbsync_scalars[j].help,
                               ngx_http_qbsync_scalars[j].type);

        for (i = 0; i < zones->nelts; i++) {
            ngx_http_qbsync_label(&labels[0], "zone",
                                  &s[i].shm_zone->shm.name);
            ngx_http_qbsync_sample(t, ngx_http_qbsync_scalars[j].name,
                                   labels, 1, s[i].scalars[j]);
        }
    }

    ngx_http_qbsync_family(t, "qbsync_idempotency_keys",
                           "Event ids kept for deduplication, by state",
                           QBSYNC_METRICS_GAUGE);

    for (i = 0; i < zones->nelts; i++) {
        ngx_http_qbsync_label(&labels[0], "zone", &s[i].shm_zone->shm.name);
        ngx_http_qbsync_label_text(&labels[1], "state", "in_flight");
        ngx_http_qbsync_sample(t, "qbsync_idempotency_keys", labels, 2,
                               s[i].usage.keys_in_flight);
        ngx_http_qbsync_label_text(&labels[1], "state", "done");
        ngx_http_qbsync_sample(t, "qbsync_idempotency_keys", labels, 2,
                               s[i].usage.keys_done);
    }

    ngx_http_qbsync_metrics_realms(r, t);
    ngx_http_qbsync_metrics_tokens(r, t);

    ngx_http_qbsync_family(t, "qbsync_stage_duration_seconds",
                           "Time spent in each stage of a sync",
                           QBSYNC_METRICS_HISTOGRAM);

    for (i = 0; i < zones->nelts; i++) {
        ngx_http_qbsync_label(&labels[0], "zone", &s[i].shm_zone->shm.name);

        for (j = 0; j < NGX_HTTP_QBSYNC_STAGES; j++) {
            ngx_http_qbsync_label_text(&labels[1], "stage",
                                       ngx_http_qbsync_stage_names[j]);

            if (!t->overflow) {
                k = qbsync_metrics_histogram(t->pos, t->end - t->pos,
                                             "qbsync_stage_duration_seconds",
                                             labels, 2, &s[i].m.stages[j]);
                t->pos += k;
                t->overflow = (k == 0);
            }
        }
    }
}


/* Per realm: its items in the mapping cache, its limiter. */

static void
ngx_http_qbsync_metrics_realms(ngx_http_request_t *r,
    ngx_http_qbsync_text_t *t)
{
    uint32_t                      ns;
    ngx_uint_t                    i, pass;
    qbsync_limiter_t              limiter;
    qbsync_metrics_label_t        labels[1];
    ngx_http_qbsync_binding_t    *realms;
    ngx_http_qbsync_main_conf_t  *qmcf;

    static const char *const  names[] = {
        "qbsync_cache_entries", "qbsync_limiter_rate_per_minute",
        "qbsync_limiter_in_flight", "qbsync_limiter_throttles_total"
    };

    static const char *const  helps[] = {
        "Products whose QuickBooks item the zone knows",
        "The rate the limiter allows now (it halves after a 429)",
        "Calls to QuickBooks in flight",
        "429s the limiter has slowed down for"
    };

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    realms = qmcf->realms.elts;

    for (pass = 0; pass < 4; pass++) {
        ngx_http_qbsync_family(t, names[pass], helps[pass],
                               (pass == 3) ? QBSYNC_METRICS_COUNTER
                                           : QBSYNC_METRICS_GAUGE);

        for (i = 0; i < qmcf->realms.nelts; i++) {
            ns = ngx_http_qbsync_zone_ns("realm", &realms[i].name);
            ngx_http_qbsync_label(&labels[0], "realm", &realms[i].name);

            if (pass == 0) {
                ngx_http_qbsync_sample(t, names[pass], labels, 1,
                                       ngx_http_qbsync_record_count(
                                                 realms[i].shm_zone, ns, 0));
                continue;
            }

            ngx_http_qbsync_limiter_state(realms[i].shm_zone, ns,
                                          realms[i].limits, &limiter);

            ngx_http_qbsync_sample(t, names[pass], labels, 1,
                                   (pass == 1) ? limiter.rate
                                   : (pass == 2) ? limiter.in_flight
                                   : limiter.throttles);
        }
    }
}


/* Per token file: how long its tokens last (0: expired or unknown). */

static void
ngx_http_qbsync_metrics_tokens(ngx_http_request_t *r,
    ngx_http_qbsync_text_t *t)
{
    time_t                        expires, refresh_expires;
    ngx_uint_t                    i, reauthorize;
    qbsync_metrics_label_t        labels[1];
    ngx_http_qbsync_binding_t    *files;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    files = qmcf->token_files.elts;

    ngx_http_qbsync_family(t, "qbsync_oauth_access_token_expiry_seconds",
                           "Seconds until the QuickBooks access token "
                           "expires (refreshed 5 minutes before)",
                           QBSYNC_METRICS_GAUGE);

    for (i = 0; i < qmcf->token_files.nelts; i++) {
        ngx_http_qbsync_oauth_state(files[i].shm_zone, &files[i].name,
                                    &expires, &refresh_expires, &reauthorize);
        ngx_http_qbsync_label(&labels[0], "token_file", &files[i].name);
        ngx_http_qbsync_sample(t, "qbsync_oauth_access_token_expiry_seconds",
                               labels, 1,
                               (expires > ngx_time()) ? expires - ngx_time()
                                                      : 0);
    }

    ngx_http_qbsync_family(t, "qbsync_oauth_refresh_token_expiry_seconds",
                           "Seconds until the refresh token expires: "
                           "re-authorise before it does",
                           QBSYNC_METRICS_GAUGE);

    for (i = 0; i < qmcf->token_files.nelts; i++) {
        ngx_http_qbsync_oauth_state(files[i].shm_zone, &files[i].name,
                                    &expires, &refresh_expires, &reauthorize);
        ngx_http_qbsync_label(&labels[0], "token_file", &files[i].name);
        ngx_http_qbsync_sample(t, "qbsync_oauth_refresh_token_expiry_seconds",
                               labels, 1,
                               (refresh_expires > ngx_time())
                               ? refresh_expires - ngx_time() : 0);
    }

    ngx_http_qbsync_family(t, "qbsync_oauth_reauthorization_required",
                           "1 when Intuit refused the refresh token",
                           QBSYNC_METRICS_GAUGE);

    for (i = 0; i < qmcf->token_files.nelts; i++) {
        ngx_http_qbsync_oauth_state(files[i].shm_zone, &files[i].name,
                                    &expires, &refresh_expires, &reauthorize);
        ngx_http_qbsync_label(&labels[0], "token_file", &files[i].name);
        ngx_http_qbsync_sample(t, "qbsync_oauth_reauthorization_required",
                               labels, 1, reauthorize);
    }
}


static void
ngx_http_qbsync_family(ngx_http_qbsync_text_t *t, const char *name,
    const char *help, qbsync_metrics_type_e type)
{
    size_t  n;

    if (t->overflow) {
        return;
    }

    n = qbsync_metrics_family(t->pos, t->end - t->pos, name, help, type);

    t->pos += n;
    t->overflow = (n == 0);
}


static void
ngx_http_qbsync_sample(ngx_http_qbsync_text_t *t, const char *name,
    qbsync_metrics_label_t *labels, size_t n, uint64_t value)
{
    size_t  len;

    if (t->overflow) {
        return;
    }

    len = qbsync_metrics_sample(t->pos, t->end - t->pos, name, labels, n,
                                value);

    t->pos += len;
    t->overflow = (len == 0);
}


static void
ngx_http_qbsync_label(qbsync_metrics_label_t *label, const char *name,
    ngx_str_t *value)
{
    label->name = name;
    label->value = (const char *) value->data;
    label->len = value->len;
}


static void
ngx_http_qbsync_label_text(qbsync_metrics_label_t *label, const char *name,
    const char *value)
{
    label->name = name;
    label->value = value;
    label->len = ngx_strlen(value);
}


/*
 * {"zones": {"<zone>": {"webhooks": {...}, "quickbooks_calls": {"<op>":
 * {"<status>": n}}, "retries", "rate_limited", "dead_letters",
 * "dead_lettered", "zone_used_bytes", "zone_size_bytes", "stages":
 * {"<stage>": {"count", "mean", "min", "max", "p50", "p95", "p99"}}}}}
 */

static size_t
ngx_http_qbsync_metrics_json(ngx_http_request_t *r, ngx_array_t *zones,
    u_char *buf, size_t size)
{
    int                         ok;
    size_t                      len;
    yajl_gen                    gen;
    ngx_uint_t                  i, j;
    const char                 *name;
    qbsync_yajl_out_t           out;
    ngx_http_qbsync_scrape_t   *s;
    qbsync_metrics_snapshot_t   snapshot;

    s = zones->elts;

    gen = qbsync_yajl_gen(&out, buf, size);
    if (gen == NULL) {
        return 0;
    }

    ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
         && yajl_gen_string(gen, (u_char *) "zones", 5) == yajl_gen_status_ok
         && yajl_gen_map_open(gen) == yajl_gen_status_ok;

    for (i = 0; ok && i < zones->nelts; i++) {
        ok = yajl_gen_string(gen, s[i].shm_zone->shm.name.data,
                             s[i].shm_zone->shm.name.len)
                 == yajl_gen_status_ok
             && yajl_gen_map_open(gen) == yajl_gen_status_ok
             && ngx_http_qbsync_json_counts(gen, "webhooks",
                      ngx_http_qbsync_outcome_words, s[i].m.webhooks,
                      NGX_HTTP_QBSYNC_WEBHOOK_OUTCOMES)
             && yajl_gen_string(gen, (u_char *) "quickbooks_calls", 16)
                == yajl_gen_status_ok
             && yajl_gen_map_open(gen) == yajl_gen_status_ok;

        for (j = 0; ok && j < NGX_HTTP_QBSYNC_OPS; j++) {
            ok = ngx_http_qbsync_json_counts(gen,
                                         ngx_http_qbsync_operation_names[j],
                                         ngx_http_qbsync_status_names,
                                         s[i].m.calls[j],
                                         NGX_HTTP_QBSYNC_STATUSES);
        }

        ok = ok && yajl_gen_map_close(gen) == yajl_gen_status_ok;

        for (j = 0; ok && j < NGX_HTTP_QBSYNC_SCALARS; j++) {
            /* "qbsync_retries_total" is "retries" here */
            name = ngx_http_qbsync_scalars[j].name + sizeof("qbsync_") - 1;
            len = ngx_strlen(name);

            if (len > 6 && ngx_strcmp(name + len - 6, "_total") == 0) {
                len -= 6;
            }

            ok = yajl_gen_string(gen, (u_char *) name, len)
                     == yajl_gen_status_ok
                 && yajl_gen_integer(gen, s[i].scalars[j])
                    == yajl_gen_status_ok;
        }

        ok = ok && yajl_gen_string(gen, (u_char *) "stages", 6)
                   == yajl_gen_status_ok
             && yajl_gen_map_open(gen) == yajl_gen_status_ok;

        for (j = 0; ok && j < NGX_HTTP_QBSYNC_STAGES; j++) {
            qbsync_metrics_snapshot(&s[i].m.stages[j], &snapshot);

            ok = yajl_gen_string(gen,
                                 (u_char *) ngx_http_qbsync_stage_names[j],
                                 ngx_strlen(ngx_http_qbsync_stage_names[j]))
                     == yajl_gen_status_ok
                 && ngx_http_qbsync_json_snapshot(gen, &snapshot);
        }

        ok = ok && yajl_gen_map_close(gen) == yajl_gen_status_ok
             && yajl_gen_map_close(gen) == yajl_gen_status_ok;
    }

    ok = ok && yajl_gen_map_close(gen) == yajl_gen_status_ok
         && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    return qbsync_yajl_done(gen, &out, ok);
}


static ngx_int_t
ngx_http_qbsync_json_counts(yajl_gen gen, const char *name,
    const char *const *names, const uint64_t *counts, ngx_uint_t n)
{
    ngx_uint_t  i;

    if (yajl_gen_string(gen, (u_char *) name, ngx_strlen(name))
        != yajl_gen_status_ok
        || yajl_gen_map_open(gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (counts[i] == 0) {
            continue;
        }

        if (yajl_gen_string(gen, (u_char *) names[i], ngx_strlen(names[i]))
            != yajl_gen_status_ok
            || yajl_gen_integer(gen, counts[i]) != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    return yajl_gen_map_close(gen) == yajl_gen_status_ok;
}


/* {"count", "mean", "min", "max", "p50", "p95", "p99"}, in seconds */

static ngx_int_t
ngx_http_qbsync_json_snapshot(yajl_gen gen,
    qbsync_metrics_snapshot_t *snapshot)
{
    char        seconds[QBSYNC_METRICS_SECONDS_LEN];
    size_t      len;
    uint64_t    values[6];
    ngx_uint_t  i;

    static const char *const  names[] = {
        "mean", "min", "max", "p50", "p95", "p99"
    };

    values[0] = snapshot->mean_us;
    values[1] = snapshot->min_us;
    values[2] = snapshot->max_us;
    values[3] = snapshot->p50_us;
    values[4] = snapshot->p95_us;
    values[5] = snapshot->p99_us;

    if (yajl_gen_map_open(gen) != yajl_gen_status_ok
        || yajl_gen_string(gen, (u_char *) "count", 5) != yajl_gen_status_ok
        || yajl_gen_integer(gen, snapshot->count) != yajl_gen_status_ok)
    {
        return 0;
    }

    for (i = 0; i < 6; i++) {
        len = qbsync_metrics_seconds(seconds, values[i]);

        if (yajl_gen_string(gen, (u_char *) names[i], ngx_strlen(names[i]))
            != yajl_gen_status_ok
            || yajl_gen_number(gen, seconds, len) != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    return yajl_gen_map_close(gen) == yajl_gen_status_ok;
}
