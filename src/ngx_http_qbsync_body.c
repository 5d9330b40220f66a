
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_body.h"


/*
 * The signature covers the body bytes exactly as received, so the body is
 * handed over as nginx holds it: memory buffers as they are, and the parts
 * nginx spooled to its temp file read back into the request's pool (the
 * file is bounded by client_max_body_size).
 */

ngx_int_t
ngx_http_qbsync_body_chunks(ngx_http_request_t *r, qbsync_chunk_t **chunks,
    size_t *nchunks)
{
    u_char          *data;
    size_t           len, n;
    ssize_t          read;
    ngx_buf_t       *b;
    ngx_chain_t     *cl;
    qbsync_chunk_t  *chunk;

    *chunks = NULL;
    *nchunks = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    n = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        n++;
    }

    chunk = ngx_palloc(r->pool, n * sizeof(qbsync_chunk_t));
    if (chunk == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            len = (size_t) (b->file_last - b->file_pos);

            if (len == 0) {
                continue;
            }

            data = ngx_pnalloc(r->pool, len);
            if (data == NULL) {
                return NGX_ERROR;
            }

            read = ngx_read_file(b->file, data, len, b->file_pos);

            if (read != (ssize_t) len) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "qbsync: could not read the request body "
                              "back from \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

        } else {
            data = b->pos;
            len = (size_t) (b->last - b->pos);

            if (len == 0) {
                continue;
            }
        }

        chunk[n].data = data;
        chunk[n].len = len;
        n++;
    }

    *chunks = chunk;
    *nchunks = n;

    return NGX_OK;
}
