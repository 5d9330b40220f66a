
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
