
/*
 * Copyright (C) qbsync authors
 */


/*
 * Input: one byte that says how to cut, then the body.  The body is
 * parsed in one to three chunks, each in its own allocation so that a
 * read past a chunk is caught, and the verdict must be the one given for
 * the body in one piece.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_event.h"
#include "../unit/arena.h"
#include "../unit/tree.h"


/* a few members kept, to reach both the kept and the skipped paths */
static const char *const  fuzz_event_keep[] = {
    "id", "data", "object", "name", "a", NULL
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t              i, n, len, cuts[4];
    uint8_t             how;
    arena_t             arena, alone;
    yajl_val            tree, expected_tree;
    const char         *problem;
    qbsync_chunk_t      whole, chunks[3];
    qbsync_event_t      expected, event;
    qbsync_yajl_rc_t    tree_rc, alone_rc;
    qbsync_event_rc_t   rc;
    qbsync_yajl_some_t  some;

    if (size == 0) {
        return 0;
    }

    how = data[0];
    data++;
    len = size - 1;

    n = 1 + how % 3;
    cuts[0] = 0;
    cuts[1] = len * ((how >> 2) & 7) / 7;
    cuts[2] = cuts[1] + (len - cuts[1]) * ((how >> 5) & 7) / 7;
    cuts[n] = len;

    for (i = 0; i < n; i++) {
        chunks[i].len = cuts[i + 1] - cuts[i];
        chunks[i].data = malloc(chunks[i].len);

        if (chunks[i].data == NULL && chunks[i].len) {
            abort();
        }

        if (chunks[i].len) {
            memcpy((void *) chunks[i].data, data + cuts[i], chunks[i].len);
        }
    }

    whole.data = data;
    whole.len = len;

    rc = qbsync_event_parse(&whole, 1, &expected);

    if (qbsync_event_parse(chunks, n, &event) != rc
        || memcmp(&event, &expected, sizeof(qbsync_event_t)) != 0
        || memchr(event.message, '\0', sizeof(event.message)) == NULL
        || (rc == QBSYNC_EVENT_OK) != (event.message[0] == '\0')
        || rc == QBSYNC_EVENT_ERROR
        || (rc == QBSYNC_EVENT_OK
            && (event.id_len < 4 || memcmp(event.id, "evt_", 4) != 0
                || event.type_len == 0)))
    {
        abort();
    }

    /*
     * The tree built in the event's own pass, from the pieces, is the one
     * the tree parser builds alone from the whole text.
     */
    arena_init(&arena);
    arena_init(&alone);

    if (qbsync_yajl_some_init(&some, 8, fuzz_event_keep, &arena.allocator)
        != 0
        || qbsync_event_parse_tree(chunks, n, &event, &some, NULL, NULL)
           != rc
        || memcmp(&event, &expected, sizeof(qbsync_event_t)) != 0)
    {
        abort();
    }

    if (rc == QBSYNC_EVENT_OK) {
        tree_rc = qbsync_yajl_some_tree(&some, &tree, &problem);
        alone_rc = qbsync_yajl_parse_some(data, len, 8, fuzz_event_keep,
                                          &alone.allocator, &expected_tree,
                                          &problem);

        if (tree_rc != alone_rc
            || (tree_rc == QBSYNC_YAJL_OK
                && !tree_same(tree, expected_tree)))
        {
            abort();
        }
    }

    arena_reset(&arena);
    arena_reset(&alone);

    for (i = 0; i < n; i++) {
        free((void *) chunks[i].data);
    }

    return 0;
}

