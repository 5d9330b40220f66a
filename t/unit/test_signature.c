
/*
 * Copyright (C) qbsync authors
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "qbsync_signature.h"
#include "tap.h"
#include "fixture.h"


/* the vector of /work/shared/fixtures/stripe/SOURCE.md */
#define SECRET     "whsec_test_secret"
#define OTHER      "whsec_other"
#define T          "1700000000"
#define V1_SECRET  "f2ddb6ce222a8eecedaef08a0e2e8348"                          \
                   "b096bc76a0e0a128f5b39b4f45fe87d0"
#define V1_OTHER   "87ff8184f2a62ca1438a370e296a79bf"                          \
                   "f13fd3a914a137d1094146bde606ccd1"
#define V1_ZERO    "00000000000000000000000000000000"                          \
                   "00000000000000000000000000000000"

/* the first 63 hex digits of V1_SECRET */
#define V1_SHORT   "f2ddb6ce222a8eecedaef08a0e2e8348"                          \
                   "b096bc76a0e0a128f5b39b4f45fe87d"


static unsigned char  *body;
static size_t          body_len;


static qbsync_signature_key_t *
key_new(const char *secret)
{
    qbsync_signature_key_t  *key;

    key = qbsync_signature_key_new((const unsigned char *) secret,
                                   strlen(secret));
    if (key == NULL) {
        printf("Bail out! qbsync_signature_key_new() failed\n");
        exit(1);
    }

    return key;
}


static qbsync_signature_rc_t
parse(const char *header, qbsync_signature_header_t *sig)
{
    return qbsync_signature_parse((const unsigned char *) header,
                                  strlen(header), sig);
}


static const char *
mac_hex(qbsync_signature_key_t *key, int64_t timestamp,
    const qbsync_chunk_t *chunks, size_t n)
{
    unsigned char  mac[QBSYNC_SIGNATURE_MAC_LEN];
    static char    hex[QBSYNC_SIGNATURE_HEX_LEN + 1];

    if (qbsync_signature_compute(key, timestamp, chunks, n, mac) != 0) {
        return "(compute failed)";
    }

    qbsync_hex_encode(mac, sizeof(mac), hex);
    hex[QBSYNC_SIGNATURE_HEX_LEN] = '\0';

    return hex;
}


/* the header against keys, over the fixture in one chunk */
static qbsync_signature_rc_t
verify(const char *header, const char **secrets, size_t nkeys)
{
    size_t                      i;
    qbsync_chunk_t              chunk;
    qbsync_signature_rc_t       rc;
    qbsync_signature_key_t     *keys[4];
    qbsync_signature_header_t   sig;

    rc = parse(header, &sig);
    if (rc != QBSYNC_SIGNATURE_OK) {
        return rc;
    }

    for (i = 0; i < nkeys; i++) {
        keys[i] = key_new(secrets[i]);
    }

    chunk.data = body;
    chunk.len = body_len;

    rc = qbsync_signature_verify(&sig, keys, nkeys, &chunk, 1);

    for (i = 0; i < nkeys; i++) {
        qbsync_signature_key_free(keys[i]);
    }

    return rc;
}


static void
test_vector(void)
{
    qbsync_chunk_t           chunk;
    qbsync_signature_key_t  *key, *other;

    key = key_new(SECRET);
    other = key_new(OTHER);

    chunk.data = body;
    chunk.len = body_len;

    is_int(body_len, 861, "fixture is the 861 bytes of the vector");
    is_str(mac_hex(key, 1700000000, &chunk, 1), V1_SECRET,
           "MAC of the fixture with whsec_test_secret");
    is_str(mac_hex(other, 1700000000, &chunk, 1), V1_OTHER,
           "MAC of the fixture with whsec_other");
    is_str(mac_hex(key, 1700000000, &chunk, 1), V1_SECRET,
           "a key gives the same MAC when used again");

    qbsync_signature_key_free(key);
    qbsync_signature_key_free(other);
}


static void
test_chunks(void)
{
    size_t                   i, bad;
    qbsync_chunk_t           chunks[3], *bytes;
    qbsync_signature_key_t  *key;

    key = key_new(SECRET);

    bad = 0;

    for (i = 0; i <= body_len; i++) {
        chunks[0].data = body;
        chunks[0].len = i;
        chunks[1].data = NULL;
        chunks[1].len = 0;
        chunks[2].data = body + i;
        chunks[2].len = body_len - i;

        bad += strcmp(mac_hex(key, 1700000000, chunks, 3), V1_SECRET) != 0;
    }

    is_int(bad, 0, "body split at every byte, with an empty chunk, same MAC");

    bytes = malloc(body_len * sizeof(qbsync_chunk_t));
    if (bytes == NULL) {
        printf("Bail out! out of memory\n");
        exit(1);
    }

    for (i = 0; i < body_len; i++) {
        bytes[i].data = body + i;
        bytes[i].len = 1;
    }

    is_str(mac_hex(key, 1700000000, bytes, body_len), V1_SECRET,
           "body in one-byte chunks, same MAC");

    free(bytes);
    qbsync_signature_key_free(key);
}


/* OpenSSL's one-shot HMAC() is the reference for keys and lengths */
static void
test_against_hmac(void)
{
    size_t                   i, len, bad;
    unsigned char            mac[QBSYNC_SIGNATURE_MAC_LEN];
    unsigned char            expected[QBSYNC_SIGNATURE_MAC_LEN];
    unsigned char            secret[200], message[300];
    unsigned int             expected_len;
    qbsync_chunk_t           chunks[2];
    qbsync_signature_key_t  *key;

    for (i = 0; i < sizeof(secret); i++) {
        secret[i] = (unsigned char) (i * 7 + 1);
    }

    bad = 0;

    /* 0, shorter than, equal to and longer than SHA-256's 64-byte block */
    for (len = 0; len <= sizeof(secret); len += 8) {
        key = qbsync_signature_key_new(secret, len);
        if (key == NULL) {
            bad++;
            continue;
        }

        memcpy(message, "42.", 3);
        memcpy(message + 3, secret, len);

        chunks[0].data = secret;
        chunks[0].len = len / 2;
        chunks[1].data = secret + len / 2;
        chunks[1].len = len - len / 2;

        if (qbsync_signature_compute(key, 42, chunks, 2, mac) != 0
            || HMAC(EVP_sha256(), secret, (int) len, message, len + 3,
                    expected, &expected_len)
               == NULL
            || memcmp(mac, expected, sizeof(mac)) != 0)
        {
            bad++;
        }

        qbsync_signature_key_free(key);
    }

    is_int(bad, 0, "same MAC as HMAC() for secrets of 0 to 200 bytes");
}


static void
test_timestamp_text(void)
{
    qbsync_chunk_t           chunk;
    unsigned char            message[64];
    unsigned char            expected[QBSYNC_SIGNATURE_MAC_LEN];
    unsigned char            mac[QBSYNC_SIGNATURE_MAC_LEN];
    unsigned int             expected_len;
    qbsync_signature_key_t  *key;

    key = key_new(SECRET);

    chunk.data = (const unsigned char *) "{}";
    chunk.len = 2;

    memcpy(message, "-9223372036854775808.{}", 23);
    HMAC(EVP_sha256(), SECRET, sizeof(SECRET) - 1, message, 23, expected,
         &expected_len);

    ok(qbsync_signature_compute(key, INT64_MIN, &chunk, 1, mac) == 0
       && memcmp(mac, expected, sizeof(mac)) == 0,
       "the signed timestamp is the decimal integer, INT64_MIN included");

    qbsync_signature_key_free(key);
}


static void
test_verify(void)
{
    const char  *secret[] = { SECRET };
    const char  *other[] = { OTHER };
    const char  *rolled[] = { "whsec_wrong", OTHER };
    const char  *both[] = { OTHER, SECRET };

    is_int(verify("t=" T ",v1=" V1_SECRET, secret, 1), QBSYNC_SIGNATURE_OK,
           "the vector verifies");
    is_int(verify("t=" T ",v1=" V1_ZERO ",v1=" V1_SECRET ",v0=" V1_SECRET,
                  rolled, 2),
           QBSYNC_SIGNATURE_MISMATCH, "no key matches any v1");
    is_int(verify("t=" T ",v1=" V1_ZERO ",v1=" V1_SECRET ",v1=" V1_OTHER,
                  rolled, 2),
           QBSYNC_SIGNATURE_OK,
           "second key matches the third of several v1");
    is_int(verify("t=" T ",v1=" V1_OTHER, both, 2), QBSYNC_SIGNATURE_OK,
           "first key matches");
    is_int(verify("t=" T ",v1=" V1_SECRET ",v1=" V1_ZERO, secret, 1),
           QBSYNC_SIGNATURE_OK, "the first of two v1 matches");
    is_int(verify("t=" T ",v1=" V1_SECRET, other, 1),
           QBSYNC_SIGNATURE_MISMATCH, "a v1 of another secret");
    is_int(verify("t=" T ",v1=" V1_SECRET, secret, 0),
           QBSYNC_SIGNATURE_MISMATCH, "no keys");
    is_int(verify("t=" T ",v0=" V1_SECRET, secret, 1),
           QBSYNC_SIGNATURE_NO_V1, "a v0 alone is not a signature");
    is_int(verify("t=1700000001,v1=" V1_SECRET, secret, 1),
           QBSYNC_SIGNATURE_MISMATCH, "the timestamp is signed");
    is_int(verify("t=0001700000000,v1=" V1_SECRET, secret, 1),
           QBSYNC_SIGNATURE_OK,
           "the timestamp is signed as re-formatted, like the SDKs");
}


static void
test_tampered(void)
{
    const char  *secret[] = { SECRET };

    body[body_len - 1] ^= 0x01;
    is_int(verify("t=" T ",v1=" V1_SECRET, secret, 1),
           QBSYNC_SIGNATURE_MISMATCH, "one bit of the last byte changed");
    body[body_len - 1] ^= 0x01;

    body[0] = 'X';
    is_int(verify("t=" T ",v1=" V1_SECRET, secret, 1),
           QBSYNC_SIGNATURE_MISMATCH, "the first byte changed");
    body[0] = '{';

    body_len--;
    is_int(verify("t=" T ",v1=" V1_SECRET, secret, 1),
           QBSYNC_SIGNATURE_MISMATCH, "the trailing newline removed");
    body_len++;

    is_int(verify("t=" T ",v1=" V1_SECRET, secret, 1), QBSYNC_SIGNATURE_OK,
           "the restored body verifies again");
}


static void
test_parse_refused(void)
{
    qbsync_signature_header_t  sig;

    is_int(qbsync_signature_parse(NULL, 0, &sig), QBSYNC_SIGNATURE_MISSING,
           "no header");
    is_int(parse("", &sig), QBSYNC_SIGNATURE_MISSING, "empty header");
    is_int(parse(" \t  ", &sig), QBSYNC_SIGNATURE_MISSING,
           "spaces and tabs only");

    is_int(parse("v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED, "no t");
    is_int(parse("v0=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED,
           "no t and no v1 is malformed, not unsigned");
    is_int(parse("t=1,t=1,v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED,
           "two t");
    is_int(parse("t=,v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED,
           "empty t");
    is_int(parse("t=17000a0000,v1=" V1_SECRET, &sig),
           QBSYNC_SIGNATURE_MALFORMED, "t not decimal");
    is_int(parse("t=0x1,v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED,
           "t in hex");
    is_int(parse("t=1.5,v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED,
           "t with a fraction");
    is_int(parse("t=+1700000000,v1=" V1_SECRET, &sig),
           QBSYNC_SIGNATURE_MALFORMED, "t with a plus sign");
    is_int(parse("t=-1,v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED,
           "t with a minus sign");
    is_int(parse("t= 1700000000,v1=" V1_SECRET, &sig),
           QBSYNC_SIGNATURE_MALFORMED, "t with a leading space");
    is_int(parse("t=1700000000 ,v1=" V1_SECRET, &sig),
           QBSYNC_SIGNATURE_MALFORMED, "t with a trailing space");
    is_int(parse("t=1234567890123456789,v1=" V1_SECRET, &sig),
           QBSYNC_SIGNATURE_MALFORMED, "t of 19 digits");
    is_int(parse("t=" T ",v1=" V1_SECRET ",garbage", &sig),
           QBSYNC_SIGNATURE_MALFORMED, "an element without '='");
    is_int(parse("t=" T ",v1=" V1_SECRET ",", &sig),
           QBSYNC_SIGNATURE_MALFORMED, "a trailing comma");
    is_int(parse(",t=" T ",v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED,
           "a leading comma");
    is_int(parse("t=" T ",,v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED,
           "two commas in a row");
    is_int(parse("t=" T ",v0=" V1_SECRET ",x", &sig),
           QBSYNC_SIGNATURE_MALFORMED, "malformed wins over no v1");
    is_int(parse("t " T ",v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_MALFORMED,
           "t without '='");
}


static void
test_parse_v1(void)
{
    char                       header[1024];
    qbsync_signature_header_t  sig;

    is_int(parse("t=" T ",v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_OK,
           "t and one v1");
    is_int(sig.timestamp, 1700000000, "timestamp");
    is_int(sig.nv1, 1, "one v1 kept");

    is_int(parse("t=" T ",v1=" V1_SECRET "0", &sig), QBSYNC_SIGNATURE_NO_V1,
           "a v1 of 65 hex digits is skipped");
    is_int(parse("t=" T ",v1=" V1_SHORT, &sig), QBSYNC_SIGNATURE_NO_V1,
           "a v1 of 63 hex digits is skipped");
    is_int(parse("t=" T ",v1=g" V1_SHORT, &sig), QBSYNC_SIGNATURE_NO_V1,
           "a v1 with a non-hex digit is skipped");
    is_int(parse("t=" T ",v1= " V1_SHORT, &sig), QBSYNC_SIGNATURE_NO_V1,
           "a v1 with a space is skipped");
    is_int(parse("t=" T ", v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_NO_V1,
           "spaces around elements are not trimmed");
    is_int(parse("t=" T ",v1=" V1_ZERO "=", &sig), QBSYNC_SIGNATURE_NO_V1,
           "split on the first '=' only");
    is_int(parse("t=" T ",v1=", &sig), QBSYNC_SIGNATURE_NO_V1, "an empty v1");
    is_int(parse("t=" T, &sig), QBSYNC_SIGNATURE_NO_V1, "t only");

    is_int(parse("t=" T ",v1=xyz,v1=" V1_SECRET, &sig), QBSYNC_SIGNATURE_OK,
           "a bad v1 before a good one");
    is_int(sig.nv1, 1, "only the good v1 kept");

    is_int(parse("t=999999999999999999,v1=" V1_SECRET, &sig),
           QBSYNC_SIGNATURE_OK, "t of 18 digits");
    is_int(sig.timestamp, 999999999999999999LL, "largest timestamp");

    is_int(parse("v2=1,V1=" V1_OTHER ",=x,v1=" V1_SECRET ",foo=bar,t=" T
                 ",v0=" V1_OTHER ",t1=5", &sig),
           QBSYNC_SIGNATURE_OK, "unknown schemes are ignored, in any place");
    is_int(sig.nv1, 1, "only v1 is kept");

    is_int(parse("t=" T ",v1=F2DDB6CE222A8EECEDAEF08A0E2E8348B096BC76A0E0A128"
                 "F5B39B4F45FE87D0", &sig),
           QBSYNC_SIGNATURE_OK, "an uppercase v1");
    ok(sig.nv1 == 1 && memcmp(sig.v1[0], "\xf2\xdd\xb6\xce", 4) == 0
       && sig.v1[0][31] == 0xd0, "an uppercase v1 is decoded");

    snprintf(header, sizeof(header), "t=%s%s%s%s%s%s%s%s%s", T,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",v1=" V1_ZERO,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",v1=" V1_ZERO,
             ",v1=" V1_ZERO, ",v1=" V1_SECRET);
    is_int(parse(header, &sig), QBSYNC_SIGNATURE_OK, "eight v1");
    is_int(sig.nv1, 8, "eight v1 kept");
    ok(memcmp(sig.v1[7], "\xf2\xdd", 2) == 0, "the eighth v1 is the last");

    strcat(header, ",v1=" V1_OTHER ",v1=" V1_OTHER);
    is_int(parse(header, &sig), QBSYNC_SIGNATURE_OK, "ten v1");
    is_int(sig.nv1, 8, "eight v1 kept");
    ok(memcmp(sig.v1[7], "\xf2\xdd", 2) == 0, "the eighth v1 is still last");
}


static void
test_max_v1(void)
{
    char         header[1024];
    const char  *secret[] = { SECRET };

    snprintf(header, sizeof(header), "t=%s%s%s%s%s%s%s%s%s%s", T,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",v1=" V1_ZERO,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",v1=" V1_ZERO,
             ",v1=" V1_ZERO, ",v1=" V1_SECRET, ",v1=" V1_OTHER);
    is_int(verify(header, secret, 1), QBSYNC_SIGNATURE_OK,
           "the eighth v1 is compared");

    snprintf(header, sizeof(header), "t=%s%s%s%s%s%s%s%s%s%s", T,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",v1=" V1_ZERO,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",v1=" V1_ZERO,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",v1=" V1_SECRET);
    is_int(verify(header, secret, 1), QBSYNC_SIGNATURE_MISMATCH,
           "a ninth v1 is ignored");

    snprintf(header, sizeof(header), "t=%s%s%s%s%s%s%s%s%s%s", T,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",v1=" V1_ZERO,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",v1=" V1_ZERO,
             ",v1=" V1_ZERO, ",v1=" V1_ZERO, ",garbage");
    is_int(verify(header, secret, 1), QBSYNC_SIGNATURE_MALFORMED,
           "elements past eight v1 are still parsed");
}


static void
test_time(void)
{
    qbsync_signature_header_t  sig;

    sig.timestamp = 1700000000;
    sig.nv1 = 0;

    is_int(qbsync_signature_check_time(&sig, 1700000000, 300),
           QBSYNC_SIGNATURE_OK, "now");
    is_int(qbsync_signature_check_time(&sig, 1700000300, 300),
           QBSYNC_SIGNATURE_OK, "exactly tolerance old");
    is_int(qbsync_signature_check_time(&sig, 1700000301, 300),
           QBSYNC_SIGNATURE_OUT_OF_TOLERANCE, "tolerance + 1 old");
    is_int(qbsync_signature_check_time(&sig, 1699999700, 300),
           QBSYNC_SIGNATURE_OK, "exactly tolerance ahead");
    is_int(qbsync_signature_check_time(&sig, 1699999699, 300),
           QBSYNC_SIGNATURE_OUT_OF_TOLERANCE, "tolerance + 1 ahead");
    is_int(qbsync_signature_check_time(&sig, 1700000000, 0),
           QBSYNC_SIGNATURE_OK, "tolerance 0, same second");
    is_int(qbsync_signature_check_time(&sig, 1700000001, 0),
           QBSYNC_SIGNATURE_OUT_OF_TOLERANCE, "tolerance 0, a second off");
    is_int(qbsync_signature_check_time(&sig, 1700000000, -1),
           QBSYNC_SIGNATURE_OUT_OF_TOLERANCE, "negative tolerance");

    sig.timestamp = 0;
    is_int(qbsync_signature_check_time(&sig, INT64_MAX, INT64_MAX),
           QBSYNC_SIGNATURE_OK, "INT64_MAX old within INT64_MAX");
    is_int(qbsync_signature_check_time(&sig, INT64_MIN, INT64_MAX),
           QBSYNC_SIGNATURE_OUT_OF_TOLERANCE, "2^63 ahead, no overflow");
    is_int(qbsync_signature_check_time(&sig, INT64_MAX, INT64_MAX - 1),
           QBSYNC_SIGNATURE_OUT_OF_TOLERANCE, "INT64_MAX old, no overflow");

    sig.timestamp = 999999999999999999LL;
    is_int(qbsync_signature_check_time(&sig, INT64_MIN, INT64_MAX),
           QBSYNC_SIGNATURE_OUT_OF_TOLERANCE, "far ahead, no overflow");
}


static void
test_hex(void)
{
    char           hex[12];
    unsigned char  bytes[5];

    memset(hex, '#', sizeof(hex));
    qbsync_hex_encode((const unsigned char *) "\x00\xab\xff\x10\x9c", 5, hex);
    ok(memcmp(hex, "00abff109c##", 12) == 0,
       "encode is lowercase and writes 2 * len chars, no NUL");

    memset(bytes, 0, sizeof(bytes));
    is_int(qbsync_hex_decode((const unsigned char *) "00ABff109C", 10,
                             bytes),
           0, "decode either case");
    ok(memcmp(bytes, "\x00\xab\xff\x10\x9c", 5) == 0, "decoded bytes");
    is_int(qbsync_hex_decode((const unsigned char *) "", 0, bytes), 0,
           "decode nothing");
    is_int(qbsync_hex_decode((const unsigned char *) "abc", 3, bytes), -1,
           "odd length");
    is_int(qbsync_hex_decode((const unsigned char *) "0g", 2, bytes), -1,
           "g");
    is_int(qbsync_hex_decode((const unsigned char *) "G0", 2, bytes), -1,
           "G");
    is_int(qbsync_hex_decode((const unsigned char *) "/0", 2, bytes), -1,
           "the char before 0");
    is_int(qbsync_hex_decode((const unsigned char *) "0:", 2, bytes), -1,
           "the char after 9");
    is_int(qbsync_hex_decode((const unsigned char *) "@0", 2, bytes), -1,
           "the char before A");
    is_int(qbsync_hex_decode((const unsigned char *) "0`", 2, bytes), -1,
           "the char before a");
    is_int(qbsync_hex_decode((const unsigned char *) "0 ", 2, bytes), -1,
           "a space");
    is_int(qbsync_hex_decode((const unsigned char *) "\xc1" "0", 2, bytes),
           -1, "a byte that is 'A' with the high bit set");
}


int
main(void)
{
    body = fixture_read("stripe/event.json", &body_len);

    test_vector();
    test_chunks();
    test_against_hmac();
    test_timestamp_text();
    test_verify();
    test_tampered();
    test_parse_refused();
    test_parse_v1();
    test_max_v1();
    test_time();
    test_hex();

    free(body);

    return done();
}
