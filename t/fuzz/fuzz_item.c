
/*
 * Copyright (C) qbsync authors
 */


/*
 * Input: one byte n, then text whose last n % 64 bytes are also read as
 * a product id (for the suffix), an event id (for a request id) and a
 * unit price (for a create body); the rest is a name.  The whole text is
 * a description and the value of both queries.  For valid UTF-8 the name
 * is compared with a plain step-by-step version of the rules; every
 * output is checked against its limits and read back.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "qbsync_item.h"
#include "../unit/utf8.h"


#define check(expr)                                                           \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,           \
                    __LINE__, #expr);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)


static size_t
trim_end(const char *text, size_t len)
{
    while (len && text[len - 1] == ' ') {
        len--;
    }

    return len;
}


/* the name rules one step at a time, as the header states them */
static size_t
name_reference(const char *name, size_t len, char *out)
{
    char    *tmp;
    size_t   i, n, start, cut, count;

    tmp = malloc(len + 1);
    if (tmp == NULL) {
        abort();
    }

    n = 0;

    for (i = 0; i < len; i++) {
        tmp[n] = strchr("\t\r\n:", name[i]) && name[i] ? ' ' : name[i];

        if (!(tmp[n] == ' ' && n && tmp[n - 1] == ' ')) {
            n++;
        }
    }

    start = (n && tmp[0] == ' ');
    n = trim_end(tmp, n);

    count = 0;

    for (cut = start; cut < n; cut++) {
        if ((tmp[cut] & 0xc0) != 0x80 && count++ == QBSYNC_ITEM_NAME_MAX) {
            break;
        }
    }

    n = (cut > start) ? trim_end(tmp + start, cut - start) : 0;
    memcpy(out, tmp + start, n);
    free(tmp);

    return n;
}


static void
check_name(const char *name, size_t len, int valid)
{
    size_t  n, i, again;
    char    out[QBSYNC_ITEM_NAME_SIZE], ref[QBSYNC_ITEM_NAME_SIZE * 2];
    char    twice[QBSYNC_ITEM_NAME_SIZE];

    n = qbsync_item_name(name, len, out, sizeof(out));

    for (i = 0; i < n; i++) {
        check(strchr("\t\r\n:", out[i]) == NULL || out[i] == '\0');
        check(out[i] != ' ' || (i > 0 && i < n - 1 && out[i - 1] != ' '));
    }

    if (!valid) {
        return;
    }

    check(utf8_valid(out, n));
    check(code_points(out, n) <= QBSYNC_ITEM_NAME_MAX);

    check(name_reference(name, len, ref) == n);
    check(memcmp(ref, out, n) == 0);

    again = qbsync_item_name(out, n, twice, sizeof(twice));
    check(again == n && memcmp(twice, out, n) == 0);

    if (n > 0) {
        check(qbsync_item_name(name, len, twice, n) == n);
        check(qbsync_item_name(name, len, twice, n - 1) == 0);
    }
}


static void
check_suffix(const char *name, size_t len, const char *id, size_t id_len,
    int valid)
{
    char    norm[QBSYNC_ITEM_NAME_SIZE], out[QBSYNC_ITEM_NAME_SIZE];
    char    again[QBSYNC_ITEM_NAME_SIZE];
    size_t  i, n, name_len, id_count, forbidden;

    name_len = qbsync_item_name(name, len, norm, sizeof(norm));
    n = qbsync_item_name_with_suffix(norm, name_len, id, id_len, out,
                                     sizeof(out));

    forbidden = 0;

    for (i = 0; i < id_len; i++) {
        forbidden += memchr(" \t\r\n:", id[i], 5) != NULL;
    }

    id_count = code_points(id, id_len);

    if (name_len == 0 || id_len == 0 || forbidden
        || id_count + 3 >= QBSYNC_ITEM_NAME_MAX)
    {
        check(n == 0);
        return;
    }

    /* invalid UTF-8 may have more bytes than the buffer has room for */
    if (!valid && n == 0) {
        return;
    }

    check(n > id_len + 3);
    check(out[n - id_len - 3] == ' ' && out[n - id_len - 2] == '(');
    check(memcmp(out + n - id_len - 1, id, id_len) == 0);
    check(out[n - 1] == ')');
    check(out[n - id_len - 4] != ' ');
    check(memcmp(out, norm, n - id_len - 3) == 0);

    if (!valid) {
        return;
    }

    check(code_points(out, n) <= QBSYNC_ITEM_NAME_MAX);
    check(utf8_valid(out, n));
    check(qbsync_item_name(out, n, again, sizeof(again)) == n);
    check(memcmp(again, out, n) == 0);
    check(qbsync_item_name_with_suffix(norm, name_len, id, id_len, again,
                                       n - 1)
          == 0);
}


static void
check_description(const char *text, size_t len, int valid)
{
    char    *out;
    size_t   n, count;

    out = malloc(QBSYNC_ITEM_DESCRIPTION_SIZE);
    if (out == NULL) {
        abort();
    }

    n = qbsync_item_description(text, len, out, QBSYNC_ITEM_DESCRIPTION_SIZE);

    if (valid) {
        count = code_points(text, len);

        check(n > 0 || len == 0);
        check(utf8_valid(out, n));
        check(code_points(out, n)
              == (count < QBSYNC_ITEM_DESCRIPTION_MAX
                  ? count : QBSYNC_ITEM_DESCRIPTION_MAX));
    }

    check(n <= len && memcmp(out, text, n) == 0);

    free(out);
}


static int
hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static void
check_query(size_t (*build)(const char *, size_t, char *, size_t),
    const char *field, const char *value, size_t len)
{
    char               *out, *decoded, *expected;
    size_t              i, n, size, d, e;
    static const char   unreserved[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "abcdefghijklmnopqrstuvwxyz"
                                       "0123456789-._~";

    size = 6 * len + 128;
    out = malloc(size);
    decoded = malloc(size);
    expected = malloc(size);

    if (out == NULL || decoded == NULL || expected == NULL) {
        abort();
    }

    n = build(value, len, out, size);
    check(n > 0);

    for (i = 0, d = 0; i < n; d++) {
        if (out[i] == '%') {
            check(n - i >= 3 && hex_value(out[i + 1]) >= 0
                  && hex_value(out[i + 2]) >= 0);
            decoded[d] = (char) (hex_value(out[i + 1]) << 4
                                 | hex_value(out[i + 2]));
            check(strchr(unreserved, decoded[d]) == NULL
                  || decoded[d] == '\0');
            i += 3;

        } else {
            check(strchr(unreserved, out[i]) != NULL && out[i] != '\0');
            decoded[d] = out[i++];
        }
    }

    e = sprintf(expected, "select * from Item where %s = '", field);

    for (i = 0; i < len; i++) {
        if (value[i] == '\\' || value[i] == '\'') {
            expected[e++] = '\\';
        }

        expected[e++] = value[i];
    }

    memcpy(expected + e, "' and Active in (true, false)", 29);
    e += 29;

    check(d == e && memcmp(decoded, expected, e) == 0);
    check(build(value, len, out, n) == n);
    check(build(value, len, out, n - 1) == 0);

    free(out);
    free(decoded);
    free(expected);
}


static void
check_request_id(const char *event_id, size_t id_len, const uint8_t *body,
    size_t len)
{
    char    id[QBSYNC_ITEM_REQUEST_ID_MAX + 1], other[sizeof(id)];
    size_t  i;

    check(qbsync_item_request_id(event_id, id_len, "create", body, len, id)
          == QBSYNC_ITEM_REQUEST_ID_MAX);
    check(id[QBSYNC_ITEM_REQUEST_ID_MAX] == '\0');
    check(memcmp(id, "create-", 7) == 0);

    for (i = 7; i < QBSYNC_ITEM_REQUEST_ID_MAX; i++) {
        check(strchr("0123456789abcdef", id[i]) != NULL && id[i] != '\0');
    }

    check(qbsync_item_request_id(event_id, id_len, "create", body, len,
                                 other)
          == QBSYNC_ITEM_REQUEST_ID_MAX);
    check(memcmp(id, other, sizeof(id)) == 0);
}


/* what qbsync_money_format() writes, as the body requires it */
static int
plain_decimal(const char *text, size_t len)
{
    size_t  i, digits, point, fraction;

    if (len == 0 || (len == 2 && memcmp(text, "-0", 2) == 0)) {
        return 0;
    }

    i = (text[0] == '-');
    digits = 0;
    point = 0;
    fraction = 0;

    for ( /* void */ ; i < len; i++) {
        if (text[i] == '.' && !point) {
            point = 1;

        } else if (text[i] >= '0' && text[i] <= '9') {
            digits += !point;
            fraction += point;

        } else {
            return 0;
        }
    }

    return digits > 0
           && !(digits > 1 && text[text[0] == '-'] == '0')
           && (!point || (fraction > 0 && text[len - 1] != '0'));
}


/* a create body read back with yajl_tree: the same strings, in order */
static void
check_body(const char *name, size_t len, const char *price, size_t price_len,
    int valid)
{
    char               *buf, *description, item_name[QBSYNC_ITEM_NAME_SIZE];
    size_t              n, i, size;
    yajl_val            root, value;
    const char         *path[2];
    qbsync_item_t       item;
    static const char  *keys[] = {
        "Name", "Sku", "Description", "Type", "IncomeAccountRef",
        "ExpenseAccountRef", "Active", "UnitPrice"
    };

    /* JSON escapes a byte in at most 6 ("\u0001") */
    size = 6 * (QBSYNC_ITEM_NAME_SIZE + QBSYNC_ITEM_DESCRIPTION_SIZE
                + price_len) + 256;
    buf = malloc(size + 1);
    description = malloc(QBSYNC_ITEM_DESCRIPTION_SIZE);

    if (buf == NULL || description == NULL) {
        abort();
    }

    item.name = item_name;
    item.name_len = qbsync_item_name(name, len, item_name,
                                     sizeof(item_name));
    item.description = description;
    item.description_len = qbsync_item_description(name, len, description,
                                               QBSYNC_ITEM_DESCRIPTION_SIZE);
    item.sku = "prod_NZz1";
    item.sku_len = 9;
    item.type = "Service";
    item.income_account = "79";
    item.expense_account = "80";
    item.active = len % 2;
    item.unit_price = price;
    item.unit_price_len = price_len;

    n = qbsync_item_create_body(&item, (unsigned char *) buf, size);

    if (!plain_decimal(price, price_len) || item.name_len == 0) {
        check(n == 0);
        goto done;
    }

    if (valid) {
        check(n > 0);

    } else if (n == 0) {
        goto done;
    }

    buf[n] = '\0';

    root = yajl_tree_parse(buf, NULL, 0);
    check(root != NULL && YAJL_IS_OBJECT(root));
    check(YAJL_GET_OBJECT(root)->len == 8);

    for (i = 0; i < 8; i++) {
        check(strcmp(YAJL_GET_OBJECT(root)->keys[i], keys[i]) == 0);
    }

    path[0] = "Name";
    path[1] = NULL;
    value = yajl_tree_get(root, path, yajl_t_string);
    check(value != NULL
          && memcmp(YAJL_GET_STRING(value), item.name, item.name_len) == 0
          && YAJL_GET_STRING(value)[item.name_len] == '\0');

    path[0] = "Description";
    value = yajl_tree_get(root, path, yajl_t_string);
    check(value != NULL
          && memcmp(YAJL_GET_STRING(value), description,
                    item.description_len)
             == 0
          && YAJL_GET_STRING(value)[item.description_len] == '\0');

    path[0] = "UnitPrice";
    value = yajl_tree_get(root, path, yajl_t_number);
    check(value != NULL && strlen(YAJL_GET_NUMBER(value)) == price_len
          && memcmp(YAJL_GET_NUMBER(value), price, price_len) == 0);

    yajl_tree_free(root);

    check(qbsync_item_create_body(&item, (unsigned char *) buf, n) == n);
    check(qbsync_item_create_body(&item, (unsigned char *) buf, n - 1) == 0);

done:

    free(buf);
    free(description);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          valid, name_valid, id_valid;
    size_t       len, id_len;
    const char  *text, *id;

    if (size == 0) {
        return 0;
    }

    id_len = data[0] % 64;
    text = (const char *) data + 1;
    len = size - 1;

    if (id_len > len) {
        id_len = len;
    }

    id = text + len - id_len;
    valid = utf8_valid(text, len);
    name_valid = utf8_valid(text, len - id_len);
    id_valid = utf8_valid(id, id_len);

    check_name(text, len - id_len, name_valid);
    check_suffix(text, len - id_len, id, id_len, name_valid && id_valid);
    check_description(text, len, valid);
    check_query(qbsync_item_query_by_sku, "Sku", text, len);
    check_query(qbsync_item_query_by_name, "Name", text, len);
    check_request_id(id, id_len, (const uint8_t *) text, len - id_len);
    check_body(text, len - id_len, id, id_len, name_valid);

    return 0;
}
