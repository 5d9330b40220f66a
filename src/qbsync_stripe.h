
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_STRIPE_H_INCLUDED_
#define _QBSYNC_STRIPE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "qbsync_str.h"
#include "qbsync_yajl.h"


#define QBSYNC_STRIPE_ERROR_MAX  160


/*
 * A Stripe Price, as far as an Item's UnitPrice needs it.  has_amount is
 * set only for a per-unit price with a unit_amount_decimal: a tiered price
 * or a customer-chosen amount (custom_unit_amount) has no single price.
 */
typedef struct {
    qbsync_str_t     id;
    qbsync_str_t     product;              /* the product's id */
    qbsync_str_t     currency;             /* lowercase ISO code */
    qbsync_str_t     unit_amount_decimal;  /* minor units, as Stripe wrote it */
    int64_t          created;
    unsigned         active:1;
    unsigned         has_amount:1;
} qbsync_price_t;


/*
 * A Stripe Product.  default_price is the id, whether Stripe sent the id
 * alone (webhook events) or the expanded Price (expand[]=default_price);
 * in the second case has_price is set and price holds it.  A deleted
 * product ({"id", "object": "product", "deleted": true}) has deleted set
 * and nothing but its id.
 */
typedef struct {
    qbsync_str_t     id;
    qbsync_str_t     name;
    qbsync_str_t     description;          /* empty for null */
    qbsync_str_t     default_price;        /* empty for null */
    unsigned         active:1;
    unsigned         deleted:1;
    unsigned         has_price:1;
    qbsync_price_t   price;
} qbsync_product_t;


typedef enum {
    QBSYNC_STRIPE_OTHER = 0,
    QBSYNC_STRIPE_PRODUCT,
    QBSYNC_STRIPE_PRICE
} qbsync_stripe_kind_e;


typedef struct {
    qbsync_str_t           id;
    qbsync_str_t           type;
    int64_t                created;
    unsigned               livemode:1;

    /* from data.object.object: "product" or "price" (any other: OTHER) */
    qbsync_stripe_kind_e   kind;
    qbsync_product_t       product;
    qbsync_price_t         price;
} qbsync_stripe_event_t;


typedef enum {
    QBSYNC_STRIPE_OK = 0,
    /* error says which field: "data.object.name: expected a string" */
    QBSYNC_STRIPE_INVALID,
    QBSYNC_STRIPE_NOMEM
} qbsync_stripe_rc_t;


/*
 * A whole event body (already verified and validated by the gate) into
 * event; the strings it keeps are copied with allocator.  For a product or
 * a price, the fields above are required as Stripe always sends them
 * (product: id, name unless deleted, active unless deleted; price: id,
 * product, currency, active), with the path of the first missing or
 * ill-typed one written to error.  Events of other kinds need only id,
 * type and created.
 */
qbsync_stripe_rc_t qbsync_stripe_event_parse(const unsigned char *body,
    size_t len, qbsync_allocator_t *allocator, qbsync_stripe_event_t *event,
    char *error, size_t error_size);

/*
 * The same from a tree that qbsync_event_parse_tree() built while it
 * checked the body, set up with the members read here by
 * qbsync_stripe_tree_init() (-1 when out of memory).
 */
int qbsync_stripe_tree_init(qbsync_yajl_some_t *tree,
    qbsync_allocator_t *allocator);
qbsync_stripe_rc_t qbsync_stripe_event_read(qbsync_yajl_some_t *tree,
    qbsync_allocator_t *allocator, qbsync_stripe_event_t *event,
    char *error, size_t error_size);

/*
 * Stripe's answer to GET /v1/products/{id}?expand[]=default_price, with
 * the same rules; a default_price that is not expanded is an error
 * ("default_price: expected an expanded price").
 */
qbsync_stripe_rc_t qbsync_stripe_product_parse(const unsigned char *body,
    size_t len, qbsync_allocator_t *allocator, qbsync_product_t *product,
    char *error, size_t error_size);


/*
 * A product as Stripe's list API gives it, one line of a backfill: the
 * same rules, but default_price may be the expanded price or its id.
 */
qbsync_stripe_rc_t qbsync_stripe_listed_product_parse(
    const unsigned char *body, size_t len, qbsync_allocator_t *allocator,
    qbsync_product_t *product, char *error, size_t error_size);


#endif /* _QBSYNC_STRIPE_H_INCLUDED_ */
