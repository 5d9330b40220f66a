
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "qbsync_oauth.h"
#include "qbsync_yajl.h"


/* both bodies are flat objects */
#define QBSYNC_OAUTH_DEPTH_MAX  16

#define QBSYNC_OAUTH_GRANT      "grant_type=refresh_token&refresh_token="


static qbsync_oauth_rc_t qbsync_oauth_tree(const unsigned char *json,
    size_t len, qbsync_tokens_t *tokens, yajl_val *tree, char *error,
    size_t error_size);
static qbsync_oauth_rc_t qbsync_oauth_tokens(yajl_val root,
    qbsync_allocator_t *allocator, qbsync_tokens_t *tokens, char *error,
    size_t error_size);
static qbsync_oauth_rc_t qbsync_oauth_refresh(yajl_val root, int64_t now,
    qbsync_allocator_t *allocator, qbsync_tokens_t *tokens, char *error,
    size_t error_size);
static qbsync_oauth_rc_t qbsync_oauth_refused(yajl_val root, char *error,
    size_t error_size);
static qbsync_oauth_rc_t qbsync_oauth_token(yajl_val root, const char *key,
    int required, qbsync_allocator_t *allocator, qbsync_str_t *out,
    char *error, size_t error_size);
static qbsync_oauth_rc_t qbsync_oauth_integer(yajl_val root,
    const char *key, int64_t *value, char *error, size_t error_size);
static qbsync_oauth_rc_t qbsync_oauth_lifetime(yajl_val root,
    const char *key, int required, int64_t now, int64_t *at, char *error,
    size_t error_size);
static yajl_gen_status qbsync_oauth_gen_integer(yajl_gen gen,
    const char *name, int64_t value);
static void qbsync_oauth_sanitize(char *text);
static qbsync_oauth_rc_t qbsync_oauth_error(char *error, size_t error_size,
    qbsync_oauth_rc_t rc, const char *key, const char *problem);


/* what an empty or absent token is: never NULL, never in the input */
static const char  qbsync_oauth_empty[] = "";


qbsync_oauth_rc_t
qbsync_oauth_tokens_parse(const unsigned char *json, size_t len,
    qbsync_allocator_t *allocator, qbsync_tokens_t *tokens, char *error,
    size_t error_size)
{
    yajl_val           root;
    qbsync_oauth_rc_t  rc;

    if (error == NULL) {
        error_size = 0;
    }

    rc = qbsync_oauth_tree(json, len, tokens, &root, error, error_size);
    if (rc != QBSYNC_OAUTH_OK) {
        return rc;
    }

    rc = qbsync_oauth_tokens(root, allocator, tokens, error, error_size);

    yajl_tree_free(root);

    return rc;
}


size_t
qbsync_oauth_tokens_write(const qbsync_tokens_t *tokens, unsigned char *buf,
    size_t size)
{
    int                  ok;
    yajl_gen             gen;
    qbsync_yajl_out_t    out;

    gen = qbsync_yajl_gen(&out, buf, size);
    if (gen == NULL) {
        return 0;
    }

    ok = yajl_gen_map_open(gen) == yajl_gen_status_ok
         && qbsync_yajl_gen_member(gen, "access_token",
                                   tokens->access_token.data,
                                   tokens->access_token.len)
         && qbsync_yajl_gen_member(gen, "refresh_token",
                                   tokens->refresh_token.data,
                                   tokens->refresh_token.len)
         && qbsync_oauth_gen_integer(gen, "expires_at", tokens->expires_at)
            == yajl_gen_status_ok
         && qbsync_oauth_gen_integer(gen, "refresh_token_expires_at",
                                     tokens->refresh_token_expires_at)
            == yajl_gen_status_ok
         && yajl_gen_map_close(gen) == yajl_gen_status_ok;

    /* a file a person may read: it ends with a newline */
    qbsync_yajl_print(&out, "\n", 1);

    return qbsync_yajl_done(gen, &out, ok);
}


qbsync_oauth_rc_t
qbsync_oauth_refresh_parse(const unsigned char *json, size_t len,
    int64_t now, qbsync_allocator_t *allocator, qbsync_tokens_t *tokens,
    char *error, size_t error_size)
{
    yajl_val           root;
    qbsync_oauth_rc_t  rc;

    if (error == NULL) {
        error_size = 0;
    }

    rc = qbsync_oauth_tree(json, len, tokens, &root, error, error_size);
    if (rc != QBSYNC_OAUTH_OK) {
        return rc;
    }

    rc = qbsync_oauth_refresh(root, now, allocator, tokens, error,
                              error_size);

    yajl_tree_free(root);

    return rc;
}


/*
 * RFC 6749, appendix B: application/x-www-form-urlencoded.  RFC 3986's
 * unreserved characters stay, everything else (a space too) is %XX.
 */
size_t
qbsync_oauth_refresh_body(const char *refresh_token, size_t len, char *out,
    size_t size)
{
    size_t          i, n;
    unsigned char   c;

    static const char  hex[] = "0123456789ABCDEF";

    n = sizeof(QBSYNC_OAUTH_GRANT) - 1;

    if (size < n) {
        return 0;
    }

    memcpy(out, QBSYNC_OAUTH_GRANT, n);

    for (i = 0; i < len; i++) {
        c = refresh_token[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            if (size - n < 1) {
                return 0;
            }

            out[n++] = c;
            continue;
        }

        if (size - n < 3) {
            return 0;
        }

        out[n++] = '%';
        out[n++] = hex[c >> 4];
        out[n++] = hex[c & 0x0f];
    }

    return n;
}


/* Both parses start with empty tokens and no error, whatever follows. */

static qbsync_oauth_rc_t
qbsync_oauth_tree(const unsigned char *json, size_t len,
    qbsync_tokens_t *tokens, yajl_val *tree, char *error, size_t error_size)
{
    const char        *problem;
    qbsync_yajl_rc_t   rc;

    memset(tokens, 0, sizeof(qbsync_tokens_t));
    tokens->access_token.data = qbsync_oauth_empty;
    tokens->refresh_token.data = qbsync_oauth_empty;

    if (error_size) {
        error[0] = '\0';
    }

    rc = qbsync_yajl_parse(json, len, QBSYNC_OAUTH_DEPTH_MAX, tree, &problem);

    if (rc == QBSYNC_YAJL_NOMEM) {
        return qbsync_oauth_error(error, error_size, QBSYNC_OAUTH_NOMEM,
                                  NULL, problem);
    }

    if (rc != QBSYNC_YAJL_OK) {
        return qbsync_oauth_error(error, error_size, QBSYNC_OAUTH_INVALID,
                                  "body", problem);
    }

    if (!YAJL_IS_OBJECT(*tree)) {
        yajl_tree_free(*tree);
        return qbsync_oauth_error(error, error_size, QBSYNC_OAUTH_INVALID,
                                  "body", "expected an object");
    }

    return QBSYNC_OAUTH_OK;
}


static qbsync_oauth_rc_t
qbsync_oauth_tokens(yajl_val root, qbsync_allocator_t *allocator,
    qbsync_tokens_t *tokens, char *error, size_t error_size)
{
    qbsync_oauth_rc_t  rc;

    rc = qbsync_oauth_token(root, "refresh_token", 1, allocator,
                            &tokens->refresh_token, error, error_size);
    if (rc != QBSYNC_OAUTH_OK) {
        return rc;
    }

    rc = qbsync_oauth_token(root, "access_token", 0, allocator,
                            &tokens->access_token, error, error_size);
    if (rc != QBSYNC_OAUTH_OK) {
        return rc;
    }

    rc = qbsync_oauth_integer(root, "expires_at", &tokens->expires_at,
                              error, error_size);
    if (rc != QBSYNC_OAUTH_OK) {
        return rc;
    }

    return qbsync_oauth_integer(root, "refresh_token_expires_at",
                                &tokens->refresh_token_expires_at, error,
                                error_size);
}


/*
 * x_refresh_token_expires_in applies to the refresh token in use, the
 * answer's own or, when the answer has none, the one the caller keeps.
 */
static qbsync_oauth_rc_t
qbsync_oauth_refresh(yajl_val root, int64_t now,
    qbsync_allocator_t *allocator, qbsync_tokens_t *tokens, char *error,
    size_t error_size)
{
    yajl_val           refused, type;
    qbsync_oauth_rc_t  rc;

    refused = qbsync_yajl_member(root, "error");

    if (refused != NULL && !YAJL_IS_NULL(refused)) {
        return qbsync_oauth_refused(root, error, error_size);
    }

    rc = qbsync_oauth_token(root, "access_token", 1, allocator,
                            &tokens->access_token, error, error_size);
    if (rc != QBSYNC_OAUTH_OK) {
        return rc;
    }

    rc = qbsync_oauth_lifetime(root, "expires_in", 1, now,
                               &tokens->expires_at, error, error_size);
    if (rc != QBSYNC_OAUTH_OK) {
        return rc;
    }

    rc = qbsync_oauth_token(root, "refresh_token", 0, allocator,
                            &tokens->refresh_token, error, error_size);
    if (rc != QBSYNC_OAUTH_OK) {
        return rc;
    }

    rc = qbsync_oauth_lifetime(root, "x_refresh_token_expires_in", 0, now,
                               &tokens->refresh_token_expires_at, error,
                               error_size);
    if (rc != QBSYNC_OAUTH_OK) {
        return rc;
    }

    /* RFC 6749, 5.1: token_type is case-insensitive */
    type = qbsync_yajl_member(root, "token_type");

    if (type != NULL
        && !(YAJL_IS_STRING(type) && strcasecmp(type->u.string, "bearer") == 0))
    {
        return qbsync_oauth_error(error, error_size, QBSYNC_OAUTH_INVALID,
                                  "token_type", "expected \"bearer\"");
    }

    return QBSYNC_OAUTH_OK;
}


/*
 * RFC 6749, 5.2: {"error", "error_description"}.  Their text is Intuit's,
 * never a token; it is kept to printable ASCII for the log.
 */
static qbsync_oauth_rc_t
qbsync_oauth_refused(yajl_val root, char *error, size_t error_size)
{
    yajl_val  code, description;

    code = qbsync_yajl_member(root, "error");

    if (!YAJL_IS_STRING(code) || code->u.string[0] == '\0') {
        return qbsync_oauth_error(error, error_size, QBSYNC_OAUTH_INVALID,
                                  "error", "expected a string");
    }

    description = qbsync_yajl_member(root, "error_description");

    if (error_size == 0) {
        return QBSYNC_OAUTH_REFUSED;
    }

    if (YAJL_IS_STRING(description) && description->u.string[0] != '\0') {
        snprintf(error, error_size, "%s: %s", code->u.string,
                 description->u.string);

    } else {
        snprintf(error, error_size, "%s", code->u.string);
    }

    qbsync_oauth_sanitize(error);

    return QBSYNC_OAUTH_REFUSED;
}


/*
 * A token goes into an Authorization header and a form body: it must be
 * visible ASCII (RFC 6750's b64token is narrower still), so that no CR,
 * LF or space can end up in a request.  A required token must not be
 * empty; an optional one may be absent or null.
 */
static qbsync_oauth_rc_t
qbsync_oauth_token(yajl_val root, const char *key, int required,
    qbsync_allocator_t *allocator, qbsync_str_t *out, char *error,
    size_t error_size)
{
    char           *copy;
    size_t          i, len;
    yajl_val        value;
    unsigned char   c;

    value = qbsync_yajl_member(root, key);

    if (!YAJL_IS_STRING(value)) {
        if (value != NULL && !YAJL_IS_NULL(value)) {
            return qbsync_oauth_error(error, error_size,
                                      QBSYNC_OAUTH_INVALID, key,
                                      "expected a string");
        }

        if (required) {
            return qbsync_oauth_error(error, error_size,
                                      QBSYNC_OAUTH_INVALID, key,
                                      "expected a string");
        }

        return QBSYNC_OAUTH_OK;
    }

    len = strlen(value->u.string);

    if (len == 0) {
        if (required) {
            return qbsync_oauth_error(error, error_size,
                                      QBSYNC_OAUTH_INVALID, key,
                                      "expected a non-empty string");
        }

        return QBSYNC_OAUTH_OK;
    }

    for (i = 0; i < len; i++) {
        c = value->u.string[i];

        if (c < 0x21 || c > 0x7e) {
            return qbsync_oauth_error(error, error_size,
                                      QBSYNC_OAUTH_INVALID, key,
                                      "expected visible ASCII characters");
        }
    }

    copy = allocator->alloc(allocator->ctx, len);
    if (copy == NULL) {
        return qbsync_oauth_error(error, error_size, QBSYNC_OAUTH_NOMEM,
                                  NULL, "out of memory");
    }

    memcpy(copy, value->u.string, len);

    out->data = copy;
    out->len = len;

    return QBSYNC_OAUTH_OK;
}


/* an integer that is absent or null leaves value as it was */
static qbsync_oauth_rc_t
qbsync_oauth_integer(yajl_val root, const char *key, int64_t *value,
    char *error, size_t error_size)
{
    yajl_val  member;

    member = qbsync_yajl_member(root, key);

    if (member == NULL || YAJL_IS_NULL(member)) {
        return QBSYNC_OAUTH_OK;
    }

    if (!YAJL_IS_NUMBER(member)
        || qbsync_yajl_int64(member->u.number.r, value) != 0)
    {
        return qbsync_oauth_error(error, error_size, QBSYNC_OAUTH_INVALID,
                                  key, "expected an integer");
    }

    return QBSYNC_OAUTH_OK;
}


/* seconds from now, positive, into a time that fits */
static qbsync_oauth_rc_t
qbsync_oauth_lifetime(yajl_val root, const char *key, int required,
    int64_t now, int64_t *at, char *error, size_t error_size)
{
    int64_t   seconds;
    yajl_val  member;

    member = qbsync_yajl_member(root, key);

    if (!required && (member == NULL || YAJL_IS_NULL(member))) {
        return QBSYNC_OAUTH_OK;
    }

    if (!YAJL_IS_NUMBER(member)
        || qbsync_yajl_int64(member->u.number.r, &seconds) != 0
        || seconds <= 0
        || (now > 0 && seconds > INT64_MAX - now))
    {
        return qbsync_oauth_error(error, error_size, QBSYNC_OAUTH_INVALID,
                                  key, "expected a positive integer");
    }

    *at = now + seconds;

    return QBSYNC_OAUTH_OK;
}


static yajl_gen_status
qbsync_oauth_gen_integer(yajl_gen gen, const char *name, int64_t value)
{
    yajl_gen_status  status;

    status = yajl_gen_string(gen, (const unsigned char *) name,
                             strlen(name));
    if (status != yajl_gen_status_ok) {
        return status;
    }

    return yajl_gen_integer(gen, value);
}


static void
qbsync_oauth_sanitize(char *text)
{
    unsigned char  *p;

    for (p = (unsigned char *) text; *p; p++) {
        if (*p < 0x20 || *p > 0x7e) {
            *p = '?';
        }
    }
}


/* the field's name and the problem, never the field's value */
static qbsync_oauth_rc_t
qbsync_oauth_error(char *error, size_t error_size, qbsync_oauth_rc_t rc,
    const char *key, const char *problem)
{
    if (error_size == 0) {
        return rc;
    }

    if (key) {
        snprintf(error, error_size, "%s: %s", key, problem);

    } else {
        snprintf(error, error_size, "%s", problem);
    }

    return rc;
}
