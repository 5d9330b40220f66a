
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_status.h"
#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_call.h"
#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_deadletter.h"
#include "ngx_http_qbsync_limiter.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_oauth.h"
#include "ngx_http_qbsync_page.h"
#include "ngx_http_qbsync_reply.h"
#include "ngx_http_qbsync_zone.h"
#include "qbsync_events.h"
#include "qbsync_yajl.h"


/* QuickBooks failing this many calls in a row is down, not degraded */
#define NGX_HTTP_QBSYNC_FAILURES_DOWN    10

#define NGX_HTTP_QBSYNC_REFRESH_WARN     (14 * 86400)
#define NGX_HTTP_QBSYNC_ZONE_WARN        90             /* percent used */
#define NGX_HTTP_QBSYNC_STATUS_EVENTS    20
#define NGX_HTTP_QBSYNC_STATUS_PAGE      65536


typedef struct {
    ngx_http_qbsync_oauth_ctx_t  oauth;
    ngx_uint_t                   page;          /* qbsync_status */
    ngx_int_t                    token_rc;
    unsigned                     oauth_started:1;
} ngx_http_qbsync_health_t;


/* what the report says, gathered before it is written */
typedef struct {
    yajl_gen                     gen;
    ngx_array_t                  warnings;      /* ngx_str_t */
    ngx_array_t                  errors;        /* ngx_str_t */
    ngx_pool_t                  *pool;
} ngx_http_qbsync_report_t;


typedef struct {
    qbsync_events_record_t      *records;
    ngx_uint_t                   n;
} ngx_http_qbsync_recent_t;


static ngx_int_t ngx_http_qbsync_health_start(ngx_http_request_t *r,
    ngx_uint_t page);
static void ngx_http_qbsync_health_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_qbsync_health_reply(ngx_http_request_t *r,
    ngx_http_qbsync_health_t *h);
static ngx_int_t ngx_http_qbsync_report(ngx_http_request_t *r,
    ngx_http_qbsync_health_t *h, u_char *buf, size_t size, size_t *len,
    ngx_uint_t *down);
static int ngx_http_qbsync_report_checks(ngx_http_request_t *r,
    ngx_http_qbsync_health_t *h, ngx_http_qbsync_report_t *rp);
static int ngx_http_qbsync_report_zones(ngx_http_request_t *r,
    ngx_http_qbsync_report_t *rp);
static int ngx_http_qbsync_report_oauth(ngx_http_request_t *r,
    ngx_http_qbsync_health_t *h, ngx_http_qbsync_report_t *rp);
static int ngx_http_qbsync_report_limiters(ngx_http_request_t *r,
    ngx_http_qbsync_report_t *rp);
static int ngx_http_qbsync_report_page(ngx_http_request_t *r,
    ngx_http_qbsync_report_t *rp);
static int ngx_http_qbsync_report_config(ngx_http_request_t *r,
    ngx_http_qbsync_report_t *rp);
static u_char *ngx_http_qbsync_report_events(ngx_http_request_t *r,
    u_char *p, u_char *end);
static ngx_int_t ngx_http_qbsync_recent(qbsync_events_record_t *record,
    void *data);
static int ngx_http_qbsync_report_list(ngx_http_qbsync_report_t *rp,
    const char *name, ngx_array_t *list);
static void ngx_http_qbsync_say(ngx_http_qbsync_report_t *rp,
    ngx_array_t *list, const char *fmt, ...);
static int ngx_http_qbsync_key(yajl_gen gen, const char *key);
static int ngx_http_qbsync_string(yajl_gen gen, const char *key,
    u_char *data, size_t len);
static int ngx_http_qbsync_number(yajl_gen gen, const char *key,
    long long value);
static int ngx_http_qbsync_boolean(yajl_gen gen, const char *key,
    ngx_uint_t value);
static int ngx_http_qbsync_verdict(yajl_gen gen, ngx_uint_t errors,
    ngx_uint_t warnings);
static ngx_shm_zone_t *ngx_http_qbsync_token_zone(ngx_http_request_t *r,
    ngx_str_t *token_file);
static void ngx_http_qbsync_health_cleanup(void *data);
static ngx_uint_t ngx_http_qbsync_wants_html(ngx_http_request_t *r);
static ngx_int_t ngx_http_qbsync_status_page(ngx_http_request_t *r,
    ngx_http_qbsync_health_t *h);


static const char *const  ngx_http_qbsync_verdicts[] = {
    "ok", "degraded", "down"
};


ngx_int_t
ngx_http_qbsync_health_handler(ngx_http_request_t *r)
{
    return ngx_http_qbsync_health_start(r, 0);
}


ngx_int_t
ngx_http_qbsync_status_handler(ngx_http_request_t *r)
{
    return ngx_http_qbsync_health_start(r, 1);
}


/*
 * A monitored but quiet catalog must not let its refresh token lapse:
 * the health asks for a token as a sync would, which refreshes it when
 * it is due (the location's qbsync_oauth, inherited from the server).
 */

static ngx_int_t
ngx_http_qbsync_health_start(ngx_http_request_t *r, ngx_uint_t page)
{
    ngx_int_t                    rc;
    ngx_shm_zone_t              *shm_zone;
    ngx_pool_cleanup_t          *cln;
    ngx_http_qbsync_ctx_t       *ctx;
    ngx_http_qbsync_health_t    *h;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "the health and the status are "
                                           "read with GET");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_qbsync_create_ctx(r);
    h = ngx_pcalloc(r->pool, sizeof(ngx_http_qbsync_health_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ctx == NULL || h == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->operator = h;
    h->page = page;
    h->token_rc = NGX_OK;

    cln->handler = ngx_http_qbsync_health_cleanup;
    cln->data = r;

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    shm_zone = qlcf->oauth
               ? ngx_http_qbsync_token_zone(r, &qlcf->oauth->token_file)
               : NULL;

    if (shm_zone == NULL) {
        return ngx_http_qbsync_health_reply(r, h);
    }

    ngx_http_qbsync_oauth_init(r, &h->oauth, qlcf->oauth, shm_zone);
    h->oauth_started = 1;

    h->token_rc = ngx_http_qbsync_oauth_token(r, &h->oauth);

    if (h->token_rc != NGX_AGAIN) {
        return ngx_http_qbsync_health_reply(r, h);
    }

    r->main->count++;
    r->write_event_handler = ngx_http_qbsync_health_resume;

    return NGX_DONE;
}


static void
ngx_http_qbsync_health_resume(ngx_http_request_t *r)
{
    ngx_http_qbsync_health_t  *h;

    h = ngx_http_qbsync_get_ctx(r)->operator;

    h->token_rc = ngx_http_qbsync_oauth_token(r, &h->oauth);

    if (h->token_rc == NGX_AGAIN) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_qbsync_health_reply(r, h));
}


static ngx_int_t
ngx_http_qbsync_health_reply(ngx_http_request_t *r,
    ngx_http_qbsync_health_t *h)
{
    u_char      *buf;
    size_t       size, len;
    ngx_int_t    rc;
    ngx_uint_t   down;

    if (h->page && ngx_http_qbsync_wants_html(r)) {
        return ngx_http_qbsync_status_page(r, h);
    }

    for (size = NGX_HTTP_QBSYNC_STATUS_PAGE; size <= 16 * 1024 * 1024;
         size *= 2)
    {
        buf = ngx_pnalloc(r->pool, size);
        if (buf == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_qbsync_report(r, h, buf, size, &len, &down);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            return ngx_http_qbsync_reply_json(r, down
                                             ? NGX_HTTP_SERVICE_UNAVAILABLE
                                             : NGX_HTTP_OK,
                                              buf, len);
        }

        ngx_pfree(r->pool, buf);
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * {"status", "checks": {...}, "warnings": [...], "errors": [...]} and, for
 * the status page, "stages", "bottlenecks", "config" and "events".  The
 * verdict is known once the checks are written, so the parts are written
 * apart (each a JSON object by yajl) and put together behind it.
 * NGX_DECLINED: buf is too small.
 */

static ngx_int_t
ngx_http_qbsync_report(ngx_http_request_t *r, ngx_http_qbsync_health_t *h,
    u_char *buf, size_t size, size_t *len, ngx_uint_t *down)
{
    int                       ok;
    u_char                   *p, *end, *part;
    size_t                    n, room;
    ngx_uint_t                i, parts;
    const char               *verdict;
    qbsync_yajl_out_t         out;
    ngx_http_qbsync_report_t  rp;
    ngx_str_t                 done[3];

    ngx_memzero(&rp, sizeof(ngx_http_qbsync_report_t));
    rp.pool = r->pool;

    if (ngx_array_init(&rp.warnings, r->pool, 4, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&rp.errors, r->pool, 2, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the parts go to the second half of buf, the whole to the first */
    room = size / 2;
    part = buf + room;
    end = buf + size;
    parts = h->page ? 3 : 2;

    for (i = 0; i < parts; i++) {
        rp.gen = qbsync_yajl_gen(&out, part, end - part);
        if (rp.gen == NULL) {
            return NGX_ERROR;
        }

        ok = yajl_gen_map_open(rp.gen) == yajl_gen_status_ok;

        switch (i) {

        case 0:
            ok = ok && ngx_http_qbsync_key(rp.gen, "checks")
                 && ngx_http_qbsync_report_checks(r, h, &rp);
            break;

        case 1:
            ok = ok
                 && ngx_http_qbsync_report_list(&rp, "warnings", &rp.warnings)
                 && ngx_http_qbsync_report_list(&rp, "errors", &rp.errors);
            break;

        default:
            ok = ok && ngx_http_qbsync_report_page(r, &rp)
                 && ngx_http_qbsync_report_config(r, &rp);
            break;
        }

        ok = ok && yajl_gen_map_close(rp.gen) == yajl_gen_status_ok;

        n = qbsync_yajl_done(rp.gen, &out, ok);

        if (n == 0) {
            return out.overflow ? NGX_DECLINED : NGX_ERROR;
        }

        /* the members, without the object's braces */
        done[i].data = part + 1;
        done[i].len = n - 2;
        part += n;
    }

    *down = (rp.errors.nelts != 0);
    verdict = ngx_http_qbsync_verdicts[rp.errors.nelts ? 2
                                       : rp.warnings.nelts ? 1 : 0];

    p = ngx_slprintf(buf, buf + room, "{\"status\":\"%s\",%V,%V", verdict,
                     &done[0], &done[1]);

    if (h->page) {
        p = ngx_slprintf(p, buf + room, ",%V,\"events\":", &done[2]);
        p = ngx_http_qbsync_report_events(r, p, buf + room);
    }

    if (p == NULL || p + 1 >= buf + room) {
        return NGX_DECLINED;
    }

    *p++ = '}';
    *len = p - buf;

    return NGX_OK;
}


static int
ngx_http_qbsync_report_checks(ngx_http_request_t *r,
    ngx_http_qbsync_health_t *h, ngx_http_qbsync_report_t *rp)
{
    return yajl_gen_map_open(rp->gen) == yajl_gen_status_ok
           && ngx_http_qbsync_report_zones(r, rp)
           && ngx_http_qbsync_report_oauth(r, h, rp)
           && ngx_http_qbsync_report_limiters(r, rp)
           && yajl_gen_map_close(rp->gen) == yajl_gen_status_ok;
}


/*
 * Per zone: QuickBooks as the zone's calls found it, the zone's room, its
 * keys, its cache, its dead letters.
 */

static int
ngx_http_qbsync_report_zones(ngx_http_request_t *r,
    ngx_http_qbsync_report_t *rp)
{
    u_char                        when[QBSYNC_EVENTS_TIME_LEN];
    uint64_t                      last, failures;
    ngx_uint_t                    i, j, errors, warnings, letters, entries;
    ngx_uint_t                    used;
    ngx_shm_zone_t              **zones;
    ngx_http_qbsync_binding_t    *realms;
    ngx_http_qbsync_metrics_t    *m;
    ngx_http_qbsync_main_conf_t  *qmcf;
    ngx_http_qbsync_zone_usage_t  usage;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    zones = qmcf->zones.elts;
    realms = qmcf->realms.elts;

    if (!ngx_http_qbsync_key(rp->gen, "zones")
        || yajl_gen_array_open(rp->gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    for (i = 0; i < qmcf->zones.nelts; i++) {
        m = ngx_http_qbsync_zone_metrics(zones[i]);
        last = __atomic_load_n(&m->last_success, __ATOMIC_RELAXED);
        failures = __atomic_load_n(&m->failures, __ATOMIC_RELAXED);

        ngx_http_qbsync_zone_usage(zones[i], &usage);
        letters = ngx_http_qbsync_dead_letter_count(zones[i]);
        used = usage.used * 100 / usage.size;

        entries = 0;

        for (j = 0; j < qmcf->realms.nelts; j++) {
            if (realms[j].shm_zone == zones[i]) {
                entries += ngx_http_qbsync_record_count(zones[i],
                               ngx_http_qbsync_zone_ns("realm",
                                                       &realms[j].name),
                               0);
            }
        }

        errors = rp->errors.nelts;
        warnings = rp->warnings.nelts;

        if (failures >= NGX_HTTP_QBSYNC_FAILURES_DOWN) {
            ngx_http_qbsync_say(rp, &rp->errors,
                                "QuickBooks failed the last %uL calls of "
                                "zone \"%V\"", failures,
                                &zones[i]->shm.name);

        } else if (failures) {
            ngx_http_qbsync_say(rp, &rp->warnings,
                                "QuickBooks failed the last %uL calls of "
                                "zone \"%V\"", failures,
                                &zones[i]->shm.name);
        }

        if (used >= NGX_HTTP_QBSYNC_ZONE_WARN) {
            ngx_http_qbsync_say(rp, &rp->warnings,
                                "qbsync_zone \"%V\" is %ui%% full: "
                                "records are being evicted",
                                &zones[i]->shm.name, used);
        }

        if (letters) {
            ngx_http_qbsync_say(rp, &rp->warnings,
                                "%ui dead letters wait in zone \"%V\"",
                                letters, &zones[i]->shm.name);
        }

        if (yajl_gen_map_open(rp->gen) != yajl_gen_status_ok
            || !ngx_http_qbsync_string(rp->gen, "zone",
                                       zones[i]->shm.name.data,
                                       zones[i]->shm.name.len)
            || !ngx_http_qbsync_verdict(rp->gen, rp->errors.nelts - errors,
                                        rp->warnings.nelts - warnings)
            || !ngx_http_qbsync_key(rp->gen, "quickbooks")
            || yajl_gen_map_open(rp->gen) != yajl_gen_status_ok)
        {
            return 0;
        }

        if (last) {
            (void) qbsync_events_time((char *) when, last * 1000);
        }

        if (!(last ? ngx_http_qbsync_string(rp->gen, "last_success", when,
                                            QBSYNC_EVENTS_TIME_LEN)
                   : ngx_http_qbsync_key(rp->gen, "last_success")
                     && yajl_gen_null(rp->gen) == yajl_gen_status_ok)
            || !ngx_http_qbsync_number(rp->gen, "consecutive_failures",
                                       failures)
            || yajl_gen_map_close(rp->gen) != yajl_gen_status_ok
            || !ngx_http_qbsync_number(rp->gen, "used_bytes", usage.used)
            || !ngx_http_qbsync_number(rp->gen, "size_bytes", usage.size)
            || !ngx_http_qbsync_number(rp->gen, "dedupe_keys_in_flight",
                                       usage.keys_in_flight)
            || !ngx_http_qbsync_number(rp->gen, "dedupe_keys_done",
                                       usage.keys_done)
            || !ngx_http_qbsync_number(rp->gen, "cache_entries", entries)
            || !ngx_http_qbsync_number(rp->gen, "dead_letters", letters)
            || yajl_gen_map_close(rp->gen) != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    return yajl_gen_array_close(rp->gen) == yajl_gen_status_ok;
}


/* Per token file: the access token, the refresh token's days, re-auth. */

static int
ngx_http_qbsync_report_oauth(ngx_http_request_t *r,
    ngx_http_qbsync_health_t *h, ngx_http_qbsync_report_t *rp)
{
    time_t                        expires, refresh_expires, now;
    ngx_uint_t                    i, reauthorize, errors, warnings;
    ngx_http_qbsync_binding_t    *files;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    files = qmcf->token_files.elts;
    now = ngx_time();

    if (!ngx_http_qbsync_key(rp->gen, "oauth")
        || yajl_gen_array_open(rp->gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    for (i = 0; i < qmcf->token_files.nelts; i++) {
        ngx_http_qbsync_oauth_state(files[i].shm_zone, &files[i].name,
                                    &expires, &refresh_expires,
                                    &reauthorize);

        errors = rp->errors.nelts;
        warnings = rp->warnings.nelts;

        if (reauthorize) {
            ngx_http_qbsync_say(rp, &rp->errors,
                                "Intuit refused the refresh token of \"%V\": "
                                "the QuickBooks connection must be "
                                "re-authorised", &files[i].name);

        } else if (refresh_expires
                   && refresh_expires - now < NGX_HTTP_QBSYNC_REFRESH_WARN)
        {
            ngx_http_qbsync_say(rp, &rp->warnings,
                                "the refresh token of \"%V\" expires in %T "
                                "days: re-authorise before then",
                                &files[i].name,
                                (refresh_expires - now) / 86400);
        }

        if (!reauthorize && h->oauth_started && h->token_rc != NGX_OK
            && h->oauth.oauth->token_file.len == files[i].name.len
            && ngx_strncmp(h->oauth.oauth->token_file.data,
                           files[i].name.data, files[i].name.len)
               == 0)
        {
            ngx_http_qbsync_say(rp, &rp->warnings,
                                "no QuickBooks access token could be had "
                                "for \"%V\"", &files[i].name);
        }

        if (yajl_gen_map_open(rp->gen) != yajl_gen_status_ok
            || !ngx_http_qbsync_string(rp->gen, "token_file",
                                       files[i].name.data,
                                       files[i].name.len)
            || !ngx_http_qbsync_verdict(rp->gen, rp->errors.nelts - errors,
                                        rp->warnings.nelts - warnings)
            || !ngx_http_qbsync_number(rp->gen, "access_token_expires_in",
                                       (expires > now) ? expires - now : 0)
            || !ngx_http_qbsync_number(rp->gen, "refresh_token_days_left",
                                       (refresh_expires > now)
                                       ? (refresh_expires - now) / 86400
                                       : 0)
            || !ngx_http_qbsync_boolean(rp->gen, "reauthorization_required",
                                        reauthorize)
            || yajl_gen_map_close(rp->gen) != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    return yajl_gen_array_close(rp->gen) == yajl_gen_status_ok;
}


/* Per realm: its limiter now, and whether QuickBooks throttled it. */

static int
ngx_http_qbsync_report_limiters(ngx_http_request_t *r,
    ngx_http_qbsync_report_t *rp)
{
    uint64_t                      now;
    ngx_uint_t                    i, warnings, cooling;
    qbsync_limiter_t              limiter;
    ngx_http_qbsync_binding_t    *realms;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    realms = qmcf->realms.elts;

    /* the limiter's own clock */
    now = (uint64_t) ngx_current_msec * 1000;

    if (!ngx_http_qbsync_key(rp->gen, "limiter")
        || yajl_gen_array_open(rp->gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    for (i = 0; i < qmcf->realms.nelts; i++) {
        ngx_http_qbsync_limiter_state(realms[i].shm_zone,
                               ngx_http_qbsync_zone_ns("realm",
                                                       &realms[i].name),
                               realms[i].limits, &limiter);

        warnings = rp->warnings.nelts;
        cooling = (limiter.cooldown_until > now);

        if (cooling || limiter.rate < realms[i].limits->per_minute) {
            ngx_http_qbsync_say(rp, &rp->warnings,
                                "QuickBooks throttled realm \"%V\": the "
                                "limiter allows %uD of %uD calls a minute",
                                &realms[i].name, limiter.rate,
                                realms[i].limits->per_minute);
        }

        if (yajl_gen_map_open(rp->gen) != yajl_gen_status_ok
            || !ngx_http_qbsync_string(rp->gen, "realm", realms[i].name.data,
                                       realms[i].name.len)
            || !ngx_http_qbsync_verdict(rp->gen, 0,
                                        rp->warnings.nelts - warnings)
            || !ngx_http_qbsync_number(rp->gen, "rate_per_minute",
                                       limiter.rate)
            || !ngx_http_qbsync_number(rp->gen, "limit_per_minute",
                                       realms[i].limits->per_minute)
            || !ngx_http_qbsync_number(rp->gen, "in_flight",
                                       limiter.in_flight)
            || !ngx_http_qbsync_number(rp->gen, "throttles",
                                       limiter.throttles)
            || !ngx_http_qbsync_boolean(rp->gen, "cooldown", cooling)
            || yajl_gen_map_close(rp->gen) != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    return yajl_gen_array_close(rp->gen) == yajl_gen_status_ok;
}


/*
 * The status page's own part, of the first zone: the stages with their
 * quantiles, and the slow ones (p95 above qbsync_slow_stage).
 */

static int
ngx_http_qbsync_report_page(ngx_http_request_t *r,
    ngx_http_qbsync_report_t *rp)
{
    ngx_uint_t                    i;
    ngx_shm_zone_t              **zones;
    ngx_http_qbsync_metrics_t     m;
    qbsync_metrics_snapshot_t     s;
    ngx_http_qbsync_loc_conf_t   *qlcf;
    ngx_http_qbsync_main_conf_t  *qmcf;

    static const char *const  stages[] = {
        "verify", "parse", "dedupe", "oauth", "qb_query", "qb_write",
        "queue_wait", "total"
    };

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);
    zones = qmcf->zones.elts;

    if (qmcf->zones.nelts == 0) {
        return 1;
    }

    ngx_memcpy(&m, ngx_http_qbsync_zone_metrics(zones[0]), sizeof(m));

    if (!ngx_http_qbsync_key(rp->gen, "stages")
        || yajl_gen_map_open(rp->gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    for (i = 0; i < NGX_HTTP_QBSYNC_STAGES; i++) {
        qbsync_metrics_snapshot(&m.stages[i], &s);

        if (!ngx_http_qbsync_key(rp->gen, stages[i])
            || yajl_gen_map_open(rp->gen) != yajl_gen_status_ok
            || !ngx_http_qbsync_number(rp->gen, "count", s.count)
            || !ngx_http_qbsync_number(rp->gen, "p50_us", s.p50_us)
            || !ngx_http_qbsync_number(rp->gen, "p95_us", s.p95_us)
            || !ngx_http_qbsync_number(rp->gen, "p99_us", s.p99_us)
            || !ngx_http_qbsync_number(rp->gen, "max_us", s.max_us)
            || yajl_gen_map_close(rp->gen) != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    if (yajl_gen_map_close(rp->gen) != yajl_gen_status_ok
        || !ngx_http_qbsync_key(rp->gen, "bottlenecks")
        || yajl_gen_array_open(rp->gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    for (i = 0; i < NGX_HTTP_QBSYNC_STAGES; i++) {
        qbsync_metrics_snapshot(&m.stages[i], &s);

        if (s.count && s.p95_us > (uint64_t) qlcf->slow_stage * 1000
            && yajl_gen_string(rp->gen, (u_char *) stages[i],
                               ngx_strlen(stages[i]))
               != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    return yajl_gen_array_close(rp->gen) == yajl_gen_status_ok;
}


/* The zone's last events, as the events location writes them; NULL if
   they do not fit. */

static u_char *
ngx_http_qbsync_report_events(ngx_http_request_t *r, u_char *p, u_char *end)
{
    size_t                        len;
    ngx_uint_t                    i;
    ngx_shm_zone_t              **zones;
    ngx_http_qbsync_recent_t      recent;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    zones = qmcf->zones.elts;

    recent.records = ngx_palloc(r->pool, NGX_HTTP_QBSYNC_STATUS_EVENTS
                                         * sizeof(qbsync_events_record_t));
    if (recent.records == NULL || p == end) {
        return NULL;
    }

    recent.n = 0;

    if (qmcf->zones.nelts) {
        ngx_http_qbsync_ring_walk(zones[0], ngx_http_qbsync_recent, &recent,
                                  NULL);
    }

    *p++ = '[';

    for (i = 0; i < recent.n; i++) {
        if (i) {
            if (p == end) {
                return NULL;
            }

            *p++ = ',';
        }

        len = qbsync_events_json(p, end - p, &recent.records[i]);
        if (len == 0) {
            return NULL;
        }

        p += len;
    }

    if (p == end) {
        return NULL;
    }

    *p++ = ']';

    return p;
}


static ngx_int_t
ngx_http_qbsync_recent(qbsync_events_record_t *record, void *data)
{
    ngx_http_qbsync_recent_t *recent = data;

    recent->records[recent->n++] = *record;

    return (recent->n < NGX_HTTP_QBSYNC_STATUS_EVENTS) ? NGX_OK : NGX_DONE;
}


/* What is configured, with no secret: no key, no token, no client secret. */

static int
ngx_http_qbsync_report_config(ngx_http_request_t *r,
    ngx_http_qbsync_report_t *rp)
{
    ngx_uint_t                    i;
    ngx_shm_zone_t              **zones;
    ngx_http_qbsync_binding_t    *b;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    zones = qmcf->zones.elts;

    if (!ngx_http_qbsync_key(rp->gen, "config")
        || yajl_gen_map_open(rp->gen) != yajl_gen_status_ok
        || !ngx_http_qbsync_key(rp->gen, "zones")
        || yajl_gen_array_open(rp->gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    for (i = 0; i < qmcf->zones.nelts; i++) {
        if (yajl_gen_map_open(rp->gen) != yajl_gen_status_ok
            || !ngx_http_qbsync_string(rp->gen, "name",
                                       zones[i]->shm.name.data,
                                       zones[i]->shm.name.len)
            || !ngx_http_qbsync_number(rp->gen, "size", zones[i]->shm.size)
            || yajl_gen_map_close(rp->gen) != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    if (yajl_gen_array_close(rp->gen) != yajl_gen_status_ok
        || !ngx_http_qbsync_key(rp->gen, "realms")
        || yajl_gen_array_open(rp->gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    b = qmcf->realms.elts;

    for (i = 0; i < qmcf->realms.nelts; i++) {
        if (yajl_gen_map_open(rp->gen) != yajl_gen_status_ok
            || !ngx_http_qbsync_string(rp->gen, "realm", b[i].name.data,
                                       b[i].name.len)
            || !ngx_http_qbsync_string(rp->gen, "zone",
                                       b[i].shm_zone->shm.name.data,
                                       b[i].shm_zone->shm.name.len)
            || !ngx_http_qbsync_number(rp->gen, "rate_per_minute",
                                       b[i].limits->per_minute)
            || !ngx_http_qbsync_number(rp->gen, "concurrency",
                                       b[i].limits->concurrency)
            || !ngx_http_qbsync_number(rp->gen, "batches_per_minute",
                                       b[i].limits->batch_per_minute)
            || !ngx_http_qbsync_number(rp->gen, "cooldown_ms",
                                       b[i].limits->cooldown / 1000)
            || yajl_gen_map_close(rp->gen) != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    if (yajl_gen_array_close(rp->gen) != yajl_gen_status_ok
        || !ngx_http_qbsync_key(rp->gen, "token_files")
        || yajl_gen_array_open(rp->gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    b = qmcf->token_files.elts;

    for (i = 0; i < qmcf->token_files.nelts; i++) {
        if (yajl_gen_string(rp->gen, b[i].name.data, b[i].name.len)
            != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    return yajl_gen_array_close(rp->gen) == yajl_gen_status_ok
           && (qmcf->dead_letter.len
               ? ngx_http_qbsync_string(rp->gen, "dead_letter",
                                        qmcf->dead_letter.data,
                                        qmcf->dead_letter.len)
               : ngx_http_qbsync_key(rp->gen, "dead_letter")
                 && yajl_gen_null(rp->gen) == yajl_gen_status_ok)
           && yajl_gen_map_close(rp->gen) == yajl_gen_status_ok;
}


static int
ngx_http_qbsync_report_list(ngx_http_qbsync_report_t *rp, const char *name,
    ngx_array_t *list)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = list->elts;

    if (!ngx_http_qbsync_key(rp->gen, name)
        || yajl_gen_array_open(rp->gen) != yajl_gen_status_ok)
    {
        return 0;
    }

    for (i = 0; i < list->nelts; i++) {
        if (yajl_gen_string(rp->gen, s[i].data, s[i].len)
            != yajl_gen_status_ok)
        {
            return 0;
        }
    }

    return yajl_gen_array_close(rp->gen) == yajl_gen_status_ok;
}


/* a warning or an error, in words; lost only when memory is */

static void
ngx_http_qbsync_say(ngx_http_qbsync_report_t *rp, ngx_array_t *list,
    const char *fmt, ...)
{
    u_char     *p, text[NGX_MAX_ERROR_STR];
    va_list     args;
    ngx_str_t  *s;

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    s = ngx_array_push(list);
    if (s == NULL) {
        return;
    }

    s->len = p - text;
    s->data = ngx_pnalloc(rp->pool, s->len);

    if (s->data == NULL) {
        list->nelts--;
        return;
    }

    ngx_memcpy(s->data, text, s->len);
}


static int
ngx_http_qbsync_key(yajl_gen gen, const char *key)
{
    return yajl_gen_string(gen, (u_char *) key, ngx_strlen(key))
           == yajl_gen_status_ok;
}


static int
ngx_http_qbsync_string(yajl_gen gen, const char *key, u_char *data,
    size_t len)
{
    return ngx_http_qbsync_key(gen, key)
           && yajl_gen_string(gen, data, len) == yajl_gen_status_ok;
}


static int
ngx_http_qbsync_number(yajl_gen gen, const char *key, long long value)
{
    return ngx_http_qbsync_key(gen, key)
           && yajl_gen_integer(gen, value) == yajl_gen_status_ok;
}


static int
ngx_http_qbsync_boolean(yajl_gen gen, const char *key, ngx_uint_t value)
{
    return ngx_http_qbsync_key(gen, key)
           && yajl_gen_bool(gen, value != 0) == yajl_gen_status_ok;
}


static int
ngx_http_qbsync_verdict(yajl_gen gen, ngx_uint_t errors, ngx_uint_t warnings)
{
    const char  *verdict;

    verdict = ngx_http_qbsync_verdicts[errors ? 2 : warnings ? 1 : 0];

    return ngx_http_qbsync_string(gen, "status", (u_char *) verdict,
                                  ngx_strlen(verdict));
}


/* a browser: Accept names text/html before any JSON */

static ngx_uint_t
ngx_http_qbsync_wants_html(ngx_http_request_t *r)
{
    u_char           *html, *json;
    ngx_str_t         name;
    ngx_table_elt_t  *accept;

    ngx_str_set(&name, "Accept");

    accept = ngx_http_qbsync_find_header(&r->headers_in.headers, &name);

    if (accept == NULL) {
        return 0;
    }

    html = ngx_strlcasestrn(accept->value.data,
                            accept->value.data + accept->value.len,
                            (u_char *) "text/html", 9 - 1);
    json = ngx_strlcasestrn(accept->value.data,
                            accept->value.data + accept->value.len,
                            (u_char *) "application/json", 16 - 1);

    return html != NULL && (json == NULL || html < json);
}


/* The checks decide the verdict and the words; the page shows them. */

static ngx_int_t
ngx_http_qbsync_status_page(ngx_http_request_t *r,
    ngx_http_qbsync_health_t *h)
{
    int                             ok;
    u_char                         *scratch;
    ngx_str_t                      *page, type;
    qbsync_yajl_out_t               out;
    ngx_http_qbsync_report_t        rp;
    ngx_http_qbsync_page_health_t   health;

    ngx_memzero(&rp, sizeof(ngx_http_qbsync_report_t));
    rp.pool = r->pool;

    scratch = ngx_pnalloc(r->pool, NGX_HTTP_QBSYNC_STATUS_PAGE);

    if (scratch == NULL
        || ngx_array_init(&rp.warnings, r->pool, 4, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&rp.errors, r->pool, 2, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rp.gen = qbsync_yajl_gen(&out, scratch, NGX_HTTP_QBSYNC_STATUS_PAGE);
    if (rp.gen == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ok = ngx_http_qbsync_report_checks(r, h, &rp);
    (void) qbsync_yajl_done(rp.gen, &out, ok);

    health.verdict = ngx_http_qbsync_verdicts[rp.errors.nelts ? 2
                                              : rp.warnings.nelts ? 1 : 0];
    health.warnings = &rp.warnings;
    health.errors = &rp.errors;

    page = ngx_http_qbsync_page(r, &health);
    if (page == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&type, "text/html; charset=utf-8");

    return ngx_http_qbsync_reply(r, rp.errors.nelts
                                    ? NGX_HTTP_SERVICE_UNAVAILABLE
                                    : NGX_HTTP_OK,
                                 &type, page->data, page->len);
}


/* the zone a token file is bound to (a token file is in one zone only) */

static ngx_shm_zone_t *
ngx_http_qbsync_token_zone(ngx_http_request_t *r, ngx_str_t *token_file)
{
    ngx_uint_t                    i;
    ngx_http_qbsync_binding_t    *files;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    files = qmcf->token_files.elts;

    for (i = 0; i < qmcf->token_files.nelts; i++) {
        if (files[i].name.len == token_file->len
            && ngx_strncmp(files[i].name.data, token_file->data,
                           token_file->len)
               == 0)
        {
            return files[i].shm_zone;
        }
    }

    return NULL;
}


static void
ngx_http_qbsync_health_cleanup(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_qbsync_health_t  *h;

    h = ngx_http_qbsync_get_ctx(r)->operator;

    if (h->oauth_started) {
        ngx_http_qbsync_oauth_finish(r, &h->oauth);
    }
}
