
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_page.h"
#include "ngx_http_qbsync_module.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_zone.h"
#include "qbsync_events.h"


#define NGX_HTTP_QBSYNC_PAGE_MINUTES  60
#define NGX_HTTP_QBSYNC_PAGE_POINTS   300
#define NGX_HTTP_QBSYNC_PAGE_ROWS     20
#define NGX_HTTP_QBSYNC_PAGE_SIZE     (256 * 1024)

/* the charts' drawing area, in SVG user units */
#define NGX_HTTP_QBSYNC_CHART_WIDTH   600
#define NGX_HTTP_QBSYNC_CHART_HEIGHT  120


typedef struct {
    uint64_t                     time_ms;
    uint32_t                     duration_ms;
    unsigned                     failed:1;
} ngx_http_qbsync_point_t;


/* the last hour of the ring, gathered under the zone's lock */
typedef struct {
    uint64_t                     now_ms;
    ngx_uint_t                   per_minute[NGX_HTTP_QBSYNC_PAGE_MINUTES];
    ngx_http_qbsync_point_t      points[NGX_HTTP_QBSYNC_PAGE_POINTS];
    ngx_uint_t                   npoints;
    qbsync_events_record_t       rows[NGX_HTTP_QBSYNC_PAGE_ROWS];
    ngx_uint_t                   nrows;
} ngx_http_qbsync_hour_t;


typedef struct {
    u_char                      *pos;
    u_char                      *end;
    ngx_uint_t                   overflow;
} ngx_http_qbsync_html_t;


static ngx_int_t ngx_http_qbsync_page_gather(qbsync_events_record_t *record,
    void *data);
static void ngx_http_qbsync_page_counts(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_metrics_t *m);
static void ngx_http_qbsync_page_minutes(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_hour_t *hour);
static void ngx_http_qbsync_page_latency(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_hour_t *hour);
static void ngx_http_qbsync_page_stages(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_metrics_t *m);
static void ngx_http_qbsync_page_events(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_hour_t *hour);
static void ngx_http_qbsync_put(ngx_http_qbsync_html_t *h, const char *fmt,
    ...);
static void ngx_http_qbsync_escape(ngx_http_qbsync_html_t *h, u_char *data,
    size_t len);


static const char  ngx_http_qbsync_page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>qbsync status</title>\n<style>\n"
    "body{font:14px/1.4 sans-serif;margin:1.5em;color:#222}\n"
    "h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.5em}\n"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;"
    "padding:2px 8px;text-align:left}th{background:#f3f3f3}\n"
    ".ok{color:#176f2c}.degraded{color:#a15c00}.down{color:#b00020}\n"
    "svg{background:#fafafa;border:1px solid #ddd}\n"
    "</style>\n</head>\n<body>\n<h1>qbsync status</h1>\n";


ngx_str_t *
ngx_http_qbsync_page(ngx_http_request_t *r,
    ngx_http_qbsync_page_health_t *health)
{
    ngx_str_t                    *page, *s;
    ngx_uint_t                    i;
    ngx_time_t                   *tp;
    ngx_shm_zone_t              **zones;
    ngx_http_qbsync_hour_t       *hour;
    ngx_http_qbsync_html_t        h;
    ngx_http_qbsync_metrics_t     m;
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    zones = qmcf->zones.elts;

    page = ngx_palloc(r->pool, sizeof(ngx_str_t));
    hour = ngx_pcalloc(r->pool, sizeof(ngx_http_qbsync_hour_t));

    if (page == NULL || hour == NULL) {
        return NULL;
    }

    page->data = ngx_pnalloc(r->pool, NGX_HTTP_QBSYNC_PAGE_SIZE);
    if (page->data == NULL) {
        return NULL;
    }

    tp = ngx_timeofday();
    hour->now_ms = (uint64_t) tp->sec * 1000 + tp->msec;

    ngx_memcpy(&m, ngx_http_qbsync_zone_metrics(zones[0]), sizeof(m));
    ngx_http_qbsync_ring_walk(zones[0], ngx_http_qbsync_page_gather, hour,
                              NULL);

    h.pos = page->data;
    h.end = page->data + NGX_HTTP_QBSYNC_PAGE_SIZE;
    h.overflow = 0;

    ngx_http_qbsync_put(&h, "%s", ngx_http_qbsync_page_head);
    ngx_http_qbsync_put(&h, "<h2>Health: <span class=\"%s\">%s</span></h2>\n",
                        health->verdict, health->verdict);

    s = health->errors->elts;

    for (i = 0; i < health->errors->nelts; i++) {
        ngx_http_qbsync_put(&h, "<p class=\"down\">");
        ngx_http_qbsync_escape(&h, s[i].data, s[i].len);
        ngx_http_qbsync_put(&h, "</p>\n");
    }

    s = health->warnings->elts;

    for (i = 0; i < health->warnings->nelts; i++) {
        ngx_http_qbsync_put(&h, "<p class=\"degraded\">");
        ngx_http_qbsync_escape(&h, s[i].data, s[i].len);
        ngx_http_qbsync_put(&h, "</p>\n");
    }

    ngx_http_qbsync_page_counts(&h, &m);
    ngx_http_qbsync_page_minutes(&h, hour);
    ngx_http_qbsync_page_latency(&h, hour);
    ngx_http_qbsync_page_stages(&h, &m);
    ngx_http_qbsync_page_events(&h, hour);

    ngx_http_qbsync_put(&h, "<p>Zone \"");
    ngx_http_qbsync_escape(&h, zones[0]->shm.name.data,
                           zones[0]->shm.name.len);
    ngx_http_qbsync_put(&h, "\". The same as JSON: this address without "
                            "<code>Accept: text/html</code>.</p>\n"
                            "</body>\n</html>\n");

    if (h.overflow) {
        return NULL;
    }

    page->len = h.pos - page->data;

    return page;
}


static ngx_int_t
ngx_http_qbsync_page_gather(qbsync_events_record_t *record, void *data)
{
    ngx_http_qbsync_hour_t *hour = data;

    uint64_t                  age;
    ngx_http_qbsync_point_t  *point;

    if (hour->nrows < NGX_HTTP_QBSYNC_PAGE_ROWS) {
        hour->rows[hour->nrows++] = *record;
    }

    age = (hour->now_ms > record->time_ms) ? hour->now_ms - record->time_ms
                                           : 0;

    /* newest first: the rest of the ring is older still */
    if (age >= (uint64_t) NGX_HTTP_QBSYNC_PAGE_MINUTES * 60000) {
        return (hour->nrows < NGX_HTTP_QBSYNC_PAGE_ROWS) ? NGX_OK : NGX_DONE;
    }

    hour->per_minute[age / 60000]++;

    /* the latency of what a delivery did, not of its start or a refresh */
    switch (record->kind) {

    case QBSYNC_EVENTS_ITEM_CREATED:
    case QBSYNC_EVENTS_ITEM_UPDATED:
    case QBSYNC_EVENTS_ITEM_DEACTIVATED:
    case QBSYNC_EVENTS_SYNC_COMPLETED:
    case QBSYNC_EVENTS_SYNC_FAILED:

        if (record->stripe_event.len == 0
            || hour->npoints == NGX_HTTP_QBSYNC_PAGE_POINTS)
        {
            break;
        }

        point = &hour->points[hour->npoints++];
        point->time_ms = record->time_ms;
        point->duration_ms = record->duration_ms;
        point->failed = (record->kind == QBSYNC_EVENTS_SYNC_FAILED);
        break;

    default:
        break;
    }

    return NGX_OK;
}


static void
ngx_http_qbsync_page_counts(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_metrics_t *m)
{
    ngx_uint_t  i, any;

    ngx_http_qbsync_put(h, "<h2>Deliveries since the zone began</h2>\n"
                           "<table>\n<tr><th>outcome</th><th>count</th>"
                           "</tr>\n");

    any = 0;

    for (i = 0; i < NGX_HTTP_QBSYNC_WEBHOOK_OUTCOMES
                && ngx_http_qbsync_outcome_words[i]; i++)
    {
        if (m->webhooks[i]) {
            ngx_http_qbsync_put(h, "<tr><td>%s</td><td>%uL</td></tr>\n",
                                ngx_http_qbsync_outcome_words[i],
                                m->webhooks[i]);
            any = 1;
        }
    }

    if (!any) {
        ngx_http_qbsync_put(h, "<tr><td colspan=\"2\">none yet</td></tr>\n");
    }

    ngx_http_qbsync_put(h, "</table>\n");
}


/* A bar a minute, the oldest on the left. */

static void
ngx_http_qbsync_page_minutes(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_hour_t *hour)
{
    ngx_uint_t  i, most, height, bar;

    most = 1;

    for (i = 0; i < NGX_HTTP_QBSYNC_PAGE_MINUTES; i++) {
        most = ngx_max(most, hour->per_minute[i]);
    }

    bar = NGX_HTTP_QBSYNC_CHART_WIDTH / NGX_HTTP_QBSYNC_PAGE_MINUTES;

    ngx_http_qbsync_put(h, "<h2>Events per minute, last hour</h2>\n"
                           "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                           "width=\"%d\" height=\"%d\" role=\"img\" "
                           "aria-label=\"events per minute\">\n",
                        NGX_HTTP_QBSYNC_CHART_WIDTH + 60,
                        NGX_HTTP_QBSYNC_CHART_HEIGHT + 30);

    for (i = 0; i < NGX_HTTP_QBSYNC_PAGE_MINUTES; i++) {
        height = hour->per_minute[NGX_HTTP_QBSYNC_PAGE_MINUTES - 1 - i]
                 * NGX_HTTP_QBSYNC_CHART_HEIGHT / most;

        if (height) {
            ngx_http_qbsync_put(h, "<rect x=\"%ui\" y=\"%ui\" width=\"%ui\" "
                                   "height=\"%ui\" fill=\"#3b6ea8\"/>\n",
                                50 + i * bar,
                                10 + NGX_HTTP_QBSYNC_CHART_HEIGHT - height,
                                bar - 1, height);
        }
    }

    ngx_http_qbsync_put(h, "<text x=\"4\" y=\"18\" font-size=\"11\">%ui"
                           "</text>\n"
                           "<text x=\"50\" y=\"%d\" font-size=\"11\">"
                           "60 min ago</text>\n<text x=\"%d\" y=\"%d\" "
                           "font-size=\"11\">now</text>\n</svg>\n",
                        most, NGX_HTTP_QBSYNC_CHART_HEIGHT + 26,
                        NGX_HTTP_QBSYNC_CHART_WIDTH + 25,
                        NGX_HTTP_QBSYNC_CHART_HEIGHT + 26);
}


/* A dot a delivery, by when it ended and how long it took. */

static void
ngx_http_qbsync_page_latency(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_hour_t *hour)
{
    uint64_t    age, slowest;
    ngx_uint_t  i, x, y;

    slowest = 1;

    for (i = 0; i < hour->npoints; i++) {
        slowest = ngx_max(slowest, hour->points[i].duration_ms);
    }

    ngx_http_qbsync_put(h, "<h2>Sync latency, last hour</h2>\n"
                           "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                           "width=\"%d\" height=\"%d\" role=\"img\" "
                           "aria-label=\"sync latency\">\n",
                        NGX_HTTP_QBSYNC_CHART_WIDTH + 60,
                        NGX_HTTP_QBSYNC_CHART_HEIGHT + 30);

    for (i = 0; i < hour->npoints; i++) {
        age = hour->now_ms - ngx_min(hour->now_ms, hour->points[i].time_ms);
        x = 50 + NGX_HTTP_QBSYNC_CHART_WIDTH
            - (ngx_uint_t) (age * NGX_HTTP_QBSYNC_CHART_WIDTH
                            / (NGX_HTTP_QBSYNC_PAGE_MINUTES * 60000));
        y = 10 + NGX_HTTP_QBSYNC_CHART_HEIGHT
            - (ngx_uint_t) (hour->points[i].duration_ms
                            * NGX_HTTP_QBSYNC_CHART_HEIGHT / slowest);

        ngx_http_qbsync_put(h, "<circle cx=\"%ui\" cy=\"%ui\" r=\"3\" "
                               "fill=\"%s\"/>\n", x, y,
                            hour->points[i].failed ? "#b00020" : "#176f2c");
    }

    ngx_http_qbsync_put(h, "<text x=\"4\" y=\"18\" font-size=\"11\">%uL ms"
                           "</text>\n<text x=\"50\" y=\"%d\" font-size=\"11\">"
                           "60 min ago</text>\n<text x=\"%d\" y=\"%d\" "
                           "font-size=\"11\">now</text>\n</svg>\n",
                        slowest, NGX_HTTP_QBSYNC_CHART_HEIGHT + 26,
                        NGX_HTTP_QBSYNC_CHART_WIDTH + 25,
                        NGX_HTTP_QBSYNC_CHART_HEIGHT + 26);
}


static void
ngx_http_qbsync_page_stages(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_metrics_t *m)
{
    ngx_uint_t                 i;
    qbsync_metrics_snapshot_t  s;

    ngx_http_qbsync_put(h, "<h2>Stages</h2>\n<table>\n<tr><th>stage</th>"
                           "<th>count</th><th>p50 ms</th><th>p95 ms</th>"
                           "<th>p99 ms</th></tr>\n");

    for (i = 0; i < NGX_HTTP_QBSYNC_STAGES; i++) {
        qbsync_metrics_snapshot(&m->stages[i], &s);

        ngx_http_qbsync_put(h, "<tr><td>%s</td><td>%uL</td>"
                               "<td>%uL.%03uL</td><td>%uL.%03uL</td>"
                               "<td>%uL.%03uL</td></tr>\n",
                            ngx_http_qbsync_stage_names[i], s.count,
                            s.p50_us / 1000, s.p50_us % 1000,
                            s.p95_us / 1000, s.p95_us % 1000,
                            s.p99_us / 1000, s.p99_us % 1000);
    }

    ngx_http_qbsync_put(h, "</table>\n");
}


static void
ngx_http_qbsync_page_events(ngx_http_qbsync_html_t *h,
    ngx_http_qbsync_hour_t *hour)
{
    u_char                   when[QBSYNC_EVENTS_TIME_LEN];
    ngx_uint_t               i;
    const char              *kind;
    qbsync_events_record_t  *e;

    ngx_http_qbsync_put(h, "<h2>Last events</h2>\n<table>\n<tr><th>time</th>"
                           "<th>kind</th><th>product</th><th>QuickBooks "
                           "item</th><th>outcome</th><th>ms</th></tr>\n");

    for (i = 0; i < hour->nrows; i++) {
        e = &hour->rows[i];
        kind = qbsync_events_kind_name(e->kind);

        (void) qbsync_events_time((char *) when, e->time_ms);

        ngx_http_qbsync_put(h, "<tr><td>");
        ngx_http_qbsync_escape(h, when, QBSYNC_EVENTS_TIME_LEN);
        ngx_http_qbsync_put(h, "</td><td>%s</td><td>", kind ? kind : "");
        ngx_http_qbsync_escape(h, (u_char *) e->product.data,
                               e->product.len);
        ngx_http_qbsync_put(h, "</td><td>");
        ngx_http_qbsync_escape(h, (u_char *) e->qb_item_id.data,
                               e->qb_item_id.len);
        ngx_http_qbsync_put(h, "</td><td>");
        ngx_http_qbsync_escape(h, (u_char *) e->outcome.data,
                               e->outcome.len);
        ngx_http_qbsync_put(h, "</td><td>%uD</td></tr>\n", e->duration_ms);
    }

    if (hour->nrows == 0) {
        ngx_http_qbsync_put(h, "<tr><td colspan=\"6\">none yet</td></tr>\n");
    }

    ngx_http_qbsync_put(h, "</table>\n");
}


static void
ngx_http_qbsync_put(ngx_http_qbsync_html_t *h, const char *fmt, ...)
{
    u_char   *last;
    va_list   args;

    if (h->overflow) {
        return;
    }

    va_start(args, fmt);
    last = ngx_vslprintf(h->pos, h->end, fmt, args);
    va_end(args);

    if (last == h->end) {
        h->overflow = 1;
        return;
    }

    h->pos = last;
}


/* text into HTML: the five characters that could end or open markup */

static void
ngx_http_qbsync_escape(ngx_http_qbsync_html_t *h, u_char *data, size_t len)
{
    size_t       i;
    const char  *entity;

    for (i = 0; i < len && !h->overflow; i++) {

        switch (data[i]) {

        case '&':
            entity = "&amp;";
            break;

        case '<':
            entity = "&lt;";
            break;

        case '>':
            entity = "&gt;";
            break;

        case '"':
            entity = "&quot;";
            break;

        case '\'':
            entity = "&#39;";
            break;

        default:
            entity = NULL;
            break;
        }

        if (entity) {
            ngx_http_qbsync_put(h, "%s", entity);
            continue;
        }

        if (h->pos + 1 >= h->end) {
            h->overflow = 1;
            return;
        }

        *h->pos++ = data[i];
    }
}
