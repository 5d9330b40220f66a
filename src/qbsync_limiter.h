
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_LIMITER_H_INCLUDED_
#define _QBSYNC_LIMITER_H_INCLUDED_


#include <stdint.h>


/* QuickBooks allows 10 calls in flight: a little room above it */
#define QBSYNC_LIMITER_LEASES_MAX  32


/* A realm's limits, as configured; times in microseconds. */
typedef struct {
    uint32_t                  per_minute;      /* calls, batch entries too */
    uint32_t                  concurrency;     /* calls in flight */
    uint32_t                  batch_per_minute;
    uint64_t                  cooldown;        /* quiet after a 429 */
    uint64_t                  lease;           /* a call's longest life */
} qbsync_limits_t;


typedef struct {
    uint64_t                  ticket;          /* 0: free */
    uint64_t                  expires;
} qbsync_limiter_lease_t;


/*
 * A realm's limiter, shared by every worker (it lives in the zone, and
 * every function runs under the zone's lock).  Calls are spaced evenly at
 * 95 % of the current rate: a slot is reserved for each call, so waiting
 * callers queue instead of racing each other.  Times are in microseconds
 * on the caller's clock; zeroed memory is a fresh limiter.
 */
typedef struct {
    uint64_t                  next_slot;
    uint64_t                  next_batch_slot;
    uint64_t                  cooldown_until;
    uint64_t                  tickets;
    uint32_t                  rate;            /* now, per minute (AIMD) */
    uint32_t                  in_flight;
    uint64_t                  throttles;       /* 429s received */
    qbsync_limiter_lease_t    leases[QBSYNC_LIMITER_LEASES_MAX];
} qbsync_limiter_t;


typedef enum {
    QBSYNC_LIMITER_GO = 0,     /* the call may start: *ticket is its lease */
    QBSYNC_LIMITER_WAIT,       /* its slot is reserved: call again after
                                  *wait, with the same *slot */
    QBSYNC_LIMITER_REFUSED     /* not within the budget: *wait says when */
} qbsync_limiter_rc_e;


/*
 * Asks for a call of entries operations (1, or a batch's entries) at now.
 * *slot is 0 on the first ask and the reserved slot on a later one; a
 * caller that gives up its reservation just never comes back (the slot
 * passes unused).  budget is how long the caller can still wait.
 */
qbsync_limiter_rc_e qbsync_limiter_acquire(qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits, uint64_t now, uint32_t entries,
    int batch, uint64_t budget, uint64_t *slot, uint64_t *wait,
    uint64_t *ticket);

/* The end of a call: its lease goes, and its answer adjusts the rate. */
void qbsync_limiter_release(qbsync_limiter_t *limiter, uint64_t ticket);
void qbsync_limiter_success(qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits);
void qbsync_limiter_throttled(qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits, uint64_t now, uint64_t retry_after);

/* The pause between calls at the current rate, in microseconds. */
uint64_t qbsync_limiter_interval(const qbsync_limiter_t *limiter,
    const qbsync_limits_t *limits);


#endif /* _QBSYNC_LIMITER_H_INCLUDED_ */
