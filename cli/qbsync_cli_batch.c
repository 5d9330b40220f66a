
/*
 * Copyright (C) qbsync authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_cli.h"
#include "qbsync_cli_batch.h"
#include "qbsync_cli_progress.h"
#include "qbsync_yajl.h"


/*
 * A batch line holds at most 30 results (QuickBooks' batch size) with
 * their messages: far below this.  A longer line is not the module's.
 */
#define QBSYNC_CLI_ANSWER_LINE_MAX  (1024 * 1024)
#define QBSYNC_CLI_ANSWER_DEPTH     8
#define QBSYNC_CLI_MESSAGE_MAX      1024


static int qbsync_cli_answer_line(qbsync_cli_answer_t *answer,
    const unsigned char *line, size_t len);
static int qbsync_cli_answer_batch(qbsync_cli_answer_t *answer,
    yajl_val batch);
static void qbsync_cli_answer_print_error(qbsync_cli_answer_t *answer,
    yajl_val error);
static int qbsync_cli_answer_counts(yajl_val object,
    qbsync_cli_totals_t *totals, int with_lines);
static int qbsync_cli_answer_count(yajl_val object, const char *key,
    size_t *count);
static const char *qbsync_cli_answer_string(yajl_val object,
    const char *key);


void
qbsync_cli_answer_begin(qbsync_cli_answer_t *answer, size_t request)
{
    answer->request = request;
    answer->partial.len = 0;
    answer->problem = NULL;
    answer->summary_seen = 0;

    memset(&answer->batches, 0, sizeof(qbsync_cli_totals_t));
    memset(&answer->summary, 0, sizeof(qbsync_cli_totals_t));
}


int
qbsync_cli_answer_feed(qbsync_cli_answer_t *answer,
    const unsigned char *data, size_t len)
{
    size_t                n;
    const unsigned char  *end, *newline;

    end = data + len;

    while (data < end) {
        newline = memchr(data, '\n', end - data);
        n = (newline ? newline : end) - data;

        if (answer->partial.len + n > QBSYNC_CLI_ANSWER_LINE_MAX) {
            answer->problem = "a line is longer than 1 MiB";
            return -1;
        }

        if (newline == NULL) {
            if (qbsync_cli_buf_append(&answer->partial, data, n,
                                      QBSYNC_CLI_ANSWER_LINE_MAX)
                != 0)
            {
                answer->problem = "out of memory";
                return -1;
            }

            return 0;
        }

        if (answer->partial.len) {
            if (qbsync_cli_buf_append(&answer->partial, data, n,
                                      QBSYNC_CLI_ANSWER_LINE_MAX)
                != 0)
            {
                answer->problem = "out of memory";
                return -1;
            }

            if (qbsync_cli_answer_line(answer, answer->partial.data,
                                       answer->partial.len)
                != 0)
            {
                return -1;
            }

            answer->partial.len = 0;

        } else if (qbsync_cli_answer_line(answer, data, n) != 0) {
            return -1;
        }

        data = newline + 1;
    }

    return 0;
}


int
qbsync_cli_answer_finish(qbsync_cli_answer_t *answer)
{
    /* the last line may come without its newline */
    if (answer->partial.len) {
        if (qbsync_cli_answer_line(answer, answer->partial.data,
                                   answer->partial.len)
            != 0)
        {
            return -1;
        }

        answer->partial.len = 0;
    }

    /* without it, the location stopped midway: nothing says what was done */
    if (!answer->summary_seen) {
        answer->problem = "it ended without a summary line";
        return -1;
    }

    return 0;
}


void
qbsync_cli_answer_free(qbsync_cli_answer_t *answer)
{
    qbsync_cli_buf_free(&answer->partial);
}


static int
qbsync_cli_answer_line(qbsync_cli_answer_t *answer,
    const unsigned char *line, size_t len)
{
    int               rc;
    yajl_val          tree, summary, batch;
    const char       *problem;
    qbsync_yajl_rc_t  yrc;

    while (len && (line[len - 1] == '\r' || line[len - 1] == ' '
                   || line[len - 1] == '\t'))
    {
        len--;
    }

    if (len == 0) {
        return 0;
    }

    yrc = qbsync_yajl_parse(line, len, QBSYNC_CLI_ANSWER_DEPTH, &tree,
                            &problem);

    if (yrc == QBSYNC_YAJL_NOMEM) {
        answer->problem = "out of memory";
        return -1;
    }

    if (yrc != QBSYNC_YAJL_OK) {
        answer->problem = "a line is not JSON";
        return -1;
    }

    rc = -1;

    if (!YAJL_IS_OBJECT(tree)) {
        answer->problem = "a line is not a JSON object";
        goto done;
    }

    if (answer->summary_seen) {
        answer->problem = "a line comes after the summary";
        goto done;
    }

    summary = qbsync_yajl_member(tree, "summary");
    batch = qbsync_yajl_member(tree, "batch");

    if (summary != NULL && YAJL_IS_TRUE(summary)) {
        if (qbsync_cli_answer_counts(tree, &answer->summary, 1) != 0) {
            answer->problem = "the summary line lacks a count";
            goto done;
        }

        answer->summary_seen = 1;
        rc = 0;

    } else if (batch != NULL && YAJL_IS_NUMBER(batch)) {
        rc = qbsync_cli_answer_batch(answer, tree);

    } else {
        answer->problem = "a line is neither a batch nor the summary";
    }

done:

    yajl_tree_free(tree);

    return rc;
}


static int
qbsync_cli_answer_batch(qbsync_cli_answer_t *answer, yajl_val batch)
{
    size_t               i;
    yajl_val             errors;
    qbsync_cli_totals_t  counts;

    memset(&counts, 0, sizeof(qbsync_cli_totals_t));

    if (qbsync_cli_answer_counts(batch, &counts, 0) != 0) {
        answer->problem = "a batch line lacks a count";
        return -1;
    }

    errors = qbsync_yajl_member(batch, "errors");

    if (errors != NULL && !YAJL_IS_ARRAY(errors) && !YAJL_IS_NULL(errors)) {
        answer->problem = "a batch line's \"errors\" is not an array";
        return -1;
    }

    if (errors != NULL && YAJL_IS_ARRAY(errors)) {
        for (i = 0; i < errors->u.array.len; i++) {
            qbsync_cli_answer_print_error(answer, errors->u.array.values[i]);
        }
    }

    answer->batches.created += counts.created;
    answer->batches.updated += counts.updated;
    answer->batches.unchanged += counts.unchanged;
    answer->batches.failed += counts.failed;

    return 0;
}


static void
qbsync_cli_answer_print_error(qbsync_cli_answer_t *answer, yajl_val error)
{
    char         line[32];
    char         product[QBSYNC_CLI_MESSAGE_MAX];
    char         code[QBSYNC_CLI_MESSAGE_MAX];
    char         message[QBSYNC_CLI_MESSAGE_MAX];
    int64_t      number;
    yajl_val     value;
    const char  *text;

    if (!YAJL_IS_OBJECT(error)) {
        return;
    }

    snprintf(line, sizeof(line), "?");

    value = qbsync_yajl_member(error, "line");

    if (value != NULL && YAJL_IS_NUMBER(value)
        && qbsync_yajl_int64(value->u.number.r, &number) == 0)
    {
        snprintf(line, sizeof(line), "%lld", (long long) number);
    }

    /* the location's texts may quote a product: no terminal controls */
    product[0] = '\0';
    text = qbsync_cli_answer_string(error, "product");

    if (text) {
        qbsync_cli_printable(text, strlen(text), product, sizeof(product));
    }

    text = qbsync_cli_answer_string(error, "error");
    qbsync_cli_printable(text ? text : "error", strlen(text ? text : "error"),
                         code, sizeof(code));

    text = qbsync_cli_answer_string(error, "message");
    qbsync_cli_printable(text ? text : "", text ? strlen(text) : 0,
                         message, sizeof(message));

    qbsync_cli_progress_clear();

    printf("error: request %zu, line %s%s%s: %s: %s\n", answer->request, line,
           product[0] ? ", " : "", product, code, message);
    fflush(stdout);
}


static int
qbsync_cli_answer_counts(yajl_val object, qbsync_cli_totals_t *totals,
    int with_lines)
{
    if ((with_lines
         && qbsync_cli_answer_count(object, "lines", &totals->lines) != 0)
        || qbsync_cli_answer_count(object, "created", &totals->created) != 0
        || qbsync_cli_answer_count(object, "updated", &totals->updated) != 0
        || qbsync_cli_answer_count(object, "unchanged", &totals->unchanged)
           != 0
        || qbsync_cli_answer_count(object, "failed", &totals->failed) != 0)
    {
        return -1;
    }

    return 0;
}


static int
qbsync_cli_answer_count(yajl_val object, const char *key, size_t *count)
{
    int64_t   n;
    yajl_val  value;

    value = qbsync_yajl_member(object, key);

    if (value == NULL || !YAJL_IS_NUMBER(value)
        || qbsync_yajl_int64(value->u.number.r, &n) != 0 || n < 0)
    {
        return -1;
    }

    *count = (size_t) n;

    return 0;
}


static const char *
qbsync_cli_answer_string(yajl_val object, const char *key)
{
    yajl_val  value;

    value = qbsync_yajl_member(object, key);

    if (value == NULL || !YAJL_IS_STRING(value)) {
        return NULL;
    }

    return YAJL_GET_STRING(value);
}


void
qbsync_cli_batch_error(const unsigned char *body, size_t len, char *buf,
    size_t size)
{
    char         text[QBSYNC_CLI_MESSAGE_MAX];
    yajl_val     tree;
    const char  *problem, *code, *message;

    buf[0] = '\0';

    if (len == 0
        || qbsync_yajl_parse(body, len, QBSYNC_CLI_ANSWER_DEPTH, &tree,
                             &problem)
           != QBSYNC_YAJL_OK)
    {
        return;
    }

    if (YAJL_IS_OBJECT(tree)) {
        code = qbsync_cli_answer_string(tree, "error");
        message = qbsync_cli_answer_string(tree, "message");

        if (code || message) {
            snprintf(text, sizeof(text), "%s%s%s", code ? code : "",
                     code && message ? ": " : "", message ? message : "");
            qbsync_cli_printable(text, strlen(text), buf, size);
        }
    }

    yajl_tree_free(tree);
}
