
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_CLI_STRIPE_H_INCLUDED_
#define _QBSYNC_CLI_STRIPE_H_INCLUDED_


#include <stddef.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>


/* Stripe's ids are short; a custom product id is at most a few hundred */
#define QBSYNC_CLI_STRIPE_ID_MAX  1024


/* one product, compact JSON and its "\n", on its way to the batch location */
typedef struct qbsync_cli_line_s  qbsync_cli_line_t;

struct qbsync_cli_line_s {
    qbsync_cli_line_t  *next;
    size_t              request;     /* the batch request that carries it */
    size_t              len;
    size_t              sent;        /* bytes already handed to libcurl */
    unsigned char       data[];
};


typedef struct {
    qbsync_cli_line_t  *head;
    qbsync_cli_line_t  *tail;
    size_t              count;
    size_t              bytes;
} qbsync_cli_lines_t;


/*
 * One page of GET /v1/products, parsed as it arrives: every element of
 * "data" is written again, compact, by yajl_gen as it is read, numbers
 * as Stripe wrote them and members in Stripe's order.  The page is not
 * held whole; only its products' lines are.
 */
typedef struct {
    yajl_handle         parser;
    yajl_gen            gen;
    qbsync_cli_lines_t  lines;
    size_t              depth;          /* maps and arrays open */
    int                 has_more;       /* -1 until seen */
    const char         *problem;        /* why the page is refused */
    char                last_id[QBSYNC_CLI_STRIPE_ID_MAX];
    unsigned            key:2;          /* the top-level key being read */
    unsigned            in_data:1;      /* inside the "data" array */
    unsigned            in_product:1;   /* inside one of its elements */
    unsigned            id_next:1;      /* the product's "id" comes next */
    unsigned            has_id:1;
    unsigned            saw_data:1;
    unsigned            nomem:1;
} qbsync_cli_page_t;


void qbsync_cli_lines_push(qbsync_cli_lines_t *lines,
    qbsync_cli_line_t *line);
qbsync_cli_line_t *qbsync_cli_lines_shift(qbsync_cli_lines_t *lines);
/* moves every line of from to the end of to */
void qbsync_cli_lines_append(qbsync_cli_lines_t *to,
    qbsync_cli_lines_t *from);
void qbsync_cli_lines_free(qbsync_cli_lines_t *lines);

/* 0, or -1 when out of memory; page_init() is called once, begin per page */
int qbsync_cli_page_init(qbsync_cli_page_t *page);
int qbsync_cli_page_begin(qbsync_cli_page_t *page);
/* 0, or -1 with page->problem set */
int qbsync_cli_page_feed(qbsync_cli_page_t *page, const unsigned char *data,
    size_t len);
int qbsync_cli_page_finish(qbsync_cli_page_t *page);
void qbsync_cli_page_free(qbsync_cli_page_t *page);

/*
 * Stripe's error answer ({"error": {"type", "code", "message"}}) as one
 * printable line; "" when the body is no such answer.
 */
void qbsync_cli_stripe_error(const unsigned char *body, size_t len,
    char *buf, size_t size);


#endif /* _QBSYNC_CLI_STRIPE_H_INCLUDED_ */
