
/*
 * Copyright (C) qbsync authors
 */


#include <string.h>

/* SHA-256's own context: no allocation and no algorithm fetch a call */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/sha.h>

#include "qbsync_item.h"
#include "qbsync_yajl.h"


/* the longest operation name, so that "<operation>-" keeps 41 hex digits */
#define QBSYNC_ITEM_OPERATION_MAX  8

#define QBSYNC_ITEM_SHA256_LEN     32

/* FNV-1a, 64 bits (draft-eastlake-fnv) */
#define QBSYNC_ITEM_FNV_OFFSET     0xcbf29ce484222325ULL
#define QBSYNC_ITEM_FNV_PRIME      0x00000100000001b3ULL

#define QBSYNC_ITEM_QUERY_START    "select * from Item where "
#define QBSYNC_ITEM_QUERY_END      "' and Active in (true, false)"
#define QBSYNC_ITEM_QUERY_IN_END                                              \
    ") and Active in (true, false) maxresults 1000"


static size_t qbsync_item_utf8_prefix(const char *text, size_t len,
    size_t max);
static int qbsync_item_is_decimal(const char *text, size_t len);
static size_t qbsync_item_body(const qbsync_item_t *item, const char *id,
    size_t id_len, const char *sync_token, size_t sync_token_len,
    unsigned char *buf, size_t size);
static int qbsync_item_gen_fields(yajl_gen gen, const qbsync_item_t *item,
    int update);
static int qbsync_item_gen_ref(yajl_gen gen, const char *name,
    const char *value);
static uint64_t qbsync_item_hash_field(uint64_t hash, const void *data,
    size_t len, int present);
static uint64_t qbsync_item_hash_bytes(uint64_t hash, const void *data,
    size_t len);
static size_t qbsync_item_query(const char *field, const char *value,
    size_t len, char *out, size_t size);
static size_t qbsync_item_digest_id(const char *event_id, size_t id_len,
    const char *operation, const unsigned char *body, size_t body_len,
    size_t total, char *out);
static int qbsync_item_query_text(const char *text, size_t len, int escape,
    char *out, size_t size, size_t *n);


size_t
qbsync_item_name(const char *name, size_t len, char *out, size_t size)
{
    size_t         i, n, count;
    unsigned       space;
    unsigned char  c;

    n = 0;
    count = 0;
    space = 0;

    /*
     * QuickBooks: a name "cannot include tabs, new lines, or colons" (the
     * colon separates the levels of FullyQualifiedName).  A space is only
     * written when something follows it, which collapses runs of spaces
     * and trims both ends in one pass.
     */
    for (i = 0; i < len; i++) {
        c = name[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ':') {
            space = (n != 0);
            continue;
        }

        /*
         * A byte that starts a code point, writing the pending space
         * first; only invalid UTF-8 has a continuation byte after a
         * space, and it is counted as a code point of its own.
         */
        if ((c & 0xc0) != 0x80 || space) {
            if (count + space >= QBSYNC_ITEM_NAME_MAX) {
                break;
            }

            if (space) {
                if (n == size) {
                    return 0;
                }

                out[n++] = ' ';
                count++;
                space = 0;
            }

            count++;
        }

        if (n == size) {
            return 0;
        }

        out[n++] = c;
    }

    return n;
}


size_t
qbsync_item_name_with_suffix(const char *name, size_t len,
    const char *product_id, size_t id_len, char *out, size_t size)
{
    size_t  i, n, id_count;

    /* the id is written as it is, so it must be a name by the rules too */
    if (id_len == 0) {
        return 0;
    }

    id_count = 0;

    for (i = 0; i < id_len; i++) {
        if (memchr(" \t\r\n:", product_id[i], 5) != NULL) {
            return 0;
        }

        id_count += (product_id[i] & 0xc0) != 0x80;
    }

    /* " (" id ")" */
    if (id_count + 3 >= QBSYNC_ITEM_NAME_MAX) {
        return 0;
    }

    n = qbsync_item_utf8_prefix(name, len,
                                QBSYNC_ITEM_NAME_MAX - 3 - id_count);

    while (n && name[n - 1] == ' ') {
        n--;
    }

    if (n == 0 || n + 3 + id_len > size) {
        return 0;
    }

    memcpy(out, name, n);
    out[n++] = ' ';
    out[n++] = '(';
    memcpy(out + n, product_id, id_len);
    n += id_len;
    out[n++] = ')';

    return n;
}


size_t
qbsync_item_description(const char *description, size_t len, char *out,
    size_t size)
{
    size_t  n;

    n = qbsync_item_utf8_prefix(description, len,
                                QBSYNC_ITEM_DESCRIPTION_MAX);

    /* Stripe's description may be null, passed as NULL and 0 */
    if (n == 0 || n > size) {
        return 0;
    }

    memcpy(out, description, n);

    return n;
}


/* the bytes of the first max code points of text */
static size_t
qbsync_item_utf8_prefix(const char *text, size_t len, size_t max)
{
    size_t  i, count;

    count = 0;

    for (i = 0; i < len; i++) {
        if ((text[i] & 0xc0) != 0x80 && count++ == max) {
            break;
        }
    }

    return i;
}


size_t
qbsync_item_create_body(const qbsync_item_t *item, unsigned char *buf,
    size_t size)
{
    return qbsync_item_body(item, NULL, 0, NULL, 0, buf, size);
}


size_t
qbsync_item_update_body(const qbsync_item_t *item, const char *id,
    size_t id_len, const char *sync_token, size_t sync_token_len,
    unsigned char *buf, size_t size)
{
    if (id == NULL || sync_token == NULL) {
        return 0;
    }

    return qbsync_item_body(item, id, id_len, sync_token, sync_token_len,
                            buf, size);
}


static size_t
qbsync_item_body(const qbsync_item_t *item, const char *id, size_t id_len,
    const char *sync_token, size_t sync_token_len, unsigned char *buf,
    size_t size)
{
    int                ok;
    yajl_gen           gen;
    qbsync_yajl_out_t  out;

    /*
     * QuickBooks refuses an empty name, and an item with an empty Sku
     * would be taken for one that no product owns.  Only an update may
     * leave out the type and accounts.
     */
    if (item->name_len == 0 || item->sku_len == 0
        || (item->type == NULL && id == NULL)
        || (item->type != NULL
            && (item->income_account == NULL
                || item->expense_account == NULL))
        || (item->unit_price != NULL
            && !qbsync_item_is_decimal(item->unit_price,
                                       item->unit_price_len)))
    {
        return 0;
    }

    gen = qbsync_yajl_gen(&out, buf, size);
    if (gen == NULL) {
        return 0;
    }

    ok = (yajl_gen_map_open(gen) == yajl_gen_status_ok);

    /* QuickBooks' sparse update: the fields sent, and no others, change */
    if (ok && id != NULL) {
        ok = yajl_gen_string(gen, (const unsigned char *) "sparse",
                             sizeof("sparse") - 1)
             == yajl_gen_status_ok
             && yajl_gen_bool(gen, 1) == yajl_gen_status_ok
             && qbsync_yajl_gen_member(gen, "Id", id, id_len)
             && qbsync_yajl_gen_member(gen, "SyncToken", sync_token,
                                       sync_token_len);
    }

    ok = ok
         && qbsync_item_gen_fields(gen, item, id != NULL)
         && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    return qbsync_yajl_done(gen, &out, ok);
}


/*
 * What qbsync_money_format() writes: an optional '-', digits without a
 * leading zero (but a lone "0"), and a fraction without a trailing zero;
 * "-0" is written "0".  Anything else could be no JSON number at all.
 */
static int
qbsync_item_is_decimal(const char *text, size_t len)
{
    size_t  i, start;

    i = (len > 0 && text[0] == '-');
    start = i;

    while (i < len && text[i] >= '0' && text[i] <= '9') {
        i++;
    }

    if (i == start || (i - start > 1 && text[start] == '0')) {
        return 0;
    }

    if (i == len) {
        return !(start == 1 && len == 2 && text[1] == '0');
    }

    if (text[i] != '.') {
        return 0;
    }

    start = ++i;

    while (i < len && text[i] >= '0' && text[i] <= '9') {
        i++;
    }

    return i == len && i > start && text[len - 1] != '0';
}


static int
qbsync_item_gen_fields(yajl_gen gen, const qbsync_item_t *item, int update)
{
    if (!qbsync_yajl_gen_member(gen, "Name", item->name, item->name_len)
        || !qbsync_yajl_gen_member(gen, "Sku", item->sku, item->sku_len))
    {
        return 0;
    }

    /* a sparse update leaves what it does not send alone */

    if ((item->description != NULL || !update)
        && !qbsync_yajl_gen_member(gen, "Description", item->description,
                                   item->description_len))
    {
        return 0;
    }

    if (item->type != NULL
        && (!qbsync_yajl_gen_member(gen, "Type", item->type,
                                    strlen(item->type))
            || !qbsync_item_gen_ref(gen, "IncomeAccountRef",
                                    item->income_account)
            || !qbsync_item_gen_ref(gen, "ExpenseAccountRef",
                                    item->expense_account)))
    {
        return 0;
    }

    if (yajl_gen_string(gen, (const unsigned char *) "Active",
                        sizeof("Active") - 1)
        != yajl_gen_status_ok
        || yajl_gen_bool(gen, item->active != 0) != yajl_gen_status_ok)
    {
        return 0;
    }

    if (item->unit_price == NULL) {
        return 1;
    }

    /* a number written as given: no float ever rounds the price */
    return yajl_gen_string(gen, (const unsigned char *) "UnitPrice",
                           sizeof("UnitPrice") - 1)
           == yajl_gen_status_ok
           && yajl_gen_number(gen, item->unit_price, item->unit_price_len)
              == yajl_gen_status_ok;
}


static int
qbsync_item_gen_ref(yajl_gen gen, const char *name, const char *value)
{
    return yajl_gen_string(gen, (const unsigned char *) name, strlen(name))
           == yajl_gen_status_ok
           && yajl_gen_map_open(gen) == yajl_gen_status_ok
           && qbsync_yajl_gen_member(gen, "value", value, strlen(value))
           && yajl_gen_map_close(gen) == yajl_gen_status_ok;
}


/*
 * FNV-1a over each field in turn, each as a presence byte, its length as
 * 8 bytes big-endian, then its bytes: no two items encode alike, and the
 * encoding is the same on every machine.  A digest that cannot fail is
 * wanted here, and OpenSSL's SHA-256 may (it allocates); a change that
 * goes unnoticed by chance is a 2^-64 event.
 */
uint64_t
qbsync_item_hash(const qbsync_item_t *item)
{
    uint64_t       hash;
    unsigned char  active;

    hash = QBSYNC_ITEM_FNV_OFFSET;

    hash = qbsync_item_hash_field(hash, item->name, item->name_len, 1);
    hash = qbsync_item_hash_field(hash, item->description,
                                  item->description_len, 1);
    hash = qbsync_item_hash_field(hash, item->sku, item->sku_len, 1);
    hash = qbsync_item_hash_field(hash, item->type,
                                  item->type ? strlen(item->type) : 0, 1);
    hash = qbsync_item_hash_field(hash, item->income_account,
                                  item->income_account
                                  ? strlen(item->income_account) : 0, 1);
    hash = qbsync_item_hash_field(hash, item->expense_account,
                                  item->expense_account
                                  ? strlen(item->expense_account) : 0, 1);

    active = (item->active != 0);
    hash = qbsync_item_hash_field(hash, &active, 1, 1);

    return qbsync_item_hash_field(hash, item->unit_price,
                                  item->unit_price_len,
                                  item->unit_price != NULL);
}


static uint64_t
qbsync_item_hash_field(uint64_t hash, const void *data, size_t len,
    int present)
{
    int            i;
    uint64_t       length;
    unsigned char  header[9];

    if (!present) {
        len = 0;
    }

    header[0] = (unsigned char) (present != 0);
    length = len;

    for (i = 8; i > 0; i--) {
        header[i] = (unsigned char) (length & 0xff);
        length >>= 8;
    }

    hash = qbsync_item_hash_bytes(hash, header, sizeof(header));

    return qbsync_item_hash_bytes(hash, data, len);
}


static uint64_t
qbsync_item_hash_bytes(uint64_t hash, const void *data, size_t len)
{
    size_t                i;
    const unsigned char  *p = data;

    for (i = 0; i < len; i++) {
        hash ^= p[i];
        hash *= QBSYNC_ITEM_FNV_PRIME;
    }

    return hash;
}


size_t
qbsync_item_query_by_sku(const char *sku, size_t len, char *out,
    size_t size)
{
    return qbsync_item_query("Sku", sku, len, out, size);
}


size_t
qbsync_item_query_by_name(const char *name, size_t len, char *out,
    size_t size)
{
    return qbsync_item_query("Name", name, len, out, size);
}


static size_t
qbsync_item_query(const char *field, const char *value, size_t len,
    char *out, size_t size)
{
    size_t  n;

    n = 0;

    if (qbsync_item_query_text(QBSYNC_ITEM_QUERY_START,
                               sizeof(QBSYNC_ITEM_QUERY_START) - 1, 0,
                               out, size, &n) != 0
        || qbsync_item_query_text(field, strlen(field), 0, out, size, &n)
           != 0
        || qbsync_item_query_text(" = '", 4, 0, out, size, &n) != 0
        || qbsync_item_query_text(value, len, 1, out, size, &n) != 0
        || qbsync_item_query_text(QBSYNC_ITEM_QUERY_END,
                                  sizeof(QBSYNC_ITEM_QUERY_END) - 1, 0,
                                  out, size, &n) != 0)
    {
        return 0;
    }

    return n;
}


size_t
qbsync_item_query_in(const char *field, const qbsync_str_t *values, size_t n,
    char *out, size_t size)
{
    size_t  i, len;

    len = 0;

    if (n == 0
        || qbsync_item_query_text(QBSYNC_ITEM_QUERY_START,
                                  sizeof(QBSYNC_ITEM_QUERY_START) - 1, 0,
                                  out, size, &len) != 0
        || qbsync_item_query_text(field, strlen(field), 0, out, size, &len)
           != 0
        || qbsync_item_query_text(" in (", 5, 0, out, size, &len) != 0)
    {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (qbsync_item_query_text(i ? ", '" : "'", i ? 3 : 1, 0, out, size,
                                   &len) != 0
            || qbsync_item_query_text(values[i].data, values[i].len, 1, out,
                                      size, &len) != 0
            || qbsync_item_query_text("'", 1, 0, out, size, &len) != 0)
        {
            return 0;
        }
    }

    if (qbsync_item_query_text(QBSYNC_ITEM_QUERY_IN_END,
                               sizeof(QBSYNC_ITEM_QUERY_IN_END) - 1, 0,
                               out, size, &len) != 0)
    {
        return 0;
    }

    return len;
}


/*
 * text URL-encoded at out + *n: RFC 3986 unreserved characters as they
 * are, every other byte %XX.  With escape, a \ or ' is first preceded by
 * a backslash, as QuickBooks' query language wants ('Adam\'s').
 */
static int
qbsync_item_query_text(const char *text, size_t len, int escape, char *out,
    size_t size, size_t *n)
{
    size_t             i, need;
    unsigned char      c;
    static const char  digits[] = "0123456789ABCDEF";

    for (i = 0; i < len; i++) {
        c = text[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            if (*n == size) {
                return -1;
            }

            out[(*n)++] = c;
            continue;
        }

        need = (escape && (c == '\\' || c == '\'')) ? 6 : 3;

        if (size - *n < need) {
            return -1;
        }

        if (need == 6) {
            memcpy(out + *n, "%5C", 3);
            *n += 3;
        }

        out[(*n)++] = '%';
        out[(*n)++] = digits[c >> 4];
        out[(*n)++] = digits[c & 0x0f];
    }

    return 0;
}


size_t
qbsync_item_request_id(const char *event_id, size_t id_len,
    const char *operation, const unsigned char *body, size_t body_len,
    char *out)
{
    return qbsync_item_digest_id(event_id, id_len, operation, body, body_len,
                                 QBSYNC_ITEM_REQUEST_ID_MAX, out);
}


size_t
qbsync_item_batch_request_id(const unsigned char *body, size_t len,
    char *out)
{
    return qbsync_item_digest_id("", 0, "batch", body, len,
                                 QBSYNC_ITEM_BATCH_REQUEST_ID_MAX, out);
}


static size_t
qbsync_item_digest_id(const char *event_id, size_t id_len,
    const char *operation, const unsigned char *body, size_t body_len,
    size_t total, char *out)
{
    int                ok;
    size_t             i, n, op_len;
    SHA256_CTX         sha256;
    unsigned char      byte, digest[QBSYNC_ITEM_SHA256_LEN];
    static const char  digits[] = "0123456789abcdef";

    for (op_len = 0; operation[op_len] != '\0'; op_len++) {
        if (op_len == QBSYNC_ITEM_OPERATION_MAX) {
            return 0;
        }
    }

    /* the NULs keep ("ab", "c") and ("a", "bc") apart */
    ok = SHA256_Init(&sha256)
         && SHA256_Update(&sha256, event_id, id_len)
         && SHA256_Update(&sha256, "", 1)
         && SHA256_Update(&sha256, operation, op_len)
         && SHA256_Update(&sha256, "", 1)
         && SHA256_Update(&sha256, body, body_len)
         && SHA256_Final(digest, &sha256);

    if (!ok) {
        return 0;
    }

    memcpy(out, operation, op_len);
    n = op_len;
    out[n++] = '-';

    for (i = 0; n < total; i++) {
        byte = digest[i / 2];
        out[n++] = digits[(i % 2) ? (byte & 0x0f) : (byte >> 4)];
    }

    out[n] = '\0';

    return n;
}
