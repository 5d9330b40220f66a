
/*
 * Copyright (C) qbsync authors
 */


#include <stdio.h>
#include <string.h>

#include "qbsync_events.h"
#include "qbsync_yajl.h"


#define QBSYNC_EVENTS_DAY_MS     86400000ULL

/* 9999-12-31T23:59:59.999Z, the last time with a four-digit year */
#define QBSYNC_EVENTS_TIME_LAST  253402300799999ULL

/* the longest since= or until= worth reading, decoded */
#define QBSYNC_EVENTS_TIME_TEXT  64


static size_t qbsync_events_utf8_sequence(const unsigned char *p,
    size_t len);
static void qbsync_events_civil(uint64_t days, unsigned *year,
    unsigned *month, unsigned *day);
static int64_t qbsync_events_days(uint64_t year, uint64_t month,
    uint64_t day);
static uint64_t qbsync_events_month_days(uint64_t year, uint64_t month);
static char *qbsync_events_digits(char *p, unsigned value, size_t n);
static int qbsync_events_gen_key(yajl_gen gen, const char *name);
static int qbsync_events_gen_str(yajl_gen gen, const char *name,
    const char *data, size_t len, size_t size);
static int qbsync_events_gen_int(yajl_gen gen, const char *name,
    uint64_t value);
static int qbsync_events_arg(qbsync_events_filter_t *filter, size_t arg,
    const char *value, size_t len);
static void qbsync_events_arg_text(qbsync_events_filter_t *filter,
    char *data, uint8_t *len, size_t size, const char *value, size_t n);
static size_t qbsync_events_unescape(const char *src, size_t len,
    char *dst, size_t size);
static int qbsync_events_hex(int c);
static int qbsync_events_time_parse(const char *text, size_t len,
    uint64_t *ms);
static int qbsync_events_rfc3339(const char *text, size_t len,
    int64_t *ms);
static size_t qbsync_events_uint(const char *text, size_t len,
    uint64_t max, uint64_t *value);
static size_t qbsync_events_fraction(const char *text, size_t len,
    unsigned *ms);
static int qbsync_events_equal(const char *a, size_t a_len, const char *b,
    size_t b_len);
static int qbsync_events_compare(const char *a, size_t a_len,
    const char *b, size_t b_len);
static int qbsync_events_stats_gen(yajl_gen gen, const char *name,
    const qbsync_events_stats_t *stats);


/* the strings of a record, with the size they are cut at */
#define qbsync_events_gen_field(gen, name, field)                             \
    qbsync_events_gen_str(gen, name, (field)->data, (field)->len,             \
                          sizeof((field)->data))

#define qbsync_events_arg_str(filter, field, value, n)                        \
    qbsync_events_arg_text(filter, (field)->data, &(field)->len,              \
                           sizeof((field)->data), value, n)


/* indexed by qbsync_event_kind_e */
static const char  *qbsync_events_kinds[] = {
    "sync_started",
    "sync_completed",
    "sync_failed",
    "item_created",
    "item_updated",
    "item_deactivated",
    "rate_limited",
    "signature_rejected",
    "duplicate",
    "stale",
    "dead_lettered",
    "token_refreshed",
    "cache_invalidated"
};


/* the query's parameters */
typedef enum {
    QBSYNC_EVENTS_ARG_TYPE = 0,
    QBSYNC_EVENTS_ARG_PRODUCT,
    QBSYNC_EVENTS_ARG_OUTCOME,
    QBSYNC_EVENTS_ARG_SINCE,
    QBSYNC_EVENTS_ARG_UNTIL,
    QBSYNC_EVENTS_ARG_LIMIT,
    QBSYNC_EVENTS_ARG_STATS,
    QBSYNC_EVENTS_ARGS
} qbsync_events_arg_e;


/* indexed by qbsync_events_arg_e */
static const char  *qbsync_events_args[] = {
    "type", "product", "outcome", "since", "until", "limit", "stats"
};

/* what the value of each should be, after "<name> must be " */
static const char  *qbsync_events_arg_rules[] = {
    NULL, NULL, NULL,
    "Unix seconds or an RFC 3339 date-time",
    "Unix seconds or an RFC 3339 date-time",
    "a whole number from 1 to 1000",
    "0 or 1"
};


const char *
qbsync_events_kind_name(unsigned kind)
{
    return (kind < QBSYNC_EVENTS_KINDS) ? qbsync_events_kinds[kind] : NULL;
}


int
qbsync_events_kind_parse(const char *name, size_t len)
{
    int  kind;

    for (kind = 0; kind < QBSYNC_EVENTS_KINDS; kind++) {
        if (qbsync_events_equal(name, len, qbsync_events_kinds[kind],
                                strlen(qbsync_events_kinds[kind])))
        {
            return kind;
        }
    }

    return -1;
}


size_t
qbsync_events_copy(char *data, size_t size, const char *value, size_t len)
{
    size_t                n, i, sequence;
    const unsigned char  *p = (const unsigned char *) value;

    n = 0;

    for (i = 0; i < len; i += sequence) {

        /* ids, types and outcomes are ASCII: copied a run at a time */
        for (sequence = 0;
             i + sequence < len && p[i + sequence] < 0x80 && n < size;
             sequence++, n++)
        {
            data[n] = (char) p[i + sequence];
        }

        if (sequence) {
            continue;
        }

        sequence = qbsync_events_utf8_sequence(&p[i], len - i);

        if (sequence == 0) {
            if (n == size) {
                break;
            }

            data[n++] = '?';
            sequence = 1;
            continue;
        }

        if (size - n < sequence) {
            break;
        }

        memcpy(&data[n], &p[i], sequence);
        n += sequence;
    }

    return n;
}


/*
 * The length of the well-formed sequence at p (RFC 3629, table 3-7 of
 * Unicode: no overlong form, no surrogate, nothing past U+10FFFF), or 0.
 */
static size_t
qbsync_events_utf8_sequence(const unsigned char *p, size_t len)
{
    size_t         n, k;
    unsigned char  lo, hi;

    if (p[0] < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        lo = (p[0] == 0xe0) ? 0xa0 : lo;
        hi = (p[0] == 0xed) ? 0x9f : hi;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = (p[0] == 0xf0) ? 0x90 : lo;
        hi = (p[0] == 0xf4) ? 0x8f : hi;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    /* only the second byte has a narrower range */
    for (k = 1; k < n; k++, lo = 0x80, hi = 0xbf) {
        if (p[k] < lo || p[k] > hi) {
            return 0;
        }
    }

    return n;
}


size_t
qbsync_events_time(char *buf, uint64_t time_ms)
{
    char      *p;
    unsigned   year, month, day, ms;
    uint64_t   seconds;

    if (time_ms > QBSYNC_EVENTS_TIME_LAST) {
        time_ms = QBSYNC_EVENTS_TIME_LAST;
    }

    qbsync_events_civil(time_ms / QBSYNC_EVENTS_DAY_MS, &year, &month, &day);

    seconds = time_ms % QBSYNC_EVENTS_DAY_MS / 1000;
    ms = time_ms % 1000;

    p = qbsync_events_digits(buf, year, 4);
    *p++ = '-';
    p = qbsync_events_digits(p, month, 2);
    *p++ = '-';
    p = qbsync_events_digits(p, day, 2);
    *p++ = 'T';
    p = qbsync_events_digits(p, seconds / 3600, 2);
    *p++ = ':';
    p = qbsync_events_digits(p, seconds / 60 % 60, 2);
    *p++ = ':';
    p = qbsync_events_digits(p, seconds % 60, 2);
    *p++ = '.';
    p = qbsync_events_digits(p, ms, 3);
    *p++ = 'Z';

    return p - buf;
}


/*
 * Days since 1970-01-01 to the proleptic Gregorian date, and back: the
 * algorithms of Howard Hinnant's "chrono-Compatible Low-Level Date
 * Algorithms", which count in eras of 400 years (146097 days) from
 * 0000-03-01, so that the leap day is the last of a year.
 */
static void
qbsync_events_civil(uint64_t days, unsigned *year, unsigned *month,
    unsigned *day)
{
    uint64_t  z, era, doe, yoe, doy, mp;

    z = days + 719468;
    era = z / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *day = (unsigned) (doy - (153 * mp + 2) / 5 + 1);
    *month = (unsigned) (mp < 10 ? mp + 3 : mp - 9);
    *year = (unsigned) (yoe + era * 400 + (*month <= 2));
}


static int64_t
qbsync_events_days(uint64_t year, uint64_t month, uint64_t day)
{
    int64_t  y, era, yoe, doy, doe;

    y = (int64_t) year - (month <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (int64_t) (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5
          + (int64_t) day - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static uint64_t
qbsync_events_month_days(uint64_t year, uint64_t month)
{
    static const unsigned char  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (month == 2
        && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
    {
        return 29;
    }

    return days[month - 1];
}


/* n digits, zero-padded */
static char *
qbsync_events_digits(char *p, unsigned value, size_t n)
{
    size_t  i;

    for (i = n; i > 0; i--) {
        p[i - 1] = (char) ('0' + value % 10);
        value /= 10;
    }

    return p + n;
}


size_t
qbsync_events_json(unsigned char *buf, size_t size,
    const qbsync_events_record_t *record)
{
    int                ok;
    char               stamp[QBSYNC_EVENTS_TIME_LEN];
    yajl_gen           gen;
    const char        *kind;
    qbsync_yajl_out_t  out;

    gen = qbsync_yajl_gen(&out, buf, size);
    if (gen == NULL) {
        return 0;
    }

    kind = qbsync_events_kind_name(record->kind);

    ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
         && qbsync_events_gen_str(gen, "time", stamp,
                                  qbsync_events_time(stamp, record->time_ms),
                                  sizeof(stamp))
         && qbsync_events_gen_str(gen, "kind", kind, kind ? strlen(kind) : 0,
                                  (size_t) -1)
         && qbsync_events_gen_field(gen, "stripe_event",
                                    &record->stripe_event)
         && qbsync_events_gen_field(gen, "stripe_type", &record->stripe_type)
         && qbsync_events_gen_field(gen, "product", &record->product)
         && qbsync_events_gen_field(gen, "qb_item_id", &record->qb_item_id)
         && qbsync_events_gen_field(gen, "location", &record->location)
         && qbsync_events_gen_field(gen, "outcome", &record->outcome)
         && qbsync_events_gen_int(gen, "attempts", record->attempts)
         && qbsync_events_gen_int(gen, "duration_ms", record->duration_ms)
         && qbsync_events_gen_field(gen, "trace_id", &record->trace_id)
         && qbsync_events_gen_field(gen, "error", &record->error)
         && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    return qbsync_yajl_done(gen, &out, ok);
}


static int
qbsync_events_gen_key(yajl_gen gen, const char *name)
{
    return yajl_gen_string(gen, (const unsigned char *) name, strlen(name))
           == yajl_gen_status_ok;
}


/*
 * "name": "data", or null when empty.  The length is held to the size:
 * a record in shared memory is only as sound as the last worker that
 * wrote it.
 */
static int
qbsync_events_gen_str(yajl_gen gen, const char *name, const char *data,
    size_t len, size_t size)
{
    if (!qbsync_events_gen_key(gen, name)) {
        return 0;
    }

    if (len > size) {
        len = size;
    }

    if (len == 0) {
        return yajl_gen_null(gen) == yajl_gen_status_ok;
    }

    return yajl_gen_string(gen, (const unsigned char *) data, len)
           == yajl_gen_status_ok;
}


static int
qbsync_events_gen_int(yajl_gen gen, const char *name, uint64_t value)
{
    return qbsync_events_gen_key(gen, name)
           && yajl_gen_integer(gen, (long long) value) == yajl_gen_status_ok;
}


int
qbsync_events_filter_parse(qbsync_events_filter_t *filter, const char *args,
    size_t len, char *error, size_t error_size)
{
    size_t       i, arg, end, name_len, value_len;
    unsigned     seen;
    const char  *name, *value, *eq, *amp;

    memset(filter, 0, sizeof(qbsync_events_filter_t));
    filter->kind = -1;
    filter->until = QBSYNC_EVENTS_FOREVER;
    filter->limit = QBSYNC_EVENTS_LIMIT_DEFAULT;

    seen = 0;

    for (i = 0; i < len; i = end + 1) {
        name = &args[i];

        amp = memchr(name, '&', len - i);
        end = amp ? (size_t) (amp - args) : len;

        eq = memchr(name, '=', end - i);
        name_len = (eq ? eq : &args[end]) - name;
        value = eq ? eq + 1 : &args[end];
        value_len = &args[end] - value;

        for (arg = 0; arg < QBSYNC_EVENTS_ARGS; arg++) {
            if (qbsync_events_equal(name, name_len, qbsync_events_args[arg],
                                    strlen(qbsync_events_args[arg])))
            {
                break;
            }
        }

        if (arg == QBSYNC_EVENTS_ARGS || (seen & (1u << arg))) {
            continue;
        }

        seen |= 1u << arg;

        if (value_len == 0) {
            continue;
        }

        if (qbsync_events_arg(filter, arg, value, value_len) != 0) {
            snprintf(error, error_size, "%s must be %s",
                     qbsync_events_args[arg], qbsync_events_arg_rules[arg]);
            return -1;
        }
    }

    return 0;
}


/* one parameter of the query; -1 if its value is bad */
static int
qbsync_events_arg(qbsync_events_filter_t *filter, size_t arg,
    const char *value, size_t len)
{
    char      text[QBSYNC_EVENTS_TIME_TEXT];
    size_t    n;
    uint64_t  limit;

    switch (arg) {

    case QBSYNC_EVENTS_ARG_TYPE:
        qbsync_events_arg_str(filter, &filter->type, value, len);
        filter->kind = qbsync_events_kind_parse(filter->type.data,
                                                filter->type.len);
        return 0;

    case QBSYNC_EVENTS_ARG_PRODUCT:
        qbsync_events_arg_str(filter, &filter->product, value, len);
        return 0;

    case QBSYNC_EVENTS_ARG_OUTCOME:
        qbsync_events_arg_str(filter, &filter->outcome, value, len);
        return 0;

    default:
        break;
    }

    n = qbsync_events_unescape(value, len, text, sizeof(text));
    if (n > sizeof(text)) {
        return -1;
    }

    switch (arg) {

    case QBSYNC_EVENTS_ARG_SINCE:
        return qbsync_events_time_parse(text, n, &filter->since);

    case QBSYNC_EVENTS_ARG_UNTIL:
        return qbsync_events_time_parse(text, n, &filter->until);

    case QBSYNC_EVENTS_ARG_LIMIT:
        if (qbsync_events_uint(text, n, QBSYNC_EVENTS_LIMIT_MAX, &limit) != n
            || limit == 0)
        {
            return -1;
        }

        filter->limit = (uint32_t) limit;
        return 0;

    default: /* QBSYNC_EVENTS_ARG_STATS */
        if (n != 1 || (text[0] != '0' && text[0] != '1')) {
            return -1;
        }

        filter->stats = (text[0] == '1');
        return 0;
    }
}


/* a filter's string, decoded; one longer than a record holds matches none */
static void
qbsync_events_arg_text(qbsync_events_filter_t *filter, char *data,
    uint8_t *len, size_t size, const char *value, size_t n)
{
    n = qbsync_events_unescape(value, n, data, size);

    if (n > size) {
        filter->nothing = 1;
        n = size;
    }

    *len = (uint8_t) n;
}


/*
 * Decodes %XX and '+' of a query value into dst, as far as size allows
 * (dst may be NULL if size is 0), and returns the length of the whole
 * decoded value.
 */
static size_t
qbsync_events_unescape(const char *src, size_t len, char *dst, size_t size)
{
    int     hi, lo;
    char    c;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++, n++) {
        c = src[i];

        if (c == '+') {
            c = ' ';

        } else if (c == '%' && len - i > 2) {
            hi = qbsync_events_hex(src[i + 1]);
            lo = qbsync_events_hex(src[i + 2]);

            if (hi >= 0 && lo >= 0) {
                c = (char) (hi << 4 | lo);
                i += 2;
            }
        }

        if (n < size) {
            dst[n] = c;
        }
    }

    return n;
}


static int
qbsync_events_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/* Unix seconds (with a fraction) or an RFC 3339 date-time, to ms */
static int
qbsync_events_time_parse(const char *text, size_t len, uint64_t *ms)
{
    size_t    i;
    int64_t   rfc3339;
    unsigned  fraction;
    uint64_t  seconds;

    if (len > 4 && text[4] == '-') {
        if (qbsync_events_rfc3339(text, len, &rfc3339) != 0) {
            return -1;
        }

        *ms = (rfc3339 > 0) ? (uint64_t) rfc3339 : 0;
        return 0;
    }

    /* as many as there are milliseconds in a uint64_t */
    i = qbsync_events_uint(text, len, (UINT64_MAX - 999) / 1000, &seconds);
    if (i == 0) {
        return -1;
    }

    fraction = 0;

    if (i < len) {
        i += qbsync_events_fraction(&text[i], len - i, &fraction);
    }

    if (i != len) {
        return -1;
    }

    *ms = seconds * 1000 + fraction;

    return 0;
}


/*
 * RFC 3339, section 5.6: full-date "T" partial-time time-offset, 'T' and
 * 'Z' in either case, a leap second (:60) as the next minute's first.
 */
static int
qbsync_events_rfc3339(const char *text, size_t len, int64_t *ms)
{
    size_t    i;
    int64_t   offset;
    unsigned  fraction;
    uint64_t  year, month, day, hour, minute, second, oh, om;

    if (len < 20
        || text[4] != '-' || text[7] != '-'
        || (text[10] != 'T' && text[10] != 't')
        || text[13] != ':' || text[16] != ':'
        || qbsync_events_uint(&text[0], 4, 9999, &year) != 4
        || qbsync_events_uint(&text[5], 2, 99, &month) != 2
        || qbsync_events_uint(&text[8], 2, 99, &day) != 2
        || qbsync_events_uint(&text[11], 2, 99, &hour) != 2
        || qbsync_events_uint(&text[14], 2, 99, &minute) != 2
        || qbsync_events_uint(&text[17], 2, 99, &second) != 2
        || month < 1 || month > 12
        || day < 1 || day > qbsync_events_month_days(year, month)
        || hour > 23 || minute > 59 || second > 60)
    {
        return -1;
    }

    fraction = 0;
    i = 19 + qbsync_events_fraction(&text[19], len - 19, &fraction);

    if (i == len) {
        return -1;
    }

    offset = 0;

    if (text[i] == 'Z' || text[i] == 'z') {
        i++;

    } else if (text[i] == '+' || text[i] == '-' || text[i] == ' ') {

        if (len - i < 6 || text[i + 3] != ':'
            || qbsync_events_uint(&text[i + 1], 2, 99, &oh) != 2
            || qbsync_events_uint(&text[i + 4], 2, 99, &om) != 2
            || oh > 23 || om > 59)
        {
            return -1;
        }

        offset = (int64_t) (oh * 60 + om) * 60000;
        offset = (text[i] == '-') ? -offset : offset;
        i += 6;
    }

    if (i != len) {
        return -1;
    }

    *ms = qbsync_events_days(year, month, day) * (int64_t) QBSYNC_EVENTS_DAY_MS
          + (int64_t) ((hour * 60 + minute) * 60 + second) * 1000
          + fraction - offset;

    return 0;
}


/*
 * The digits that text starts with, as a number up to max: how many
 * there are, or 0 if none or the number is larger.
 */
static size_t
qbsync_events_uint(const char *text, size_t len, uint64_t max,
    uint64_t *value)
{
    size_t    i;
    unsigned  digit;

    *value = 0;

    for (i = 0; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        digit = text[i] - '0';

        if (digit > max || *value > (max - digit) / 10) {
            return 0;
        }

        *value = *value * 10 + digit;
    }

    return i;
}


/*
 * ".ddd..." at text: the milliseconds, and the bytes read (0 when text
 * holds no '.' and at least one digit).
 */
static size_t
qbsync_events_fraction(const char *text, size_t len, unsigned *ms)
{
    size_t    i;
    unsigned  scale;

    *ms = 0;

    if (len < 2 || text[0] != '.' || text[1] < '0' || text[1] > '9') {
        return 0;
    }

    scale = 100;

    for (i = 1; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        *ms += (text[i] - '0') * scale;
        scale /= 10;
    }

    return i;
}


int
qbsync_events_match(const qbsync_events_filter_t *filter,
    const qbsync_events_record_t *record)
{
    if (filter->nothing
        || record->time_ms < filter->since
        || record->time_ms >= filter->until)
    {
        return 0;
    }

    if (filter->type.len
        && !(filter->kind >= 0 && record->kind == filter->kind)
        && !qbsync_events_equal(filter->type.data, filter->type.len,
                                record->stripe_type.data,
                                record->stripe_type.len))
    {
        return 0;
    }

    if (filter->product.len
        && !qbsync_events_equal(filter->product.data, filter->product.len,
                                record->product.data, record->product.len))
    {
        return 0;
    }

    return filter->outcome.len == 0
           || qbsync_events_equal(filter->outcome.data, filter->outcome.len,
                                  record->outcome.data, record->outcome.len);
}


static int
qbsync_events_equal(const char *a, size_t a_len, const char *b,
    size_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}


/* byte order, a prefix first */
static int
qbsync_events_compare(const char *a, size_t a_len, const char *b,
    size_t b_len)
{
    int  rc;

    rc = memcmp(a, b, (a_len < b_len) ? a_len : b_len);

    if (rc != 0 || a_len == b_len) {
        return rc;
    }

    return (a_len < b_len) ? -1 : 1;
}


void
qbsync_events_stats_add(qbsync_events_stats_t *stats,
    const qbsync_events_record_t *record)
{
    int                             rc;
    size_t                          len;
    uint32_t                        i;
    qbsync_events_outcome_count_t  *entry;

    stats->total++;

    if (record->kind < QBSYNC_EVENTS_KINDS) {
        stats->by_kind[record->kind]++;
    }

    len = record->outcome.len;

    if (len == 0 || len > sizeof(record->outcome.data)) {
        return;
    }

    /* the name the overflow is written under holds its namesake too */
    if (qbsync_events_equal(record->outcome.data, len, "other", 5)) {
        stats->other++;
        return;
    }

    /* the names are few: a sorted array is all the index they need */
    for (i = 0; i < stats->outcomes; i++) {
        entry = &stats->by_outcome[i];

        rc = qbsync_events_compare(record->outcome.data, len,
                                   entry->name.data, entry->name.len);
        if (rc == 0) {
            entry->count++;
            return;
        }

        if (rc < 0) {
            break;
        }
    }

    if (stats->outcomes >= QBSYNC_EVENTS_OUTCOMES) {
        stats->other++;
        return;
    }

    entry = &stats->by_outcome[i];

    memmove(entry + 1, entry,
            (stats->outcomes - i) * sizeof(qbsync_events_outcome_count_t));

    memcpy(entry->name.data, record->outcome.data, len);
    entry->name.len = (uint8_t) len;
    entry->count = 1;

    stats->outcomes++;
}


size_t
qbsync_events_stats_json(unsigned char *buf, size_t size,
    const qbsync_events_stats_t *ring,
    const qbsync_events_stats_t *since_start)
{
    int                ok;
    yajl_gen           gen;
    qbsync_yajl_out_t  out;

    gen = qbsync_yajl_gen(&out, buf, size);
    if (gen == NULL) {
        return 0;
    }

    ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
         && qbsync_events_stats_gen(gen, "ring", ring)
         && (since_start == NULL
             || qbsync_events_stats_gen(gen, "since_start", since_start))
         && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    return qbsync_yajl_done(gen, &out, ok);
}


static int
qbsync_events_stats_gen(yajl_gen gen, const char *name,
    const qbsync_events_stats_t *stats)
{
    int                                   ok;
    size_t                                len;
    uint32_t                              i, n;
    const qbsync_events_outcome_count_t  *entry;

    ok = qbsync_events_gen_key(gen, name)
         && yajl_gen_map_open(gen) == yajl_gen_status_ok
         && qbsync_events_gen_key(gen, "by_type")
         && yajl_gen_map_open(gen) == yajl_gen_status_ok;

    for (i = 0; ok && i < QBSYNC_EVENTS_KINDS; i++) {
        ok = qbsync_events_gen_int(gen, qbsync_events_kinds[i],
                                   stats->by_kind[i]);
    }

    ok = ok && yajl_gen_map_close(gen) == yajl_gen_status_ok
         && qbsync_events_gen_key(gen, "by_outcome")
         && yajl_gen_map_open(gen) == yajl_gen_status_ok;

    n = (stats->outcomes < QBSYNC_EVENTS_OUTCOMES) ? stats->outcomes
                                                   : QBSYNC_EVENTS_OUTCOMES;

    for (i = 0; ok && i < n; i++) {
        entry = &stats->by_outcome[i];
        len = entry->name.len;

        if (len > sizeof(entry->name.data)) {
            len = sizeof(entry->name.data);
        }

        ok = yajl_gen_string(gen, (const unsigned char *) entry->name.data,
                             len)
             == yajl_gen_status_ok
             && yajl_gen_integer(gen, (long long) entry->count)
                == yajl_gen_status_ok;
    }

    if (ok && stats->other) {
        ok = qbsync_events_gen_int(gen, "other", stats->other);
    }

    return ok
           && yajl_gen_map_close(gen) == yajl_gen_status_ok
           && qbsync_events_gen_int(gen, "total", stats->total)
           && yajl_gen_map_close(gen) == yajl_gen_status_ok;
}
