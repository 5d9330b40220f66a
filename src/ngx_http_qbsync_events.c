
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_events.h"
#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_reply.h"
#include "ngx_http_qbsync_sync.h"
#include "ngx_http_qbsync_zone.h"


/* the most an answer holds: QBSYNC_EVENTS_LIMIT_MAX records */
#define NGX_HTTP_QBSYNC_EVENTS_STATS_MAX  8192


typedef struct {
    qbsync_events_filter_t      *filter;
    qbsync_events_record_t      *records;
    ngx_uint_t                   n;
    qbsync_events_stats_t       *stats;
} ngx_http_qbsync_events_query_t;


static qbsync_event_kind_e ngx_http_qbsync_events_kind(ngx_str_t *word,
    ngx_uint_t *failed);
static ngx_int_t ngx_http_qbsync_events_collect(
    qbsync_events_record_t *record, void *data);
static ngx_int_t ngx_http_qbsync_events_list(ngx_http_request_t *r,
    ngx_http_qbsync_events_query_t *q);
static void ngx_http_qbsync_audit_write(ngx_http_qbsync_audit_t *audit,
    qbsync_events_record_t *record, ngx_log_t *log);
static void ngx_http_qbsync_audit_flush(ngx_http_qbsync_audit_t *audit,
    ngx_log_t *log);
static void ngx_http_qbsync_audit_flush_file(ngx_open_file_t *file,
    ngx_log_t *log);
static void ngx_http_qbsync_audit_timer(ngx_event_t *ev);


/* the words of a failed delivery that have a kind of their own */
static const char *const  ngx_http_qbsync_signature_words[] = {
    "missing_signature", "malformed_signature", "no_v1_signature",
    "timestamp_out_of_tolerance", "signature_mismatch", NULL
};


void
ngx_http_qbsync_event_init(ngx_http_request_t *r,
    qbsync_events_record_t *record, qbsync_event_kind_e kind,
    const char *outcome, size_t len)
{
    ngx_time_t                *tp;
    ngx_http_qbsync_ctx_t     *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_memzero(record, sizeof(qbsync_events_record_t));

    tp = ngx_timeofday();

    record->time_ms = (uint64_t) tp->sec * 1000 + tp->msec;
    record->kind = kind;

    clcf = ngx_http_get_module_loc_conf(r->main, ngx_http_core_module);

    qbsync_events_set(&record->location, (char *) clcf->name.data,
                      clcf->name.len);

    ctx = ngx_http_qbsync_get_ctx(r->main);

    if (ctx) {
        qbsync_events_set(&record->trace_id, (char *) ctx->trace_id, 32);
    }
    qbsync_events_set(&record->outcome, outcome, len);
}


/* Into the zone's ring, and the audit log when there is one. */

void
ngx_http_qbsync_event_add(ngx_http_request_t *r, ngx_shm_zone_t *shm_zone,
    qbsync_events_record_t *record)
{
    ngx_http_qbsync_main_conf_t  *qmcf;

    if (shm_zone == NULL) {
        return;
    }

    ngx_http_qbsync_ring_push(shm_zone, record);

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);

    if (qmcf->audit) {
        ngx_http_qbsync_audit_write(qmcf->audit, record,
                                    r->connection->log);
    }
}


/*
 * The log phase of a webhook delivery (or of qbsync_verify's): its outcome
 * is final once the answer is sent, so this is where it is counted and
 * recorded, with its event, product, item and time.
 */

ngx_int_t
ngx_http_qbsync_events_log(ngx_http_request_t *r)
{
    ngx_str_t                    word, product, item_id;
    ngx_uint_t                   failed, attempts;
    ngx_msec_int_t               ms;
    ngx_time_t                  *tp;
    qbsync_event_kind_e          kind;
    ngx_http_qbsync_ctx_t       *ctx;
    qbsync_events_record_t       record;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    ctx = ngx_http_qbsync_get_ctx(r);

    if (ctx == NULL || !ctx->decided) {
        return NGX_OK;
    }

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    if (qlcf->shm_zone == NULL) {
        return NGX_OK;
    }

    ngx_http_qbsync_delivery_outcome(r, ctx, &word);
    kind = ngx_http_qbsync_events_kind(&word, &failed);

    ngx_http_qbsync_event_init(r, &record, kind, (char *) word.data,
                               word.len);

    qbsync_events_set(&record.stripe_event, (char *) ctx->key.id.data,
                      ctx->key.id.len);
    qbsync_events_set(&record.stripe_type, (char *) ctx->event_type.data,
                      ctx->event_type.len);

    if (failed) {
        qbsync_events_set(&record.error, (char *) word.data, word.len);
    }

    if (ctx->sync) {
        ngx_http_qbsync_sync_detail(ctx->sync, &product, &item_id,
                                    &attempts);

        qbsync_events_set(&record.product, (char *) product.data,
                          product.len);
        qbsync_events_set(&record.qb_item_id, (char *) item_id.data,
                          item_id.len);
        record.attempts = (uint16_t) ngx_min(attempts, 65535);
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);
    record.duration_ms = (uint32_t) ms;

    ngx_http_qbsync_metrics_delivery(qlcf->shm_zone, &word, (ngx_msec_t) ms);
    ngx_http_qbsync_event_add(r, qlcf->shm_zone, &record);

    return NGX_OK;
}


static qbsync_event_kind_e
ngx_http_qbsync_events_kind(ngx_str_t *word, ngx_uint_t *failed)
{
    ngx_uint_t  i;

    static const struct {
        const char           *word;
        qbsync_event_kind_e   kind;
    } kinds[] = {
        { "created", QBSYNC_EVENTS_ITEM_CREATED },
        { "updated", QBSYNC_EVENTS_ITEM_UPDATED },
        { "reactivated", QBSYNC_EVENTS_ITEM_UPDATED },
        { "deactivated", QBSYNC_EVENTS_ITEM_DEACTIVATED },
        { "unchanged", QBSYNC_EVENTS_SYNC_COMPLETED },
        { "ignored", QBSYNC_EVENTS_SYNC_COMPLETED },
        { "price_recorded", QBSYNC_EVENTS_SYNC_COMPLETED },
        { "verified", QBSYNC_EVENTS_SYNC_COMPLETED },
        { "stale", QBSYNC_EVENTS_STALE },
        { "duplicate", QBSYNC_EVENTS_DUPLICATE },
        { "dead_lettered", QBSYNC_EVENTS_DEAD_LETTERED },
        { NULL, QBSYNC_EVENTS_SYNC_FAILED }
    };

    *failed = 0;

    for (i = 0; kinds[i].word; i++) {
        if (word->len == ngx_strlen(kinds[i].word)
            && ngx_strncmp(word->data, kinds[i].word, word->len) == 0)
        {
            return kinds[i].kind;
        }
    }

    *failed = 1;

    for (i = 0; ngx_http_qbsync_signature_words[i]; i++) {
        if (word->len == ngx_strlen(ngx_http_qbsync_signature_words[i])
            && ngx_strncmp(word->data, ngx_http_qbsync_signature_words[i],
                           word->len)
               == 0)
        {
            return QBSYNC_EVENTS_SIGNATURE_REJECTED;
        }
    }

    if (word->len == sizeof("quickbooks_rate_limited") - 1
        && ngx_strncmp(word->data, "quickbooks_rate_limited", word->len) == 0)
    {
        return QBSYNC_EVENTS_RATE_LIMITED;
    }

    return QBSYNC_EVENTS_SYNC_FAILED;
}


/*
 * qbsync_events: GET ?type=&product=&outcome=&since=&until=&limit=
 * answers {"events": [...]}, newest first; ?stats=1 the counts of the
 * matching events by type and outcome, and of all since the ring began.
 */

ngx_int_t
ngx_http_qbsync_events_handler(ngx_http_request_t *r)
{
    u_char                          *buf;
    size_t                           len;
    ngx_int_t                        rc;
    ngx_http_qbsync_loc_conf_t      *qlcf;
    qbsync_events_stats_t           *since_start;
    qbsync_events_filter_t           filter;
    ngx_http_qbsync_events_query_t   q;
    char                             error[128];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "the events are read with GET");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (qbsync_events_filter_parse(&filter, (char *) r->args.data,
                                   r->args.len, error, sizeof(error))
        != 0)
    {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_filter", error);
    }

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    ngx_memzero(&q, sizeof(ngx_http_qbsync_events_query_t));
    q.filter = &filter;

    if (!filter.stats) {
        q.records = ngx_palloc(r->pool,
                               filter.limit * sizeof(qbsync_events_record_t));
        if (q.records == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_qbsync_ring_walk(qlcf->shm_zone,
                                  ngx_http_qbsync_events_collect, &q, NULL);

        return ngx_http_qbsync_events_list(r, &q);
    }

    q.stats = ngx_pcalloc(r->pool, sizeof(qbsync_events_stats_t));
    since_start = ngx_palloc(r->pool, sizeof(qbsync_events_stats_t));
    buf = ngx_pnalloc(r->pool, NGX_HTTP_QBSYNC_EVENTS_STATS_MAX);

    if (q.stats == NULL || since_start == NULL || buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_qbsync_ring_walk(qlcf->shm_zone,
                              ngx_http_qbsync_events_collect, &q,
                              since_start);

    len = qbsync_events_stats_json(buf, NGX_HTTP_QBSYNC_EVENTS_STATS_MAX,
                                   q.stats, since_start);
    if (len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_qbsync_reply_json(r, NGX_HTTP_OK, buf, len);
}


/* Under the zone's lock: a copy of what matches, nothing else. */

static ngx_int_t
ngx_http_qbsync_events_collect(qbsync_events_record_t *record, void *data)
{
    ngx_http_qbsync_events_query_t *q = data;

    if (!qbsync_events_match(q->filter, record)) {
        return NGX_OK;
    }

    if (q->stats) {
        qbsync_events_stats_add(q->stats, record);
        return NGX_OK;
    }

    q->records[q->n++] = *record;

    return (q->n < q->filter->limit) ? NGX_OK : NGX_DONE;
}


static ngx_int_t
ngx_http_qbsync_events_list(ngx_http_request_t *r,
    ngx_http_qbsync_events_query_t *q)
{
    u_char      *buf, *p;
    size_t       len;
    ngx_uint_t   i;

    buf = ngx_pnalloc(r->pool, sizeof("{\"events\":[]}")
                               + q->n * (QBSYNC_EVENTS_JSON_MAX + 1));
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(buf, "{\"events\":[", sizeof("{\"events\":[") - 1);

    for (i = 0; i < q->n; i++) {
        if (i) {
            *p++ = ',';
        }

        len = qbsync_events_json(p, QBSYNC_EVENTS_JSON_MAX, &q->records[i]);
        if (len == 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += len;
    }

    p = ngx_cpymem(p, "]}", 2);

    return ngx_http_qbsync_reply_json(r, NGX_HTTP_OK, buf, p - buf);
}


/*
 * qbsync_audit_log path [buffer=size] [flush=time]: as access_log does
 * it, lines gather in the worker's buffer and go out when it is full,
 * when flush= passes, at a reopen (nginx -s reopen) and when the worker
 * exits; a crash loses what was still in the buffer.
 */

char *
ngx_http_qbsync_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_main_conf_t *qmcf = conf;

    ssize_t                   size;
    ngx_str_t                *value, s;
    ngx_msec_t                flush;
    ngx_uint_t                i;
    ngx_http_qbsync_audit_t  *audit;

    if (qmcf->audit) {
        return "is duplicate";
    }

    value = cf->args->elts;
    size = 0;
    flush = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "buffer=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || size < 4096) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid buffer size \"%V\", at least 4k",
                                   &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            flush = ngx_parse_time(&s, 0);

            if (flush == (ngx_msec_t) NGX_ERROR || flush == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid flush time \"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (flush && size == 0) {
        return "has flush= without buffer=";
    }

    audit = ngx_pcalloc(cf->pool, sizeof(ngx_http_qbsync_audit_t));
    if (audit == NULL) {
        return NGX_CONF_ERROR;
    }

    audit->file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (audit->file == NULL) {
        return NGX_CONF_ERROR;
    }

    if (audit->file->data) {
        return "names a file already used by another audit or access log";
    }

    if (size) {
        audit->size = size;
        audit->flush = flush;

        audit->start = ngx_pnalloc(cf->pool, size);
        audit->timer = ngx_pcalloc(cf->pool, sizeof(ngx_event_t));

        if (audit->start == NULL || audit->timer == NULL) {
            return NGX_CONF_ERROR;
        }

        audit->pos = audit->start;

        audit->timer->handler = ngx_http_qbsync_audit_timer;
        audit->timer->data = audit;
        audit->timer->log = &cf->cycle->new_log;
        audit->timer->cancelable = 1;

        audit->file->data = audit;
        audit->file->flush = ngx_http_qbsync_audit_flush_file;
    }

    qmcf->audit = audit;

    return NGX_CONF_OK;
}


static void
ngx_http_qbsync_audit_write(ngx_http_qbsync_audit_t *audit,
    qbsync_events_record_t *record, ngx_log_t *log)
{
    size_t   len;
    ssize_t  n;
    u_char   line[QBSYNC_EVENTS_JSON_MAX + 1];

    len = qbsync_events_json(line, QBSYNC_EVENTS_JSON_MAX, record);
    if (len == 0) {
        return;
    }

    line[len++] = '\n';

    if (audit->size == 0) {
        n = ngx_write_fd(audit->file->fd, line, len);

        if (n != (ssize_t) len) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          ngx_write_fd_n " to audit log \"%s\" failed",
                          audit->file->name.data);
        }

        return;
    }

    if ((size_t) (audit->start + audit->size - audit->pos) < len) {
        ngx_http_qbsync_audit_flush(audit, log);
    }

    audit->pos = ngx_cpymem(audit->pos, line, len);

    if (audit->flush && !audit->timer->timer_set) {
        audit->timer->log = log;
        ngx_add_timer(audit->timer, audit->flush);
    }
}


static void
ngx_http_qbsync_audit_flush(ngx_http_qbsync_audit_t *audit, ngx_log_t *log)
{
    size_t   len;
    ssize_t  n;

    len = audit->pos - audit->start;

    if (len == 0) {
        return;
    }

    n = ngx_write_fd(audit->file->fd, audit->start, len);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_write_fd_n " to audit log \"%s\" failed",
                      audit->file->name.data);
    }

    audit->pos = audit->start;

    if (audit->timer->timer_set) {
        ngx_del_timer(audit->timer);
    }
}


/* nginx calls it before it reopens the file, and the worker at its exit */

static void
ngx_http_qbsync_audit_flush_file(ngx_open_file_t *file, ngx_log_t *log)
{
    ngx_http_qbsync_audit_flush(file->data, log);
}


static void
ngx_http_qbsync_audit_timer(ngx_event_t *ev)
{
    ngx_http_qbsync_audit_flush(ev->data, ev->log);
}


void
ngx_http_qbsync_audit_exit(ngx_cycle_t *cycle)
{
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_qbsync_module);

    if (qmcf && qmcf->audit && qmcf->audit->size) {
        ngx_http_qbsync_audit_flush(qmcf->audit, cycle->log);
    }
}
