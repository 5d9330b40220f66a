
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_RETRY_H_INCLUDED_
#define _QBSYNC_RETRY_H_INCLUDED_


#include <stdint.h>


typedef enum {
    QBSYNC_RETRY_EXPONENTIAL = 0,   /* base * 2^(n-1) */
    QBSYNC_RETRY_LINEAR,            /* base * n */
    QBSYNC_RETRY_FIBONACCI,         /* base * F(n), F(1) = F(2) = 1 */
    QBSYNC_RETRY_JITTER,            /* uniform in [0, exponential] */
    QBSYNC_RETRY_DECORRELATED       /* uniform in [base, 3 * previous] */
} qbsync_retry_strategy_e;


/* How one delivery retries its calls; times in milliseconds. */
typedef struct {
    qbsync_retry_strategy_e   strategy;
    uint32_t                  attempts;    /* the first try included */
    uint64_t                  base;
    uint64_t                  max;
    uint64_t                  budget;
} qbsync_retry_policy_t;


/* xorshift64*: seeded by the caller, so that unit tests can replay it */
typedef struct {
    uint64_t                  state;
} qbsync_retry_random_t;


void qbsync_retry_seed(qbsync_retry_random_t *random, uint64_t seed);

/*
 * The wait before retry n (n = 1 at the first retry), capped by max.
 * previous is the wait before retry n - 1 (0 for the first), which only
 * the decorrelated kind uses; random is only drawn from by the two jitter
 * kinds.  The products saturate: no base, n or max overflows.
 */
uint64_t qbsync_retry_delay(const qbsync_retry_policy_t *policy, uint32_t n,
    uint64_t previous, qbsync_retry_random_t *random);

/*
 * Whether a call that has had tries tries, with elapsed milliseconds of the
 * delivery's budget spent, may wait delay and go again: attempts and
 * budget both allow it.
 */
int qbsync_retry_allowed(const qbsync_retry_policy_t *policy, uint32_t tries,
    uint64_t elapsed, uint64_t delay);


#endif /* _QBSYNC_RETRY_H_INCLUDED_ */
