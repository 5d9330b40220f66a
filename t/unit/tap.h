
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_TAP_H_INCLUDED_
#define _QBSYNC_TAP_H_INCLUDED_


#include <stdio.h>
#include <string.h>


/*
 * The smallest TAP producer prove needs: numbered "ok"/"not ok" lines,
 * diagnostics on failure, and the plan printed by done() at the end.
 */

static int  tap_run;
static int  tap_failed;


static inline int
ok(int pass, const char *name)
{
    tap_run++;

    if (!pass) {
        tap_failed++;
    }

    printf("%sok %d - %s\n", pass ? "" : "not ", tap_run, name);

    return pass;
}


static inline int
is_int(long long got, long long expected, const char *name)
{
    if (ok(got == expected, name)) {
        return 1;
    }

    printf("#          got: %lld\n#     expected: %lld\n", got, expected);

    return 0;
}


static inline int
is_str(const char *got, const char *expected, const char *name)
{
    if (ok(got != NULL && strcmp(got, expected) == 0, name)) {
        return 1;
    }

    printf("#          got: \"%s\"\n#     expected: \"%s\"\n",
           got ? got : "(null)", expected);

    return 0;
}


static inline int
done(void)
{
    printf("1..%d\n", tap_run);

    if (tap_failed) {
        printf("# failed %d of %d\n", tap_failed, tap_run);
        return 1;
    }

    return 0;
}


#endif /* _QBSYNC_TAP_H_INCLUDED_ */
