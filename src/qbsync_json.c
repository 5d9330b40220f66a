
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

#include "qbsync_json.h"
#include "qbsync_yajl.h"


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
