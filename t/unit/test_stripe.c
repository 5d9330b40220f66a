
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_stripe.h"
#include "tap.h"
#include "check.h"
#include "fixture.h"
#include "arena.h"


/* an event around one data.object */
#define EVENT(type, object)                                                   \
    "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"" type "\","           \
    "\"created\":1700000000,\"livemode\":false,"                              \
    "\"data\":{\"object\":" object "}}"

#define PRODUCT(members)                                                      \
    "{\"id\":\"prod_1\",\"object\":\"product\",\"active\":true,"             \
    "\"name\":\"T-shirt\",\"description\":null,\"default_price\":null"        \
    members "}"

#define PRICE(members)                                                        \
    "{\"id\":\"price_1\",\"object\":\"price\",\"active\":true,"              \
    "\"product\":\"prod_1\",\"currency\":\"usd\","                            \
    "\"billing_scheme\":\"per_unit\",\"custom_unit_amount\":null,"            \
    "\"unit_amount\":1999,\"unit_amount_decimal\":\"1999\""                   \
    members "}"


typedef qbsync_stripe_rc_t (*product_parse_pt)(const unsigned char *body,
    size_t len, qbsync_allocator_t *allocator, qbsync_product_t *product,
    char *error, size_t error_size);


static arena_t                arena;
static qbsync_stripe_event_t  event;
static qbsync_product_t       product;
static char                   error[QBSYNC_STRIPE_ERROR_MAX];


static qbsync_stripe_rc_t
parse_event_len(const void *json, size_t len)
{
    arena_reset(&arena);
    memset(error, '#', sizeof(error));

    return qbsync_stripe_event_parse(json, len, &arena.allocator, &event,
                                     error, sizeof(error));
}


static qbsync_stripe_rc_t
parse_event(const char *json)
{
    return parse_event_len(json, strlen(json));
}


static qbsync_stripe_rc_t
parse_product_with(product_parse_pt parse, const void *json, size_t len)
{
    arena_reset(&arena);
    memset(error, '#', sizeof(error));

    return parse(json, len, &arena.allocator, &product, error,
                 sizeof(error));
}


static qbsync_stripe_rc_t
parse_product_len(const void *json, size_t len)
{
    return parse_product_with(qbsync_stripe_product_parse, json, len);
}


static qbsync_stripe_rc_t
parse_listed(const char *json)
{
    return parse_product_with(qbsync_stripe_listed_product_parse, json,
                              strlen(json));
}


static qbsync_stripe_rc_t
parse_fixture_with(product_parse_pt parse, const char *name)
{
    size_t              len;
    unsigned char      *json;
    qbsync_stripe_rc_t  rc;

    json = fixture_read(name, &len);
    rc = parse_product_with(parse, json, len);
    free(json);

    return rc;
}


static qbsync_stripe_rc_t
parse_product(const char *json)
{
    return parse_product_len(json, strlen(json));
}


static void
invalid_event(const char *json, const char *message)
{
    is_int(parse_event(json), QBSYNC_STRIPE_INVALID, tap_name("", json));
    is_str(error, message, "  error");
}


static void
invalid_product(const char *json, const char *message)
{
    is_int(parse_product(json), QBSYNC_STRIPE_INVALID, tap_name("", json));
    is_str(error, message, "  error");
}


static void
invalid_listed(const char *json, const char *message)
{
    is_int(parse_listed(json), QBSYNC_STRIPE_INVALID,
           tap_name("listed: ", json));
    is_str(error, message, "  error");
}


/* an event of that type with a fixture as its data.object */
static char *
fixture_event(const char *type, const char *name, size_t *len)
{
    char           *json;
    size_t          object_len, size;
    unsigned char  *object;

    object = fixture_read(name, &object_len);

    size = object_len + strlen(type) + 256;
    json = malloc(size);
    if (json == NULL) {
        printf("Bail out! out of memory\n");
        exit(1);
    }

    *len = snprintf(json, size,
                    "{\"id\":\"evt_1PgcA2B7WZ01zgkW\",\"object\":\"event\","
                    "\"type\":\"%s\",\"created\":1721950000,"
                    "\"livemode\":true,\"data\":{\"object\":%.*s,"
                    "\"previous_attributes\":{\"name\":\"Old\"}},"
                    "\"pending_webhooks\":1}",
                    type, (int) object_len, (char *) object);

    free(object);

    return json;
}


static void
test_product_events(void)
{
    char    *json;
    size_t   len;

    json = fixture_event("product.created", "stripe/product.json", &len);

    is_int(parse_event_len(json, len), QBSYNC_STRIPE_OK,
           "product.created around Stripe's product fixture");
    is_str(error, "", "  no error");
    is_held(&arena, event.id, "evt_1PgcA2B7WZ01zgkW", "  event id");
    is_held(&arena, event.type, "product.created", "  type");
    is_int(event.created, 1721950000, "  event's created");
    is_int(event.livemode, 1, "  livemode");
    is_int(event.kind, QBSYNC_STRIPE_PRODUCT, "  kind");
    is_held(&arena, event.product.id, "prod_QXg1hqf4jFNsqG", "  product id");
    is_held(&arena, event.product.name, "T-shirt", "  name");
    is_held(&arena, event.product.description, "Comfortable gray cotton t-shirt",
         "  description");
    is_held(&arena, event.product.default_price, "price_1PgafmB7WZ01zgkW02Hf9z6c",
         "  default_price, the id alone");
    is_int(event.product.active, 1, "  active");
    is_int(event.product.deleted, 0, "  not deleted");
    is_int(event.product.has_price, 0, "  no expanded price");
    is_int(event.price.id.len, 0, "  no price of the event's own");
    ok(event.price.id.data != NULL, "  empty strings are not NULL");

    free(json);

    json = fixture_event("product.updated", "stripe/product.json", &len);
    is_int(parse_event_len(json, len), QBSYNC_STRIPE_OK, "product.updated");
    is_held(&arena, event.type, "product.updated", "  type");
    is_held(&arena, event.product.name, "T-shirt",
         "  name from data.object, not previous_attributes");
    free(json);

    json = fixture_event("product.deleted", "stripe/deleted_product.json",
                         &len);
    is_int(parse_event_len(json, len), QBSYNC_STRIPE_OK,
           "product.deleted around Stripe's DeletedProduct fixture");
    is_int(event.kind, QBSYNC_STRIPE_PRODUCT, "  kind");
    is_int(event.product.deleted, 1, "  deleted");
    is_held(&arena, event.product.id, "prod_QXg1hqf4jFNsqG", "  id");
    is_int(event.product.name.len, 0, "  no name");
    ok(event.product.name.data != NULL, "  empty, not NULL");
    is_int(event.product.active, 0, "  not active");
    is_int(event.product.description.len, 0, "  no description");
    is_int(event.product.default_price.len, 0, "  no default_price");
    free(json);

    /* the deletion is the event's type when the snapshot is whole */
    json = fixture_event("product.deleted", "stripe/product.json", &len);
    is_int(parse_event_len(json, len), QBSYNC_STRIPE_OK,
           "product.deleted around a whole product");
    is_int(event.product.deleted, 0, "  deleted is only Stripe's flag");
    is_held(&arena, event.product.name, "T-shirt", "  name");
    free(json);

    is_int(parse_event(EVENT("product.updated",
                             "{\"id\":\"prod_1\",\"object\":\"product\","
                             "\"active\":false,\"deleted\":false,"
                             "\"name\":\"T-shirt\"}")),
           QBSYNC_STRIPE_OK, "an archived product, deleted false");
    is_int(event.product.active, 0, "  not active");
    is_int(event.product.deleted, 0, "  not deleted");
    is_int(event.livemode, 0, "  livemode false");
}


static void
test_price_events(void)
{
    char    *json;
    size_t   len;

    json = fixture_event("price.created", "stripe/price.json", &len);

    is_int(parse_event_len(json, len), QBSYNC_STRIPE_OK,
           "price.created around Stripe's price fixture");
    is_int(event.kind, QBSYNC_STRIPE_PRICE, "  kind");
    is_held(&arena, event.price.id, "price_1PgafmB7WZ01zgkW6dKueIc5", "  id");
    is_held(&arena, event.price.product, "prod_QXg1hqf4jFNsqG", "  product");
    is_held(&arena, event.price.currency, "usd", "  currency");
    is_held(&arena, event.price.unit_amount_decimal, "2000", "  unit_amount_decimal");
    is_int(event.price.created, 1234567890, "  price's created");
    is_int(event.price.active, 1, "  active");
    is_int(event.price.has_amount, 0,
           "  the fixture's custom_unit_amount object means no amount");
    is_int(event.product.id.len, 0, "  no product of the event's own");
    free(json);

    is_int(parse_event(EVENT("price.updated", PRICE(""))), QBSYNC_STRIPE_OK,
           "price.updated, per unit");
    is_held(&arena, event.price.unit_amount_decimal, "1999", "  unit_amount_decimal");
    is_int(event.price.has_amount, 1, "  has an amount");
    is_int(event.price.created, 0, "  created absent: 0");

    is_int(parse_event(EVENT("price.updated",
                             "{\"id\":\"price_1\",\"object\":\"price\","
                             "\"active\":false,\"product\":\"prod_1\","
                             "\"currency\":\"usd\",\"created\":-5,"
                             "\"unit_amount_decimal\":\"1\"}")),
           QBSYNC_STRIPE_OK, "an archived price");
    is_int(event.price.active, 0, "  not active");
    is_int(event.price.created, -5, "  created");
    is_int(event.price.has_amount, 1, "  still has its amount");

    is_int(parse_event(EVENT("price.created",
                             "{\"id\":\"price_1\",\"object\":\"price\","
                             "\"active\":true,\"product\":\"prod_1\","
                             "\"currency\":\"usd\",\"billing_scheme\":"
                             "\"tiered\",\"tiers_mode\":\"graduated\","
                             "\"unit_amount\":null,"
                             "\"unit_amount_decimal\":null,"
                             "\"custom_unit_amount\":null}")),
           QBSYNC_STRIPE_OK, "a tiered price");
    is_int(event.price.has_amount, 0, "  has no single amount");
    is_int(event.price.unit_amount_decimal.len, 0, "  unit_amount_decimal");

    is_int(parse_event(EVENT("price.created",
                             "{\"id\":\"price_1\",\"object\":\"price\","
                             "\"active\":true,\"product\":\"prod_1\","
                             "\"currency\":\"usd\",\"billing_scheme\":"
                             "\"tiered\",\"unit_amount_decimal\":\"5\"}")),
           QBSYNC_STRIPE_OK, "tiered, even with a unit_amount_decimal");
    is_int(event.price.has_amount, 0, "  has no single amount");

    is_int(parse_event(EVENT("price.created",
                             "{\"id\":\"price_1\",\"object\":\"price\","
                             "\"active\":true,\"product\":\"prod_1\","
                             "\"currency\":\"usd\",\"billing_scheme\":"
                             "\"per_unit\",\"unit_amount\":null,"
                             "\"unit_amount_decimal\":null,"
                             "\"custom_unit_amount\":{\"maximum\":10000,"
                             "\"minimum\":500,\"preset\":null}}")),
           QBSYNC_STRIPE_OK, "a customer-chosen amount");
    is_int(event.price.has_amount, 0, "  has no single amount");

    is_int(parse_event(EVENT("price.created",
                             "{\"id\":\"price_1\",\"object\":\"price\","
                             "\"active\":true,\"product\":\"prod_1\","
                             "\"currency\":\"jpy\","
                             "\"unit_amount_decimal\":\"0.5\"}")),
           QBSYNC_STRIPE_OK, "billing_scheme and custom_unit_amount absent");
    is_int(event.price.has_amount, 1, "  per unit");
    is_held(&arena, event.price.unit_amount_decimal, "0.5", "  unit_amount_decimal");

    is_int(parse_event(EVENT("price.created",
                             "{\"id\":\"price_1\",\"object\":\"price\","
                             "\"active\":true,\"product\":\"prod_1\","
                             "\"currency\":\"usd\","
                             "\"unit_amount_decimal\":\"\"}")),
           QBSYNC_STRIPE_OK, "only an empty unit_amount_decimal");
    is_int(event.price.has_amount, 0, "  is no amount");

    is_int(parse_event(EVENT("price.updated",
                             "{\"id\":\"price_1\",\"object\":\"price\","
                             "\"active\":true,\"product\":{\"id\":\"prod_9\","
                             "\"object\":\"product\",\"name\":\"X\"},"
                             "\"currency\":\"EUR\","
                             "\"unit_amount_decimal\":\"12.5\"}")),
           QBSYNC_STRIPE_OK, "an expanded product, an uppercase currency");
    is_held(&arena, event.price.product, "prod_9", "  the product's id");
    is_held(&arena, event.price.currency, "eur", "  currency lowercased");

    is_int(parse_event(EVENT("price.updated",
                             "{\"id\":\"price_1\",\"object\":\"price\","
                             "\"active\":true,\"product\":{\"id\":\"prod_9\","
                             "\"object\":\"product\",\"deleted\":true},"
                             "\"currency\":\"usd\"}")),
           QBSYNC_STRIPE_OK, "the product expanded as a DeletedProduct");
    is_held(&arena, event.price.product, "prod_9", "  the product's id");
}


/*
 * Prices cannot be deleted through Stripe's API; a DeletedPrice has no
 * product, so it is refused like any price without one.
 */
static void
test_deleted_price(void)
{
    char    *json;
    size_t   len;

    json = fixture_event("price.deleted", "stripe/deleted_price.json", &len);

    is_int(parse_event_len(json, len), QBSYNC_STRIPE_INVALID,
           "price.deleted around Stripe's DeletedPrice fixture");
    is_str(error, "data.object.product: expected a string", "  error");
    is_int(event.kind, QBSYNC_STRIPE_PRICE, "  kind is still known");

    free(json);
}


static void
test_other_events(void)
{
    size_t          len;
    unsigned char  *json;

    json = fixture_read("stripe/event.json", &len);

    is_int(parse_event_len(json, len), QBSYNC_STRIPE_OK,
           "Stripe's plan.created fixture");
    is_int(event.kind, QBSYNC_STRIPE_OTHER, "  kind other");
    is_held(&arena, event.id, "evt_1Pgc76B7WZ01zgkWwyRHS12y", "  id");
    is_held(&arena, event.type, "plan.created", "  type");
    is_int(event.created, 1234567890, "  created");
    is_int(event.livemode, 0, "  livemode");
    is_int(event.product.id.len + event.price.id.len, 0,
           "  no product, no price");

    free(json);

    is_int(parse_event("{\"id\":\"evt_2\",\"type\":\"customer.created\","
                       "\"created\":1,\"data\":{\"object\":{}}}"),
           QBSYNC_STRIPE_OK, "an event without livemode, object without kind");
    is_int(event.kind, QBSYNC_STRIPE_OTHER, "  kind other");
    is_int(event.livemode, 0, "  livemode absent: 0");

    is_int(parse_event("{\"id\":\"evt_2\",\"type\":\"x\",\"created\":1,"
                       "\"livemode\":true,\"data\":{\"object\":"
                       "{\"object\":1,\"name\":2}}}"),
           QBSYNC_STRIPE_OK, "data.object.object not a string: other");
    is_int(event.kind, QBSYNC_STRIPE_OTHER, "  kind other");
    is_int(event.livemode, 1, "  livemode");

    is_int(parse_event(EVENT("product.updated",
                             "{\"object\":\"Product\",\"id\":1}")),
           QBSYNC_STRIPE_OK, "the kind is case-sensitive");
    is_int(event.kind, QBSYNC_STRIPE_OTHER, "  kind other");
}


static void
test_event_fields(void)
{
    invalid_event("{\"type\":\"t\",\"created\":1,\"data\":{\"object\":{}}}",
                  "id: expected a string");
    invalid_event("{\"id\":\"\",\"type\":\"t\",\"created\":1,"
                  "\"data\":{\"object\":{}}}",
                  "id: expected a non-empty string");
    invalid_event("{\"id\":7,\"type\":\"t\",\"created\":1,"
                  "\"data\":{\"object\":{}}}",
                  "id: expected a string");
    invalid_event("{\"id\":\"evt_1\",\"type\":null,\"created\":1,"
                  "\"data\":{\"object\":{}}}",
                  "type: expected a string");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"\",\"created\":1,"
                  "\"data\":{\"object\":{}}}",
                  "type: expected a non-empty string");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\","
                  "\"data\":{\"object\":{}}}",
                  "created: expected an integer");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\",\"created\":\"1\","
                  "\"data\":{\"object\":{}}}",
                  "created: expected an integer");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\",\"created\":1.0,"
                  "\"data\":{\"object\":{}}}",
                  "created: expected an integer");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\",\"created\":1e3,"
                  "\"data\":{\"object\":{}}}",
                  "created: expected an integer");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\","
                  "\"created\":9223372036854775808,"
                  "\"data\":{\"object\":{}}}",
                  "created: expected an integer");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\",\"created\":1,"
                  "\"livemode\":\"true\",\"data\":{\"object\":{}}}",
                  "livemode: expected a boolean");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\",\"created\":1,"
                  "\"livemode\":null,\"data\":{\"object\":{}}}",
                  "livemode: expected a boolean");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\",\"created\":1}",
                  "data: expected an object");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\",\"created\":1,"
                  "\"data\":[]}",
                  "data: expected an object");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\",\"created\":1,"
                  "\"data\":{}}",
                  "data.object: expected an object");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"t\",\"created\":1,"
                  "\"data\":{\"object\":\"product\"}}",
                  "data.object: expected an object");

    is_int(parse_event("{\"id\":\"evt_1\",\"type\":\"t\","
                       "\"created\":-9223372036854775808,"
                       "\"data\":{\"object\":{}}}"),
           QBSYNC_STRIPE_OK, "created INT64_MIN");
    is_int(event.created, INT64_MIN, "  value");
    is_int(parse_event("{\"id\":\"evt_1\",\"type\":\"t\","
                       "\"created\":9223372036854775807,"
                       "\"data\":{\"object\":{}}}"),
           QBSYNC_STRIPE_OK, "created INT64_MAX");
    is_int(event.created, INT64_MAX, "  value");

    /* the gate refuses these; here the first member counts */
    is_int(parse_event("{\"id\":\"evt_1\",\"id\":\"evt_2\",\"type\":\"t\","
                       "\"created\":1,\"data\":{\"object\":{}}}"),
           QBSYNC_STRIPE_OK, "a duplicate key");
    is_held(&arena, event.id, "evt_1", "  the first counts");
}


static void
test_product_fields(void)
{
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"name\":\"x\"}"),
                  "data.object.id: expected a string");
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"id\":\"\"}"),
                  "data.object.id: expected a non-empty string");
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"active\":true}"),
                  "data.object.name: expected a string");
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"name\":null,\"active\":true}"),
                  "data.object.name: expected a string");
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"name\":[\"x\"],\"active\":true}"),
                  "data.object.name: expected a string");
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"name\":\"x\"}"),
                  "data.object.active: expected a boolean");
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"name\":\"x\",\"active\":1}"),
                  "data.object.active: expected a boolean");
    invalid_event(EVENT("product.updated",
                        PRODUCT(",\"deleted\":\"yes\"")),
                  "data.object.deleted: expected a boolean");
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"name\":\"x\",\"active\":true,"
                        "\"description\":{}}"),
                  "data.object.description: expected a string or null");
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"name\":\"x\",\"active\":true,"
                        "\"default_price\":5}"),
                  "data.object.default_price: expected a string, "
                  "an object or null");
    invalid_event(EVENT("product.updated",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"name\":\"x\",\"active\":true,"
                        "\"default_price\":{\"id\":\"price_1\","
                        "\"product\":\"prod_1\",\"active\":true}}"),
                  "data.object.default_price.currency: expected a string");

    is_int(parse_event(EVENT("product.updated",
                             "{\"object\":\"product\",\"id\":\"prod_1\","
                             "\"name\":\"\",\"active\":true}")),
           QBSYNC_STRIPE_OK, "an empty name, description absent");
    is_int(event.product.name.len, 0, "  name");
    is_int(event.product.description.len, 0, "  description");
    is_int(event.product.default_price.len, 0, "  default_price");

    is_int(parse_event(EVENT("product.updated",
                             "{\"object\":\"product\",\"id\":\"prod_1\","
                             "\"name\":\"x\",\"active\":true,"
                             "\"default_price\":{\"id\":\"price_7\","
                             "\"object\":\"price\",\"product\":\"prod_1\","
                             "\"active\":true,\"currency\":\"gbp\","
                             "\"unit_amount_decimal\":\"250\"}}")),
           QBSYNC_STRIPE_OK, "an expanded default_price in an event");
    is_int(event.product.has_price, 1, "  has_price");
    is_held(&arena, event.product.default_price, "price_7", "  default_price");
    is_held(&arena, event.product.price.currency, "gbp", "  price.currency");
    is_int(event.product.price.has_amount, 1, "  price.has_amount");
}


static void
test_price_fields(void)
{
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"product\":\"prod_1\"}"),
                  "data.object.id: expected a string");
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"id\":\"price_1\"}"),
                  "data.object.product: expected a string");
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"id\":\"price_1\","
                        "\"product\":\"\"}"),
                  "data.object.product: expected a non-empty string");
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"id\":\"price_1\","
                        "\"product\":{\"object\":\"product\"}}"),
                  "data.object.product.id: expected a string");
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"id\":\"price_1\","
                        "\"product\":\"prod_1\"}"),
                  "data.object.currency: expected a string");
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"id\":\"price_1\","
                        "\"product\":\"prod_1\",\"currency\":\"us\"}"),
                  "data.object.currency: expected a three-letter code");
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"id\":\"price_1\","
                        "\"product\":\"prod_1\",\"currency\":\"usdd\"}"),
                  "data.object.currency: expected a three-letter code");
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"id\":\"price_1\","
                        "\"product\":\"prod_1\",\"currency\":\"u$d\"}"),
                  "data.object.currency: expected a three-letter code");
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"id\":\"price_1\","
                        "\"product\":\"prod_1\",\"currency\":\"\"}"),
                  "data.object.currency: expected a three-letter code");
    invalid_event(EVENT("price.updated",
                        "{\"object\":\"price\",\"id\":\"price_1\","
                        "\"product\":\"prod_1\",\"currency\":\"usd\"}"),
                  "data.object.active: expected a boolean");
    invalid_event(EVENT("price.updated", PRICE(",\"created\":\"1\"")),
                  "data.object.created: expected an integer");
    invalid_event(EVENT("price.updated", PRICE(",\"created\":null")),
                  "data.object.created: expected an integer");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"price.updated\","
                  "\"created\":1,\"data\":{\"object\":"
                  "{\"object\":\"price\",\"id\":\"price_1\","
                  "\"product\":\"prod_1\",\"currency\":\"usd\","
                  "\"active\":true,\"unit_amount_decimal\":1999}}}",
                  "data.object.unit_amount_decimal: expected a string or "
                  "null");
    invalid_event("{\"id\":\"evt_1\",\"type\":\"price.updated\","
                  "\"created\":1,\"data\":{\"object\":"
                  "{\"object\":\"price\",\"id\":\"price_1\","
                  "\"product\":\"prod_1\",\"currency\":\"usd\","
                  "\"active\":true,\"billing_scheme\":1}}}",
                  "data.object.billing_scheme: expected a string or null");
}


static void
test_names(void)
{
    is_int(parse_event(EVENT("product.created",
                             "{\"object\":\"product\",\"id\":\"prod_1\","
                             "\"active\":true,\"name\":\"Caf\xc3\xa9 "
                             "\xe2\x98\x95 \xf0\x9f\x91\x95\"}")),
           QBSYNC_STRIPE_OK, "a UTF-8 name");
    is_held(&arena, event.product.name, "Caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x91\x95",
         "  bytes kept");

    is_int(parse_event(EVENT("product.created",
                             "{\"object\":\"product\",\"id\":\"prod_1\","
                             "\"active\":true,\"name\":\"Caf\\u00e9 "
                             "\\u2615 \\ud83d\\udc55\"}")),
           QBSYNC_STRIPE_OK, "a name in \\u escapes");
    is_held(&arena, event.product.name, "Caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x91\x95",
         "  decoded to UTF-8");

    is_int(parse_event(EVENT("product.created",
                             "{\"object\":\"product\",\"id\":\"prod_1\","
                             "\"active\":true,\"name\":\"\\\"Deluxe\\\" "
                             "T-shirt \\\\ 5'11\\\" \\/ \\t\","
                             "\"description\":\"line 1\\nline 2\"}")),
           QBSYNC_STRIPE_OK, "a name with quotes and escapes");
    is_held(&arena, event.product.name, "\"Deluxe\" T-shirt \\ 5'11\" / \t",
         "  unescaped");
    is_held(&arena, event.product.description, "line 1\nline 2", "  description");

    is_int(parse_event(EVENT("product.created",
                             "{\"object\":\"product\",\"id\":\"prod_1\","
                             "\"active\":true,\"name\":\"a\\\\u0000b\"}")),
           QBSYNC_STRIPE_OK, "an escaped backslash before u0000");
    is_held(&arena, event.product.name, "a\\u0000b", "  is text");

    invalid_event(EVENT("product.created",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"active\":true,\"name\":\"a\\u0000b\"}"),
                  "body: \\u0000 in a string");
    invalid_event(EVENT("product.created",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"active\":true,\"name\":\"a\\\\\\u0000b\"}"),
                  "body: \\u0000 in a string");
    invalid_event(EVENT("product.created",
                        "{\"object\":\"product\",\"id\":\"prod_1\","
                        "\"active\":true,\"name\":\"caf\xe9\"}"),
                  "body: invalid JSON");
}


/* Stripe's T-shirt, as every product fixture has it */
static void
is_t_shirt(void)
{
    is_str(error, "", "  no error");
    is_held(&arena, product.id, "prod_QXg1hqf4jFNsqG", "  id");
    is_held(&arena, product.name, "T-shirt", "  name");
    is_held(&arena, product.description, "Comfortable gray cotton t-shirt",
         "  description");
    is_int(product.active, 1, "  active");
    is_int(product.deleted, 0, "  not deleted");
}


/* and its default_price, expanded */
static void
is_t_shirt_price(void)
{
    is_int(product.has_price, 1, "  has_price");
    is_held(&arena, product.default_price, "price_1PgafmB7WZ01zgkW02Hf9z6c",
         "  default_price is the price's id");
    is_held(&arena, product.price.id, "price_1PgafmB7WZ01zgkW02Hf9z6c", "  price.id");
    is_held(&arena, product.price.product, "prod_QXg1hqf4jFNsqG", "  price.product");
    is_held(&arena, product.price.currency, "usd", "  price.currency");
    is_held(&arena, product.price.unit_amount_decimal, "2500",
         "  price.unit_amount_decimal");
    is_int(product.price.created, 1721948530, "  price.created");
    is_int(product.price.has_amount, 1, "  price.has_amount");
    is_int(product.price.active, 1, "  price.active");
    ok(product.default_price.data == product.price.id.data,
       "  one copy of the id");
}


static void
test_product_parse(void)
{
    size_t          len;
    unsigned char  *json;

    is_int(parse_fixture_with(qbsync_stripe_product_parse,
                              "stripe/product_expanded.json"),
           QBSYNC_STRIPE_OK, "a product with default_price expanded");
    is_t_shirt();
    is_t_shirt_price();

    json = fixture_read("stripe/product.json", &len);
    is_int(parse_product_len(json, len), QBSYNC_STRIPE_INVALID,
           "Stripe's product fixture, default_price not expanded");
    is_str(error, "default_price: expected an expanded price", "  error");
    free(json);

    json = fixture_read("stripe/deleted_product.json", &len);
    is_int(parse_product_len(json, len), QBSYNC_STRIPE_OK,
           "Stripe's DeletedProduct fixture");
    is_int(product.deleted, 1, "  deleted");
    is_held(&arena, product.id, "prod_QXg1hqf4jFNsqG", "  id");
    free(json);

    json = fixture_read("stripe/price.json", &len);
    is_int(parse_product_len(json, len), QBSYNC_STRIPE_INVALID,
           "Stripe's price fixture in place of a product");
    is_str(error, "object: expected \"product\"", "  error");
    free(json);

    is_int(parse_product(PRODUCT("")), QBSYNC_STRIPE_OK,
           "default_price null");
    is_int(product.has_price, 0, "  no price");
    is_int(product.default_price.len, 0, "  no default_price");

    is_int(parse_product("{\"id\":\"prod_1\",\"name\":\"x\","
                         "\"active\":false}"),
           QBSYNC_STRIPE_OK, "object and default_price absent");
    is_int(product.active, 0, "  not active");

    invalid_product("{\"id\":\"prod_1\",\"name\":\"x\",\"active\":true,"
                    "\"default_price\":\"price_1\"}",
                    "default_price: expected an expanded price");
    invalid_product("{\"id\":\"prod_1\",\"name\":\"x\",\"active\":true,"
                    "\"default_price\":7}",
                    "default_price: expected an expanded price");
    invalid_product("{\"id\":\"prod_1\",\"name\":\"x\",\"active\":true,"
                    "\"default_price\":{\"id\":\"price_1\","
                    "\"product\":{},\"currency\":\"usd\","
                    "\"active\":true}}",
                    "default_price.product.id: expected a string");
    invalid_product("{\"id\":\"prod_1\",\"active\":true}",
                    "name: expected a string");
    invalid_product("{\"id\":\"prod_1\",\"name\":\"x\"}",
                    "active: expected a boolean");
    invalid_product("{\"name\":\"x\",\"active\":true}",
                    "id: expected a string");
    invalid_product("{\"object\":null,\"id\":\"prod_1\"}",
                    "object: expected \"product\"");
    invalid_product("{\"error\":{\"type\":\"invalid_request_error\","
                    "\"message\":\"No such product: 'prod_x'\"}}",
                    "id: expected a string");
    invalid_product("[]", "body: expected an object");
    invalid_product("", "body: empty");
    invalid_product("<html>", "body: invalid JSON");
}


/* a backfill's line: default_price as Stripe's list gives it */
static void
test_listed_product_parse(void)
{
    is_int(parse_fixture_with(qbsync_stripe_listed_product_parse,
                              "stripe/product.json"),
           QBSYNC_STRIPE_OK,
           "listed: Stripe's product fixture, default_price an id");
    is_t_shirt();
    is_held(&arena, product.default_price, "price_1PgafmB7WZ01zgkW02Hf9z6c",
            "  default_price, the id alone");
    is_int(product.has_price, 0, "  no expanded price");
    is_int(product.price.id.len, 0, "  price empty");
    ok(product.price.id.data != NULL, "  but not NULL");

    is_int(parse_fixture_with(qbsync_stripe_listed_product_parse,
                              "stripe/product_expanded.json"),
           QBSYNC_STRIPE_OK, "listed: default_price expanded");
    is_t_shirt();
    is_t_shirt_price();

    is_int(parse_listed(PRODUCT("")), QBSYNC_STRIPE_OK,
           "listed: default_price null");
    is_int(product.has_price, 0, "  no price");
    is_int(product.default_price.len, 0, "  no default_price");
    ok(product.default_price.data != NULL, "  empty, not NULL");

    is_int(parse_listed("{\"id\":\"prod_1\",\"name\":\"x\","
                        "\"active\":false}"),
           QBSYNC_STRIPE_OK, "listed: object and default_price absent");
    is_int(product.active, 0, "  not active");
    is_int(product.default_price.len, 0, "  no default_price");

    is_int(parse_fixture_with(qbsync_stripe_listed_product_parse,
                              "stripe/deleted_product.json"),
           QBSYNC_STRIPE_OK, "listed: a DeletedProduct");
    is_int(product.deleted, 1, "  deleted");

    invalid_listed("{\"id\":\"prod_1\",\"name\":\"x\",\"active\":true,"
                   "\"default_price\":7}",
                   "default_price: expected a string, an object or null");
    invalid_listed("{\"id\":\"prod_1\",\"name\":\"x\",\"active\":true,"
                   "\"default_price\":true}",
                   "default_price: expected a string, an object or null");
    invalid_listed("{\"id\":\"prod_1\",\"name\":\"x\",\"active\":true,"
                   "\"default_price\":[\"price_1\"]}",
                   "default_price: expected a string, an object or null");
    invalid_listed("{\"id\":\"prod_1\",\"name\":\"x\",\"active\":true,"
                   "\"default_price\":{\"id\":\"price_1\","
                   "\"product\":\"prod_1\",\"active\":true}}",
                   "default_price.currency: expected a string");
    invalid_listed("{\"id\":\"prod_1\",\"active\":true,"
                   "\"default_price\":\"price_1\"}",
                   "name: expected a string");
    invalid_listed("{\"object\":\"price\",\"id\":\"price_1\"}",
                   "object: expected \"product\"");
    invalid_listed("[]", "body: expected an object");
    invalid_listed("", "body: empty");
    invalid_listed("{\"id\":\"prod_1\"", "body: invalid JSON");
}


static void
test_bodies(void)
{
    char    *json;
    size_t   depth;

    invalid_event("", "body: empty");
    invalid_event(" ", "body: invalid JSON");
    invalid_event("{", "body: invalid JSON");
    invalid_event("{\"id\":\"evt_1\"", "body: invalid JSON");
    invalid_event("{} x", "body: invalid JSON");
    invalid_event("[1]", "body: expected an object");
    invalid_event("null", "body: expected an object");
    invalid_event("\"evt_1\"", "body: expected an object");
    invalid_event("/* c */ {}", "body: invalid JSON");
    invalid_event("{} // c", "body: invalid JSON");
    invalid_event("{\"a\":\"/*\"} /", "body: invalid JSON");
    invalid_event("{\"a\":\"\\\"/\"}", "id: expected a string");
    invalid_event("\xef\xbb\xbf{}", "body: invalid JSON");

    is_int(parse_event_len("{}\0{}", 5), QBSYNC_STRIPE_INVALID,
           "a NUL byte in the body");
    is_str(error, "body: invalid JSON", "  error");

    is_int(parse_event_len("{\"id\":\"evt_1\"}\0", 15),
           QBSYNC_STRIPE_INVALID, "a NUL byte after the body");
    is_str(error, "body: invalid JSON", "  error");

    depth = 1000000;
    json = malloc(2 * depth + 1);
    if (json == NULL) {
        printf("Bail out! out of memory\n");
        exit(1);
    }

    memset(json, '[', depth);
    memset(json + depth, ']', depth);
    json[2 * depth] = '\0';

    invalid_event(json + depth - 65, "body: nested too deeply");
    json[depth + 64] = '\0';
    invalid_event(json + depth - 64, "body: expected an object");

    /* unbalanced: yajl stops on it, after the tree grows that deep */
    json[depth] = '\0';
    invalid_event(json, "body: nested too deeply");
    invalid_event(json + depth - 64, "body: invalid JSON");

    /* yajl refuses the second '{' (a key must come first) */
    memset(json, '{', depth);
    invalid_event(json, "body: invalid JSON");

    memset(json, '"', depth);
    invalid_event(json, "body: invalid JSON");

    free(json);
}


static void
test_errors(void)
{
    char                buf[12];
    qbsync_stripe_rc_t  rc;

    arena_reset(&arena);
    rc = qbsync_stripe_event_parse((const unsigned char *) "[]", 2,
                                   &arena.allocator, &event, NULL, 0);
    is_int(rc, QBSYNC_STRIPE_INVALID, "no error buffer");

    memset(buf, '#', sizeof(buf));
    rc = qbsync_stripe_event_parse((const unsigned char *) "[]", 2,
                                   &arena.allocator, &event, buf, 1);
    is_int(rc, QBSYNC_STRIPE_INVALID, "an error buffer of one byte");
    is_int(buf[0], '\0', "  holds the empty string");
    is_int(buf[1], '#', "  and nothing past it");

    memset(buf, '#', sizeof(buf));
    rc = qbsync_stripe_product_parse((const unsigned char *) "{}", 2,
                                     &arena.allocator, &product, buf, 8);
    is_int(rc, QBSYNC_STRIPE_INVALID, "a short error buffer");
    is_str(buf, "id: exp", "  the error is cut");
    is_int(buf[8], '#', "  and nothing past it");

    memset(buf, '#', sizeof(buf));
    rc = qbsync_stripe_product_parse((const unsigned char *) PRODUCT(""),
                                     sizeof(PRODUCT("")) - 1,
                                     &arena.allocator, &product, buf,
                                     sizeof(buf));
    is_int(rc, QBSYNC_STRIPE_OK, "OK");
    is_str(buf, "", "  empties the error");
}


/* a product fixture read again with each of its allocations failing */
static void
nomem_product(product_parse_pt parse, const char *name, const char *test)
{
    size_t          len, n, bad, total;
    unsigned char  *body;

    body = fixture_read(name, &len);

    parse_product_with(parse, body, len);
    total = arena.count;
    bad = 0;

    for (n = 0; n < total; n++) {
        arena.fail_after = n;
        bad += (parse_product_with(parse, body, len) != QBSYNC_STRIPE_NOMEM
                || strcmp(error, "out of memory") != 0);
    }

    arena.fail_after = (size_t) -1;
    is_int(bad, 0, test);
    free(body);
}


/* every allocation that fails is NOMEM, and nothing leaks */
static void
test_nomem(void)
{
    char                *json;
    size_t               len, n, bad, total;
    qbsync_stripe_rc_t   rc;

    json = fixture_event("product.updated", "stripe/product.json", &len);

    arena_reset(&arena);
    is_int(parse_event_len(json, len), QBSYNC_STRIPE_OK,
           "a product event, allocations counted");
    total = arena.count;
    ok(total >= 5, "  one allocation a string");

    bad = 0;

    for (n = 0; n < total; n++) {
        arena_reset(&arena);
        arena.fail_after = n;

        rc = qbsync_stripe_event_parse((unsigned char *) json, len,
                                       &arena.allocator, &event, error,
                                       sizeof(error));

        bad += (rc != QBSYNC_STRIPE_NOMEM
                || strcmp(error, "out of memory") != 0);
    }

    arena.fail_after = (size_t) -1;
    is_int(bad, 0, "  NOMEM whichever allocation fails");
    free(json);

    nomem_product(qbsync_stripe_product_parse, "stripe/product_expanded.json",
                  "an expanded product: NOMEM whichever allocation fails");
    nomem_product(qbsync_stripe_listed_product_parse, "stripe/product.json",
                  "a listed product: NOMEM whichever allocation fails");
}


int
main(void)
{
    arena_init(&arena);

    test_product_events();
    test_price_events();
    test_deleted_price();
    test_other_events();
    test_event_fields();
    test_product_fields();
    test_price_fields();
    test_names();
    test_product_parse();
    test_listed_product_parse();
    test_bodies();
    test_errors();
    test_nomem();

    arena_reset(&arena);

    return done();
}
