
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_ARENA_H_INCLUDED_
#define _QBSYNC_ARENA_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "qbsync_str.h"


/*
 * A qbsync_allocator_t for tests and fuzzers, freed all at once like a
 * pool.  Each piece is its own malloc() so that AddressSanitizer and
 * valgrind catch a read or write past it; fail_after makes the allocation
 * after that many fail, to walk every NOMEM path.
 */

typedef union arena_piece_u  arena_piece_t;

union arena_piece_u {
    struct {
        arena_piece_t  *next;
        size_t          size;
    }                   header;
    max_align_t         align;
};


typedef struct {
    qbsync_allocator_t   allocator;
    arena_piece_t       *pieces;
    size_t               count;        /* allocations that succeeded */
    size_t               fail_after;   /* (size_t) -1: never fail */
} arena_t;


static inline void *
arena_alloc(void *ctx, size_t size)
{
    arena_t        *arena = ctx;
    arena_piece_t  *piece;

    if (arena->count == arena->fail_after
        || size > (size_t) -1 - sizeof(arena_piece_t))
    {
        return NULL;
    }

    piece = malloc(sizeof(arena_piece_t) + size);
    if (piece == NULL) {
        return NULL;
    }

    piece->header.next = arena->pieces;
    piece->header.size = size;
    arena->pieces = piece;
    arena->count++;

    return piece + 1;
}


static inline void
arena_init(arena_t *arena)
{
    arena->allocator.alloc = arena_alloc;
    arena->allocator.ctx = arena;
    arena->pieces = NULL;
    arena->count = 0;
    arena->fail_after = (size_t) -1;
}


/* frees every piece; the arena can be used again */
static inline void
arena_reset(arena_t *arena)
{
    arena_piece_t  *piece, *next;

    for (piece = arena->pieces; piece; piece = next) {
        next = piece->header.next;
        free(piece);
    }

    arena->pieces = NULL;
    arena->count = 0;
}


/* whether [data, data + len) lies inside one piece; len 0 needs non-NULL */
static inline int
arena_holds(const arena_t *arena, const void *data, size_t len)
{
    uintptr_t             p, start;
    const arena_piece_t  *piece;

    if (data == NULL) {
        return 0;
    }

    if (len == 0) {
        return 1;
    }

    p = (uintptr_t) data;

    for (piece = arena->pieces; piece; piece = piece->header.next) {
        start = (uintptr_t) (piece + 1);

        if (p >= start && len <= piece->header.size
            && p - start <= piece->header.size - len)
        {
            return 1;
        }
    }

    return 0;
}


#endif /* _QBSYNC_ARENA_H_INCLUDED_ */
