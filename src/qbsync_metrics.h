
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_METRICS_H_INCLUDED_
#define _QBSYNC_METRICS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* 18 upper bounds from 100 us to 60 s, and +Inf */
#define QBSYNC_METRICS_BUCKETS  19

/* "18446744073709.551615": the longest seconds value, NUL included */
#define QBSYNC_METRICS_SECONDS_LEN  22


/*
 * The buckets' upper bounds in microseconds, inclusive as Prometheus' le
 * is: bucket i counts durations in (bounds[i - 1], bounds[i]], the last
 * bucket those above 60 s.
 */
extern const uint64_t  qbsync_metrics_bounds[QBSYNC_METRICS_BUCKETS - 1];


/*
 * A duration histogram, laid out to live in the zone and to be updated
 * by every worker without the lock: plain 64-bit words that the glue
 * changes with its own atomic operations; zeroed memory is an empty
 * histogram.  An observation of us microseconds is, each line one atomic
 * operation, in this order: min and max first, so that a reader that
 * sees the observation in its bucket mostly sees them too:
 *
 *     us = us ? us : 1;                       0 is min_us's "none yet"
 *     min_us: CAS loop while (old == 0 || us < old)
 *     max_us: CAS loop while (us > old)
 *     sum_us += us;
 *     buckets[qbsync_metrics_bucket(us)] += 1;
 *     count += 1;
 *
 * qbsync_metrics_observe() is the same without atomics, for memory that
 * one process owns.  Readers take a copy; the writers below count the
 * observations from the buckets, not from count, so that a copy taken
 * while other workers write still has a _count equal to its +Inf bucket.
 */
typedef struct {
    uint64_t                  buckets[QBSYNC_METRICS_BUCKETS];
                                               /* not cumulative */
    uint64_t                  count;
    uint64_t                  sum_us;
    uint64_t                  min_us;          /* 0: no observation yet */
    uint64_t                  max_us;
} qbsync_histogram_t;


/* What ?format=json tells of a histogram; times in microseconds. */
typedef struct {
    uint64_t                  count;
    uint64_t                  mean_us;
    uint64_t                  min_us;
    uint64_t                  max_us;
    uint64_t                  p50_us;
    uint64_t                  p95_us;
    uint64_t                  p99_us;
} qbsync_metrics_snapshot_t;


typedef enum {
    QBSYNC_METRICS_COUNTER = 0,
    QBSYNC_METRICS_GAUGE,
    QBSYNC_METRICS_HISTOGRAM,
    QBSYNC_METRICS_UNTYPED
} qbsync_metrics_type_e;


typedef struct {
    const char               *name;            /* NUL-terminated */
    const char               *value;           /* UTF-8, len bytes */
    size_t                    len;
} qbsync_metrics_label_t;


/* the bucket that counts a duration of us microseconds */
size_t qbsync_metrics_bucket(uint64_t us);

/* one observation, as the glue makes it atomically */
void qbsync_metrics_observe(qbsync_histogram_t *h, uint64_t us);

/*
 * The q-quantile (0 <= q <= 1) in microseconds, as Prometheus'
 * histogram_quantile() estimates it: linear interpolation within the
 * bucket that holds the rank, the first bucket starting at 0 and the
 * +Inf one ending at max_us, then clamped to [min_us, max_us].  0 for an
 * empty histogram.
 */
double qbsync_metrics_quantile(const qbsync_histogram_t *h, double q);

/* count, mean, min, max, p50, p95 and p99, rounded to microseconds */
void qbsync_metrics_snapshot(const qbsync_histogram_t *h,
    qbsync_metrics_snapshot_t *snapshot);

/*
 * us microseconds as decimal seconds, exactly and whatever the locale:
 * "0.00025", "2.5", "60", "0".  Returns the length; buf has at least
 * QBSYNC_METRICS_SECONDS_LEN bytes and is NUL-terminated.
 */
size_t qbsync_metrics_seconds(char *buf, uint64_t us);


/*
 * The Prometheus text exposition format 0.0.4, written into the caller's
 * buffer.  Each returns the number of bytes written, lines ended with
 * '\n', or 0 if they do not fit, a metric or label name is not
 * [a-zA-Z_][a-zA-Z0-9_]*, a label name repeats, or a text is not UTF-8.
 * Nothing is NUL-terminated.
 */

/* "# HELP name help" (help escaped; none if NULL), then "# TYPE name type" */
size_t qbsync_metrics_family(unsigned char *buf, size_t size,
    const char *name, const char *help, qbsync_metrics_type_e type);

/* name{k="v",...} value, for a counter or a gauge */
size_t qbsync_metrics_sample(unsigned char *buf, size_t size,
    const char *name, const qbsync_metrics_label_t *labels, size_t n,
    uint64_t value);

/* the same with a value of us microseconds written in seconds */
size_t qbsync_metrics_sample_seconds(unsigned char *buf, size_t size,
    const char *name, const qbsync_metrics_label_t *labels, size_t n,
    uint64_t us);

/*
 * A histogram's series: name_bucket{...,le="0.0001"} ... le="+Inf"
 * (cumulative), name_sum{...} in seconds and name_count{...}.  The
 * labels may not include le.
 */
size_t qbsync_metrics_histogram(unsigned char *buf, size_t size,
    const char *name, const qbsync_metrics_label_t *labels, size_t n,
    const qbsync_histogram_t *h);

/*
 * {"count":n,"mean":s,"min":s,"max":s,"p50":s,"p95":s,"p99":s}, times
 * in seconds as qbsync_metrics_seconds() writes them.
 */
size_t qbsync_metrics_json(unsigned char *buf, size_t size,
    const qbsync_metrics_snapshot_t *snapshot);


#endif /* _QBSYNC_METRICS_H_INCLUDED_ */
