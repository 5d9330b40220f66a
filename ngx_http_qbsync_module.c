
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_zone.h"
#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_webhook.h"
#include "ngx_http_qbsync_batch.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_events.h"
#include "ngx_http_qbsync_status.h"
#include "ngx_http_qbsync_cache.h"
#include "ngx_http_qbsync_statsd.h"
#include "ngx_http_qbsync_deadletter.h"
#include "ngx_http_qbsync_secrets.h"


static ngx_int_t ngx_http_qbsync_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_qbsync_init(ngx_conf_t *cf);
static void *ngx_http_qbsync_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_qbsync_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_qbsync_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_qbsync_merge_webhook(ngx_conf_t *cf,
    ngx_http_qbsync_loc_conf_t *conf);
static char *ngx_http_qbsync_merge_batch(ngx_conf_t *cf,
    ngx_http_qbsync_loc_conf_t *conf);
static char *ngx_http_qbsync_resolve_zone(ngx_conf_t *cf,
    ngx_http_qbsync_loc_conf_t *conf);
static char *ngx_http_qbsync_bind(ngx_conf_t *cf, ngx_array_t *bindings,
    ngx_str_t *name, ngx_shm_zone_t *shm_zone, const char *what);
static char *ngx_http_qbsync_bind_limits(ngx_conf_t *cf,
    ngx_http_qbsync_loc_conf_t *conf);
static uint32_t ngx_http_qbsync_endpoint(ngx_conf_t *cf);
static char *ngx_http_qbsync_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_mode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_operator(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_events(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_qbsync_exit_process(ngx_cycle_t *cycle);
static char *ngx_http_qbsync_webhook_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_webhook_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_qbsync_add_secret(ngx_conf_t *cf, u_char *secret,
    size_t len, void *data);
static void ngx_http_qbsync_free_key(void *data);
static char *ngx_http_qbsync_quickbooks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_oauth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_basic_auth(ngx_conf_t *cf, u_char *secret,
    size_t len, void *data);
static char *ngx_http_qbsync_item(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_stripe(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_retry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_dead_letter(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_dead_letter_admin(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_qbsync_zone_arg(ngx_conf_t *cf,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_str_t *value);
static char *ngx_http_qbsync_merge_admin(ngx_conf_t *cf,
    ngx_http_qbsync_loc_conf_t *conf);
static ngx_int_t ngx_http_qbsync_rate(ngx_str_t *value, uint32_t *per_minute);
static char *ngx_http_qbsync_retry_time(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_str_t *value, uint64_t *ms);
static char *ngx_http_qbsync_bearer(ngx_conf_t *cf, u_char *secret,
    size_t len, void *data);
static char *ngx_http_qbsync_prefix(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *prefix);
static ngx_int_t ngx_http_qbsync_param(ngx_str_t *arg, const char *name,
    ngx_str_t *value);
static char *ngx_http_qbsync_positive(ngx_conf_t *cf, void *post, void *data);


typedef struct {
    ngx_str_t                    client_id;
    ngx_str_t                   *authorization;
} ngx_http_qbsync_basic_auth_t;


static ngx_conf_post_t  ngx_http_qbsync_positive_post = {
    ngx_http_qbsync_positive
};


/* QuickBooks' published limits, also without qbsync_rate_limit */
static qbsync_limits_t  ngx_http_qbsync_default_limits = {
    500, 10, 40, 60 * 1000000ULL, 0
};


/* without qbsync_retry */
static qbsync_retry_policy_t  ngx_http_qbsync_default_retry = {
    QBSYNC_RETRY_EXPONENTIAL, 3, 250, 2000, 5000
};


static ngx_int_t  ngx_http_qbsync_verify_mode = NGX_HTTP_QBSYNC_VERIFY;
static ngx_int_t  ngx_http_qbsync_webhook_mode = NGX_HTTP_QBSYNC_WEBHOOK;
static ngx_int_t  ngx_http_qbsync_batch_mode = NGX_HTTP_QBSYNC_BATCH;


static ngx_conf_enum_t  ngx_http_qbsync_livemodes[] = {
    { ngx_string("any"), NGX_HTTP_QBSYNC_LIVEMODE_ANY },
    { ngx_string("live"), NGX_HTTP_QBSYNC_LIVEMODE_LIVE },
    { ngx_string("test"), NGX_HTTP_QBSYNC_LIVEMODE_TEST },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_qbsync_commands[] = {

    { ngx_string("qbsync_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_qbsync_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_qbsync_mode,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_qbsync_verify_mode },

    { ngx_string("qbsync_webhook"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_qbsync_mode,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_qbsync_webhook_mode },

    { ngx_string("qbsync_batch"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_qbsync_mode,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_qbsync_batch_mode },

    { ngx_string("qbsync_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_qbsync_audit_log,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_statsd"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_qbsync_statsd,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_events"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_qbsync_events,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_qbsync_operator,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_qbsync_health_handler },

    { ngx_string("qbsync_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_qbsync_operator,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_qbsync_status_handler },

    { ngx_string("qbsync_cache_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_qbsync_operator,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_qbsync_cache_handler },

    { ngx_string("qbsync_trace_export"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qbsync_loc_conf_t, trace_export),
      NULL },

    { ngx_string("qbsync_slow_stage"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qbsync_loc_conf_t, slow_stage),
      NULL },

    { ngx_string("qbsync_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_qbsync_operator,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      ngx_http_qbsync_metrics_handler },

    { ngx_string("qbsync_webhook_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_qbsync_webhook_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_webhook_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_qbsync_webhook_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_webhook_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qbsync_loc_conf_t, tolerance),
      NULL },

    { ngx_string("qbsync_idempotency_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qbsync_loc_conf_t, idempotency_ttl),
      &ngx_http_qbsync_positive_post },

    { ngx_string("qbsync_inflight_lease"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qbsync_loc_conf_t, inflight_lease),
      &ngx_http_qbsync_positive_post },

    { ngx_string("qbsync_quickbooks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_qbsync_quickbooks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_oauth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE4,
      ngx_http_qbsync_oauth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_item"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE4,
      ngx_http_qbsync_item,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_stripe"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_qbsync_stripe,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_dead_letter"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_qbsync_dead_letter,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_dead_letter_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_qbsync_dead_letter_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_qbsync_rate_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_retry"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_qbsync_retry,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_livemode"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_qbsync_loc_conf_t, livemode),
      &ngx_http_qbsync_livemodes },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_qbsync_module_ctx = {
    ngx_http_qbsync_add_variables,         /* preconfiguration */
    ngx_http_qbsync_init,                  /* postconfiguration */

    ngx_http_qbsync_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_qbsync_create_loc_conf,       /* create location configuration */
    ngx_http_qbsync_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_qbsync_module = {
    NGX_MODULE_V1,
    &ngx_http_qbsync_module_ctx,           /* module context */
    ngx_http_qbsync_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_qbsync_statsd_init,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_qbsync_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_qbsync_add_variables(ngx_conf_t *cf)
{
    return ngx_http_qbsync_gate_add_variables(cf);
}


static ngx_int_t
ngx_http_qbsync_init(ngx_conf_t *cf)
{
    ngx_uint_t                    i;
    ngx_shm_zone_t              **zone;
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qbsync_module);

    /* without a zone no location can verify: stay out of every request */

    if (qmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    if (qmcf->dead_letter.len) {
        zone = qmcf->zones.elts;

        for (i = 0; i < qmcf->zones.nelts; i++) {
            ngx_http_qbsync_zone_set_dead_letter(zone[i], &qmcf->dead_letter);
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* a delivery's outcome is final once its answer is sent */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_qbsync_events_log;

    return ngx_http_qbsync_gate_init(cf);
}


static void *
ngx_http_qbsync_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_qbsync_main_conf_t));
    if (qmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&qmcf->zones, cf->pool, 1, sizeof(ngx_shm_zone_t *))
        != NGX_OK
        || ngx_array_init(&qmcf->realms, cf->pool, 1,
                          sizeof(ngx_http_qbsync_binding_t))
           != NGX_OK
        || ngx_array_init(&qmcf->token_files, cf->pool, 1,
                          sizeof(ngx_http_qbsync_binding_t))
           != NGX_OK
        || ngx_array_init(&qmcf->webhooks, cf->pool, 2,
                          sizeof(ngx_http_qbsync_webhook_ref_t))
           != NGX_OK)
    {
        return NULL;
    }

    return qmcf;
}


static void *
ngx_http_qbsync_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_qbsync_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_qbsync_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->zone_name = { 0, NULL };
     *     conf->shm_zone = NULL;
     *     conf->secrets = NULL;
     *     conf->endpoint = 0;
     *     conf->quickbooks = NULL;
     *     conf->oauth = NULL;
     *     conf->item = NULL;
     *     conf->stripe = NULL;
     *     conf->retry = NULL;
     *     conf->limits = NULL;
     */

    conf->mode = NGX_CONF_UNSET;
    conf->tolerance = NGX_CONF_UNSET;
    conf->idempotency_ttl = NGX_CONF_UNSET;
    conf->inflight_lease = NGX_CONF_UNSET;
    conf->slow_stage = NGX_CONF_UNSET_MSEC;
    conf->livemode = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_qbsync_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_qbsync_loc_conf_t *prev = parent;
    ngx_http_qbsync_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    if (conf->mode == NGX_CONF_UNSET) {
        conf->mode = (prev->mode == NGX_CONF_UNSET) ? NGX_HTTP_QBSYNC_OFF
                                                    : prev->mode;
        conf->zone_name = prev->zone_name;
    }

    if (conf->secrets == NULL) {
        conf->secrets = prev->secrets;
    }

    /* Stripe's SDKs default to five minutes */
    ngx_conf_merge_sec_value(conf->tolerance, prev->tolerance, 300);

    /* longer than the three days over which Stripe redelivers */
    ngx_conf_merge_sec_value(conf->idempotency_ttl, prev->idempotency_ttl,
                             96 * 60 * 60);

    ngx_conf_merge_sec_value(conf->inflight_lease, prev->inflight_lease, 60);

    ngx_conf_merge_msec_value(conf->slow_stage, prev->slow_stage, 500);

    ngx_conf_merge_str_value(conf->trace_export, prev->trace_export, "");

    if (conf->trace_export.len == 3
        && ngx_strncmp(conf->trace_export.data, "off", 3) == 0)
    {
        ngx_str_null(&conf->trace_export);
    }

    if (conf->quickbooks == NULL) {
        conf->quickbooks = prev->quickbooks;
    }

    if (conf->oauth == NULL) {
        conf->oauth = prev->oauth;
    }

    if (conf->item == NULL) {
        conf->item = prev->item;
    }

    if (conf->stripe == NULL) {
        conf->stripe = prev->stripe;
    }

    if (conf->retry == NULL) {
        conf->retry = (prev->retry != NULL) ? prev->retry
                                            : &ngx_http_qbsync_default_retry;
    }

    if (conf->limits == NULL) {
        conf->limits = (prev->limits != NULL) ? prev->limits
                                              : &ngx_http_qbsync_default_limits;
    }

    ngx_conf_merge_uint_value(conf->livemode, prev->livemode,
                              NGX_HTTP_QBSYNC_LIVEMODE_ANY);

    conf->endpoint = ngx_http_qbsync_endpoint(cf);

    if (conf->mode == NGX_HTTP_QBSYNC_OFF) {
        return NGX_CONF_OK;
    }

    if (conf->mode == NGX_HTTP_QBSYNC_ADMIN) {
        return ngx_http_qbsync_merge_admin(cf, conf);
    }

    if (conf->mode == NGX_HTTP_QBSYNC_BATCH) {
        return ngx_http_qbsync_merge_batch(cf, conf);
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->mode == NGX_HTTP_QBSYNC_WEBHOOK && clcf->handler != NULL
        && clcf->handler != ngx_http_qbsync_webhook_handler)
    {
        /*
         * An inherited qbsync_webhook leaves alone the locations that have
         * a content handler of their own, the internal proxy locations to
         * QuickBooks among them.
         */
        conf->mode = NGX_HTTP_QBSYNC_OFF;
        return NGX_CONF_OK;
    }

    if (conf->secrets == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is on in location \"%V\" but no "
                           "\"qbsync_webhook_secret\" or "
                           "\"qbsync_webhook_secret_file\" applies there",
                           conf->mode == NGX_HTTP_QBSYNC_WEBHOOK
                           ? "qbsync_webhook" : "qbsync_verify",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_qbsync_resolve_zone(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->mode == NGX_HTTP_QBSYNC_VERIFY) {
        return NGX_CONF_OK;
    }

    return ngx_http_qbsync_merge_webhook(cf, conf);
}


static char *
ngx_http_qbsync_merge_webhook(ngx_conf_t *cf, ngx_http_qbsync_loc_conf_t *conf)
{
    const char                     *missing;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_qbsync_main_conf_t    *qmcf;
    ngx_http_qbsync_webhook_ref_t  *ref;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qbsync_module);

    missing = (conf->quickbooks == NULL) ? "qbsync_quickbooks"
              : (conf->oauth == NULL) ? "qbsync_oauth"
              : (conf->item == NULL) ? "qbsync_item"
              : NULL;

    if (missing) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"qbsync_webhook\" is on in location \"%V\" but "
                           "no \"%s\" applies there", &clcf->name, missing);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_qbsync_bind(cf, &qmcf->realms, &conf->quickbooks->realm,
                             conf->shm_zone, "realm")
        != NGX_CONF_OK
        || ngx_http_qbsync_bind(cf, &qmcf->token_files,
                                &conf->oauth->token_file, conf->shm_zone,
                                "token file")
           != NGX_CONF_OK
        || ngx_http_qbsync_bind_limits(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ref = ngx_array_push(&qmcf->webhooks);
    if (ref == NULL) {
        return NGX_CONF_ERROR;
    }

    ref->server = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    ref->conf = conf;

    clcf->handler = ngx_http_qbsync_webhook_handler;

    return NGX_CONF_OK;
}


/*
 * The batch location writes with the webhook's QuickBooks settings and
 * zone: the same realm, the same limiter, the same mapping cache.
 */

static char *
ngx_http_qbsync_merge_batch(ngx_conf_t *cf, ngx_http_qbsync_loc_conf_t *conf)
{
    const char                   *missing;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_qbsync_main_conf_t  *qmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qbsync_module);

    missing = (conf->quickbooks == NULL) ? "qbsync_quickbooks"
              : (conf->oauth == NULL) ? "qbsync_oauth"
              : (conf->item == NULL) ? "qbsync_item"
              : NULL;

    if (missing) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"qbsync_batch\" is on in location \"%V\" but "
                           "no \"%s\" applies there", &clcf->name, missing);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_qbsync_resolve_zone(cf, conf) != NGX_CONF_OK
        || ngx_http_qbsync_bind(cf, &qmcf->realms, &conf->quickbooks->realm,
                                conf->shm_zone, "realm")
           != NGX_CONF_OK
        || ngx_http_qbsync_bind(cf, &qmcf->token_files,
                                &conf->oauth->token_file, conf->shm_zone,
                                "token file")
           != NGX_CONF_OK
        || ngx_http_qbsync_bind_limits(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_qbsync_batch_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_qbsync_resolve_zone(ngx_conf_t *cf, ngx_http_qbsync_loc_conf_t *conf)
{
    ngx_uint_t                    i;
    ngx_shm_zone_t              **zones;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qbsync_module);
    zones = qmcf->zones.elts;

    if (qmcf->zones.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs a \"qbsync_zone\" in the http block",
                           conf->mode == NGX_HTTP_QBSYNC_WEBHOOK
                           ? "qbsync_webhook"
                           : conf->mode == NGX_HTTP_QBSYNC_BATCH
                             ? "qbsync_batch" : "qbsync_verify");
        return NGX_CONF_ERROR;
    }

    if (conf->zone_name.len == 0) {
        conf->shm_zone = zones[0];
        return NGX_CONF_OK;
    }

    for (i = 0; i < qmcf->zones.nelts; i++) {
        if (zones[i]->shm.name.len == conf->zone_name.len
            && ngx_strncmp(zones[i]->shm.name.data, conf->zone_name.data,
                           conf->zone_name.len)
               == 0)
        {
            conf->shm_zone = zones[i];
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown qbsync_zone \"%V\"", &conf->zone_name);

    return NGX_CONF_ERROR;
}


/*
 * A realm's items and a token file's tokens live in one zone: two zones
 * would mean two mapping caches and two refreshers racing for one
 * rotating refresh token.
 */

static char *
ngx_http_qbsync_bind(ngx_conf_t *cf, ngx_array_t *bindings, ngx_str_t *name,
    ngx_shm_zone_t *shm_zone, const char *what)
{
    ngx_uint_t                  i;
    ngx_http_qbsync_binding_t  *binding;

    binding = bindings->elts;

    for (i = 0; i < bindings->nelts; i++) {

        if (binding[i].name.len != name->len
            || ngx_strncmp(binding[i].name.data, name->data, name->len) != 0)
        {
            continue;
        }

        if (binding[i].shm_zone == shm_zone) {
            return NGX_CONF_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s \"%V\" is used from qbsync_zone \"%V\" and "
                           "\"%V\"", what, name,
                           &binding[i].shm_zone->shm.name,
                           &shm_zone->shm.name);
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(what, "token file") == 0
        && ngx_http_qbsync_zone_add_token_file(shm_zone, name) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    binding = ngx_array_push(bindings);
    if (binding == NULL) {
        return NGX_CONF_ERROR;
    }

    binding->name = *name;
    binding->shm_zone = shm_zone;
    binding->limits = NULL;

    return NGX_CONF_OK;
}


/*
 * The dedupe scope: server name and location name identify the endpoint
 * URL Stripe delivers to, and stay the same across reloads, unlike any
 * pointer into the configuration.
 */

static uint32_t
ngx_http_qbsync_endpoint(ngx_conf_t *cf)
{
    uint32_t                   hash;
    ngx_http_core_srv_conf_t  *cscf;
    ngx_http_core_loc_conf_t  *clcf;

    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    ngx_crc32_init(hash);
    ngx_crc32_update(&hash, cscf->server_name.data, cscf->server_name.len);
    ngx_crc32_update(&hash, (u_char *) " ", 1);
    ngx_crc32_update(&hash, clcf->name.data, clcf->name.len);
    ngx_crc32_final(hash);

    return hash;
}


static char *
ngx_http_qbsync_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_main_conf_t *qmcf = conf;

    ngx_str_t        *value;
    ngx_shm_zone_t  **zone;

    value = cf->args->elts;

    zone = ngx_array_push(&qmcf->zones);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_qbsync_zone_add(cf, &value[1],
                                    (cf->args->nelts == 3) ? &value[2] : NULL,
                                    zone);
}


/* qbsync_verify and qbsync_webhook: on | off | zone=NAME */

static char *
ngx_http_qbsync_mode(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    ngx_int_t  *mode;
    ngx_str_t  *value;

    if (qlcf->mode != NGX_CONF_UNSET) {
        return "is duplicate, or given with another of \"qbsync_verify\", "
               "\"qbsync_webhook\" and \"qbsync_batch\": a location "
               "verifies for its own content handler, syncs events, or "
               "takes a catalog";
    }

    mode = cmd->post;
    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        qlcf->mode = NGX_HTTP_QBSYNC_OFF;
        return NGX_CONF_OK;
    }

    qlcf->mode = *mode;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "zone=", 5) == 0 && value[1].len > 5) {
        qlcf->zone_name.data = value[1].data + 5;
        qlcf->zone_name.len = value[1].len - 5;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\", expected \"on\", \"off\" "
                       "or \"zone=NAME\"", &value[1]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_qbsync_webhook_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char       *rv;
    ngx_str_t  *value;

    value = cf->args->elts;

    rv = ngx_http_qbsync_add_secret(cf, value[1].data, value[1].len, conf);

    /* the secret lives on only as HMAC pads, not in the parsed arguments */
    ngx_explicit_memzero(value[1].data, value[1].len);

    return rv;
}


static char *
ngx_http_qbsync_webhook_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    return ngx_http_qbsync_secrets_read(cf, &value[1],
                                        ngx_http_qbsync_add_secret, conf);
}


static char *
ngx_http_qbsync_add_secret(ngx_conf_t *cf, u_char *secret, size_t len,
    void *data)
{
    ngx_http_qbsync_loc_conf_t *qlcf = data;

    ngx_pool_cleanup_t       *cln;
    qbsync_signature_key_t  **key;

    if (len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty webhook secret");
        return NGX_CONF_ERROR;
    }

    /* Stripe's endpoint secrets all start so; the value itself is not shown */
    if (len < 6 || ngx_strncmp(secret, "whsec_", 6) != 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "a webhook secret does not start with \"whsec_\"");
    }

    if (qlcf->secrets == NULL) {
        qlcf->secrets = ngx_array_create(cf->pool, 2,
                                         sizeof(qbsync_signature_key_t *));
        if (qlcf->secrets == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    key = ngx_array_push(qlcf->secrets);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    *key = qbsync_signature_key_new(secret, len);

    if (*key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not prepare the HMAC key for a webhook "
                           "secret");
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_qbsync_free_key;
    cln->data = *key;

    return NGX_CONF_OK;
}


static void
ngx_http_qbsync_free_key(void *data)
{
    qbsync_signature_key_free(data);
}


/* qbsync_quickbooks PREFIX realm=ID [minorversion=N] */

static char *
ngx_http_qbsync_quickbooks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    ngx_str_t                     *value, v;
    ngx_uint_t                     i, j;
    ngx_http_qbsync_quickbooks_t  *qb;

    if (qlcf->quickbooks != NULL) {
        return "is duplicate";
    }

    qb = ngx_pcalloc(cf->pool, sizeof(ngx_http_qbsync_quickbooks_t));
    if (qb == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_http_qbsync_prefix(cf, &value[1], &qb->prefix) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* Intuit's Accounting API: 75 is the oldest minor version it honours */
    ngx_str_set(&qb->minorversion, "75");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_qbsync_param(&value[i], "realm", &v)) {
            for (j = 0; j < v.len; j++) {
                if (v.data[j] < '0' || v.data[j] > '9') {
                    goto invalid;
                }
            }

            qb->realm = v;
            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "minorversion", &v)
            && ngx_atoi(v.data, v.len) > 0)
        {
            qb->minorversion = v;
            continue;
        }

    invalid:

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (qb->realm.len == 0) {
        return "needs realm=ID, the QuickBooks company's realm id";
    }

    qb->ns = ngx_http_qbsync_zone_ns("realm", &qb->realm);
    qlcf->quickbooks = qb;

    return NGX_CONF_OK;
}


/*
 * qbsync_oauth PREFIX client_id=ID client_secret_file=FILE token_file=FILE
 *
 * The client secret only ever travels as Intuit's Basic authorization,
 * which is computed here, once.
 */

static char *
ngx_http_qbsync_oauth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    ngx_str_t                      *value, v, client_id, secret_file;
    ngx_uint_t                      i;
    ngx_http_qbsync_oauth_t        *oauth;
    ngx_http_qbsync_basic_auth_t    basic;

    if (qlcf->oauth != NULL) {
        return "is duplicate";
    }

    oauth = ngx_pcalloc(cf->pool, sizeof(ngx_http_qbsync_oauth_t));
    if (oauth == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_http_qbsync_prefix(cf, &value[1], &oauth->prefix) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&client_id);
    ngx_str_null(&secret_file);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_qbsync_param(&value[i], "client_id", &v) && v.len) {
            client_id = v;
            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "client_secret_file", &v)
            && v.len)
        {
            secret_file = v;
            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "token_file", &v) && v.len) {
            oauth->token_file = v;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (client_id.len == 0 || secret_file.len == 0
        || oauth->token_file.len == 0)
    {
        return "needs client_id=, client_secret_file= and token_file=";
    }

    if (ngx_conf_full_name(cf->cycle, &oauth->token_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    basic.client_id = client_id;
    basic.authorization = &oauth->authorization;

    if (ngx_http_qbsync_secret_read_one(cf, &secret_file,
                                        ngx_http_qbsync_basic_auth, &basic)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    oauth->ns = ngx_http_qbsync_zone_ns("tokens", &oauth->token_file);
    qlcf->oauth = oauth;

    return NGX_CONF_OK;
}


static char *
ngx_http_qbsync_basic_auth(ngx_conf_t *cf, u_char *secret, size_t len,
    void *data)
{
    ngx_http_qbsync_basic_auth_t *basic = data;

    u_char     *p;
    ngx_str_t   credentials, encoded;

    credentials.len = basic->client_id.len + 1 + len;
    credentials.data = ngx_pnalloc(cf->temp_pool, credentials.len);
    if (credentials.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(credentials.data, basic->client_id.data,
                   basic->client_id.len);
    *p++ = ':';
    ngx_memcpy(p, secret, len);

    basic->authorization->len = sizeof("Basic ") - 1
                                + ngx_base64_encoded_length(credentials.len);
    basic->authorization->data = ngx_pnalloc(cf->pool,
                                             basic->authorization->len);

    if (basic->authorization->data != NULL) {
        encoded.data = ngx_cpymem(basic->authorization->data, "Basic ",
                                  sizeof("Basic ") - 1);
        ngx_encode_base64(&encoded, &credentials);
    }

    ngx_explicit_memzero(credentials.data, credentials.len);

    return (basic->authorization->data != NULL) ? NGX_CONF_OK
                                                : NGX_CONF_ERROR;
}


/* qbsync_item type=T income_account=ID expense_account=ID currency=ISO */

static char *
ngx_http_qbsync_item(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    ngx_str_t                    *value, v;
    ngx_uint_t                    i;
    ngx_http_qbsync_item_conf_t  *item;

    if (qlcf->item != NULL) {
        return "is duplicate";
    }

    item = ngx_pcalloc(cf->pool, sizeof(ngx_http_qbsync_item_conf_t));
    if (item == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_qbsync_param(&value[i], "type", &v)) {

            if ((v.len == 7 && ngx_strncmp(v.data, "Service", 7) == 0)
                || (v.len == 12 && ngx_strncmp(v.data, "NonInventory", 12)
                                   == 0))
            {
                item->type = v;
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid item type \"%V\", expected "
                               "\"Service\" or \"NonInventory\"", &v);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_qbsync_param(&value[i], "income_account", &v)
            && ngx_atoi(v.data, v.len) > 0)
        {
            item->income_account = v;
            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "expense_account", &v)
            && ngx_atoi(v.data, v.len) > 0)
        {
            item->expense_account = v;
            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "currency", &v) && v.len == 3) {
            ngx_strlow(v.data, v.data, v.len);
            item->currency = v;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (item->type.len == 0 || item->income_account.len == 0
        || item->expense_account.len == 0 || item->currency.len == 0)
    {
        return "needs type=, income_account=, expense_account= and "
               "currency=";
    }

    ngx_crc32_init(item->digest);
    ngx_crc32_update(&item->digest, item->type.data, item->type.len + 1);
    ngx_crc32_update(&item->digest, item->income_account.data,
                     item->income_account.len + 1);
    ngx_crc32_update(&item->digest, item->expense_account.data,
                     item->expense_account.len + 1);
    ngx_crc32_update(&item->digest, item->currency.data, item->currency.len);
    ngx_crc32_final(item->digest);

    qlcf->item = item;

    return NGX_CONF_OK;
}


/* qbsync_stripe PREFIX key_file=FILE */

static char *
ngx_http_qbsync_stripe(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    ngx_str_t                 *value, key_file;
    ngx_http_qbsync_stripe_t  *stripe;

    if (qlcf->stripe != NULL) {
        return "is duplicate";
    }

    stripe = ngx_pcalloc(cf->pool, sizeof(ngx_http_qbsync_stripe_t));
    if (stripe == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_http_qbsync_prefix(cf, &value[1], &stripe->prefix)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (!ngx_http_qbsync_param(&value[2], "key_file", &key_file)
        || key_file.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected key_file=",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_qbsync_secret_read_one(cf, &key_file, ngx_http_qbsync_bearer,
                                        stripe)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    qlcf->stripe = stripe;

    return NGX_CONF_OK;
}


static char *
ngx_http_qbsync_bearer(ngx_conf_t *cf, u_char *secret, size_t len, void *data)
{
    ngx_http_qbsync_stripe_t *stripe = data;

    u_char  *p;

    stripe->authorization.len = sizeof("Bearer ") - 1 + len;
    stripe->authorization.data = ngx_pnalloc(cf->pool,
                                             stripe->authorization.len);
    if (stripe->authorization.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(stripe->authorization.data, "Bearer ",
                   sizeof("Bearer ") - 1);
    ngx_memcpy(p, secret, len);

    return NGX_CONF_OK;
}


/* an internal location's prefix: absolute, no trailing slash */

static char *
ngx_http_qbsync_prefix(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *prefix)
{
    *prefix = *value;

    while (prefix->len > 1 && prefix->data[prefix->len - 1] == '/') {
        prefix->len--;
    }

    if (prefix->len < 2 || prefix->data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid location prefix \"%V\", expected an "
                           "internal location such as /_qbsync/qbo", value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A realm has one limiter in its zone, so all its locations must agree on
 * the limits.  Each location keeps its own copy for the lease, which its
 * qbsync_inflight_lease gives: a call's lease outlives any call there.
 */

static char *
ngx_http_qbsync_bind_limits(ngx_conf_t *cf, ngx_http_qbsync_loc_conf_t *conf)
{
    ngx_uint_t                    i;
    qbsync_limits_t              *limits, *bound;
    ngx_http_qbsync_binding_t    *binding;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qbsync_module);

    limits = ngx_palloc(cf->pool, sizeof(qbsync_limits_t));
    if (limits == NULL) {
        return NGX_CONF_ERROR;
    }

    *limits = *conf->limits;
    limits->lease = (uint64_t) conf->inflight_lease * 1000000;
    conf->limits = limits;

    binding = qmcf->realms.elts;

    for (i = 0; i < qmcf->realms.nelts; i++) {

        if (binding[i].name.len != conf->quickbooks->realm.len
            || ngx_strncmp(binding[i].name.data, conf->quickbooks->realm.data,
                           binding[i].name.len)
               != 0)
        {
            continue;
        }

        bound = binding[i].limits;

        if (bound == NULL) {
            binding[i].limits = limits;
            return NGX_CONF_OK;
        }

        if (bound->per_minute == limits->per_minute
            && bound->concurrency == limits->concurrency
            && bound->batch_per_minute == limits->batch_per_minute
            && bound->cooldown == limits->cooldown)
        {
            return NGX_CONF_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "realm \"%V\" has two different "
                           "\"qbsync_rate_limit\" settings: its limiter is "
                           "shared by all its locations",
                           &conf->quickbooks->realm);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The dead letters of a zone are its own: an admin location lists and
 * replays those of the zone it names (or the first), through the
 * locations of its server that first received them.
 */

static char *
ngx_http_qbsync_merge_admin(ngx_conf_t *cf, ngx_http_qbsync_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_qbsync_main_conf_t  *qmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qbsync_module);

    if (qmcf->dead_letter.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"qbsync_dead_letter_admin\" in location \"%V\" "
                           "needs \"qbsync_dead_letter\" in the http block",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_qbsync_resolve_zone(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_qbsync_dead_letter_admin_handler;

    return NGX_CONF_OK;
}


/* qbsync_dead_letter FILE */

static char *
ngx_http_qbsync_dead_letter(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_main_conf_t *qmcf = conf;

    ngx_str_t  *value;

    if (qmcf->dead_letter.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    qmcf->dead_letter = value[1];

    /* relative to nginx's prefix, and NUL-terminated for open() */
    if (ngx_conf_full_name(cf->cycle, &qmcf->dead_letter, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* qbsync_dead_letter_admin [zone=NAME] */

static char *
ngx_http_qbsync_dead_letter_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    ngx_str_t  *value;

    if (qlcf->mode != NGX_CONF_UNSET) {
        return "is duplicate, or given with \"qbsync_verify\" or "
               "\"qbsync_webhook\"";
    }

    qlcf->mode = NGX_HTTP_QBSYNC_ADMIN;

    if (cf->args->nelts == 1) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    return ngx_http_qbsync_zone_arg(cf, qlcf, &value[1]);
}


/* a "zone=NAME" argument: the zone is resolved when the location merges */

static char *
ngx_http_qbsync_zone_arg(ngx_conf_t *cf, ngx_http_qbsync_loc_conf_t *qlcf,
    ngx_str_t *value)
{
    if (value->len > 5 && ngx_strncmp(value->data, "zone=", 5) == 0) {
        qlcf->zone_name.data = value->data + 5;
        qlcf->zone_name.len = value->len - 5;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected \"zone=NAME\"",
                       value);

    return NGX_CONF_ERROR;
}


/* the audit log's buffer: what a graceful exit must not lose */

static void
ngx_http_qbsync_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_qbsync_audit_exit(cycle);
}


/* qbsync_events [zone=name]: the ring of the zone named, or the first */

static char *
ngx_http_qbsync_events(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    ngx_str_t                    *value;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qbsync_module);

    if (qmcf->zones.nelts == 0) {
        return "needs a \"qbsync_zone\" in the http block before it";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "is duplicate, or the location has a content handler already";
    }

    if (cf->args->nelts == 2) {
        value = cf->args->elts;

        if (ngx_http_qbsync_zone_arg(cf, qlcf, &value[1]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_qbsync_resolve_zone(cf, qlcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_qbsync_events_handler;

    return NGX_CONF_OK;
}


/*
 * qbsync_metrics, qbsync_health, qbsync_status, qbsync_cache_admin: the
 * operators' content handlers (cmd->post is the handler)
 */

static char *
ngx_http_qbsync_operator(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qbsync_module);

    if (qmcf->zones.nelts == 0) {
        return "needs a \"qbsync_zone\" in the http block before it";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "is duplicate, or the location has a content handler already";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    return NGX_CONF_OK;
}


/*
 * qbsync_rate_limit [rate] [concurrency=number] [batch=rate]
 *     [cooldown=time]; a rate is Nr/m or Nr/s
 */

static char *
ngx_http_qbsync_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    ngx_str_t        *value, v;
    ngx_int_t         n;
    ngx_msec_t        t;
    ngx_uint_t        i;
    qbsync_limits_t  *limits;

    if (qlcf->limits != NULL) {
        return "is duplicate";
    }

    limits = ngx_palloc(cf->pool, sizeof(qbsync_limits_t));
    if (limits == NULL) {
        return NGX_CONF_ERROR;
    }

    *limits = ngx_http_qbsync_default_limits;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (i == 1 && ngx_strlchr(value[i].data, value[i].data + value[i].len,
                                  '=')
                      == NULL)
        {
            if (ngx_http_qbsync_rate(&value[i], &limits->per_minute)
                != NGX_OK)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "concurrency", &v)) {
            n = ngx_atoi(v.data, v.len);

            if (n < 1 || n > QBSYNC_LIMITER_LEASES_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid concurrency \"%V\", expected 1 "
                                   "to %d", &v, QBSYNC_LIMITER_LEASES_MAX);
                return NGX_CONF_ERROR;
            }

            limits->concurrency = (uint32_t) n;
            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "batch", &v)) {
            if (ngx_http_qbsync_rate(&v, &limits->batch_per_minute) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "cooldown", &v)) {
            t = ngx_parse_time(&v, 0);

            if (t == (ngx_msec_t) NGX_ERROR || t == 0) {
                goto invalid;
            }

            limits->cooldown = (uint64_t) t * 1000;
            continue;
        }

        goto invalid;
    }

    qlcf->limits = limits;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* "500r/m" or "8r/s", as calls a minute */

static ngx_int_t
ngx_http_qbsync_rate(ngx_str_t *value, uint32_t *per_minute)
{
    size_t     len;
    ngx_int_t  n, scale;

    len = value->len;

    if (len > 3 && ngx_strncmp(value->data + len - 3, "r/m", 3) == 0) {
        scale = 1;

    } else if (len > 3 && ngx_strncmp(value->data + len - 3, "r/s", 3) == 0) {
        scale = 60;

    } else {
        return NGX_ERROR;
    }

    n = ngx_atoi(value->data, len - 3);

    if (n <= 0 || n > 1000000) {
        return NGX_ERROR;
    }

    *per_minute = (uint32_t) (n * scale);

    return NGX_OK;
}


/*
 * qbsync_retry [strategy=exponential|linear|fibonacci|jitter]
 *     [jitter=full|decorrelated] [attempts=N] [base=T] [max=T] [budget=T]
 */

static char *
ngx_http_qbsync_retry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    uint64_t               *ms;
    ngx_str_t              *value, v, jitter;
    ngx_int_t               n;
    ngx_uint_t              i;
    qbsync_retry_policy_t  *retry;

    if (qlcf->retry != NULL) {
        return "is duplicate";
    }

    retry = ngx_palloc(cf->pool, sizeof(qbsync_retry_policy_t));
    if (retry == NULL) {
        return NGX_CONF_ERROR;
    }

    *retry = ngx_http_qbsync_default_retry;
    ngx_str_null(&jitter);

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_qbsync_param(&value[i], "strategy", &v)) {

            if (v.len == 11 && ngx_strncmp(v.data, "exponential", 11) == 0) {
                retry->strategy = QBSYNC_RETRY_EXPONENTIAL;

            } else if (v.len == 6 && ngx_strncmp(v.data, "linear", 6) == 0) {
                retry->strategy = QBSYNC_RETRY_LINEAR;

            } else if (v.len == 9 && ngx_strncmp(v.data, "fibonacci", 9) == 0)
            {
                retry->strategy = QBSYNC_RETRY_FIBONACCI;

            } else if (v.len == 6 && ngx_strncmp(v.data, "jitter", 6) == 0) {
                retry->strategy = QBSYNC_RETRY_JITTER;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid strategy \"%V\", expected "
                                   "\"exponential\", \"linear\", "
                                   "\"fibonacci\" or \"jitter\"", &v);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "jitter", &v)) {

            if (!(v.len == 4 && ngx_strncmp(v.data, "full", 4) == 0)
                && !(v.len == 12
                     && ngx_strncmp(v.data, "decorrelated", 12) == 0))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid jitter \"%V\", expected "
                                   "\"full\" or \"decorrelated\"", &v);
                return NGX_CONF_ERROR;
            }

            jitter = v;
            continue;
        }

        if (ngx_http_qbsync_param(&value[i], "attempts", &v)) {
            n = ngx_atoi(v.data, v.len);

            if (n < 1 || n > NGX_HTTP_QBSYNC_ATTEMPTS_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid attempts \"%V\", expected 1 to "
                                   "%d (the first try included)", &v,
                                   NGX_HTTP_QBSYNC_ATTEMPTS_MAX);
                return NGX_CONF_ERROR;
            }

            retry->attempts = (uint32_t) n;
            continue;
        }

        ms = ngx_http_qbsync_param(&value[i], "base", &v) ? &retry->base
             : ngx_http_qbsync_param(&value[i], "max", &v) ? &retry->max
             : ngx_http_qbsync_param(&value[i], "budget", &v) ? &retry->budget
             : NULL;

        if (ms != NULL) {
            if (ngx_http_qbsync_retry_time(cf, &value[i], &v, ms)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (jitter.len) {

        if (retry->strategy != QBSYNC_RETRY_JITTER) {
            return "takes \"jitter=\" only with \"strategy=jitter\"";
        }

        if (jitter.len == 12) {
            retry->strategy = QBSYNC_RETRY_DECORRELATED;
        }
    }

    if (retry->max < retry->base) {
        return "needs \"max=\" at least \"base=\"";
    }

    /*
     * Stripe does not publish how long it waits for an answer; reports
     * range from 20 s down.  A longer budget would have Stripe give up
     * and redeliver while the first delivery still runs.
     */
    if (retry->budget > NGX_HTTP_QBSYNC_BUDGET_MAX) {
        return "takes a \"budget=\" of at most 20s: Stripe stops waiting "
               "for an answer before that";
    }

    qlcf->retry = retry;

    return NGX_CONF_OK;
}


static char *
ngx_http_qbsync_retry_time(ngx_conf_t *cf, ngx_str_t *arg, ngx_str_t *value,
    uint64_t *ms)
{
    ngx_msec_t  t;

    t = ngx_parse_time(value, 0);

    if (t == (ngx_msec_t) NGX_ERROR || t == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time \"%V\", expected one greater than "
                           "zero, such as 250ms or 2s", arg);
        return NGX_CONF_ERROR;
    }

    *ms = t;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_qbsync_param(ngx_str_t *arg, const char *name, ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len <= len || arg->data[len] != '='
        || ngx_strncmp(arg->data, name, len) != 0)
    {
        return 0;
    }

    value->data = arg->data + len + 1;
    value->len = arg->len - len - 1;

    return 1;
}


static char *
ngx_http_qbsync_positive(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *seconds = data;

    if (*seconds <= 0) {
        return "must be greater than zero";
    }

    return NGX_CONF_OK;
}
