
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_MODULE_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "qbsync_signature.h"


typedef struct {
    /* ngx_shm_zone_t *, in the order the zones were declared */
    ngx_array_t                  zones;
} ngx_http_qbsync_main_conf_t;


typedef struct {
    ngx_flag_t                   verify;
    ngx_str_t                    zone_name;
    ngx_shm_zone_t              *shm_zone;

    /* qbsync_signature_key_t *: every secret active during a rotation */
    ngx_array_t                 *secrets;

    time_t                       tolerance;
    time_t                       idempotency_ttl;
    time_t                       inflight_lease;

    /*
     * Stripe sends one event to every endpoint it has, so an event id is
     * only unique within the endpoint: the dedupe scope is this location.
     */
    uint32_t                     endpoint;
} ngx_http_qbsync_loc_conf_t;


extern ngx_module_t  ngx_http_qbsync_module;


#endif /* _NGX_HTTP_QBSYNC_MODULE_H_INCLUDED_ */
