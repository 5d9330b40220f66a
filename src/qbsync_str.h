
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_STR_H_INCLUDED_
#define _QBSYNC_STR_H_INCLUDED_


#include <stddef.h>


/* A byte string the pure code hands back: not NUL-terminated. */
typedef struct {
    const char  *data;
    size_t       len;
} qbsync_str_t;


/*
 * Where the pure parsers put the strings they keep: the nginx glue passes
 * the request's pool, the tests an arena.  Memory is never freed one piece
 * at a time; NULL means out of memory.
 */
typedef void *(*qbsync_alloc_pt)(void *ctx, size_t size);

typedef struct {
    qbsync_alloc_pt   alloc;
    void             *ctx;
} qbsync_allocator_t;


#endif /* _QBSYNC_STR_H_INCLUDED_ */
