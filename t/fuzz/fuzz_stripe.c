
/*
 * Copyright (C) qbsync authors
 */


/*
 * Input: a body, parsed both as a webhook event and as a product.  Every
 * string kept must lie inside one allocation of the arena, an OK result
 * must hold what the header promises, the error must be one printable
 * line, and the same body with one allocation failing must be NOMEM.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_stripe.h"
#include "../unit/arena.h"


static arena_t  arena;


static void
check_str(const qbsync_str_t *s, int nonempty)
{
    if (!arena_holds(&arena, s->data, s->len) || (nonempty && s->len == 0)) {
        abort();
    }
}


static void
check_price(const qbsync_price_t *price)
{
    size_t  i;

    check_str(&price->id, 1);
    check_str(&price->product, 1);
    check_str(&price->currency, 1);
    check_str(&price->unit_amount_decimal, 0);

    if (price->currency.len != 3
        || (price->has_amount && price->unit_amount_decimal.len == 0))
    {
        abort();
    }

    for (i = 0; i < 3; i++) {
        if (price->currency.data[i] < 'a' || price->currency.data[i] > 'z') {
            abort();
        }
    }
}


static void
check_product(const qbsync_product_t *product, int expanded)
{
    check_str(&product->id, 1);
    check_str(&product->name, 0);
    check_str(&product->description, 0);
    check_str(&product->default_price, 0);

    if (product->deleted) {
        if (product->name.len || product->description.len
            || product->default_price.len || product->active
            || product->has_price)
        {
            abort();
        }

        return;
    }

    if (product->has_price) {
        check_price(&product->price);

        if (product->default_price.data != product->price.id.data
            || product->default_price.len != product->price.id.len)
        {
            abort();
        }

    } else if (expanded && product->default_price.len) {
        abort();
    }
}


static void
check_error(const char *error, qbsync_stripe_rc_t rc)
{
    size_t  i;

    for (i = 0; i < QBSYNC_STRIPE_ERROR_MAX && error[i]; i++) {
        if (error[i] < 0x20 || error[i] > 0x7e) {
            abort();
        }
    }

    if (i == QBSYNC_STRIPE_ERROR_MAX || (rc == QBSYNC_STRIPE_OK) != (i == 0)
        || (rc == QBSYNC_STRIPE_NOMEM && strcmp(error, "out of memory") != 0))
    {
        abort();
    }
}


static qbsync_stripe_rc_t
event(const uint8_t *data, size_t size, size_t fail_after, char *error)
{
    qbsync_stripe_rc_t     rc;
    qbsync_stripe_event_t  ev;

    arena_reset(&arena);
    arena.fail_after = fail_after;

    rc = qbsync_stripe_event_parse(data, size, &arena.allocator, &ev, error,
                                   QBSYNC_STRIPE_ERROR_MAX);
    check_error(error, rc);

    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    check_str(&ev.id, 1);
    check_str(&ev.type, 1);

    switch (ev.kind) {

    case QBSYNC_STRIPE_PRODUCT:
        check_product(&ev.product, 0);
        check_str(&ev.price.id, 0);
        break;

    case QBSYNC_STRIPE_PRICE:
        check_price(&ev.price);
        check_str(&ev.product.id, 0);
        break;

    case QBSYNC_STRIPE_OTHER:
        check_str(&ev.product.id, 0);
        check_str(&ev.price.id, 0);
        break;

    default:
        abort();
    }

    return rc;
}


static qbsync_stripe_rc_t
products(const uint8_t *data, size_t size, size_t fail_after, char *error,
    int expanded)
{
    qbsync_product_t    p;
    qbsync_stripe_rc_t  rc;

    arena_reset(&arena);
    arena.fail_after = fail_after;

    rc = expanded
         ? qbsync_stripe_product_parse(data, size, &arena.allocator, &p,
                                       error, QBSYNC_STRIPE_ERROR_MAX)
         : qbsync_stripe_listed_product_parse(data, size, &arena.allocator,
                                              &p, error,
                                              QBSYNC_STRIPE_ERROR_MAX);
    check_error(error, rc);

    if (rc == QBSYNC_STRIPE_OK) {
        check_product(&p, expanded);
    }

    return rc;
}


/* Stripe's answer to a product fetch: default_price expanded */
static qbsync_stripe_rc_t
product(const uint8_t *data, size_t size, size_t fail_after, char *error)
{
    return products(data, size, fail_after, error, 1);
}


/* a line of a backfill: default_price expanded or an id */
static qbsync_stripe_rc_t
listed(const uint8_t *data, size_t size, size_t fail_after, char *error)
{
    return products(data, size, fail_after, error, 0);
}


/* the same body, the allocation after n of count failing */
static void
check_nomem(qbsync_stripe_rc_t (*parse)(const uint8_t *, size_t, size_t,
    char *), const uint8_t *data, size_t size, size_t count)
{
    char  error[QBSYNC_STRIPE_ERROR_MAX];

    if (count == 0) {
        return;
    }

    if (parse(data, size, size % count, error) != QBSYNC_STRIPE_NOMEM
        || parse(data, size, count - 1, error) != QBSYNC_STRIPE_NOMEM)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                error[QBSYNC_STRIPE_ERROR_MAX];
    size_t              count;
    qbsync_stripe_rc_t  rc;

    arena_init(&arena);

    rc = event(data, size, (size_t) -1, error);
    count = arena.count;

    if (rc == QBSYNC_STRIPE_NOMEM) {
        abort();
    }

    check_nomem(event, data, size, count);

    rc = product(data, size, (size_t) -1, error);
    count = arena.count;

    if (rc == QBSYNC_STRIPE_NOMEM) {
        abort();
    }

    check_nomem(product, data, size, count);

    rc = listed(data, size, (size_t) -1, error);
    count = arena.count;

    if (rc == QBSYNC_STRIPE_NOMEM) {
        abort();
    }

    check_nomem(listed, data, size, count);

    arena_reset(&arena);

    return 0;
}
