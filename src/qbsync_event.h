
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_EVENT_H_INCLUDED_
#define _QBSYNC_EVENT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "qbsync_chunk.h"
#include "qbsync_yajl.h"


/* Stripe's ids are about 30 characters; anything far longer is not one. */
#define QBSYNC_EVENT_ID_MAX       255
#define QBSYNC_EVENT_TYPE_MAX     255
#define QBSYNC_EVENT_MESSAGE_MAX  160


typedef enum {
    QBSYNC_EVENT_OK = 0,
    QBSYNC_EVENT_INVALID_JSON,
    QBSYNC_EVENT_INVALID,
    QBSYNC_EVENT_ERROR,
    QBSYNC_EVENT_SEEN
} qbsync_event_rc_t;


typedef struct {
    char      id[QBSYNC_EVENT_ID_MAX + 1];
    size_t    id_len;
    char      type[QBSYNC_EVENT_TYPE_MAX + 1];
    size_t    type_len;
    int64_t   created;

    /* why the body was refused, for the client; NUL-terminated */
    char      message[QBSYNC_EVENT_MESSAGE_MAX];
} qbsync_event_t;


/*
 * Told the top-level "id" as soon as it is read and valid (Stripe writes it
 * first); nonzero stops the parse there, with QBSYNC_EVENT_SEEN.
 */
typedef int (*qbsync_event_seen_pt)(void *data, qbsync_event_t *event);


/*
 * Streams the body through yajl and checks the members we use: "id"
 * (evt_...), "type", "created" (an integer), "data" and "data.object"
 * (objects).  INVALID_JSON and INVALID leave the reason in
 * event->message; id, type and created are meaningful on OK only.  ERROR
 * means memory ran out.
 */
qbsync_event_rc_t qbsync_event_parse(const qbsync_chunk_t *body,
    size_t nchunks, qbsync_event_t *event);

/*
 * The same, and in the same pass of yajl the body's tree into tree (NULL
 * for none), set up by qbsync_yajl_some_init(): a webhook that syncs the
 * event reads it once.  The event's verdict does not depend on the tree's;
 * ask qbsync_yajl_some_tree() for that.  seen (NULL for none) is told the
 * id: a redelivery of an event already handled is answered on its id
 * alone, the body being signed, so authentic, and checked when it first
 * came.
 */
qbsync_event_rc_t qbsync_event_parse_tree(const qbsync_chunk_t *body,
    size_t nchunks, qbsync_event_t *event, qbsync_yajl_some_t *tree,
    qbsync_event_seen_pt seen, void *data);


#endif /* _QBSYNC_EVENT_H_INCLUDED_ */
