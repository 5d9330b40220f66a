
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "qbsync_event.h"


#define QBSYNC_EVENT_ID_PREFIX      "evt_"
#define QBSYNC_EVENT_ID_PREFIX_LEN  (sizeof(QBSYNC_EVENT_ID_PREFIX) - 1)


/* the fields we read, in the order their problems are reported */
typedef enum {
    QBSYNC_EVENT_FIELD_ID = 0,
    QBSYNC_EVENT_FIELD_TYPE,
    QBSYNC_EVENT_FIELD_CREATED,
    QBSYNC_EVENT_FIELD_DATA,
    QBSYNC_EVENT_FIELD_DATA_OBJECT,
    QBSYNC_EVENT_NFIELDS
} qbsync_event_field_e;


typedef enum {
    QBSYNC_EVENT_VALUE_OTHER = 0,
    QBSYNC_EVENT_VALUE_STRING,
    QBSYNC_EVENT_VALUE_NUMBER,
    QBSYNC_EVENT_VALUE_MAP,
    QBSYNC_EVENT_VALUE_ARRAY
} qbsync_event_value_e;


typedef struct {
    const char  *path;
    const char  *expected;
} qbsync_event_field_spec_t;


typedef struct {
    unsigned     seen:1;
    unsigned     duplicate:1;
    const char  *error;
} qbsync_event_field_t;


typedef struct {
    qbsync_event_t        *event;

    /* containers open around the next callback; 1 is the root's members */
    size_t                 depth;

    /* the field whose value the next callback carries */
    qbsync_event_field_e   current;

    unsigned               root_is_object:1;

    /* the map at depth 2 is the top-level "data" */
    unsigned               in_data:1;

    qbsync_event_field_t   fields[QBSYNC_EVENT_NFIELDS];

    /* a tree built in the same pass, or NULL */
    qbsync_yajl_some_t    *tree;

    qbsync_event_seen_pt   seen;
    void                  *seen_data;
    unsigned               stopped:1;
} qbsync_event_ctx_t;


static yajl_status qbsync_event_feed(yajl_handle yajl,
    const qbsync_chunk_t *body, size_t nchunks);
static int qbsync_event_null(void *data);
static int qbsync_event_boolean(void *data, int value);
static int qbsync_event_number(void *data, const char *value, size_t len);
static int qbsync_event_string(void *data, const unsigned char *value,
    size_t len);
static int qbsync_event_start_map(void *data);
static int qbsync_event_map_key(void *data, const unsigned char *key,
    size_t len);
static qbsync_event_field_e qbsync_event_top_level_field(
    const unsigned char *key, size_t len);
static int qbsync_event_end_map(void *data);
static int qbsync_event_start_array(void *data);
static int qbsync_event_end_array(void *data);
static void qbsync_event_tree(qbsync_event_ctx_t *ctx, int ok);
static void qbsync_event_value(qbsync_event_ctx_t *ctx,
    qbsync_event_value_e kind, const unsigned char *value, size_t len);
static const char *qbsync_event_check_id(qbsync_event_t *event,
    qbsync_event_value_e kind, const unsigned char *value, size_t len);
static const char *qbsync_event_check_type(qbsync_event_t *event,
    qbsync_event_value_e kind, const unsigned char *value, size_t len);
static const char *qbsync_event_check_created(qbsync_event_t *event,
    qbsync_event_value_e kind, const unsigned char *value, size_t len);
static int qbsync_event_is_token(const unsigned char *value, size_t len,
    int dot_allowed);
static int qbsync_event_parse_int64(const unsigned char *number, size_t len,
    int64_t *value);
static qbsync_event_rc_t qbsync_event_json_error(yajl_handle yajl,
    qbsync_event_t *event);
static qbsync_event_rc_t qbsync_event_check(qbsync_event_ctx_t *ctx);


static const yajl_callbacks  qbsync_event_callbacks = {
    qbsync_event_null,
    qbsync_event_boolean,
    NULL,
    NULL,
    qbsync_event_number,
    qbsync_event_string,
    qbsync_event_start_map,
    qbsync_event_map_key,
    qbsync_event_end_map,
    qbsync_event_start_array,
    qbsync_event_end_array
};


static const qbsync_event_field_spec_t  qbsync_event_fields[] = {
    { "id", "expected a string" },
    { "type", "expected a string" },
    { "created", "expected an integer" },
    { "data", "expected an object" },
    { "data.object", "expected an object" }
};


qbsync_event_rc_t
qbsync_event_parse(const qbsync_chunk_t *body, size_t nchunks,
    qbsync_event_t *event)
{
    return qbsync_event_parse_tree(body, nchunks, event, NULL, NULL, NULL);
}


qbsync_event_rc_t
qbsync_event_parse_tree(const qbsync_chunk_t *body, size_t nchunks,
    qbsync_event_t *event, qbsync_yajl_some_t *tree,
    qbsync_event_seen_pt seen, void *data)
{
    size_t              i, total;
    yajl_status         status;
    yajl_handle         yajl;
    qbsync_event_rc_t   rc;
    qbsync_event_ctx_t  ctx;

    memset(event, 0, sizeof(qbsync_event_t));

    total = 0;

    for (i = 0; i < nchunks; i++) {
        total += body[i].len;
    }

    if (total == 0) {
        snprintf(event->message, sizeof(event->message),
                 "invalid JSON: empty body");
        return QBSYNC_EVENT_INVALID_JSON;
    }

    memset(&ctx, 0, sizeof(qbsync_event_ctx_t));
    ctx.event = event;
    ctx.current = QBSYNC_EVENT_NFIELDS;
    ctx.tree = tree;
    ctx.seen = seen;
    ctx.seen_data = data;

    /*
     * yajl's defaults are what we want: UTF-8 validation on, no comments,
     * one value and no trailing garbage.  Only the seen hook cancels, so a
     * body that is not an event is still checked to be JSON throughout.
     */
    yajl = yajl_alloc(&qbsync_event_callbacks, NULL, &ctx);
    if (yajl == NULL) {
        return QBSYNC_EVENT_ERROR;
    }

    status = qbsync_event_feed(yajl, body, nchunks);

    if (status == yajl_status_ok) {
        status = yajl_complete_parse(yajl);
    }

    if (ctx.stopped) {
        rc = QBSYNC_EVENT_SEEN;

    } else if (status == yajl_status_ok) {
        rc = qbsync_event_check(&ctx);

    } else {
        rc = qbsync_event_json_error(yajl, event);
    }

    yajl_free(yajl);

    return rc;
}


/* The body's pieces through yajl, until one of them fails or cancels. */
static yajl_status
qbsync_event_feed(yajl_handle yajl, const qbsync_chunk_t *body,
    size_t nchunks)
{
    size_t       i;
    yajl_status  status;

    status = yajl_status_ok;

    for (i = 0; i < nchunks && status == yajl_status_ok; i++) {
        if (body[i].len) {
            status = yajl_parse(yajl, body[i].data, body[i].len);
        }
    }

    return status;
}


static int
qbsync_event_null(void *data)
{
    qbsync_event_ctx_t  *ctx = data;

    qbsync_event_value(ctx, QBSYNC_EVENT_VALUE_OTHER, NULL, 0);

    if (ctx->tree && !ctx->tree->failed) {
        qbsync_event_tree(ctx, qbsync_yajl_some_callbacks.yajl_null(ctx->tree));
    }

    return 1;
}


static int
qbsync_event_boolean(void *data, int value)
{
    qbsync_event_ctx_t  *ctx = data;

    qbsync_event_value(ctx, QBSYNC_EVENT_VALUE_OTHER, NULL, 0);

    if (ctx->tree && !ctx->tree->failed) {
        qbsync_event_tree(ctx, qbsync_yajl_some_callbacks.yajl_boolean(
                                   ctx->tree, value));
    }

    return 1;
}


static int
qbsync_event_number(void *data, const char *value, size_t len)
{
    qbsync_event_ctx_t  *ctx = data;

    qbsync_event_value(ctx, QBSYNC_EVENT_VALUE_NUMBER,
                       (const unsigned char *) value, len);

    if (ctx->tree && !ctx->tree->failed) {
        qbsync_event_tree(ctx, qbsync_yajl_some_callbacks.yajl_number(
                                   ctx->tree, value, len));
    }

    return 1;
}


static int
qbsync_event_string(void *data, const unsigned char *value, size_t len)
{
    qbsync_event_ctx_t  *ctx = data;

    qbsync_event_value(ctx, QBSYNC_EVENT_VALUE_STRING, value, len);

    if (ctx->tree && !ctx->tree->failed) {
        qbsync_event_tree(ctx, qbsync_yajl_some_callbacks.yajl_string(
                                   ctx->tree, value, len));
    }

    /* only the id, a string, can stop the parse */
    return !ctx->stopped;
}


static int
qbsync_event_start_map(void *data)
{
    qbsync_event_ctx_t  *ctx = data;

    qbsync_event_value(ctx, QBSYNC_EVENT_VALUE_MAP, NULL, 0);
    ctx->depth++;

    if (ctx->tree && !ctx->tree->failed) {
        qbsync_event_tree(ctx,
                          qbsync_yajl_some_callbacks.yajl_start_map(ctx->tree));
    }

    return 1;
}


static int
qbsync_event_map_key(void *data, const unsigned char *key, size_t len)
{
    qbsync_event_ctx_t    *ctx = data;
    qbsync_event_field_t  *field;
    qbsync_event_field_e   f;

    ctx->current = QBSYNC_EVENT_NFIELDS;

    if (ctx->tree && !ctx->tree->failed) {
        qbsync_event_tree(ctx, qbsync_yajl_some_callbacks.yajl_map_key(
                                   ctx->tree, key, len));
    }

    if (ctx->depth == 1) {
        f = qbsync_event_top_level_field(key, len);

    } else if (ctx->depth == 2 && ctx->in_data
               && len == sizeof("object") - 1
               && memcmp(key, "object", len) == 0)
    {
        f = QBSYNC_EVENT_FIELD_DATA_OBJECT;

    } else {
        return 1;
    }

    if (f == QBSYNC_EVENT_NFIELDS) {
        return 1;
    }

    field = &ctx->fields[f];

    if (field->seen) {
        field->duplicate = 1;
        return 1;
    }

    field->seen = 1;
    ctx->current = f;

    return 1;
}


static qbsync_event_field_e
qbsync_event_top_level_field(const unsigned char *key, size_t len)
{
    qbsync_event_field_e  f;

    for (f = 0; f < QBSYNC_EVENT_FIELD_DATA_OBJECT; f++) {
        if (strlen(qbsync_event_fields[f].path) == len
            && memcmp(qbsync_event_fields[f].path, key, len) == 0)
        {
            return f;
        }
    }

    return QBSYNC_EVENT_NFIELDS;
}


static int
qbsync_event_end_map(void *data)
{
    qbsync_event_ctx_t  *ctx = data;

    if (--ctx->depth == 1) {
        ctx->in_data = 0;
    }

    if (ctx->tree && !ctx->tree->failed) {
        qbsync_event_tree(ctx,
                          qbsync_yajl_some_callbacks.yajl_end_map(ctx->tree));
    }

    return 1;
}


static int
qbsync_event_start_array(void *data)
{
    qbsync_event_ctx_t  *ctx = data;

    qbsync_event_value(ctx, QBSYNC_EVENT_VALUE_ARRAY, NULL, 0);
    ctx->depth++;

    if (ctx->tree && !ctx->tree->failed) {
        qbsync_event_tree(ctx, qbsync_yajl_some_callbacks.yajl_start_array(
                                   ctx->tree));
    }

    return 1;
}


static int
qbsync_event_end_array(void *data)
{
    qbsync_event_ctx_t  *ctx = data;

    ctx->depth--;

    if (ctx->tree && !ctx->tree->failed) {
        qbsync_event_tree(ctx,
                          qbsync_yajl_some_callbacks.yajl_end_array(ctx->tree));
    }

    return 1;
}


/*
 * The tree's builder may refuse what the event's checks let pass (a
 * "\u0000", deep nesting) or run out of memory: the tree then stops, the
 * parse and its verdict on the event go on.
 */
static void
qbsync_event_tree(qbsync_event_ctx_t *ctx, int ok)
{
    if (!ok) {
        ctx->tree->failed = 1;
    }
}


/*
 * Called for every value, before a container is entered.  Only the value
 * right after a key we read is looked at: yajl reports a member's value
 * immediately after its key.
 */
static void
qbsync_event_value(qbsync_event_ctx_t *ctx, qbsync_event_value_e kind,
    const unsigned char *value, size_t len)
{
    const char            *error;
    qbsync_event_field_e   f;

    if (ctx->depth == 0) {
        ctx->root_is_object = (kind == QBSYNC_EVENT_VALUE_MAP);
        return;
    }

    f = ctx->current;
    ctx->current = QBSYNC_EVENT_NFIELDS;

    switch (f) {

    case QBSYNC_EVENT_FIELD_ID:
        error = qbsync_event_check_id(ctx->event, kind, value, len);

        if (error == NULL && ctx->seen
            && ctx->seen(ctx->seen_data, ctx->event))
        {
            ctx->stopped = 1;
        }

        break;

    case QBSYNC_EVENT_FIELD_TYPE:
        error = qbsync_event_check_type(ctx->event, kind, value, len);
        break;

    case QBSYNC_EVENT_FIELD_CREATED:
        error = qbsync_event_check_created(ctx->event, kind, value, len);
        break;

    case QBSYNC_EVENT_FIELD_DATA:
        ctx->in_data = (kind == QBSYNC_EVENT_VALUE_MAP);
        error = ctx->in_data ? NULL : "expected an object";
        break;

    case QBSYNC_EVENT_FIELD_DATA_OBJECT:
        error = (kind == QBSYNC_EVENT_VALUE_MAP) ? NULL : "expected an object";
        break;

    default:
        return;
    }

    ctx->fields[f].error = error;
}


static const char *
qbsync_event_check_id(qbsync_event_t *event, qbsync_event_value_e kind,
    const unsigned char *value, size_t len)
{
    if (kind != QBSYNC_EVENT_VALUE_STRING) {
        return "expected a string";
    }

    if (len < QBSYNC_EVENT_ID_PREFIX_LEN
        || memcmp(value, QBSYNC_EVENT_ID_PREFIX, QBSYNC_EVENT_ID_PREFIX_LEN)
           != 0)
    {
        return "expected an evt_ prefix";
    }

    if (len > QBSYNC_EVENT_ID_MAX) {
        return "too long";
    }

    if (!qbsync_event_is_token(value, len, 0)) {
        return "expected letters, digits and underscores";
    }

    memcpy(event->id, value, len);
    event->id[len] = '\0';
    event->id_len = len;

    return NULL;
}


static const char *
qbsync_event_check_type(qbsync_event_t *event, qbsync_event_value_e kind,
    const unsigned char *value, size_t len)
{
    if (kind != QBSYNC_EVENT_VALUE_STRING || len == 0) {
        return "expected a string";
    }

    if (len > QBSYNC_EVENT_TYPE_MAX) {
        return "too long";
    }

    if (!qbsync_event_is_token(value, len, 1)) {
        return "expected letters, digits, dots and underscores";
    }

    memcpy(event->type, value, len);
    event->type[len] = '\0';
    event->type_len = len;

    return NULL;
}


static const char *
qbsync_event_check_created(qbsync_event_t *event, qbsync_event_value_e kind,
    const unsigned char *value, size_t len)
{
    if (kind != QBSYNC_EVENT_VALUE_NUMBER
        || qbsync_event_parse_int64(value, len, &event->created) != 0)
    {
        return "expected an integer";
    }

    return NULL;
}


/*
 * Stripe's ids and event types are made of these characters only; holding
 * to them keeps control characters and quotes out of the logs, the
 * variables and the keys.
 */
static int
qbsync_event_is_token(const unsigned char *value, size_t len, int dot_allowed)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((value[i] >= 'a' && value[i] <= 'z')
            || (value[i] >= 'A' && value[i] <= 'Z')
            || (value[i] >= '0' && value[i] <= '9')
            || value[i] == '_'
            || (dot_allowed && value[i] == '.'))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/* yajl hands numbers as JSON wrote them: only plain integers are taken */
static int
qbsync_event_parse_int64(const unsigned char *number, size_t len,
    int64_t *value)
{
    size_t    i;
    unsigned  digit, negative;
    uint64_t  n, limit;

    negative = (len > 0 && number[0] == '-');

    if (len == negative) {
        return -1;
    }

    limit = negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    n = 0;

    for (i = negative; i < len; i++) {
        if (number[i] < '0' || number[i] > '9') {
            return -1;
        }

        digit = number[i] - '0';

        if (n > (limit - digit) / 10) {
            return -1;
        }

        n = n * 10 + digit;
    }

    /* written so that INT64_MIN is reached without an overflow */
    *value = (negative && n) ? -(int64_t) (n - 1) - 1 : (int64_t) n;

    return 0;
}


static qbsync_event_rc_t
qbsync_event_json_error(yajl_handle yajl, qbsync_event_t *event)
{
    size_t          len;
    unsigned char  *error;

    /* not verbose: the verbose form quotes the body back */
    error = yajl_get_error(yajl, 0, NULL, 0);
    if (error == NULL) {
        return QBSYNC_EVENT_ERROR;
    }

    len = strlen((char *) error);

    while (len && error[len - 1] == '\n') {
        len--;
    }

    snprintf(event->message, sizeof(event->message), "invalid JSON: %.*s",
             (int) len, (char *) error);

    yajl_free_error(yajl, error);

    return QBSYNC_EVENT_INVALID_JSON;
}


static qbsync_event_rc_t
qbsync_event_check(qbsync_event_ctx_t *ctx)
{
    const char            *problem;
    qbsync_event_t        *event;
    qbsync_event_field_t  *field;
    qbsync_event_field_e   f;

    event = ctx->event;

    if (!ctx->root_is_object) {
        snprintf(event->message, sizeof(event->message),
                 "event: expected an object");
        return QBSYNC_EVENT_INVALID;
    }

    for (f = 0; f < QBSYNC_EVENT_NFIELDS; f++) {
        field = &ctx->fields[f];

        if (!field->seen) {
            problem = qbsync_event_fields[f].expected;

        } else if (field->duplicate) {
            problem = "duplicate key";

        } else if (field->error) {
            problem = field->error;

        } else {
            continue;
        }

        snprintf(event->message, sizeof(event->message), "%s: %s",
                 qbsync_event_fields[f].path, problem);

        return QBSYNC_EVENT_INVALID;
    }

    return QBSYNC_EVENT_OK;
}
