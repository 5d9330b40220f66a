
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_ITEM_H_INCLUDED_
#define _QBSYNC_ITEM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "qbsync_str.h"


/* QuickBooks' limits, in Unicode code points */
#define QBSYNC_ITEM_NAME_MAX          100
#define QBSYNC_ITEM_DESCRIPTION_MAX   4000

/* bytes for the longest name or description, UTF-8 */
#define QBSYNC_ITEM_NAME_SIZE         (4 * QBSYNC_ITEM_NAME_MAX)
#define QBSYNC_ITEM_DESCRIPTION_SIZE  (4 * QBSYNC_ITEM_DESCRIPTION_MAX)

/* QuickBooks takes at most 50 characters in a requestid */
#define QBSYNC_ITEM_REQUEST_ID_MAX    50

/* and 36 in a batch's, whose bIds may then have at most 10 */
#define QBSYNC_ITEM_BATCH_REQUEST_ID_MAX  36
#define QBSYNC_ITEM_BATCH_ID_MAX          10


/*
 * An Item as the Stripe product owns it: every write sends all of these,
 * and QuickBooks' other fields are never touched.  Strings are UTF-8,
 * not NUL-terminated unless said so.
 */
typedef struct {
    const char   *name;              /* already through qbsync_item_name() */
    size_t        name_len;
    const char   *description;       /* already cut; length 0 clears it */
    size_t        description_len;
    const char   *sku;               /* the Stripe product id */
    size_t        sku_len;
    /* "Service" or "NonInventory", NUL-terminated */
    const char   *type;
    const char   *income_account;    /* account Id, NUL-terminated */
    const char   *expense_account;   /* account Id, NUL-terminated */
    int           active;
    const char   *unit_price;        /* plain decimal; NULL leaves it alone */
    size_t        unit_price_len;
} qbsync_item_t;


/*
 * The name rules: tabs, CR, LF and ':' become spaces, runs of spaces
 * collapse to one, the result is trimmed, cut to its first 100 code points
 * (never inside a UTF-8 sequence) and trimmed again.  Invalid UTF-8 is not
 * expected here (yajl validated it).  Returns the bytes written, 0 if
 * nothing is left (a name of spaces and colons) or size is too small.
 */
size_t qbsync_item_name(const char *name, size_t len, char *out, size_t size);

/*
 * "<name> (<product id>)" for a name another product's item already holds:
 * the name part is cut (at a code point) and trimmed so that the whole is
 * at most 100 code points.  name is a result of qbsync_item_name().
 * Returns the bytes written, 0 if the name is empty, the id is empty or
 * has a space, tab, CR, LF or ':', the id leaves no room for the name, or
 * size is too small.
 */
size_t qbsync_item_name_with_suffix(const char *name, size_t len,
    const char *product_id, size_t id_len, char *out, size_t size);

/*
 * The first 4,000 code points of a description.  Returns the bytes
 * written, 0 for an empty description or if size is too small.
 */
size_t qbsync_item_description(const char *description, size_t len,
    char *out, size_t size);

/*
 * JSON request bodies, written with yajl_gen into buf; each returns the
 * bytes written, or 0 if they do not fit, a string is not UTF-8, the name
 * or Sku is empty, or unit_price is not a plain decimal as written by
 * qbsync_money_format().
 *
 * create: {"Name", "Sku", "Description", "Type", "IncomeAccountRef":
 * {"value"}, "ExpenseAccountRef": {"value"}, "Active", "UnitPrice"}, the
 * unit price as a JSON number written exactly as given, and left out when
 * item->unit_price is NULL.
 *
 * update: the same fields after {"sparse": true, "Id", "SyncToken"},
 * less those it has no value for: a NULL description leaves out
 * Description, a NULL type leaves out Type and both account references,
 * so that a deactivation or a price change touches nothing else.
 */
size_t qbsync_item_create_body(const qbsync_item_t *item, unsigned char *buf,
    size_t size);
size_t qbsync_item_update_body(const qbsync_item_t *item, const char *id,
    size_t id_len, const char *sync_token, size_t sync_token_len,
    unsigned char *buf, size_t size);

/*
 * A 64-bit digest of every field the sync writes (a NULL unit price
 * differs from any price): when it equals the last one written, nothing
 * changed and QuickBooks is not called.  Stable across runs and machines.
 */
uint64_t qbsync_item_hash(const qbsync_item_t *item);

/*
 * The value of the query parameter of GET .../query, URL-encoded (RFC 3986
 * unreserved characters kept, everything else %XX):
 *
 *   select * from Item where Sku = '<sku>' and Active in (true, false)
 *   select * from Item where Name = '<name>' and Active in (true, false)
 *
 * with \ and ' in the value escaped by a backslash, as QuickBooks' query
 * language wants.  An inactive item still holds its name and Sku, hence
 * the Active clause.  Returns the bytes written, 0 if they do not fit.
 */
size_t qbsync_item_query_by_sku(const char *sku, size_t len, char *out,
    size_t size);
size_t qbsync_item_query_by_name(const char *name, size_t len, char *out,
    size_t size);

/*
 * One look-up for many items:
 *
 *   select * from Item where <field> in ('<v1>', '<v2>', ...)
 *   and Active in (true, false) maxresults 1000
 *
 * escaped and URL-encoded as above; n is at least 1 (1,000 answers is
 * QuickBooks' page, far above the values a caller asks for at once).
 */
size_t qbsync_item_query_in(const char *field, const qbsync_str_t *values,
    size_t n, char *out, size_t size);

/*
 * QuickBooks' requestid for a write: "<operation>-" followed by hex digits
 * of SHA-256(event id, NUL, operation, NUL, body), QBSYNC_ITEM_REQUEST_ID_MAX
 * characters in all.  A redelivered event that sends the same body again
 * gets QuickBooks' first answer instead of a second item; a changed body
 * (a suffixed name, a fresh SyncToken) is a new request.  out must have
 * room for QBSYNC_ITEM_REQUEST_ID_MAX + 1 bytes; it is NUL-terminated.
 * Returns the length, or 0 if the operation name is longer than 8 bytes
 * or the digest fails (out of memory).
 */
size_t qbsync_item_request_id(const char *event_id, size_t id_len,
    const char *operation, const unsigned char *body, size_t body_len,
    char *out);

/*
 * A batch's requestid: "batch-" and hex digits of SHA-256 of "", NUL,
 * "batch", NUL and its whole body (qbsync_item_request_id()'s digest
 * with no event), QBSYNC_ITEM_BATCH_REQUEST_ID_MAX characters: a batch
 * sent again after a lost answer or an interrupted run gets QuickBooks'
 * first answer.
 */
size_t qbsync_item_batch_request_id(const unsigned char *body, size_t len,
    char *out);


#endif /* _QBSYNC_ITEM_H_INCLUDED_ */
