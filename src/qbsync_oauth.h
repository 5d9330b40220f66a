
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_OAUTH_H_INCLUDED_
#define _QBSYNC_OAUTH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "qbsync_str.h"


#define QBSYNC_OAUTH_ERROR_MAX  160


/*
 * The QuickBooks connection's tokens, as the token file holds them:
 * {"access_token", "refresh_token", "expires_at",
 * "refresh_token_expires_at"}, times in Unix seconds.  An operator may
 * start the file with only a refresh token: access_token is then empty and
 * expires_at 0.
 */
typedef struct {
    qbsync_str_t   access_token;
    qbsync_str_t   refresh_token;
    int64_t        expires_at;
    int64_t        refresh_token_expires_at;   /* 0 when unknown */
} qbsync_tokens_t;


typedef enum {
    QBSYNC_OAUTH_OK = 0,
    QBSYNC_OAUTH_INVALID,       /* error says what */
    QBSYNC_OAUTH_REFUSED,       /* Intuit's {"error", "error_description"} */
    QBSYNC_OAUTH_NOMEM
} qbsync_oauth_rc_t;


/* The token file's contents; a refresh token is required. */
qbsync_oauth_rc_t qbsync_oauth_tokens_parse(const unsigned char *json,
    size_t len, qbsync_allocator_t *allocator, qbsync_tokens_t *tokens,
    char *error, size_t error_size);

/* The token file's contents, with yajl_gen; 0 if it does not fit. */
size_t qbsync_oauth_tokens_write(const qbsync_tokens_t *tokens,
    unsigned char *buf, size_t size);

/*
 * Intuit's answer to the refresh grant: {"access_token", "refresh_token",
 * "expires_in", "x_refresh_token_expires_in", "token_type": "bearer"}
 * becomes tokens, the lifetimes turned into times from now.  An OAuth
 * error {"error", "error_description"} is QBSYNC_OAUTH_REFUSED with error
 * set to "<error>: <error_description>" (invalid_grant is the one that
 * needs the operator).
 */
qbsync_oauth_rc_t qbsync_oauth_refresh_parse(const unsigned char *json,
    size_t len, int64_t now, qbsync_allocator_t *allocator,
    qbsync_tokens_t *tokens, char *error, size_t error_size);

/*
 * The refresh grant's form body: grant_type=refresh_token&refresh_token=
 * followed by the token, form-URL-encoded.  0 if it does not fit.
 */
size_t qbsync_oauth_refresh_body(const char *refresh_token, size_t len,
    char *out, size_t size);


#endif /* _QBSYNC_OAUTH_H_INCLUDED_ */
