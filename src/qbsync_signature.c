
/*
 * Copyright (C) qbsync authors
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * HMAC from SHA-256's own context, not EVP_MAC: the pads are hashed once
 * into two plain structures that each verification copies, where
 * OpenSSL 3's EVP layer allocates and frees contexts on every call.  The
 * low-level calls are deprecated in 3.0, not removed, and run the same
 * assembly (SHA extensions where the CPU has them).
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "qbsync_signature.h"


/* 18 digits always fit int64_t; Stripe's timestamps have 10 */
#define QBSYNC_SIGNATURE_TIMESTAMP_DIGITS  18

#define QBSYNC_SIGNATURE_BLOCK  SHA256_CBLOCK


struct qbsync_signature_key_s {
    SHA256_CTX  inner;
    SHA256_CTX  outer;
};


static qbsync_signature_rc_t qbsync_signature_parse_element(
    const unsigned char *element, size_t len, qbsync_signature_header_t *sig,
    unsigned *ntimestamps);
static int qbsync_signature_parse_timestamp(const unsigned char *value,
    size_t len, int64_t *timestamp);
static int qbsync_signature_is_blank(const unsigned char *header, size_t len);
static int qbsync_hex_value(unsigned char c);


qbsync_signature_key_t *
qbsync_signature_key_new(const unsigned char *secret, size_t len)
{
    size_t                   i;
    unsigned char            block[QBSYNC_SIGNATURE_BLOCK];
    unsigned char            pad[QBSYNC_SIGNATURE_BLOCK];
    qbsync_signature_key_t  *key;

    key = malloc(sizeof(qbsync_signature_key_t));
    if (key == NULL) {
        return NULL;
    }

    /* RFC 2104: a key longer than the block is hashed first */
    memset(block, 0, sizeof(block));

    if (len > sizeof(block)) {
        SHA256(secret, len, block);

    } else if (len) {
        memcpy(block, secret, len);
    }

    for (i = 0; i < sizeof(block); i++) {
        pad[i] = block[i] ^ 0x36;
    }

    SHA256_Init(&key->inner);
    SHA256_Update(&key->inner, pad, sizeof(pad));

    for (i = 0; i < sizeof(block); i++) {
        pad[i] = block[i] ^ 0x5c;
    }

    SHA256_Init(&key->outer);
    SHA256_Update(&key->outer, pad, sizeof(pad));

    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));

    return key;
}


void
qbsync_signature_key_free(qbsync_signature_key_t *key)
{
    if (key == NULL) {
        return;
    }

    OPENSSL_cleanse(key, sizeof(qbsync_signature_key_t));
    free(key);
}


qbsync_signature_rc_t
qbsync_signature_parse(const unsigned char *header, size_t len,
    qbsync_signature_header_t *sig)
{
    unsigned                ntimestamps;
    const unsigned char    *element, *comma, *end;
    qbsync_signature_rc_t   rc;

    sig->timestamp = 0;
    sig->nv1 = 0;

    if (qbsync_signature_is_blank(header, len)) {
        return QBSYNC_SIGNATURE_MISSING;
    }

    ntimestamps = 0;
    element = header;
    end = header + len;

    /*
     * Stripe's SDKs split on every comma, so an empty element (as after
     * a trailing comma) has no "=" and makes the header malformed.
     */
    for ( ;; ) {
        comma = memchr(element, ',', end - element);
        if (comma == NULL) {
            comma = end;
        }

        rc = qbsync_signature_parse_element(element, comma - element, sig,
                                            &ntimestamps);
        if (rc != QBSYNC_SIGNATURE_OK) {
            return rc;
        }

        if (comma == end) {
            break;
        }

        element = comma + 1;
    }

    if (ntimestamps != 1) {
        return QBSYNC_SIGNATURE_MALFORMED;
    }

    if (sig->nv1 == 0) {
        return QBSYNC_SIGNATURE_NO_V1;
    }

    return QBSYNC_SIGNATURE_OK;
}


static qbsync_signature_rc_t
qbsync_signature_parse_element(const unsigned char *element, size_t len,
    qbsync_signature_header_t *sig, unsigned *ntimestamps)
{
    size_t                  name_len, value_len;
    const unsigned char    *equal, *value;

    equal = memchr(element, '=', len);
    if (equal == NULL) {
        return QBSYNC_SIGNATURE_MALFORMED;
    }

    name_len = equal - element;
    value = equal + 1;
    value_len = len - name_len - 1;

    if (name_len == 1 && element[0] == 't') {
        if (++*ntimestamps > 1
            || qbsync_signature_parse_timestamp(value, value_len,
                                                &sig->timestamp)
               != 0)
        {
            return QBSYNC_SIGNATURE_MALFORMED;
        }

        return QBSYNC_SIGNATURE_OK;
    }

    /*
     * Stripe: "ignore all schemes that are not v1" (v0 is a test-mode
     * decoy); like stripe-go, a v1 that is not hex is skipped.
     */
    if (name_len == 2 && element[0] == 'v' && element[1] == '1'
        && value_len == QBSYNC_SIGNATURE_HEX_LEN
        && sig->nv1 < QBSYNC_SIGNATURE_MAX_V1
        && qbsync_hex_decode(value, value_len, sig->v1[sig->nv1]) == 0)
    {
        sig->nv1++;
    }

    return QBSYNC_SIGNATURE_OK;
}


static int
qbsync_signature_parse_timestamp(const unsigned char *value, size_t len,
    int64_t *timestamp)
{
    size_t   i;
    int64_t  t;

    if (len == 0 || len > QBSYNC_SIGNATURE_TIMESTAMP_DIGITS) {
        return -1;
    }

    t = 0;

    for (i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9') {
            return -1;
        }

        t = t * 10 + (value[i] - '0');
    }

    *timestamp = t;

    return 0;
}


static int
qbsync_signature_is_blank(const unsigned char *header, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (header[i] != ' ' && header[i] != '\t') {
            return 0;
        }
    }

    return 1;
}


qbsync_signature_rc_t
qbsync_signature_check_time(const qbsync_signature_header_t *sig,
    int64_t now, int64_t tolerance)
{
    uint64_t  skew;

    if (tolerance < 0) {
        return QBSYNC_SIGNATURE_OUT_OF_TOLERANCE;
    }

    /*
     * Stripe's SDKs only refuse old timestamps; a timestamp ahead of our
     * clock is refused too, or a captured delivery would stay replayable
     * for longer than the tolerance.  The distance between two int64_t
     * always fits in uint64_t.
     */
    if (now >= sig->timestamp) {
        skew = (uint64_t) now - (uint64_t) sig->timestamp;

    } else {
        skew = (uint64_t) sig->timestamp - (uint64_t) now;
    }

    if (skew > (uint64_t) tolerance) {
        return QBSYNC_SIGNATURE_OUT_OF_TOLERANCE;
    }

    return QBSYNC_SIGNATURE_OK;
}


int
qbsync_signature_compute(qbsync_signature_key_t *key, int64_t timestamp,
    const qbsync_chunk_t *body, size_t nchunks,
    unsigned char mac[QBSYNC_SIGNATURE_MAC_LEN])
{
    int            rc;
    char           prefix[sizeof("-9223372036854775808.")];
    size_t         i, n;
    uint64_t       magnitude;
    SHA256_CTX     ctx;
    unsigned char  inner[SHA256_DIGEST_LENGTH];

    /* Stripe signs "%d.%s" of the timestamp and the raw body */
    n = sizeof(prefix);
    prefix[--n] = '.';

    magnitude = (timestamp < 0) ? 0 - (uint64_t) timestamp
                                : (uint64_t) timestamp;

    do {
        prefix[--n] = (char) ('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);

    if (timestamp < 0) {
        prefix[--n] = '-';
    }

    ctx = key->inner;
    rc = SHA256_Update(&ctx, &prefix[n], sizeof(prefix) - n);

    for (i = 0; i < nchunks; i++) {
        if (body[i].len) {
            rc &= SHA256_Update(&ctx, body[i].data, body[i].len);
        }
    }

    rc &= SHA256_Final(inner, &ctx);

    ctx = key->outer;
    rc &= SHA256_Update(&ctx, inner, sizeof(inner));
    rc &= SHA256_Final(mac, &ctx);

    OPENSSL_cleanse(&ctx, sizeof(SHA256_CTX));

    return rc ? 0 : -1;
}


qbsync_signature_rc_t
qbsync_signature_verify(const qbsync_signature_header_t *sig,
    qbsync_signature_key_t *const *keys, size_t nkeys,
    const qbsync_chunk_t *body, size_t nchunks)
{
    int            match;
    size_t         k, i;
    unsigned char  mac[QBSYNC_SIGNATURE_MAC_LEN];

    for (k = 0; k < nkeys; k++) {
        if (qbsync_signature_compute(keys[k], sig->timestamp, body, nchunks,
                                     mac)
            != 0)
        {
            return QBSYNC_SIGNATURE_ERROR;
        }

        /* every v1 is compared, so timing does not tell which matched */
        match = 0;

        for (i = 0; i < sig->nv1; i++) {
            match |= (CRYPTO_memcmp(mac, sig->v1[i], sizeof(mac)) == 0);
        }

        if (match) {
            return QBSYNC_SIGNATURE_OK;
        }
    }

    return QBSYNC_SIGNATURE_MISMATCH;
}


void
qbsync_hex_encode(const unsigned char *bytes, size_t len, char *hex)
{
    size_t             i;
    static const char  digits[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        *hex++ = digits[bytes[i] >> 4];
        *hex++ = digits[bytes[i] & 0x0f];
    }
}


int
qbsync_hex_decode(const unsigned char *hex, size_t hex_len,
    unsigned char *bytes)
{
    int     high, low;
    size_t  i;

    if (hex_len % 2) {
        return -1;
    }

    for (i = 0; i < hex_len; i += 2) {
        high = qbsync_hex_value(hex[i]);
        low = qbsync_hex_value(hex[i + 1]);

        if (high < 0 || low < 0) {
            return -1;
        }

        *bytes++ = (unsigned char) (high << 4 | low);
    }

    return 0;
}


static int
qbsync_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}
