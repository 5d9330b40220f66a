
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_zone.h"
#include "ngx_http_qbsync_gate.h"


/* A secrets file holds a few lines; anything larger is the wrong file. */
#define NGX_HTTP_QBSYNC_SECRET_FILE_MAX  65536


static ngx_int_t ngx_http_qbsync_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_qbsync_init(ngx_conf_t *cf);
static void *ngx_http_qbsync_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_qbsync_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_qbsync_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_qbsync_resolve_zone(ngx_conf_t *cf,
    ngx_http_qbsync_loc_conf_t *conf);
static uint32_t ngx_http_qbsync_endpoint(ngx_conf_t *cf);
static char *ngx_http_qbsync_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_verify(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_webhook_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_qbsync_webhook_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_qbsync_read_secret_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_str_t *contents);
static char *ngx_http_qbsync_add_secrets(ngx_conf_t *cf,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_str_t *contents, ngx_str_t *name);
static char *ngx_http_qbsync_add_secret(ngx_conf_t *cf,
    ngx_http_qbsync_loc_conf_t *qlcf, u_char *secret, size_t len);
static void ngx_http_qbsync_free_key(void *data);
static char *ngx_http_qbsync_positive(ngx_conf_t *cf, void *post, void *data);


static ngx_conf_post_t  ngx_http_qbsync_positive_post = {
    ngx_http_qbsync_positive
};


static ngx_command_t  ngx_http_qbsync_commands[] = {

    { ngx_string("qbsync_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_qbsync_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("qbsync_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_qbsync_verify,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

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
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
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
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_qbsync_module);

    /* without a zone no location can verify: stay out of every request */

    if (qmcf->zones.nelts == 0) {
        return NGX_OK;
    }

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
     */

    conf->verify = NGX_CONF_UNSET;
    conf->tolerance = NGX_CONF_UNSET;
    conf->idempotency_ttl = NGX_CONF_UNSET;
    conf->inflight_lease = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_qbsync_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_qbsync_loc_conf_t *prev = parent;
    ngx_http_qbsync_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    if (conf->verify == NGX_CONF_UNSET) {
        conf->verify = (prev->verify == NGX_CONF_UNSET) ? 0 : prev->verify;
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

    conf->endpoint = ngx_http_qbsync_endpoint(cf);

    if (!conf->verify) {
        return NGX_CONF_OK;
    }

    if (conf->secrets == NULL) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"qbsync_verify\" is on in location \"%V\" "
                           "but no \"qbsync_webhook_secret\" or "
                           "\"qbsync_webhook_secret_file\" applies there",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    return ngx_http_qbsync_resolve_zone(cf, conf);
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
                           "\"qbsync_verify\" needs a \"qbsync_zone\" "
                           "in the http block");
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

    return ngx_http_qbsync_zone_add(cf, &value[1], zone);
}


static char *
ngx_http_qbsync_verify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    ngx_str_t  *value;

    if (qlcf->verify != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        qlcf->verify = 0;
        return NGX_CONF_OK;
    }

    qlcf->verify = 1;

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
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    char       *rv;
    ngx_str_t  *value;

    value = cf->args->elts;

    rv = ngx_http_qbsync_add_secret(cf, qlcf, value[1].data, value[1].len);

    /* the secret lives on only as HMAC pads, not in the parsed arguments */
    ngx_explicit_memzero(value[1].data, value[1].len);

    return rv;
}


static char *
ngx_http_qbsync_webhook_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_qbsync_loc_conf_t *qlcf = conf;

    char       *rv;
    ngx_str_t  *value, name, contents;

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_qbsync_read_secret_file(cf, &name, qlcf, &contents);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rv = ngx_http_qbsync_add_secrets(cf, qlcf, &contents, &name);

    ngx_explicit_memzero(contents.data, contents.len);

    return rv;
}


static char *
ngx_http_qbsync_read_secret_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_str_t *contents)
{
    char             *rv;
    off_t             size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size > NGX_HTTP_QBSYNC_SECRET_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is larger than %d bytes",
                           name, NGX_HTTP_QBSYNC_SECRET_FILE_MAX);
        goto done;
    }

    if (ngx_file_access(&fi) & 0004) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "secret file \"%V\" is readable by every user",
                           name);
    }

    contents->len = (size_t) size;
    contents->data = ngx_pnalloc(cf->temp_pool, contents->len + 1);
    if (contents->data == NULL) {
        goto done;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    n = ngx_read_file(&file, contents->data, contents->len, 0);

    if (n != (ssize_t) contents->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not read secret file \"%V\"", name);
        ngx_explicit_memzero(contents->data, contents->len);
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", name);
    }

    return rv;
}


/* One secret a line; blank lines, '#' comments and spaces are ignored. */

static char *
ngx_http_qbsync_add_secrets(ngx_conf_t *cf, ngx_http_qbsync_loc_conf_t *qlcf,
    ngx_str_t *contents, ngx_str_t *name)
{
    u_char      *p, *last, *start, *end;
    ngx_uint_t   found;

    found = 0;
    p = contents->data;
    last = p + contents->len;

    while (p < last) {
        start = p;

        while (p < last && *p != '\n') {
            p++;
        }

        end = p++;

        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }

        while (end > start
               && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        {
            end--;
        }

        if (start == end || *start == '#') {
            continue;
        }

        if (ngx_http_qbsync_add_secret(cf, qlcf, start, end - start)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        found++;
    }

    if (found == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" holds no secret", name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_qbsync_add_secret(ngx_conf_t *cf, ngx_http_qbsync_loc_conf_t *qlcf,
    u_char *secret, size_t len)
{
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


static char *
ngx_http_qbsync_positive(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *seconds = data;

    if (*seconds <= 0) {
        return "must be greater than zero";
    }

    return NGX_CONF_OK;
}
