
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

#include <yajl/yajl_gen.h>

#include "qbsync_json.h"


typedef struct {
    unsigned char  *start;
    unsigned char  *pos;
    unsigned char  *end;
    unsigned        overflow:1;
} qbsync_json_out_t;


static yajl_gen qbsync_json_gen(qbsync_json_out_t *out, unsigned char *buf,
    size_t size);
static void qbsync_json_print(void *data, const char *str, size_t len);
static yajl_gen_status qbsync_json_member(yajl_gen gen, const char *name,
    const char *value, size_t len);
static size_t qbsync_json_done(yajl_gen gen, qbsync_json_out_t *out,
    int ok);


size_t
qbsync_json_object(unsigned char *buf, size_t size,
    const qbsync_json_member_t *members, size_t n)
{
    int                ok;
    size_t             i;
    yajl_gen           gen;
    qbsync_json_out_t  out;

    gen = qbsync_json_gen(&out, buf, size);
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
            ok = (qbsync_json_member(gen, members[i].name, members[i].value,
                                     members[i].len)
                  == yajl_gen_status_ok);
        }
    }

    ok = ok && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    return qbsync_json_done(gen, &out, ok);
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


static yajl_gen
qbsync_json_gen(qbsync_json_out_t *out, unsigned char *buf, size_t size)
{
    yajl_gen  gen;

    out->start = buf;
    out->pos = buf;
    out->end = buf + size;
    out->overflow = 0;

    gen = yajl_gen_alloc(NULL);
    if (gen == NULL) {
        return NULL;
    }

    /* output goes straight to the caller's buffer, not yajl's own */
    if (!yajl_gen_config(gen, yajl_gen_print_callback, qbsync_json_print,
                         out)
        || !yajl_gen_config(gen, yajl_gen_validate_utf8, 1))
    {
        yajl_gen_free(gen);
        return NULL;
    }

    return gen;
}


static void
qbsync_json_print(void *data, const char *str, size_t len)
{
    qbsync_json_out_t  *out = data;

    if (out->overflow || (size_t) (out->end - out->pos) < len) {
        out->overflow = 1;
        return;
    }

    if (len) {
        memcpy(out->pos, str, len);
        out->pos += len;
    }
}


static yajl_gen_status
qbsync_json_member(yajl_gen gen, const char *name, const char *value,
    size_t len)
{
    yajl_gen_status  status;

    status = yajl_gen_string(gen, (const unsigned char *) name, strlen(name));
    if (status != yajl_gen_status_ok) {
        return status;
    }

    return yajl_gen_string(gen, (const unsigned char *) value, len);
}


static size_t
qbsync_json_done(yajl_gen gen, qbsync_json_out_t *out, int ok)
{
    yajl_gen_free(gen);

    if (!ok || out->overflow) {
        return 0;
    }

    return out->pos - out->start;
}
