
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_mapping.h"
#include "ngx_http_qbsync_zone.h"


static uint64_t ngx_http_qbsync_description_digest(ngx_str_t *description);


void
ngx_http_qbsync_unit_price(ngx_pool_t *pool, ngx_http_qbsync_loc_conf_t *qlcf,
    ngx_str_t *price_id, qbsync_price_t *price, ngx_str_t *unit_price,
    ngx_str_t *warning)
{
    u_char                       *buf;
    size_t                        len;
    uint32_t                      ns;
    ngx_str_t                     amount, currency;
    ngx_uint_t                    has_amount;
    ngx_http_qbsync_price_rec_t   rec;

    ngx_str_null(unit_price);

    if (price_id->len == 0) {
        ngx_str_set(warning, "the product has no default price: "
                             "UnitPrice left alone");
        return;
    }

    if (price) {
        has_amount = price->has_amount;
        amount = ngx_http_qbsync_str(&price->unit_amount_decimal);
        currency = ngx_http_qbsync_str(&price->currency);

    } else {
        ns = ngx_http_qbsync_zone_ns("prices", &qlcf->quickbooks->realm);

        if (ngx_http_qbsync_record_get(qlcf->shm_zone, ns, price_id, &rec,
                                       sizeof(rec))
            != NGX_OK)
        {
            ngx_str_set(warning, "the default price is not known "
                                 "here (no price event seen; "
                                 "qbsync_stripe would fetch it): "
                                 "UnitPrice left alone");
            return;
        }

        has_amount = rec.has_amount;
        amount.data = rec.amount;
        amount.len = rec.amount_len;
        currency.data = rec.currency;
        currency.len = rec.currency_len;
    }

    if (!has_amount) {
        ngx_str_set(warning, "the default price has no unit amount "
                             "(tiered or customer-chosen): "
                             "UnitPrice left alone");
        return;
    }

    if (currency.len != qlcf->item->currency.len
        || ngx_strncasecmp(currency.data, qlcf->item->currency.data,
                           currency.len)
           != 0)
    {
        ngx_str_set(warning, "the default price is in another "
                             "currency than qbsync_item's: "
                             "UnitPrice left alone");
        return;
    }

    buf = ngx_pnalloc(pool, QBSYNC_MONEY_TEXT_MAX);
    if (buf == NULL) {
        return;
    }

    len = qbsync_money_format((char *) amount.data, amount.len,
                              qbsync_money_exponent((char *) currency.data,
                                                    currency.len),
                              (char *) buf, QBSYNC_MONEY_TEXT_MAX);

    if (len == 0) {
        ngx_str_set(warning, "the default price's amount is not a "
                             "decimal: UnitPrice left alone");
        return;
    }

    unit_price->data = buf;
    unit_price->len = len;
}


ngx_uint_t
ngx_http_qbsync_mapping_unchanged(ngx_http_qbsync_mapping_t *m,
    uint32_t config_digest, ngx_str_t *name, ngx_str_t *description,
    ngx_str_t *unit_price, ngx_uint_t active)
{
    if (m->item_id_len == 0
        || m->config_digest != config_digest
        || m->active != active
        || m->name_len != name->len
        || ngx_memcmp(m->name, name->data, name->len) != 0)
    {
        return 0;
    }

    if (unit_price->len
        && (!m->has_unit_price || m->unit_price_len != unit_price->len
            || ngx_memcmp(m->unit_price, unit_price->data, unit_price->len)
               != 0))
    {
        return 0;
    }

    return m->description_digest
           == ngx_http_qbsync_description_digest(description);
}


ngx_int_t
ngx_http_qbsync_mapping_item(ngx_http_qbsync_mapping_t *m,
    ngx_str_t *item_id, ngx_str_t *sync_token, ngx_str_t *name,
    ngx_uint_t active)
{
    if (item_id->len > sizeof(m->item_id)
        || sync_token->len > sizeof(m->sync_token)
        || name->len > sizeof(m->name))
    {
        return NGX_DECLINED;
    }

    m->item_id_len = (u_char) item_id->len;
    ngx_memcpy(m->item_id, item_id->data, item_id->len);
    m->sync_token_len = (u_char) sync_token->len;
    ngx_memcpy(m->sync_token, sync_token->data, sync_token->len);

    m->active = active;
    m->name_len = (uint16_t) name->len;
    ngx_memcpy(m->name, name->data, name->len);

    return NGX_OK;
}


void
ngx_http_qbsync_mapping_content(ngx_http_qbsync_mapping_t *m,
    uint32_t config_digest, ngx_str_t *description, ngx_uint_t suffixed)
{
    m->suffixed = suffixed;
    m->description_digest = ngx_http_qbsync_description_digest(description);
    m->config_digest = config_digest;
}


void
ngx_http_qbsync_mapping_unit_price(ngx_http_qbsync_mapping_t *m,
    ngx_str_t *unit_price)
{
    if (unit_price->len == 0 || unit_price->len > sizeof(m->unit_price)) {
        return;
    }

    m->has_unit_price = 1;
    m->unit_price_len = (u_char) unit_price->len;
    ngx_memcpy(m->unit_price, unit_price->data, unit_price->len);
}


/* Into the zone; when it has no room the product is looked up next time. */

void
ngx_http_qbsync_mapping_store(ngx_http_qbsync_loc_conf_t *qlcf,
    ngx_str_t *product_id, ngx_http_qbsync_mapping_t *m, ngx_log_t *log)
{
    if (ngx_http_qbsync_record_put(qlcf->shm_zone, qlcf->quickbooks->ns,
                                   product_id, m,
                                   sizeof(ngx_http_qbsync_mapping_t),
                                   NGX_HTTP_QBSYNC_RECORD_TTL)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "qbsync: no room in qbsync_zone \"%V\" for the item "
                      "of \"%V\"; its next sync looks it up again",
                      &qlcf->shm_zone->shm.name, product_id);
    }
}


/* a description is up to 16 kB: the zone keeps its digest only */

static uint64_t
ngx_http_qbsync_description_digest(ngx_str_t *description)
{
    qbsync_item_t  digest;

    ngx_memzero(&digest, sizeof(qbsync_item_t));
    digest.description = (char *) description->data;
    digest.description_len = description->len;

    return qbsync_item_hash(&digest);
}


