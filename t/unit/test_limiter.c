
/*
 * Copyright (C) qbsync authors
 */


#include <stdio.h>
#include <string.h>
#include <stdint.h>

#include "qbsync_limiter.h"
#include "tap.h"


#define SECOND  1000000ULL
#define MINUTE  (60 * SECOND)


static qbsync_limits_t
quickbooks(void)
{
    qbsync_limits_t  limits;

    limits.per_minute = 500;
    limits.concurrency = 10;
    limits.batch_per_minute = 40;
    limits.cooldown = MINUTE;
    limits.lease = 60 * SECOND;

    return limits;
}


/*
 * Callers that each ask at a time of their own, wait as told and call as
 * soon as allowed, each call ending at once: the start times, in order.
 */
static uint32_t
drive(qbsync_limiter_t *limiter, const qbsync_limits_t *limits,
    uint64_t until, uint64_t *starts, uint32_t max)
{
    uint32_t             n;
    uint64_t             now, slot, wait, ticket;
    qbsync_limiter_rc_e  rc;

    n = 0;
    now = 0;

    while (now < until && n < max) {
        slot = 0;

        for ( ;; ) {
            rc = qbsync_limiter_acquire(limiter, limits, now, 1, 0, MINUTE,
                                        &slot, &wait, &ticket);
            if (rc != QBSYNC_LIMITER_WAIT) {
                break;
            }

            now += wait;
        }

        if (rc != QBSYNC_LIMITER_GO) {
            break;
        }

        starts[n++] = now;
        qbsync_limiter_release(limiter, ticket);
        qbsync_limiter_success(limiter, limits);

        /* the next caller comes at a jittery moment, mostly early */
        now += (n * 7919) % 3000;
    }

    return n;
}


/* the most calls that started in any window of that length */
static uint32_t
most_in(const uint64_t *starts, uint32_t n, uint64_t window)
{
    uint32_t  i, j, most;

    most = 0;
    j = 0;

    for (i = 0; i < n; i++) {
        while (starts[i] - starts[j] >= window) {
            j++;
        }

        if (i - j + 1 > most) {
            most = i - j + 1;
        }
    }

    return most;
}


static void
test_spacing(void)
{
    char              name[128];
    uint32_t          n;
    qbsync_limits_t   limits;
    qbsync_limiter_t  limiter;
    static uint64_t   starts[4000];

    limits = quickbooks();
    memset(&limiter, 0, sizeof(limiter));

    is_int((long long) qbsync_limiter_interval(&limiter, &limits), 126316,
           "500r/m is spaced for 95 %: a call every 126.316 ms");

    n = drive(&limiter, &limits, 5 * MINUTE, starts, 4000);

    snprintf(name, sizeof(name), "5 minutes of eager callers: %u calls, "
             "475 a minute", n);
    ok(n >= 5 * 475 - 1 && n <= 5 * 475 + 1, name);

    snprintf(name, sizeof(name), "no sliding minute holds more than the "
             "rate (%u)", most_in(starts, n, MINUTE));
    ok(most_in(starts, n, MINUTE) <= 476, name);

    snprintf(name, sizeof(name), "no second holds more than 10 (%u)",
             most_in(starts, n, SECOND));
    ok(most_in(starts, n, SECOND) <= 8, name);

    ok(most_in(starts, n, 126315) == 1, "no burst: never two calls within "
       "one spacing");
}


static void
test_reservations_queue(void)
{
    uint32_t             i;
    uint64_t             slots[5], waits[5], ticket;
    qbsync_limits_t      limits;
    qbsync_limiter_t     limiter;
    qbsync_limiter_rc_e  rc;

    limits = quickbooks();
    memset(&limiter, 0, sizeof(limiter));

    for (i = 0; i < 5; i++) {
        slots[i] = 0;
        rc = qbsync_limiter_acquire(&limiter, &limits, 1000, 1, 0, MINUTE,
                                    &slots[i], &waits[i], &ticket);
        if (i == 0) {
            is_int(rc, QBSYNC_LIMITER_GO, "the first caller goes at once");

        } else {
            is_int(rc, QBSYNC_LIMITER_WAIT, "the others wait");
            is_int((long long) waits[i], (long long) (i * 126316),
                   "each its own slot, one spacing after the last");
        }
    }

    rc = qbsync_limiter_acquire(&limiter, &limits, 1000 + 2 * 126316, 1, 0,
                                MINUTE, &slots[2], &waits[2], &ticket);
    is_int(rc, QBSYNC_LIMITER_GO, "a caller back at its slot goes");

    slots[0] = 0;
    rc = qbsync_limiter_acquire(&limiter, &limits, 1000, 1, 0, 300000,
                                &slots[0], &waits[0], &ticket);
    is_int(rc, QBSYNC_LIMITER_REFUSED, "a wait past the budget is refused");
    is_int((long long) waits[0], 5 * 126316, "and says how long it would be");
    is_int((long long) limiter.next_slot, 1000 + 5 * 126316,
           "a refusal reserves nothing");
}


static void
test_concurrency_and_leases(void)
{
    uint32_t             i;
    uint64_t             slot, wait, tickets[3];
    qbsync_limits_t      limits;
    qbsync_limiter_t     limiter;
    qbsync_limiter_rc_e  rc;

    limits = quickbooks();
    limits.concurrency = 2;
    limits.per_minute = 6000000;   /* spacing out of the way: 10 us */
    limits.lease = 30 * SECOND;
    memset(&limiter, 0, sizeof(limiter));

    for (i = 0; i < 2; i++) {
        slot = 0;
        rc = qbsync_limiter_acquire(&limiter, &limits, i * SECOND, 1, 0,
                                    MINUTE, &slot, &wait, &tickets[i]);
        is_int(rc, QBSYNC_LIMITER_GO, "a call within the concurrency goes");
    }

    slot = 0;
    rc = qbsync_limiter_acquire(&limiter, &limits, 2 * SECOND, 1, 0, MINUTE,
                                &slot, &wait, &tickets[2]);
    is_int(rc, QBSYNC_LIMITER_WAIT, "a third waits for a call to end");
    is_int((long long) wait, 50000, "polling every 50 ms");

    qbsync_limiter_release(&limiter, tickets[0]);
    rc = qbsync_limiter_acquire(&limiter, &limits, 2 * SECOND + 50000, 1, 0,
                                MINUTE, &slot, &wait, &tickets[2]);
    is_int(rc, QBSYNC_LIMITER_GO, "and goes once one has");

    qbsync_limiter_release(&limiter, tickets[0]);
    is_int(limiter.in_flight, 2, "a second release of one lease is a no-op");

    /* the two calls left never end: their worker died */
    slot = 0;
    rc = qbsync_limiter_acquire(&limiter, &limits, 30 * SECOND + 500000, 1, 0,
                                MINUTE, &slot, &wait, &tickets[0]);
    is_int(rc, QBSYNC_LIMITER_WAIT, "the dead worker's leases still count");

    rc = qbsync_limiter_acquire(&limiter, &limits, 32 * SECOND + 100000, 1,
                                0, MINUTE, &slot, &wait, &tickets[0]);
    is_int(rc, QBSYNC_LIMITER_GO, "until they expire");
    is_int(limiter.in_flight, 1, "both expired, one taken");

    slot = 0;
    rc = qbsync_limiter_acquire(&limiter, &limits, 40 * SECOND, 1, 0, 10000,
                                &slot, &wait, &tickets[1]);
    is_int(rc, QBSYNC_LIMITER_GO, "a free lease needs no budget");
}


static void
test_throttle(void)
{
    uint32_t             i;
    uint64_t             slot, wait, ticket, reserved;
    qbsync_limits_t      limits;
    qbsync_limiter_t     limiter;
    qbsync_limiter_rc_e  rc;

    limits = quickbooks();
    memset(&limiter, 0, sizeof(limiter));

    reserved = 0;
    slot = 0;
    (void) qbsync_limiter_acquire(&limiter, &limits, 0, 1, 0, MINUTE, &slot,
                                  &wait, &ticket);
    (void) qbsync_limiter_acquire(&limiter, &limits, 0, 1, 0, MINUTE,
                                  &reserved, &wait, &ticket);

    qbsync_limiter_throttled(&limiter, &limits, 10 * SECOND, 0);
    is_int(limiter.rate, 250, "a 429 halves the rate");
    qbsync_limiter_throttled(&limiter, &limits, 11 * SECOND, 0);
    is_int(limiter.rate, 250, "the 429s of one cooldown halve it once");
    is_int((long long) limiter.cooldown_until, 71 * SECOND,
           "the quiet lasts the cooldown from the last 429");

    rc = qbsync_limiter_acquire(&limiter, &limits, 12 * SECOND, 1, 0, MINUTE,
                                &reserved, &wait, &ticket);
    is_int(rc, QBSYNC_LIMITER_WAIT, "a slot reserved before the 429 is void");
    is_int((long long) wait, 59 * SECOND, "it waits out the cooldown");

    slot = 0;
    rc = qbsync_limiter_acquire(&limiter, &limits, 12 * SECOND, 1, 0,
                                5 * SECOND, &slot, &wait, &ticket);
    is_int(rc, QBSYNC_LIMITER_REFUSED, "a caller with 5 s left is refused");
    ok(wait > 59 * SECOND, "told to come back after the cooldown");

    qbsync_limiter_throttled(&limiter, &limits, 100 * SECOND, 2 * SECOND);
    is_int((long long) limiter.cooldown_until, 102 * SECOND,
           "QuickBooks' own Retry-After wins over the cooldown");
    is_int(limiter.rate, 125, "a 429 after the cooldown halves it again");

    for (i = 0; i < 100; i++) {
        qbsync_limiter_success(&limiter, &limits);
    }

    is_int(limiter.rate, 500, "successes raise it back to the limit, "
           "10 a minute at a time");

    limits.per_minute = 100;
    is_int((long long) qbsync_limiter_interval(&limiter, &limits), 631579,
           "a limit lowered by a reload applies at once");
}


static void
test_batches(void)
{
    uint64_t             slot, wait, ticket;
    qbsync_limits_t      limits;
    qbsync_limiter_t     limiter;
    qbsync_limiter_rc_e  rc;

    limits = quickbooks();
    memset(&limiter, 0, sizeof(limiter));

    slot = 0;
    rc = qbsync_limiter_acquire(&limiter, &limits, 0, 30, 1, MINUTE, &slot,
                                &wait, &ticket);
    is_int(rc, QBSYNC_LIMITER_GO, "a batch of 30 goes");
    is_int((long long) limiter.next_slot, 30 * 126316,
           "and takes 30 spacings of the rate");
    is_int((long long) limiter.next_batch_slot, 1578948,
           "and one of the 40 batches a minute");
    qbsync_limiter_release(&limiter, ticket);

    slot = 0;
    rc = qbsync_limiter_acquire(&limiter, &limits, 0, 1, 0, MINUTE, &slot,
                                &wait, &ticket);
    is_int(rc, QBSYNC_LIMITER_WAIT, "a single call after it waits its turn");
    is_int((long long) wait, 30 * 126316, "behind the batch's entries");
}


int
main(void)
{
    test_spacing();
    test_reservations_queue();
    test_concurrency_and_leases();
    test_throttle();
    test_batches();

    return done();
}
