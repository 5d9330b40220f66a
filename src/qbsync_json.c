
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

#include "qbsync_json.h"
#include "qbsync_yajl.h"


static int qbsync_json_counts(yajl_gen gen, const qbsync_json_counts_t *counts);
static int qbsync_json_number(yajl_gen gen, const char *name, size_t value);
static size_t qbsync_json_line_end(yajl_gen gen, qbsync_yajl_out_t *out,
    int ok);


size_t
qbsync_json_object(unsigned char *buf, size_t size,
    const qbsync_json_member_t *members, size_t n)
{
    int                ok;
    size_t             i;
    yajl_gen           gen;
    qbsync_yajl_out_t  out;

    gen = qbsync_yajl_gen(&out, buf, size);
    if (gen == NULL) {
        return 0;
    }

    ok = (yajl_gen_map_open(gen) == yajl_gen_status_ok);

    for (i = 0; ok && i < n; i++) {

        if (members[i].is_true) {
            ok = yajl_gen_string(gen,
                                 (const unsigned char *) members[i].name,
                                 strlen(members[i].name))
                     == yajl_gen_status_ok
                 && yajl_gen_bool(gen, 1) == yajl_gen_status_ok;

        } else if (members[i].value != NULL) {
            ok = qbsync_yajl_gen_member(gen, members[i].name,
                                        members[i].value, members[i].len);
        }
    }

    ok = ok && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    return qbsync_yajl_done(gen, &out, ok);
}


size_t
qbsync_json_error(unsigned char *buf, size_t size, const char *code,
    const char *message)
{
    qbsync_json_member_t  members[2];

    memset(members, 0, sizeof(members));

    members[0].name = "error";
    members[0].value = code;
    members[0].len = strlen(code);

    members[1].name = "message";
    members[1].value = message;
    members[1].len = strlen(message);

    return qbsync_json_object(buf, size, members, 2);
}


size_t
qbsync_json_duplicate(unsigned char *buf, size_t size, const char *event_id,
    size_t id_len, const char *action)
{
    qbsync_json_member_t  members[3];

    memset(members, 0, sizeof(members));

    members[0].name = "duplicate";
    members[0].is_true = 1;

    members[1].name = "event";
    members[1].value = event_id;
    members[1].len = id_len;

    members[2].name = "action";
    members[2].value = action;
    members[2].len = action ? strlen(action) : 0;

    return qbsync_json_object(buf, size, members, 3);
}


size_t
qbsync_json_batch_line(unsigned char *buf, size_t size, size_t batch,
    const qbsync_json_counts_t *counts, const qbsync_json_line_error_t *errors,
    size_t n)
{
    int                              ok;
    size_t                           i;
    yajl_gen                         gen;
    qbsync_yajl_out_t                out;
    const qbsync_json_line_error_t  *e;

    if (size == 0) {
        return 0;
    }

    /* room for the newline */
    gen = qbsync_yajl_gen(&out, buf, size - 1);
    if (gen == NULL) {
        return 0;
    }

    ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
         && qbsync_json_number(gen, "batch", batch)
         && qbsync_json_counts(gen, counts)
         && yajl_gen_string(gen, (const unsigned char *) "errors", 6)
            == yajl_gen_status_ok
         && yajl_gen_array_open(gen) == yajl_gen_status_ok;

    for (i = 0; ok && i < n; i++) {
        e = &errors[i];

        ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
             && qbsync_json_number(gen, "line", e->line)
             && yajl_gen_string(gen, (const unsigned char *) "product", 7)
                == yajl_gen_status_ok
             && (e->product
                 ? yajl_gen_string(gen, (const unsigned char *) e->product,
                                   e->product_len)
                 : yajl_gen_null(gen))
                == yajl_gen_status_ok
             && qbsync_yajl_gen_member(gen, "error", e->error,
                                       strlen(e->error))
             && qbsync_yajl_gen_member(gen, "message", e->message,
                                       e->message_len)
             && yajl_gen_map_close(gen) == yajl_gen_status_ok;
    }

    ok = ok && yajl_gen_array_close(gen) == yajl_gen_status_ok
         && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    return qbsync_json_line_end(gen, &out, ok);
}


size_t
qbsync_json_batch_summary(unsigned char *buf, size_t size, size_t lines,
    const qbsync_json_counts_t *counts, const char *error,
    const char *message)
{
    int                ok;
    yajl_gen           gen;
    qbsync_yajl_out_t  out;

    if (size == 0) {
        return 0;
    }

    gen = qbsync_yajl_gen(&out, buf, size - 1);
    if (gen == NULL) {
        return 0;
    }

    ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
         && yajl_gen_string(gen, (const unsigned char *) "summary", 7)
            == yajl_gen_status_ok
         && yajl_gen_bool(gen, 1) == yajl_gen_status_ok
         && qbsync_json_number(gen, "lines", lines)
         && qbsync_json_counts(gen, counts);

    if (ok && error) {
        ok = qbsync_yajl_gen_member(gen, "error", error, strlen(error))
             && qbsync_yajl_gen_member(gen, "message", message,
                                       strlen(message));
    }

    ok = ok && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    return qbsync_json_line_end(gen, &out, ok);
}


static int
qbsync_json_counts(yajl_gen gen, const qbsync_json_counts_t *counts)
{
    return qbsync_json_number(gen, "created", counts->created)
           && qbsync_json_number(gen, "updated", counts->updated)
           && qbsync_json_number(gen, "unchanged", counts->unchanged)
           && qbsync_json_number(gen, "failed", counts->failed);
}


static int
qbsync_json_number(yajl_gen gen, const char *name, size_t value)
{
    return yajl_gen_string(gen, (const unsigned char *) name, strlen(name))
               == yajl_gen_status_ok
           && yajl_gen_integer(gen, (long long) value) == yajl_gen_status_ok;
}


/* NDJSON: the line and its newline, which the buffer kept room for */
static size_t
qbsync_json_line_end(yajl_gen gen, qbsync_yajl_out_t *out, int ok)
{
    size_t  len;

    len = qbsync_yajl_done(gen, out, ok);

    if (len == 0) {
        return 0;
    }

    out->start[len] = '\n';

    return len + 1;
}
