
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_CHUNK_H_INCLUDED_
#define _QBSYNC_CHUNK_H_INCLUDED_


#include <stddef.h>


/*
 * A request body reaches the pure code as nginx holds it: one or more
 * memory pieces, in order.  The pure code never copies them into one.
 */
typedef struct {
    const unsigned char  *data;
    size_t                len;
} qbsync_chunk_t;


#endif /* _QBSYNC_CHUNK_H_INCLUDED_ */
