
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_SIGNATURE_H_INCLUDED_
#define _QBSYNC_SIGNATURE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "qbsync_chunk.h"


#define QBSYNC_SIGNATURE_MAC_LEN  32
#define QBSYNC_SIGNATURE_HEX_LEN  64

/*
 * Stripe sends one v1 per active endpoint secret (two during a roll);
 * further v1 elements past this bound are ignored, so a hostile header
 * cannot make verification cost grow.
 */
#define QBSYNC_SIGNATURE_MAX_V1   8


typedef enum {
    QBSYNC_SIGNATURE_OK = 0,
    QBSYNC_SIGNATURE_MISSING,
    QBSYNC_SIGNATURE_MALFORMED,
    QBSYNC_SIGNATURE_NO_V1,
    QBSYNC_SIGNATURE_OUT_OF_TOLERANCE,
    QBSYNC_SIGNATURE_MISMATCH,
    QBSYNC_SIGNATURE_ERROR
} qbsync_signature_rc_t;


typedef struct {
    int64_t        timestamp;
    size_t         nv1;
    unsigned char  v1[QBSYNC_SIGNATURE_MAX_V1][QBSYNC_SIGNATURE_MAC_LEN];
} qbsync_signature_header_t;


/*
 * An endpoint secret with its HMAC pads computed once, at startup.  The
 * secret is used as written, "whsec_" prefix included: Stripe's SDKs do
 * not base64-decode it.  A key holds the SHA-256 states of its two
 * pads, which a verification copies and never changes.
 */
typedef struct qbsync_signature_key_s  qbsync_signature_key_t;


/* NULL if memory or OpenSSL fails; malloc()ed, freed by key_free() */
qbsync_signature_key_t *qbsync_signature_key_new(const unsigned char *secret,
    size_t len);
void qbsync_signature_key_free(qbsync_signature_key_t *key);

/*
 * Splits the header as Stripe's SDKs do: on ",", then each element on its
 * first "=", nothing trimmed.  Returns MISSING (empty or blank), MALFORMED
 * (no "t" or two, "t" not 1 to 18 decimal digits, an element without
 * "="), NO_V1 (no v1 of 64 hex digits) or OK; sig is meaningful on OK only.
 */
qbsync_signature_rc_t qbsync_signature_parse(const unsigned char *header,
    size_t len, qbsync_signature_header_t *sig);

/* OUT_OF_TOLERANCE if t is more than tolerance seconds from now, either way */
qbsync_signature_rc_t qbsync_signature_check_time(
    const qbsync_signature_header_t *sig, int64_t now, int64_t tolerance);

/*
 * OK if the MAC of any key equals any kept v1, MISMATCH if none does,
 * ERROR if OpenSSL fails.  The timestamp is not checked here: the caller
 * checks it first, so a stale replay costs no HMAC.
 */
qbsync_signature_rc_t qbsync_signature_verify(
    const qbsync_signature_header_t *sig, qbsync_signature_key_t *const *keys,
    size_t nkeys, const qbsync_chunk_t *body, size_t nchunks);

/* HMAC-SHA256 of "<timestamp>.<body>"; 0 on success, -1 on failure */
int qbsync_signature_compute(qbsync_signature_key_t *key, int64_t timestamp,
    const qbsync_chunk_t *body, size_t nchunks,
    unsigned char mac[QBSYNC_SIGNATURE_MAC_LEN]);

/* writes 2 * len lowercase hex digits, no NUL */
void qbsync_hex_encode(const unsigned char *bytes, size_t len, char *hex);

/*
 * Writes hex_len / 2 bytes, either case accepted; -1 on an odd length or
 * a non-hex digit, with the bytes before it written.
 */
int qbsync_hex_decode(const unsigned char *hex, size_t hex_len,
    unsigned char *bytes);


#endif /* _QBSYNC_SIGNATURE_H_INCLUDED_ */
