
/*
 * Copyright (C) qbsync authors
 */


#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "qbsync_qbo.h"
#include "qbsync_yajl.h"


/*
 * A bound on nesting, so that a hostile answer costs no more than a real
 * one; QuickBooks' Items nest three levels.
 */
#define QBSYNC_QBO_JSON_DEPTH_MAX  64
#define QBSYNC_QBO_XML_DEPTH_MAX   32


typedef enum {
    QBSYNC_QBO_XML_OTHER = 0,
    QBSYNC_QBO_XML_ROOT,
    QBSYNC_QBO_XML_QUERY,
    QBSYNC_QBO_XML_FAULT,
    QBSYNC_QBO_XML_ERROR,
    QBSYNC_QBO_XML_MESSAGE,
    QBSYNC_QBO_XML_DETAIL
} qbsync_qbo_xml_role_e;


typedef struct {
    const unsigned char    *name;
    size_t                  name_len;
    qbsync_qbo_xml_role_e   role;

    /* the content, from just after the start tag */
    const unsigned char    *content;
    unsigned                children:1;
} qbsync_qbo_xml_element_t;


typedef struct {
    const unsigned char       *pos;
    const unsigned char       *end;
    qbsync_allocator_t        *allocator;
    qbsync_qbo_reply_t        *reply;

    size_t                     depth;
    unsigned                   root_done:1;
    unsigned                   seen_error:1;
    unsigned                   seen_message:1;
    unsigned                   seen_detail:1;

    qbsync_qbo_xml_element_t   stack[QBSYNC_QBO_XML_DEPTH_MAX];
} qbsync_qbo_xml_t;


static qbsync_qbo_rc_t qbsync_qbo_batch_members(const unsigned char *body,
    size_t len, qbsync_allocator_t *allocator, qbsync_qbo_batch_t *batch);
static qbsync_qbo_rc_t qbsync_qbo_json(const unsigned char *body,
    size_t len, qbsync_allocator_t *allocator, qbsync_qbo_reply_t *reply);
static qbsync_qbo_rc_t qbsync_qbo_json_reply(yajl_val root,
    qbsync_allocator_t *allocator, qbsync_qbo_reply_t *reply);
static qbsync_qbo_rc_t qbsync_qbo_json_fault(yajl_val fault,
    qbsync_allocator_t *allocator, qbsync_qbo_reply_t *reply);
static qbsync_qbo_rc_t qbsync_qbo_json_items(yajl_val items,
    qbsync_allocator_t *allocator, qbsync_qbo_reply_t *reply);
static qbsync_qbo_rc_t qbsync_qbo_json_item(yajl_val item,
    qbsync_allocator_t *allocator, qbsync_qbo_item_t *out);
static yajl_val qbsync_qbo_member2(yajl_val object, const char *key,
    const char *other);
static qbsync_qbo_rc_t qbsync_qbo_json_string(yajl_val value,
    size_t max, qbsync_allocator_t *allocator, qbsync_str_t *out);
static qbsync_qbo_rc_t qbsync_qbo_xml(const unsigned char *body,
    size_t len, qbsync_allocator_t *allocator, qbsync_qbo_reply_t *reply);
static qbsync_qbo_rc_t qbsync_qbo_xml_markup(qbsync_qbo_xml_t *x);
static qbsync_qbo_rc_t qbsync_qbo_xml_start(qbsync_qbo_xml_t *x);
static qbsync_qbo_rc_t qbsync_qbo_xml_attribute(qbsync_qbo_xml_t *x,
    qbsync_qbo_xml_role_e role);
static qbsync_qbo_rc_t qbsync_qbo_xml_end(qbsync_qbo_xml_t *x);
static qbsync_qbo_xml_role_e qbsync_qbo_xml_role(qbsync_qbo_xml_t *x,
    const unsigned char *name, size_t len);
static size_t qbsync_qbo_xml_name(const unsigned char *p,
    const unsigned char *end);
static int qbsync_qbo_xml_is(const unsigned char *name, size_t len,
    const char *local);
static const unsigned char *qbsync_qbo_xml_skip_space(
    const unsigned char *p, const unsigned char *end);
static const unsigned char *qbsync_qbo_find(const unsigned char *p,
    const unsigned char *end, const char *what);
static qbsync_qbo_rc_t qbsync_qbo_xml_text(qbsync_qbo_xml_t *x,
    const unsigned char *text, size_t len, size_t max, qbsync_str_t *out);
static size_t qbsync_qbo_xml_reference(const unsigned char *p,
    const unsigned char *end, unsigned char *out, size_t *written);
static size_t qbsync_qbo_utf8_encode(uint32_t code, unsigned char *out);
static void qbsync_qbo_utf8_repair(unsigned char *text, size_t len);
static size_t qbsync_qbo_utf8_cut(const unsigned char *text, size_t len,
    size_t max);
static long qbsync_qbo_code(const unsigned char *text, size_t len);
static qbsync_qbo_rc_t qbsync_qbo_copy(qbsync_allocator_t *allocator,
    const unsigned char *data, size_t len, size_t max, qbsync_str_t *out);
static void qbsync_qbo_empty_reply(qbsync_qbo_reply_t *reply);


/* what an empty or absent string is: never NULL, never in the input */
static const char  qbsync_qbo_empty[] = "";

/*
 * The members read of an answer, in either casing the gateway uses; the
 * rest of an Item (accounts, dates, tax...) is never built into the tree.
 */
static const char *const  qbsync_qbo_keys[] = {
    "Fault", "fault", "QueryResponse", "queryResponse", "Item", "type",
    "Type", "Error", "error", "code", "Code", "Message", "message", "Detail",
    "detail", "Id", "SyncToken", "Name", "Sku", "Active",
    "BatchItemResponse", "batchItemResponse", "bId", NULL
};


qbsync_qbo_rc_t
qbsync_qbo_reply_parse(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_qbo_reply_t *reply)
{
    const unsigned char  *p, *end;
    qbsync_qbo_rc_t       rc;

    qbsync_qbo_empty_reply(reply);

    p = body;
    end = body + len;

    /* a UTF-8 byte order mark, as some gateways send */
    if (end - p >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    p = qbsync_qbo_xml_skip_space(p, end);

    if (p == end) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    if (*p == '<') {
        rc = qbsync_qbo_xml(p, end - p, allocator, reply);

    } else if (*p == '{') {
        rc = qbsync_qbo_json(p, end - p, allocator, reply);

    } else {
        rc = QBSYNC_QBO_UNPARSABLE;
    }

    if (rc != QBSYNC_QBO_OK) {
        qbsync_qbo_empty_reply(reply);
    }

    return rc;
}


/*
 * {"BatchItemResponse": [{"bId", "Item" | "QueryResponse" | "Fault"}]}:
 * each member is read as an answer of its own.  Anything else (a whole
 * batch's Fault, XML) is for qbsync_qbo_reply_parse().
 */
qbsync_qbo_rc_t
qbsync_qbo_batch_parse(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_qbo_batch_t *batch)
{
    qbsync_qbo_rc_t  rc;

    batch->nitems = 0;
    batch->items = NULL;

    rc = qbsync_qbo_batch_members(body, len, allocator, batch);

    if (rc != QBSYNC_QBO_OK) {
        batch->nitems = 0;
        batch->items = NULL;
    }

    return rc;
}


static qbsync_qbo_rc_t
qbsync_qbo_batch_members(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_qbo_batch_t *batch)
{
    size_t                    i, n;
    yajl_val                  root, list, member, bid;
    const char               *problem;
    qbsync_qbo_rc_t           rc;
    qbsync_qbo_batch_item_t  *item;

    /* a UTF-8 byte order mark, as some gateways send */
    if (len >= 3 && body[0] == 0xef && body[1] == 0xbb && body[2] == 0xbf) {
        body += 3;
        len -= 3;
    }

    switch (qbsync_yajl_parse_some(body, len, QBSYNC_QBO_JSON_DEPTH_MAX,
                                   qbsync_qbo_keys, allocator, &root,
                                   &problem))
    {
    case QBSYNC_YAJL_OK:
        break;

    case QBSYNC_YAJL_NOMEM:
        return QBSYNC_QBO_NOMEM;

    default:
        return QBSYNC_QBO_UNPARSABLE;
    }

    list = qbsync_qbo_member2(root, "BatchItemResponse", "batchItemResponse");

    /* the whole batch refused: its Fault is qbsync_qbo_reply_parse()'s */
    if (!YAJL_IS_ARRAY(list)
        || YAJL_IS_OBJECT(qbsync_qbo_member2(root, "Fault", "fault")))
    {
        return QBSYNC_QBO_UNPARSABLE;
    }

    n = list->u.array.len;

    if (n == 0) {
        return QBSYNC_QBO_OK;
    }

    if (n > SIZE_MAX / sizeof(qbsync_qbo_batch_item_t)) {
        return QBSYNC_QBO_NOMEM;
    }

    batch->items = allocator->alloc(allocator->ctx,
                                    n * sizeof(qbsync_qbo_batch_item_t));
    if (batch->items == NULL) {
        return QBSYNC_QBO_NOMEM;
    }

    for (i = 0; i < n; i++) {
        member = list->u.array.values[i];
        item = &batch->items[i];

        qbsync_qbo_empty_reply(&item->reply);
        item->bid.data = qbsync_qbo_empty;
        item->bid.len = 0;

        bid = qbsync_yajl_member(member, "bId");

        if (!YAJL_IS_STRING(bid)) {
            return QBSYNC_QBO_UNPARSABLE;
        }

        rc = qbsync_qbo_json_string(bid, 0, allocator, &item->bid);
        if (rc != QBSYNC_QBO_OK) {
            return rc;
        }

        rc = qbsync_qbo_json_reply(member, allocator, &item->reply);
        if (rc != QBSYNC_QBO_OK) {
            return rc;
        }

        batch->nitems = i + 1;
    }

    return QBSYNC_QBO_OK;
}


/* a tree that could not be built for want of memory looks unparsable */
static qbsync_qbo_rc_t
qbsync_qbo_json(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_qbo_reply_t *reply)
{
    yajl_val     root;
    const char  *problem;

    switch (qbsync_yajl_parse_some(body, len, QBSYNC_QBO_JSON_DEPTH_MAX,
                                   qbsync_qbo_keys, allocator, &root,
                                   &problem))
    {
    case QBSYNC_YAJL_OK:
        return qbsync_qbo_json_reply(root, allocator, reply);

    case QBSYNC_YAJL_NOMEM:
        return QBSYNC_QBO_NOMEM;

    default:
        return QBSYNC_QBO_UNPARSABLE;
    }
}


/*
 * {"Fault"}, {"QueryResponse"} or {"Item"}, with "time" and, from the
 * gateway, more members of either casing around them.  A batch answer
 * ({"BatchItemResponse": [...]}) is none of these.
 */
static qbsync_qbo_rc_t
qbsync_qbo_json_reply(yajl_val root, qbsync_allocator_t *allocator,
    qbsync_qbo_reply_t *reply)
{
    int              known;
    yajl_val         fault, query, items, item;
    qbsync_qbo_rc_t  rc;

    known = 0;

    fault = qbsync_qbo_member2(root, "Fault", "fault");

    if (YAJL_IS_OBJECT(fault)) {
        rc = qbsync_qbo_json_fault(fault, allocator, reply);
        if (rc != QBSYNC_QBO_OK) {
            return rc;
        }

        known = 1;
    }

    query = qbsync_qbo_member2(root, "QueryResponse", "queryResponse");

    if (YAJL_IS_OBJECT(query)) {
        known = 1;

        /* "A query with errors returns QueryResponse containing a Fault" */
        fault = qbsync_qbo_member2(query, "Fault", "fault");

        if (!reply->fault && YAJL_IS_OBJECT(fault)) {
            rc = qbsync_qbo_json_fault(fault, allocator, reply);
            if (rc != QBSYNC_QBO_OK) {
                return rc;
            }
        }

        items = qbsync_yajl_member(query, "Item");

        if (items != NULL) {
            return qbsync_qbo_json_items(items, allocator, reply);
        }

        return QBSYNC_QBO_OK;
    }

    item = qbsync_yajl_member(root, "Item");

    if (YAJL_IS_OBJECT(item)) {
        reply->items = allocator->alloc(allocator->ctx,
                                        sizeof(qbsync_qbo_item_t));
        if (reply->items == NULL) {
            return QBSYNC_QBO_NOMEM;
        }

        reply->nitems = 1;

        return qbsync_qbo_json_item(item, allocator, reply->items);
    }

    return known ? QBSYNC_QBO_OK : QBSYNC_QBO_UNPARSABLE;
}


/* Intuit's casing or the gateway's, member by member */
static qbsync_qbo_rc_t
qbsync_qbo_json_fault(yajl_val fault, qbsync_allocator_t *allocator,
    qbsync_qbo_reply_t *reply)
{
    yajl_val         errors, error, code;
    qbsync_qbo_rc_t  rc;

    reply->fault = 1;

    rc = qbsync_qbo_json_string(qbsync_qbo_member2(fault, "type", "Type"), 0,
                                allocator, &reply->fault_type);
    if (rc != QBSYNC_QBO_OK) {
        return rc;
    }

    errors = qbsync_qbo_member2(fault, "Error", "error");

    if (YAJL_IS_ARRAY(errors)) {
        error = errors->u.array.len ? errors->u.array.values[0] : NULL;

    } else {
        error = errors;
    }

    if (!YAJL_IS_OBJECT(error)) {
        return QBSYNC_QBO_OK;
    }

    code = qbsync_qbo_member2(error, "code", "Code");

    if (YAJL_IS_STRING(code)) {
        reply->code = qbsync_qbo_code((unsigned char *) code->u.string,
                                      strlen(code->u.string));

    } else if (YAJL_IS_NUMBER(code)) {
        reply->code = qbsync_qbo_code((unsigned char *) code->u.number.r,
                                      strlen(code->u.number.r));
    }

    rc = qbsync_qbo_json_string(qbsync_qbo_member2(error, "Message",
                                                   "message"),
                                0, allocator, &reply->message);
    if (rc != QBSYNC_QBO_OK) {
        return rc;
    }

    return qbsync_qbo_json_string(qbsync_qbo_member2(error, "Detail",
                                                     "detail"),
                                  QBSYNC_QBO_DETAIL_MAX, allocator,
                                  &reply->detail);
}


static qbsync_qbo_rc_t
qbsync_qbo_json_items(yajl_val items, qbsync_allocator_t *allocator,
    qbsync_qbo_reply_t *reply)
{
    size_t           i, n;
    qbsync_qbo_rc_t  rc;

    if (!YAJL_IS_ARRAY(items)) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    n = items->u.array.len;

    if (n == 0) {
        return QBSYNC_QBO_OK;
    }

    if (n > SIZE_MAX / sizeof(qbsync_qbo_item_t)) {
        return QBSYNC_QBO_NOMEM;
    }

    reply->items = allocator->alloc(allocator->ctx,
                                    n * sizeof(qbsync_qbo_item_t));
    if (reply->items == NULL) {
        return QBSYNC_QBO_NOMEM;
    }

    reply->nitems = n;

    for (i = 0; i < n; i++) {
        rc = qbsync_qbo_json_item(items->u.array.values[i], allocator,
                                  &reply->items[i]);
        if (rc != QBSYNC_QBO_OK) {
            return rc;
        }
    }

    return QBSYNC_QBO_OK;
}


/*
 * Id and SyncToken are what an update needs, so an Item without them is
 * not an answer we can use; Active is true unless it says otherwise
 * (Intuit: "Active: default true").
 */
static qbsync_qbo_rc_t
qbsync_qbo_json_item(yajl_val item, qbsync_allocator_t *allocator,
    qbsync_qbo_item_t *out)
{
    yajl_val         id, sync_token, name, sku, active;
    qbsync_qbo_rc_t  rc;

    out->id.data = qbsync_qbo_empty;
    out->id.len = 0;
    out->sync_token = out->id;
    out->name = out->id;
    out->sku = out->id;
    out->active = 1;

    if (!YAJL_IS_OBJECT(item)) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    id = qbsync_yajl_member(item, "Id");
    sync_token = qbsync_yajl_member(item, "SyncToken");
    name = qbsync_yajl_member(item, "Name");
    sku = qbsync_yajl_member(item, "Sku");
    active = qbsync_yajl_member(item, "Active");

    if (!YAJL_IS_STRING(id) || id->u.string[0] == '\0'
        || !YAJL_IS_STRING(sync_token) || sync_token->u.string[0] == '\0'
        || (name != NULL && !YAJL_IS_STRING(name))
        || (sku != NULL && !YAJL_IS_STRING(sku) && !YAJL_IS_NULL(sku))
        || (active != NULL && !YAJL_IS_TRUE(active)
            && !YAJL_IS_FALSE(active)))
    {
        return QBSYNC_QBO_UNPARSABLE;
    }

    if (YAJL_IS_FALSE(active)) {
        out->active = 0;
    }

    rc = qbsync_qbo_json_string(id, 0, allocator, &out->id);
    if (rc != QBSYNC_QBO_OK) {
        return rc;
    }

    rc = qbsync_qbo_json_string(sync_token, 0, allocator, &out->sync_token);
    if (rc != QBSYNC_QBO_OK) {
        return rc;
    }

    rc = qbsync_qbo_json_string(name, 0, allocator, &out->name);
    if (rc != QBSYNC_QBO_OK) {
        return rc;
    }

    return qbsync_qbo_json_string(sku, 0, allocator, &out->sku);
}


static yajl_val
qbsync_qbo_member2(yajl_val object, const char *key, const char *other)
{
    yajl_val  value;

    value = qbsync_yajl_member(object, key);

    if (value == NULL || YAJL_IS_NULL(value)) {
        value = qbsync_yajl_member(object, other);
    }

    return value;
}


/* a string value copied, cut to max bytes if max; anything else is "" */
static qbsync_qbo_rc_t
qbsync_qbo_json_string(yajl_val value, size_t max,
    qbsync_allocator_t *allocator, qbsync_str_t *out)
{
    if (!YAJL_IS_STRING(value)) {
        return QBSYNC_QBO_OK;
    }

    return qbsync_qbo_copy(allocator, (unsigned char *) value->u.string,
                           strlen(value->u.string), max, out);
}


/*
 * A small scanner for the XML that Intuit's gateway answers with: one
 * IntuitResponse holding a Fault, with its first Error's code, Message
 * and Detail.  Comments, processing instructions and CDATA are passed
 * over; a DOCTYPE is refused (no entity of its own is ever needed);
 * elements must nest and close.  The success answers come as JSON, as
 * the module asks for it, so an XML answer without a Fault is refused.
 */
static qbsync_qbo_rc_t
qbsync_qbo_xml(const unsigned char *body, size_t len,
    qbsync_allocator_t *allocator, qbsync_qbo_reply_t *reply)
{
    qbsync_qbo_rc_t        rc;
    qbsync_qbo_xml_t       x;
    const unsigned char   *lt;

    memset(&x, 0, sizeof(qbsync_qbo_xml_t));
    x.pos = body;
    x.end = body + len;
    x.allocator = allocator;
    x.reply = reply;

    while (x.pos < x.end) {

        if (*x.pos == '<') {
            rc = qbsync_qbo_xml_markup(&x);
            if (rc != QBSYNC_QBO_OK) {
                return rc;
            }

            continue;
        }

        lt = memchr(x.pos, '<', x.end - x.pos);
        if (lt == NULL) {
            lt = x.end;
        }

        if (x.depth == 0 && qbsync_qbo_xml_skip_space(x.pos, lt) != lt) {
            return QBSYNC_QBO_UNPARSABLE;
        }

        x.pos = lt;
    }

    if (!x.root_done || !reply->fault) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    return QBSYNC_QBO_OK;
}


static qbsync_qbo_rc_t
qbsync_qbo_xml_markup(qbsync_qbo_xml_t *x)
{
    size_t                len;
    const char           *close;
    const unsigned char  *p, *next;

    p = x->pos;
    len = x->end - p;

    if (len >= 2 && p[1] == '?') {
        close = "?>";
        p += 2;

    } else if (len >= 4 && memcmp(p, "<!--", 4) == 0) {
        close = "-->";
        p += 4;

    } else if (len >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
        if (x->depth == 0) {
            return QBSYNC_QBO_UNPARSABLE;
        }

        close = "]]>";
        p += 9;

    } else if (len >= 2 && p[1] == '!') {
        return QBSYNC_QBO_UNPARSABLE;

    } else if (len >= 2 && p[1] == '/') {
        return qbsync_qbo_xml_end(x);

    } else {
        return qbsync_qbo_xml_start(x);
    }

    next = qbsync_qbo_find(p, x->end, close);
    if (next == NULL) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    x->pos = next + strlen(close);

    return QBSYNC_QBO_OK;
}


static qbsync_qbo_rc_t
qbsync_qbo_xml_start(qbsync_qbo_xml_t *x)
{
    size_t                      len;
    qbsync_qbo_rc_t             rc;
    const unsigned char        *name, *p;
    qbsync_qbo_xml_role_e       role;
    qbsync_qbo_xml_element_t   *element;

    name = x->pos + 1;
    len = qbsync_qbo_xml_name(name, x->end);

    if (len == 0 || x->root_done || x->depth == QBSYNC_QBO_XML_DEPTH_MAX) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    role = qbsync_qbo_xml_role(x, name, len);

    if (x->depth == 0 && role != QBSYNC_QBO_XML_ROOT) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    if (x->depth) {
        x->stack[x->depth - 1].children = 1;
    }

    x->pos = name + len;

    for ( ;; ) {
        p = qbsync_qbo_xml_skip_space(x->pos, x->end);

        if (p == x->end) {
            return QBSYNC_QBO_UNPARSABLE;
        }

        if (*p == '>') {
            x->pos = p + 1;
            break;
        }

        if (*p == '/') {
            if (x->end - p < 2 || p[1] != '>') {
                return QBSYNC_QBO_UNPARSABLE;
            }

            /* an empty element: its text, if wanted, stays empty */
            x->pos = p + 2;

            if (x->depth == 0) {
                x->root_done = 1;
            }

            return QBSYNC_QBO_OK;
        }

        if (p == x->pos) {
            return QBSYNC_QBO_UNPARSABLE;
        }

        x->pos = p;

        rc = qbsync_qbo_xml_attribute(x, role);
        if (rc != QBSYNC_QBO_OK) {
            return rc;
        }
    }

    element = &x->stack[x->depth++];
    element->name = name;
    element->name_len = len;
    element->role = role;
    element->content = x->pos;
    element->children = 0;

    return QBSYNC_QBO_OK;
}


/* name="value" or name='value' at x->pos; Fault's type, Error's code */
static qbsync_qbo_rc_t
qbsync_qbo_xml_attribute(qbsync_qbo_xml_t *x, qbsync_qbo_xml_role_e role)
{
    size_t                len;
    const unsigned char  *name, *p, *value, *quote;

    name = x->pos;
    len = qbsync_qbo_xml_name(name, x->end);

    if (len == 0) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    p = qbsync_qbo_xml_skip_space(name + len, x->end);

    if (p == x->end || *p != '=') {
        return QBSYNC_QBO_UNPARSABLE;
    }

    p = qbsync_qbo_xml_skip_space(p + 1, x->end);

    if (p == x->end || (*p != '"' && *p != '\'')) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    value = p + 1;
    quote = memchr(value, *p, x->end - value);

    if (quote == NULL || memchr(value, '<', quote - value) != NULL) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    x->pos = quote + 1;

    if (role == QBSYNC_QBO_XML_FAULT && len == 4
        && memcmp(name, "type", 4) == 0)
    {
        return qbsync_qbo_xml_text(x, value, quote - value, 0,
                                   &x->reply->fault_type);
    }

    if (role == QBSYNC_QBO_XML_ERROR && len == 4
        && memcmp(name, "code", 4) == 0)
    {
        x->reply->code = qbsync_qbo_code(value, quote - value);
    }

    return QBSYNC_QBO_OK;
}


static qbsync_qbo_rc_t
qbsync_qbo_xml_end(qbsync_qbo_xml_t *x)
{
    size_t                      len;
    const unsigned char        *name, *tag, *p;
    qbsync_qbo_xml_element_t   *element;

    tag = x->pos;
    name = tag + 2;
    len = qbsync_qbo_xml_name(name, x->end);
    p = qbsync_qbo_xml_skip_space(name + len, x->end);

    if (x->depth == 0 || p == x->end || *p != '>') {
        return QBSYNC_QBO_UNPARSABLE;
    }

    element = &x->stack[x->depth - 1];

    if (len != element->name_len || memcmp(name, element->name, len) != 0) {
        return QBSYNC_QBO_UNPARSABLE;
    }

    x->pos = p + 1;

    if (--x->depth == 0) {
        x->root_done = 1;
    }

    if (element->children) {
        return QBSYNC_QBO_OK;
    }

    switch (element->role) {

    case QBSYNC_QBO_XML_MESSAGE:
        return qbsync_qbo_xml_text(x, element->content,
                                   tag - element->content, 0,
                                   &x->reply->message);

    case QBSYNC_QBO_XML_DETAIL:
        return qbsync_qbo_xml_text(x, element->content,
                                   tag - element->content,
                                   QBSYNC_QBO_DETAIL_MAX, &x->reply->detail);

    default:
        return QBSYNC_QBO_OK;
    }
}


/*
 * What an element means where it is: the root IntuitResponse, its
 * QueryResponse, the first Fault in either, that Fault's first Error and
 * the Error's first Message and Detail.  Namespace prefixes are ignored.
 */
static qbsync_qbo_xml_role_e
qbsync_qbo_xml_role(qbsync_qbo_xml_t *x, const unsigned char *name,
    size_t len)
{
    if (x->depth == 0) {
        return qbsync_qbo_xml_is(name, len, "IntuitResponse")
               ? QBSYNC_QBO_XML_ROOT : QBSYNC_QBO_XML_OTHER;
    }

    switch (x->stack[x->depth - 1].role) {

    case QBSYNC_QBO_XML_ROOT:
        if (qbsync_qbo_xml_is(name, len, "QueryResponse")) {
            return QBSYNC_QBO_XML_QUERY;
        }

        /* fall through */

    case QBSYNC_QBO_XML_QUERY:
        if (!x->reply->fault && qbsync_qbo_xml_is(name, len, "Fault")) {
            x->reply->fault = 1;
            return QBSYNC_QBO_XML_FAULT;
        }

        break;

    case QBSYNC_QBO_XML_FAULT:
        if (!x->seen_error && qbsync_qbo_xml_is(name, len, "Error")) {
            x->seen_error = 1;
            return QBSYNC_QBO_XML_ERROR;
        }

        break;

    case QBSYNC_QBO_XML_ERROR:
        if (!x->seen_message && qbsync_qbo_xml_is(name, len, "Message")) {
            x->seen_message = 1;
            return QBSYNC_QBO_XML_MESSAGE;
        }

        if (!x->seen_detail && qbsync_qbo_xml_is(name, len, "Detail")) {
            x->seen_detail = 1;
            return QBSYNC_QBO_XML_DETAIL;
        }

        break;

    default:
        break;
    }

    return QBSYNC_QBO_XML_OTHER;
}


/* the length of the name at p: up to a space, '/', '>', '=' or quote */
static size_t
qbsync_qbo_xml_name(const unsigned char *p, const unsigned char *end)
{
    const unsigned char  *start;

    for (start = p; p < end; p++) {
        switch (*p) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
        case '/':
        case '>':
        case '<':
        case '=':
        case '"':
        case '\'':
        case '&':
            return p - start;
        default:
            break;
        }
    }

    return p - start;
}


static int
qbsync_qbo_xml_is(const unsigned char *name, size_t len, const char *local)
{
    size_t                n;
    const unsigned char  *colon;

    colon = memchr(name, ':', len);

    if (colon) {
        len -= colon + 1 - name;
        name = colon + 1;
    }

    n = strlen(local);

    return len == n && memcmp(name, local, n) == 0;
}


static const unsigned char *
qbsync_qbo_xml_skip_space(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }

    return p;
}


static const unsigned char *
qbsync_qbo_find(const unsigned char *p, const unsigned char *end,
    const char *what)
{
    size_t  n;

    n = strlen(what);

    while ((size_t) (end - p) >= n) {
        p = memchr(p, what[0], end - p - n + 1);

        if (p == NULL) {
            return NULL;
        }

        if (memcmp(p, what, n) == 0) {
            return p;
        }

        p++;
    }

    return NULL;
}


/*
 * Character data as it means: references decoded (the five predefined
 * entities and numeric ones; any other is kept as written), CDATA taken
 * as it is, comments and processing instructions dropped.  Each decodes
 * to fewer bytes than it is written in, so len bytes are enough.  Bytes
 * that are not UTF-8 become '?', so that the text is safe to cut and to
 * put in JSON.
 */
static qbsync_qbo_rc_t
qbsync_qbo_xml_text(qbsync_qbo_xml_t *x, const unsigned char *text,
    size_t len, size_t max, qbsync_str_t *out)
{
    size_t                n, used, skip;
    unsigned char        *buf;
    const unsigned char  *p, *end, *close;

    if (len == 0) {
        return QBSYNC_QBO_OK;
    }

    buf = x->allocator->alloc(x->allocator->ctx, len);
    if (buf == NULL) {
        return QBSYNC_QBO_NOMEM;
    }

    p = text;
    end = text + len;
    n = 0;

    while (p < end) {

        if (*p == '&') {
            skip = qbsync_qbo_xml_reference(p, end, &buf[n], &used);
            p += skip;
            n += used;
            continue;
        }

        if (*p != '<') {
            buf[n++] = *p++;
            continue;
        }

        /* the scanner has seen these whole: the markup only differs */
        if (end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            close = qbsync_qbo_find(p + 9, end, "]]>");
            memcpy(&buf[n], p + 9, close - (p + 9));
            n += close - (p + 9);
            p = close + 3;

        } else if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            p = qbsync_qbo_find(p + 4, end, "-->") + 3;

        } else {
            p = qbsync_qbo_find(p + 2, end, "?>") + 2;
        }
    }

    qbsync_qbo_utf8_repair(buf, n);

    if (max) {
        n = qbsync_qbo_utf8_cut(buf, n, max);
    }

    out->data = (const char *) buf;
    out->len = n;

    return QBSYNC_QBO_OK;
}


/*
 * The reference at p (which is '&') into out; returns the bytes read.  A
 * reference that is not one of ours is copied as its '&' alone, and the
 * rest follows as text.
 */
static size_t
qbsync_qbo_xml_reference(const unsigned char *p, const unsigned char *end,
    unsigned char *out, size_t *written)
{
    size_t                i, len, digits;
    uint32_t              code, base, digit;
    const unsigned char  *semicolon;

    static const struct {
        const char     *name;
        unsigned char   c;
    } entities[] = {
        { "amp", '&' }, { "lt", '<' }, { "gt", '>' },
        { "quot", '"' }, { "apos", '\'' }
    };

    *written = 1;
    out[0] = '&';

    /* "&#x10FFFF;" is the longest reference worth reading */
    len = (size_t) (end - p) < 12 ? (size_t) (end - p) : 12;
    semicolon = memchr(p, ';', len);

    if (semicolon == NULL) {
        return 1;
    }

    len = semicolon - (p + 1);

    if (len >= 2 && p[1] == '#') {
        base = (p[2] == 'x') ? 16 : 10;
        i = (base == 16) ? 3 : 2;
        code = 0;
        digits = 0;

        for ( /* void */ ; p + i < semicolon; i++, digits++) {
            if (p[i] >= '0' && p[i] <= '9') {
                digit = p[i] - '0';

            } else if (base == 16 && (p[i] | 0x20) >= 'a'
                       && (p[i] | 0x20) <= 'f')
            {
                digit = (p[i] | 0x20) - 'a' + 10;

            } else {
                return 1;
            }

            code = code * base + digit;

            if (code > 0x10ffff) {
                return 1;
            }
        }

        if (digits == 0 || code == 0
            || (code >= 0xd800 && code <= 0xdfff))
        {
            return 1;
        }

        *written = qbsync_qbo_utf8_encode(code, out);

        return semicolon + 1 - p;
    }

    for (i = 0; i < sizeof(entities) / sizeof(entities[0]); i++) {
        if (strlen(entities[i].name) == len
            && memcmp(p + 1, entities[i].name, len) == 0)
        {
            out[0] = entities[i].c;
            return semicolon + 1 - p;
        }
    }

    return 1;
}


static size_t
qbsync_qbo_utf8_encode(uint32_t code, unsigned char *out)
{
    if (code < 0x80) {
        out[0] = code;
        return 1;
    }

    if (code < 0x800) {
        out[0] = 0xc0 | (code >> 6);
        out[1] = 0x80 | (code & 0x3f);
        return 2;
    }

    if (code < 0x10000) {
        out[0] = 0xe0 | (code >> 12);
        out[1] = 0x80 | ((code >> 6) & 0x3f);
        out[2] = 0x80 | (code & 0x3f);
        return 3;
    }

    out[0] = 0xf0 | (code >> 18);
    out[1] = 0x80 | ((code >> 12) & 0x3f);
    out[2] = 0x80 | ((code >> 6) & 0x3f);
    out[3] = 0x80 | (code & 0x3f);
    return 4;
}


/*
 * A lead byte that starts no well-formed sequence (RFC 3629: no overlong
 * form, no surrogate, nothing past U+10FFFF) becomes '?', and the bytes
 * after it are looked at afresh.
 */
static void
qbsync_qbo_utf8_repair(unsigned char *text, size_t len)
{
    size_t         i, j, n;
    unsigned char  c, lo, hi;

    i = 0;

    while (i < len) {
        c = text[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            lo = (c == 0xe0) ? 0xa0 : 0x80;
            hi = (c == 0xed) ? 0x9f : 0xbf;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            lo = (c == 0xf0) ? 0x90 : 0x80;
            hi = (c == 0xf4) ? 0x8f : 0xbf;

        } else {
            n = 0;
        }

        for (j = 1; j <= n; j++) {
            if (i + j == len || text[i + j] < lo || text[i + j] > hi) {
                break;
            }

            lo = 0x80;
            hi = 0xbf;
        }

        if (n == 0 || j <= n) {
            text[i++] = '?';
            continue;
        }

        i += n + 1;
    }
}


/* at most max bytes, never ending inside a UTF-8 sequence */
static size_t
qbsync_qbo_utf8_cut(const unsigned char *text, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }

    while (max && (text[max] & 0xc0) == 0x80) {
        max--;
    }

    return max;
}


/* "6240" or 6240; anything else, or too large, is no code */
static long
qbsync_qbo_code(const unsigned char *text, size_t len)
{
    long    code;
    size_t  i;

    while (len && (*text == ' ' || *text == '\t')) {
        text++;
        len--;
    }

    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t')) {
        len--;
    }

    if (len == 0) {
        return 0;
    }

    code = 0;

    for (i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9'
            || code > (LONG_MAX - (text[i] - '0')) / 10)
        {
            return 0;
        }

        code = code * 10 + (text[i] - '0');
    }

    return code;
}


static qbsync_qbo_rc_t
qbsync_qbo_copy(qbsync_allocator_t *allocator, const unsigned char *data,
    size_t len, size_t max, qbsync_str_t *out)
{
    char  *copy;

    if (max) {
        len = qbsync_qbo_utf8_cut(data, len, max);
    }

    if (len == 0) {
        return QBSYNC_QBO_OK;
    }

    copy = allocator->alloc(allocator->ctx, len);
    if (copy == NULL) {
        return QBSYNC_QBO_NOMEM;
    }

    memcpy(copy, data, len);

    out->data = copy;
    out->len = len;

    return QBSYNC_QBO_OK;
}


static void
qbsync_qbo_empty_reply(qbsync_qbo_reply_t *reply)
{
    memset(reply, 0, sizeof(qbsync_qbo_reply_t));

    reply->fault_type.data = qbsync_qbo_empty;
    reply->message.data = qbsync_qbo_empty;
    reply->detail.data = qbsync_qbo_empty;
}
