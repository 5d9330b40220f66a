
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "qbsync_events.h"
#include "tap.h"
#include "check.h"
#include "utf8.h"


/* 2026-11-28T04:10:26.123Z */
#define NOVEMBER_28  1795839026123ULL

#define RULE_TIME    "must be Unix seconds or an RFC 3339 date-time"


static unsigned char  buf[8192];


static const char *
written(size_t n)
{
    return written_in(buf, sizeof(buf), n);
}


static const char *
time_text(uint64_t ms)
{
    static char  text[QBSYNC_EVENTS_TIME_LEN + 1];

    memset(text, '#', sizeof(text));

    if (qbsync_events_time(text, ms) != QBSYNC_EVENTS_TIME_LEN
        || text[QBSYNC_EVENTS_TIME_LEN] != '#')
    {
        return "(wrong length)";
    }

    text[QBSYNC_EVENTS_TIME_LEN] = '\0';

    return text;
}


/* what qbsync_events_copy() kept of a string, as a string */
static const char *
copied(size_t size, const char *value, size_t len)
{
    size_t       n;
    static char  field[256];

    memset(field, '#', sizeof(field));
    n = qbsync_events_copy(field, size, value, len);

    if (n > size || field[size] != '#') {
        return "(wrote past the size)";
    }

    field[n] = '\0';

    return field;
}


static void
full_record(qbsync_events_record_t *r)
{
    memset(r, 0, sizeof(qbsync_events_record_t));

    r->time_ms = NOVEMBER_28;
    r->kind = QBSYNC_EVENTS_ITEM_UPDATED;
    r->attempts = 2;
    r->duration_ms = 187;

    qbsync_events_set(&r->stripe_event, "evt_1Pgc76B7WZ01zgkWwyRHS12y", 28);
    qbsync_events_set(&r->stripe_type, "product.updated", 15);
    qbsync_events_set(&r->product, "prod_QXy7", 9);
    qbsync_events_set(&r->qb_item_id, "19", 2);
    qbsync_events_set(&r->location, "/stripe/webhook", 15);
    qbsync_events_set(&r->outcome, "updated", 7);
    qbsync_events_set(&r->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736",
                      32);
    qbsync_events_set(&r->error, "", 0);
}


static int
parse(qbsync_events_filter_t *f, const char *args, char *error)
{
    strcpy(error, "(untouched)");

    return qbsync_events_filter_parse(f, args, strlen(args), error, 128);
}


/* what since() says of a value refused */
#define REFUSED  ((uint64_t) -2)


/* the since= a query gives, or REFUSED */
static uint64_t
since(const char *value)
{
    char                    args[256], error[128];
    qbsync_events_filter_t  f;

    snprintf(args, sizeof(args), "since=%s", value);

    if (parse(&f, args, error) != 0) {
        return REFUSED;
    }

    return f.since;
}


static void
test_kinds(void)
{
    int          kind;
    const char  *name;

    is_int(QBSYNC_EVENTS_KINDS, 13, "13 kinds");

    for (kind = 0; kind < QBSYNC_EVENTS_KINDS; kind++) {
        name = qbsync_events_kind_name(kind);

        if (!ok(name && qbsync_events_kind_parse(name, strlen(name)) == kind,
                tap_name("kind name parses back: ",
                         name ? name : "(null)")))
        {
            printf("# kind %d\n", kind);
        }
    }

    is_str(qbsync_events_kind_name(QBSYNC_EVENTS_SYNC_STARTED),
           "sync_started", "the first kind");
    is_str(qbsync_events_kind_name(QBSYNC_EVENTS_SIGNATURE_REJECTED),
           "signature_rejected", "a kind in the middle");
    is_str(qbsync_events_kind_name(QBSYNC_EVENTS_CACHE_INVALIDATED),
           "cache_invalidated", "the last kind");
    ok(qbsync_events_kind_name(QBSYNC_EVENTS_KINDS) == NULL,
       "no name past the last kind");
    ok(qbsync_events_kind_name(255) == NULL, "nor far past it");

    is_int(qbsync_events_kind_parse("item_created", 12),
           QBSYNC_EVENTS_ITEM_CREATED, "item_created");
    is_int(qbsync_events_kind_parse("item_createdX", 12),
           QBSYNC_EVENTS_ITEM_CREATED, "only len bytes are read");
    is_int(qbsync_events_kind_parse("item_create", 11), -1, "a prefix");
    is_int(qbsync_events_kind_parse("Item_Created", 12), -1,
           "another case");
    is_int(qbsync_events_kind_parse("product.created", 15), -1,
           "a Stripe type is no kind");
    is_int(qbsync_events_kind_parse("", 0), -1, "empty");
}


static void
test_record(void)
{
    qbsync_events_record_t  r;

    is_int(sizeof(qbsync_events_record_t), 424, "a record is 424 bytes");
    ok(sizeof(qbsync_events_record_t) <= 512, "  within 512");
    is_int(sizeof(r.stripe_event.data), 64, "stripe_event holds 64");
    is_int(sizeof(r.stripe_type.data), 48, "stripe_type holds 48");
    is_int(sizeof(r.product.data), 64, "product holds 64");
    is_int(sizeof(r.qb_item_id.data), 32, "qb_item_id holds 32");
    is_int(sizeof(r.location.data), 64, "location holds 64");
    is_int(sizeof(r.outcome.data), 32, "outcome holds 32");
    is_int(sizeof(r.trace_id.data), 32, "trace_id holds 32");
    is_int(sizeof(r.error.data), 64, "error holds 64");
}


static void
test_copy(void)
{
    qbsync_events_record_t  r;

    is_str(copied(8, "prod_1", 6), "prod_1", "a short string whole");
    is_str(copied(6, "prod_1", 6), "prod_1", "one that fits exactly");
    is_str(copied(4, "prod_1", 6), "prod", "a long one cut at the size");
    is_str(copied(4, "prod_1", 3), "pro", "only len bytes");
    is_str(copied(0, "prod_1", 6), "", "no room");
    is_str(copied(8, NULL, 0), "", "nothing to copy");

    is_str(copied(4, "abc\xc3\xa9", 5), "abc", "not inside a 2-byte form");
    is_str(copied(5, "abc\xc3\xa9", 5), "abc\xc3\xa9", "  which fits in 5");
    is_str(copied(4, "ab\xe2\x82\xac", 5), "ab", "not inside a 3-byte form");
    is_str(copied(5, "ab\xe2\x82\xac", 5), "ab\xe2\x82\xac",
           "  which fits in 5");
    is_str(copied(5, "a\xf0\x9f\x98\x80", 5), "a\xf0\x9f\x98\x80",
           "an emoji that fits");
    is_str(copied(4, "a\xf0\x9f\x98\x80", 5), "a",
           "  cut before, one byte short");
    is_str(copied(2, "a\xf0\x9f\x98\x80", 5), "a", "  two bytes short");

    is_str(copied(16, "a\xff" "b", 3), "a?b", "a byte no UTF-8 has is '?'");
    is_str(copied(16, "a\x80" "b", 3), "a?b", "so is a lone continuation");
    is_str(copied(16, "\xc0\x80", 2), "??", "an overlong NUL, each byte");
    is_str(copied(16, "\xe0\x80\xaf", 3), "???", "an overlong '/'");
    is_str(copied(16, "\xed\xa0\x80", 3), "???", "a surrogate");
    is_str(copied(16, "\xf4\x90\x80\x80", 4), "????", "past U+10FFFF");
    is_str(copied(16, "\xf5\x80", 2), "??", "a lead byte past F4");
    is_str(copied(16, "ab\xe2\x82", 4), "ab??",
           "a form cut short at the end of the input");
    is_str(copied(16, "\xe2\x82" "a", 3), "??a",
           "  or by an ASCII byte");
    is_str(copied(3, "ab\xff\xff", 4), "ab?",
           "a '?' counts a byte of the size");
    is_str(copied(16, "\xef\xbf\xbf\xf0\x90\x80\x80", 7),
           "\xef\xbf\xbf\xf0\x90\x80\x80",
           "the bounds of the ranges are kept");
    is_str(copied(16, "a\0b", 3), "a", "a NUL is copied (read to it)");
    is_int(qbsync_events_copy((char *) buf, 16, "a\0b", 3), 3,
           "  all three bytes");

    memset(&r, 0, sizeof(r));
    qbsync_events_set(&r.outcome, "a_very_long_outcome_that_is_cut_somewhere",
                      41);
    is_int(r.outcome.len, 32, "qbsync_events_set() cuts at the field's size");
    ok(memcmp(r.outcome.data, "a_very_long_outcome_that_is_cut_", 32) == 0,
       "  and keeps the start");
    ok(r.error.len == 0 && r.location.len == 0, "  the neighbours untouched");

    memset(&r, 0, sizeof(r));
    memset(buf, 'x', 100);
    memcpy(&buf[62], "\xc3\xa9", 2);
    qbsync_events_set(&r.product, (char *) buf, 100);
    is_int(r.product.len, 64, "a 2-byte form at 62 fits a 64-byte field");
    memcpy(&buf[63], "\xc3\xa9", 2);
    qbsync_events_set(&r.product, (char *) buf, 100);
    is_int(r.product.len, 63, "  at 63 it is left out");
}


/* times, as written */
static const struct {
    uint64_t     ms;
    const char  *text;
    const char  *name;
} stamps[] = {
    { 0, "1970-01-01T00:00:00.000Z", "the epoch" },
    { 1, "1970-01-01T00:00:00.001Z", "a millisecond on" },
    { NOVEMBER_28, "2026-11-28T04:10:26.123Z", "milliseconds" },
    { 946684799999ULL, "1999-12-31T23:59:59.999Z", "the last of a year" },
    { 946684800000ULL, "2000-01-01T00:00:00.000Z", "the first of the next" },
    { 951782400000ULL, "2000-02-29T00:00:00.000Z",
      "2000 is a leap year (every 400 years)" },
    { 1709208000000ULL, "2024-02-29T12:00:00.000Z", "2024 is a leap year" },
    { 1709208000000ULL + 86400000, "2024-03-01T12:00:00.000Z",
      "  with March after the 29th" },
    { 4107542400000ULL - 1, "2100-02-28T23:59:59.999Z",
      "2100 is not a leap year (every 100 years)" },
    { 4107542400000ULL, "2100-03-01T00:00:00.000Z",
      "  March follows the 28th" },
    { 253402300799999ULL, "9999-12-31T23:59:59.999Z",
      "the last time of four-digit years" },
    { 253402300800000ULL, "9999-12-31T23:59:59.999Z",
      "later ones are written as that" },
    { UINT64_MAX, "9999-12-31T23:59:59.999Z", "  up to the largest" },
};


static void
test_time(void)
{
    int        mismatches;
    char       expected[80];
    size_t     i;
    time_t     t;
    uint64_t   days, ms;
    struct tm  tm;

    for (i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
        is_str(time_text(stamps[i].ms), stamps[i].text, stamps[i].name);

        if (stamps[i].ms <= 253402300799999ULL) {
            ok(since(stamps[i].text) == stamps[i].ms, "  and back");
        }
    }

    /* every day to 2100 and every 97th after, against the C library */
    mismatches = 0;

    for (days = 0; days < 2932897; days += (days < 47500) ? 1 : 97) {
        ms = days * 86400000 + (days * 7919) % 86400000;
        t = (time_t) (ms / 1000);

        if (gmtime_r(&t, &tm) == NULL) {
            mismatches++;
            continue;
        }

        snprintf(expected, sizeof(expected),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (unsigned) (ms % 1000));

        if (strcmp(time_text(ms), expected) != 0 && mismatches++ < 3) {
            printf("# %llu: %s, gmtime_r: %s\n", (unsigned long long) ms,
                   time_text(ms), expected);
        }
    }

    is_int(mismatches, 0, "as gmtime_r() tells, 1970 to 9999");
}


static size_t
gen_json(size_t size, const qbsync_events_record_t *r)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_events_json(buf, size, r);
}


static void
test_json(void)
{
    size_t                  n, len;
    const char             *expected, *error;
    qbsync_events_record_t  r;

    full_record(&r);

    expected = "{\"time\":\"2026-11-28T04:10:26.123Z\","
               "\"kind\":\"item_updated\","
               "\"stripe_event\":\"evt_1Pgc76B7WZ01zgkWwyRHS12y\","
               "\"stripe_type\":\"product.updated\","
               "\"product\":\"prod_QXy7\","
               "\"qb_item_id\":\"19\","
               "\"location\":\"/stripe/webhook\","
               "\"outcome\":\"updated\","
               "\"attempts\":2,"
               "\"duration_ms\":187,"
               "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
               "\"error\":null}";
    len = strlen(expected);

    n = gen_json(sizeof(buf) - 1, &r);
    is_str(written(n), expected, "a full record, keys in order");
    is_int(n, len, "  length");
    is_int(gen_json(len, &r), len, "fits exactly");
    is_int(gen_json(len - 1, &r), 0, "one byte short");
    ok(buf[len - 1] == '#', "  nothing written past the size");
    is_int(gen_json(0, &r), 0, "no room at all");

    memset(&r, 0, sizeof(r));
    n = gen_json(sizeof(buf) - 1, &r);
    is_str(written(n),
           "{\"time\":\"1970-01-01T00:00:00.000Z\","
           "\"kind\":\"sync_started\","
           "\"stripe_event\":null,\"stripe_type\":null,\"product\":null,"
           "\"qb_item_id\":null,\"location\":null,\"outcome\":null,"
           "\"attempts\":0,\"duration_ms\":0,"
           "\"trace_id\":null,\"error\":null}",
           "a zeroed record: empty strings are null");

    r.kind = QBSYNC_EVENTS_KINDS;
    r.time_ms = 1;
    r.attempts = UINT16_MAX;
    r.duration_ms = UINT32_MAX;
    error = "QuickBooks said \"no\" \\ \n\x01 caf\xc3\xa9";
    qbsync_events_set(&r.error, error, strlen(error));
    n = gen_json(sizeof(buf) - 1, &r);
    is_str(written(n),
           "{\"time\":\"1970-01-01T00:00:00.001Z\","
           "\"kind\":null,"
           "\"stripe_event\":null,\"stripe_type\":null,\"product\":null,"
           "\"qb_item_id\":null,\"location\":null,\"outcome\":null,"
           "\"attempts\":65535,\"duration_ms\":4294967295,"
           "\"trace_id\":null,"
           "\"error\":\"QuickBooks said \\\"no\\\" \\\\ \\n\\u0001 "
           "caf\xc3\xa9\"}",
           "no kind is null; strings escaped; the largest numbers");

    qbsync_events_set(&r.error, "bad \xff byte", 10);
    n = gen_json(sizeof(buf) - 1, &r);
    ok(n > 0 && strstr(written(n), "\"error\":\"bad ? byte\"") != NULL,
       "a byte that is not UTF-8 was made '?' by the setter");

    /* a record as a crashed worker might have left it */
    memset(&r, 0, sizeof(r));
    memset(r.qb_item_id.data, '7', sizeof(r.qb_item_id.data));
    r.qb_item_id.len = 200;
    n = gen_json(sizeof(buf) - 1, &r);
    ok(n > 0 && strstr(written(n), "\"qb_item_id\":\"7777777777777777"
                                   "7777777777777777\",") != NULL,
       "a length past the field is held to the field");

    /* every string byte escaped to six */
    memset(&r, 0xff, sizeof(r));
    r.kind = QBSYNC_EVENTS_SIGNATURE_REJECTED;
    r.time_ms = 253402300799999ULL;
    memset(r.stripe_event.data, 1, sizeof(r.stripe_event.data));
    memset(r.stripe_type.data, 1, sizeof(r.stripe_type.data));
    memset(r.product.data, 1, sizeof(r.product.data));
    memset(r.qb_item_id.data, 1, sizeof(r.qb_item_id.data));
    memset(r.location.data, 1, sizeof(r.location.data));
    memset(r.outcome.data, 1, sizeof(r.outcome.data));
    memset(r.trace_id.data, 1, sizeof(r.trace_id.data));
    memset(r.error.data, 1, sizeof(r.error.data));
    n = gen_json(QBSYNC_EVENTS_JSON_MAX, &r);
    ok(n > 0 && n <= QBSYNC_EVENTS_JSON_MAX,
       "the largest record fits in QBSYNC_EVENTS_JSON_MAX");
    printf("# the largest record: %zu bytes\n", n);
    ok(QBSYNC_EVENTS_JSON_MAX - n < 8, "  with little to spare");
}


static void
test_filter_defaults(void)
{
    char                    error[128];
    qbsync_events_filter_t  f;

    is_int(parse(&f, "", error), 0, "no query");
    is_int(f.type.len + f.product.len + f.outcome.len, 0, "  no strings");
    is_int(f.kind, -1, "  no kind");
    is_int(f.since, 0, "  since the epoch");
    ok(f.until == QBSYNC_EVENTS_FOREVER, "  until forever");
    is_int(f.limit, 100, "  limit 100");
    is_int(f.stats, 0, "  the records");
    is_int(f.nothing, 0, "  which all match");
    is_str(error, "(untouched)", "  and no error");

    is_int(parse(&f, "type=&product=&outcome=&since=&until=&limit=&stats=",
                 error), 0, "every parameter empty");
    ok(f.type.len == 0 && f.product.len == 0 && f.outcome.len == 0
       && f.since == 0 && f.until == QBSYNC_EVENTS_FOREVER
       && f.limit == 100 && f.stats == 0 && f.nothing == 0,
       "  is none given");

    is_int(parse(&f, "&&type&limit&=5&&", error), 0,
           "names without values, empty pairs");
    ok(f.type.len == 0 && f.limit == 100, "  change nothing");

    is_int(parse(&f, "utm_source=x&limit=5&callback=%zz&lim=0", error), 0,
           "unknown names are ignored");
    is_int(f.limit, 5, "  the known ones read");

    is_int(parse(&f, "Limit=0&LIMIT=0", error), 0,
           "names are case-sensitive");
    is_int(f.limit, 100, "  so those are unknown");

    is_int(parse(&f, "limit=7&limit=0", error), 0,
           "the first of a name counts");
    is_int(f.limit, 7, "  the second is not read");
    is_int(parse(&f, "limit=&limit=7", error), 0,
           "  even when the first is empty");
    is_int(f.limit, 100, "  which is no limit");

    is_int(qbsync_events_filter_parse(&f, "limit=7&limit=0", 7, error, 128),
           0, "only len bytes are read");
    is_int(f.limit, 7, "  limit=7");
}


static void
test_filter_strings(void)
{
    char                    error[128], args[256];
    qbsync_events_filter_t  f;

    is_int(parse(&f, "type=item_created", error), 0, "type= a kind");
    is_int(f.kind, QBSYNC_EVENTS_ITEM_CREATED, "  names the kind");
    ok(f.type.len == 12 && memcmp(f.type.data, "item_created", 12) == 0,
       "  and is kept");

    is_int(parse(&f, "type=product.created", error), 0,
           "type= a Stripe type");
    is_int(f.kind, -1, "  names no kind");
    ok(f.type.len == 15 && memcmp(f.type.data, "product.created", 15) == 0,
       "  and is kept");

    is_int(parse(&f, "type=no_such_kind", error), 0,
           "type= nothing known is no error");
    ok(f.kind == -1 && f.type.len == 12 && !f.nothing,
       "  (it just matches nothing)");

    is_int(parse(&f, "type=item%5Fcreated", error), 0, "%XX is decoded");
    is_int(f.kind, QBSYNC_EVENTS_ITEM_CREATED, "  to item_created");
    is_int(parse(&f, "type=item%5fcreated", error), 0, "  in lower case too");
    is_int(f.kind, QBSYNC_EVENTS_ITEM_CREATED, "  to item_created");

    is_int(parse(&f, "outcome=a+b%20c%2Bd", error), 0, "'+' and %20");
    ok(f.outcome.len == 7 && memcmp(f.outcome.data, "a b c+d", 7) == 0,
       "  are spaces, %2B a '+'");

    is_int(parse(&f, "product=100%&outcome=%4&type=%zz%", error), 0,
           "a '%' without two hex digits");
    ok(f.product.len == 4 && memcmp(f.product.data, "100%", 4) == 0
       && f.outcome.len == 2 && memcmp(f.outcome.data, "%4", 2) == 0
       && f.type.len == 4 && memcmp(f.type.data, "%zz%", 4) == 0,
       "  is kept as it is");

    is_int(parse(&f, "product=caf%C3%A9", error), 0, "UTF-8 encoded");
    ok(f.product.len == 5 && memcmp(f.product.data, "caf\xc3\xa9", 5) == 0,
       "  decoded byte by byte");

    is_int(parse(&f, "product=a%3Db%26c", error), 0,
           "an encoded '=' and '&'");
    ok(f.product.len == 5 && memcmp(f.product.data, "a=b&c", 5) == 0,
       "  are the value's");

    is_int(parse(&f, "product=a=b", error), 0, "a second '='");
    ok(f.product.len == 3 && memcmp(f.product.data, "a=b", 3) == 0,
       "  is the value's");

    snprintf(args, sizeof(args), "product=%064d", 0);
    is_int(parse(&f, args, error), 0, "a 64-byte product");
    ok(f.product.len == 64 && !f.nothing, "  is kept");

    snprintf(args, sizeof(args), "product=%065d", 0);
    is_int(parse(&f, args, error), 0, "a 65-byte product");
    is_int(f.nothing, 1, "  can match nothing");

    snprintf(args, sizeof(args), "product=%%41%063d", 0);
    is_int(parse(&f, args, error), 0, "64 bytes once decoded");
    ok(f.product.len == 64 && f.product.data[0] == 'A' && !f.nothing,
       "  are kept");

    snprintf(args, sizeof(args), "outcome=%033d", 0);
    is_int(parse(&f, args, error), 0, "a 33-byte outcome");
    is_int(f.nothing, 1, "  can match nothing");

    snprintf(args, sizeof(args), "type=%049d", 0);
    is_int(parse(&f, args, error), 0, "a 49-byte type");
    is_int(f.nothing, 1, "  can match nothing");
}


/* since= values, and the milliseconds they mean */
static const struct {
    const char  *value;
    uint64_t     ms;
    const char  *name;
} times[] = {
    { "1795839026", 1795839026000ULL, "Unix seconds" },
    { "1795839026.123", NOVEMBER_28, "  with milliseconds" },
    { "1795839026.5", 1795839026500ULL, "  with tenths" },
    { "1795839026.1239", NOVEMBER_28, "  digits past ms dropped" },
    { "1795839026.000000000001", 1795839026000ULL, "  however many" },
    { "0", 0, "  0" },
    { "0001", 1000, "  leading zeros" },
    { "18446744073709550", 18446744073709550000ULL,
      "  the most whose milliseconds a uint64_t holds" },
    { "18446744073709550.999", UINT64_MAX - 616,
      "  and its last millisecond" },
    { "18446744073709551", REFUSED, "  one more is refused" },
    { "99999999999999999999999", REFUSED, "  far more too" },
    { "2026-11-28T04:10:26Z", 1795839026000ULL, "RFC 3339, Z" },
    { "2026-11-28T04:10:26.123Z", NOVEMBER_28, "  with milliseconds" },
    { "2026-11-28T04:10:26.1Z", 1795839026100ULL, "  with tenths" },
    { "2026-11-28T04:10:26.123999999Z", NOVEMBER_28,
      "  digits past ms dropped" },
    { "2026-11-28t04:10:26.123z", NOVEMBER_28, "  't' and 'z' in lower case" },
    { "2026-11-28T05:10:26.123%2B01:00", NOVEMBER_28, "  +01:00, encoded" },
    { "2026-11-28T05:10:26.123+01:00", NOVEMBER_28,
      "  +01:00 as typed, so a space, is taken for one" },
    { "2026-11-28T05:10:26.123%2001:00", NOVEMBER_28,
      "  so is a space itself" },
    { "2026-11-27T22:40:26.123-05:30", NOVEMBER_28, "  -05:30" },
    { "2026-11-28T04:10:26.123-00:00", NOVEMBER_28,
      "  -00:00 (offset unknown) is UTC" },
    { "2026-11-28T04:10:26.123%2B00:00", NOVEMBER_28, "  +00:00" },
    { "2026-11-28T23:59:59+23:59", 1795824059000ULL, "  the largest offset" },
    { "2026-11-28T04%3A10%3A26Z", 1795839026000ULL,
      "  with the colons encoded" },
    { "1970-01-01T00:00:00Z", 0, "  the epoch" },
    { "1970-01-01T00:00:00.001Z", 1, "  a millisecond on" },
    { "1969-12-31T23:59:59.999Z", 0, "  before it is the epoch" },
    { "1970-01-01T00:30:00+01:00", 0, "  also by the offset" },
    { "0000-01-01T00:00:00Z", 0, "  year 0" },
    { "2024-02-29T12:00:00Z", 1709208000000ULL, "  a leap day" },
    { "2000-02-29T00:00:00Z", 951782400000ULL, "  in a year of 400" },
    { "2016-12-31T23:59:60Z", 1483228800000ULL,
      "  a leap second is the next minute's first" },
    { "9999-12-31T23:59:59.999Z", 253402300799999ULL,
      "  the last four-digit year" },
    { "2100-02-29T00:00:00Z", REFUSED, "  no 29 February in 2100" },
    { "2026-02-29T00:00:00Z", REFUSED, "  nor in 2026" },
    { "2026-04-31T00:00:00Z", REFUSED, "  no 31 April" },
    { "2026-00-10T00:00:00Z", REFUSED, "  no month 0" },
    { "2026-13-10T00:00:00Z", REFUSED, "  nor 13" },
    { "2026-11-00T00:00:00Z", REFUSED, "  no day 0" },
    { "2026-11-28T24:00:00Z", REFUSED, "  no hour 24" },
    { "2026-11-28T23:60:00Z", REFUSED, "  no minute 60" },
    { "2026-11-28T23:59:61Z", REFUSED, "  no second 61" },
    { "2026-11-28T04:10:26", REFUSED, "  no offset" },
    { "2026-11-28", REFUSED, "  a date alone" },
    { "2026-11-28+04:10:26Z", REFUSED, "  a space for the T" },
    { "2026-11-28T4:10:26Z", REFUSED, "  a one-digit hour" },
    { "2026-11-28T04:10:26.Z", REFUSED, "  a point without digits" },
    { "2026-11-28T04:10:26+0100", REFUSED, "  an offset without colon" },
    { "2026-11-28T04:10:26+01", REFUSED, "  an offset without minutes" },
    { "2026-11-28T04:10:26+24:00", REFUSED, "  an offset of 24 hours" },
    { "2026-11-28T04:10:26+01:60", REFUSED, "  an offset of 60 minutes" },
    { "2026-11-28T04:10:26Z0", REFUSED, "  something after the Z" },
    { "2026-11-28T04:10:26+01:00Z", REFUSED, "  something after the offset" },
    { "-2026-11-28T04:10:26Z", REFUSED, "  a sign" },
    { "20261-11-28T04:10:26Z", REFUSED, "  five digits" },
    { "1.", REFUSED, "a point without digits" },
    { ".5", REFUSED, "digits only after the point" },
    { "-1", REFUSED, "a sign" },
    { "%2B1", REFUSED, "  '+' too" },
    { "1e3", REFUSED, "an exponent" },
    { "1.5.5", REFUSED, "two points" },
    { "+1795839026", REFUSED, "a '+', so a space, before" },
    { "1795839026+", REFUSED, "  after" },
    { "now", REFUSED, "a word" },
    { "0x10", REFUSED, "hex" },
    { "1795839026%00", REFUSED, "an encoded NUL after" },
};


static void
test_filter_times(void)
{
    char                    error[128], args[128];
    size_t                  i;
    uint64_t                ms;
    qbsync_events_filter_t  f;

    for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        ms = since(times[i].value);

        if (!ok(ms == times[i].ms, times[i].name)) {
            printf("# since=%s: %llu\n", times[i].value,
                   (unsigned long long) ms);
        }
    }

    is_int(parse(&f, "since=yesterday", error), -1, "a bad since= fails");
    is_str(error, "since " RULE_TIME, "  naming since");
    is_int(parse(&f, "until=2026-11-28", error), -1, "a bad until= fails");
    is_str(error, "until " RULE_TIME, "  naming until");

    snprintf(args, sizeof(args), "since=%064d", 1);
    is_int(parse(&f, args, error), 0, "64 digits of since=");
    ok(f.since == 1000, "  are read");
    snprintf(args, sizeof(args), "since=%065d", 1);
    is_int(parse(&f, args, error), -1, "65 are too long");
    is_str(error, "since " RULE_TIME, "  naming since");

    is_int(parse(&f, "until=1795839026.123&since=1795839000", error), 0,
           "since= and until= both");
    ok(f.since == 1795839000000ULL && f.until == NOVEMBER_28,
       "  each read");
    is_int(parse(&f, "since=2&until=1", error), 0,
           "until= before since= is no error");
}


static void
test_filter_limit(void)
{
    char                    error[128];
    qbsync_events_filter_t  f;

    is_int(parse(&f, "limit=1", error), 0, "limit=1");
    is_int(f.limit, 1, "  is 1");
    is_int(parse(&f, "limit=1000", error), 0, "limit=1000");
    is_int(f.limit, 1000, "  is 1000");
    is_int(parse(&f, "limit=0042", error), 0, "limit=0042");
    is_int(f.limit, 42, "  is 42");
    is_int(parse(&f, "limit=%31%30", error), 0, "limit=%31%30");
    is_int(f.limit, 10, "  is 10");

    is_int(parse(&f, "limit=0", error), -1, "limit=0 fails");
    is_str(error, "limit must be a whole number from 1 to 1000",
           "  naming limit");
    is_int(parse(&f, "limit=1001", error), -1, "limit=1001 fails");
    is_int(parse(&f, "limit=99999999999999999999", error), -1,
           "a huge limit fails");
    is_int(parse(&f, "limit=-1", error), -1, "a negative one");
    is_int(parse(&f, "limit=%2B5", error), -1, "a '+'");
    is_int(parse(&f, "limit=5+", error), -1, "a space");
    is_int(parse(&f, "limit=5.0", error), -1, "a fraction");
    is_int(parse(&f, "limit=ten", error), -1, "a word");
    is_int(parse(&f, "limit=10a", error), -1, "a number and a letter");

    is_int(parse(&f, "stats=1", error), 0, "stats=1");
    is_int(f.stats, 1, "  asks for the counts");
    is_int(parse(&f, "stats=0", error), 0, "stats=0");
    is_int(f.stats, 0, "  for the records");
    is_int(parse(&f, "stats=yes", error), -1, "stats=yes fails");
    is_str(error, "stats must be 0 or 1", "  naming stats");
    is_int(parse(&f, "stats=11", error), -1, "stats=11 fails");

    is_int(qbsync_events_filter_parse(&f, "limit=0", 7, error, 6), -1,
           "a short error buffer");
    is_str(error, "limit", "  has what fits, NUL-terminated");

    is_int(parse(&f, "type=item_created&limit=0&since=x", error), -1,
           "the first bad parameter");
    is_str(error, "limit must be a whole number from 1 to 1000",
           "  is the one named");
}


/* what a query matches of the full record and of a rejected signature */
static const struct {
    const char  *query;
    int          full;
    int          rejected;
    const char  *name;
} matches[] = {
    { "", 1, 1, "no filter matches all" },

    { "type=item_updated", 1, 0, "type= the kind" },
    { "type=product.updated", 1, 0, "type= the Stripe type" },
    { "type=product.created", 0, 0, "type= another Stripe type" },
    { "type=product.update", 0, 0, "type= a prefix of the Stripe type" },
    { "type=signature_rejected", 0, 1, "type= another kind" },
    { "type=whatever", 0, 0, "type= unknown matches nothing" },

    { "product=prod_QXy7", 1, 0, "product= exact" },
    { "product=prod_QXy", 0, 0, "product= a prefix" },
    { "product=prod_qxy7", 0, 0, "product= another case" },

    { "outcome=updated", 1, 0, "outcome= exact" },
    { "outcome=rejected", 0, 1, "outcome= the other's" },
    { "outcome=update", 0, 0, "outcome= a prefix" },

    { "since=1795839026.123", 1, 0, "since= is inclusive" },
    { "since=1795839026.124", 0, 0, "since= a millisecond later" },
    { "until=1795839026.123", 0, 1, "until= is exclusive" },
    { "until=1795839026.124", 1, 1, "until= a millisecond later" },
    { "since=1795839025&until=1795839026", 0, 1,
      "a window of one second" },
    { "since=1795839026&until=1795839027", 1, 0,
      "the next: each record in one of them" },
    { "since=2&until=1", 0, 0, "until before since matches nothing" },

    { "type=item_updated&product=prod_QXy7&outcome=updated"
      "&since=2026-11-28T04:10:26Z&until=2026-11-28T04:10:27Z", 1, 0,
      "every parameter, all matching" },
    { "type=item_updated&product=prod_QXy7&outcome=created", 0, 0,
      "every parameter, one not matching" },
};


static void
test_match(void)
{
    char                    error[128];
    size_t                  i;
    qbsync_events_record_t  r, rejected;
    qbsync_events_filter_t  f;

    full_record(&r);

    memset(&rejected, 0, sizeof(rejected));
    rejected.time_ms = NOVEMBER_28 - 1000;
    rejected.kind = QBSYNC_EVENTS_SIGNATURE_REJECTED;
    qbsync_events_set(&rejected.outcome, "rejected", 8);

    for (i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
        if (parse(&f, matches[i].query, error) != 0) {
            ok(0, matches[i].name);
            printf("# %s\n", error);
            continue;
        }

        if (!ok(qbsync_events_match(&f, &r) == matches[i].full
                && qbsync_events_match(&f, &rejected) == matches[i].rejected,
                matches[i].name))
        {
            printf("# full %d, rejected %d\n", qbsync_events_match(&f, &r),
                   qbsync_events_match(&f, &rejected));
        }
    }

    memset(&rejected, 0, sizeof(rejected));
    memset(rejected.product.data, '0', 64);
    rejected.product.len = 64;
    parse(&f, "product=00000000000000000000000000000000"
              "000000000000000000000000000000000", error);
    ok(!qbsync_events_match(&f, &rejected),
       "a product longer than a record holds matches not its start");

    memset(&rejected, 0, sizeof(rejected));
    rejected.kind = 200;
    parse(&f, "type=sync_started", error);
    ok(!qbsync_events_match(&f, &rejected), "a record of no kind");
}


static size_t
gen_stats(size_t size, const qbsync_events_stats_t *ring,
    const qbsync_events_stats_t *since_start)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_events_stats_json(buf, size, ring, since_start);
}


static void
add(qbsync_events_stats_t *stats, unsigned kind, const char *outcome)
{
    qbsync_events_record_t  r;

    memset(&r, 0, sizeof(r));
    r.kind = (uint8_t) kind;
    qbsync_events_set(&r.outcome, outcome, strlen(outcome));

    qbsync_events_stats_add(stats, &r);
}


static void
test_stats(void)
{
    int                    i, sorted;
    char                   name[16];
    size_t                 n, len;
    const char            *expected;
    qbsync_events_stats_t  ring, start;

    memset(&ring, 0, sizeof(ring));
    n = gen_stats(sizeof(buf) - 1, &ring, NULL);
    is_str(written(n),
           "{\"ring\":{\"by_type\":{\"sync_started\":0,"
           "\"sync_completed\":0,\"sync_failed\":0,\"item_created\":0,"
           "\"item_updated\":0,\"item_deactivated\":0,\"rate_limited\":0,"
           "\"signature_rejected\":0,\"duplicate\":0,\"stale\":0,"
           "\"dead_lettered\":0,\"token_refreshed\":0,"
           "\"cache_invalidated\":0},\"by_outcome\":{},\"total\":0}}",
           "no records: every kind 0, no outcome");

    add(&ring, QBSYNC_EVENTS_ITEM_CREATED, "created");
    add(&ring, QBSYNC_EVENTS_ITEM_UPDATED, "updated");
    add(&ring, QBSYNC_EVENTS_ITEM_CREATED, "created");
    add(&ring, QBSYNC_EVENTS_SYNC_FAILED, "failed");
    add(&ring, QBSYNC_EVENTS_SIGNATURE_REJECTED, "rejected");
    add(&ring, QBSYNC_EVENTS_SYNC_STARTED, "");
    add(&ring, QBSYNC_EVENTS_DUPLICATE, "other");
    add(&ring, 77, "created");

    is_int(ring.total, 8, "every record counts in total");
    is_int(ring.by_kind[QBSYNC_EVENTS_ITEM_CREATED], 2, "by kind");
    is_int(ring.outcomes, 4, "4 outcomes by name");
    is_int(ring.other, 1, "\"other\" is the other bucket's");

    memset(&start, 0, sizeof(start));
    add(&start, QBSYNC_EVENTS_TOKEN_REFRESHED, "refreshed");

    expected = "{\"ring\":{\"by_type\":{\"sync_started\":1,"
               "\"sync_completed\":0,\"sync_failed\":1,\"item_created\":2,"
               "\"item_updated\":1,\"item_deactivated\":0,"
               "\"rate_limited\":0,\"signature_rejected\":1,"
               "\"duplicate\":1,\"stale\":0,\"dead_lettered\":0,"
               "\"token_refreshed\":0,\"cache_invalidated\":0},"
               "\"by_outcome\":{\"created\":3,\"failed\":1,\"rejected\":1,"
               "\"updated\":1,\"other\":1},\"total\":8},"
               "\"since_start\":{\"by_type\":{\"sync_started\":0,"
               "\"sync_completed\":0,\"sync_failed\":0,\"item_created\":0,"
               "\"item_updated\":0,\"item_deactivated\":0,"
               "\"rate_limited\":0,\"signature_rejected\":0,"
               "\"duplicate\":0,\"stale\":0,\"dead_lettered\":0,"
               "\"token_refreshed\":1,\"cache_invalidated\":0},"
               "\"by_outcome\":{\"refreshed\":1},\"total\":1}}";
    len = strlen(expected);

    n = gen_stats(sizeof(buf) - 1, &ring, &start);
    is_str(written(n), expected,
           "ring and since start; outcomes in byte order, other last");
    is_int(gen_stats(len, &ring, &start), len, "fits exactly");
    is_int(gen_stats(len - 1, &ring, &start), 0, "one byte short");

    /* more names than room: the rest are other */
    memset(&ring, 0, sizeof(ring));

    for (i = 40; i > 0; i--) {
        snprintf(name, sizeof(name), "outcome_%02d", i);
        add(&ring, QBSYNC_EVENTS_SYNC_COMPLETED, name);
        add(&ring, QBSYNC_EVENTS_SYNC_COMPLETED, name);
    }

    add(&ring, QBSYNC_EVENTS_SYNC_COMPLETED, "outcome_00");

    is_int(ring.outcomes, QBSYNC_EVENTS_OUTCOMES, "32 outcomes by name");
    is_int(ring.other, 17, "the other 8, twice, and a new one: other");
    is_int(ring.total, 81, "all in total");

    sorted = 1;

    for (i = 0; i < QBSYNC_EVENTS_OUTCOMES; i++) {
        snprintf(name, sizeof(name), "outcome_%02d", i + 9);
        sorted &= ring.by_outcome[i].name.len == 10
                  && memcmp(ring.by_outcome[i].name.data, name, 10) == 0
                  && ring.by_outcome[i].count == 2;
    }

    ok(sorted, "the first 32 seen, in byte order, counted twice each");

    n = gen_stats(sizeof(buf) - 1, &ring, NULL);
    ok(n > 0 && strstr(written(n), "\"outcome_40\":2,\"other\":17},"
                                   "\"total\":81}}") != NULL,
       "  written so");

    memset(&ring, 0, sizeof(ring));
    add(&ring, 0, "b");
    add(&ring, 0, "ab");
    add(&ring, 0, "a");
    add(&ring, 0, "B");
    add(&ring, 0, "\xc3\xa9");
    n = gen_stats(sizeof(buf) - 1, &ring, NULL);
    ok(n > 0 && strstr(written(n), "\"by_outcome\":{\"B\":1,\"a\":1,"
                                   "\"ab\":1,\"b\":1,\"\xc3\xa9\":1}")
                != NULL,
       "byte order: upper case first, a prefix before, UTF-8 last");
}


int
main(void)
{
    test_kinds();
    test_record();
    test_copy();
    test_time();
    test_json();
    test_filter_defaults();
    test_filter_strings();
    test_filter_times();
    test_filter_limit();
    test_match();
    test_stats();

    return done();
}
