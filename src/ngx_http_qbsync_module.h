
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_MODULE_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "qbsync_limiter.h"
#include "qbsync_retry.h"
#include "qbsync_signature.h"
#include "qbsync_str.h"


#define NGX_HTTP_QBSYNC_OFF        0
#define NGX_HTTP_QBSYNC_VERIFY     1
#define NGX_HTTP_QBSYNC_WEBHOOK    2
#define NGX_HTTP_QBSYNC_ADMIN      3       /* qbsync_dead_letter_admin */
#define NGX_HTTP_QBSYNC_BATCH      4

/* nginx has no name for it: QuickBooks refused the change for good */
#define NGX_HTTP_QBSYNC_UNPROCESSABLE  422

#define NGX_HTTP_QBSYNC_LIVEMODE_ANY   0
#define NGX_HTTP_QBSYNC_LIVEMODE_LIVE  1
#define NGX_HTTP_QBSYNC_LIVEMODE_TEST  2

#define NGX_HTTP_QBSYNC_ATTEMPTS_MAX   10
#define NGX_HTTP_QBSYNC_BUDGET_MAX     20000


/* one QuickBooks company, reached through an internal location */
typedef struct {
    ngx_str_t                    prefix;
    ngx_str_t                    realm;
    ngx_str_t                    minorversion;

    /* the realm's key space in the zone: its items and product locks */
    uint32_t                     ns;
} ngx_http_qbsync_quickbooks_t;


/* the OAuth client and the token file of one QuickBooks connection */
typedef struct {
    ngx_str_t                    prefix;
    ngx_str_t                    authorization;   /* Basic client:secret */
    ngx_str_t                    token_file;
    uint32_t                     ns;

    /* this worker's last look at the token file, and what it saw */
    time_t                       file_checked;
    time_t                       file_mtime;
    long                         file_mtime_nsec;
    ino_t                        file_inode;
} ngx_http_qbsync_oauth_t;


typedef struct {
    ngx_str_t                    type;             /* NUL-terminated */
    ngx_str_t                    income_account;   /* NUL-terminated */
    ngx_str_t                    expense_account;  /* NUL-terminated */
    ngx_str_t                    currency;         /* lowercase */

    /* a change of these rewrites every item at its next event */
    uint32_t                     digest;
} ngx_http_qbsync_item_conf_t;


typedef struct {
    ngx_str_t                    prefix;
    ngx_str_t                    authorization;   /* Bearer secret key */
} ngx_http_qbsync_stripe_t;


/* what one zone is bound to: a realm or a token file is in one zone only */
typedef struct {
    ngx_str_t                    name;
    ngx_shm_zone_t              *shm_zone;

    /* a realm's: one limiter, so one set of limits */
    qbsync_limits_t             *limits;
} ngx_http_qbsync_binding_t;


typedef struct ngx_http_qbsync_audit_s  ngx_http_qbsync_audit_t;
typedef struct ngx_http_qbsync_statsd_s  ngx_http_qbsync_statsd_t;


typedef struct {
    /* ngx_shm_zone_t *, in the order the zones were declared */
    ngx_array_t                  zones;

    ngx_array_t                  realms;        /* ngx_http_qbsync_binding_t */
    ngx_array_t                  token_files;   /* ngx_http_qbsync_binding_t */

    ngx_str_t                    dead_letter;   /* NUL-terminated */

    /* ngx_http_qbsync_webhook_ref_t: where the admin replays dead letters */
    ngx_array_t                  webhooks;

    ngx_http_qbsync_audit_t     *audit;
    ngx_http_qbsync_statsd_t    *statsd;
} ngx_http_qbsync_main_conf_t;


typedef struct ngx_http_qbsync_loc_conf_s  ngx_http_qbsync_loc_conf_t;


/* a qbsync_webhook location, and the server it is in */
typedef struct {
    void                        *server;     /* ngx_http_core_srv_conf_t */
    ngx_http_qbsync_loc_conf_t  *conf;
} ngx_http_qbsync_webhook_ref_t;


struct ngx_http_qbsync_loc_conf_s {
    ngx_int_t                    mode;
    ngx_str_t                    zone_name;
    ngx_shm_zone_t              *shm_zone;

    /* qbsync_signature_key_t *: every secret active during a rotation */
    ngx_array_t                 *secrets;

    time_t                       tolerance;
    time_t                       idempotency_ttl;
    time_t                       inflight_lease;

    /*
     * Stripe sends one event to every endpoint it has, so an event id is
     * only unique within the endpoint: the dedupe scope is this location.
     */
    uint32_t                     endpoint;

    ngx_http_qbsync_quickbooks_t  *quickbooks;
    ngx_http_qbsync_oauth_t       *oauth;
    ngx_http_qbsync_item_conf_t   *item;
    ngx_http_qbsync_stripe_t      *stripe;
    qbsync_retry_policy_t         *retry;
    qbsync_limits_t               *limits;
    ngx_uint_t                     livemode;

    /* the status page's bottlenecks: stages whose p95 is above it */
    ngx_msec_t                     slow_stage;

    /* qbsync_trace_export: the location that takes OTLP/HTTP JSON */
    ngx_str_t                      trace_export;
};


extern ngx_module_t  ngx_http_qbsync_module;


/* a pure parser's string, as nginx's */
static ngx_inline ngx_str_t
ngx_http_qbsync_str(qbsync_str_t *s)
{
    ngx_str_t  str;

    str.len = s->len;
    str.data = (u_char *) s->data;

    return str;
}


/* what the pure parsers allocate with (qbsync_allocator_t): a pool */
static ngx_inline void *
ngx_http_qbsync_pool_alloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


#endif /* _NGX_HTTP_QBSYNC_MODULE_H_INCLUDED_ */
