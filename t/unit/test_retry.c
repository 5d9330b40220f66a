
/*
 * Copyright (C) qbsync authors
 */


#include <stdio.h>
#include <stdint.h>

#include "qbsync_retry.h"
#include "tap.h"


static qbsync_retry_policy_t
policy(qbsync_retry_strategy_e strategy, uint64_t base, uint64_t max)
{
    qbsync_retry_policy_t  p;

    p.strategy = strategy;
    p.attempts = 4;
    p.base = base;
    p.max = max;
    p.budget = 5000;

    return p;
}


/* the waits before retries 1..n, with previous carried as the module does */
static void
sequence(qbsync_retry_policy_t *p, const uint64_t *expected, uint32_t n,
    const char *what)
{
    char                   name[128];
    uint32_t               i;
    uint64_t               delay, previous;
    qbsync_retry_random_t  random;

    qbsync_retry_seed(&random, 1);
    previous = 0;

    for (i = 1; i <= n; i++) {
        delay = qbsync_retry_delay(p, i, previous, &random);
        snprintf(name, sizeof(name), "%s: retry %u waits %llu ms", what, i,
                 (unsigned long long) expected[i - 1]);
        is_int((long long) delay, (long long) expected[i - 1], name);
        previous = delay;
    }
}


static void
test_fixed_strategies(void)
{
    qbsync_retry_policy_t  p;
    const uint64_t         exponential[] = { 200, 400, 800, 1600, 2000, 2000 };
    const uint64_t         linear[] = { 200, 400, 600, 800, 1000, 1200 };
    const uint64_t         fibonacci[] = { 200, 200, 400, 600, 1000, 1600,
                                           2000, 2000 };
    const uint64_t         exponential_250[] = { 250, 500, 1000, 2000, 2000 };

    p = policy(QBSYNC_RETRY_EXPONENTIAL, 200, 2000);
    sequence(&p, exponential, 6, "exponential base=200ms max=2s");

    p = policy(QBSYNC_RETRY_EXPONENTIAL, 250, 2000);
    sequence(&p, exponential_250, 5, "the default policy");

    p = policy(QBSYNC_RETRY_LINEAR, 200, 5000);
    sequence(&p, linear, 6, "linear base=200ms");

    p = policy(QBSYNC_RETRY_FIBONACCI, 200, 2000);
    sequence(&p, fibonacci, 8, "fibonacci base=200ms max=2s");
}


static void
test_caps_never_overflow(void)
{
    qbsync_retry_policy_t  p;
    qbsync_retry_random_t  random;

    qbsync_retry_seed(&random, 7);

    p = policy(QBSYNC_RETRY_EXPONENTIAL, 1000, 60000);
    is_int((long long) qbsync_retry_delay(&p, 64, 0, &random), 60000,
           "exponential: retry 64 is capped, not shifted out");
    is_int((long long) qbsync_retry_delay(&p, UINT32_MAX, 0, &random), 60000,
           "exponential: the largest n is capped");

    p = policy(QBSYNC_RETRY_LINEAR, UINT64_MAX / 2, UINT64_MAX - 1);
    is_int((long long) (qbsync_retry_delay(&p, 3, 0, &random)
                        == UINT64_MAX - 1), 1,
           "linear: a product past 64 bits is capped");

    p = policy(QBSYNC_RETRY_FIBONACCI, 1, 1000000);
    is_int((long long) qbsync_retry_delay(&p, 200, 0, &random), 1000000,
           "fibonacci: F(200) is capped, not wrapped");

    p = policy(QBSYNC_RETRY_FIBONACCI, 0, 1000);
    is_int((long long) qbsync_retry_delay(&p, 100000, 0, &random), 0,
           "fibonacci: base 0 waits 0");

    p = policy(QBSYNC_RETRY_EXPONENTIAL, 500, 200);
    is_int((long long) qbsync_retry_delay(&p, 1, 0, &random), 200,
           "max below base caps the first wait too");

    p = policy(QBSYNC_RETRY_EXPONENTIAL, 200, 2000);
    is_int((long long) qbsync_retry_delay(&p, 0, 0, &random), 200,
           "n = 0 is read as the first retry");
}


static void
test_full_jitter(void)
{
    char                   name[128];
    uint32_t               n, i;
    uint64_t               delay, cap, lowest, highest;
    qbsync_retry_policy_t  p;
    qbsync_retry_random_t  random, again;

    p = policy(QBSYNC_RETRY_JITTER, 200, 2000);

    for (n = 1; n <= 6; n++) {
        cap = 200ULL << (n - 1);
        cap = cap < 2000 ? cap : 2000;

        qbsync_retry_seed(&random, n);
        lowest = UINT64_MAX;
        highest = 0;

        for (i = 0; i < 10000; i++) {
            delay = qbsync_retry_delay(&p, n, 0, &random);
            lowest = delay < lowest ? delay : lowest;
            highest = delay > highest ? delay : highest;
        }

        snprintf(name, sizeof(name), "jitter: retry %u stays in [0, %llu]",
                 n, (unsigned long long) cap);
        ok(highest <= cap, name);

        /* 10,000 draws: the extremes come within 1 % of the bounds */
        snprintf(name, sizeof(name), "jitter: retry %u spreads over the "
                 "whole range (%llu..%llu)", n, (unsigned long long) lowest,
                 (unsigned long long) highest);
        ok(lowest <= cap / 100 && highest >= cap - cap / 100, name);
    }

    qbsync_retry_seed(&random, 42);
    qbsync_retry_seed(&again, 42);

    for (i = 0; i < 100; i++) {
        if (qbsync_retry_delay(&p, 3, 0, &random)
            != qbsync_retry_delay(&p, 3, 0, &again))
        {
            break;
        }
    }

    is_int(i, 100, "jitter: one seed gives one sequence");

    qbsync_retry_seed(&random, 0);
    ok(qbsync_retry_delay(&p, 6, 0, &random)
       != qbsync_retry_delay(&p, 6, 0, &random),
       "jitter: seed 0 still draws (xorshift never leaves 0)");
}


static void
test_decorrelated_jitter(void)
{
    char                   name[128];
    uint32_t               n, i;
    uint64_t               delay, previous;
    qbsync_retry_policy_t  p;
    qbsync_retry_random_t  random;

    p = policy(QBSYNC_RETRY_DECORRELATED, 200, 2000);

    for (i = 0; i < 1000; i++) {
        qbsync_retry_seed(&random, i + 1);
        previous = 0;

        for (n = 1; n <= 8; n++) {
            delay = qbsync_retry_delay(&p, n, previous, &random);

            if (delay < 200 || delay > 2000
                || delay > 3 * (previous < 200 ? 200 : previous))
            {
                snprintf(name, sizeof(name), "decorrelated: seed %u retry %u "
                         "waits %llu after %llu", i + 1, n,
                         (unsigned long long) delay,
                         (unsigned long long) previous);
                ok(0, name);
                return;
            }

            previous = delay;
        }
    }

    ok(1, "decorrelated: every wait in [base, min(max, 3 * previous)], "
       "1000 seeds x 8 retries");

    p = policy(QBSYNC_RETRY_DECORRELATED, 500, 300);
    is_int((long long) qbsync_retry_delay(&p, 1, 0, &random), 300,
           "decorrelated: max below base caps the wait");
}


static void
test_allowed(void)
{
    qbsync_retry_policy_t  p;

    p = policy(QBSYNC_RETRY_EXPONENTIAL, 250, 2000);
    p.attempts = 3;
    p.budget = 5000;

    ok(qbsync_retry_allowed(&p, 1, 0, 250), "the first failure is retried");
    ok(qbsync_retry_allowed(&p, 2, 300, 500), "so is the second");
    ok(!qbsync_retry_allowed(&p, 3, 900, 1000),
       "attempts=3: no fourth try");
    ok(qbsync_retry_allowed(&p, 1, 4000, 1000),
       "a wait that ends exactly at the budget is allowed");
    ok(!qbsync_retry_allowed(&p, 1, 4001, 1000),
       "a wait past the budget is not");
    ok(!qbsync_retry_allowed(&p, 1, 6000, 0),
       "a spent budget allows nothing");

    p.attempts = 1;
    ok(!qbsync_retry_allowed(&p, 1, 0, 0), "attempts=1: never retried");
}


int
main(void)
{
    test_fixed_strategies();
    test_caps_never_overflow();
    test_full_jitter();
    test_decorrelated_jitter();
    test_allowed();

    return done();
}
