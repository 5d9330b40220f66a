
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_statsd.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_deadletter.h"
#include "ngx_http_qbsync_zone.h"


/* a datagram that no path MTU on the way to a collector splits */
#define NGX_HTTP_QBSYNC_STATSD_DATAGRAM  1432
#define NGX_HTTP_QBSYNC_STATSD_LINE      256


typedef struct {
    ngx_http_qbsync_statsd_t    *conf;
    ngx_socket_t                 fd;
    ngx_event_t                  timer;
    ngx_array_t                 *zones;         /* ngx_shm_zone_t * */

    /* what was pushed last, per zone: counters go out as differences */
    ngx_http_qbsync_metrics_t   *sent;

    u_char                       datagram[NGX_HTTP_QBSYNC_STATSD_DATAGRAM];
    size_t                       len;
} ngx_http_qbsync_pusher_t;


static void ngx_http_qbsync_statsd_push(ngx_event_t *ev);
static void ngx_http_qbsync_statsd_zone(ngx_http_qbsync_pusher_t *p,
    ngx_uint_t i, ngx_str_t *prefix);
static void ngx_http_qbsync_statsd_line(ngx_http_qbsync_pusher_t *p,
    ngx_str_t *prefix, const char *name, const char *sub, uint64_t value,
    const char *type);
static void ngx_http_qbsync_statsd_send(ngx_http_qbsync_pusher_t *p);


/* qbsync_statsd host:port [interval=time] [prefix=name] */

char *
ngx_http_qbsync_statsd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_qbsync_main_conf_t *qmcf = conf;

    ngx_str_t                 *value, s;
    ngx_url_t                  u;
    ngx_uint_t                 i;
    ngx_http_qbsync_statsd_t  *sd;

    if (qmcf->statsd) {
        return "is duplicate";
    }

    value = cf->args->elts;

    sd = ngx_pcalloc(cf->pool, sizeof(ngx_http_qbsync_statsd_t));
    if (sd == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0
        || u.no_port)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid StatsD address \"%V\", expected an IP "
                           "address and a port", &value[1]);
        return NGX_CONF_ERROR;
    }

    sd->addr = u.addrs[0];
    sd->name = value[1];
    sd->interval = 10000;
    ngx_str_set(&sd->prefix, "qbsync");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            sd->interval = ngx_parse_time(&s, 0);

            if (sd->interval == (ngx_msec_t) NGX_ERROR || sd->interval == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid interval \"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0
            && value[i].len > 7 && value[i].len < 64)
        {
            sd->prefix.data = value[i].data + 7;
            sd->prefix.len = value[i].len - 7;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    qmcf->statsd = sd;

    return NGX_CONF_OK;
}


/*
 * The first worker pushes for all: the counters are the zones', so any
 * one worker sees every worker's figures.  A connected UDP socket, never
 * waited on: a StatsD that is down loses the datagrams, nothing else.
 */

ngx_int_t
ngx_http_qbsync_statsd_init(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_shm_zone_t              **zones;
    ngx_http_qbsync_pusher_t     *p;
    ngx_http_qbsync_main_conf_t  *qmcf;

    if (ngx_process != NGX_PROCESS_WORKER || ngx_worker != 0) {
        return NGX_OK;
    }

    qmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_qbsync_module);

    if (qmcf == NULL || qmcf->statsd == NULL || qmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    p = ngx_pcalloc(cycle->pool, sizeof(ngx_http_qbsync_pusher_t));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p->sent = ngx_pcalloc(cycle->pool, qmcf->zones.nelts
                                       * sizeof(ngx_http_qbsync_metrics_t));
    if (p->sent == NULL) {
        return NGX_ERROR;
    }

    p->conf = qmcf->statsd;
    p->zones = &qmcf->zones;

    p->fd = ngx_socket(p->conf->addr.sockaddr->sa_family, SOCK_DGRAM, 0);

    if (p->fd == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "qbsync_statsd: " ngx_socket_n " failed");
        return NGX_OK;
    }

    if (ngx_nonblocking(p->fd) == -1
        || connect(p->fd, p->conf->addr.sockaddr, p->conf->addr.socklen)
           == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "qbsync_statsd: cannot use %V", &p->conf->name);
        (void) ngx_close_socket(p->fd);
        return NGX_OK;
    }

    /* what came before this worker started is not this push's to tell */
    zones = p->zones->elts;

    for (i = 0; i < p->zones->nelts; i++) {
        ngx_memcpy(&p->sent[i], ngx_http_qbsync_zone_metrics(zones[i]),
                   sizeof(ngx_http_qbsync_metrics_t));
    }

    p->timer.handler = ngx_http_qbsync_statsd_push;
    p->timer.data = p;
    p->timer.log = cycle->log;
    p->timer.cancelable = 1;

    ngx_add_timer(&p->timer, p->conf->interval);

    return NGX_OK;
}


static void
ngx_http_qbsync_statsd_push(ngx_event_t *ev)
{
    u_char                    *last;
    ngx_str_t                  prefix;
    ngx_uint_t                 i;
    ngx_shm_zone_t           **zones;
    ngx_http_qbsync_pusher_t  *p;
    u_char                     name[NGX_HTTP_QBSYNC_STATSD_LINE];

    p = ev->data;
    zones = p->zones->elts;
    p->len = 0;

    for (i = 0; i < p->zones->nelts; i++) {

        /* the first zone's names are the prefix's own, as most have one */
        if (i == 0) {
            prefix = p->conf->prefix;

        } else {
            last = ngx_snprintf(name, sizeof(name), "%V.%V", &p->conf->prefix,
                                &zones[i]->shm.name);
            prefix.data = name;
            prefix.len = last - name;
        }

        ngx_http_qbsync_statsd_zone(p, i, &prefix);
    }

    ngx_http_qbsync_statsd_send(p);

    if (!ngx_exiting) {
        ngx_add_timer(&p->timer, p->conf->interval);
    }
}


static void
ngx_http_qbsync_statsd_zone(ngx_http_qbsync_pusher_t *p, ngx_uint_t i,
    ngx_str_t *prefix)
{
    u_char                        sub[64];
    uint64_t                      count, sum;
    ngx_uint_t                    j, k;
    ngx_shm_zone_t              **zones;
    ngx_http_qbsync_metrics_t     now, *was;
    ngx_http_qbsync_zone_usage_t  usage;

    zones = p->zones->elts;
    was = &p->sent[i];

    ngx_memcpy(&now, ngx_http_qbsync_zone_metrics(zones[i]), sizeof(now));

    for (j = 0; j < NGX_HTTP_QBSYNC_WEBHOOK_OUTCOMES
                && ngx_http_qbsync_outcome_words[j]; j++)
    {
        if (now.webhooks[j] != was->webhooks[j]) {
            ngx_http_qbsync_statsd_line(p, prefix, "webhooks",
                                        ngx_http_qbsync_outcome_words[j],
                                        now.webhooks[j] - was->webhooks[j],
                                        "c");
        }
    }

    for (j = 0; j < NGX_HTTP_QBSYNC_OPS; j++) {
        for (k = 0; k < NGX_HTTP_QBSYNC_STATUSES; k++) {
            if (now.calls[j][k] == was->calls[j][k]) {
                continue;
            }

            /* "query.200" */
            *ngx_snprintf(sub, sizeof(sub) - 1, "%s.%s",
                          ngx_http_qbsync_operation_names[j],
                          ngx_http_qbsync_status_names[k]) = '\0';

            ngx_http_qbsync_statsd_line(p, prefix, "quickbooks.calls",
                                        (char *) sub,
                                        now.calls[j][k] - was->calls[j][k],
                                        "c");
        }
    }

    ngx_http_qbsync_statsd_line(p, prefix, "retries", NULL,
                                now.retries - was->retries, "c");
    ngx_http_qbsync_statsd_line(p, prefix, "rate_limited", NULL,
                                now.throttled - was->throttled, "c");
    ngx_http_qbsync_statsd_line(p, prefix, "dead_lettered", NULL,
                                now.dead_lettered - was->dead_lettered, "c");

    ngx_http_qbsync_zone_usage(zones[i], &usage);

    ngx_http_qbsync_statsd_line(p, prefix, "dead_letters", NULL,
                                ngx_http_qbsync_dead_letter_count(zones[i]),
                                "g");
    ngx_http_qbsync_statsd_line(p, prefix, "zone.used_bytes", NULL,
                                usage.used, "g");

    /* a timer a stage: the mean time of its observations since the last */
    for (j = 0; j < NGX_HTTP_QBSYNC_STAGES; j++) {
        count = now.stages[j].count - was->stages[j].count;
        sum = now.stages[j].sum_us - was->stages[j].sum_us;

        if (count) {
            ngx_http_qbsync_statsd_line(p, prefix, "stage",
                                        ngx_http_qbsync_stage_names[j],
                                        sum / count, "ms");
        }
    }

    *was = now;
}


/*
 * "<prefix>.<name>[.<sub>]:<value>|<type>"; a counter's line only when it
 * moved.  A timer's value is in microseconds here, in milliseconds there.
 */

static void
ngx_http_qbsync_statsd_line(ngx_http_qbsync_pusher_t *p, ngx_str_t *prefix,
    const char *name, const char *sub, uint64_t value, const char *type)
{
    u_char   *last, *end;
    u_char    line[NGX_HTTP_QBSYNC_STATSD_LINE];

    if (value == 0 && type[0] == 'c') {
        return;
    }

    end = line + sizeof(line);
    last = ngx_snprintf(line, end - line, "%V.%s", prefix, name);

    if (sub) {
        last = ngx_snprintf(last, end - last, ".%s", sub);
    }

    if (type[0] == 'm') {
        last = ngx_snprintf(last, end - last, ":%uL.%03uL|ms\n",
                            value / 1000, value % 1000);

    } else {
        last = ngx_snprintf(last, end - last, ":%uL|%s\n", value, type);
    }

    if (p->len + (last - line) > NGX_HTTP_QBSYNC_STATSD_DATAGRAM) {
        ngx_http_qbsync_statsd_send(p);
    }

    p->len = ngx_cpymem(p->datagram + p->len, line, last - line)
             - p->datagram;
}


static void
ngx_http_qbsync_statsd_send(ngx_http_qbsync_pusher_t *p)
{
    if (p->len == 0) {
        return;
    }

    /* the last line's newline is StatsD's separator, not a line of its own */
    if (send(p->fd, p->datagram, p->len - 1, 0) == -1) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, p->timer.log, ngx_socket_errno,
                       "qbsync_statsd: send() to %V failed",
                       &p->conf->name);
    }

    p->len = 0;
}
