
/*
 * Copyright (C) qbsync authors
 */


#include "qbsync_limiter.h"


/*
 * The share of the rate used: calls spaced for 95 % of it never cross the
 * limit in any sliding minute, however the workers' timers jitter.
 */
#define QBSYNC_LIMITER_SHARE  95

/* how long a caller waits when every lease is taken, in microseconds */
#define QBSYNC_LIMITER_POLL   50000

#define QBSYNC_LIMITER_MINUTE  60000000ULL


static uint32_t qbsync_limiter_rate(qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits);
static uint64_t qbsync_limiter_spacing(uint32_t per_minute);
static void qbsync_limiter_expire(qbsync_limiter_t *limiter, uint64_t now);
static int qbsync_limiter_lease(qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits, uint64_t now, uint64_t *ticket);


qbsync_limiter_rc_e
qbsync_limiter_acquire(qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits, uint64_t now, uint32_t entries, int batch,
    uint64_t budget, uint64_t *slot, uint64_t *wait, uint64_t *ticket)
{
    uint64_t  earliest;

    *wait = 0;
    *ticket = 0;

    qbsync_limiter_expire(limiter, now);

    if (entries == 0) {
        entries = 1;
    }

    /* a 429 since the reservation was made voids it */
    if (*slot && limiter->cooldown_until > now) {
        *slot = 0;
    }

    if (*slot == 0) {
        earliest = now;

        if (limiter->next_slot > earliest) {
            earliest = limiter->next_slot;
        }

        if (limiter->cooldown_until > earliest) {
            earliest = limiter->cooldown_until;
        }

        if (batch && limiter->next_batch_slot > earliest) {
            earliest = limiter->next_batch_slot;
        }

        if (earliest - now > budget) {
            *wait = earliest - now;
            return QBSYNC_LIMITER_REFUSED;
        }

        limiter->next_slot = earliest
                             + qbsync_limiter_spacing(
                                   qbsync_limiter_rate(limiter, limits))
                               * entries;

        if (batch) {
            limiter->next_batch_slot = earliest
                            + qbsync_limiter_spacing(limits->batch_per_minute);
        }

        if (earliest > now) {
            *slot = earliest;
            *wait = earliest - now;
            return QBSYNC_LIMITER_WAIT;
        }

        *slot = now;
    }

    if (qbsync_limiter_lease(limiter, limits, now, ticket)) {
        return QBSYNC_LIMITER_GO;
    }

    /* every lease is taken: the slot stays reserved while a call ends */
    *wait = QBSYNC_LIMITER_POLL;

    return (*wait > budget) ? QBSYNC_LIMITER_REFUSED : QBSYNC_LIMITER_WAIT;
}


void
qbsync_limiter_release(qbsync_limiter_t *limiter, uint64_t ticket)
{
    uint32_t  i;

    if (ticket == 0) {
        return;
    }

    for (i = 0; i < QBSYNC_LIMITER_LEASES_MAX; i++) {
        if (limiter->leases[i].ticket == ticket) {
            limiter->leases[i].ticket = 0;
            limiter->in_flight--;
            return;
        }
    }

    /* the lease had expired: its call outlived limits->lease */
}


/* additive increase, back to the configured rate */

void
qbsync_limiter_success(qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits)
{
    uint32_t  rate, step;

    rate = qbsync_limiter_rate(limiter, limits);
    step = limits->per_minute / 50;

    if (step == 0) {
        step = 1;
    }

    limiter->rate = (rate + step < limits->per_minute) ? rate + step
                                                       : limits->per_minute;
}


/*
 * Multiplicative decrease and a quiet time.  The 429s of calls that were
 * in flight together are one throttle: the rate is halved once per
 * cooldown.
 */

void
qbsync_limiter_throttled(qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits, uint64_t now, uint64_t retry_after)
{
    uint32_t  rate;
    uint64_t  quiet;

    limiter->throttles++;

    rate = qbsync_limiter_rate(limiter, limits);

    if (limiter->cooldown_until <= now) {
        limiter->rate = (rate > 1) ? rate / 2 : 1;
    }

    quiet = retry_after ? retry_after : limits->cooldown;

    if (now + quiet > limiter->cooldown_until) {
        limiter->cooldown_until = now + quiet;
    }
}


uint64_t
qbsync_limiter_interval(const qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits)
{
    uint32_t  rate;

    rate = limiter->rate;

    if (rate == 0 || rate > limits->per_minute) {
        rate = limits->per_minute;
    }

    return qbsync_limiter_spacing(rate);
}


/* the rate now; a new limiter, or one whose limit was lowered, at the limit */

static uint32_t
qbsync_limiter_rate(qbsync_limiter_t *limiter, const qbsync_limits_t *limits)
{
    if (limiter->rate == 0 || limiter->rate > limits->per_minute) {
        limiter->rate = limits->per_minute;
    }

    return limiter->rate;
}


static uint64_t
qbsync_limiter_spacing(uint32_t per_minute)
{
    if (per_minute == 0) {
        per_minute = 1;
    }

    /* rounded up: the spacing errs on the slow side */
    return (QBSYNC_LIMITER_MINUTE * 100 + (uint64_t) per_minute
            * QBSYNC_LIMITER_SHARE - 1)
           / ((uint64_t) per_minute * QBSYNC_LIMITER_SHARE);
}


/* leases of calls whose worker died or whose request went away unseen */

static void
qbsync_limiter_expire(qbsync_limiter_t *limiter, uint64_t now)
{
    uint32_t  i;

    for (i = 0; i < QBSYNC_LIMITER_LEASES_MAX; i++) {
        if (limiter->leases[i].ticket && limiter->leases[i].expires <= now) {
            limiter->leases[i].ticket = 0;
            limiter->in_flight--;
        }
    }
}


static int
qbsync_limiter_lease(qbsync_limiter_t *limiter, const qbsync_limits_t *limits,
    uint64_t now, uint64_t *ticket)
{
    uint32_t  i, cap;

    cap = limits->concurrency;

    if (cap > QBSYNC_LIMITER_LEASES_MAX) {
        cap = QBSYNC_LIMITER_LEASES_MAX;
    }

    if (limiter->in_flight >= cap) {
        return 0;
    }

    for (i = 0; i < QBSYNC_LIMITER_LEASES_MAX; i++) {
        if (limiter->leases[i].ticket == 0) {
            limiter->leases[i].ticket = ++limiter->tickets;
            limiter->leases[i].expires = now + limits->lease;
            limiter->in_flight++;
            *ticket = limiter->leases[i].ticket;
            return 1;
        }
    }

    return 0;
}
