
/*
 * Copyright (C) qbsync authors
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "qbsync_signature.h"


/* 18 digits always fit int64_t; Stripe's timestamps have 10 */
#define QBSYNC_SIGNATURE_TIMESTAMP_DIGITS  18


struct qbsync_signature_key_s {
    EVP_MAC_CTX  *hmac;
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
    EVP_MAC                 *mac;
    OSSL_PARAM               params[2];
    qbsync_signature_key_t  *key;

    key = malloc(sizeof(qbsync_signature_key_t));
    if (key == NULL) {
        return NULL;
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        free(key);
        return NULL;
    }

    key->hmac = EVP_MAC_CTX_new(mac);

    /* the context holds its own reference to the algorithm */
    EVP_MAC_free(mac);

    if (key->hmac == NULL) {
        free(key);
        return NULL;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    /*
     * A NULL key would mean "keep the current key" to EVP_MAC_init(),
     * so an empty secret is passed as an empty string.
     */
    if (secret == NULL) {
        secret = (const unsigned char *) "";
    }

    if (!EVP_MAC_init(key->hmac, secret, len, params)) {
        qbsync_signature_key_free(key);
        return NULL;
    }

    return key;
}


void
qbsync_signature_key_free(qbsync_signature_key_t *key)
{
    if (key == NULL) {
        return;
    }

    EVP_MAC_CTX_free(key->hmac);
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
    int     n;
    char    prefix[sizeof("-9223372036854775808.")];
    size_t  i, mac_len;

    /* Stripe signs "%d.%s" of the timestamp and the raw body */
    n = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", timestamp);
    if (n < 0 || (size_t) n >= sizeof(prefix)) {
        return -1;
    }

    /* a NULL key reuses the pads computed by qbsync_signature_key_new() */
    if (!EVP_MAC_init(key->hmac, NULL, 0, NULL)
        || !EVP_MAC_update(key->hmac, (const unsigned char *) prefix, n))
    {
        return -1;
    }

    for (i = 0; i < nchunks; i++) {
        if (body[i].len
            && !EVP_MAC_update(key->hmac, body[i].data, body[i].len))
        {
            return -1;
        }
    }

    if (!EVP_MAC_final(key->hmac, mac, &mac_len, QBSYNC_SIGNATURE_MAC_LEN)
        || mac_len != QBSYNC_SIGNATURE_MAC_LEN)
    {
        return -1;
    }

    return 0;
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
