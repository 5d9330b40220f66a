
/*
 * Copyright (C) qbsync authors
 */


/*
 * Input: a Stripe-Signature header, a newline, then the body.  Checks
 * that parsing keeps its promises, that the MAC over the body in two
 * chunks is OpenSSL's one-shot HMAC() of the whole payload, and that
 * verification agrees with a plain comparison against every kept v1.
 */


#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "qbsync_signature.h"


#define SECRET  "whsec_test_secret"
#define OTHER   "whsec_other"


static const char              *secrets[2] = { SECRET, OTHER };
static qbsync_signature_key_t  *keys[2];


static void
check_parse(qbsync_signature_rc_t rc, const qbsync_signature_header_t *sig)
{
    if (rc != QBSYNC_SIGNATURE_OK && rc != QBSYNC_SIGNATURE_MISSING
        && rc != QBSYNC_SIGNATURE_MALFORMED && rc != QBSYNC_SIGNATURE_NO_V1)
    {
        abort();
    }

    if (rc == QBSYNC_SIGNATURE_OK
        && (sig->nv1 == 0 || sig->nv1 > QBSYNC_SIGNATURE_MAX_V1
            || sig->timestamp < 0 || sig->timestamp > 999999999999999999LL))
    {
        abort();
    }
}


static void
check_mac(size_t k, const qbsync_signature_header_t *sig, const uint8_t *body,
    size_t len, unsigned char expected[QBSYNC_SIGNATURE_MAC_LEN])
{
    int              n;
    size_t           cut;
    unsigned int     expected_len;
    unsigned char   *payload, mac[QBSYNC_SIGNATURE_MAC_LEN];
    qbsync_chunk_t   chunks[2];

    payload = malloc(len + 32);
    if (payload == NULL) {
        abort();
    }

    n = snprintf((char *) payload, 32, "%" PRId64 ".", sig->timestamp);
    memcpy(payload + n, body, len);

    if (HMAC(EVP_sha256(), secrets[k], strlen(secrets[k]), payload, n + len,
             expected, &expected_len)
        == NULL)
    {
        abort();
    }

    cut = len ? body[0] % (len + 1) : 0;

    chunks[0].data = body;
    chunks[0].len = cut;
    chunks[1].data = body + cut;
    chunks[1].len = len - cut;

    if (qbsync_signature_compute(keys[k], sig->timestamp, chunks, 2, mac)
        != 0
        || memcmp(mac, expected, sizeof(mac)) != 0)
    {
        abort();
    }

    free(payload);
}


static void
check_verify(const qbsync_signature_header_t *sig, const uint8_t *body,
    size_t len)
{
    int                    match;
    size_t                 i, k;
    unsigned char          expected[QBSYNC_SIGNATURE_MAC_LEN];
    qbsync_chunk_t         chunk;
    qbsync_signature_rc_t  rc;

    match = 0;

    for (k = 0; k < 2; k++) {
        check_mac(k, sig, body, len, expected);

        for (i = 0; i < sig->nv1; i++) {
            match |= memcmp(sig->v1[i], expected, sizeof(expected)) == 0;
        }
    }

    chunk.data = body;
    chunk.len = len;

    rc = qbsync_signature_verify(sig, keys, 2, &chunk, 1);

    if (rc != (match ? QBSYNC_SIGNATURE_OK : QBSYNC_SIGNATURE_MISMATCH)) {
        abort();
    }
}


static void
check_hex(const uint8_t *data, size_t len)
{
    char           *hex;
    unsigned char  *bytes;

    hex = malloc(2 * len + 1);
    bytes = malloc(len + 1);
    if (hex == NULL || bytes == NULL) {
        abort();
    }

    qbsync_hex_encode(data, len, hex);

    if (qbsync_hex_decode((unsigned char *) hex, 2 * len, bytes) != 0
        || memcmp(bytes, data, len) != 0)
    {
        abort();
    }

    free(hex);
    free(bytes);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                      k, header_len;
    const uint8_t              *newline, *body;
    qbsync_signature_rc_t       rc;
    qbsync_signature_header_t   sig;

    for (k = 0; k < 2 && keys[k] == NULL; k++) {
        keys[k] = qbsync_signature_key_new((const unsigned char *) secrets[k],
                                           strlen(secrets[k]));
        if (keys[k] == NULL) {
            abort();
        }
    }

    newline = memchr(data, '\n', size);
    header_len = newline ? (size_t) (newline - data) : size;
    body = newline ? newline + 1 : data + size;

    rc = qbsync_signature_parse(data, header_len, &sig);
    check_parse(rc, &sig);

    if (rc == QBSYNC_SIGNATURE_OK) {
        qbsync_signature_check_time(&sig, 1700000000, 300);
        qbsync_signature_check_time(&sig, INT64_MIN, INT64_MAX);
        check_verify(&sig, body, size - (body - data));
    }

    check_hex(data, header_len);

    return 0;
}
