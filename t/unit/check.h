
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_CHECK_H_INCLUDED_
#define _QBSYNC_CHECK_H_INCLUDED_


#include <stdio.h>
#include <string.h>

#include "qbsync_str.h"
#include "tap.h"
#include "arena.h"


/* Checks that more than one test file makes. */


/* a test name from a body, on one printable line as TAP needs */
static inline const char *
tap_name(const char *prefix, const char *text)
{
    size_t       i;
    static char  name[128];

    snprintf(name, sizeof(name), "%s%s", prefix, text);

    for (i = 0; name[i]; i++) {
        if ((unsigned char) name[i] < 0x20 || (unsigned char) name[i] > 0x7e
            || name[i] == '#')
        {
            name[i] = '?';
        }
    }

    return name;
}


/*
 * What a writer put in buf, as a string, once the byte after it is seen
 * untouched: the callers fill buf with '#' first.
 */
static inline const char *
written_in(const void *buf, size_t size, size_t n)
{
    static char  out[8192];

    if (n >= size || n >= sizeof(out) || ((const char *) buf)[n] != '#') {
        return "(wrote past the returned length)";
    }

    memcpy(out, buf, n);
    out[n] = '\0';

    return out;
}


/* a parsed string, whole (no NUL inside) and in the arena's memory */
static inline void
is_held(arena_t *arena, qbsync_str_t s, const char *expected,
    const char *name)
{
    static char  buf[2048];

    if (s.data == NULL || s.len >= sizeof(buf)) {
        ok(0, name);
        printf("# data %p, len %zu\n", (void *) s.data, s.len);
        return;
    }

    memcpy(buf, s.data, s.len);
    buf[s.len] = '\0';

    if (is_str(buf, expected, name) && s.len != strlen(expected)) {
        ok(0, "  no NUL inside");
        printf("# len %zu\n", s.len);
    }

    if (!arena_holds(arena, s.data, s.len)) {
        ok(0, "  copied into the allocator's memory");
    }
}


#endif /* _QBSYNC_CHECK_H_INCLUDED_ */
