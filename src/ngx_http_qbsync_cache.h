
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_CACHE_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * qbsync_cache_admin: the mapping cache of the location's realm, read
 * (GET ?product=) and invalidated (DELETE ?product= or ?pattern=REGEX).
 */
ngx_int_t ngx_http_qbsync_cache_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_QBSYNC_CACHE_H_INCLUDED_ */
