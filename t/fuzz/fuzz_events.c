
/*
 * Copyright (C) qbsync authors
 */


/*
 * Input: a query string.  It is parsed as a filter, which must be sound
 * whether it is accepted or refused.  Its '&'-separated pieces fill a
 * record's strings in order (the bytes after the first '=', undecoded),
 * its last 8 bytes the time, its length the kind.  The record's JSON must
 * read back as the record, its time must parse back to itself, and a
 * query made of the record's own values must match it.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "qbsync_events.h"
#include "../unit/utf8.h"


#define check(expr)                                                           \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,           \
                    __LINE__, #expr);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)


/* a record's string, with its JSON name */
typedef struct {
    const char  *name;
    char        *data;
    uint8_t     *len;
    size_t       size;
} field_t;


#define field(record, member)                                                 \
    { #member, (record)->member.data, &(record)->member.len,                 \
      sizeof((record)->member.data) }


static char  query[2048];
static char  json[QBSYNC_EVENTS_JSON_MAX + 1];


static void
check_filter(const char *args, size_t len)
{
    char                    error[128];
    qbsync_events_filter_t  filter, again;

    memset(error, 'x', sizeof(error));

    if (qbsync_events_filter_parse(&filter, args, len, error,
                                   sizeof(error))
        != 0)
    {
        check(memchr(error, '\0', sizeof(error)) != NULL);
        check(strncmp(error, "since must be ", 14) == 0
              || strncmp(error, "until must be ", 14) == 0
              || strncmp(error, "limit must be ", 14) == 0
              || strncmp(error, "stats must be ", 14) == 0);
        return;
    }

    check(filter.limit >= 1 && filter.limit <= QBSYNC_EVENTS_LIMIT_MAX);
    check(filter.type.len <= sizeof(filter.type.data));
    check(filter.product.len <= sizeof(filter.product.data));
    check(filter.outcome.len <= sizeof(filter.outcome.data));
    check(filter.kind == -1
          || filter.kind == qbsync_events_kind_parse(filter.type.data,
                                                     filter.type.len));

    check(qbsync_events_filter_parse(&again, args, len, error,
                                     sizeof(error))
          == 0);
    check(memcmp(&filter, &again, sizeof(filter)) == 0);
}


static void
fill(qbsync_events_record_t *record, field_t *fields, size_t n,
    const uint8_t *data, size_t size)
{
    size_t       i, start, end;
    const char  *text, *amp, *eq;

    memset(record, 0, sizeof(qbsync_events_record_t));

    text = (const char *) data;
    start = 0;

    for (i = 0; i < n && start < size; i++, start = end + 1) {
        amp = memchr(text + start, '&', size - start);
        end = amp ? (size_t) (amp - text) : size;
        eq = memchr(text + start, '=', end - start);

        if (eq) {
            start = eq + 1 - text;
        }

        *fields[i].len = (uint8_t) qbsync_events_copy(fields[i].data,
                                                      fields[i].size,
                                                      text + start,
                                                      end - start);

        check(*fields[i].len <= fields[i].size);
        check(*fields[i].len <= end - start);
        check(utf8_valid(fields[i].data, *fields[i].len));
    }

    if (size >= 8) {
        memcpy(&record->time_ms, data + size - 8, 8);
        record->attempts = (uint16_t) (data[0] << 8 | data[1]);
        record->duration_ms = (uint32_t) data[2] << 16 | data[3];
    }

    record->kind = (uint8_t) (size % (QBSYNC_EVENTS_KINDS + 1));
}


static void
check_string(yajl_val object, const char *name, const char *data,
    size_t len)
{
    const char  *path[2];
    yajl_val     value;

    path[0] = name;
    path[1] = NULL;

    value = yajl_tree_get(object, path, yajl_t_any);
    check(value != NULL);

    if (len == 0) {
        check(YAJL_IS_NULL(value));
        return;
    }

    /* yajl's strings end at a NUL, which a record may hold */
    check(YAJL_IS_STRING(value));
    check(strlen(value->u.string) == strnlen(data, len));
    check(memcmp(value->u.string, data, strlen(value->u.string)) == 0);
}


static void
check_json(const qbsync_events_record_t *record, const field_t *fields,
    size_t n)
{
    char         stamp[QBSYNC_EVENTS_TIME_LEN], number[16];
    size_t       i, len;
    yajl_val     tree, value;
    const char  *kind, *path[2];

    len = qbsync_events_json((unsigned char *) json,
                             QBSYNC_EVENTS_JSON_MAX, record);
    check(len > 0);
    check(qbsync_events_json((unsigned char *) json, len, record) == len);
    check(qbsync_events_json((unsigned char *) json, len - 1, record) == 0);

    json[len] = '\0';
    tree = yajl_tree_parse(json, NULL, 0);
    check(tree != NULL && YAJL_IS_OBJECT(tree));
    check(tree->u.object.len == 12);

    check_string(tree, "time", stamp,
                 qbsync_events_time(stamp, record->time_ms));

    kind = qbsync_events_kind_name(record->kind);
    check_string(tree, "kind", kind, kind ? strlen(kind) : 0);

    for (i = 0; i < n; i++) {
        check_string(tree, fields[i].name, fields[i].data, *fields[i].len);
    }

    /* yajl 2.1.0's tree has no integers: the numbers as written */
    path[0] = "duration_ms";
    path[1] = NULL;
    value = yajl_tree_get(tree, path, yajl_t_number);
    snprintf(number, sizeof(number), "%u", (unsigned) record->duration_ms);
    check(value != NULL && strcmp(value->u.number.r, number) == 0);

    path[0] = "attempts";
    value = yajl_tree_get(tree, path, yajl_t_number);
    snprintf(number, sizeof(number), "%u", (unsigned) record->attempts);
    check(value != NULL && strcmp(value->u.number.r, number) == 0);

    yajl_tree_free(tree);
}


/* every byte as %XX */
static char *
encode(char *p, const char *name, const char *data, size_t len)
{
    size_t  i;

    p += sprintf(p, "&%s=", name);

    for (i = 0; i < len; i++) {
        p += sprintf(p, "%%%02X", (unsigned char) data[i]);
    }

    return p;
}


static void
check_match(const qbsync_events_record_t *record)
{
    char                    error[128], *p;
    int64_t                 offset;
    unsigned                minutes;
    uint64_t                time_ms;
    const char             *kind;
    qbsync_events_filter_t  filter;

    time_ms = record->time_ms;

    if (time_ms > 253402300799999ULL) {
        time_ms = 253402300799999ULL;
    }

    /*
     * The time as written at an offset of up to a day either way ('+'
     * encoded or not), then as Unix seconds.
     */
    minutes = record->duration_ms % 1440;
    offset = (int64_t) minutes * 60000;
    offset = (record->attempts & 1) ? -offset : offset;

    if ((int64_t) time_ms + offset < 0
        || (uint64_t) ((int64_t) time_ms + offset) > 253402300799999ULL)
    {
        minutes = 0;
        offset = 0;
    }

    p = query + sprintf(query, "since=");
    p += qbsync_events_time(p, (uint64_t) ((int64_t) time_ms + offset));

    if (minutes) {
        p += sprintf(p - 1, "%s%02u:%02u",
                     offset < 0 ? "-" : (record->attempts & 2) ? "+" : "%2B",
                     minutes / 60, minutes % 60)
             - 1;
    }

    p += sprintf(p, "&until=%llu.%03u",
                 (unsigned long long) ((time_ms + 1) / 1000),
                 (unsigned) ((time_ms + 1) % 1000));

    kind = qbsync_events_kind_name(record->kind);

    if (record->stripe_type.len) {
        p = encode(p, "type", record->stripe_type.data,
                   record->stripe_type.len);

    } else if (kind) {
        p = encode(p, "type", kind, strlen(kind));
    }

    p = encode(p, "product", record->product.data, record->product.len);
    p = encode(p, "outcome", record->outcome.data, record->outcome.len);

    check(qbsync_events_filter_parse(&filter, query, p - query, error,
                                     sizeof(error))
          == 0);
    check(filter.since == time_ms);
    check(filter.until == time_ms + 1);

    /* past 9999 the time written is not the record's */
    check(qbsync_events_match(&filter, record)
          == (record->time_ms == time_ms));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qbsync_events_stats_t   stats;
    qbsync_events_record_t  record;
    field_t                 fields[] = {
        field(&record, stripe_event),
        field(&record, stripe_type),
        field(&record, product),
        field(&record, qb_item_id),
        field(&record, location),
        field(&record, outcome),
        field(&record, trace_id),
        field(&record, error)
    };

    check_filter((const char *) data, size);

    fill(&record, fields, 8, data, size);
    check_json(&record, fields, 8);
    check_match(&record);

    memset(&stats, 0, sizeof(stats));
    qbsync_events_stats_add(&stats, &record);
    qbsync_events_stats_add(&stats, &record);
    check(stats.total == 2);
    check(qbsync_events_stats_json((unsigned char *) query, sizeof(query),
                                   &stats, &stats)
          > 0);

    return 0;
}
