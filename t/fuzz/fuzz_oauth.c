
/*
 * Copyright (C) qbsync authors
 */


/*
 * Input: a body, parsed both as a token file and as Intuit's answer to a
 * refresh, then taken as a refresh token for the form body.  Tokens kept
 * must lie inside the arena and be visible ASCII; a token file read must
 * be written and read back the same; an INVALID error must be one of the
 * fixed messages (so it can hold no token); a REFUSED one printable; the
 * form body must decode back to the token; and the same body with one
 * allocation failing must be NOMEM.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_oauth.h"
#include "../unit/arena.h"


#define NOW    1700000000
#define GRANT  "grant_type=refresh_token&refresh_token="


static arena_t  arena;


static const char  *keys[] = {
    "body", "refresh_token", "access_token", "expires_at",
    "refresh_token_expires_at", "expires_in", "x_refresh_token_expires_in",
    "token_type", "error"
};

static const char  *problems[] = {
    "empty", "invalid JSON", "nested too deeply", "\\u0000 in a string",
    "expected an object", "expected a string",
    "expected a non-empty string", "expected visible ASCII characters",
    "expected an integer", "expected a positive integer",
    "expected \"bearer\""
};


static void
check_error(const char *error, qbsync_oauth_rc_t rc)
{
    size_t  i, j, n;

    if (memchr(error, '\0', QBSYNC_OAUTH_ERROR_MAX) == NULL) {
        abort();
    }

    switch (rc) {

    case QBSYNC_OAUTH_OK:
        if (error[0] != '\0') {
            abort();
        }

        return;

    case QBSYNC_OAUTH_NOMEM:
        if (strcmp(error, "out of memory") != 0) {
            abort();
        }

        return;

    case QBSYNC_OAUTH_REFUSED:
        for (i = 0; error[i]; i++) {
            if (error[i] < 0x20 || error[i] > 0x7e) {
                abort();
            }
        }

        if (i == 0) {
            abort();
        }

        return;

    case QBSYNC_OAUTH_INVALID:
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            n = strlen(keys[i]);

            if (strncmp(error, keys[i], n) != 0 || error[n] != ':'
                || error[n + 1] != ' ')
            {
                continue;
            }

            for (j = 0; j < sizeof(problems) / sizeof(problems[0]); j++) {
                if (strcmp(error + n + 2, problems[j]) == 0) {
                    return;
                }
            }
        }

        abort();

    default:
        abort();
    }
}


static void
check_token(const qbsync_str_t *token, int nonempty)
{
    size_t  i;

    if (!arena_holds(&arena, token->data, token->len)
        || (nonempty && token->len == 0))
    {
        abort();
    }

    for (i = 0; i < token->len; i++) {
        if (token->data[i] < 0x21 || token->data[i] > 0x7e) {
            abort();
        }
    }
}


static int
same(const qbsync_str_t *a, const qbsync_str_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}


/* written and read back, into a second arena, it is the same */
static void
check_round_trip(const qbsync_tokens_t *tokens)
{
    size_t              size, n;
    arena_t             other;
    unsigned char      *buf;
    qbsync_tokens_t     back;
    qbsync_oauth_rc_t   rc;

    /* yajl escapes '"' and '\\' in two bytes; tokens have no others */
    size = 2 * (tokens->access_token.len + tokens->refresh_token.len) + 256;
    buf = malloc(size);
    if (buf == NULL) {
        abort();
    }

    n = qbsync_oauth_tokens_write(tokens, buf, size);

    if (n == 0 || qbsync_oauth_tokens_write(tokens, buf, n - 1) != 0) {
        abort();
    }

    n = qbsync_oauth_tokens_write(tokens, buf, n);

    arena_init(&other);

    rc = qbsync_oauth_tokens_parse(buf, n, &other.allocator, &back, NULL, 0);

    if (rc != QBSYNC_OAUTH_OK
        || !same(&back.access_token, &tokens->access_token)
        || !same(&back.refresh_token, &tokens->refresh_token)
        || back.expires_at != tokens->expires_at
        || back.refresh_token_expires_at != tokens->refresh_token_expires_at)
    {
        abort();
    }

    arena_reset(&other);
    free(buf);
}


static qbsync_oauth_rc_t
tokens_file(const uint8_t *data, size_t size, size_t fail_after)
{
    char               error[QBSYNC_OAUTH_ERROR_MAX];
    qbsync_tokens_t    tokens;
    qbsync_oauth_rc_t  rc;

    arena_reset(&arena);
    arena.fail_after = fail_after;

    rc = qbsync_oauth_tokens_parse(data, size, &arena.allocator, &tokens,
                                   error, sizeof(error));
    check_error(error, rc);

    if (rc == QBSYNC_OAUTH_REFUSED) {
        abort();
    }

    if (rc == QBSYNC_OAUTH_OK) {
        check_token(&tokens.refresh_token, 1);
        check_token(&tokens.access_token, 0);
        check_round_trip(&tokens);
    }

    return rc;
}


static qbsync_oauth_rc_t
refresh(const uint8_t *data, size_t size, size_t fail_after)
{
    char               error[QBSYNC_OAUTH_ERROR_MAX];
    qbsync_tokens_t    tokens;
    qbsync_oauth_rc_t  rc;

    arena_reset(&arena);
    arena.fail_after = fail_after;

    rc = qbsync_oauth_refresh_parse(data, size, NOW, &arena.allocator,
                                    &tokens, error, sizeof(error));
    check_error(error, rc);

    if (rc == QBSYNC_OAUTH_OK) {
        check_token(&tokens.access_token, 1);
        check_token(&tokens.refresh_token, 0);

        if (tokens.expires_at <= NOW
            || (tokens.refresh_token_expires_at != 0
                && tokens.refresh_token_expires_at <= NOW))
        {
            abort();
        }
    }

    return rc;
}


static int
hex(char c)
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
check_body(const uint8_t *data, size_t size)
{
    char    *out;
    size_t   n, i, j, room;

    room = sizeof(GRANT) - 1 + 3 * size;
    out = malloc(room);
    if (out == NULL) {
        abort();
    }

    n = qbsync_oauth_refresh_body((const char *) data, size, out, room);

    if (n < sizeof(GRANT) - 1 || memcmp(out, GRANT, sizeof(GRANT) - 1) != 0
        || qbsync_oauth_refresh_body((const char *) data, size, out, n - 1)
           != 0)
    {
        abort();
    }

    n = qbsync_oauth_refresh_body((const char *) data, size, out, n);

    for (i = sizeof(GRANT) - 1, j = 0; i < n; j++) {
        if (out[i] == '%') {
            if (n - i < 3 || hex(out[i + 1]) < 0 || hex(out[i + 2]) < 0
                || j >= size
                || data[j] != hex(out[i + 1]) * 16 + hex(out[i + 2]))
            {
                abort();
            }

            i += 3;
            continue;
        }

        if (!((out[i] >= 'a' && out[i] <= 'z')
              || (out[i] >= 'A' && out[i] <= 'Z')
              || (out[i] >= '0' && out[i] <= '9')
              || out[i] == '-' || out[i] == '.' || out[i] == '_'
              || out[i] == '~')
            || j >= size || data[j] != (uint8_t) out[i])
        {
            abort();
        }

        i++;
    }

    if (j != size) {
        abort();
    }

    free(out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t  count;

    arena_init(&arena);

    if (tokens_file(data, size, (size_t) -1) == QBSYNC_OAUTH_NOMEM) {
        abort();
    }

    count = arena.count;

    if (count
        && (tokens_file(data, size, size % count) != QBSYNC_OAUTH_NOMEM
            || tokens_file(data, size, count - 1) != QBSYNC_OAUTH_NOMEM))
    {
        abort();
    }

    if (refresh(data, size, (size_t) -1) == QBSYNC_OAUTH_NOMEM) {
        abort();
    }

    count = arena.count;

    if (count
        && (refresh(data, size, size % count) != QBSYNC_OAUTH_NOMEM
            || refresh(data, size, count - 1) != QBSYNC_OAUTH_NOMEM))
    {
        abort();
    }

    check_body(data, size);

    arena_reset(&arena);

    return 0;
}
