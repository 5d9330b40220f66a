
/*
 * Copyright (C) qbsync authors
 */


#include "qbsync_retry.h"


static uint64_t qbsync_retry_random(qbsync_retry_random_t *random);
static uint64_t qbsync_retry_between(qbsync_retry_random_t *random,
    uint64_t low, uint64_t high);
static uint64_t qbsync_retry_times(uint64_t base, uint64_t factor,
    uint64_t max);
static uint64_t qbsync_retry_exponential(uint64_t base, uint32_t n,
    uint64_t max);
static uint64_t qbsync_retry_fibonacci(uint64_t base, uint32_t n,
    uint64_t max);


void
qbsync_retry_seed(qbsync_retry_random_t *random, uint64_t seed)
{
    /* xorshift never leaves 0 */
    random->state = seed ? seed : 0x9e3779b97f4a7c15ULL;
}


uint64_t
qbsync_retry_delay(const qbsync_retry_policy_t *policy, uint32_t n,
    uint64_t previous, qbsync_retry_random_t *random)
{
    uint64_t  high;

    if (n == 0) {
        n = 1;
    }

    switch (policy->strategy) {

    case QBSYNC_RETRY_LINEAR:
        return qbsync_retry_times(policy->base, n, policy->max);

    case QBSYNC_RETRY_FIBONACCI:
        return qbsync_retry_fibonacci(policy->base, n, policy->max);

    case QBSYNC_RETRY_JITTER:
        return qbsync_retry_between(random, 0,
                                    qbsync_retry_exponential(policy->base, n,
                                                             policy->max));

    case QBSYNC_RETRY_DECORRELATED:
        /* AWS's "decorrelated jitter": the first wait grows from base */
        if (previous < policy->base) {
            previous = policy->base;
        }

        high = qbsync_retry_times(previous, 3, policy->max);

        if (high < policy->base) {
            return high;
        }

        return qbsync_retry_between(random, policy->base, high);

    default: /* QBSYNC_RETRY_EXPONENTIAL */
        return qbsync_retry_exponential(policy->base, n, policy->max);
    }
}


int
qbsync_retry_allowed(const qbsync_retry_policy_t *policy, uint32_t tries,
    uint64_t elapsed, uint64_t delay)
{
    if (tries >= policy->attempts || elapsed >= policy->budget) {
        return 0;
    }

    return delay <= policy->budget - elapsed;
}


static uint64_t
qbsync_retry_random(qbsync_retry_random_t *random)
{
    uint64_t  x;

    x = random->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    random->state = x;

    return x * 0x2545f4914f6cdd1dULL;
}


/* uniform in [low, high]; the modulo bias is far below a millisecond */
static uint64_t
qbsync_retry_between(qbsync_retry_random_t *random, uint64_t low,
    uint64_t high)
{
    uint64_t  span;

    if (high <= low) {
        return low;
    }

    span = high - low;

    if (span == UINT64_MAX) {
        return qbsync_retry_random(random);
    }

    return low + qbsync_retry_random(random) % (span + 1);
}


/* min(base * factor, max), without overflow */
static uint64_t
qbsync_retry_times(uint64_t base, uint64_t factor, uint64_t max)
{
    if (factor != 0 && base > max / factor) {
        return max;
    }

    return base * factor < max ? base * factor : max;
}


static uint64_t
qbsync_retry_exponential(uint64_t base, uint32_t n, uint64_t max)
{
    if (n - 1 >= 63) {
        return base ? max : 0;
    }

    return qbsync_retry_times(base, (uint64_t) 1 << (n - 1), max);
}


static uint64_t
qbsync_retry_fibonacci(uint64_t base, uint32_t n, uint64_t max)
{
    uint32_t  i;
    uint64_t  current, next, sum;

    if (base == 0) {
        return 0;
    }

    current = 1;
    next = 1;

    for (i = 1; i < n; i++) {

        /* past max already: later terms only grow */
        if (current > max / base) {
            return max;
        }

        sum = current + next;
        current = next;
        next = sum;
    }

    return qbsync_retry_times(base, current, max);
}
