
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_MAPPING_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_MAPPING_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qbsync_module.h"
#include "qbsync_item.h"
#include "qbsync_money.h"
#include "qbsync_stripe.h"


/* Stripe's ids are short; longer ones are not kept in the zone's records */
#define NGX_HTTP_QBSYNC_ID_MAX          64
#define NGX_HTTP_QBSYNC_QBO_ID_MAX      32
#define NGX_HTTP_QBSYNC_SYNC_TOKEN_MAX  16

/* the mapping cache and the price memory live until evicted */
#define NGX_HTTP_QBSYNC_RECORD_TTL      ((ngx_msec_t) 400 * 86400 * 1000)


/*
 * What the zone remembers of a product: its item, what was last written
 * to it (to skip writes that change nothing) and, without qbsync_stripe,
 * the ordering and price facts that events alone do not carry.
 */
typedef struct {
    int64_t                      product_created;
    uint64_t                     description_digest;
    uint32_t                     config_digest;
    u_char                       active;
    u_char                       has_unit_price;
    u_char                       item_id_len;
    u_char                       sync_token_len;
    u_char                       default_price_len;
    u_char                       unit_price_len;
    u_char                       suffixed;     /* name is "<name> (<id>)" */
    uint16_t                     name_len;
    u_char                       item_id[NGX_HTTP_QBSYNC_QBO_ID_MAX];
    u_char                       sync_token[NGX_HTTP_QBSYNC_SYNC_TOKEN_MAX];
    u_char                       default_price[NGX_HTTP_QBSYNC_ID_MAX];
    u_char                       unit_price[QBSYNC_MONEY_TEXT_MAX];
    u_char                       name[QBSYNC_ITEM_NAME_SIZE];
} ngx_http_qbsync_mapping_t;


/* A price seen in a price event, for products whose events name it. */
typedef struct {
    int64_t                      created;
    u_char                       has_amount;
    u_char                       currency_len;
    u_char                       amount_len;
    u_char                       product_len;
    u_char                       currency[8];
    u_char                       amount[QBSYNC_MONEY_TEXT_MAX];
    u_char                       product[NGX_HTTP_QBSYNC_ID_MAX];
} ngx_http_qbsync_price_rec_t;


/*
 * The UnitPrice a product's default price gives: the price as given
 * (expanded, or a price event's) or as remembered from price events; an
 * empty unit_price and a warning when QuickBooks' must be left alone.
 */
void ngx_http_qbsync_unit_price(ngx_pool_t *pool,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_str_t *price_id,
    qbsync_price_t *price, ngx_str_t *unit_price, ngx_str_t *warning);

/* whether the item as last written is the item as wanted now */
ngx_uint_t ngx_http_qbsync_mapping_unchanged(ngx_http_qbsync_mapping_t *m,
    uint32_t config_digest, ngx_str_t *name, ngx_str_t *description,
    ngx_str_t *unit_price, ngx_uint_t active);

/*
 * What a write left in QuickBooks: the item and its name (NGX_DECLINED
 * for ids too long to keep), the fields a full write sends, its price.
 */
ngx_int_t ngx_http_qbsync_mapping_item(ngx_http_qbsync_mapping_t *m,
    ngx_str_t *item_id, ngx_str_t *sync_token, ngx_str_t *name,
    ngx_uint_t active);
void ngx_http_qbsync_mapping_content(ngx_http_qbsync_mapping_t *m,
    uint32_t config_digest, ngx_str_t *description, ngx_uint_t suffixed);
void ngx_http_qbsync_mapping_unit_price(ngx_http_qbsync_mapping_t *m,
    ngx_str_t *unit_price);
void ngx_http_qbsync_mapping_store(ngx_http_qbsync_loc_conf_t *qlcf,
    ngx_str_t *product_id, ngx_http_qbsync_mapping_t *m, ngx_log_t *log);


#endif /* _NGX_HTTP_QBSYNC_MAPPING_H_INCLUDED_ */
