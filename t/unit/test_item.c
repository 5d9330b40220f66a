
/*
 * Copyright (C) qbsync authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <yajl/yajl_tree.h>

#include "qbsync_item.h"
#include "tap.h"
#include "check.h"
#include "utf8.h"


#define E_ACUTE  "\xc3\xa9"                     /* U+00E9, 2 bytes */
#define EMOJI    "\xf0\x9f\x98\x80"             /* U+1F600, 4 bytes */


static char  buf[2 * QBSYNC_ITEM_DESCRIPTION_SIZE];


static const char *
written(size_t n)
{
    return written_in(buf, sizeof(buf), n);
}


/* s repeated n times, in a buffer that the next call reuses */
static const char *
repeat(const char *s, size_t n)
{
    size_t       i, len;
    static char  out[5 * QBSYNC_ITEM_DESCRIPTION_SIZE];

    len = strlen(s);

    if (len * n >= sizeof(out)) {
        printf("Bail out! repeat() too long\n");
        exit(1);
    }

    for (i = 0; i < n; i++) {
        memcpy(out + i * len, s, len);
    }

    out[n * len] = '\0';

    return out;
}


static size_t
name_len(const char *name, size_t len, size_t size)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_item_name(name, len, buf, size);
}


static const char *
name(const char *name)
{
    return written(name_len(name, strlen(name), QBSYNC_ITEM_NAME_SIZE));
}


static size_t
suffix_len(const char *name, const char *id, size_t size)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_item_name_with_suffix(name, strlen(name), id, strlen(id),
                                        buf, size);
}


static const char *
suffix(const char *name, const char *id)
{
    return written(suffix_len(name, id, QBSYNC_ITEM_NAME_SIZE));
}


static size_t
description_len(const char *description, size_t size)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_item_description(description, strlen(description), buf,
                                   size);
}


static void
test_name(void)
{
    size_t  n;
    char    twice[QBSYNC_ITEM_NAME_SIZE], input[2 * QBSYNC_ITEM_NAME_SIZE];
    char    expected[2 * QBSYNC_ITEM_NAME_SIZE];

    is_str(name("Widget"), "Widget", "a plain name is kept");
    is_str(name("Widget: Pro\tEdition"), "Widget Pro Edition",
           "':' and a tab become spaces");
    is_str(name("  Gold :: plan \r\n monthly\t"), "Gold plan monthly",
           "runs collapse, both ends are trimmed");
    is_str(name("a\r\nb"), "a b", "CR LF is one space");
    is_str(name("Caf" E_ACUTE " cr" E_ACUTE "me"),
           "Caf" E_ACUTE " cr" E_ACUTE "me", "UTF-8 is kept");
    is_str(name("a\xc2\xa0\xc2\xa0" "b"), "a\xc2\xa0\xc2\xa0" "b",
           "only ASCII spaces collapse (U+00A0 is kept)");
    is_str(name("a\vb\fc"), "a\vb\fc",
           "other control characters are left to JSON escaping");
    is_str(name("Widget/Pro & \"Co\" 'x' \\"),
           "Widget/Pro & \"Co\" 'x' \\", "punctuation is kept");

    is_int(name_len(":: \t\r\n ::", 9, QBSYNC_ITEM_NAME_SIZE), 0,
           "nothing left -> 0");
    is_int(name_len("", 0, QBSYNC_ITEM_NAME_SIZE), 0, "empty -> 0");
    is_int(name_len(NULL, 0, QBSYNC_ITEM_NAME_SIZE), 0, "NULL, 0 -> 0");
    is_int(name_len("   ", 3, QBSYNC_ITEM_NAME_SIZE), 0, "spaces -> 0");
    is_int(name_len("a\0b", 3, QBSYNC_ITEM_NAME_SIZE), 3,
           "a NUL is a byte like any other");

    n = name_len(repeat(E_ACUTE, 150), 300, QBSYNC_ITEM_NAME_SIZE);
    is_int(n, 200, "150 x U+00E9 -> 200 bytes");
    is_int(code_points(buf, n), 100, "  100 code points");
    ok(utf8_valid(buf, n), "  valid UTF-8");

    n = name_len(repeat(EMOJI, 150), 600, QBSYNC_ITEM_NAME_SIZE);
    is_int(n, QBSYNC_ITEM_NAME_SIZE, "150 x U+1F600 -> 400 bytes");
    is_int(code_points(buf, n), 100, "  100 code points");
    ok(utf8_valid(buf, n), "  valid UTF-8");
    is_str(written(n), repeat(EMOJI, 100), "  the first 100");

    strcpy(expected, repeat("a", 100));
    is_str(name(expected), expected, "100 code points stay");
    is_str(name(repeat("a", 101)), expected, "101 are cut to 100");

    snprintf(input, sizeof(input), "%s  b", repeat("a", 99));
    is_str(name(input), repeat("a", 99),
           "a space that would be the 100th code point is trimmed");
    snprintf(input, sizeof(input), "%s :bc", repeat("a", 98));
    snprintf(expected, sizeof(expected), "%s b", repeat("a", 98));
    is_str(name(input), expected, "a space as the 99th code point is kept");
    snprintf(input, sizeof(input), "   %s", repeat("a", 100));
    is_str(name(input), repeat("a", 100), "leading spaces are not counted");
    snprintf(input, sizeof(input), "%s" E_ACUTE EMOJI, repeat("a", 98));
    is_str(name(input), input, "the 100th code point is kept whole");
    snprintf(input, sizeof(input), "%s" EMOJI, repeat("a", 100));
    is_str(name(input), repeat("a", 100), "the 101st is dropped whole");

    n = name_len("Widget Pro", 10, 10);
    is_int(n, 10, "fits exactly");
    is_int(name_len("Widget Pro", 10, 9), 0, "one byte short -> 0");
    ok(buf[9] == '#', "  nothing written past the size");
    is_int(name_len("  a  ", 5, 1), 1, "trimmed spaces need no room");

    strcpy(input, " x :\tCaf" E_ACUTE ":: a");
    n = name_len(input, strlen(input), sizeof(twice));
    memcpy(twice, buf, n);
    is_int(name_len(twice, n, sizeof(twice)), n,
           "a name through the rules twice");
    ok(memcmp(buf, twice, n) == 0, "  is unchanged the second time");
}


static void
test_name_with_suffix(void)
{
    size_t       n;
    char         input[2 * QBSYNC_ITEM_NAME_SIZE];
    char         expected[2 * QBSYNC_ITEM_NAME_SIZE];
    const char  *id;

    is_str(suffix("Widget", "prod_NZz1"), "Widget (prod_NZz1)",
           "name (product id)");

    /* 12 code points of suffix leave 88 for the name */
    n = suffix_len(repeat("a", 100), "prod_NZz1", QBSYNC_ITEM_NAME_SIZE);
    is_int(code_points(buf, n), 100, "a 100 code point name is cut");
    snprintf(expected, sizeof(expected), "%s (prod_NZz1)", repeat("a", 88));
    is_str(written(n), expected, "  to 88");

    snprintf(input, sizeof(input), "%s bcd", repeat("a", 87));
    snprintf(expected, sizeof(expected), "%s (prod_NZz1)", repeat("a", 87));
    is_str(suffix(input, "prod_NZz1"), expected,
           "a space at the cut is trimmed before \" (\"");

    n = suffix_len(repeat(E_ACUTE, 100), "prod_NZz1", QBSYNC_ITEM_NAME_SIZE);
    is_int(code_points(buf, n), 100, "100 x U+00E9: 100 code points");
    is_int(n, 88 * 2 + 12, "  88 of them kept whole");
    ok(utf8_valid(buf, n), "  valid UTF-8");

    n = suffix_len(repeat(EMOJI, 100), "prod_NZz1", QBSYNC_ITEM_NAME_SIZE);
    is_int(n, 88 * 4 + 12, "100 x U+1F600: 88 kept whole");
    ok(utf8_valid(buf, n), "  valid UTF-8");

    is_str(suffix("Widget", "prod_" E_ACUTE), "Widget (prod_" E_ACUTE ")",
           "an id is counted in code points");

    id = repeat("x", 96);
    n = suffix_len("Widget", id, QBSYNC_ITEM_NAME_SIZE);
    is_int(code_points(buf, n), 100, "a 96 character id leaves one");
    ok(n > 0 && buf[0] == 'W' && buf[1] == ' ', "  \"W (x...)\"");

    is_int(suffix_len("Widget", repeat("x", 97), QBSYNC_ITEM_NAME_SIZE), 0,
           "a 97 character id leaves no room for the name");
    is_int(suffix_len("", "prod_NZz1", QBSYNC_ITEM_NAME_SIZE), 0,
           "an empty name -> 0");
    is_int(suffix_len("Widget", "", QBSYNC_ITEM_NAME_SIZE), 0,
           "an empty id -> 0");
    is_int(suffix_len("Widget", "prod:1", QBSYNC_ITEM_NAME_SIZE), 0,
           "an id with ':' -> 0");
    is_int(suffix_len("Widget", "prod 1", QBSYNC_ITEM_NAME_SIZE), 0,
           "an id with a space -> 0");
    is_int(suffix_len("Widget", "prod\t1", QBSYNC_ITEM_NAME_SIZE), 0,
           "an id with a tab -> 0");

    is_int(suffix_len("Widget", "prod_NZz1", 18), 18, "fits exactly");
    is_int(suffix_len("Widget", "prod_NZz1", 17), 0, "one byte short -> 0");
    ok(buf[0] == '#', "  nothing written");
}


static void
test_description(void)
{
    size_t  n;

    is_str(written(description_len("Line 1\nLine 2\t: x  ", 100)),
           "Line 1\nLine 2\t: x  ", "a description is kept as it is");
    is_int(description_len("", 100), 0, "empty -> 0");
    is_int(qbsync_item_description(NULL, 0, buf, 100), 0,
           "a null description (NULL, 0) -> 0");

    n = description_len(repeat(E_ACUTE, 5000), QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_int(n, 8000, "5000 x U+00E9 -> 8000 bytes");
    is_int(code_points(buf, n), QBSYNC_ITEM_DESCRIPTION_MAX,
           "  4000 code points");
    ok(utf8_valid(buf, n), "  valid UTF-8");

    n = description_len(repeat(EMOJI, 4001), QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_int(n, QBSYNC_ITEM_DESCRIPTION_SIZE, "4001 x U+1F600 -> 16000 bytes");
    ok(utf8_valid(buf, n), "  valid UTF-8");

    n = description_len(repeat("a", 4000), QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_int(n, 4000, "4000 stay");

    is_int(description_len("abc", 3), 3, "fits exactly");
    is_int(description_len("abc", 2), 0, "one byte short -> 0");
    ok(buf[0] == '#', "  nothing written");
}


static qbsync_item_t *
item_widget(void)
{
    static qbsync_item_t  item;

    item.name = "Widget Pro";
    item.name_len = 10;
    item.description = "The best widget";
    item.description_len = 15;
    item.sku = "prod_NZz1";
    item.sku_len = 9;
    item.type = "Service";
    item.income_account = "79";
    item.expense_account = "80";
    item.active = 1;
    item.unit_price = "19.99";
    item.unit_price_len = 5;

    return &item;
}


static size_t
create_body(const qbsync_item_t *item, size_t size)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_item_create_body(item, (unsigned char *) buf, size);
}


static size_t
update_body(const qbsync_item_t *item, size_t size)
{
    memset(buf, '#', sizeof(buf));

    return qbsync_item_update_body(item, "42", 2, "3", 1,
                                   (unsigned char *) buf, size);
}


static const char *
member_string(yajl_val root, const char *name)
{
    const char  *path[] = { name, NULL };

    return YAJL_GET_STRING(yajl_tree_get(root, path, yajl_t_string));
}


static const char *
ref_value(yajl_val root, const char *name)
{
    const char  *path[] = { name, "value", NULL };

    return YAJL_GET_STRING(yajl_tree_get(root, path, yajl_t_string));
}


static void
test_create_body(void)
{
    size_t          n;
    qbsync_item_t  *item;
    const char     *expected;

    item = item_widget();
    expected = "{\"Name\":\"Widget Pro\",\"Sku\":\"prod_NZz1\","
               "\"Description\":\"The best widget\",\"Type\":\"Service\","
               "\"IncomeAccountRef\":{\"value\":\"79\"},"
               "\"ExpenseAccountRef\":{\"value\":\"80\"},"
               "\"Active\":true,\"UnitPrice\":19.99}";

    n = create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_str(written(n), expected, "create body, fields in order");
    is_int(create_body(item, strlen(expected)), strlen(expected),
           "fits exactly");
    is_int(create_body(item, strlen(expected) - 1), 0,
           "one byte short -> 0");
    ok(buf[strlen(expected) - 1] == '#', "  nothing written past the size");

    item->unit_price = NULL;
    is_str(written(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE)),
           "{\"Name\":\"Widget Pro\",\"Sku\":\"prod_NZz1\","
           "\"Description\":\"The best widget\",\"Type\":\"Service\","
           "\"IncomeAccountRef\":{\"value\":\"79\"},"
           "\"ExpenseAccountRef\":{\"value\":\"80\"},\"Active\":true}",
           "no unit price: UnitPrice left out");

    item = item_widget();
    item->description = "";
    item->description_len = 0;
    item->active = 0;
    item->type = "NonInventory";
    is_str(written(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE)),
           "{\"Name\":\"Widget Pro\",\"Sku\":\"prod_NZz1\","
           "\"Description\":\"\",\"Type\":\"NonInventory\","
           "\"IncomeAccountRef\":{\"value\":\"79\"},"
           "\"ExpenseAccountRef\":{\"value\":\"80\"},"
           "\"Active\":false,\"UnitPrice\":19.99}",
           "an empty description is written \"\", inactive is false");

    item->description = NULL;
    item->active = 7;
    is_str(written(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE)),
           "{\"Name\":\"Widget Pro\",\"Sku\":\"prod_NZz1\","
           "\"Description\":\"\",\"Type\":\"NonInventory\","
           "\"IncomeAccountRef\":{\"value\":\"79\"},"
           "\"ExpenseAccountRef\":{\"value\":\"80\"},"
           "\"Active\":true,\"UnitPrice\":19.99}",
           "a NULL description too; any non-zero active is true");
}


static void
test_update_body(void)
{
    size_t          n;
    qbsync_item_t  *item;
    const char     *expected;

    item = item_widget();
    expected = "{\"sparse\":true,\"Id\":\"42\",\"SyncToken\":\"3\","
               "\"Name\":\"Widget Pro\",\"Sku\":\"prod_NZz1\","
               "\"Description\":\"The best widget\",\"Type\":\"Service\","
               "\"IncomeAccountRef\":{\"value\":\"79\"},"
               "\"ExpenseAccountRef\":{\"value\":\"80\"},"
               "\"Active\":true,\"UnitPrice\":19.99}";

    n = update_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_str(written(n), expected, "update body: sparse, Id, SyncToken first");
    is_int(update_body(item, strlen(expected)), strlen(expected),
           "fits exactly");
    is_int(update_body(item, strlen(expected) - 1), 0,
           "one byte short -> 0");

    item = item_widget();
    item->description = NULL;
    item->type = NULL;
    item->unit_price = NULL;
    item->active = 0;
    expected = "{\"sparse\":true,\"Id\":\"42\",\"SyncToken\":\"3\","
               "\"Name\":\"Widget Pro\",\"Sku\":\"prod_NZz1\","
               "\"Active\":false}";
    n = update_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_str(written(n), expected,
           "a deactivation sends no description, type or accounts");

    item = item_widget();
    item->description = NULL;
    item->type = NULL;
    expected = "{\"sparse\":true,\"Id\":\"42\",\"SyncToken\":\"3\","
               "\"Name\":\"Widget Pro\",\"Sku\":\"prod_NZz1\","
               "\"Active\":true,\"UnitPrice\":19.99}";
    n = update_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_str(written(n), expected, "a price change sends the price");

    item = item_widget();
    item->description = NULL;
    is_int(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE) > 0, 1,
           "a create always sends a Description");

    item = item_widget();
    memset(buf, '#', sizeof(buf));
    n = qbsync_item_update_body(item, "4\"2", 3, "\\", 1,
                                (unsigned char *) buf, sizeof(buf) - 1);
    expected = "{\"sparse\":true,\"Id\":\"4\\\"2\",\"SyncToken\":\"\\\\\",";
    ok(strncmp(written(n), expected, strlen(expected)) == 0,
       "Id and SyncToken are escaped");

    is_int(qbsync_item_update_body(item, NULL, 0, "3", 1,
                                   (unsigned char *) buf, sizeof(buf)),
           0, "no Id -> 0");
    is_int(qbsync_item_update_body(item, "42", 2, NULL, 0,
                                   (unsigned char *) buf, sizeof(buf)),
           0, "no SyncToken -> 0");
}


static void
test_body_escaping(void)
{
    size_t             n;
    char               error[128];
    yajl_val           root, value;
    const char        *text;
    static const char  description[] =
        "Line 1\nLine 2\r\n\tTab \"q\" \\back\\ \b\f\x00 end";
    const char     *path[2];
    qbsync_item_t  *item;

    item = item_widget();
    item->name = "Say \"hi\" \\ a/b \x01\x1f\x7f caf" E_ACUTE " " EMOJI;
    item->name_len = strlen(item->name);
    item->description = description;
    item->description_len = sizeof(description) - 1;
    item->sku = "prod_'\"";
    item->sku_len = 7;
    item->type = "Non\"Inventory";
    item->income_account = "7\\9";
    item->expense_account = "8\n0";
    item->unit_price = "-0.125";
    item->unit_price_len = 6;

    n = update_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE);
    ok(n > 0, "a body of awkward strings is written");
    buf[n] = '\0';

    root = yajl_tree_parse(buf, error, sizeof(error));
    if (!ok(root != NULL && YAJL_IS_OBJECT(root), "  and parses back")) {
        printf("# %s\n# %s\n", error, buf);
        return;
    }

    is_int(YAJL_GET_OBJECT(root)->len, 11, "  11 members");

    path[0] = "sparse";
    path[1] = NULL;
    ok(YAJL_IS_TRUE(yajl_tree_get(root, path, yajl_t_any)), "  sparse");
    is_str(member_string(root, "Id"), "42", "  Id");
    is_str(member_string(root, "SyncToken"), "3", "  SyncToken");
    is_str(member_string(root, "Name"), item->name, "  Name");

    /* the NUL inside too: yajl_tree keeps the bytes after a \u0000 */
    text = member_string(root, "Description");
    ok(text != NULL
       && memcmp(text, item->description, item->description_len + 1) == 0,
       "  Description");

    is_str(member_string(root, "Sku"), "prod_'\"", "  Sku");
    is_str(member_string(root, "Type"), "Non\"Inventory", "  Type");
    is_str(ref_value(root, "IncomeAccountRef"), "7\\9",
           "  IncomeAccountRef.value");
    is_str(ref_value(root, "ExpenseAccountRef"), "8\n0",
           "  ExpenseAccountRef.value");

    path[0] = "Active";
    ok(YAJL_IS_TRUE(yajl_tree_get(root, path, yajl_t_any)), "  Active");

    path[0] = "UnitPrice";
    value = yajl_tree_get(root, path, yajl_t_number);
    ok(value != NULL, "  UnitPrice is a number");
    is_str(value ? YAJL_GET_NUMBER(value) : NULL, "-0.125",
           "  written as given");

    ok(strstr(buf, "\"UnitPrice\":-0.125}") != NULL, "  last, unquoted");
    ok(strstr(buf, "\\u0001\\u001F") != NULL,
       "  control characters as \\u escapes");
    ok(strstr(buf, "\"Line 1\\nLine 2\\r\\n\\tTab \\\"q\\\" "
                   "\\\\back\\\\ \\b\\f\\u0000 end\"") != NULL,
       "  \\n \\r \\t \\\" \\\\ \\b \\f \\u0000");

    yajl_tree_free(root);
}


static void
test_body_refused(void)
{
    size_t          i;
    char            name[64];
    qbsync_item_t  *item;
    const char     *good[] = {
        "0", "19.99", "-1.5", "0.125", "1000", "0.00000000000001",
        "999999999999", "-0.5"
    };
    const char     *bad[] = {
        "", "-", "-0", "019.99", "19.90", "19.", ".5", "1e3", "+1", "NaN",
        "19.99 ", " 19.99", "0.0", "00", "1,5", "0x1", "1.2.3", "--1",
        "19.99}", "1\"", "true"
    };

    item = item_widget();

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        item->unit_price = good[i];
        item->unit_price_len = strlen(good[i]);
        snprintf(name, sizeof(name), "unit price \"%s\" is written", good[i]);
        ok(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE) > 0, name);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        item->unit_price = bad[i];
        item->unit_price_len = strlen(bad[i]);
        snprintf(name, sizeof(name), "unit price \"%s\" is refused", bad[i]);
        is_int(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE), 0, name);
        ok(buf[0] == '#', "  nothing written");
    }

    item->unit_price = "19.99";
    item->unit_price_len = 4;
    ok(strstr(written(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE)),
              "\"UnitPrice\":19.9}") != NULL, "only unit_price_len bytes");

    item = item_widget();
    item->name = "bad \xff byte";
    item->name_len = 10;
    is_int(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE), 0,
           "a name that is not UTF-8 -> 0");

    item = item_widget();
    item->description = "bad \xc3";
    item->description_len = 5;
    is_int(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE), 0,
           "a description cut inside a code point -> 0");

    item = item_widget();
    item->name_len = 0;
    is_int(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE), 0,
           "an empty name -> 0");

    item = item_widget();
    item->sku_len = 0;
    is_int(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE), 0,
           "an empty Sku -> 0");

    item = item_widget();
    item->type = NULL;
    is_int(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE), 0,
           "no Type -> 0");

    item = item_widget();
    item->income_account = NULL;
    is_int(create_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE), 0,
           "no income account -> 0");

    item = item_widget();
    item->expense_account = NULL;
    is_int(update_body(item, QBSYNC_ITEM_DESCRIPTION_SIZE), 0,
           "no expense account -> 0");
}


static void
test_hash(void)
{
    uint64_t       base;
    qbsync_item_t  a, b;

    a = *item_widget();
    base = qbsync_item_hash(&a);

    /*
     * The encoding is fixed (docs in qbsync_item.c): these values must
     * not change with the machine, the compiler or the release.
     */
    ok(base == 0x777e1497d40a857bULL, "the widget's digest is pinned");

    b = a;
    b.unit_price = NULL;
    ok(qbsync_item_hash(&b) == 0x8c88ba776dc032dfULL,
       "so is the one without a price");

    b = a;
    b.name = "Widget Pro ignored";
    ok(qbsync_item_hash(&b) == base, "only name_len bytes count");
    b.active = 9;
    ok(qbsync_item_hash(&b) == base, "any non-zero active is the same");

    b = a;
    b.name = "Widget Pr0";
    ok(qbsync_item_hash(&b) != base, "the name counts");
    b = a;
    b.description_len = 14;
    ok(qbsync_item_hash(&b) != base, "the description counts");
    b = a;
    b.sku = "prod_NZz2";
    ok(qbsync_item_hash(&b) != base, "the Sku counts");
    b = a;
    b.type = "NonInventory";
    ok(qbsync_item_hash(&b) != base, "the Type counts");
    b = a;
    b.income_account = "78";
    ok(qbsync_item_hash(&b) != base, "the income account counts");
    b = a;
    b.expense_account = "81";
    ok(qbsync_item_hash(&b) != base, "the expense account counts");
    b = a;
    b.active = 0;
    ok(qbsync_item_hash(&b) != base, "Active counts");
    b = a;
    b.unit_price = "19.98";
    ok(qbsync_item_hash(&b) != base, "the unit price counts");

    b = a;
    b.unit_price = NULL;
    base = qbsync_item_hash(&b);
    b.unit_price = "";
    b.unit_price_len = 0;
    ok(qbsync_item_hash(&b) != base, "a NULL unit price differs from \"\"");
    b.unit_price = "0";
    b.unit_price_len = 1;
    ok(qbsync_item_hash(&b) != base, "  and from \"0\"");

    a = *item_widget();
    b = a;
    a.name = "ab";
    a.name_len = 2;
    a.description = "c";
    a.description_len = 1;
    b.name = "a";
    b.name_len = 1;
    b.description = "bc";
    b.description_len = 2;
    ok(qbsync_item_hash(&a) != qbsync_item_hash(&b),
       "bytes moved from one field to the next differ");

    a = *item_widget();
    b = a;
    a.type = "Service";
    b.type = "Service";
    a.income_account = "7";
    b.income_account = "";
    a.expense_account = "";
    b.expense_account = "7";
    ok(qbsync_item_hash(&a) != qbsync_item_hash(&b),
       "  in the NUL-terminated fields too");
}


static size_t
query(size_t (*build)(const char *, size_t, char *, size_t),
    const char *value, size_t size)
{
    memset(buf, '#', sizeof(buf));

    return build(value, strlen(value), buf, size);
}


/* the inverse of the URL encoding, to read the statement back */
static const char *
url_decode(const char *text)
{
    size_t       i, n;
    unsigned     c;
    static char  out[sizeof(buf)];

    for (i = 0, n = 0; text[i]; n++) {
        if (text[i] == '%' && sscanf(text + i + 1, "%2X", &c) == 1) {
            out[n] = (char) c;
            i += 3;

        } else {
            out[n] = text[i++];
        }
    }

    out[n] = '\0';

    return out;
}


static void
test_query(void)
{
    size_t       n;
    const char  *expected;

    expected = "select%20%2A%20from%20Item%20where%20Sku%20%3D%20%27"
               "prod_NZz1-.~"
               "%27%20and%20Active%20in%20%28true%2C%20false%29";
    n = query(qbsync_item_query_by_sku, "prod_NZz1-.~",
              QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_str(written(n), expected, "query by Sku, every reserved byte %XX");
    is_str(url_decode(written(n)),
           "select * from Item where Sku = 'prod_NZz1-.~'"
           " and Active in (true, false)", "  the statement");

    is_int(query(qbsync_item_query_by_sku, "prod_NZz1-.~", strlen(expected)),
           strlen(expected), "fits exactly");
    is_int(query(qbsync_item_query_by_sku, "prod_NZz1-.~",
                 strlen(expected) - 1),
           0, "one byte short -> 0");
    ok(buf[strlen(expected) - 1] == '#', "  nothing written past the size");

    n = query(qbsync_item_query_by_name, "O'Brien \\ Caf" E_ACUTE,
              QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_str(written(n),
           "select%20%2A%20from%20Item%20where%20Name%20%3D%20%27"
           "O%5C%27Brien%20%5C%5C%20Caf%C3%A9"
           "%27%20and%20Active%20in%20%28true%2C%20false%29",
           "query by name: ' and \\ escaped, UTF-8 %XX uppercase");
    is_str(url_decode(written(n)),
           "select * from Item where Name = 'O\\'Brien \\\\ Caf" E_ACUTE
           "' and Active in (true, false)", "  the statement");

    n = query(qbsync_item_query_by_name, "", QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_str(url_decode(written(n)),
           "select * from Item where Name = '' and Active in (true, false)",
           "an empty value");

    n = query(qbsync_item_query_by_name, "%+&=#?/\"",
              QBSYNC_ITEM_DESCRIPTION_SIZE);
    ok(strstr(written(n), "%27%25%2B%26%3D%23%3F%2F%22%27") != NULL,
       "URL delimiters are encoded");

    /* "O\'" in the middle: the escape and the quote need 6 bytes */
    n = query(qbsync_item_query_by_name, "O'",
              QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_int(query(qbsync_item_query_by_name, "O'", n), n, "O' fits exactly");
    is_int(query(qbsync_item_query_by_name, "O'", n - 1), 0,
           "  not one byte less");
}


/* values as C strings, in a table the next call reuses */
static size_t
query_in_len(const char *field, const char *const *values, size_t n,
    size_t size)
{
    size_t               i;
    static qbsync_str_t  strs[64];

    if (n > sizeof(strs) / sizeof(strs[0])) {
        printf("Bail out! query_in_len() given too many values\n");
        exit(1);
    }

    for (i = 0; i < n; i++) {
        strs[i].data = values[i];
        strs[i].len = strlen(values[i]);
    }

    memset(buf, '#', sizeof(buf));

    return qbsync_item_query_in(field, strs, n, buf, size);
}


static const char *
query_in(const char *field, const char *const *values, size_t n)
{
    return written(query_in_len(field, values, n,
                                QBSYNC_ITEM_DESCRIPTION_SIZE));
}


static void
test_query_in(void)
{
    size_t             i, n, len;
    char               expected[2048], ids[30][8];
    const char        *text, *values[30];
    static const char  *two[] = { "prod_1", "prod_2" };
    static const char  *awkward[] = {
        "O'Brien", "a\\b", "Caf" E_ACUTE, "'", ""
    };

    n = query_in_len("Sku", two, 2, QBSYNC_ITEM_DESCRIPTION_SIZE);
    strcpy(expected,
           "select%20%2A%20from%20Item%20where%20Sku%20in%20%28"
           "%27prod_1%27%2C%20%27prod_2%27"
           "%29%20and%20Active%20in%20%28true%2C%20false%29"
           "%20maxresults%201000");
    is_str(written(n), expected, "query in, every reserved byte %XX");
    is_str(url_decode(written(n)),
           "select * from Item where Sku in ('prod_1', 'prod_2')"
           " and Active in (true, false) maxresults 1000",
           "  the statement");

    len = strlen(expected);
    is_int(query_in_len("Sku", two, 2, len), len, "fits exactly");
    is_int(query_in_len("Sku", two, 2, len - 1), 0, "one byte short -> 0");
    ok(buf[len - 1] == '#', "  nothing written past the size");
    is_int(query_in_len("Sku", two, 2, len / 2), 0,
           "cut among the values -> 0");
    is_int(query_in_len("Sku", two, 2, 0), 0, "no room at all -> 0");

    is_str(url_decode(query_in("Sku", two, 1)),
           "select * from Item where Sku in ('prod_1')"
           " and Active in (true, false) maxresults 1000", "one value");

    is_int(query_in_len("Sku", two, 0, QBSYNC_ITEM_DESCRIPTION_SIZE), 0,
           "no values -> 0");
    ok(buf[0] == '#', "  nothing written");

    n = query_in_len("Name", awkward, 5, QBSYNC_ITEM_DESCRIPTION_SIZE);
    ok(strstr(written(n), "%28%27O%5C%27Brien%27%2C%20%27a%5C%5Cb%27%2C%20"
                          "%27Caf%C3%A9%27%2C%20%27%5C%27%27%2C%20%27%27"
                          "%29")
       != NULL, "' and \\ escaped, UTF-8 %XX uppercase");
    is_str(url_decode(written(n)),
           "select * from Item where Name in ('O\\'Brien', 'a\\\\b', "
           "'Caf" E_ACUTE "', '\\'', '') and Active in (true, false)"
           " maxresults 1000", "  the statement");

    n = query_in_len("Name", awkward + 3, 1, QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_str(url_decode(written(n)),
           "select * from Item where Name in ('\\'') and Active in "
           "(true, false) maxresults 1000", "a lone '");
    is_int(query_in_len("Name", awkward + 3, 1, n), n, "  fits exactly");
    is_int(query_in_len("Name", awkward + 3, 1, n - 1), 0,
           "  not one byte less");

    /* the escape and the quote need 6 bytes: never written by halves */
    text = written(n);
    len = strstr(text, "%5C%27") - text;
    is_int(query_in_len("Name", awkward + 3, 1, len + 5), 0,
           "  5 bytes left for \\'");
    ok(buf[len] == '#', "  none of them written");

    len = sprintf(expected, "select * from Item where Sku in (");

    for (i = 0; i < 30; i++) {
        sprintf(ids[i], "prod_%02zu", i + 1);
        values[i] = ids[i];
        len += sprintf(expected + len, "%s'%s'", i ? ", " : "", ids[i]);
    }

    sprintf(expected + len, ") and Active in (true, false) maxresults 1000");

    n = query_in_len("Sku", values, 30, QBSYNC_ITEM_DESCRIPTION_SIZE);
    is_str(url_decode(written(n)), expected, "30 values, in order");
    ok(strstr(written(n), "%27prod_30%27%29%20and") != NULL,
       "  the last one closes the list");
}


/* SHA-256 of the parts, computed here independently of qbsync_item.c */
static void
request_id_expected(const char *event_id, const char *operation,
    const char *body, char *out)
{
    size_t         i, n, len;
    unsigned char  digest[32], message[1024];

    len = strlen(event_id) + 1 + strlen(operation) + 1 + strlen(body);
    snprintf((char *) message, sizeof(message), "%s%c%s%c%s", event_id, 0,
             operation, 0, body);

    if (!EVP_Digest(message, len, digest, NULL, EVP_sha256(), NULL)) {
        printf("Bail out! EVP_Digest failed\n");
        exit(1);
    }

    n = sprintf(out, "%s-", operation);

    for (i = 0; n < QBSYNC_ITEM_REQUEST_ID_MAX; i++) {
        n += sprintf(out + n, "%x", digest[i / 2] >> (i % 2 ? 0 : 4) & 0xf);
    }
}


static const char *
request_id(const char *event_id, const char *operation, const char *body)
{
    size_t       n;
    static char  out[QBSYNC_ITEM_REQUEST_ID_MAX + 2];

    memset(out, '#', sizeof(out));

    n = qbsync_item_request_id(event_id, strlen(event_id), operation,
                               (const unsigned char *) body, strlen(body),
                               out);

    if (n != QBSYNC_ITEM_REQUEST_ID_MAX || out[n] != '\0'
        || out[n + 1] != '#')
    {
        return "(not 50 characters and a NUL)";
    }

    return out;
}


static void
test_request_id(void)
{
    size_t       i;
    char         id[QBSYNC_ITEM_REQUEST_ID_MAX + 2], expected[128];
    const char  *event, *body;

    event = "evt_1Pgc76B7WZ01zgkWwyRHS12y";
    body = "{\"Name\":\"Widget Pro\"}";

    request_id_expected(event, "create", body, expected);
    strcpy(id, request_id(event, "create", body));
    is_str(id, expected, "create-<44 hex digits of SHA-256>");
    is_int(strlen(id), QBSYNC_ITEM_REQUEST_ID_MAX, "  50 characters");
    ok(strncmp(id, "create-", 7) == 0, "  begins with the operation");

    for (i = 7; i < strlen(id); i++) {
        if (strchr("0123456789abcdef", id[i]) == NULL) {
            break;
        }
    }

    is_int(i, QBSYNC_ITEM_REQUEST_ID_MAX, "  lowercase hex after it");

    is_str(request_id(event, "create", body), id, "deterministic");
    ok(strcmp(request_id("evt_1Pgc76B7WZ01zgkWwyRHS12z", "create", body), id)
       != 0, "another event -> another id");
    ok(strcmp(request_id(event, "create", "{\"Name\":\"Widget Pro.\"}"), id)
       != 0, "another body -> another id");
    ok(strcmp(request_id(event, "update", body) + 7, id + 7) != 0,
       "another operation -> other digits");

    request_id_expected(event, "update", body, expected);
    is_str(request_id(event, "update", body), expected, "update-...");

    request_id_expected(event, "abcdefgh", body, expected);
    is_str(request_id(event, "abcdefgh", body), expected,
           "an 8-byte operation leaves 41 hex digits");

    request_id_expected(event, "", body, expected);
    is_str(request_id(event, "", body), expected, "an empty operation");

    request_id_expected("", "create", "", expected);
    is_str(request_id("", "create", ""), expected, "empty event and body");
    is_int(qbsync_item_request_id(NULL, 0, "create", NULL, 0, id),
           QBSYNC_ITEM_REQUEST_ID_MAX, "  as NULL and 0");
    is_str(id, expected, "  the same id");

    memset(id, '#', sizeof(id));
    is_int(qbsync_item_request_id(event, strlen(event), "abcdefghi",
                                  (const unsigned char *) body, strlen(body),
                                  id),
           0, "a 9-byte operation -> 0");
    ok(id[0] == '#', "  nothing written");

    strcpy(id, request_id("evt_ab", "create", "x"));
    ok(strcmp(request_id("evt_a", "create", "bx"), id) != 0,
       "the NUL separators keep the parts apart");
}


static const char *
batch_id_len(const char *body, size_t len)
{
    size_t       n;
    static char  out[QBSYNC_ITEM_BATCH_REQUEST_ID_MAX + 2];

    memset(out, '#', sizeof(out));

    n = qbsync_item_batch_request_id((const unsigned char *) body, len, out);

    if (n != QBSYNC_ITEM_BATCH_REQUEST_ID_MAX || out[n] != '\0'
        || out[n + 1] != '#')
    {
        return "(not 36 characters and a NUL)";
    }

    return out;
}


static const char *
batch_id(const char *body)
{
    return batch_id_len(body, strlen(body));
}


static void
test_batch_request_id(void)
{
    char        id[QBSYNC_ITEM_BATCH_REQUEST_ID_MAX + 2];
    const char  *body;

    body = "{\"BatchItemRequest\":[{\"bId\":\"0\",\"operation\":\"create\","
           "\"Item\":{\"Name\":\"Widget Pro\"}}]}";

    strcpy(id, batch_id(body));
    is_int(strlen(id), QBSYNC_ITEM_BATCH_REQUEST_ID_MAX,
           "a batch's requestid: 36 characters");
    ok(strncmp(id, "batch-", 6) == 0, "  begins with \"batch-\"");
    is_int(strspn(id + 6, "0123456789abcdef"),
           QBSYNC_ITEM_BATCH_REQUEST_ID_MAX - 6, "  30 lowercase hex digits");

    is_str(batch_id(body), id, "deterministic");
    ok(strcmp(batch_id_len(body, strlen(body) - 1), id) != 0,
       "a byte less -> another id");
    ok(strcmp(batch_id("{\"BatchItemRequest\":[{\"bId\":\"1\","
                       "\"operation\":\"create\",\"Item\":{\"Name\":"
                       "\"Widget Pro\"}}]}"), id) != 0,
       "another bId -> another id");

    strcpy(id, batch_id(""));
    ok(strncmp(id, "batch-", 6) == 0, "an empty body");
    is_str(batch_id_len(NULL, 0), id, "  as NULL and 0");
    ok(strcmp(batch_id("x"), id) != 0, "  differs from one byte");
}


int
main(void)
{
    test_name();
    test_name_with_suffix();
    test_description();
    test_create_body();
    test_update_body();
    test_body_escaping();
    test_body_refused();
    test_hash();
    test_query();
    test_query_in();
    test_request_id();
    test_batch_request_id();

    return done();
}
