
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_QBO_H_INCLUDED_
#define _QBSYNC_QBO_H_INCLUDED_


#include <stddef.h>

#include "qbsync_str.h"


/* a fault's detail is cut to this many bytes (never inside UTF-8) */
#define QBSYNC_QBO_DETAIL_MAX  400


typedef struct {
    qbsync_str_t   id;
    qbsync_str_t   sync_token;
    qbsync_str_t   name;
    qbsync_str_t   sku;             /* empty when the item has none */
    unsigned       active:1;
} qbsync_qbo_item_t;


/*
 * What QuickBooks answered.  A Fault comes as JSON with either casing
 * ({"Fault": {"Error": [{"Message", "Detail", "code"}], "type"}} or
 * {"fault": {"error": [{"message", "detail", "code"}], "type"}}) or as XML
 * (<IntuitResponse><Fault type="..."><Error code="..."><Message>
 * <Detail>), also inside a 200 answer and inside QueryResponse.  items are
 * QueryResponse.Item[] for a query (none when QueryResponse is {}) or the
 * one Item of a create, read or update answer.
 */
typedef struct {
    unsigned            fault:1;
    qbsync_str_t        fault_type;     /* "ValidationFault", "SERVICE", ... */
    long                code;           /* the first error's code; 0 if none */
    qbsync_str_t        message;        /* the first error's */
    qbsync_str_t        detail;         /* the first error's, cut */
    size_t              nitems;
    qbsync_qbo_item_t  *items;
} qbsync_qbo_reply_t;


typedef enum {
    QBSYNC_QBO_OK = 0,
    QBSYNC_QBO_UNPARSABLE,   /* neither JSON nor XML of these shapes */
    QBSYNC_QBO_NOMEM
} qbsync_qbo_rc_t;


/* A batch answer: one answer per operation, with its bId. */
typedef struct {
    qbsync_str_t        bid;
    qbsync_qbo_reply_t  reply;
} qbsync_qbo_batch_item_t;


typedef struct {
    size_t                    nitems;
    qbsync_qbo_batch_item_t  *items;
} qbsync_qbo_batch_t;


/* Strings are copied with allocator; a body starting with '<' is XML. */
qbsync_qbo_rc_t qbsync_qbo_reply_parse(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_qbo_reply_t *reply);

/*
 * A batch answer, JSON only; its members in QuickBooks' order, which need
 * not be the request's: match them by bId.  An answer with a Fault of its
 * own (the whole batch refused) is UNPARSABLE here, and a reply for
 * qbsync_qbo_reply_parse(); on any failure batch is left empty.
 */
qbsync_qbo_rc_t qbsync_qbo_batch_parse(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_qbo_batch_t *batch);


#endif /* _QBSYNC_QBO_H_INCLUDED_ */
