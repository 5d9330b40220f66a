
/*
 * Copyright (C) qbsync authors
 */


#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>

#include "qbsync_metrics.h"
#include "tap.h"
#include "check.h"


#define SECOND  1000000ULL


/* one call of a writer, made again with other sizes */
typedef enum {
    CALL_FAMILY = 0,
    CALL_SAMPLE,
    CALL_SECONDS,
    CALL_HISTOGRAM,
    CALL_JSON
} call_kind_e;


typedef struct {
    call_kind_e                       kind;
    const char                       *name;
    const char                       *help;
    qbsync_metrics_type_e             type;
    const qbsync_metrics_label_t     *labels;
    size_t                            n;
    uint64_t                          value;
    const qbsync_histogram_t         *histogram;
    const qbsync_metrics_snapshot_t  *snapshot;
} call_t;


static unsigned char  buf[4096];


static size_t
gen(const call_t *call, size_t size)
{
    memset(buf, '#', sizeof(buf));

    switch (call->kind) {

    case CALL_FAMILY:
        return qbsync_metrics_family(buf, size, call->name, call->help,
                                     call->type);

    case CALL_SAMPLE:
        return qbsync_metrics_sample(buf, size, call->name, call->labels,
                                     call->n, call->value);

    case CALL_SECONDS:
        return qbsync_metrics_sample_seconds(buf, size, call->name,
                                             call->labels, call->n,
                                             call->value);

    case CALL_HISTOGRAM:
        return qbsync_metrics_histogram(buf, size, call->name, call->labels,
                                        call->n, call->histogram);

    default:
        return qbsync_metrics_json(buf, size, call->snapshot);
    }
}


/* the text written, which fits exactly and not in one byte less */
static void
is_text(const call_t *call, const char *expected, const char *name)
{
    size_t  n, len;

    len = strlen(expected);

    n = gen(call, sizeof(buf) - 1);
    is_str(written_in(buf, sizeof(buf), n), expected, name);

    is_int(gen(call, len), len, "  fits exactly");
    is_int(gen(call, len - 1), 0, "  one byte short -> 0");
    ok(buf[len - 1] == '#', "  nothing written past the size");
}


static void
is_refused(const call_t *call, const char *name)
{
    is_int(gen(call, sizeof(buf) - 1), 0, name);
}


static qbsync_metrics_label_t
label(const char *name, const char *value)
{
    qbsync_metrics_label_t  l;

    l.name = name;
    l.value = value;
    l.len = value ? strlen(value) : 0;

    return l;
}


static void
test_buckets(void)
{
    size_t  i;
    int     bounds_ok, edges_ok;

    is_int(QBSYNC_METRICS_BUCKETS, 19, "18 bounds and +Inf");
    is_int((long long) qbsync_metrics_bounds[0], 100, "the first bound: "
           "100 us");
    is_int((long long) qbsync_metrics_bounds[12], SECOND, "1 s");
    is_int((long long) qbsync_metrics_bounds[QBSYNC_METRICS_BUCKETS - 2],
           60 * SECOND, "the last bound: 60 s");

    bounds_ok = 1;
    edges_ok = 1;

    for (i = 0; i < QBSYNC_METRICS_BUCKETS - 1; i++) {
        if (i && qbsync_metrics_bounds[i] <= qbsync_metrics_bounds[i - 1]) {
            bounds_ok = 0;
        }

        if (qbsync_metrics_bucket(qbsync_metrics_bounds[i]) != i
            || qbsync_metrics_bucket(qbsync_metrics_bounds[i] + 1) != i + 1
            || (i && qbsync_metrics_bucket(qbsync_metrics_bounds[i - 1] + 1)
                     != i))
        {
            edges_ok = 0;
            printf("# bucket %zu: bound %llu\n", i,
                   (unsigned long long) qbsync_metrics_bounds[i]);
        }
    }

    ok(bounds_ok, "the bounds increase");
    ok(edges_ok, "each bound is in its own bucket (le is inclusive), one "
       "microsecond more in the next");

    is_int(qbsync_metrics_bucket(0), 0, "0 us: the first bucket");
    is_int(qbsync_metrics_bucket(50), 0, "a 50 us cache hit: the first");
    is_int(qbsync_metrics_bucket(2 * SECOND), 13, "2 s: (1 s, 2.5 s]");
    is_int(qbsync_metrics_bucket(60 * SECOND + 1), 18, "past 60 s: +Inf");
    is_int(qbsync_metrics_bucket(UINT64_MAX), 18, "the largest: +Inf");
}


static void
test_observe(void)
{
    qbsync_histogram_t  h;

    memset(&h, 0, sizeof(h));

    qbsync_metrics_observe(&h, 3000);
    qbsync_metrics_observe(&h, 0);
    qbsync_metrics_observe(&h, 70 * SECOND);

    is_int((long long) h.count, 3, "count");
    is_int((long long) h.sum_us, 70 * SECOND + 3001, "sum, a 0 as 1 us");
    is_int((long long) h.min_us, 1, "min: 0 is counted as 1 us, since 0 "
           "means none yet");
    is_int((long long) h.max_us, 70 * SECOND, "max");
    ok(h.buckets[0] == 1 && h.buckets[5] == 1 && h.buckets[18] == 1,
       "one in each of its buckets, not cumulative");
}


static void
is_quantile(const qbsync_histogram_t *h, double q, double expected,
    const char *name)
{
    double  got;

    got = qbsync_metrics_quantile(h, q);

    if (!ok(fabs(got - expected) < 1e-6, name)) {
        printf("#          got: %.9g\n#     expected: %.9g\n", got,
               expected);
    }
}


static void
test_quantile(void)
{
    uint64_t            us;
    qbsync_histogram_t  h;

    memset(&h, 0, sizeof(h));

    is_quantile(&h, 0.5, 0, "empty: 0");
    is_quantile(&h, 1, 0, "empty: 0 at q = 1 too");

    qbsync_metrics_observe(&h, 3000);
    is_quantile(&h, 0.5, 3000, "a single value is every quantile: p50");
    is_quantile(&h, 0.99, 3000, "  p99");
    is_quantile(&h, 0, 3000, "  q = 0");

    /* 1 us to 10 ms evenly: interpolation in a bucket is exact */
    memset(&h, 0, sizeof(h));

    for (us = 1; us <= 10000; us++) {
        qbsync_metrics_observe(&h, us);
    }

    is_quantile(&h, 0.5, 5000, "uniform 1 us..10 ms: p50 5 ms");
    is_quantile(&h, 0.95, 9500, "  p95 9.5 ms");
    is_quantile(&h, 0.99, 9900, "  p99 9.9 ms");
    is_quantile(&h, 0.25, 2500, "  p25 2.5 ms, on a bound");
    is_quantile(&h, 0, 1, "  q = 0: the min");
    is_quantile(&h, 1, 10000, "  q = 1: the max");
    is_quantile(&h, -1, 1, "  q below 0 is 0");
    is_quantile(&h, 2, 10000, "  q above 1 is 1");
    is_quantile(&h, NAN, 1, "  NaN is 0");

    /* 90 calls of 1 ms and 10 of 1 s */
    memset(&h, 0, sizeof(h));

    for (us = 0; us < 100; us++) {
        qbsync_metrics_observe(&h, us < 90 ? 1000 : SECOND);
    }

    is_quantile(&h, 0.5, 1000, "90 x 1 ms, 10 x 1 s: p50 (777.8 us in "
                "its bucket) clamped to the min");
    is_quantile(&h, 0.95, 750000, "  p95 halfway in (500 ms, 1 s]");
    is_quantile(&h, 0.99, 950000, "  p99");

    /* the first bucket starts at 0 */
    memset(&h, 0, sizeof(h));
    h.buckets[0] = 4;
    is_quantile(&h, 0.5, 50, "no min or max yet (a copy taken mid-update): "
                "the first bucket interpolates from 0");

    /* Prometheus interpolates within the bucket, not between values */
    memset(&h, 0, sizeof(h));
    qbsync_metrics_observe(&h, 3000);
    qbsync_metrics_observe(&h, 3000);
    qbsync_metrics_observe(&h, 3000);
    qbsync_metrics_observe(&h, 4900);
    is_quantile(&h, 0.5, 3750, "3, 3, 3, 4.9 ms: p50 halfway in "
                "(2.5 ms, 5 ms]");

    /* above the last bound, max_us closes the bucket */
    memset(&h, 0, sizeof(h));
    qbsync_metrics_observe(&h, 70 * SECOND);
    qbsync_metrics_observe(&h, 90 * SECOND);
    is_quantile(&h, 0.5, 75 * SECOND, "70 s and 90 s: p50 halfway in "
                "(60 s, max]");
    is_quantile(&h, 0.99, 89.7 * SECOND, "  p99");
}


static void
test_snapshot(void)
{
    uint64_t                   us;
    qbsync_histogram_t         h;
    qbsync_metrics_snapshot_t  s;

    memset(&h, 0, sizeof(h));
    memset(&s, 0xff, sizeof(s));

    qbsync_metrics_snapshot(&h, &s);
    ok(s.count == 0 && s.mean_us == 0 && s.min_us == 0 && s.max_us == 0
       && s.p50_us == 0 && s.p95_us == 0 && s.p99_us == 0,
       "an empty histogram: all 0");

    for (us = 1; us <= 10000; us++) {
        qbsync_metrics_observe(&h, us);
    }

    qbsync_metrics_snapshot(&h, &s);
    is_int((long long) s.count, 10000, "uniform: count");
    is_int((long long) s.mean_us, 5001, "  mean 5000.5 us, rounded");
    is_int((long long) s.min_us, 1, "  min");
    is_int((long long) s.max_us, 10000, "  max");
    is_int((long long) s.p50_us, 5000, "  p50");
    is_int((long long) s.p95_us, 9500, "  p95");
    is_int((long long) s.p99_us, 9900, "  p99");

    /* a copy in which a bucket was counted before count was */
    h.count--;
    qbsync_metrics_snapshot(&h, &s);
    is_int((long long) s.count, 10000, "count is the buckets' total");
}


static void
is_seconds(uint64_t us, const char *expected)
{
    size_t  len;
    char    out[QBSYNC_METRICS_SECONDS_LEN + 1];
    char    name[64];

    memset(out, '#', sizeof(out));
    len = qbsync_metrics_seconds(out, us);

    snprintf(name, sizeof(name), "%llu us: %s", (unsigned long long) us,
             expected);
    is_str(out, expected, name);
    is_int(len, strlen(expected), "  length");
}


static void
test_seconds(void)
{
    is_seconds(0, "0");
    is_seconds(1, "0.000001");
    is_seconds(100, "0.0001");
    is_seconds(250, "0.00025");
    is_seconds(250000, "0.25");
    is_seconds(SECOND, "1");
    is_seconds(2500000, "2.5");
    is_seconds(60 * SECOND, "60");
    is_seconds(1234567, "1.234567");
    is_seconds(10000010, "10.00001");
    is_seconds(UINT64_MAX, "18446744073709.551615");
}


/* texts and names the writers refuse, and why */
typedef struct {
    const char  *text;
    const char  *why;
} bad_t;


static const bad_t  bad_texts[] = {
    { "bad \xff", "a byte never in UTF-8" },
    { "cut \xe2\x82", "cut inside a sequence" },
    { "surrogate \xed\xa0\x80", "a surrogate" },
    { "overlong \xc0\xaf", "an overlong form" },
    { "past \xf4\x90\x80\x80", "past U+10FFFF" },
    { "lone \x80", "a lone continuation byte" }
};

static const bad_t  bad_names[] = {
    { "1qbsync", "a digit first" },
    { "qbsync-events", "a '-'" },
    { "qbsync:events", "a ':'" },
    { "qbsync events", "a space" },
    { "qbsync_\xc3\xa9", "a letter outside ASCII" },
    { "", "empty" },
    { NULL, "none" }
};


static void
test_family(void)
{
    size_t  i;
    call_t  call;

    memset(&call, 0, sizeof(call));
    call.kind = CALL_FAMILY;
    call.name = "qbsync_events_total";
    call.help = "Events received, by outcome.";
    call.type = QBSYNC_METRICS_COUNTER;

    is_text(&call, "# HELP qbsync_events_total Events received, by "
            "outcome.\n# TYPE qbsync_events_total counter\n",
            "HELP and TYPE");

    call.help = "a \\ b\nc \"d\" caf\xc3\xa9";
    is_text(&call, "# HELP qbsync_events_total a \\\\ b\\nc \"d\" "
            "caf\xc3\xa9\n# TYPE qbsync_events_total counter\n",
            "HELP escapes backslash and newline, not quotes");

    call.help = NULL;
    call.type = QBSYNC_METRICS_GAUGE;
    is_text(&call, "# TYPE qbsync_events_total gauge\n", "no help: TYPE "
            "alone");

    call.type = QBSYNC_METRICS_HISTOGRAM;
    is_str(written_in(buf, sizeof(buf), gen(&call, sizeof(buf) - 1)),
           "# TYPE qbsync_events_total histogram\n", "histogram");

    call.type = QBSYNC_METRICS_UNTYPED;
    is_str(written_in(buf, sizeof(buf), gen(&call, sizeof(buf) - 1)),
           "# TYPE qbsync_events_total untyped\n", "untyped");

    call.type = (qbsync_metrics_type_e) 4;
    is_refused(&call, "an unknown type -> 0");

    call.type = QBSYNC_METRICS_COUNTER;

    for (i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
        call.help = bad_texts[i].text;
        is_refused(&call, tap_name("help that is not UTF-8 -> 0: ",
                                   bad_texts[i].why));
    }

    call.help = NULL;

    for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        call.name = bad_names[i].text;
        is_refused(&call, tap_name("an invalid name -> 0: ",
                                   bad_names[i].why));
    }

    call.name = "_Qbsync_9";
    ok(gen(&call, sizeof(buf) - 1) > 0, "underscores, capitals, digits");
}


static void
test_sample(void)
{
    size_t                  i;
    call_t                  call;
    qbsync_metrics_label_t  labels[3];
    static const char       with_nul[] = "qbsync_events_total{outcome="
                                         "\"synced\",location=\"a\0b\"} 0\n";

    memset(&call, 0, sizeof(call));
    call.kind = CALL_SAMPLE;
    call.name = "qbsync_events_total";
    call.value = 42;

    is_text(&call, "qbsync_events_total 42\n", "no labels: no braces");

    call.value = UINT64_MAX;
    is_text(&call, "qbsync_events_total 18446744073709551615\n",
            "the largest counter");

    labels[0] = label("outcome", "synced");
    labels[1] = label("location", "/stripe");
    call.labels = labels;
    call.n = 2;
    call.value = 0;
    is_text(&call, "qbsync_events_total{outcome=\"synced\","
            "location=\"/stripe\"} 0\n", "labels in order");

    labels[1] = label("location", "a\"b\\c\nd caf\xc3\xa9 {x=1}");
    is_text(&call, "qbsync_events_total{outcome=\"synced\","
            "location=\"a\\\"b\\\\c\\nd caf\xc3\xa9 {x=1}\"} 0\n",
            "a label value escapes quote, backslash and newline only");

    labels[1] = label("location", "");
    is_text(&call, "qbsync_events_total{outcome=\"synced\",location=\"\"} "
            "0\n", "an empty value");

    labels[1] = label("location", NULL);
    is_text(&call, "qbsync_events_total{outcome=\"synced\",location=\"\"} "
            "0\n", "no value at all: empty");

    labels[1] = label("location", "/stripeXXX");
    labels[1].len = 7;
    is_text(&call, "qbsync_events_total{outcome=\"synced\","
            "location=\"/stripe\"} 0\n", "only len bytes of the value");

    labels[1] = label("location", "a\0b");
    labels[1].len = 3;
    ok(gen(&call, sizeof(buf) - 1) == sizeof(with_nul) - 1
       && memcmp(buf, with_nul, sizeof(with_nul) - 1) == 0,
       "a NUL inside a value is kept as is");

    labels[1] = label("location", "x");
    labels[1].value = NULL;
    labels[1].len = 1;
    is_refused(&call, "no value but a length -> 0");

    for (i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
        labels[1] = label("location", bad_texts[i].text);
        is_refused(&call, tap_name("a value that is not UTF-8 -> 0: ",
                                   bad_texts[i].why));
    }

    for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        labels[1] = label(bad_names[i].text, "x");
        is_refused(&call, tap_name("an invalid label name -> 0: ",
                                   bad_names[i].why));
    }

    labels[1] = label("outcome", "failed");
    is_refused(&call, "a label name twice -> 0");

    labels[1] = label("le", "x");
    ok(gen(&call, sizeof(buf) - 1) > 0, "le is a plain label outside "
       "histograms");

    call.name = "qbsync events";
    labels[1] = label("location", "x");
    is_refused(&call, "an invalid metric name -> 0");

    call.kind = CALL_SECONDS;
    call.name = "qbsync_token_age_seconds";
    call.value = 1500;
    call.n = 1;
    labels[0] = label("realm", "9130357");
    is_text(&call, "qbsync_token_age_seconds{realm=\"9130357\"} 0.0015\n",
            "seconds from microseconds");

    call.n = 0;
    call.value = 0;
    is_text(&call, "qbsync_token_age_seconds 0\n", "0 seconds");

    call.value = 3600 * SECOND;
    is_text(&call, "qbsync_token_age_seconds 3600\n", "an hour");

    call.name = "qbsync-token";
    is_refused(&call, "seconds with an invalid name -> 0");

    call.name = "qbsync_token_age_seconds";
    call.n = 2;
    labels[1] = label("realm", "x");
    is_refused(&call, "seconds with a label twice -> 0");
}


static void
test_histogram(void)
{
    call_t                  call;
    qbsync_histogram_t      h;
    qbsync_metrics_label_t  labels[2];

    memset(&h, 0, sizeof(h));
    qbsync_metrics_observe(&h, 80);
    qbsync_metrics_observe(&h, 3000);
    qbsync_metrics_observe(&h, 3000);
    qbsync_metrics_observe(&h, 90 * SECOND);

    labels[0] = label("stage", "qbo \"create\"");

    memset(&call, 0, sizeof(call));
    call.kind = CALL_HISTOGRAM;
    call.name = "qbsync_stage_duration_seconds";
    call.labels = labels;
    call.n = 1;
    call.histogram = &h;

#define B  "qbsync_stage_duration_seconds_bucket{stage=\"qbo \\\"create\\\"\","

    is_text(&call,
            B "le=\"0.0001\"} 1\n"
            B "le=\"0.00025\"} 1\n"
            B "le=\"0.0005\"} 1\n"
            B "le=\"0.001\"} 1\n"
            B "le=\"0.0025\"} 1\n"
            B "le=\"0.005\"} 3\n"
            B "le=\"0.01\"} 3\n"
            B "le=\"0.025\"} 3\n"
            B "le=\"0.05\"} 3\n"
            B "le=\"0.1\"} 3\n"
            B "le=\"0.25\"} 3\n"
            B "le=\"0.5\"} 3\n"
            B "le=\"1\"} 3\n"
            B "le=\"2.5\"} 3\n"
            B "le=\"5\"} 3\n"
            B "le=\"10\"} 3\n"
            B "le=\"30\"} 3\n"
            B "le=\"60\"} 3\n"
            B "le=\"+Inf\"} 4\n"
            "qbsync_stage_duration_seconds_sum{stage=\"qbo \\\"create\\\"\"} "
            "90.00608\n"
            "qbsync_stage_duration_seconds_count"
            "{stage=\"qbo \\\"create\\\"\"} 4\n",
            "a histogram: cumulative buckets, +Inf, sum in seconds, count");

#undef B

    memset(&h, 0, sizeof(h));
    qbsync_metrics_observe(&h, 2 * SECOND);
    call.name = "qbsync_x";
    call.n = 0;

    is_text(&call,
            "qbsync_x_bucket{le=\"0.0001\"} 0\n"
            "qbsync_x_bucket{le=\"0.00025\"} 0\n"
            "qbsync_x_bucket{le=\"0.0005\"} 0\n"
            "qbsync_x_bucket{le=\"0.001\"} 0\n"
            "qbsync_x_bucket{le=\"0.0025\"} 0\n"
            "qbsync_x_bucket{le=\"0.005\"} 0\n"
            "qbsync_x_bucket{le=\"0.01\"} 0\n"
            "qbsync_x_bucket{le=\"0.025\"} 0\n"
            "qbsync_x_bucket{le=\"0.05\"} 0\n"
            "qbsync_x_bucket{le=\"0.1\"} 0\n"
            "qbsync_x_bucket{le=\"0.25\"} 0\n"
            "qbsync_x_bucket{le=\"0.5\"} 0\n"
            "qbsync_x_bucket{le=\"1\"} 0\n"
            "qbsync_x_bucket{le=\"2.5\"} 1\n"
            "qbsync_x_bucket{le=\"5\"} 1\n"
            "qbsync_x_bucket{le=\"10\"} 1\n"
            "qbsync_x_bucket{le=\"30\"} 1\n"
            "qbsync_x_bucket{le=\"60\"} 1\n"
            "qbsync_x_bucket{le=\"+Inf\"} 1\n"
            "qbsync_x_sum 2\n"
            "qbsync_x_count 1\n",
            "no labels: le alone, sum and count bare");

    /* a copy taken while a worker counted a bucket but not yet count */
    h.count = 0;
    gen(&call, sizeof(buf) - 1);
    ok(strstr((char *) buf, "qbsync_x_count 1\n") != NULL,
       "_count is the +Inf bucket's, whatever count says");

    memset(&h, 0, sizeof(h));
    ok(strstr(written_in(buf, sizeof(buf), gen(&call, sizeof(buf) - 1)),
              "qbsync_x_bucket{le=\"+Inf\"} 0\nqbsync_x_sum 0\n"
              "qbsync_x_count 0\n") != NULL,
       "an empty histogram: zeros");

    labels[0] = label("stage", "x");
    labels[1] = label("le", "1");
    call.n = 2;
    is_refused(&call, "le among a histogram's labels -> 0");

    labels[1] = label("stage", "y");
    is_refused(&call, "a label twice -> 0");

    call.n = 1;
    call.name = "qbsync x";
    is_refused(&call, "an invalid name -> 0");
}


static void
test_json(void)
{
    call_t                     call;
    qbsync_histogram_t         h;
    qbsync_metrics_snapshot_t  s;

    memset(&call, 0, sizeof(call));
    call.kind = CALL_JSON;
    call.snapshot = &s;

    memset(&h, 0, sizeof(h));
    qbsync_metrics_snapshot(&h, &s);
    is_text(&call, "{\"count\":0,\"mean\":0,\"min\":0,\"max\":0,\"p50\":0,"
            "\"p95\":0,\"p99\":0}", "an empty histogram in JSON");

    qbsync_metrics_observe(&h, 3000);
    qbsync_metrics_snapshot(&h, &s);
    is_text(&call, "{\"count\":1,\"mean\":0.003,\"min\":0.003,"
            "\"max\":0.003,\"p50\":0.003,\"p95\":0.003,\"p99\":0.003}",
            "a single value in JSON, in seconds");

    memset(&h, 0, sizeof(h));
    qbsync_metrics_observe(&h, 1000);
    qbsync_metrics_observe(&h, 1000);
    qbsync_metrics_observe(&h, 1000);
    qbsync_metrics_observe(&h, 70 * SECOND);
    qbsync_metrics_snapshot(&h, &s);
    is_text(&call, "{\"count\":4,\"mean\":17.50075,\"min\":0.001,"
            "\"max\":70,\"p50\":0.001,\"p95\":68,\"p99\":69.6}",
            "a spread in JSON");
}


int
main(void)
{
    test_buckets();
    test_observe();
    test_quantile();
    test_snapshot();
    test_seconds();
    test_family();
    test_sample();
    test_histogram();
    test_json();

    return done();
}
