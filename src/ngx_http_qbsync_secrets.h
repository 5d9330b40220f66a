
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_SECRETS_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_SECRETS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef char *(*ngx_http_qbsync_secret_pt)(ngx_conf_t *cf, u_char *secret,
    size_t len, void *data);


/*
 * Secrets files, read at configuration time (as root, before the workers
 * start): one secret a line; blank lines, lines starting with '#' and the
 * blanks around a secret are ignored.  Messages name the file, never its
 * contents, and the text read is cleared once the handler has used it.
 */
char *ngx_http_qbsync_secrets_read(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_qbsync_secret_pt handler, void *data);

/* A file that must hold exactly one secret, e.g. an API key. */
char *ngx_http_qbsync_secret_read_one(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_qbsync_secret_pt handler, void *data);


#endif /* _NGX_HTTP_QBSYNC_SECRETS_H_INCLUDED_ */
