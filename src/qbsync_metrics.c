
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

#include "qbsync_metrics.h"


#define QBSYNC_METRICS_INF  (QBSYNC_METRICS_BUCKETS - 1)

/* a series without an le label */
#define QBSYNC_METRICS_NO_LE  ((size_t) -1)


/* the writers' cursor: past the end, they only note that it overflowed */
typedef struct {
    unsigned char  *start;
    unsigned char  *pos;
    unsigned char  *end;
    unsigned        overflow:1;
} qbsync_metrics_out_t;


static uint64_t qbsync_metrics_total(const qbsync_histogram_t *h);
static size_t qbsync_metrics_sample_line(unsigned char *buf, size_t size,
    const char *name, const qbsync_metrics_label_t *labels, size_t n,
    uint64_t value, int seconds);
static int qbsync_metrics_name_valid(const char *name);
static int qbsync_metrics_labels_valid(const qbsync_metrics_label_t *labels,
    size_t n, int histogram);
static int qbsync_metrics_utf8_valid(const char *text, size_t len);
static void qbsync_metrics_out_init(qbsync_metrics_out_t *out,
    unsigned char *buf, size_t size);
static size_t qbsync_metrics_out_done(qbsync_metrics_out_t *out);
static void qbsync_metrics_write(qbsync_metrics_out_t *out, const char *text,
    size_t len);
static void qbsync_metrics_write_str(qbsync_metrics_out_t *out,
    const char *text);
static void qbsync_metrics_write_escaped(qbsync_metrics_out_t *out,
    const char *text, size_t len, int quoted);
static void qbsync_metrics_write_uint(qbsync_metrics_out_t *out,
    uint64_t value);
static void qbsync_metrics_write_seconds(qbsync_metrics_out_t *out,
    uint64_t us);
static void qbsync_metrics_write_sample(qbsync_metrics_out_t *out,
    const char *name, const char *suffix,
    const qbsync_metrics_label_t *labels, size_t n, size_t le,
    uint64_t value, int seconds);
static void qbsync_metrics_write_labels(qbsync_metrics_out_t *out,
    const qbsync_metrics_label_t *labels, size_t n, size_t le);
static void qbsync_metrics_write_json_seconds(qbsync_metrics_out_t *out,
    const char *member, uint64_t us);


/*
 * From a cache hit (~50 us) to QuickBooks' slowest answers: nginx gives
 * up on an upstream after 60 s by default (proxy_read_timeout).
 */
const uint64_t  qbsync_metrics_bounds[QBSYNC_METRICS_BUCKETS - 1] = {
    100, 250, 500,
    1000, 2500, 5000,
    10000, 25000, 50000,
    100000, 250000, 500000,
    1000000, 2500000, 5000000,
    10000000, 30000000, 60000000
};


static const char  *qbsync_metrics_types[] = {
    "counter", "gauge", "histogram", "untyped"
};


size_t
qbsync_metrics_bucket(uint64_t us)
{
    size_t  i;

    for (i = 0; i < QBSYNC_METRICS_INF; i++) {
        if (us <= qbsync_metrics_bounds[i]) {
            return i;
        }
    }

    return QBSYNC_METRICS_INF;
}


void
qbsync_metrics_observe(qbsync_histogram_t *h, uint64_t us)
{
    if (us == 0) {
        us = 1;
    }

    if (h->min_us == 0 || us < h->min_us) {
        h->min_us = us;
    }

    if (us > h->max_us) {
        h->max_us = us;
    }

    h->sum_us += us;
    h->buckets[qbsync_metrics_bucket(us)]++;
    h->count++;
}


double
qbsync_metrics_quantile(const qbsync_histogram_t *h, double q)
{
    size_t    i;
    double    rank, lower, upper, estimate;
    uint64_t  total, below;

    total = qbsync_metrics_total(h);

    if (total == 0) {
        return 0;
    }

    /* NaN as well */
    if (!(q > 0)) {
        q = 0;

    } else if (q > 1) {
        q = 1;
    }

    rank = q * (double) total;
    below = 0;

    /* the first bucket that holds the rank; an empty one never does */
    for (i = 0; i < QBSYNC_METRICS_INF; i++) {
        if (h->buckets[i] && (double) (below + h->buckets[i]) >= rank) {
            break;
        }

        below += h->buckets[i];
    }

    lower = i ? (double) qbsync_metrics_bounds[i - 1] : 0;

    if (i < QBSYNC_METRICS_INF) {
        upper = (double) qbsync_metrics_bounds[i];

    } else {
        /* where Prometheus stops at the last bound, max_us says more */
        upper = (double) h->max_us;

        if (upper < lower) {
            upper = lower;
        }
    }

    estimate = lower + (upper - lower) * (rank - (double) below)
                       / (double) h->buckets[i];

    /* a copy taken mid-update may have no min or max yet */
    if (h->max_us && estimate > (double) h->max_us) {
        estimate = (double) h->max_us;
    }

    if (estimate < (double) h->min_us) {
        estimate = (double) h->min_us;
    }

    return estimate;
}


void
qbsync_metrics_snapshot(const qbsync_histogram_t *h,
    qbsync_metrics_snapshot_t *snapshot)
{
    uint64_t  total;

    memset(snapshot, 0, sizeof(qbsync_metrics_snapshot_t));

    total = qbsync_metrics_total(h);

    if (total == 0) {
        return;
    }

    snapshot->count = total;
    snapshot->mean_us = (h->sum_us + total / 2) / total;
    snapshot->min_us = h->min_us;
    snapshot->max_us = h->max_us;
    snapshot->p50_us = (uint64_t) (qbsync_metrics_quantile(h, 0.50) + 0.5);
    snapshot->p95_us = (uint64_t) (qbsync_metrics_quantile(h, 0.95) + 0.5);
    snapshot->p99_us = (uint64_t) (qbsync_metrics_quantile(h, 0.99) + 0.5);
}


size_t
qbsync_metrics_seconds(char *buf, uint64_t us)
{
    size_t    len, i;
    uint64_t  whole, fraction, unit;
    char      digits[QBSYNC_METRICS_SECONDS_LEN];

    whole = us / 1000000;
    fraction = us % 1000000;

    /* the whole seconds, backwards */
    i = 0;

    do {
        digits[i++] = (char) ('0' + whole % 10);
        whole /= 10;
    } while (whole);

    for (len = 0; i; len++) {
        buf[len] = digits[--i];
    }

    /* the digits of the fraction up to its last non-zero one */
    if (fraction) {
        buf[len++] = '.';

        for (unit = 100000; fraction; unit /= 10) {
            buf[len++] = (char) ('0' + fraction / unit);
            fraction %= unit;
        }
    }

    buf[len] = '\0';

    return len;
}


size_t
qbsync_metrics_family(unsigned char *buf, size_t size, const char *name,
    const char *help, qbsync_metrics_type_e type)
{
    qbsync_metrics_out_t  out;

    if (!qbsync_metrics_name_valid(name)
        || (size_t) type >= sizeof(qbsync_metrics_types)
                            / sizeof(qbsync_metrics_types[0])
        || (help && !qbsync_metrics_utf8_valid(help, strlen(help))))
    {
        return 0;
    }

    qbsync_metrics_out_init(&out, buf, size);

    if (help) {
        qbsync_metrics_write_str(&out, "# HELP ");
        qbsync_metrics_write_str(&out, name);
        qbsync_metrics_write(&out, " ", 1);
        qbsync_metrics_write_escaped(&out, help, strlen(help), 0);
        qbsync_metrics_write(&out, "\n", 1);
    }

    qbsync_metrics_write_str(&out, "# TYPE ");
    qbsync_metrics_write_str(&out, name);
    qbsync_metrics_write(&out, " ", 1);
    qbsync_metrics_write_str(&out, qbsync_metrics_types[type]);
    qbsync_metrics_write(&out, "\n", 1);

    return qbsync_metrics_out_done(&out);
}


size_t
qbsync_metrics_sample(unsigned char *buf, size_t size, const char *name,
    const qbsync_metrics_label_t *labels, size_t n, uint64_t value)
{
    return qbsync_metrics_sample_line(buf, size, name, labels, n, value, 0);
}


size_t
qbsync_metrics_sample_seconds(unsigned char *buf, size_t size,
    const char *name, const qbsync_metrics_label_t *labels, size_t n,
    uint64_t us)
{
    return qbsync_metrics_sample_line(buf, size, name, labels, n, us, 1);
}


size_t
qbsync_metrics_histogram(unsigned char *buf, size_t size, const char *name,
    const qbsync_metrics_label_t *labels, size_t n,
    const qbsync_histogram_t *h)
{
    size_t                i;
    uint64_t              cumulative;
    qbsync_metrics_out_t  out;

    if (!qbsync_metrics_name_valid(name)
        || !qbsync_metrics_labels_valid(labels, n, 1))
    {
        return 0;
    }

    qbsync_metrics_out_init(&out, buf, size);

    cumulative = 0;

    for (i = 0; i < QBSYNC_METRICS_BUCKETS; i++) {
        cumulative += h->buckets[i];

        qbsync_metrics_write_sample(&out, name, "_bucket", labels, n, i,
                                    cumulative, 0);
    }

    qbsync_metrics_write_sample(&out, name, "_sum", labels, n,
                                QBSYNC_METRICS_NO_LE, h->sum_us, 1);
    qbsync_metrics_write_sample(&out, name, "_count", labels, n,
                                QBSYNC_METRICS_NO_LE, cumulative, 0);

    return qbsync_metrics_out_done(&out);
}


size_t
qbsync_metrics_json(unsigned char *buf, size_t size,
    const qbsync_metrics_snapshot_t *snapshot)
{
    qbsync_metrics_out_t  out;

    qbsync_metrics_out_init(&out, buf, size);

    qbsync_metrics_write_str(&out, "{\"count\":");
    qbsync_metrics_write_uint(&out, snapshot->count);
    qbsync_metrics_write_json_seconds(&out, "mean", snapshot->mean_us);
    qbsync_metrics_write_json_seconds(&out, "min", snapshot->min_us);
    qbsync_metrics_write_json_seconds(&out, "max", snapshot->max_us);
    qbsync_metrics_write_json_seconds(&out, "p50", snapshot->p50_us);
    qbsync_metrics_write_json_seconds(&out, "p95", snapshot->p95_us);
    qbsync_metrics_write_json_seconds(&out, "p99", snapshot->p99_us);
    qbsync_metrics_write(&out, "}", 1);

    return qbsync_metrics_out_done(&out);
}


static uint64_t
qbsync_metrics_total(const qbsync_histogram_t *h)
{
    size_t    i;
    uint64_t  total;

    total = 0;

    for (i = 0; i < QBSYNC_METRICS_BUCKETS; i++) {
        total += h->buckets[i];
    }

    return total;
}


static size_t
qbsync_metrics_sample_line(unsigned char *buf, size_t size, const char *name,
    const qbsync_metrics_label_t *labels, size_t n, uint64_t value,
    int seconds)
{
    qbsync_metrics_out_t  out;

    if (!qbsync_metrics_name_valid(name)
        || !qbsync_metrics_labels_valid(labels, n, 0))
    {
        return 0;
    }

    qbsync_metrics_out_init(&out, buf, size);

    qbsync_metrics_write_sample(&out, name, "", labels, n,
                                QBSYNC_METRICS_NO_LE, value, seconds);

    return qbsync_metrics_out_done(&out);
}


/*
 * Prometheus also allows ':' in metric names, but keeps it for recording
 * rules; one rule serves both kinds of names here.
 */
static int
qbsync_metrics_name_valid(const char *name)
{
    size_t  i;
    char    c;

    if (name == NULL || name[0] == '\0'
        || (name[0] >= '0' && name[0] <= '9'))
    {
        return 0;
    }

    for (i = 0; name[i]; i++) {
        c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* a histogram's buckets add le themselves: a second one would clash */
static int
qbsync_metrics_labels_valid(const qbsync_metrics_label_t *labels, size_t n,
    int histogram)
{
    size_t  i, j;

    for (i = 0; i < n; i++) {
        if (!qbsync_metrics_name_valid(labels[i].name)
            || (labels[i].value == NULL && labels[i].len)
            || !qbsync_metrics_utf8_valid(labels[i].value, labels[i].len)
            || (histogram && strcmp(labels[i].name, "le") == 0))
        {
            return 0;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(labels[i].name, labels[j].name) == 0) {
                return 0;
            }
        }
    }

    return 1;
}


/*
 * Prometheus refuses a scrape whose label values or help are not UTF-8:
 * no overlong form, no surrogate, nothing past U+10FFFF.
 */
static int
qbsync_metrics_utf8_valid(const char *text, size_t len)
{
    size_t          i, k, n;
    uint32_t        code;
    unsigned char   c;

    for (i = 0; i < len; i += n) {
        c = (unsigned char) text[i];

        if (c < 0x80) {
            n = 1;
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            code = c & 0x1f;

        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            code = c & 0x0f;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            code = c & 0x07;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            c = (unsigned char) text[i + k];

            if ((c & 0xc0) != 0x80) {
                return 0;
            }

            code = (code << 6) | (c & 0x3f);
        }

        if ((n == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff)))
            || (n == 4 && (code < 0x10000 || code > 0x10ffff)))
        {
            return 0;
        }
    }

    return 1;
}


static void
qbsync_metrics_out_init(qbsync_metrics_out_t *out, unsigned char *buf,
    size_t size)
{
    out->start = buf;
    out->pos = buf;
    out->end = buf + size;
    out->overflow = 0;
}


static size_t
qbsync_metrics_out_done(qbsync_metrics_out_t *out)
{
    return out->overflow ? 0 : (size_t) (out->pos - out->start);
}


static void
qbsync_metrics_write(qbsync_metrics_out_t *out, const char *text, size_t len)
{
    /* an empty label value may have no text at all */
    if (len == 0) {
        return;
    }

    if (out->overflow || (size_t) (out->end - out->pos) < len) {
        out->overflow = 1;
        return;
    }

    memcpy(out->pos, text, len);
    out->pos += len;
}


static void
qbsync_metrics_write_str(qbsync_metrics_out_t *out, const char *text)
{
    qbsync_metrics_write(out, text, strlen(text));
}


/*
 * The format's two escapings: a HELP text escapes \ and newline, a label
 * value the double quote as well; nothing else is escaped.
 */
static void
qbsync_metrics_write_escaped(qbsync_metrics_out_t *out, const char *text,
    size_t len, int quoted)
{
    size_t  i, plain;

    plain = 0;

    for (i = 0; i < len; i++) {
        if (text[i] != '\\' && text[i] != '\n'
            && !(quoted && text[i] == '"'))
        {
            continue;
        }

        qbsync_metrics_write(out, text + plain, i - plain);
        qbsync_metrics_write(out, text[i] == '\n' ? "\\n"
                                  : text[i] == '"' ? "\\\"" : "\\\\", 2);
        plain = i + 1;
    }

    qbsync_metrics_write(out, text + plain, len - plain);
}


static void
qbsync_metrics_write_uint(qbsync_metrics_out_t *out, uint64_t value)
{
    size_t  i;
    char    digits[20];

    i = sizeof(digits);

    do {
        digits[--i] = (char) ('0' + value % 10);
        value /= 10;
    } while (value);

    qbsync_metrics_write(out, digits + i, sizeof(digits) - i);
}


static void
qbsync_metrics_write_seconds(qbsync_metrics_out_t *out, uint64_t us)
{
    size_t  len;
    char    seconds[QBSYNC_METRICS_SECONDS_LEN];

    len = qbsync_metrics_seconds(seconds, us);

    qbsync_metrics_write(out, seconds, len);
}


/*
 * One line: name and suffix, the label set (le last, a bound's index or
 * QBSYNC_METRICS_NO_LE), and the value, an integer or microseconds
 * written in seconds.
 */
static void
qbsync_metrics_write_sample(qbsync_metrics_out_t *out, const char *name,
    const char *suffix, const qbsync_metrics_label_t *labels, size_t n,
    size_t le, uint64_t value, int seconds)
{
    qbsync_metrics_write_str(out, name);
    qbsync_metrics_write_str(out, suffix);

    if (n || le != QBSYNC_METRICS_NO_LE) {
        qbsync_metrics_write_labels(out, labels, n, le);
    }

    qbsync_metrics_write(out, " ", 1);

    if (seconds) {
        qbsync_metrics_write_seconds(out, value);

    } else {
        qbsync_metrics_write_uint(out, value);
    }

    qbsync_metrics_write(out, "\n", 1);
}


static void
qbsync_metrics_write_labels(qbsync_metrics_out_t *out,
    const qbsync_metrics_label_t *labels, size_t n, size_t le)
{
    size_t  i;

    qbsync_metrics_write(out, "{", 1);

    for (i = 0; i < n; i++) {
        if (i) {
            qbsync_metrics_write(out, ",", 1);
        }

        qbsync_metrics_write_str(out, labels[i].name);
        qbsync_metrics_write(out, "=\"", 2);
        qbsync_metrics_write_escaped(out, labels[i].value, labels[i].len, 1);
        qbsync_metrics_write(out, "\"", 1);
    }

    if (le != QBSYNC_METRICS_NO_LE) {
        qbsync_metrics_write_str(out, n ? ",le=\"" : "le=\"");

        if (le == QBSYNC_METRICS_INF) {
            qbsync_metrics_write(out, "+Inf", 4);

        } else {
            qbsync_metrics_write_seconds(out, qbsync_metrics_bounds[le]);
        }

        qbsync_metrics_write(out, "\"", 1);
    }

    qbsync_metrics_write(out, "}", 1);
}


static void
qbsync_metrics_write_json_seconds(qbsync_metrics_out_t *out,
    const char *member, uint64_t us)
{
    qbsync_metrics_write(out, ",\"", 2);
    qbsync_metrics_write_str(out, member);
    qbsync_metrics_write(out, "\":", 2);
    qbsync_metrics_write_seconds(out, us);
}
