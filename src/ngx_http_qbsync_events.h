
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_EVENTS_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_qbsync_module.h"
#include "qbsync_events.h"


/* qbsync_audit_log: every event as a JSON line, buffered per worker */
struct ngx_http_qbsync_audit_s {
    ngx_open_file_t             *file;
    size_t                       size;
    ngx_msec_t                   flush;

    u_char                      *start;
    u_char                      *pos;
    ngx_event_t                 *timer;
};


/*
 * A record of the request's location and time, of kind and outcome; the
 * caller fills in the rest and hands it to ngx_http_qbsync_event_add().
 */
void ngx_http_qbsync_event_init(ngx_http_request_t *r,
    qbsync_events_record_t *record, qbsync_event_kind_e kind,
    const char *outcome, size_t len);
void ngx_http_qbsync_event_add(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, qbsync_events_record_t *record);

/* the log phase: a webhook delivery's outcome */
ngx_int_t ngx_http_qbsync_events_log(ngx_http_request_t *r);

ngx_int_t ngx_http_qbsync_events_handler(ngx_http_request_t *r);

char *ngx_http_qbsync_audit_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_qbsync_audit_exit(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_QBSYNC_EVENTS_H_INCLUDED_ */
