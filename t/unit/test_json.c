
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

#include "qbsync_json.h"
#include "tap.h"
#include "check.h"


static unsigned char  buf[256];


static const char *
written(size_t n)
{
    return written_in(buf, sizeof(buf), n);
}


static size_t
gen_error(size_t size, const char *code, const char *message)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_json_error(buf, size, code, message);
}


static size_t
gen_duplicate(size_t size, const char *id, size_t len)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_json_duplicate(buf, size, id, len, NULL);
}


static void
test_error(void)
{
    size_t       n;
    const char  *expected;

    expected = "{\"error\":\"bad_signature\","
               "\"message\":\"no v1 matches\"}";

    n = gen_error(sizeof(buf) - 1, "bad_signature", "no v1 matches");
    is_str(written(n), expected, "error body");
    is_int(n, strlen(expected), "  length");

    is_int(gen_error(strlen(expected), "bad_signature", "no v1 matches"),
           strlen(expected), "fits exactly");
    is_int(gen_error(strlen(expected) - 1, "bad_signature", "no v1 matches"),
           0, "one byte short");
    ok(buf[strlen(expected) - 1] == '#', "  nothing written past the size");
    is_int(gen_error(0, "a", "b"), 0, "no room at all");

    n = gen_error(sizeof(buf) - 1, "invalid_event",
              "say \"hi\" \\ a/b\n\t\r\b\f\x01\x1f\x7f caf\xc3\xa9");
    is_str(written(n),
           "{\"error\":\"invalid_event\",\"message\":"
           "\"say \\\"hi\\\" \\\\ a/b\\n\\t\\r\\b\\f\\u0001\\u001F"
           "\x7f caf\xc3\xa9\"}",
           "quotes, backslash and control characters are escaped");

    is_int(gen_error(sizeof(buf) - 1, "invalid_json", "bad \xff byte"), 0,
           "a message that is not UTF-8 is refused");
    is_str(written(gen_error(sizeof(buf) - 1, "", "")),
           "{\"error\":\"\",\"message\":\"\"}", "empty strings");
}


static void
test_duplicate(void)
{
    size_t  n;

    n = gen_duplicate(sizeof(buf) - 1, "evt_1Pgc76B7WZ01zgkWwyRHS12y", 28);
    is_str(written(n),
           "{\"duplicate\":true,\"event\":\"evt_1Pgc76B7WZ01zgkWwyRHS12y\"}",
           "duplicate body");

    n = gen_duplicate(sizeof(buf) - 1, "evt_1XXXX", 5);
    is_str(written(n), "{\"duplicate\":true,\"event\":\"evt_1\"}",
           "only id_len bytes of the id");

    n = gen_duplicate(sizeof(buf) - 1, "evt_\"\\\n", 7);
    is_str(written(n), "{\"duplicate\":true,\"event\":\"evt_\\\"\\\\\\n\"}",
           "the id is escaped");

    is_int(gen_duplicate(34, "evt_1", 5), 34, "fits exactly");
    is_int(gen_duplicate(33, "evt_1", 5), 0, "one byte short");

    n = qbsync_json_duplicate(buf, sizeof(buf) - 1, "evt_1", 5, "created");
    is_str(written(n),
           "{\"duplicate\":true,\"event\":\"evt_1\","
           "\"action\":\"created\"}",
           "the action the event had");
}


static void
test_object(void)
{
    size_t                n;
    qbsync_json_member_t  members[4];

    memset(members, 0, sizeof(members));

    members[0].name = "event";
    members[0].value = "evt_1";
    members[0].len = 5;
    members[1].name = "action";
    members[1].value = "created";
    members[1].len = 7;
    members[2].name = "warning";
    members[3].name = "qb_item_id";
    members[3].value = "19";
    members[3].len = 2;

    memset(buf, '#', sizeof(buf));
    n = qbsync_json_object(buf, sizeof(buf) - 1, members, 4);
    is_str(written(n),
           "{\"event\":\"evt_1\",\"action\":\"created\","
           "\"qb_item_id\":\"19\"}",
           "members in order, a NULL value left out");

    memset(buf, '#', sizeof(buf));
    n = qbsync_json_object(buf, sizeof(buf) - 1, members, 0);
    is_str(written(n), "{}", "no members");
}


int
main(void)
{
    test_error();
    test_duplicate();
    test_object();

    return done();
}
