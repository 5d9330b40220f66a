
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_EVENTS_H_INCLUDED_
#define _QBSYNC_EVENTS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * The event store's records and what is done with them: one record per
 * outcome, kept in a ring in shared memory (so no pointers), written as a
 * JSON object for GET /qbsync/events and as a line of the audit log,
 * filtered by the query string and counted for ?stats=1.
 */


typedef enum {
    QBSYNC_EVENTS_SYNC_STARTED = 0,
    QBSYNC_EVENTS_SYNC_COMPLETED,
    QBSYNC_EVENTS_SYNC_FAILED,
    QBSYNC_EVENTS_ITEM_CREATED,
    QBSYNC_EVENTS_ITEM_UPDATED,
    QBSYNC_EVENTS_ITEM_DEACTIVATED,
    QBSYNC_EVENTS_RATE_LIMITED,
    QBSYNC_EVENTS_SIGNATURE_REJECTED,
    QBSYNC_EVENTS_DUPLICATE,
    QBSYNC_EVENTS_STALE,
    QBSYNC_EVENTS_DEAD_LETTERED,
    QBSYNC_EVENTS_TOKEN_REFRESHED,
    QBSYNC_EVENTS_CACHE_INVALIDATED,
    QBSYNC_EVENTS_KINDS
} qbsync_event_kind_e;


/* "item_created"; NULL for no kind */
const char *qbsync_events_kind_name(unsigned kind);

/* the kind of that exact name, or -1 */
int qbsync_events_kind_parse(const char *name, size_t len);


/*
 * A string member of a record, at most size bytes of valid UTF-8: filled
 * by qbsync_events_set() only.  Each is a struct of its own type, so that
 * the macro can take the size from the member itself.
 */
#define QBSYNC_EVENTS_STR(size)                                              \
    struct {                                                                  \
        uint8_t   len;                                                        \
        char      data[size];                                                 \
    }

/* Stripe's ids are about 30 bytes, its types at most 44 */
#define QBSYNC_EVENTS_ID_MAX       64
#define QBSYNC_EVENTS_TYPE_MAX     48
#define QBSYNC_EVENTS_QB_ID_MAX    32
#define QBSYNC_EVENTS_OUTCOME_MAX  32
#define QBSYNC_EVENTS_TRACE_MAX    32      /* 16 bytes in hex */
#define QBSYNC_EVENTS_ERROR_MAX    64


/*
 * 424 bytes on every ABI the module builds for (all members have their
 * natural alignment and no padding but 1 byte at the end); the unit test
 * holds it to that.  Zeroed memory is a record of kind sync_started at
 * the epoch with every string empty.
 */
typedef struct {
    uint64_t                                     time_ms;   /* Unix, UTC */
    uint32_t                                     duration_ms;
    uint16_t                                     attempts;
    uint8_t                                      kind;  /* _kind_e */
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_ID_MAX)      stripe_event;
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_TYPE_MAX)    stripe_type;
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_ID_MAX)      product;
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_QB_ID_MAX)   qb_item_id;
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_ID_MAX)      location;
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_OUTCOME_MAX) outcome;
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_TRACE_MAX)   trace_id;
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_ERROR_MAX)   error;
} qbsync_events_record_t;


/*
 * Copies len bytes of value into data, at most size: cut before the
 * first UTF-8 sequence that does not fit whole, and with every byte that
 * starts no well-formed sequence (RFC 3629) replaced by '?', so that the
 * record always makes valid JSON.  Returns the bytes kept.
 */
size_t qbsync_events_copy(char *data, size_t size, const char *value,
    size_t len);

/* qbsync_events_set(&record->product, data, len); value may be NULL if
   len is 0 */
#define qbsync_events_set(field, value, n)                                    \
    ((field)->len = (uint8_t) qbsync_events_copy((field)->data,              \
                                                 sizeof((field)->data),       \
                                                 (value), (n)))


/* "2026-11-28T04:10:26.123Z" */
#define QBSYNC_EVENTS_TIME_LEN  24

/*
 * Unix milliseconds as RFC 3339 UTC, into buf (not NUL-terminated);
 * arithmetic only, no time zone, locale or static buffer.  Times past
 * 9999-12-31T23:59:59.999Z, which have no four-digit year, are written
 * as that.  Returns QBSYNC_EVENTS_TIME_LEN.
 */
size_t qbsync_events_time(char *buf, uint64_t time_ms);


/*
 * The most a record's object takes (2621 bytes): every string byte a
 * control character, which yajl writes as \u00XX, the longest kind and
 * the largest numbers.
 */
#define QBSYNC_EVENTS_JSON_MAX  2624

/*
 * {"time":"...","kind":"...","stripe_event":...,"stripe_type":...,
 *  "product":...,"qb_item_id":...,"location":...,"outcome":...,
 *  "attempts":n,"duration_ms":n,"trace_id":...,"error":...}
 * in that order; an empty string, or a kind out of range, is null.  An
 * audit line is the object and a '\n'.  Returns the bytes written, or 0
 * if they do not fit or memory runs out; nothing is NUL-terminated.
 */
size_t qbsync_events_json(unsigned char *buf, size_t size,
    const qbsync_events_record_t *record);


#define QBSYNC_EVENTS_LIMIT_DEFAULT  100
#define QBSYNC_EVENTS_LIMIT_MAX      1000

/* until when no until= is given */
#define QBSYNC_EVENTS_FOREVER        UINT64_MAX


/*
 * A query: a record matches when it matches each parameter given.  The
 * strings are decoded copies of the arguments; one longer than a record
 * can hold sets nothing, since no record matches it.
 */
typedef struct {
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_TYPE_MAX)    type;     /* 0: any */
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_ID_MAX)      product;
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_OUTCOME_MAX) outcome;
    int                                          kind;     /* type's, or -1 */
    uint64_t                                     since;    /* ms, inclusive */
    uint64_t                                     until;    /* ms, exclusive */
    uint32_t                                     limit;
    unsigned                                     stats:1;
    unsigned                                     nothing:1;
} qbsync_events_filter_t;


/*
 * Reads a query string (r->args: without the '?', not NUL-terminated):
 *
 *   type=     a kind (item_created) or a Stripe type (product.created),
 *             which cannot be confused: only Stripe's have a '.'
 *   product=  outcome=   exact
 *   since=    until=     Unix seconds, with a fraction or not
 *             (1764303026, 1764303026.123), or an RFC 3339 date-time
 *             (2026-11-28T04:10:26Z, 2026-11-28T05:10:26.5+01:00); a
 *             '+' of the offset that came unencoded, so as a space, is
 *             taken for a '+'; digits past the millisecond are dropped,
 *             times before 1970 are 1970
 *   limit=    1 to 1000, 100 when not given
 *   stats=    1 for the counts instead of the records, 0 (the default)
 *
 * Names and values are split at '&' and '=' before values are decoded
 * (%XX, '+' for a space; a '%' not followed by two hex digits is kept).
 * The first occurrence of a name counts, as with nginx's $arg_; an empty
 * value is no value; other names are ignored.  Returns 0, or -1 with a
 * NUL-terminated message naming the parameter in error (error_size > 0).
 * A type that names nothing known matches nothing, and is no error.
 */
int qbsync_events_filter_parse(qbsync_events_filter_t *filter,
    const char *args, size_t len, char *error, size_t error_size);

/*
 * Whether the record is one the filter asks for: since <= time < until,
 * so that consecutive windows neither miss nor repeat a record.  The
 * limit is the caller's to apply, walking the ring newest first.
 */
int qbsync_events_match(const qbsync_events_filter_t *filter,
    const qbsync_events_record_t *record);


/* distinct outcomes counted by name; the rest are counted as "other" */
#define QBSYNC_EVENTS_OUTCOMES  32


/*
 * Counts of records, by kind and by outcome (in byte order of the name;
 * records of no kind or no outcome are in total only).  No pointers, so
 * that the counts since start can live in the zone, added to as records
 * are; zeroed memory is no record counted.
 */
typedef struct {
    uint64_t                                      count;
    QBSYNC_EVENTS_STR(QBSYNC_EVENTS_OUTCOME_MAX)  name;
} qbsync_events_outcome_count_t;


typedef struct {
    uint64_t                        total;
    uint64_t                        by_kind[QBSYNC_EVENTS_KINDS];
    uint64_t                        other;
    uint32_t                        outcomes;       /* used */
    qbsync_events_outcome_count_t   by_outcome[QBSYNC_EVENTS_OUTCOMES];
} qbsync_events_stats_t;


void qbsync_events_stats_add(qbsync_events_stats_t *stats,
    const qbsync_events_record_t *record);

/*
 * {"ring":{"by_type":{"sync_started":n,... every kind},
 *          "by_outcome":{"created":n,...,"other":n},"total":n},
 *  "since_start":{the same}}
 * "other", for an outcome of that name and those past the room, only when
 * not 0; "since_start" only when since_start is not NULL.  Returns the
 * bytes written, or 0 if they do not fit or memory runs out.
 */
size_t qbsync_events_stats_json(unsigned char *buf, size_t size,
    const qbsync_events_stats_t *ring,
    const qbsync_events_stats_t *since_start);


#endif /* _QBSYNC_EVENTS_H_INCLUDED_ */
