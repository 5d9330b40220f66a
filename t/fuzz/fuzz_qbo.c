
/*
 * Copyright (C) qbsync authors
 */


/*
 * Input: a QuickBooks answer, JSON or XML, read as one answer and as a
 * batch's.  Every string kept must lie inside one allocation of the arena
 * and be UTF-8 as yajl checks it (so that it can go into JSON), the detail
 * must fit its limit, a failed reply must be left empty, and the same
 * body with one allocation failing must be NOMEM.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_qbo.h"
#include "../unit/arena.h"


static arena_t  arena;


/* yajl_string_validate_utf8()'s rule: a lead byte and its continuations */
static int
is_utf8(const unsigned char *s, size_t len)
{
    size_t  i, n;

    i = 0;

    while (i < len) {
        if (s[i] < 0x80) {
            n = 0;

        } else if ((s[i] >> 5) == 0x06) {
            n = 1;

        } else if ((s[i] >> 4) == 0x0e) {
            n = 2;

        } else if ((s[i] >> 3) == 0x1e) {
            n = 3;

        } else {
            return 0;
        }

        if (len - i - 1 < n) {
            return 0;
        }

        for (i++; n; i++, n--) {
            if ((s[i] >> 6) != 0x02) {
                return 0;
            }
        }
    }

    return 1;
}


static void
check_str(const qbsync_str_t *s, int nonempty)
{
    if (!arena_holds(&arena, s->data, s->len) || (nonempty && s->len == 0)
        || !is_utf8((const unsigned char *) s->data, s->len))
    {
        abort();
    }
}


/* what an OK reply holds, alone or as a batch's member */
static void
check_reply(const qbsync_qbo_reply_t *reply)
{
    size_t  i;

    check_str(&reply->fault_type, 0);
    check_str(&reply->message, 0);
    check_str(&reply->detail, 0);

    if (reply->detail.len > QBSYNC_QBO_DETAIL_MAX || reply->code < 0
        || (!reply->fault
            && (reply->code || reply->fault_type.len || reply->message.len
                || reply->detail.len))
        || (reply->nitems == 0) != (reply->items == NULL))
    {
        abort();
    }

    if (reply->nitems
        && !arena_holds(&arena, reply->items,
                        reply->nitems * sizeof(qbsync_qbo_item_t)))
    {
        abort();
    }

    for (i = 0; i < reply->nitems; i++) {
        check_str(&reply->items[i].id, 1);
        check_str(&reply->items[i].sync_token, 1);
        check_str(&reply->items[i].name, 0);
        check_str(&reply->items[i].sku, 0);
    }
}


static qbsync_qbo_rc_t
parse(const uint8_t *data, size_t size)
{
    qbsync_qbo_rc_t      rc;
    qbsync_qbo_reply_t   reply;

    rc = qbsync_qbo_reply_parse(data, size, &arena.allocator, &reply);

    if (rc != QBSYNC_QBO_OK) {
        if (reply.fault || reply.code || reply.nitems || reply.items
            || reply.fault_type.len || reply.message.len || reply.detail.len
            || reply.fault_type.data == NULL || reply.message.data == NULL
            || reply.detail.data == NULL
            || (rc != QBSYNC_QBO_UNPARSABLE && rc != QBSYNC_QBO_NOMEM))
        {
            abort();
        }

        return rc;
    }

    check_reply(&reply);

    return rc;
}


/* the header promises nothing of a batch that failed but its rc */
static qbsync_qbo_rc_t
parse_batch(const uint8_t *data, size_t size)
{
    size_t               i;
    qbsync_qbo_rc_t      rc;
    qbsync_qbo_batch_t   batch;

    rc = qbsync_qbo_batch_parse(data, size, &arena.allocator, &batch);

    if (rc != QBSYNC_QBO_OK) {
        if (rc != QBSYNC_QBO_UNPARSABLE && rc != QBSYNC_QBO_NOMEM) {
            abort();
        }

        return rc;
    }

    if ((batch.nitems == 0) != (batch.items == NULL)
        || (batch.nitems
            && !arena_holds(&arena, batch.items,
                            batch.nitems * sizeof(qbsync_qbo_batch_item_t))))
    {
        abort();
    }

    for (i = 0; i < batch.nitems; i++) {
        check_str(&batch.items[i].bid, 0);
        check_reply(&batch.items[i].reply);
    }

    return rc;
}


/* the body read afresh, the allocation after fail_after failing */
static qbsync_qbo_rc_t
run(qbsync_qbo_rc_t (*reader)(const uint8_t *, size_t), const uint8_t *data,
    size_t size, size_t fail_after)
{
    arena_reset(&arena);
    arena.fail_after = fail_after;

    return reader(data, size);
}


/*
 * One reading of the body must not run out of memory; then the same body
 * with one of its allocations failing must be NOMEM.
 */
static void
check(qbsync_qbo_rc_t (*reader)(const uint8_t *, size_t),
    const uint8_t *data, size_t size)
{
    size_t  count;

    if (run(reader, data, size, (size_t) -1) == QBSYNC_QBO_NOMEM) {
        abort();
    }

    count = arena.count;

    if (count
        && (run(reader, data, size, size % count) != QBSYNC_QBO_NOMEM
            || run(reader, data, size, count - 1) != QBSYNC_QBO_NOMEM))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_init(&arena);

    check(parse, data, size);
    check(parse_batch, data, size);

    arena_reset(&arena);

    return 0;
}
