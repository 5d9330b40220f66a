
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_cache.h"
#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_call.h"
#include "ngx_http_qbsync_events.h"
#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_mapping.h"
#include "ngx_http_qbsync_reply.h"
#include "ngx_http_qbsync_zone.h"
#include "qbsync_yajl.h"


/*
 * A pattern is matched against this many keys at a time, then the worker
 * serves its other connections before the next chunk: a pattern that
 * backtracks badly slows this request only.
 */
#define NGX_HTTP_QBSYNC_CACHE_CHUNK  1000

#define NGX_HTTP_QBSYNC_CACHE_ENTRY  2048


typedef struct {
    ngx_shm_zone_t              *shm_zone;
    uint32_t                     ns;
    ngx_regex_t                 *regex;
    ngx_array_t                  keys;          /* ngx_str_t */
    ngx_uint_t                   next;
    ngx_uint_t                   dropped;
    ngx_event_t                  chunk;
} ngx_http_qbsync_sweep_t;


static ngx_int_t ngx_http_qbsync_cache_get(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, uint32_t ns, ngx_str_t *product);
static ngx_int_t ngx_http_qbsync_cache_drop(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, uint32_t ns, ngx_str_t *product);
static ngx_int_t ngx_http_qbsync_cache_sweep_start(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, uint32_t ns, ngx_str_t *pattern);
static void ngx_http_qbsync_cache_sweep(ngx_http_request_t *r);
static ngx_int_t ngx_http_qbsync_cache_count(ngx_http_request_t *r,
    ngx_uint_t dropped);
static void ngx_http_qbsync_cache_invalidated(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, ngx_str_t *product);
static void ngx_http_qbsync_cache_cleanup(void *data);


ngx_int_t
ngx_http_qbsync_cache_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_str_t                     product, pattern;
    ngx_uint_t                    i;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_qbsync_binding_t    *realms;
    ngx_http_qbsync_loc_conf_t   *qlcf;
    ngx_http_qbsync_main_conf_t  *qmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE))) {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "GET shows a cache entry, DELETE "
                                           "drops entries");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);
    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    realms = qmcf->realms.elts;
    shm_zone = NULL;

    /* the realm's items are in the zone its webhook and batch use */
    for (i = 0; qlcf->quickbooks && i < qmcf->realms.nelts; i++) {
        if (realms[i].name.len == qlcf->quickbooks->realm.len
            && ngx_strncmp(realms[i].name.data, qlcf->quickbooks->realm.data,
                           realms[i].name.len)
               == 0)
        {
            shm_zone = realms[i].shm_zone;
            break;
        }
    }

    if (shm_zone == NULL) {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_FOUND,
                                           "no_cache",
                                           "no webhook or batch location "
                                           "syncs this location's realm");
    }

    if (ngx_http_arg(r, (u_char *) "product", 7, &product) == NGX_OK
        && product.len)
    {
        if (r->method == NGX_HTTP_DELETE) {
            return ngx_http_qbsync_cache_drop(r, shm_zone,
                                              qlcf->quickbooks->ns,
                                              &product);
        }

        return ngx_http_qbsync_cache_get(r, shm_zone, qlcf->quickbooks->ns,
                                         &product);
    }

    if (r->method == NGX_HTTP_DELETE
        && ngx_http_arg(r, (u_char *) "pattern", 7, &pattern) == NGX_OK
        && pattern.len)
    {
        return ngx_http_qbsync_cache_sweep_start(r, shm_zone,
                                                 qlcf->quickbooks->ns,
                                                 &pattern);
    }

    return ngx_http_qbsync_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_request",
                                       "give ?product=prod_..., or with "
                                       "DELETE ?pattern=REGEX");
}


/* {"product", "qb_item_id", "sync_token", "name", "active", ...} */

static ngx_int_t
ngx_http_qbsync_cache_get(ngx_http_request_t *r, ngx_shm_zone_t *shm_zone,
    uint32_t ns, ngx_str_t *product)
{
    int                         ok;
    u_char                     *buf;
    size_t                      len;
    yajl_gen                    gen;
    qbsync_yajl_out_t           out;
    ngx_http_qbsync_mapping_t   m;

    if (ngx_http_qbsync_record_get(shm_zone, ns, product, &m, sizeof(m))
        != NGX_OK)
    {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_FOUND,
                                           "not_found",
                                           "the cache has no entry for "
                                           "this product");
    }

    buf = ngx_pnalloc(r->pool, NGX_HTTP_QBSYNC_CACHE_ENTRY);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    gen = qbsync_yajl_gen(&out, buf, NGX_HTTP_QBSYNC_CACHE_ENTRY);
    if (gen == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
         && qbsync_yajl_gen_member(gen, "product", (char *) product->data,
                                   product->len)
         && qbsync_yajl_gen_member(gen, "qb_item_id", (char *) m.item_id,
                                   m.item_id_len)
         && qbsync_yajl_gen_member(gen, "sync_token", (char *) m.sync_token,
                                   m.sync_token_len)
         && qbsync_yajl_gen_member(gen, "name", (char *) m.name, m.name_len)
         && yajl_gen_string(gen, (u_char *) "active", 6)
            == yajl_gen_status_ok
         && yajl_gen_bool(gen, m.active) == yajl_gen_status_ok
         && qbsync_yajl_gen_member(gen, "unit_price", (char *) m.unit_price,
                                   m.has_unit_price ? m.unit_price_len : 0)
         && qbsync_yajl_gen_member(gen, "default_price",
                                   (char *) m.default_price,
                                   m.default_price_len)
         && yajl_gen_string(gen, (u_char *) "suffixed", 8)
            == yajl_gen_status_ok
         && yajl_gen_bool(gen, m.suffixed) == yajl_gen_status_ok
         && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    len = qbsync_yajl_done(gen, &out, ok);
    if (len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_qbsync_reply_json(r, NGX_HTTP_OK, buf, len);
}


static ngx_int_t
ngx_http_qbsync_cache_drop(ngx_http_request_t *r, ngx_shm_zone_t *shm_zone,
    uint32_t ns, ngx_str_t *product)
{
    if (ngx_http_qbsync_record_delete(shm_zone, ns, product) != NGX_OK) {
        return ngx_http_qbsync_cache_count(r, 0);
    }

    ngx_http_qbsync_cache_invalidated(r, shm_zone, product);

    return ngx_http_qbsync_cache_count(r, 1);
}


/*
 * The keys are copied under the zone's lock, and matched without it, a
 * chunk at a time; a key matched is dropped under the lock, by itself.
 */

static ngx_int_t
ngx_http_qbsync_cache_sweep_start(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, uint32_t ns, ngx_str_t *pattern)
{
    u_char                   *dst, *src;
    u_char                    errstr[NGX_MAX_CONF_ERRSTR];
    ngx_pool_cleanup_t       *cln;
    ngx_regex_compile_t       rc;
    ngx_http_qbsync_ctx_t    *ctx;
    ngx_http_qbsync_sweep_t  *sw;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    /* %XX in the argument: a pattern has many characters URLs escape */
    rc.pattern.data = ngx_pnalloc(r->pool, pattern->len);
    if (rc.pattern.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(rc.pattern.data, pattern->data, pattern->len);

    dst = rc.pattern.data;
    src = rc.pattern.data;
    ngx_unescape_uri(&dst, &src, pattern->len, 0);
    rc.pattern.len = dst - rc.pattern.data;

    rc.pool = r->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_pattern",
                                           "the pattern is not a regular "
                                           "expression PCRE takes");
    }

    ctx = ngx_http_qbsync_create_ctx(r);
    sw = ngx_pcalloc(r->pool, sizeof(ngx_http_qbsync_sweep_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ctx == NULL || sw == NULL || cln == NULL
        || ngx_array_init(&sw->keys, r->pool, 64, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->operator = sw;

    sw->shm_zone = shm_zone;
    sw->ns = ns;
    sw->regex = rc.regex;

    sw->chunk.handler = ngx_http_qbsync_call_wake;
    sw->chunk.data = r;
    sw->chunk.log = r->connection->log;

    cln->handler = ngx_http_qbsync_cache_cleanup;
    cln->data = sw;

    if (ngx_http_qbsync_record_keys(shm_zone, ns, r->pool, &sw->keys)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;
    r->write_event_handler = ngx_http_qbsync_cache_sweep;

    ngx_http_qbsync_cache_sweep(r);

    return NGX_DONE;
}


static void
ngx_http_qbsync_cache_sweep(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                *keys;
    ngx_uint_t                end;
    ngx_http_qbsync_sweep_t  *sw;

    sw = ngx_http_qbsync_get_ctx(r)->operator;
    keys = sw->keys.elts;

    end = ngx_min(sw->next + NGX_HTTP_QBSYNC_CACHE_CHUNK, sw->keys.nelts);

    for ( /* void */ ; sw->next < end; sw->next++) {
        rc = ngx_regex_exec(sw->regex, &keys[sw->next], NULL, 0);

        if (rc == NGX_REGEX_NO_MATCHED) {
            continue;
        }

        if (rc < 0) {
            /* past PCRE's match limit: that key stays */
            continue;
        }

        if (ngx_http_qbsync_record_delete(sw->shm_zone, sw->ns,
                                          &keys[sw->next])
            == NGX_OK)
        {
            sw->dropped++;
            ngx_http_qbsync_cache_invalidated(r, sw->shm_zone,
                                              &keys[sw->next]);
        }
    }

    if (sw->next < sw->keys.nelts) {
        /* the next chunk after what else the worker has to do */
        ngx_add_timer(&sw->chunk, 1);
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_qbsync_cache_count(r, sw->dropped));
}


static ngx_int_t
ngx_http_qbsync_cache_count(ngx_http_request_t *r, ngx_uint_t dropped)
{
    u_char  *buf, *p;

    buf = ngx_pnalloc(r->pool, sizeof("{\"dropped\":}") + NGX_INT_T_LEN);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(buf, "{\"dropped\":%ui}", dropped);

    return ngx_http_qbsync_reply_json(r, NGX_HTTP_OK, buf, p - buf);
}


static void
ngx_http_qbsync_cache_invalidated(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, ngx_str_t *product)
{
    qbsync_events_record_t  record;

    ngx_http_qbsync_event_init(r, &record, QBSYNC_EVENTS_CACHE_INVALIDATED,
                               "invalidated", sizeof("invalidated") - 1);

    qbsync_events_set(&record.product, (char *) product->data,
                      product->len);

    ngx_http_qbsync_event_add(r, shm_zone, &record);
}


static void
ngx_http_qbsync_cache_cleanup(void *data)
{
    ngx_http_qbsync_sweep_t *sw = data;

    if (sw->chunk.timer_set) {
        ngx_del_timer(&sw->chunk);
    }
}
