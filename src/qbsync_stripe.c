
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "qbsync_stripe.h"
#include "qbsync_yajl.h"


/*
 * A bound on nesting, so that a hostile body costs no more than a real
 * one: Stripe's objects nest a few levels, and expansion stops at four.
 */
#define QBSYNC_STRIPE_DEPTH_MAX   64

/* "data.object.default_price.product." and room to spare */
#define QBSYNC_STRIPE_PREFIX_MAX  64

#define QBSYNC_STRIPE_REQUIRED    0x01   /* absent or null is an error */
#define QBSYNC_STRIPE_NONEMPTY    0x02


typedef struct {
    qbsync_allocator_t  *allocator;

    /* where the object being read sits, for error paths */
    const char          *prefix;

    char                *error;
    size_t               error_size;
} qbsync_stripe_ctx_t;


static qbsync_stripe_rc_t qbsync_stripe_product_object(
    const unsigned char *body, size_t len, int expanded,
    qbsync_allocator_t *allocator, qbsync_product_t *product, char *error,
    size_t error_size);
static void qbsync_stripe_event_start(qbsync_stripe_ctx_t *ctx,
    qbsync_allocator_t *allocator, qbsync_stripe_event_t *event,
    char *error, size_t error_size);
static qbsync_stripe_rc_t qbsync_stripe_tree(qbsync_stripe_ctx_t *ctx,
    const unsigned char *body, size_t len, yajl_val *tree);
static qbsync_stripe_rc_t qbsync_stripe_event(qbsync_stripe_ctx_t *ctx,
    yajl_val root, qbsync_stripe_event_t *event);
static qbsync_stripe_rc_t qbsync_stripe_product(qbsync_stripe_ctx_t *ctx,
    yajl_val object, int expanded, qbsync_product_t *product);
static qbsync_stripe_rc_t qbsync_stripe_default_price(
    qbsync_stripe_ctx_t *ctx, yajl_val object, int expanded,
    qbsync_product_t *product);
static qbsync_stripe_rc_t qbsync_stripe_price(qbsync_stripe_ctx_t *ctx,
    yajl_val object, qbsync_price_t *price);
static qbsync_stripe_rc_t qbsync_stripe_price_product(
    qbsync_stripe_ctx_t *ctx, yajl_val object, qbsync_price_t *price);
static qbsync_stripe_rc_t qbsync_stripe_currency(qbsync_stripe_ctx_t *ctx,
    yajl_val object, qbsync_price_t *price);
static qbsync_stripe_rc_t qbsync_stripe_amount(qbsync_stripe_ctx_t *ctx,
    yajl_val object, qbsync_price_t *price);
static int qbsync_stripe_is(yajl_val value, const char *string);
static qbsync_stripe_rc_t qbsync_stripe_string(qbsync_stripe_ctx_t *ctx,
    yajl_val object, const char *key, unsigned flags, qbsync_str_t *out);
static qbsync_stripe_rc_t qbsync_stripe_boolean(qbsync_stripe_ctx_t *ctx,
    yajl_val object, const char *key, int required, unsigned *value);
static qbsync_stripe_rc_t qbsync_stripe_integer(qbsync_stripe_ctx_t *ctx,
    yajl_val object, const char *key, int required, int64_t *value);
static qbsync_stripe_rc_t qbsync_stripe_copy(qbsync_stripe_ctx_t *ctx,
    const char *value, qbsync_str_t *out);
static qbsync_stripe_rc_t qbsync_stripe_invalid(qbsync_stripe_ctx_t *ctx,
    const char *key, const char *problem);
static qbsync_stripe_rc_t qbsync_stripe_nomem(qbsync_stripe_ctx_t *ctx);
static void qbsync_stripe_empty_price(qbsync_price_t *price);
static void qbsync_stripe_empty_product(qbsync_product_t *product);


/* what an empty or absent string is: never NULL, never in the input */
static const char  qbsync_stripe_empty[] = "";

/*
 * The members read of an event, a product and a price; the rest of
 * Stripe's objects (metadata, images, previous_attributes...) is never
 * built into the tree.
 */
static const char *const  qbsync_stripe_keys[] = {
    "id", "object", "type", "created", "livemode", "data", "active", "name",
    "description", "default_price", "deleted", "product", "currency",
    "billing_scheme", "custom_unit_amount", "unit_amount_decimal", NULL
};


qbsync_stripe_rc_t
qbsync_stripe_event_parse(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_stripe_event_t *event,
    char *error, size_t error_size)
{
    yajl_val             root;
    qbsync_stripe_rc_t   rc;
    qbsync_stripe_ctx_t  ctx;

    qbsync_stripe_event_start(&ctx, allocator, event, error, error_size);

    rc = qbsync_stripe_tree(&ctx, body, len, &root);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    return qbsync_stripe_event(&ctx, root, event);
}


int
qbsync_stripe_tree_init(qbsync_yajl_some_t *tree,
    qbsync_allocator_t *allocator)
{
    return qbsync_yajl_some_init(tree, QBSYNC_STRIPE_DEPTH_MAX,
                                 qbsync_stripe_keys, allocator);
}


qbsync_stripe_rc_t
qbsync_stripe_event_read(qbsync_yajl_some_t *tree,
    qbsync_allocator_t *allocator, qbsync_stripe_event_t *event,
    char *error, size_t error_size)
{
    yajl_val             root;
    const char          *problem;
    qbsync_stripe_ctx_t  ctx;

    qbsync_stripe_event_start(&ctx, allocator, event, error, error_size);

    switch (qbsync_yajl_some_tree(tree, &root, &problem)) {

    case QBSYNC_YAJL_OK:
        return qbsync_stripe_event(&ctx, root, event);

    case QBSYNC_YAJL_NOMEM:
        return qbsync_stripe_nomem(&ctx);

    default:
        return qbsync_stripe_invalid(&ctx, "body", problem);
    }
}


static void
qbsync_stripe_event_start(qbsync_stripe_ctx_t *ctx,
    qbsync_allocator_t *allocator, qbsync_stripe_event_t *event,
    char *error, size_t error_size)
{
    memset(event, 0, sizeof(qbsync_stripe_event_t));
    event->id.data = qbsync_stripe_empty;
    event->type.data = qbsync_stripe_empty;
    qbsync_stripe_empty_product(&event->product);
    qbsync_stripe_empty_price(&event->price);

    ctx->allocator = allocator;
    ctx->prefix = "";
    ctx->error = error;
    ctx->error_size = error ? error_size : 0;

    if (ctx->error_size) {
        error[0] = '\0';
    }
}


qbsync_stripe_rc_t
qbsync_stripe_product_parse(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_product_t *product,
    char *error, size_t error_size)
{
    return qbsync_stripe_product_object(body, len, 1, allocator, product,
                                        error, error_size);
}


qbsync_stripe_rc_t
qbsync_stripe_listed_product_parse(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_product_t *product,
    char *error, size_t error_size)
{
    return qbsync_stripe_product_object(body, len, 0, allocator, product,
                                        error, error_size);
}


static qbsync_stripe_rc_t
qbsync_stripe_product_object(const unsigned char *body, size_t len,
    int expanded, qbsync_allocator_t *allocator, qbsync_product_t *product,
    char *error, size_t error_size)
{
    yajl_val             root, object;
    qbsync_stripe_rc_t   rc;
    qbsync_stripe_ctx_t  ctx;

    memset(product, 0, sizeof(qbsync_product_t));
    qbsync_stripe_empty_product(product);

    ctx.allocator = allocator;
    ctx.prefix = "";
    ctx.error = error;
    ctx.error_size = error ? error_size : 0;

    if (ctx.error_size) {
        error[0] = '\0';
    }

    rc = qbsync_stripe_tree(&ctx, body, len, &root);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    if (!YAJL_IS_OBJECT(root)) {
        return qbsync_stripe_invalid(&ctx, "body", "expected an object");
    }

    /* a price or an error answered in place of the product */
    object = qbsync_yajl_member(root, "object");

    if (object != NULL && !qbsync_stripe_is(object, "product")) {
        return qbsync_stripe_invalid(&ctx, "object", "expected \"product\"");
    }

    return qbsync_stripe_product(&ctx, root, expanded, product);
}


static qbsync_stripe_rc_t
qbsync_stripe_tree(qbsync_stripe_ctx_t *ctx, const unsigned char *body,
    size_t len, yajl_val *tree)
{
    const char  *problem;

    switch (qbsync_yajl_parse_some(body, len, QBSYNC_STRIPE_DEPTH_MAX,
                                   qbsync_stripe_keys, ctx->allocator, tree,
                                   &problem))
    {
    case QBSYNC_YAJL_OK:
        return QBSYNC_STRIPE_OK;

    case QBSYNC_YAJL_NOMEM:
        return qbsync_stripe_nomem(ctx);

    default:
        return qbsync_stripe_invalid(ctx, "body", problem);
    }
}


static qbsync_stripe_rc_t
qbsync_stripe_event(qbsync_stripe_ctx_t *ctx, yajl_val root,
    qbsync_stripe_event_t *event)
{
    unsigned            livemode;
    yajl_val            data, object, kind;
    qbsync_stripe_rc_t  rc;

    if (!YAJL_IS_OBJECT(root)) {
        return qbsync_stripe_invalid(ctx, "body", "expected an object");
    }

    rc = qbsync_stripe_string(ctx, root, "id",
                              QBSYNC_STRIPE_REQUIRED | QBSYNC_STRIPE_NONEMPTY,
                              &event->id);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    rc = qbsync_stripe_string(ctx, root, "type",
                              QBSYNC_STRIPE_REQUIRED | QBSYNC_STRIPE_NONEMPTY,
                              &event->type);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    rc = qbsync_stripe_integer(ctx, root, "created", 1, &event->created);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    livemode = 0;

    rc = qbsync_stripe_boolean(ctx, root, "livemode", 0, &livemode);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    event->livemode = livemode;

    data = qbsync_yajl_member(root, "data");
    if (!YAJL_IS_OBJECT(data)) {
        return qbsync_stripe_invalid(ctx, "data", "expected an object");
    }

    object = qbsync_yajl_member(data, "object");
    if (!YAJL_IS_OBJECT(object)) {
        return qbsync_stripe_invalid(ctx, "data.object",
                                     "expected an object");
    }

    ctx->prefix = "data.object.";

    kind = qbsync_yajl_member(object, "object");

    if (qbsync_stripe_is(kind, "product")) {
        event->kind = QBSYNC_STRIPE_PRODUCT;
        return qbsync_stripe_product(ctx, object, 0, &event->product);
    }

    if (qbsync_stripe_is(kind, "price")) {
        event->kind = QBSYNC_STRIPE_PRICE;
        return qbsync_stripe_price(ctx, object, &event->price);
    }

    event->kind = QBSYNC_STRIPE_OTHER;

    return QBSYNC_STRIPE_OK;
}


/* expanded: default_price must be the expanded Price, not its id */
static qbsync_stripe_rc_t
qbsync_stripe_product(qbsync_stripe_ctx_t *ctx, yajl_val object,
    int expanded, qbsync_product_t *product)
{
    unsigned            active;
    yajl_val            deleted;
    qbsync_stripe_rc_t  rc;

    rc = qbsync_stripe_string(ctx, object, "id",
                              QBSYNC_STRIPE_REQUIRED | QBSYNC_STRIPE_NONEMPTY,
                              &product->id);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    /* Stripe's DeletedProduct: {"id", "object": "product", "deleted"} */
    deleted = qbsync_yajl_member(object, "deleted");

    if (YAJL_IS_TRUE(deleted)) {
        product->deleted = 1;
        return QBSYNC_STRIPE_OK;
    }

    if (deleted != NULL && !YAJL_IS_FALSE(deleted)) {
        return qbsync_stripe_invalid(ctx, "deleted", "expected a boolean");
    }

    rc = qbsync_stripe_string(ctx, object, "name", QBSYNC_STRIPE_REQUIRED,
                              &product->name);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    rc = qbsync_stripe_boolean(ctx, object, "active", 1, &active);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    product->active = active;

    rc = qbsync_stripe_string(ctx, object, "description", 0,
                              &product->description);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    return qbsync_stripe_default_price(ctx, object, expanded, product);
}


static qbsync_stripe_rc_t
qbsync_stripe_default_price(qbsync_stripe_ctx_t *ctx, yajl_val object,
    int expanded, qbsync_product_t *product)
{
    char                 prefix[QBSYNC_STRIPE_PREFIX_MAX];
    yajl_val             value;
    const char          *outer;
    qbsync_stripe_rc_t   rc;

    value = qbsync_yajl_member(object, "default_price");

    if (value == NULL || YAJL_IS_NULL(value)) {
        return QBSYNC_STRIPE_OK;
    }

    if (YAJL_IS_OBJECT(value)) {
        outer = ctx->prefix;
        snprintf(prefix, sizeof(prefix), "%sdefault_price.", outer);
        ctx->prefix = prefix;

        rc = qbsync_stripe_price(ctx, value, &product->price);

        ctx->prefix = outer;

        if (rc != QBSYNC_STRIPE_OK) {
            return rc;
        }

        product->has_price = 1;
        product->default_price = product->price.id;

        return QBSYNC_STRIPE_OK;
    }

    if (expanded) {
        return qbsync_stripe_invalid(ctx, "default_price",
                                     "expected an expanded price");
    }

    if (!YAJL_IS_STRING(value)) {
        return qbsync_stripe_invalid(ctx, "default_price",
                                     "expected a string, an object or null");
    }

    return qbsync_stripe_copy(ctx, value->u.string,
                              &product->default_price);
}


static qbsync_stripe_rc_t
qbsync_stripe_price(qbsync_stripe_ctx_t *ctx, yajl_val object,
    qbsync_price_t *price)
{
    unsigned            active;
    qbsync_stripe_rc_t  rc;

    rc = qbsync_stripe_string(ctx, object, "id",
                              QBSYNC_STRIPE_REQUIRED | QBSYNC_STRIPE_NONEMPTY,
                              &price->id);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    rc = qbsync_stripe_price_product(ctx, object, price);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    rc = qbsync_stripe_currency(ctx, object, price);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    rc = qbsync_stripe_boolean(ctx, object, "active", 1, &active);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    price->active = active;

    rc = qbsync_stripe_integer(ctx, object, "created", 0, &price->created);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    return qbsync_stripe_amount(ctx, object, price);
}


/* a Price's product is its id or, expanded, a Product or DeletedProduct */
static qbsync_stripe_rc_t
qbsync_stripe_price_product(qbsync_stripe_ctx_t *ctx, yajl_val object,
    qbsync_price_t *price)
{
    char                 prefix[QBSYNC_STRIPE_PREFIX_MAX];
    yajl_val             value;
    const char          *outer;
    qbsync_stripe_rc_t   rc;

    value = qbsync_yajl_member(object, "product");

    if (!YAJL_IS_OBJECT(value)) {
        return qbsync_stripe_string(ctx, object, "product",
                                    QBSYNC_STRIPE_REQUIRED
                                    | QBSYNC_STRIPE_NONEMPTY,
                                    &price->product);
    }

    outer = ctx->prefix;
    snprintf(prefix, sizeof(prefix), "%sproduct.", outer);
    ctx->prefix = prefix;

    rc = qbsync_stripe_string(ctx, value, "id",
                              QBSYNC_STRIPE_REQUIRED | QBSYNC_STRIPE_NONEMPTY,
                              &price->product);

    ctx->prefix = outer;

    return rc;
}


/* Stripe's currencies are three-letter ISO 4217 codes, sent lowercase */
static qbsync_stripe_rc_t
qbsync_stripe_currency(qbsync_stripe_ctx_t *ctx, yajl_val object,
    qbsync_price_t *price)
{
    char      *code;
    size_t     i;
    yajl_val   value;

    value = qbsync_yajl_member(object, "currency");

    if (!YAJL_IS_STRING(value)) {
        return qbsync_stripe_invalid(ctx, "currency", "expected a string");
    }

    code = value->u.string;

    for (i = 0; code[i]; i++) {
        if (i == 3
            || !((code[i] >= 'a' && code[i] <= 'z')
                 || (code[i] >= 'A' && code[i] <= 'Z')))
        {
            break;
        }

        code[i] |= 0x20;
    }

    if (i != 3 || code[i] != '\0') {
        return qbsync_stripe_invalid(ctx, "currency",
                                     "expected a three-letter code");
    }

    return qbsync_stripe_copy(ctx, code, &price->currency);
}


/*
 * Only a per-unit price without a customer-chosen amount has one amount
 * for an Item's UnitPrice (Stripe: unit_amount is "only set if
 * billing_scheme=per_unit"); billing_scheme absent is taken as per_unit.
 */
static qbsync_stripe_rc_t
qbsync_stripe_amount(qbsync_stripe_ctx_t *ctx, yajl_val object,
    qbsync_price_t *price)
{
    int                 per_unit, custom;
    yajl_val            value;
    qbsync_stripe_rc_t  rc;

    rc = qbsync_stripe_string(ctx, object, "unit_amount_decimal", 0,
                              &price->unit_amount_decimal);
    if (rc != QBSYNC_STRIPE_OK) {
        return rc;
    }

    value = qbsync_yajl_member(object, "billing_scheme");

    if (value == NULL || YAJL_IS_NULL(value)) {
        per_unit = 1;

    } else if (YAJL_IS_STRING(value)) {
        per_unit = qbsync_stripe_is(value, "per_unit");

    } else {
        return qbsync_stripe_invalid(ctx, "billing_scheme",
                                     "expected a string or null");
    }

    value = qbsync_yajl_member(object, "custom_unit_amount");
    custom = (value != NULL && !YAJL_IS_NULL(value));

    price->has_amount = per_unit && !custom
                        && price->unit_amount_decimal.len != 0;

    return QBSYNC_STRIPE_OK;
}


static int
qbsync_stripe_is(yajl_val value, const char *string)
{
    return YAJL_IS_STRING(value) && strcmp(value->u.string, string) == 0;
}


static qbsync_stripe_rc_t
qbsync_stripe_string(qbsync_stripe_ctx_t *ctx, yajl_val object,
    const char *key, unsigned flags, qbsync_str_t *out)
{
    yajl_val  value;

    value = qbsync_yajl_member(object, key);

    if (YAJL_IS_STRING(value)) {
        if ((flags & QBSYNC_STRIPE_NONEMPTY)
            && value->u.string[0] == '\0')
        {
            return qbsync_stripe_invalid(ctx, key,
                                         "expected a non-empty string");
        }

        return qbsync_stripe_copy(ctx, value->u.string, out);
    }

    if (flags & QBSYNC_STRIPE_REQUIRED) {
        return qbsync_stripe_invalid(ctx, key, "expected a string");
    }

    if (value != NULL && !YAJL_IS_NULL(value)) {
        return qbsync_stripe_invalid(ctx, key, "expected a string or null");
    }

    return QBSYNC_STRIPE_OK;
}


/* an optional boolean that is absent leaves value as it was */
static qbsync_stripe_rc_t
qbsync_stripe_boolean(qbsync_stripe_ctx_t *ctx, yajl_val object,
    const char *key, int required, unsigned *value)
{
    yajl_val  member;

    member = qbsync_yajl_member(object, key);

    if (member == NULL && !required) {
        return QBSYNC_STRIPE_OK;
    }

    if (!YAJL_IS_TRUE(member) && !YAJL_IS_FALSE(member)) {
        return qbsync_stripe_invalid(ctx, key, "expected a boolean");
    }

    *value = YAJL_IS_TRUE(member);

    return QBSYNC_STRIPE_OK;
}


static qbsync_stripe_rc_t
qbsync_stripe_integer(qbsync_stripe_ctx_t *ctx, yajl_val object,
    const char *key, int required, int64_t *value)
{
    yajl_val  member;

    member = qbsync_yajl_member(object, key);

    if (member == NULL && !required) {
        return QBSYNC_STRIPE_OK;
    }

    if (!YAJL_IS_NUMBER(member)
        || qbsync_yajl_int64(member->u.number.r, value) != 0)
    {
        return qbsync_stripe_invalid(ctx, key, "expected an integer");
    }

    return QBSYNC_STRIPE_OK;
}


static qbsync_stripe_rc_t
qbsync_stripe_copy(qbsync_stripe_ctx_t *ctx, const char *value,
    qbsync_str_t *out)
{
    char    *copy;
    size_t   len;

    len = strlen(value);

    if (len == 0) {
        out->data = qbsync_stripe_empty;
        out->len = 0;
        return QBSYNC_STRIPE_OK;
    }

    copy = ctx->allocator->alloc(ctx->allocator->ctx, len);
    if (copy == NULL) {
        return qbsync_stripe_nomem(ctx);
    }

    memcpy(copy, value, len);

    out->data = copy;
    out->len = len;

    return QBSYNC_STRIPE_OK;
}


static qbsync_stripe_rc_t
qbsync_stripe_invalid(qbsync_stripe_ctx_t *ctx, const char *key,
    const char *problem)
{
    if (ctx->error_size) {
        snprintf(ctx->error, ctx->error_size, "%s%s: %s", ctx->prefix, key,
                 problem);
    }

    return QBSYNC_STRIPE_INVALID;
}


static qbsync_stripe_rc_t
qbsync_stripe_nomem(qbsync_stripe_ctx_t *ctx)
{
    if (ctx->error_size) {
        snprintf(ctx->error, ctx->error_size, "out of memory");
    }

    return QBSYNC_STRIPE_NOMEM;
}


static void
qbsync_stripe_empty_price(qbsync_price_t *price)
{
    price->id.data = qbsync_stripe_empty;
    price->product.data = qbsync_stripe_empty;
    price->currency.data = qbsync_stripe_empty;
    price->unit_amount_decimal.data = qbsync_stripe_empty;
}


static void
qbsync_stripe_empty_product(qbsync_product_t *product)
{
    product->id.data = qbsync_stripe_empty;
    product->name.data = qbsync_stripe_empty;
    product->description.data = qbsync_stripe_empty;
    product->default_price.data = qbsync_stripe_empty;
    qbsync_stripe_empty_price(&product->price);
}
