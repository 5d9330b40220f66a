
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_UTF8_H_INCLUDED_
#define _QBSYNC_UTF8_H_INCLUDED_


#include <stddef.h>


/*
 * Plain, slow UTF-8 rules for tests and fuzzers to hold the module's own
 * against: no overlong form, no surrogate, nothing past U+10FFFF.
 */

static inline int
utf8_valid(const char *text, size_t len)
{
    size_t               i, n, k;
    unsigned long        cp, min;
    const unsigned char  *s = (const unsigned char *) text;

    for (i = 0; i < len; i += n) {
        if (s[i] < 0x80) {
            n = 1;
            continue;
        }

        if ((s[i] & 0xe0) == 0xc0) {
            n = 2; cp = s[i] & 0x1f; min = 0x80;

        } else if ((s[i] & 0xf0) == 0xe0) {
            n = 3; cp = s[i] & 0x0f; min = 0x800;

        } else if ((s[i] & 0xf8) == 0xf0) {
            n = 4; cp = s[i] & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = cp << 6 | (s[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


/* of valid UTF-8 */
static inline size_t
code_points(const char *text, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        n += (text[i] & 0xc0) != 0x80;
    }

    return n;
}


#endif /* _QBSYNC_UTF8_H_INCLUDED_ */
