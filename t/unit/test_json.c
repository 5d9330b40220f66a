
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

#include "qbsync_json.h"
#include "tap.h"
#include "check.h"


static unsigned char               buf[1024];

/* what the batch lines say besides their errors */
static const qbsync_json_counts_t  counts = { 2, 3, 4, 1 };
static qbsync_json_line_error_t    line_errors[3];


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


static size_t
gen_line(size_t size, const qbsync_json_line_error_t *errors, size_t n)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_json_batch_line(buf, size, 7, &counts, errors, n);
}


static size_t
gen_summary(size_t size, const char *error, const char *message)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_json_batch_summary(buf, size, 12, &counts, error, message);
}


/* the line written, fits exactly, and not in one byte less */
static void
is_line(size_t n, const char *expected, const char *name,
    size_t (*again)(size_t size))
{
    size_t  len;

    len = strlen(expected);

    is_str(written(n), expected, name);
    ok(n && buf[n - 1] == '\n' && memchr(buf, '\n', n - 1) == NULL,
       "  one newline, at the end");
    is_int(again(len), len, "  fits exactly");
    is_int(again(len - 1), 0, "  one byte short -> 0");
    ok(buf[len - 1] == '#', "  nothing written past the size");
}


static size_t
line_none(size_t size)
{
    return gen_line(size, NULL, 0);
}


static size_t
line_three(size_t size)
{
    return gen_line(size, line_errors, 3);
}


static size_t
summary_plain(size_t size)
{
    return gen_summary(size, NULL, NULL);
}


static size_t
summary_stopped(size_t size)
{
    return gen_summary(size, "body_too_large",
                       "stopped at \"line\" 12\nof 12");
}


static void
set_line_error(size_t i, size_t line, const char *product,
    const char *error, const char *message)
{
    line_errors[i].line = line;
    line_errors[i].product = product;
    line_errors[i].product_len = product ? strlen(product) : 0;
    line_errors[i].error = error;
    line_errors[i].message = message;
    line_errors[i].message_len = strlen(message);
}


static void
test_batch_line(void)
{
    is_line(line_none(sizeof(buf) - 1),
            "{\"batch\":7,\"created\":2,\"updated\":3,\"unchanged\":4,"
            "\"failed\":1,\"errors\":[]}\n",
            "a batch line without errors", line_none);

    set_line_error(0, 1, "prod_1", "invalid_product",
                   "name: expected a string");
    set_line_error(1, 2, NULL, "invalid_json", "line 2: invalid JSON");
    set_line_error(2, 30, "prod_\"3\"", "quickbooks_rejected",
                   "say \"hi\"\nthen\t\\ leave\r\x01");

    is_line(line_three(sizeof(buf) - 1),
            "{\"batch\":7,\"created\":2,\"updated\":3,\"unchanged\":4,"
            "\"failed\":1,\"errors\":["
            "{\"line\":1,\"product\":\"prod_1\",\"error\":\"invalid_product\","
            "\"message\":\"name: expected a string\"},"
            "{\"line\":2,\"product\":null,\"error\":\"invalid_json\","
            "\"message\":\"line 2: invalid JSON\"},"
            "{\"line\":30,\"product\":\"prod_\\\"3\\\"\","
            "\"error\":\"quickbooks_rejected\",\"message\":"
            "\"say \\\"hi\\\"\\nthen\\t\\\\ leave\\r\\u0001\"}]}\n",
            "three errors: a product null, quotes and newlines escaped",
            line_three);

    line_errors[0].product_len = 4;
    line_errors[0].message_len = 4;
    ok(strstr(written(gen_line(sizeof(buf) - 1, line_errors, 1)),
              "\"product\":\"prod\",\"error\":\"invalid_product\","
              "\"message\":\"name\"}") != NULL,
       "only product_len and message_len bytes");

    set_line_error(0, 1, "prod_1", "invalid_product", "bad \xff byte");
    is_int(gen_line(sizeof(buf) - 1, line_errors, 1), 0,
           "a message that is not UTF-8 -> 0");
    is_int(gen_line(0, NULL, 0), 0, "no room at all -> 0");
    is_int(gen_line(1, NULL, 0), 0, "room for the newline alone -> 0");
    ok(buf[0] == '#', "  nothing written");
}


static void
test_batch_summary(void)
{
    is_line(summary_plain(sizeof(buf) - 1),
            "{\"summary\":true,\"lines\":12,\"created\":2,\"updated\":3,"
            "\"unchanged\":4,\"failed\":1}\n",
            "a summary", summary_plain);

    is_line(summary_stopped(sizeof(buf) - 1),
            "{\"summary\":true,\"lines\":12,\"created\":2,\"updated\":3,"
            "\"unchanged\":4,\"failed\":1,\"error\":\"body_too_large\","
            "\"message\":\"stopped at \\\"line\\\" 12\\nof 12\"}\n",
            "a summary of a run stopped short, escaped", summary_stopped);

    is_int(gen_summary(sizeof(buf) - 1, "e", "bad \xc3"), 0,
           "a message that is not UTF-8 -> 0");
    is_int(gen_summary(0, NULL, NULL), 0, "no room at all -> 0");
}


int
main(void)
{
    test_error();
    test_duplicate();
    test_object();
    test_batch_line();
    test_batch_summary();

    return done();
}
