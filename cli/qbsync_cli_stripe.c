
/*
 * Copyright (C) qbsync authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_cli.h"
#include "qbsync_cli_stripe.h"
#include "qbsync_yajl.h"


/* the top-level keys of a list that the tool reads */
#define QBSYNC_CLI_KEY_OTHER     0
#define QBSYNC_CLI_KEY_DATA      1
#define QBSYNC_CLI_KEY_HAS_MORE  2

/* a page is an object holding an array of objects: data[i] is this deep */
#define QBSYNC_CLI_DEPTH_PAGE     1
#define QBSYNC_CLI_DEPTH_DATA     2
#define QBSYNC_CLI_DEPTH_PRODUCT  3

/* Stripe's error objects are flat; a deeper answer is not one */
#define QBSYNC_CLI_ERROR_DEPTH   8


static int qbsync_cli_page_null(void *ctx);
static int qbsync_cli_page_boolean(void *ctx, int boolean);
static int qbsync_cli_page_number(void *ctx, const char *number, size_t len);
static int qbsync_cli_page_string(void *ctx, const unsigned char *string,
    size_t len);
static int qbsync_cli_page_start_map(void *ctx);
static int qbsync_cli_page_map_key(void *ctx, const unsigned char *key,
    size_t len);
static int qbsync_cli_page_end_map(void *ctx);
static int qbsync_cli_page_start_array(void *ctx);
static int qbsync_cli_page_end_array(void *ctx);
static int qbsync_cli_page_scalar(qbsync_cli_page_t *page, int boolean);
static int qbsync_cli_page_gen(qbsync_cli_page_t *page,
    yajl_gen_status status);
static int qbsync_cli_page_product_done(qbsync_cli_page_t *page);
static int qbsync_cli_page_failed(qbsync_cli_page_t *page, yajl_status st);
static const char *qbsync_cli_string(yajl_val object, const char *key);


static const yajl_callbacks  qbsync_cli_page_callbacks = {
    qbsync_cli_page_null,
    qbsync_cli_page_boolean,
    NULL,                       /* yajl_number below takes every number */
    NULL,
    qbsync_cli_page_number,
    qbsync_cli_page_string,
    qbsync_cli_page_start_map,
    qbsync_cli_page_map_key,
    qbsync_cli_page_end_map,
    qbsync_cli_page_start_array,
    qbsync_cli_page_end_array
};


void
qbsync_cli_lines_push(qbsync_cli_lines_t *lines, qbsync_cli_line_t *line)
{
    line->next = NULL;

    if (lines->tail) {
        lines->tail->next = line;

    } else {
        lines->head = line;
    }

    lines->tail = line;
    lines->count++;
    lines->bytes += line->len;
}


qbsync_cli_line_t *
qbsync_cli_lines_shift(qbsync_cli_lines_t *lines)
{
    qbsync_cli_line_t  *line;

    line = lines->head;
    if (line == NULL) {
        return NULL;
    }

    lines->head = line->next;

    if (lines->head == NULL) {
        lines->tail = NULL;
    }

    lines->count--;
    lines->bytes -= line->len;

    return line;
}


void
qbsync_cli_lines_append(qbsync_cli_lines_t *to, qbsync_cli_lines_t *from)
{
    if (from->head == NULL) {
        return;
    }

    if (to->tail) {
        to->tail->next = from->head;

    } else {
        to->head = from->head;
    }

    to->tail = from->tail;
    to->count += from->count;
    to->bytes += from->bytes;

    memset(from, 0, sizeof(qbsync_cli_lines_t));
}


void
qbsync_cli_lines_free(qbsync_cli_lines_t *lines)
{
    qbsync_cli_line_t  *line;

    while ((line = qbsync_cli_lines_shift(lines)) != NULL) {
        free(line);
    }
}


int
qbsync_cli_page_init(qbsync_cli_page_t *page)
{
    memset(page, 0, sizeof(qbsync_cli_page_t));

    page->gen = yajl_gen_alloc(NULL);
    if (page->gen == NULL) {
        return -1;
    }

    /*
     * yajl escapes what JSON requires and nothing else ("/" stays as
     * is): the line is what Stripe sent, without its indentation.
     */
    if (!yajl_gen_config(page->gen, yajl_gen_beautify, 0)) {
        return -1;
    }

    return 0;
}


int
qbsync_cli_page_begin(qbsync_cli_page_t *page)
{
    if (page->parser) {
        yajl_free(page->parser);
    }

    qbsync_cli_lines_free(&page->lines);

    yajl_gen_clear(page->gen);
    yajl_gen_reset(page->gen, NULL);

    page->depth = 0;
    page->has_more = -1;
    page->problem = NULL;
    page->last_id[0] = '\0';
    page->key = QBSYNC_CLI_KEY_OTHER;
    page->in_data = 0;
    page->in_product = 0;
    page->id_next = 0;
    page->has_id = 0;
    page->saw_data = 0;
    page->nomem = 0;

    /* yajl refuses comments, a second value and bad UTF-8 by default */
    page->parser = yajl_alloc(&qbsync_cli_page_callbacks, NULL, page);
    if (page->parser == NULL) {
        return -1;
    }

    return 0;
}


int
qbsync_cli_page_feed(qbsync_cli_page_t *page, const unsigned char *data,
    size_t len)
{
    yajl_status  st;

    st = yajl_parse(page->parser, data, len);

    if (st != yajl_status_ok) {
        return qbsync_cli_page_failed(page, st);
    }

    return 0;
}


int
qbsync_cli_page_finish(qbsync_cli_page_t *page)
{
    yajl_status  st;

    st = yajl_complete_parse(page->parser);

    if (st != yajl_status_ok) {
        return qbsync_cli_page_failed(page, st);
    }

    if (!page->saw_data) {
        page->problem = "it has no \"data\" array";
        return -1;
    }

    if (page->has_more < 0) {
        page->problem = "it has no \"has_more\"";
        return -1;
    }

    /* starting_after would be the same again: the loop would not end */
    if (page->has_more && page->lines.count == 0) {
        page->problem = "\"has_more\" is true on an empty page";
        return -1;
    }

    return 0;
}


void
qbsync_cli_page_free(qbsync_cli_page_t *page)
{
    if (page->parser) {
        yajl_free(page->parser);
        page->parser = NULL;
    }

    if (page->gen) {
        yajl_gen_free(page->gen);
        page->gen = NULL;
    }

    qbsync_cli_lines_free(&page->lines);
}


static int
qbsync_cli_page_failed(qbsync_cli_page_t *page, yajl_status st)
{
    if (st == yajl_status_client_canceled && page->problem) {
        return -1;
    }

    /* yajl's own message would quote the text: it is not used */
    page->problem = "it is not JSON";

    return -1;
}


static int
qbsync_cli_page_null(void *ctx)
{
    qbsync_cli_page_t  *page = ctx;

    if (page->in_product) {
        page->id_next = 0;
        return qbsync_cli_page_gen(page, yajl_gen_null(page->gen));
    }

    return qbsync_cli_page_scalar(page, -1);
}


static int
qbsync_cli_page_boolean(void *ctx, int boolean)
{
    qbsync_cli_page_t  *page = ctx;

    if (page->in_product) {
        page->id_next = 0;
        return qbsync_cli_page_gen(page, yajl_gen_bool(page->gen, boolean));
    }

    return qbsync_cli_page_scalar(page, boolean != 0);
}


static int
qbsync_cli_page_number(void *ctx, const char *number, size_t len)
{
    qbsync_cli_page_t  *page = ctx;

    /* the number as written: 19.990 stays 19.990, 1e3 stays 1e3 */
    if (page->in_product) {
        page->id_next = 0;
        return qbsync_cli_page_gen(page,
                                   yajl_gen_number(page->gen, number, len));
    }

    return qbsync_cli_page_scalar(page, -1);
}


static int
qbsync_cli_page_string(void *ctx, const unsigned char *string, size_t len)
{
    qbsync_cli_page_t  *page = ctx;

    if (!page->in_product) {
        return qbsync_cli_page_scalar(page, -1);
    }

    if (page->id_next) {
        page->id_next = 0;

        if (len == 0 || len >= sizeof(page->last_id)
            || memchr(string, '\0', len) != NULL)
        {
            page->problem = "a product's \"id\" is empty or too long";
            return 0;
        }

        memcpy(page->last_id, string, len);
        page->last_id[len] = '\0';
        page->has_id = 1;
    }

    return qbsync_cli_page_gen(page,
                               yajl_gen_string(page->gen, string, len));
}


static int
qbsync_cli_page_start_map(void *ctx)
{
    qbsync_cli_page_t  *page = ctx;

    if (page->in_product) {
        page->id_next = 0;
        page->depth++;
        return qbsync_cli_page_gen(page, yajl_gen_map_open(page->gen));
    }

    if (page->depth == QBSYNC_CLI_DEPTH_PAGE
        && page->key != QBSYNC_CLI_KEY_OTHER)
    {
        return qbsync_cli_page_scalar(page, -1);
    }

    page->depth++;

    if (page->depth == QBSYNC_CLI_DEPTH_PRODUCT && page->in_data) {
        page->in_product = 1;
        page->has_id = 0;
        return qbsync_cli_page_gen(page, yajl_gen_map_open(page->gen));
    }

    return 1;
}


static int
qbsync_cli_page_map_key(void *ctx, const unsigned char *key, size_t len)
{
    qbsync_cli_page_t  *page = ctx;

    if (page->in_product) {
        if (page->depth == QBSYNC_CLI_DEPTH_PRODUCT) {
            page->id_next = (len == 2 && memcmp(key, "id", 2) == 0);
        }

        return qbsync_cli_page_gen(page, yajl_gen_string(page->gen, key, len));
    }

    if (page->depth == QBSYNC_CLI_DEPTH_PAGE) {
        if (len == 4 && memcmp(key, "data", 4) == 0) {
            page->key = QBSYNC_CLI_KEY_DATA;

        } else if (len == 8 && memcmp(key, "has_more", 8) == 0) {
            page->key = QBSYNC_CLI_KEY_HAS_MORE;

        } else {
            page->key = QBSYNC_CLI_KEY_OTHER;
        }
    }

    return 1;
}


static int
qbsync_cli_page_end_map(void *ctx)
{
    qbsync_cli_page_t  *page = ctx;

    page->depth--;

    if (page->in_product) {
        if (!qbsync_cli_page_gen(page, yajl_gen_map_close(page->gen))) {
            return 0;
        }

        if (page->depth == QBSYNC_CLI_DEPTH_DATA) {
            return qbsync_cli_page_product_done(page);
        }
    }

    return 1;
}


static int
qbsync_cli_page_start_array(void *ctx)
{
    qbsync_cli_page_t  *page = ctx;

    if (page->in_product) {
        page->id_next = 0;
        page->depth++;
        return qbsync_cli_page_gen(page, yajl_gen_array_open(page->gen));
    }

    if (page->depth == QBSYNC_CLI_DEPTH_PAGE
        && page->key == QBSYNC_CLI_KEY_DATA)
    {
        if (page->saw_data) {
            page->problem = "it has two \"data\" arrays";
            return 0;
        }

        page->in_data = 1;
        page->saw_data = 1;

    } else if (page->depth == 0
               || (page->depth == QBSYNC_CLI_DEPTH_PAGE
                   && page->key == QBSYNC_CLI_KEY_HAS_MORE)
               || (page->depth == QBSYNC_CLI_DEPTH_DATA && page->in_data))
    {
        /* an array where the page, has_more or a product belongs */
        return qbsync_cli_page_scalar(page, -1);
    }

    page->depth++;

    return 1;
}


static int
qbsync_cli_page_end_array(void *ctx)
{
    qbsync_cli_page_t  *page = ctx;

    page->depth--;

    if (page->in_product) {
        return qbsync_cli_page_gen(page, yajl_gen_array_close(page->gen));
    }

    if (page->depth == QBSYNC_CLI_DEPTH_PAGE) {
        page->in_data = 0;
    }

    return 1;
}


/*
 * A value outside the products: has_more is read, a value where the
 * page, data or a product belongs refuses the page, anything else passes.
 */
static int
qbsync_cli_page_scalar(qbsync_cli_page_t *page, int boolean)
{
    if (page->depth == 0) {
        page->problem = "it is not a JSON object";
        return 0;
    }

    if (page->depth == QBSYNC_CLI_DEPTH_PAGE) {

        switch (page->key) {

        case QBSYNC_CLI_KEY_DATA:
            page->problem = "\"data\" is not an array";
            return 0;

        case QBSYNC_CLI_KEY_HAS_MORE:
            if (boolean < 0) {
                page->problem = "\"has_more\" is not a boolean";
                return 0;
            }

            page->has_more = boolean;
            return 1;

        default:
            return 1;
        }
    }

    if (page->depth == QBSYNC_CLI_DEPTH_DATA && page->in_data) {
        page->problem = "an element of \"data\" is not an object";
        return 0;
    }

    return 1;
}


static int
qbsync_cli_page_gen(qbsync_cli_page_t *page, yajl_gen_status status)
{
    if (status == yajl_gen_status_ok) {
        return 1;
    }

    page->problem = (status == yajl_max_depth_exceeded)
                    ? "a product is nested too deeply"
                    : "a product could not be written again";

    return 0;
}


static int
qbsync_cli_page_product_done(qbsync_cli_page_t *page)
{
    size_t                len;
    qbsync_cli_line_t    *line;
    const unsigned char  *json;

    page->in_product = 0;
    page->id_next = 0;

    /* starting_after needs every product's id */
    if (!page->has_id) {
        page->problem = "a product has no \"id\" string";
        return 0;
    }

    if (yajl_gen_get_buf(page->gen, &json, &len) != yajl_gen_status_ok) {
        page->problem = "a product could not be written again";
        return 0;
    }

    line = malloc(sizeof(qbsync_cli_line_t) + len + 1);
    if (line == NULL) {
        page->problem = "out of memory";
        page->nomem = 1;
        return 0;
    }

    memcpy(line->data, json, len);
    line->data[len] = '\n';
    line->len = len + 1;
    line->sent = 0;
    line->request = 0;

    qbsync_cli_lines_push(&page->lines, line);

    yajl_gen_clear(page->gen);
    yajl_gen_reset(page->gen, NULL);

    return 1;
}


void
qbsync_cli_stripe_error(const unsigned char *body, size_t len, char *buf,
    size_t size)
{
    char         text[512];
    yajl_val     tree, error;
    const char  *problem, *type, *code, *message;

    buf[0] = '\0';

    if (len == 0
        || qbsync_yajl_parse(body, len, QBSYNC_CLI_ERROR_DEPTH, &tree,
                             &problem)
           != QBSYNC_YAJL_OK)
    {
        return;
    }

    error = qbsync_yajl_member(tree, "error");

    if (error != NULL && YAJL_IS_OBJECT(error)) {
        type = qbsync_cli_string(error, "type");
        code = qbsync_cli_string(error, "code");
        message = qbsync_cli_string(error, "message");

        snprintf(text, sizeof(text), "%s%s%s%s%s",
                 type ? type : "error", code ? " " : "", code ? code : "",
                 message ? ": " : "", message ? message : "");

        qbsync_cli_printable(text, strlen(text), buf, size);
    }

    yajl_tree_free(tree);
}


static const char *
qbsync_cli_string(yajl_val object, const char *key)
{
    yajl_val  value;

    value = qbsync_yajl_member(object, key);

    if (value == NULL || !YAJL_IS_STRING(value)) {
        return NULL;
    }

    return YAJL_GET_STRING(value);
}
