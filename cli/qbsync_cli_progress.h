
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_CLI_PROGRESS_H_INCLUDED_
#define _QBSYNC_CLI_PROGRESS_H_INCLUDED_


#include <stddef.h>


/* what the bar shows of a backfill */
typedef struct {
    size_t    fetched;      /* products read from Stripe */
    size_t    sent;         /* products handed to the batch location */
    size_t    answered;     /* products the batch location answered for */
    size_t    failed;       /* of them, failed */
    size_t    request;      /* the request running, from 1 */
    unsigned  fetching:1;   /* Stripe still has pages to give */
} qbsync_cli_progress_t;


/*
 * A bar redrawn in place when stderr is a terminal; plain lines
 * otherwise, so that a log or CI output reads well.
 */
void qbsync_cli_progress_start(void);
void qbsync_cli_progress_update(const qbsync_cli_progress_t *progress,
    int force);
void qbsync_cli_progress_end(void);

/* removes the bar before other output; a no-op without a bar */
void qbsync_cli_progress_clear(void);

/* a line on stderr in both modes: retries, the end of a request */
void qbsync_cli_progress_note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* a line on stderr only without a bar: each page */
void qbsync_cli_progress_line(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));


#endif /* _QBSYNC_CLI_PROGRESS_H_INCLUDED_ */
