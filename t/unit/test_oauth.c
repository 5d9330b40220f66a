
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_oauth.h"
#include "tap.h"
#include "check.h"
#include "fixture.h"
#include "arena.h"


#define NOW       1700000000

/* stands for a token in bodies: no error may ever show it */
#define SECRET    "SECRETtoken0123"

#define GRANT     "grant_type=refresh_token&refresh_token="


static arena_t          arena;
static qbsync_tokens_t  tokens;
static char             error[QBSYNC_OAUTH_ERROR_MAX];


static qbsync_oauth_rc_t
tokens_parse_len(const void *json, size_t len)
{
    arena_reset(&arena);
    memset(error, '#', sizeof(error));

    return qbsync_oauth_tokens_parse(json, len, &arena.allocator, &tokens,
                                     error, sizeof(error));
}


static qbsync_oauth_rc_t
tokens_parse(const char *json)
{
    return tokens_parse_len(json, strlen(json));
}


static qbsync_oauth_rc_t
refresh_parse_len(const void *json, size_t len)
{
    arena_reset(&arena);
    memset(error, '#', sizeof(error));

    return qbsync_oauth_refresh_parse(json, len, NOW, &arena.allocator,
                                      &tokens, error, sizeof(error));
}


static qbsync_oauth_rc_t
refresh_parse(const char *json)
{
    return refresh_parse_len(json, strlen(json));
}


static void
no_secret(void)
{
    if (strstr(error, "SECRET") != NULL) {
        ok(0, "  the error shows no token");
        printf("# error: %s\n", error);
    }
}


static void
invalid_tokens(const char *json, const char *message)
{
    is_int(tokens_parse(json), QBSYNC_OAUTH_INVALID,
           tap_name("token file: ", json));
    is_str(error, message, "  error");
    no_secret();
}


static void
invalid_refresh(const char *json, const char *message)
{
    is_int(refresh_parse(json), QBSYNC_OAUTH_INVALID,
           tap_name("refresh answer: ", json));
    is_str(error, message, "  error");
    no_secret();
}


static void
refused(const char *json, const char *message)
{
    is_int(refresh_parse(json), QBSYNC_OAUTH_REFUSED,
           tap_name("refused: ", json));
    is_str(error, message, "  error");
}


static void
test_tokens_parse(void)
{
    is_int(tokens_parse("{\"access_token\":\"eyJ.a-b_c~d+e/f=\","
                        "\"refresh_token\":\"AB11c\","
                        "\"expires_at\":1700003600,"
                        "\"refresh_token_expires_at\":1715552000}"),
           QBSYNC_OAUTH_OK, "a whole token file");
    is_str(error, "", "  no error");
    is_held(&arena, tokens.access_token, "eyJ.a-b_c~d+e/f=", "  access_token");
    is_held(&arena, tokens.refresh_token, "AB11c", "  refresh_token");
    is_int(tokens.expires_at, 1700003600, "  expires_at");
    is_int(tokens.refresh_token_expires_at, 1715552000,
           "  refresh_token_expires_at");

    is_int(tokens_parse("{\"refresh_token\":\"AB11c\"}\n"), QBSYNC_OAUTH_OK,
           "an operator's file: a refresh token alone");
    is_held(&arena, tokens.refresh_token, "AB11c", "  refresh_token");
    is_int(tokens.access_token.len, 0, "  no access_token");
    ok(tokens.access_token.data != NULL, "  empty, not NULL");
    is_int(tokens.expires_at, 0, "  expires_at 0");
    is_int(tokens.refresh_token_expires_at, 0, "  unknown");

    is_int(tokens_parse("{\"access_token\":null,\"refresh_token\":\"r\","
                        "\"expires_at\":null,\"comment\":[1,{}],"
                        "\"refresh_token_expires_at\":-1}"),
           QBSYNC_OAUTH_OK, "nulls and other members");
    is_int(tokens.access_token.len, 0, "  no access_token");
    is_int(tokens.expires_at, 0, "  expires_at 0");
    is_int(tokens.refresh_token_expires_at, -1, "  a time before 1970");

    is_int(tokens_parse("{\"access_token\":\"\",\"refresh_token\":\"r\"}"),
           QBSYNC_OAUTH_OK, "an empty access_token");
    is_int(tokens.access_token.len, 0, "  is none");

    invalid_tokens("{}", "refresh_token: expected a string");
    invalid_tokens("{\"access_token\":\"" SECRET "\"}",
                   "refresh_token: expected a string");
    invalid_tokens("{\"refresh_token\":null}",
                   "refresh_token: expected a string");
    invalid_tokens("{\"refresh_token\":\"\"}",
                   "refresh_token: expected a non-empty string");
    invalid_tokens("{\"refresh_token\":1234}",
                   "refresh_token: expected a string");
    invalid_tokens("{\"refresh_token\":\"" SECRET " x\"}",
                   "refresh_token: expected visible ASCII characters");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\\r\\nX-Evil: 1\"}",
                   "refresh_token: expected visible ASCII characters");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\xc3\xa9\"}",
                   "refresh_token: expected visible ASCII characters");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\","
                   "\"access_token\":\"" SECRET "\\t\"}",
                   "access_token: expected visible ASCII characters");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\","
                   "\"access_token\":[\"" SECRET "\"]}",
                   "access_token: expected a string");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\","
                   "\"expires_at\":\"1700000000\"}",
                   "expires_at: expected an integer");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\","
                   "\"expires_at\":1.7e9}",
                   "expires_at: expected an integer");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\","
                   "\"refresh_token_expires_at\":9223372036854775808}",
                   "refresh_token_expires_at: expected an integer");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\"",
                   "body: invalid JSON");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\",}",
                   "body: invalid JSON");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\"} /* c */",
                   "body: invalid JSON");
    invalid_tokens("{\"refresh_token\":\"" SECRET "\\u0000\"}",
                   "body: \\u0000 in a string");
    invalid_tokens("[\"" SECRET "\"]", "body: expected an object");
    invalid_tokens("\"" SECRET "\"", "body: expected an object");
    invalid_tokens("", "body: empty");
    invalid_tokens("[[[[[[[[[[[[[[[[[\"" SECRET "\"]]]]]]]]]]]]]]]]]",
                   "body: nested too deeply");

    is_int(tokens_parse_len("{\"refresh_token\":\"r\"}\0", 20),
           QBSYNC_OAUTH_INVALID, "a NUL byte after the file");
    is_str(error, "body: invalid JSON", "  error");
}


static size_t
write_tokens(const char *access, const char *refresh, int64_t expires_at,
    int64_t refresh_expires_at, unsigned char *buf, size_t size)
{
    qbsync_tokens_t  t;

    t.access_token.data = access;
    t.access_token.len = access ? strlen(access) : 0;
    t.refresh_token.data = refresh;
    t.refresh_token.len = strlen(refresh);
    t.expires_at = expires_at;
    t.refresh_token_expires_at = refresh_expires_at;

    return qbsync_oauth_tokens_write(&t, buf, size);
}


static void
test_tokens_write(void)
{
    size_t              n, len;
    const char         *expected;
    unsigned char       buf[256];
    qbsync_tokens_t     saved;
    qbsync_oauth_rc_t   rc;

    expected = "{\"access_token\":\"eyJ.a-b_c~d+e/f=\","
               "\"refresh_token\":\"AB11c\",\"expires_at\":1700003600,"
               "\"refresh_token_expires_at\":1715552000}\n";
    len = strlen(expected);

    memset(buf, '#', sizeof(buf));
    n = write_tokens("eyJ.a-b_c~d+e/f=", "AB11c", 1700003600, 1715552000,
                     buf, sizeof(buf));
    is_int(n, len, "the token file");
    ok(n == len && memcmp(buf, expected, len) == 0, "  as expected");
    ok(buf[len] == '#', "  nothing written past it");

    rc = tokens_parse_len(buf, n);
    is_int(rc, QBSYNC_OAUTH_OK, "  reads back");
    is_held(&arena, tokens.access_token, "eyJ.a-b_c~d+e/f=", "  access_token");
    is_held(&arena, tokens.refresh_token, "AB11c", "  refresh_token");
    is_int(tokens.expires_at, 1700003600, "  expires_at");
    is_int(tokens.refresh_token_expires_at, 1715552000,
           "  refresh_token_expires_at");

    is_int(write_tokens("a", "AB11c", 1700003600, 1715552000, buf,
                        len - 15),
           len - 15, "fits exactly");
    memset(buf, '#', sizeof(buf));
    is_int(write_tokens("a", "AB11c", 1700003600, 1715552000, buf,
                        len - 16),
           0, "one byte short");
    is_int(write_tokens("a", "AB11c", 1, 1, buf, 0), 0, "no room at all");

    n = write_tokens(NULL, "r", INT64_MIN, INT64_MAX, buf, sizeof(buf));
    ok(n > 0, "no access token, the extreme times");
    is_int(tokens_parse_len(buf, n), QBSYNC_OAUTH_OK, "  reads back");
    is_int(tokens.access_token.len, 0, "  no access_token");
    is_int(tokens.expires_at, INT64_MIN, "  expires_at");
    is_int(tokens.refresh_token_expires_at, INT64_MAX,
           "  refresh_token_expires_at");

    is_int(write_tokens("a", "r\xff", 1, 1, buf, sizeof(buf)), 0,
           "a token that is not UTF-8");

    rc = refresh_parse("{\"access_token\":\"a\\\"b\\\\c\",\"expires_in\":1}");
    is_int(rc, QBSYNC_OAUTH_OK,
           "a refresh answer with a quote and a backslash in a token");
    saved = tokens;
    saved.refresh_token.data = "r";
    saved.refresh_token.len = 1;
    n = qbsync_oauth_tokens_write(&saved, buf, sizeof(buf));
    is_int(tokens_parse_len(buf, n), QBSYNC_OAUTH_OK,
           "  written and read back");
    is_held(&arena, tokens.access_token, "a\"b\\c", "  the same token");
}


static void
test_refresh_parse(void)
{
    size_t          len;
    unsigned char  *json;

    json = fixture_read("quickbooks/oauth_success_refreshtoken_response.json",
                        &len);

    is_int(refresh_parse_len(json, len), QBSYNC_OAUTH_OK,
           "Intuit's refresh answer");
    is_str(error, "", "  no error");
    is_int(tokens.access_token.len, 650, "  access_token");
    ok(tokens.access_token.len > 20
       && memcmp(tokens.access_token.data, "eyJlbmMiOiJBMTI4Q0JDLUhT", 24)
          == 0,
       "  access_token bytes");
    is_held(&arena, tokens.refresh_token,
         "L311478109728uVoOkDSUCl4s8FDRvjHR6kUKz0RHe3WtZQuBq",
         "  refresh_token");
    is_int(tokens.expires_at, NOW + 3600, "  expires_at, from now");
    is_int(tokens.refresh_token_expires_at, NOW + 15552000,
           "  refresh_token_expires_at, from now");

    free(json);

    json = fixture_read("quickbooks/oauth_failure_token_response.json",
                        &len);

    is_int(refresh_parse_len(json, len), QBSYNC_OAUTH_REFUSED,
           "Intuit's failure answer");
    is_str(error, "error: error_description", "  error");

    free(json);

    refused("{\"error\":\"invalid_grant\"}", "invalid_grant");
    refused("{\"error\":\"invalid_grant\",\"error_description\":null}",
            "invalid_grant");
    refused("{\"error\":\"invalid_grant\",\"error_description\":\"\"}",
            "invalid_grant");
    refused("{\"error\":\"invalid_grant\",\"error_description\":"
            "\"Incorrect Token type or clientID\"}",
            "invalid_grant: Incorrect Token type or clientID");
    refused("{\"error\":\"invalid_client\",\"access_token\":\"" SECRET "\","
            "\"expires_in\":3600}",
            "invalid_client");
    refused("{\"error\":\"x\\ny\",\"error_description\":\"caf\\u00e9\\t\"}",
            "x?y: caf???");

    is_int(refresh_parse("{\"error\":\"invalid_request\","
                         "\"error_description\":\"aaaaaaaaaaaaaaaaaaaaaaaaa"
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                         "\"}"),
           QBSYNC_OAUTH_REFUSED, "a long description");
    is_int(strlen(error), sizeof(error) - 1, "  cut to the error's size");

    invalid_refresh("{\"error\":5}", "error: expected a string");
    invalid_refresh("{\"error\":\"\"}", "error: expected a string");

    is_int(refresh_parse("{\"error\":null,\"access_token\":\"a\","
                         "\"expires_in\":60,\"token_type\":\"Bearer\"}"),
           QBSYNC_OAUTH_OK,
           "error null, no refresh token, token_type in capitals");
    is_held(&arena, tokens.access_token, "a", "  access_token");
    is_int(tokens.refresh_token.len, 0,
           "  refresh_token left empty: the caller keeps its own");
    ok(tokens.refresh_token.data != NULL, "  empty, not NULL");
    is_int(tokens.expires_at, NOW + 60, "  expires_at");
    is_int(tokens.refresh_token_expires_at, 0, "  refresh lifetime unknown");

    is_int(refresh_parse("{\"access_token\":\"a\",\"expires_in\":60,"
                         "\"refresh_token\":null,"
                         "\"x_refresh_token_expires_in\":8640000}"),
           QBSYNC_OAUTH_OK, "refresh_token null, its lifetime given");
    is_int(tokens.refresh_token.len, 0, "  refresh_token left empty");
    is_int(tokens.refresh_token_expires_at, NOW + 8640000,
           "  refresh_token_expires_at");

    invalid_refresh("{\"refresh_token\":\"" SECRET "\",\"expires_in\":3600}",
                    "access_token: expected a string");
    invalid_refresh("{\"access_token\":\"\",\"expires_in\":3600}",
                    "access_token: expected a non-empty string");
    invalid_refresh("{\"access_token\":\"" SECRET "\\n\","
                    "\"expires_in\":3600}",
                    "access_token: expected visible ASCII characters");
    invalid_refresh("{\"access_token\":\"" SECRET "\"}",
                    "expires_in: expected a positive integer");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":null}",
                    "expires_in: expected a positive integer");
    invalid_refresh("{\"access_token\":\"" SECRET "\","
                    "\"expires_in\":\"3600\"}",
                    "expires_in: expected a positive integer");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":0}",
                    "expires_in: expected a positive integer");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":-1}",
                    "expires_in: expected a positive integer");
    invalid_refresh("{\"access_token\":\"" SECRET "\","
                    "\"expires_in\":3600.5}",
                    "expires_in: expected a positive integer");
    invalid_refresh("{\"access_token\":\"" SECRET "\","
                    "\"expires_in\":9223372036854775807}",
                    "expires_in: expected a positive integer");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":1,"
                    "\"refresh_token\":\"" SECRET " \"}",
                    "refresh_token: expected visible ASCII characters");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":1,"
                    "\"refresh_token\":7}",
                    "refresh_token: expected a string");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":1,"
                    "\"x_refresh_token_expires_in\":\"1\"}",
                    "x_refresh_token_expires_in: expected a positive "
                    "integer");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":1,"
                    "\"x_refresh_token_expires_in\":0}",
                    "x_refresh_token_expires_in: expected a positive "
                    "integer");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":1,"
                    "\"token_type\":\"mac\"}",
                    "token_type: expected \"bearer\"");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":1,"
                    "\"token_type\":null}",
                    "token_type: expected \"bearer\"");
    invalid_refresh("{\"access_token\":\"" SECRET "\",\"expires_in\":1",
                    "body: invalid JSON");
    invalid_refresh("<html><body>Bad Gateway</body></html>",
                    "body: invalid JSON");
    invalid_refresh("", "body: empty");
    invalid_refresh("[]", "body: expected an object");

    json = fixture_read("quickbooks/oauth_discovery_production.json", &len);
    is_int(refresh_parse_len(json, len), QBSYNC_OAUTH_INVALID,
           "the discovery document is no refresh answer");
    is_str(error, "access_token: expected a string", "  error");
    free(json);
}


static void
test_errors(void)
{
    char               buf[8];
    qbsync_oauth_rc_t  rc;

    arena_reset(&arena);

    rc = qbsync_oauth_tokens_parse((const unsigned char *) "{}", 2,
                                   &arena.allocator, &tokens, NULL, 0);
    is_int(rc, QBSYNC_OAUTH_INVALID, "no error buffer");

    rc = qbsync_oauth_refresh_parse((const unsigned char *)
                                    "{\"error\":\"invalid_grant\"}", 25, NOW,
                                    &arena.allocator, &tokens, NULL, 0);
    is_int(rc, QBSYNC_OAUTH_REFUSED, "refused, no error buffer");

    memset(buf, '#', sizeof(buf));
    rc = qbsync_oauth_refresh_parse((const unsigned char *)
                                    "{\"error\":\"invalid_grant\"}", 25, NOW,
                                    &arena.allocator, &tokens, buf, 4);
    is_int(rc, QBSYNC_OAUTH_REFUSED, "refused, a short error buffer");
    is_str(buf, "inv", "  cut");
    is_int(buf[4], '#', "  nothing written past it");
}


static size_t
body(const char *token, size_t len, char *out, size_t size)
{
    memset(out, '#', size + 1);

    return qbsync_oauth_refresh_body(token, len, out, size);
}


static void
test_refresh_body(void)
{
    size_t       n, len;
    char         out[256];
    const char  *expected;

    n = body("L311478109728uVoOkDSUCl4s8FDRvjHR6kUKz0RHe3WtZQuBq", 50, out,
             sizeof(out) - 1);
    expected = GRANT "L311478109728uVoOkDSUCl4s8FDRvjHR6kUKz0RHe3WtZQuBq";
    is_int(n, strlen(expected), "Intuit's refresh token");
    ok(n == strlen(expected) && memcmp(out, expected, n) == 0,
       "  as it is");
    ok(out[n] == '#', "  not NUL-terminated, nothing past it");

    n = body("a b+c/d=e&f%g~h.i_j-k\xff\n\"", 24, out, sizeof(out) - 1);
    expected = GRANT "a%20b%2Bc%2Fd%3De%26f%25g~h.i_j-k%FF%0A%22";
    is_int(n, strlen(expected), "reserved characters");
    ok(n == strlen(expected) && memcmp(out, expected, n) == 0,
       "  are %XX, uppercase; unreserved are kept");

    n = body("a\0b", 3, out, sizeof(out) - 1);
    ok(n == sizeof(GRANT) + 4 && memcmp(out + n - 5, "a%00b", 5) == 0,
       "a NUL byte inside");

    n = body("", 0, out, sizeof(out) - 1);
    is_int(n, sizeof(GRANT) - 1, "an empty token");

    n = body(NULL, 0, out, sizeof(out) - 1);
    is_int(n, sizeof(GRANT) - 1, "no token at all");

    len = sizeof(GRANT) - 1 + 6;
    is_int(body("ab c", 4, out, len), len, "fits exactly");
    is_int(body("ab c", 4, out, len - 1), 0, "one byte short, in an escape");
    ok(out[len - 1] == '#', "  nothing past the size");
    is_int(body("ab cd", 5, out, len), 0, "one byte short, plain");
    is_int(body("a", 1, out, sizeof(GRANT) - 1), 0, "room for the grant only");
    is_int(body("", 0, out, sizeof(GRANT) - 2), 0, "not even that");
    is_int(body("", 0, out, 0), 0, "no room at all");
}


/* every allocation that fails is NOMEM, and nothing leaks */
static void
test_nomem(void)
{
    size_t              n, total, len, bad;
    unsigned char      *json;
    qbsync_oauth_rc_t   rc;

    json = fixture_read("quickbooks/oauth_success_refreshtoken_response.json",
                        &len);

    refresh_parse_len(json, len);
    total = arena.count;
    bad = 0;

    for (n = 0; n < total; n++) {
        arena_reset(&arena);
        arena.fail_after = n;

        rc = qbsync_oauth_refresh_parse(json, len, NOW, &arena.allocator,
                                        &tokens, error, sizeof(error));

        bad += (rc != QBSYNC_OAUTH_NOMEM
                || strcmp(error, "out of memory") != 0);
    }

    is_int(total, 2, "a refresh answer: two allocations");
    is_int(bad, 0, "  NOMEM whichever fails");

    arena.fail_after = 0;
    arena_reset(&arena);
    rc = qbsync_oauth_tokens_parse((const unsigned char *)
                                   "{\"refresh_token\":\"r\"}", 21,
                                   &arena.allocator, &tokens, error,
                                   sizeof(error));
    is_int(rc, QBSYNC_OAUTH_NOMEM, "a token file, no memory");

    arena.fail_after = (size_t) -1;

    free(json);
}


int
main(void)
{
    arena_init(&arena);

    test_tokens_parse();
    test_tokens_write();
    test_refresh_parse();
    test_errors();
    test_refresh_body();
    test_nomem();

    arena_reset(&arena);

    return done();
}
