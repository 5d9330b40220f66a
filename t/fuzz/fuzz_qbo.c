
/*
 * Copyright (C) qbsync authors
 */


/*
 * Input: a QuickBooks answer, JSON or XML.  Every string kept must lie
 * inside one allocation of the arena and be UTF-8 as yajl checks it (so
 * that it can go into JSON), the detail must fit its limit, a failure
 * must leave the reply empty, and the same body with one allocation
 * failing must be NOMEM.
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


static qbsync_qbo_rc_t
parse(const uint8_t *data, size_t size, size_t fail_after)
{
    size_t               i;
    qbsync_qbo_rc_t      rc;
    qbsync_qbo_reply_t   reply;

    arena_reset(&arena);
    arena.fail_after = fail_after;

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

    check_str(&reply.fault_type, 0);
    check_str(&reply.message, 0);
    check_str(&reply.detail, 0);

    if (reply.detail.len > QBSYNC_QBO_DETAIL_MAX || reply.code < 0
        || (!reply.fault
            && (reply.code || reply.fault_type.len || reply.message.len
                || reply.detail.len))
        || (reply.nitems == 0) != (reply.items == NULL))
    {
        abort();
    }

    if (reply.nitems
        && !arena_holds(&arena, reply.items,
                        reply.nitems * sizeof(qbsync_qbo_item_t)))
    {
        abort();
    }

    for (i = 0; i < reply.nitems; i++) {
        check_str(&reply.items[i].id, 1);
        check_str(&reply.items[i].sync_token, 1);
        check_str(&reply.items[i].name, 0);
        check_str(&reply.items[i].sku, 0);
    }

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t           count;
    qbsync_qbo_rc_t  rc;

    arena_init(&arena);

    rc = parse(data, size, (size_t) -1);
    count = arena.count;

    if (rc == QBSYNC_QBO_NOMEM) {
        abort();
    }

    if (count
        && (parse(data, size, size % count) != QBSYNC_QBO_NOMEM
            || parse(data, size, count - 1) != QBSYNC_QBO_NOMEM))
    {
        abort();
    }

    arena_reset(&arena);

    return 0;
}
