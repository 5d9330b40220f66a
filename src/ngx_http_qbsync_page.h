
/*
 * Copyright (C) qbsync authors
 */


#ifndef _NGX_HTTP_QBSYNC_PAGE_H_INCLUDED_
#define _NGX_HTTP_QBSYNC_PAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* What the status page shows at its top, decided by the health's checks. */
typedef struct {
    const char                  *verdict;
    ngx_array_t                 *warnings;       /* ngx_str_t */
    ngx_array_t                 *errors;         /* ngx_str_t */
} ngx_http_qbsync_page_health_t;


/*
 * The status as one self-contained HTML page (no script, style sheet,
 * image or font from elsewhere): the health, the deliveries by outcome,
 * charts of events per minute and of sync latency over the last hour
 * (inline SVG, from the first zone's ring), the stages and the last
 * events.  NULL when memory runs out.
 */
ngx_str_t *ngx_http_qbsync_page(ngx_http_request_t *r,
    ngx_http_qbsync_page_health_t *health);


#endif /* _NGX_HTTP_QBSYNC_PAGE_H_INCLUDED_ */
