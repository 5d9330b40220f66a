
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_JSON_H_INCLUDED_
#define _QBSYNC_JSON_H_INCLUDED_


#include <stddef.h>


/*
 * Response bodies, written into the caller's buffer.  Each returns the
 * number of bytes written, or 0 if the body does not fit, a string is not
 * valid UTF-8, or memory runs out.  Nothing is NUL-terminated.
 */

typedef struct {
    const char  *name;             /* NUL-terminated */
    const char  *value;            /* a string; NULL leaves the member out */
    size_t       len;
    unsigned     is_true:1;        /* the literal true instead of a string */
} qbsync_json_member_t;


/* {"<name>": <value>, ...}, in the order given */
size_t qbsync_json_object(unsigned char *buf, size_t size,
    const qbsync_json_member_t *members, size_t n);

/* {"error":"<code>","message":"<message>"} */
size_t qbsync_json_error(unsigned char *buf, size_t size, const char *code,
    const char *message);

/* {"duplicate":true,"event":"<event_id>","action":"<action>"}, the action
   left out when NULL */
size_t qbsync_json_duplicate(unsigned char *buf, size_t size,
    const char *event_id, size_t id_len, const char *action);


/* What a batch location did with its lines. */
typedef struct {
    size_t       created;
    size_t       updated;
    size_t       unchanged;
    size_t       failed;
} qbsync_json_counts_t;


typedef struct {
    size_t       line;             /* from 1 */
    const char  *product;          /* NULL: null */
    size_t       product_len;
    const char  *error;            /* NUL-terminated */
    const char  *message;
    size_t       message_len;
} qbsync_json_line_error_t;


/*
 * One NDJSON answer line, newline included:
 * {"batch":N,"created":n,"updated":n,"unchanged":n,"failed":n,
 *  "errors":[{"line":L,"product":"prod_..."|null,"error":C,"message":M}]}
 */
size_t qbsync_json_batch_line(unsigned char *buf, size_t size, size_t batch,
    const qbsync_json_counts_t *counts, const qbsync_json_line_error_t *errors,
    size_t n);

/*
 * The last line: {"summary":true,"lines":n,"created":n,"updated":n,
 * "unchanged":n,"failed":n}, with "error" and "message" when the run
 * stopped before the end of the body.
 */
size_t qbsync_json_batch_summary(unsigned char *buf, size_t size,
    size_t lines, const qbsync_json_counts_t *counts, const char *error,
    const char *message);


#endif /* _QBSYNC_JSON_H_INCLUDED_ */
