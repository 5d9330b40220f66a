
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_BODY_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_BODY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "qbsync_chunk.h"


ngx_int_t ngx_http_qbsync_body_chunks(ngx_http_request_t *r,
    qbsync_chunk_t **chunks, size_t *nchunks);


#endif /* _NGX_HTTP_QBSYNC_BODY_H_INCLUDED_ */
