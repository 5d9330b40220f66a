
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "qbsync_yajl.h"


static const char *qbsync_yajl_scan(const unsigned char *json, size_t len,
    size_t depth_max);


/*
 * yajl_tree_parse() wants a C string, so the text is copied; the scan
 * first makes sure that the copy's length is the text's, and that every
 * string in the tree is whole.  No error buffer is given to yajl: it would
 * quote the text into it.  A tree that yajl could not build for want of
 * memory looks like invalid JSON: yajl does not tell the two apart.
 */
qbsync_yajl_rc_t
qbsync_yajl_parse(const unsigned char *json, size_t len, size_t depth_max,
    yajl_val *tree, const char **problem)
{
    char  *copy;

    *tree = NULL;

    *problem = qbsync_yajl_scan(json, len, depth_max);
    if (*problem) {
        return QBSYNC_YAJL_INVALID;
    }

    copy = malloc(len + 1);
    if (copy == NULL) {
        *problem = "out of memory";
        return QBSYNC_YAJL_NOMEM;
    }

    memcpy(copy, json, len);
    copy[len] = '\0';

    *tree = yajl_tree_parse(copy, NULL, 0);

    free(copy);

    if (*tree == NULL) {
        *problem = "invalid JSON";
        return QBSYNC_YAJL_INVALID;
    }

    return QBSYNC_YAJL_OK;
}


yajl_val
qbsync_yajl_member(yajl_val object, const char *key)
{
    const char  *path[2];

    path[0] = key;
    path[1] = NULL;

    return yajl_tree_get(object, path, yajl_t_any);
}


int
qbsync_yajl_int64(const char *number, int64_t *value)
{
    unsigned     digit, negative;
    uint64_t     n, limit;
    const char  *p;

    negative = (number[0] == '-');
    p = number + negative;

    if (*p == '\0') {
        return -1;
    }

    limit = negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    n = 0;

    for ( /* void */ ; *p; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        digit = *p - '0';

        if (n > (limit - digit) / 10) {
            return -1;
        }

        n = n * 10 + digit;
    }

    /* written so that INT64_MIN is reached without an overflow */
    *value = (negative && n) ? -(int64_t) (n - 1) - 1 : (int64_t) n;

    return 0;
}


yajl_gen
qbsync_yajl_gen(qbsync_yajl_out_t *out, unsigned char *buf, size_t size)
{
    yajl_gen  gen;

    out->start = buf;
    out->pos = buf;
    out->end = buf + size;
    out->overflow = 0;

    gen = yajl_gen_alloc(NULL);
    if (gen == NULL) {
        return NULL;
    }

    if (!yajl_gen_config(gen, yajl_gen_print_callback, qbsync_yajl_print,
                         out)
        || !yajl_gen_config(gen, yajl_gen_validate_utf8, 1))
    {
        yajl_gen_free(gen);
        return NULL;
    }

    return gen;
}


void
qbsync_yajl_print(void *data, const char *str, size_t len)
{
    qbsync_yajl_out_t  *out = data;

    if (out->overflow || (size_t) (out->end - out->pos) < len) {
        out->overflow = 1;
        return;
    }

    if (len) {
        memcpy(out->pos, str, len);
        out->pos += len;
    }
}


size_t
qbsync_yajl_done(yajl_gen gen, qbsync_yajl_out_t *out, int ok)
{
    yajl_gen_free(gen);

    if (!ok || out->overflow) {
        return 0;
    }

    return out->pos - out->start;
}


int
qbsync_yajl_gen_member(yajl_gen gen, const char *name, const char *value,
    size_t len)
{
    /* an empty qbsync_str_t may have no data */
    if (value == NULL) {
        value = "";
        len = 0;
    }

    return yajl_gen_string(gen, (const unsigned char *) name, strlen(name))
           == yajl_gen_status_ok
           && yajl_gen_string(gen, (const unsigned char *) value, len)
              == yajl_gen_status_ok;
}


/*
 * Follows yajl's lexer closely enough to count nesting: up to the point
 * where yajl stops on an error, strings start and end where it sees them.
 * yajl_tree_parse() allows comments, JSON does not: a '/' outside a
 * string is refused here, so a comment cannot hide a bracket.
 */
static const char *
qbsync_yajl_scan(const unsigned char *json, size_t len, size_t depth_max)
{
    size_t  i, depth;
    int     in_string;

    if (len == 0) {
        return "empty";
    }

    if (memchr(json, '\0', len) != NULL) {
        return "invalid JSON";
    }

    depth = 0;
    in_string = 0;

    for (i = 0; i < len; i++) {

        if (in_string) {
            if (json[i] == '"') {
                in_string = 0;

            } else if (json[i] == '\\') {
                if (len - i > 5 && memcmp(&json[i + 1], "u0000", 5) == 0) {
                    return "\\u0000 in a string";
                }

                i++;
            }

            continue;
        }

        switch (json[i]) {

        case '"':
            in_string = 1;
            break;

        case '{':
        case '[':
            if (++depth > depth_max) {
                return "nested too deeply";
            }

            break;

        case '}':
        case ']':
            if (depth) {
                depth--;
            }

            break;

        case '/':
            return "invalid JSON";

        default:
            break;
        }
    }

    return NULL;
}


static int qbsync_yajl_some_null(void *data);
static int qbsync_yajl_some_boolean(void *data, int value);
static int qbsync_yajl_some_number(void *data, const char *number,
    size_t len);
static int qbsync_yajl_some_string(void *data, const unsigned char *string,
    size_t len);
static int qbsync_yajl_some_start_map(void *data);
static int qbsync_yajl_some_map_key(void *data, const unsigned char *key,
    size_t len);
static int qbsync_yajl_some_end(void *data);
static int qbsync_yajl_some_start_array(void *data);
static int qbsync_yajl_some_open(qbsync_yajl_some_t *some, yajl_type type);
static yajl_val qbsync_yajl_some_value(qbsync_yajl_some_t *some,
    yajl_type type);
static int qbsync_yajl_some_add(qbsync_yajl_some_t *some, yajl_val value);
static char *qbsync_yajl_some_copy(qbsync_yajl_some_t *some,
    const void *data, size_t len);


const yajl_callbacks  qbsync_yajl_some_callbacks = {
    qbsync_yajl_some_null,
    qbsync_yajl_some_boolean,
    NULL,
    NULL,
    qbsync_yajl_some_number,
    qbsync_yajl_some_string,
    qbsync_yajl_some_start_map,
    qbsync_yajl_some_map_key,
    qbsync_yajl_some_end,
    qbsync_yajl_some_start_array,
    qbsync_yajl_some_end
};


/*
 * A callback that returns 0 stops yajl: some->problem says why, or, left
 * NULL, that memory ran out.  yajl's own buffers come from malloc(), the
 * tree from the allocator.
 */
qbsync_yajl_rc_t
qbsync_yajl_parse_some(const unsigned char *json, size_t len,
    size_t depth_max, const char *const *keep, qbsync_allocator_t *allocator,
    yajl_val *tree, const char **problem)
{
    yajl_handle          handle;
    yajl_status          status;
    qbsync_yajl_some_t   some;

    *tree = NULL;
    *problem = NULL;

    if (len == 0) {
        *problem = "empty";
        return QBSYNC_YAJL_INVALID;
    }

    if (qbsync_yajl_some_init(&some, depth_max, keep, allocator) != 0) {
        *problem = "out of memory";
        return QBSYNC_YAJL_NOMEM;
    }

    handle = yajl_alloc(&qbsync_yajl_some_callbacks, NULL, &some);
    if (handle == NULL) {
        *problem = "out of memory";
        return QBSYNC_YAJL_NOMEM;
    }

    status = yajl_parse(handle, json, len);

    if (status == yajl_status_ok) {
        status = yajl_complete_parse(handle);
    }

    yajl_free(handle);

    if (status == yajl_status_client_canceled) {
        some.failed = 1;

    } else if (status != yajl_status_ok) {
        *problem = "invalid JSON";
        return QBSYNC_YAJL_INVALID;
    }

    return qbsync_yajl_some_tree(&some, tree, problem);
}


int
qbsync_yajl_some_init(qbsync_yajl_some_t *some, size_t depth_max,
    const char *const *keep, qbsync_allocator_t *allocator)
{
    memset(some, 0, sizeof(qbsync_yajl_some_t));
    some->allocator = allocator;
    some->keep = keep;
    some->depth_max = depth_max;

    some->frames = allocator->alloc(allocator->ctx,
                                    (depth_max + 1)
                                    * sizeof(qbsync_yajl_frame_t));

    return (some->frames == NULL) ? -1 : 0;
}


qbsync_yajl_rc_t
qbsync_yajl_some_tree(qbsync_yajl_some_t *some, yajl_val *tree,
    const char **problem)
{
    *tree = NULL;
    *problem = NULL;

    if (some->failed && some->problem == NULL) {
        *problem = "out of memory";
        return QBSYNC_YAJL_NOMEM;
    }

    if (some->failed || some->root == NULL) {
        *problem = some->problem ? some->problem : "invalid JSON";
        return QBSYNC_YAJL_INVALID;
    }

    *tree = some->root;

    return QBSYNC_YAJL_OK;
}


static int
qbsync_yajl_some_null(void *data)
{
    qbsync_yajl_some_t  *some = data;

    return qbsync_yajl_some_add(some,
                                qbsync_yajl_some_value(some, yajl_t_null));
}


static int
qbsync_yajl_some_boolean(void *data, int value)
{
    qbsync_yajl_some_t  *some = data;

    return qbsync_yajl_some_add(some,
                                qbsync_yajl_some_value(some,
                                                       value ? yajl_t_true
                                                             : yajl_t_false));
}


static int
qbsync_yajl_some_number(void *data, const char *number, size_t len)
{
    yajl_val             value;
    qbsync_yajl_some_t  *some = data;

    if (some->skip || some->skip_value) {
        return qbsync_yajl_some_add(some, NULL);
    }

    value = qbsync_yajl_some_value(some, yajl_t_number);
    if (value == NULL) {
        return 0;
    }

    value->u.number.r = qbsync_yajl_some_copy(some, number, len);
    if (value->u.number.r == NULL) {
        return 0;
    }

    return qbsync_yajl_some_add(some, value);
}


/* a "\u0000" would cut the C string short: refused wherever it is */
static int
qbsync_yajl_some_string(void *data, const unsigned char *string, size_t len)
{
    yajl_val             value;
    qbsync_yajl_some_t  *some = data;

    if (len && memchr(string, '\0', len) != NULL) {
        some->problem = "\\u0000 in a string";
        return 0;
    }

    if (some->skip || some->skip_value) {
        return qbsync_yajl_some_add(some, NULL);
    }

    value = qbsync_yajl_some_value(some, yajl_t_string);
    if (value == NULL) {
        return 0;
    }

    value->u.string = qbsync_yajl_some_copy(some, string, len);
    if (value->u.string == NULL) {
        return 0;
    }

    return qbsync_yajl_some_add(some, value);
}


static int
qbsync_yajl_some_start_map(void *data)
{
    return qbsync_yajl_some_open(data, yajl_t_object);
}


static int
qbsync_yajl_some_start_array(void *data)
{
    return qbsync_yajl_some_open(data, yajl_t_array);
}


static int
qbsync_yajl_some_map_key(void *data, const unsigned char *key, size_t len)
{
    const char *const   *k;
    qbsync_yajl_some_t  *some = data;

    if (some->skip) {
        return 1;
    }

    if (len && memchr(key, '\0', len) != NULL) {
        some->problem = "\\u0000 in a string";
        return 0;
    }

    /* the first byte rules out most of the list without a strlen() */
    for (k = some->keep; len && *k; k++) {
        if ((*k)[0] == (char) key[0] && strncmp(*k, (char *) key, len) == 0
            && (*k)[len] == '\0')
        {
            some->key = *k;
            return 1;
        }
    }

    some->skip_value = 1;

    return 1;
}


static int
qbsync_yajl_some_open(qbsync_yajl_some_t *some, yajl_type type)
{
    yajl_val              value;
    qbsync_yajl_frame_t  *frame;

    if (++some->depth > some->depth_max) {
        some->problem = "nested too deeply";
        return 0;
    }

    if (some->skip || some->skip_value) {
        some->skip_value = 0;
        some->skip++;
        return 1;
    }

    value = qbsync_yajl_some_value(some, type);
    if (value == NULL || !qbsync_yajl_some_add(some, value)) {
        return 0;
    }

    frame = &some->frames[some->nframes++];
    frame->node = value;
    frame->size = 0;

    return 1;
}


static int
qbsync_yajl_some_end(void *data)
{
    qbsync_yajl_some_t  *some = data;

    some->depth--;

    if (some->skip) {
        some->skip--;
        return 1;
    }

    some->nframes--;

    return 1;
}


static yajl_val
qbsync_yajl_some_value(qbsync_yajl_some_t *some, yajl_type type)
{
    yajl_val  value;

    if (some->skip || some->skip_value) {
        return NULL;
    }

    value = some->allocator->alloc(some->allocator->ctx,
                                   sizeof(struct yajl_val_s));
    if (value == NULL) {
        return NULL;
    }

    memset(value, 0, sizeof(struct yajl_val_s));
    value->type = type;

    return value;
}


/*
 * Puts a value into the open container, or makes it the root.  A value
 * that is not kept (NULL, while skipping) only ends the skip of its key.
 */
static int
qbsync_yajl_some_add(qbsync_yajl_some_t *some, yajl_val value)
{
    size_t                size;
    yajl_val              node, *values;
    const char          **keys;
    qbsync_yajl_frame_t  *frame;

    if (some->skip) {
        return 1;
    }

    if (some->skip_value) {
        some->skip_value = 0;
        return 1;
    }

    if (value == NULL) {
        return 0;
    }

    if (some->nframes == 0) {
        some->root = value;
        return 1;
    }

    frame = &some->frames[some->nframes - 1];
    node = frame->node;

    if (node->type == yajl_t_object) {

        if (node->u.object.len == frame->size) {
            size = frame->size ? 2 * frame->size : 8;

            keys = some->allocator->alloc(some->allocator->ctx,
                                          size * sizeof(const char *));
            values = some->allocator->alloc(some->allocator->ctx,
                                            size * sizeof(yajl_val));
            if (keys == NULL || values == NULL) {
                return 0;
            }

            if (frame->size) {
                memcpy(keys, node->u.object.keys,
                       frame->size * sizeof(const char *));
                memcpy(values, node->u.object.values,
                       frame->size * sizeof(yajl_val));
            }

            node->u.object.keys = keys;
            node->u.object.values = values;
            frame->size = size;
        }

        node->u.object.keys[node->u.object.len] = some->key;
        node->u.object.values[node->u.object.len++] = value;

        return 1;
    }

    if (node->u.array.len == frame->size) {
        size = frame->size ? 2 * frame->size : 8;

        values = some->allocator->alloc(some->allocator->ctx,
                                        size * sizeof(yajl_val));
        if (values == NULL) {
            return 0;
        }

        if (frame->size) {
            memcpy(values, node->u.array.values,
                   frame->size * sizeof(yajl_val));
        }

        node->u.array.values = values;
        frame->size = size;
    }

    node->u.array.values[node->u.array.len++] = value;

    return 1;
}


static char *
qbsync_yajl_some_copy(qbsync_yajl_some_t *some, const void *data,
    size_t len)
{
    char  *copy;

    copy = some->allocator->alloc(some->allocator->ctx, len + 1);
    if (copy == NULL) {
        return NULL;
    }

    memcpy(copy, data, len);
    copy[len] = '\0';

    return copy;
}
