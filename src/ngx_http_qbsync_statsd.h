
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_STATSD_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_STATSD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qbsync_module.h"


/* qbsync_statsd: where, how often, under which name */
struct ngx_http_qbsync_statsd_s {
    ngx_addr_t                   addr;
    ngx_str_t                    name;           /* host:port, for the log */
    ngx_msec_t                   interval;
    ngx_str_t                    prefix;
};


char *ngx_http_qbsync_statsd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* in the first worker only: the socket and the timer */
ngx_int_t ngx_http_qbsync_statsd_init(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_QBSYNC_STATSD_H_INCLUDED_ */
