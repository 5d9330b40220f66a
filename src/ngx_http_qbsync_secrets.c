
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_secrets.h"


/* A secrets file holds a few lines; anything larger is the wrong file. */
#define NGX_HTTP_QBSYNC_SECRET_FILE_MAX  65536


static char *ngx_http_qbsync_secrets_load(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *contents);
static ngx_uint_t ngx_http_qbsync_next_secret(u_char **pos, u_char *last,
    ngx_str_t *secret);
static char *ngx_http_qbsync_secrets_each(ngx_conf_t *cf, ngx_str_t *name,
    ngx_uint_t max, ngx_http_qbsync_secret_pt handler, void *data);


char *
ngx_http_qbsync_secrets_read(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_qbsync_secret_pt handler, void *data)
{
    return ngx_http_qbsync_secrets_each(cf, name, NGX_MAX_UINT32_VALUE,
                                        handler, data);
}


char *
ngx_http_qbsync_secret_read_one(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_qbsync_secret_pt handler, void *data)
{
    return ngx_http_qbsync_secrets_each(cf, name, 1, handler, data);
}


static char *
ngx_http_qbsync_secrets_each(ngx_conf_t *cf, ngx_str_t *name, ngx_uint_t max,
    ngx_http_qbsync_secret_pt handler, void *data)
{
    char        *rv;
    u_char      *pos, *last;
    ngx_str_t    path, contents, secret;
    ngx_uint_t   found;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_qbsync_secrets_load(cf, &path, &contents);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    found = 0;
    pos = contents.data;
    last = contents.data + contents.len;

    while (ngx_http_qbsync_next_secret(&pos, last, &secret)) {

        if (++found > max) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "secret file \"%V\" holds more than one "
                               "secret", &path);
            rv = NGX_CONF_ERROR;
            goto done;
        }

        rv = handler(cf, secret.data, secret.len, data);
        if (rv != NGX_CONF_OK) {
            goto done;
        }
    }

    if (found == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" holds no secret", &path);
        rv = NGX_CONF_ERROR;
    }

done:

    ngx_explicit_memzero(contents.data, contents.len);

    return rv;
}


static char *
ngx_http_qbsync_secrets_load(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *contents)
{
    char             *rv;
    off_t             size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size > NGX_HTTP_QBSYNC_SECRET_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is larger than %d bytes",
                           name, NGX_HTTP_QBSYNC_SECRET_FILE_MAX);
        goto done;
    }

    if (ngx_file_access(&fi) & 0004) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "secret file \"%V\" is readable by every user",
                           name);
    }

    contents->len = (size_t) size;
    contents->data = ngx_pnalloc(cf->temp_pool, contents->len + 1);
    if (contents->data == NULL) {
        goto done;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    n = ngx_read_file(&file, contents->data, contents->len, 0);

    if (n != (ssize_t) contents->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not read secret file \"%V\"", name);
        ngx_explicit_memzero(contents->data, contents->len);
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", name);
    }

    return rv;
}


static ngx_uint_t
ngx_http_qbsync_next_secret(u_char **pos, u_char *last, ngx_str_t *secret)
{
    u_char  *p, *start, *end;

    p = *pos;

    while (p < last) {
        start = p;

        while (p < last && *p != '\n') {
            p++;
        }

        end = p;

        if (p < last) {
            p++;
        }

        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }

        while (end > start
               && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        {
            end--;
        }

        if (start == end || *start == '#') {
            continue;
        }

        secret->data = start;
        secret->len = end - start;
        *pos = p;

        return 1;
    }

    *pos = p;

    return 0;
}
