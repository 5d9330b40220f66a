
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


#endif /* _QBSYNC_JSON_H_INCLUDED_ */
