
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_event.h"
#include "arena.h"
#include "tree.h"
#include "tap.h"
#include "check.h"
#include "fixture.h"


/* a valid event around one replaced member */
#define EVENT(id, type, created, data)                                        \
    "{\"id\":" id ",\"type\":" type ",\"created\":" created                  \
    ",\"data\":" data "}"

#define ID       "\"evt_1\""
#define TYPE     "\"product.updated\""
#define CREATED  "1700000000"
#define DATA     "{\"object\":{\"id\":\"prod_1\"}}"


static qbsync_event_t  event;


static qbsync_event_rc_t
parse_len(const char *json, size_t len)
{
    qbsync_chunk_t  chunk;

    chunk.data = (const unsigned char *) json;
    chunk.len = len;

    return qbsync_event_parse(&chunk, 1, &event);
}


static qbsync_event_rc_t
parse(const char *json)
{
    return parse_len(json, strlen(json));
}


static void
invalid(const char *json, const char *message)
{
    const char  *name;

    name = tap_name("", json);

    if (!is_int(parse(json), QBSYNC_EVENT_INVALID, name)) {
        printf("# message: %s\n", event.message);
        return;
    }

    is_str(event.message, message, "  message");
}


static void
invalid_json(const char *json, const char *message)
{
    is_int(parse(json), QBSYNC_EVENT_INVALID_JSON,
           tap_name("invalid JSON ", json));
    is_str(event.message, message, "  message");
}


static void *
alloc(size_t size)
{
    void  *p;

    p = malloc(size);
    if (p == NULL) {
        printf("Bail out! out of memory\n");
        exit(1);
    }

    return p;
}


/* an event whose id or type is a string of len bytes */
static char *
event_with(const char *prefix, size_t len, int is_type)
{
    char    *json, *value;
    size_t   size;

    value = alloc(len + 1);
    memset(value, 'x', len);
    memcpy(value, prefix, strlen(prefix));
    value[len] = '\0';

    size = len + sizeof(EVENT(ID, TYPE, CREATED, DATA));
    json = alloc(size);

    if (is_type) {
        snprintf(json, size, EVENT(ID, "\"%s\"", CREATED, DATA), value);

    } else {
        snprintf(json, size, EVENT("\"%s\"", TYPE, CREATED, DATA), value);
    }

    free(value);

    return json;
}


static void
test_fixture(void)
{
    size_t           len;
    unsigned char   *json;
    qbsync_chunk_t   chunk;

    json = fixture_read("stripe/event.json", &len);

    chunk.data = json;
    chunk.len = len;

    is_int(qbsync_event_parse(&chunk, 1, &event), QBSYNC_EVENT_OK,
           "Stripe's event fixture");
    is_str(event.id, "evt_1Pgc76B7WZ01zgkWwyRHS12y", "id");
    is_int(event.id_len, 28, "id_len");
    is_str(event.type, "plan.created", "type");
    is_int(event.type_len, 12, "type_len");
    is_int(event.created, 1234567890, "created, not data.object.created");
    is_str(event.message, "", "no message");

    free(json);
}


/* the same verdict whatever the chunks, as nginx may cut a body anywhere */
static int
same_in_pieces(const unsigned char *json, size_t len)
{
    size_t             i, bad;
    qbsync_chunk_t     chunks[3], *bytes;
    qbsync_event_t     whole;
    qbsync_event_rc_t  rc;

    chunks[0].data = json;
    chunks[0].len = len;

    rc = qbsync_event_parse(chunks, 1, &whole);

    bad = 0;

    for (i = 0; i <= len; i++) {
        chunks[0].len = i;
        chunks[1].data = NULL;
        chunks[1].len = 0;
        chunks[2].data = json + i;
        chunks[2].len = len - i;

        bad += qbsync_event_parse(chunks, 3, &event) != rc
               || memcmp(&event, &whole, sizeof(qbsync_event_t)) != 0;
    }

    bytes = alloc((len + 1) * sizeof(qbsync_chunk_t));

    for (i = 0; i < len; i++) {
        bytes[i].data = json + i;
        bytes[i].len = 1;
    }

    bad += qbsync_event_parse(bytes, len, &event) != rc
           || memcmp(&event, &whole, sizeof(qbsync_event_t)) != 0;

    free(bytes);

    return bad == 0;
}


static void
test_pieces(void)
{
    size_t             len;
    unsigned char     *json;
    static const char  escaped[] = EVENT("\"evt_\\u0041\\u0062\"", TYPE,
                                         "-12", DATA);
    static const char  garbage[] = EVENT(ID, TYPE, CREATED, DATA) " x";
    static const char  array[] = "[{\"a\":1.5e3,\"b\":null}]";

    json = fixture_read("stripe/event.json", &len);

    ok(same_in_pieces(json, len),
       "the fixture split at every byte and in one-byte chunks");

    json[len / 2] = '\xff';
    ok(same_in_pieces(json, len), "a broken fixture, in pieces");

    free(json);

    ok(same_in_pieces((const unsigned char *) escaped, sizeof(escaped) - 1),
       "escapes and a number split anywhere");
    is_str(event.id, "evt_Ab", "  escapes are decoded");
    is_int(event.created, -12, "  negative created");
    ok(same_in_pieces((const unsigned char *) garbage, sizeof(garbage) - 1),
       "trailing garbage in pieces");
    is_int(parse(garbage), QBSYNC_EVENT_INVALID_JSON, "  is invalid JSON");
    ok(same_in_pieces((const unsigned char *) array, sizeof(array) - 1),
       "not an object, in pieces");
}


static void
test_empty(void)
{
    qbsync_chunk_t  chunks[2];

    invalid_json("", "invalid JSON: empty body");

    is_int(qbsync_event_parse(NULL, 0, &event), QBSYNC_EVENT_INVALID_JSON,
           "no chunks");
    is_str(event.message, "invalid JSON: empty body", "  message");

    chunks[0].data = NULL;
    chunks[0].len = 0;
    chunks[1] = chunks[0];

    is_int(qbsync_event_parse(chunks, 2, &event), QBSYNC_EVENT_INVALID_JSON,
           "empty chunks only");
    is_str(event.message, "invalid JSON: empty body", "  message");

    invalid_json(" \n", "invalid JSON: parse error: premature EOF");
}


static void
test_invalid_json(void)
{
    invalid_json("{", "invalid JSON: parse error: premature EOF");
    invalid_json("[1,2", "invalid JSON: parse error: premature EOF");
    invalid_json(EVENT(ID, TYPE, CREATED, DATA) " x",
                 "invalid JSON: parse error: trailing garbage");
    invalid_json(EVENT(ID, TYPE, CREATED, DATA) EVENT(ID, TYPE, CREATED,
                                                      DATA),
                 "invalid JSON: parse error: trailing garbage");
    invalid_json("/* c */" EVENT(ID, TYPE, CREATED, DATA),
                 "invalid JSON: lexical error: probable comment found in "
                 "input text, comments are not enabled.");
    invalid_json(EVENT(ID, TYPE, CREATED, "{\"object\":{\"n\":\"\xff\"}}"),
                 "invalid JSON: lexical error: invalid bytes in UTF8 "
                 "string.");
    invalid_json(EVENT(ID, TYPE, CREATED, "{\"object\":{\"\xc3\":1}}"),
                 "invalid JSON: lexical error: invalid bytes in UTF8 "
                 "string.");
    invalid_json("{\"id\":\"evt_1\xe2\x82\"}",
                 "invalid JSON: lexical error: invalid bytes in UTF8 "
                 "string.");
    invalid_json("\xef\xbb\xbf" EVENT(ID, TYPE, CREATED, DATA),
                 "invalid JSON: lexical error: invalid char in json text.");
    invalid_json("{\"id\" \"evt_1\"}",
                 "invalid JSON: parse error: object key and value must be "
                 "separated by a colon (':')");
    invalid_json("{'id':1}",
                 "invalid JSON: lexical error: invalid char in json text.");
    invalid_json("{\"created\":01}",
                 "invalid JSON: parse error: after key and value, inside "
                 "map, I expect ',' or '}'");
    invalid_json("[1] \x01", "invalid JSON: parse error: trailing garbage");

    is_int(parse_len(EVENT(ID, TYPE, CREATED, DATA),
                     sizeof(EVENT(ID, TYPE, CREATED, DATA))),
           QBSYNC_EVENT_INVALID_JSON, "a NUL after the event");

    is_int(parse(EVENT(ID, TYPE, CREATED, DATA) " \r\n\t"), QBSYNC_EVENT_OK,
           "whitespace after the event is fine");
}


static void
test_root(void)
{
    invalid("[]", "event: expected an object");
    invalid("\"evt_1\"", "event: expected an object");
    invalid("1", "event: expected an object");
    invalid("null", "event: expected an object");
    invalid("[" EVENT(ID, TYPE, CREATED, DATA) "]",
            "event: expected an object");
    invalid("{}", "id: expected a string");
}


static void
test_id(void)
{
    char  *json;

    invalid(EVENT("1", TYPE, CREATED, DATA), "id: expected a string");
    invalid(EVENT("null", TYPE, CREATED, DATA), "id: expected a string");
    invalid(EVENT("{\"id\":\"evt_1\"}", TYPE, CREATED, DATA),
            "id: expected a string");
    invalid(EVENT("\"\"", TYPE, CREATED, DATA),
            "id: expected an evt_ prefix");
    invalid(EVENT("\"evt\"", TYPE, CREATED, DATA),
            "id: expected an evt_ prefix");
    invalid(EVENT("\"EVT_1\"", TYPE, CREATED, DATA),
            "id: expected an evt_ prefix");
    invalid(EVENT("\"prod_1\"", TYPE, CREATED, DATA),
            "id: expected an evt_ prefix");
    invalid("{\"type\":" TYPE ",\"created\":1,\"data\":" DATA "}",
            "id: expected a string");
    invalid("{\"id\":\"evt_2\",\"id\":" ID ",\"type\":" TYPE
            ",\"created\":1,\"data\":" DATA "}",
            "id: duplicate key");

    is_int(parse(EVENT("\"evt_\"", TYPE, CREATED, DATA)), QBSYNC_EVENT_OK,
           "the prefix alone is an id");
    invalid(EVENT("\"evt_1\\u0000x\"", TYPE, CREATED, DATA),
            "id: expected letters, digits and underscores");
    invalid(EVENT("\"evt_1\\nx\"", TYPE, CREATED, DATA),
            "id: expected letters, digits and underscores");
    invalid(EVENT("\"evt_\\\"1\"", TYPE, CREATED, DATA),
            "id: expected letters, digits and underscores");
    invalid(EVENT("\"evt_1.2\"", TYPE, CREATED, DATA),
            "id: expected letters, digits and underscores");
    invalid(EVENT(ID, "\"product updated\"", CREATED, DATA),
            "type: expected letters, digits, dots and underscores");
    invalid(EVENT(ID, "\"product.\\u00e9\"", CREATED, DATA),
            "type: expected letters, digits, dots and underscores");

    json = event_with("evt_", QBSYNC_EVENT_ID_MAX, 0);
    is_int(parse(json), QBSYNC_EVENT_OK, "an id of the longest length");
    is_int(event.id_len, QBSYNC_EVENT_ID_MAX, "  id_len");
    is_int(strlen(event.id), QBSYNC_EVENT_ID_MAX, "  id is NUL-terminated");
    free(json);

    json = event_with("evt_", QBSYNC_EVENT_ID_MAX + 1, 0);
    invalid(json, "id: too long");
    free(json);

    json = event_with("evx_", QBSYNC_EVENT_ID_MAX + 1, 0);
    invalid(json, "id: expected an evt_ prefix");
    free(json);
}


static void
test_type(void)
{
    char  *json;

    invalid(EVENT(ID, "\"\"", CREATED, DATA), "type: expected a string");
    invalid(EVENT(ID, "true", CREATED, DATA), "type: expected a string");
    invalid(EVENT(ID, "[\"product.updated\"]", CREATED, DATA),
            "type: expected a string");
    invalid("{\"id\":" ID ",\"created\":1,\"data\":" DATA "}",
            "type: expected a string");
    invalid(EVENT(ID, TYPE, CREATED, DATA ",\"type\":\"x\""),
            "type: duplicate key");

    json = event_with("", QBSYNC_EVENT_TYPE_MAX, 1);
    is_int(parse(json), QBSYNC_EVENT_OK, "a type of the longest length");
    is_int(event.type_len, QBSYNC_EVENT_TYPE_MAX, "  type_len");
    is_int(strlen(event.type), QBSYNC_EVENT_TYPE_MAX,
           "  type is NUL-terminated");
    free(json);

    json = event_with("", QBSYNC_EVENT_TYPE_MAX + 1, 1);
    invalid(json, "type: too long");
    free(json);
}


static void
test_created(void)
{
    invalid(EVENT(ID, TYPE, "\"1700000000\"", DATA),
            "created: expected an integer");
    invalid(EVENT(ID, TYPE, "1.5", DATA), "created: expected an integer");
    invalid(EVENT(ID, TYPE, "1e9", DATA), "created: expected an integer");
    invalid(EVENT(ID, TYPE, "1700000000.0", DATA),
            "created: expected an integer");
    invalid(EVENT(ID, TYPE, "null", DATA), "created: expected an integer");
    invalid(EVENT(ID, TYPE, "9223372036854775808", DATA),
            "created: expected an integer");
    invalid(EVENT(ID, TYPE, "-9223372036854775809", DATA),
            "created: expected an integer");
    invalid(EVENT(ID, TYPE, "99999999999999999999999", DATA),
            "created: expected an integer");
    invalid("{\"id\":" ID ",\"type\":" TYPE ",\"data\":" DATA "}",
            "created: expected an integer");
    invalid(EVENT(ID, TYPE, "1,\"created\":2", DATA),
            "created: duplicate key");

    is_int(parse(EVENT(ID, TYPE, "9223372036854775807", DATA)),
           QBSYNC_EVENT_OK, "created INT64_MAX");
    is_int(event.created, INT64_MAX, "  value");
    is_int(parse(EVENT(ID, TYPE, "-9223372036854775808", DATA)),
           QBSYNC_EVENT_OK, "created INT64_MIN");
    is_int(event.created, INT64_MIN, "  value");
    is_int(parse(EVENT(ID, TYPE, "-0", DATA)), QBSYNC_EVENT_OK,
           "created -0");
    is_int(event.created, 0, "  value");
}


static void
test_data(void)
{
    invalid(EVENT(ID, TYPE, CREATED, "[]"), "data: expected an object");
    invalid(EVENT(ID, TYPE, CREATED, "\"x\""), "data: expected an object");
    invalid(EVENT(ID, TYPE, CREATED, "null"), "data: expected an object");
    invalid("{\"id\":" ID ",\"type\":" TYPE ",\"created\":1}",
            "data: expected an object");
    invalid(EVENT(ID, TYPE, CREATED, DATA ",\"data\":" DATA),
            "data: duplicate key");

    invalid(EVENT(ID, TYPE, CREATED, "{}"),
            "data.object: expected an object");
    invalid(EVENT(ID, TYPE, CREATED, "{\"object\":[]}"),
            "data.object: expected an object");
    invalid(EVENT(ID, TYPE, CREATED, "{\"object\":\"product\"}"),
            "data.object: expected an object");
    invalid(EVENT(ID, TYPE, CREATED, "{\"object\":{},\"object\":{}}"),
            "data.object: duplicate key");
    invalid(EVENT(ID, TYPE, CREATED, "{\"x\":{\"object\":{}}}"),
            "data.object: expected an object");
    invalid(EVENT(ID, TYPE, CREATED, "{\"x\":[{\"object\":{}}]}"),
            "data.object: expected an object");
    invalid("{\"object\":{},\"id\":" ID ",\"type\":" TYPE
            ",\"created\":1,\"data\":{}}",
            "data.object: expected an object");

    is_int(parse(EVENT(ID, TYPE, CREATED,
                       "{\"previous_attributes\":{\"object\":1},"
                       "\"object\":{\"object\":\"price\"}}")),
           QBSYNC_EVENT_OK, "only data's own object member counts");
}


static void
test_order(void)
{
    invalid("{\"data\":1,\"created\":\"x\",\"type\":2,\"id\":3}",
            "id: expected a string");
    invalid("{\"data\":1,\"created\":\"x\",\"type\":2,\"id\":\"evt_1\"}",
            "type: expected a string");
    invalid("{\"data\":{},\"created\":\"x\",\"type\":\"t\",\"id\":\"evt_1\"}",
            "created: expected an integer");
    invalid("{\"type\":1,\"id\":\"evt_1\",\"id\":\"evt_2\"}",
            "id: duplicate key");
    invalid("{\"id\":1,\"id\":\"evt_1\"}", "id: duplicate key");
    invalid(EVENT(ID, TYPE, CREATED, "{\"object\":1},\"data\":{}"),
            "data: duplicate key");
    invalid_json("[{\"id\":1}", "invalid JSON: parse error: premature EOF");
    invalid_json("{\"id\":1", "invalid JSON: parse error: premature EOF");
}


static void
test_skipped(void)
{
    is_int(parse("{\"request\":{\"id\":\"req_1\",\"type\":1,\"created\":\"x\","
                 "\"data\":[],\"object\":2},\"id\":\"evt_9\","
                 "\"livemode\":false,\"type\":\"price.updated\","
                 "\"list\":[{\"id\":3},[\"id\",\"type\"],null,true,1.5e-3],"
                 "\"created\":42,\"data\":{\"object\":{\"id\":\"price_1\","
                 "\"data\":{\"object\":1},\"type\":[],\"created\":1.5},"
                 "\"previous_attributes\":{\"object\":{}}},"
                 "\"pending_webhooks\":1}"),
           QBSYNC_EVENT_OK, "members elsewhere, of the same names, skipped");
    is_str(event.id, "evt_9", "  top-level id");
    is_str(event.type, "price.updated", "  top-level type");
    is_int(event.created, 42, "  top-level created");

    is_int(parse(EVENT(ID, TYPE, CREATED, DATA ",\"request\":{\"object\":1}")),
           QBSYNC_EVENT_OK, "an object member of a map after data");
}


static void
test_deep(void)
{
    char    *json;
    size_t   i, depth, len;

    depth = 100000;
    json = alloc(depth * 6 + 256);

    len = sprintf(json, "{\"id\":\"evt_1\",\"data\":{\"object\":{\"a\":");
    memset(json + len, '[', depth);
    len += depth;
    memset(json + len, ']', depth);
    len += depth;
    len += sprintf(json + len, "}},\"type\":\"t\",\"created\":1}");

    is_int(parse_len(json, len), QBSYNC_EVENT_OK,
           "100000 nested arrays inside data.object");

    len = sprintf(json, "{\"id\":\"evt_1\",\"data\":");
    memset(json + len, '[', depth);
    len += depth;

    is_int(parse_len(json, len), QBSYNC_EVENT_INVALID_JSON,
           "100000 unclosed arrays");

    len = 0;

    for (i = 0; i < depth; i++) {
        len += sprintf(json + len, "{\"a\":");
    }

    json[len++] = '1';
    memset(json + len, '}', depth);
    len += depth;

    is_int(parse_len(json, len), QBSYNC_EVENT_INVALID,
           "100000 nested objects: deep keys are not top-level ones");
    is_str(event.message, "id: expected a string", "  message");

    free(json);
}


/* the ids the hook was told, and what it answers */
static char  seen_id[QBSYNC_EVENT_ID_MAX + 1];
static int   seen_calls;
static int   seen_answer;


static int
seen(void *data, qbsync_event_t *e)
{
    (void) data;

    memcpy(seen_id, e->id, e->id_len + 1);
    seen_calls++;

    return seen_answer;
}


static qbsync_event_rc_t
peek_chunks(const qbsync_chunk_t *chunks, size_t n)
{
    memset(&event, 0, sizeof(event));
    seen_id[0] = '\0';
    seen_calls = 0;

    return qbsync_event_parse_tree(chunks, n, &event, NULL, seen, NULL);
}


static qbsync_event_rc_t
peek(const char *json)
{
    qbsync_chunk_t  chunk;

    chunk.data = (const unsigned char *) json;
    chunk.len = strlen(json);

    return peek_chunks(&chunk, 1);
}


static void
peeks(const char *json, const char *id)
{
    if (is_int(peek(json), QBSYNC_EVENT_SEEN, tap_name("seen ", json))) {
        is_str(seen_id, id, "  the top-level id, told once");
        is_int(seen_calls, 1, "  once");
    }
}


static void
not_told(const char *json, qbsync_event_rc_t rc, const char *name)
{
    ok(peek(json) == rc && seen_calls == 0, name);
}


static void
test_seen(void)
{
    size_t          i;
    qbsync_chunk_t  chunks[3];
    const char     *split = "{\"id\":\"evt_1Split\",\"type\":" TYPE "}";

    seen_answer = 1;

    /* the parse stops at the id: what follows is never read */
    peeks("{\"id\":\"evt_1Q\",\"type\":\"x\"", "evt_1Q");
    peeks("{\"data\":{\"object\":{\"id\":\"prod_1\"}},\"list\":[{\"id\":1}],"
          "\"id\":\"evt_2\"}", "evt_2");
    peeks(" {\n  \"id\": \"evt_3\" }", "evt_3");
    peeks("{\"id\":\"evt_4\",\"type\":tru", "evt_4");

    not_told("{\"id\":1}", QBSYNC_EVENT_INVALID, "an id that is a number");
    not_told("{\"id\":{\"id\":\"evt_1\"}}", QBSYNC_EVENT_INVALID,
             "an id that is an object");
    not_told("{\"id\":\"prod_1\"}", QBSYNC_EVENT_INVALID,
             "an id without evt_");
    not_told("{\"type\":\"x\"}", QBSYNC_EVENT_INVALID, "no id at all");
    not_told("{\"data\":{\"id\":\"evt_9\"}}", QBSYNC_EVENT_INVALID,
             "a nested id is not the event's");
    not_told("{\"a\":tru, \"id\":\"evt_1\"}", QBSYNC_EVENT_INVALID_JSON,
             "JSON broken before the id");
    not_told("[\"id\",\"evt_1\"]", QBSYNC_EVENT_INVALID, "an array");
    not_told("", QBSYNC_EVENT_INVALID_JSON, "nothing");

    /* the id cut across the body's pieces */
    for (i = 0; i < 3; i++) {
        chunks[i].data = (const unsigned char *) split + i * 6;
        chunks[i].len = (i < 2) ? 6 : strlen(split) - 12;
    }

    ok(peek_chunks(chunks, 3) == QBSYNC_EVENT_SEEN
       && strcmp(seen_id, "evt_1Split") == 0, "an id cut in three pieces");

    /* a first delivery: told, then the whole event is checked */
    seen_answer = 0;

    ok(peek(EVENT(ID, TYPE, CREATED, DATA)) == QBSYNC_EVENT_OK
       && seen_calls == 1 && strcmp(event.type, "product.updated") == 0,
       "not seen: the parse goes on to the end");
    ok(peek(EVENT(ID, TYPE, CREATED, "[]")) == QBSYNC_EVENT_INVALID
       && seen_calls == 1, "not seen, then invalid: refused as before");
}


static const char *const  keep[] = {
    "id", "type", "created", "data", "object", "name", "active", "images",
    NULL
};


/* the event's verdict, and the tree's answer with its problem */
static qbsync_event_rc_t
parse_tree(const unsigned char *json, size_t len, size_t pieces,
    arena_t *arena, qbsync_yajl_rc_t *tree_rc, yajl_val *tree,
    const char **problem)
{
    size_t              i, at;
    qbsync_chunk_t      chunks[8];
    qbsync_event_rc_t   rc;
    qbsync_yajl_some_t  some;

    if (qbsync_yajl_some_init(&some, 16, keep, &arena->allocator) != 0) {
        *tree_rc = QBSYNC_YAJL_NOMEM;
        return QBSYNC_EVENT_ERROR;
    }

    for (i = 0, at = 0; i < pieces; i++) {
        chunks[i].data = json + at;
        chunks[i].len = (i + 1 < pieces) ? len / pieces : len - at;
        at += chunks[i].len;
    }

    rc = qbsync_event_parse_tree(chunks, pieces, &event, &some, NULL, NULL);
    *tree_rc = qbsync_yajl_some_tree(&some, tree, problem);

    return rc;
}


static void
test_tree(void)
{
    size_t             len, pieces;
    yajl_val           tree, expected;
    arena_t            arena, other;
    const char        *problem, *expected_problem;
    unsigned char     *json;
    qbsync_yajl_rc_t   tree_rc;
    qbsync_event_rc_t  rc;
    const char        *nul, *deep;

    arena_init(&arena);
    arena_init(&other);

    json = fixture_read("stripe/event.json", &len);

    is_int(qbsync_yajl_parse_some(json, len, 16, keep, &other.allocator,
                                  &expected, &expected_problem),
           QBSYNC_YAJL_OK, "the fixture's tree, parsed alone");

    for (pieces = 1; pieces <= 8; pieces *= 2) {
        rc = parse_tree(json, len, pieces, &arena, &tree_rc, &tree, &problem);

        ok(rc == QBSYNC_EVENT_OK && tree_rc == QBSYNC_YAJL_OK
           && tree_same(tree, expected),
           tap_name("the same tree from the event's own pass, pieces: ",
                    pieces == 1 ? "1" : pieces == 2 ? "2"
                                      : pieces == 4 ? "4" : "8"));
        arena_reset(&arena);
    }

    free(json);
    arena_reset(&other);

    /* what the tree refuses does not change the event's verdict */
    nul = EVENT(ID, TYPE, CREATED, "{\"object\":{\"name\":\"a\\u0000b\"}}");

    rc = parse_tree((const unsigned char *) nul, strlen(nul), 1, &arena,
                    &tree_rc, &tree, &problem);
    ok(rc == QBSYNC_EVENT_OK && tree_rc == QBSYNC_YAJL_INVALID
       && strcmp(problem, "\\u0000 in a string") == 0,
       "a \\u0000: the event passes, the tree says why it has none");
    arena_reset(&arena);

    deep = EVENT(ID, TYPE, CREATED,
                 "{\"object\":{\"images\":"
                 "[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}}");

    rc = parse_tree((const unsigned char *) deep, strlen(deep), 1, &arena,
                    &tree_rc, &tree, &problem);
    ok(rc == QBSYNC_EVENT_OK && tree_rc == QBSYNC_YAJL_INVALID
       && strcmp(problem, "nested too deeply") == 0,
       "nesting past the tree's depth: the event passes, the tree does not");
    arena_reset(&arena);

    arena.fail_after = 3;

    rc = parse_tree((const unsigned char *) nul, strlen(nul), 1, &arena,
                    &tree_rc, &tree, &problem);
    ok(rc == QBSYNC_EVENT_OK && tree_rc == QBSYNC_YAJL_NOMEM,
       "memory gone while building: the event passes, the tree is NOMEM");
    arena_reset(&arena);

    arena.fail_after = 0;

    parse_tree((const unsigned char *) nul, strlen(nul), 1, &arena,
               &tree_rc, &tree, &problem);
    ok(tree_rc == QBSYNC_YAJL_NOMEM, "no memory for the tree's frames");
    arena_reset(&arena);

    arena.fail_after = (size_t) -1;

    rc = parse_tree((const unsigned char *) "{\"id\":", 6, 1, &arena,
                    &tree_rc, &tree, &problem);
    is_int(rc, QBSYNC_EVENT_INVALID_JSON,
           "broken JSON: invalid_json, whatever the tree holds so far");
    arena_reset(&arena);
}


int
main(void)
{
    test_fixture();
    test_pieces();
    test_empty();
    test_invalid_json();
    test_root();
    test_id();
    test_type();
    test_created();
    test_data();
    test_order();
    test_skipped();
    test_deep();
    test_seen();
    test_tree();

    return done();
}
