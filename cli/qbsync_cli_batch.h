
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_CLI_BATCH_H_INCLUDED_
#define _QBSYNC_CLI_BATCH_H_INCLUDED_


#include <stddef.h>

#include "qbsync_cli.h"


/* what a summary line counts, and their sums over the requests */
typedef struct {
    size_t  lines;
    size_t  created;
    size_t  updated;
    size_t  unchanged;
    size_t  failed;
} qbsync_cli_totals_t;


/*
 * The answer of the batch location to one request, read as it streams:
 * one NDJSON line per QuickBooks batch, then a summary line.  Errors are
 * printed on stdout as their lines come.
 */
typedef struct {
    size_t               request;       /* its number, from 1 */
    qbsync_cli_buf_t     partial;       /* a line not ended yet */
    qbsync_cli_totals_t  batches;       /* the sums of the batch lines */
    qbsync_cli_totals_t  summary;
    const char          *problem;       /* why the answer is refused */
    unsigned             summary_seen:1;
} qbsync_cli_answer_t;


void qbsync_cli_answer_begin(qbsync_cli_answer_t *answer, size_t request);
/* 0, or -1 with answer->problem set */
int qbsync_cli_answer_feed(qbsync_cli_answer_t *answer,
    const unsigned char *data, size_t len);
int qbsync_cli_answer_finish(qbsync_cli_answer_t *answer);
void qbsync_cli_answer_free(qbsync_cli_answer_t *answer);

/* the module's {"error": CODE, "message": TEXT} as one line; "" if none */
void qbsync_cli_batch_error(const unsigned char *body, size_t len,
    char *buf, size_t size);


#endif /* _QBSYNC_CLI_BATCH_H_INCLUDED_ */
