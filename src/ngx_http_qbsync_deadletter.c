
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_deadletter.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_reply.h"
#include "ngx_http_qbsync_sync.h"
#include "ngx_http_qbsync_zone.h"
#include "qbsync_event.h"
#include "qbsync_json.h"
#include "qbsync_yajl.h"


/* "2026-11-28T01:50:00Z" */
#define NGX_HTTP_QBSYNC_ISO_TIME_LEN  20

/* what the file's lines can nest: one object of strings */
#define NGX_HTTP_QBSYNC_LINE_DEPTH    2


/*
 * A dead letter as the zone keeps it; its strings follow, in the order of
 * the lengths: key, event, type, product, error, uri, reason, body.
 */
typedef struct {
    uint32_t                     endpoint;
    uint32_t                     reason_len;
    uint32_t                     body_len;
    uint16_t                     uri_len;
    u_char                       event_len;
    u_char                       type_len;
    u_char                       product_len;
    u_char                       error_len;
    u_char                       time[NGX_HTTP_QBSYNC_ISO_TIME_LEN];
} ngx_http_qbsync_dead_rec_t;


typedef struct {
    ngx_str_t                    key;
    ngx_str_t                    time;
    ngx_str_t                    endpoint;      /* 8 hex digits */
    ngx_str_t                    event;
    ngx_str_t                    type;
    ngx_str_t                    product;
    ngx_str_t                    error;
    ngx_str_t                    uri;
    ngx_str_t                    reason;
    ngx_str_t                    body;
} ngx_http_qbsync_letter_t;


struct ngx_http_qbsync_replay_s {
    ngx_array_t                  letters;       /* ngx_http_qbsync_letter_t */
    ngx_uint_t                   next;

    /* the letter being replayed */
    ngx_http_qbsync_ctx_t       *event;
    ngx_http_qbsync_loc_conf_t  *conf;

    /* the answers so far, each a JSON object, comma-separated */
    ngx_str_t                    results;
    size_t                       results_size;
};


typedef struct {
    ngx_http_request_t          *request;
    ngx_array_t                 *letters;
    ngx_str_t                    only;          /* an event id, or all */
} ngx_http_qbsync_collect_t;


static ngx_int_t ngx_http_qbsync_dead_letter_line(ngx_pool_t *pool,
    ngx_http_qbsync_letter_t *letter, ngx_str_t *line);
static ngx_int_t ngx_http_qbsync_dead_letter_resolved(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, ngx_http_qbsync_letter_t *letter,
    ngx_str_t *action);
static ngx_int_t ngx_http_qbsync_dead_letter_append(ngx_str_t *path,
    ngx_str_t *line, ngx_log_t *log);
static ngx_int_t ngx_http_qbsync_dead_letter_remember(
    ngx_shm_zone_t *shm_zone, ngx_http_qbsync_letter_t *letter,
    ngx_pool_t *pool);
static ngx_int_t ngx_http_qbsync_dead_letter_collect(ngx_str_t *key,
    u_char *value, size_t size, void *data);
static ngx_array_t *ngx_http_qbsync_dead_letter_letters(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_str_t *only);
static ngx_int_t ngx_http_qbsync_dead_letter_list(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_str_t *only);
static void ngx_http_qbsync_dead_letter_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_qbsync_dead_letter_replay_next(
    ngx_http_request_t *r, ngx_http_qbsync_replay_t *replay);
static ngx_int_t ngx_http_qbsync_dead_letter_admit(ngx_http_request_t *r,
    ngx_http_qbsync_replay_t *replay, ngx_http_qbsync_letter_t *letter);
static void ngx_http_qbsync_dead_letter_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_qbsync_dead_letter_done(ngx_http_request_t *r,
    ngx_http_qbsync_replay_t *replay, ngx_http_qbsync_letter_t *letter);
static ngx_int_t ngx_http_qbsync_dead_letter_result(ngx_http_request_t *r,
    ngx_http_qbsync_replay_t *replay, ngx_http_qbsync_letter_t *letter,
    ngx_uint_t status, const char *action, ngx_str_t *error,
    ngx_str_t *message);
static ngx_int_t ngx_http_qbsync_dead_letter_json(ngx_pool_t *pool,
    qbsync_json_member_t *members, size_t n, size_t size, ngx_uint_t newline,
    ngx_str_t *out);
static ngx_int_t ngx_http_qbsync_dead_letter_add(ngx_pool_t *pool,
    ngx_str_t *list, size_t *size, u_char *object, size_t len);
static u_char *ngx_http_qbsync_dead_letter_now(u_char *buf);
static ngx_str_t *ngx_http_qbsync_dead_letter_path(ngx_http_request_t *r);
static uint32_t ngx_http_qbsync_dead_letter_ns(ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_http_qbsync_dead_letter_key(ngx_pool_t *pool,
    ngx_http_qbsync_letter_t *letter);
static ngx_int_t ngx_http_qbsync_dead_letter_string(yajl_val line,
    const char *name, ngx_str_t *value);


ngx_int_t
ngx_http_qbsync_dead_letter_park(ngx_http_request_t *r,
    ngx_http_qbsync_ctx_t *ctx, ngx_str_t *product, const char *error,
    ngx_str_t *reason)
{
    u_char                    *p;
    size_t                     i, len;
    ngx_str_t                 *path, line;
    ngx_http_qbsync_letter_t   letter;

    path = ngx_http_qbsync_dead_letter_path(r);
    if (path == NULL) {
        return NGX_DECLINED;
    }

    ngx_memzero(&letter, sizeof(ngx_http_qbsync_letter_t));

    len = 0;

    for (i = 0; i < ctx->nbody; i++) {
        len += ctx->body[i].len;
    }

    letter.body.data = ngx_pnalloc(r->pool, len);
    if (letter.body.data == NULL) {
        return NGX_ERROR;
    }

    for (p = letter.body.data, i = 0; i < ctx->nbody; i++) {
        p = ngx_cpymem(p, ctx->body[i].data, ctx->body[i].len);
    }

    letter.body.len = len;

    letter.time.data = ngx_pnalloc(r->pool, NGX_HTTP_QBSYNC_ISO_TIME_LEN
                                            + 8);
    if (letter.time.data == NULL) {
        return NGX_ERROR;
    }

    letter.time.len = ngx_http_qbsync_dead_letter_now(letter.time.data)
                      - letter.time.data;

    letter.endpoint.data = letter.time.data + letter.time.len;
    letter.endpoint.len = ngx_sprintf(letter.endpoint.data, "%08xD",
                                      ctx->key.ns)
                          - letter.endpoint.data;

    letter.event = ctx->key.id;
    letter.type = ctx->event_type;
    letter.product = *product;
    letter.error.data = (u_char *) error;
    letter.error.len = ngx_strlen(error);
    letter.uri = r->uri;
    letter.reason = *reason;

    if (ngx_http_qbsync_dead_letter_line(r->pool, &letter, &line) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_qbsync_dead_letter_append(path, &line, r->connection->log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "qbsync: event \"%V\" parked in the dead-letter file: %V",
                  &ctx->key.id, reason);

    ngx_http_qbsync_count_dead_letter(ctx->shm_zone);

    if (ngx_http_qbsync_dead_letter_key(r->pool, &letter) != NGX_OK
        || ngx_http_qbsync_dead_letter_remember(ctx->shm_zone, &letter,
                                                r->pool)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "qbsync: no room in qbsync_zone \"%V\" to list the "
                      "dead letter \"%V\"; it is in the file, and listed "
                      "again after a restart", &ctx->shm_zone->shm.name,
                      &ctx->key.id);
    }

    return NGX_OK;
}


/* One line of the file: every string escaped, the event's bytes too. */

static ngx_int_t
ngx_http_qbsync_dead_letter_line(ngx_pool_t *pool,
    ngx_http_qbsync_letter_t *letter, ngx_str_t *line)
{
    size_t                 size;
    ngx_uint_t             i;
    qbsync_json_member_t   members[9];
    ngx_str_t             *values[9];
    static const char     *names[9] = {
        "dead_letter", "time", "endpoint", "location", "type", "product",
        "error", "reason", "body"
    };

    values[0] = &letter->event;
    values[1] = &letter->time;
    values[2] = &letter->endpoint;
    values[3] = &letter->uri;
    values[4] = &letter->type;
    values[5] = &letter->product;
    values[6] = &letter->error;
    values[7] = &letter->reason;
    values[8] = &letter->body;

    ngx_memzero(members, sizeof(members));
    size = 64;

    for (i = 0; i < 9; i++) {
        members[i].name = names[i];
        members[i].value = values[i]->data ? (char *) values[i]->data : "";
        members[i].len = values[i]->len;
        size += ngx_strlen(names[i]) + 6 * values[i]->len + 8;
    }

    return ngx_http_qbsync_dead_letter_json(pool, members, 9, size, 1, line);
}


/*
 * A replay that synced the event: a "resolved" line (the file stays
 * append-only) and the letter leaves the zone's list.
 */

static ngx_int_t
ngx_http_qbsync_dead_letter_resolved(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, ngx_http_qbsync_letter_t *letter,
    ngx_str_t *action)
{
    size_t                 size;
    ngx_str_t             *path, line;
    qbsync_json_member_t   members[4];
    u_char                 time[NGX_HTTP_QBSYNC_ISO_TIME_LEN + 1];

    path = ngx_http_qbsync_dead_letter_path(r);
    if (path == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_http_qbsync_dead_letter_now(time);

    ngx_memzero(members, sizeof(members));

    members[0].name = "resolved";
    members[0].value = (char *) letter->event.data;
    members[0].len = letter->event.len;
    members[1].name = "time";
    members[1].value = (char *) time;
    members[1].len = NGX_HTTP_QBSYNC_ISO_TIME_LEN;
    members[2].name = "endpoint";
    members[2].value = (char *) letter->endpoint.data;
    members[2].len = letter->endpoint.len;
    members[3].name = "action";
    members[3].value = (char *) action->data;
    members[3].len = action->len;

    size = 128 + 6 * (letter->event.len + action->len);

    if (ngx_http_qbsync_dead_letter_json(r->pool, members, 4, size, 1, &line)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_qbsync_dead_letter_append(path, &line, r->connection->log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_qbsync_record_delete(shm_zone,
                                  ngx_http_qbsync_dead_letter_ns(shm_zone),
                                  &letter->key);

    return NGX_OK;
}


/*
 * One write of the whole line to a file opened for appending, so the
 * lines of two workers never mix, then fsync: Stripe hears 200 only for
 * a letter that is on the disk.
 */

static ngx_int_t
ngx_http_qbsync_dead_letter_append(ngx_str_t *path, ngx_str_t *line,
    ngx_log_t *log)
{
    u_char    *p;
    size_t     left;
    ssize_t    n;
    ngx_fd_t   fd;
    ngx_int_t  rc;

    fd = ngx_open_file(path->data, NGX_FILE_APPEND,
                       NGX_FILE_CREATE_OR_OPEN, 0600);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " dead-letter file \"%V\" failed",
                      path);
        return NGX_ERROR;
    }

    rc = NGX_OK;
    p = line->data;
    left = line->len;

    while (left) {
        n = write(fd, p, left);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                          "write() to dead-letter file \"%V\" failed", path);
            rc = NGX_ERROR;
            break;
        }

        p += n;
        left -= n;
    }

    if (rc == NGX_OK && fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "fsync() of dead-letter file \"%V\" failed", path);
        rc = NGX_ERROR;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " dead-letter file \"%V\" failed",
                      path);
    }

    return rc;
}


static ngx_int_t
ngx_http_qbsync_dead_letter_remember(ngx_shm_zone_t *shm_zone,
    ngx_http_qbsync_letter_t *letter, ngx_pool_t *pool)
{
    u_char                      *value, *p;
    size_t                       size;
    ngx_int_t                    rc;
    ngx_http_qbsync_dead_rec_t   rec;

    if (letter->event.len > 255 || letter->type.len > 255
        || letter->product.len > 255 || letter->error.len > 255
        || letter->uri.len > 65535
        || letter->time.len != NGX_HTTP_QBSYNC_ISO_TIME_LEN)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&rec, sizeof(ngx_http_qbsync_dead_rec_t));

    rec.endpoint = (uint32_t) ngx_hextoi(letter->endpoint.data,
                                         letter->endpoint.len);
    rec.event_len = (u_char) letter->event.len;
    rec.type_len = (u_char) letter->type.len;
    rec.product_len = (u_char) letter->product.len;
    rec.error_len = (u_char) letter->error.len;
    rec.uri_len = (uint16_t) letter->uri.len;
    rec.reason_len = (uint32_t) letter->reason.len;
    rec.body_len = (uint32_t) letter->body.len;
    ngx_memcpy(rec.time, letter->time.data, NGX_HTTP_QBSYNC_ISO_TIME_LEN);

    size = sizeof(ngx_http_qbsync_dead_rec_t) + letter->event.len
           + letter->type.len + letter->product.len + letter->error.len
           + letter->uri.len + letter->reason.len + letter->body.len;

    value = ngx_pnalloc(pool, size);
    if (value == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(value, &rec, sizeof(ngx_http_qbsync_dead_rec_t));
    p = ngx_cpymem(p, letter->event.data, letter->event.len);
    p = ngx_cpymem(p, letter->type.data, letter->type.len);
    p = ngx_cpymem(p, letter->product.data, letter->product.len);
    p = ngx_cpymem(p, letter->error.data, letter->error.len);
    p = ngx_cpymem(p, letter->uri.data, letter->uri.len);
    p = ngx_cpymem(p, letter->reason.data, letter->reason.len);
    ngx_memcpy(p, letter->body.data, letter->body.len);

    /* pinned: a dead letter waits for its operator, however long */
    rc = ngx_http_qbsync_record_put(shm_zone,
                                    ngx_http_qbsync_dead_letter_ns(shm_zone),
                                    &letter->key, value, size, 0);

    ngx_pfree(pool, value);

    return rc;
}


/*
 * The master reads the file when it makes a new zone (a start, not a
 * reload, which keeps the zone): later lines win, a "resolved" line takes
 * its letter off the list.  A line that cannot be read is skipped with a
 * warning, so a torn last line never stops nginx.
 */

ngx_int_t
ngx_http_qbsync_dead_letter_load(ngx_shm_zone_t *shm_zone, ngx_str_t *path,
    ngx_log_t *log)
{
    u_char                    *text, *line, *end, *nl;
    off_t                      size;
    ssize_t                    n;
    ngx_fd_t                   fd;
    ngx_uint_t                 number, loaded;
    ngx_pool_t                *pool;
    yajl_val                   tree;
    const char                *problem;
    ngx_file_info_t            fi;
    ngx_http_qbsync_letter_t   letter;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno == NGX_ENOENT) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      ngx_open_file_n " dead-letter file \"%V\" failed",
                      path);
        return NGX_ERROR;
    }

    pool = NULL;
    text = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      ngx_fd_info_n " dead-letter file \"%V\" failed", path);
        goto failed;
    }

    size = ngx_file_size(&fi);

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        goto failed;
    }

    text = ngx_pnalloc(pool, (size_t) size + 1);
    if (text == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, text, (size_t) size);

    if (n != (ssize_t) size) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      ngx_read_fd_n " dead-letter file \"%V\" failed", path);
        goto failed;
    }

    ngx_close_file(fd);
    fd = NGX_INVALID_FILE;

    end = text + size;
    number = 0;
    loaded = 0;

    for (line = text; line < end; line = nl + 1) {
        nl = ngx_strlchr(line, end, '\n');
        if (nl == NULL) {
            nl = end;
        }

        number++;

        if (nl == line) {
            continue;
        }

        if (qbsync_yajl_parse(line, nl - line, NGX_HTTP_QBSYNC_LINE_DEPTH,
                              &tree, &problem)
            != QBSYNC_YAJL_OK)
        {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "dead-letter file \"%V\", line %ui skipped: %s",
                          path, number, problem ? problem : "not JSON");
            continue;
        }

        ngx_memzero(&letter, sizeof(ngx_http_qbsync_letter_t));

        if (ngx_http_qbsync_dead_letter_string(tree, "resolved",
                                               &letter.event)
            == NGX_OK
            && ngx_http_qbsync_dead_letter_string(tree, "endpoint",
                                                  &letter.endpoint)
               == NGX_OK
            && ngx_http_qbsync_dead_letter_key(pool, &letter) == NGX_OK)
        {
            ngx_http_qbsync_record_delete(shm_zone,
                                ngx_http_qbsync_dead_letter_ns(shm_zone),
                                &letter.key);
            yajl_tree_free(tree);
            continue;
        }

        if (ngx_http_qbsync_dead_letter_string(tree, "dead_letter",
                                               &letter.event)
            != NGX_OK
            || ngx_http_qbsync_dead_letter_string(tree, "endpoint",
                                                  &letter.endpoint)
               != NGX_OK
            || ngx_http_qbsync_dead_letter_string(tree, "time", &letter.time)
               != NGX_OK
            || ngx_http_qbsync_dead_letter_string(tree, "location",
                                                  &letter.uri)
               != NGX_OK
            || ngx_http_qbsync_dead_letter_string(tree, "body", &letter.body)
               != NGX_OK
            || ngx_http_qbsync_dead_letter_key(pool, &letter) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "dead-letter file \"%V\", line %ui skipped: not "
                          "a dead letter", path, number);
            yajl_tree_free(tree);
            continue;
        }

        (void) ngx_http_qbsync_dead_letter_string(tree, "type", &letter.type);
        (void) ngx_http_qbsync_dead_letter_string(tree, "product",
                                                  &letter.product);
        (void) ngx_http_qbsync_dead_letter_string(tree, "error",
                                                  &letter.error);
        (void) ngx_http_qbsync_dead_letter_string(tree, "reason",
                                                  &letter.reason);

        if (ngx_http_qbsync_dead_letter_remember(shm_zone, &letter, pool)
            == NGX_OK)
        {
            loaded++;

        } else {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "dead-letter file \"%V\", line %ui: no room in "
                          "the zone to list it", path, number);
        }

        yajl_tree_free(tree);
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "dead-letter file \"%V\": %ui lines, %ui of them dead "
                  "letters", path, number, loaded);

    ngx_destroy_pool(pool);

    return NGX_OK;

failed:

    if (fd != NGX_INVALID_FILE) {
        ngx_close_file(fd);
    }

    if (pool) {
        ngx_destroy_pool(pool);
    }

    return NGX_ERROR;
}


/*
 * qbsync_dead_letter_admin: GET lists the dead letters of the zone (one
 * with its event body for ?event=evt_...); POST ?event=evt_... replays
 * that one, a POST without it replays them all, one after the other.
 */

ngx_int_t
ngx_http_qbsync_dead_letter_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    only;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    if (ngx_http_arg(r, (u_char *) "event", 5, &only) != NGX_OK) {
        ngx_str_null(&only);
    }

    if (r->method == NGX_HTTP_GET || r->method == NGX_HTTP_HEAD) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_qbsync_dead_letter_list(r, qlcf, &only);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "GET lists the dead letters, POST "
                                           "replays them");
    }

    rc = ngx_http_read_client_request_body(r,
                                    ngx_http_qbsync_dead_letter_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_qbsync_dead_letter_collect(ngx_str_t *key, u_char *value,
    size_t size, void *data)
{
    ngx_http_qbsync_collect_t *collect = data;

    u_char                      *p;
    ngx_http_qbsync_letter_t    *letter;
    ngx_http_qbsync_dead_rec_t   rec;

    if (size < sizeof(ngx_http_qbsync_dead_rec_t)) {
        return NGX_OK;
    }

    ngx_memcpy(&rec, value, sizeof(ngx_http_qbsync_dead_rec_t));
    p = value + sizeof(ngx_http_qbsync_dead_rec_t);

    if (collect->only.len
        && (collect->only.len != rec.event_len
            || ngx_strncmp(collect->only.data, p, rec.event_len) != 0))
    {
        return NGX_OK;
    }

    letter = ngx_array_push(collect->letters);
    if (letter == NULL) {
        return NGX_ERROR;
    }

    /* one copy of everything, out of the zone before the lock goes */
    p = ngx_pnalloc(collect->request->pool,
                    key->len + size + NGX_HTTP_QBSYNC_ISO_TIME_LEN + 8);
    if (p == NULL) {
        return NGX_ERROR;
    }

    letter->key.data = p;
    letter->key.len = key->len;
    p = ngx_cpymem(p, key->data, key->len);

    letter->endpoint.data = p;
    letter->endpoint.len = ngx_sprintf(p, "%08xD", rec.endpoint) - p;
    p += letter->endpoint.len;

    letter->time.data = p;
    letter->time.len = NGX_HTTP_QBSYNC_ISO_TIME_LEN;
    p = ngx_cpymem(p, rec.time, NGX_HTTP_QBSYNC_ISO_TIME_LEN);

    ngx_memcpy(p, value + sizeof(ngx_http_qbsync_dead_rec_t),
               size - sizeof(ngx_http_qbsync_dead_rec_t));

    letter->event.data = p;
    letter->event.len = rec.event_len;
    letter->type.data = letter->event.data + letter->event.len;
    letter->type.len = rec.type_len;
    letter->product.data = letter->type.data + letter->type.len;
    letter->product.len = rec.product_len;
    letter->error.data = letter->product.data + letter->product.len;
    letter->error.len = rec.error_len;
    letter->uri.data = letter->error.data + letter->error.len;
    letter->uri.len = rec.uri_len;
    letter->reason.data = letter->uri.data + letter->uri.len;
    letter->reason.len = rec.reason_len;
    letter->body.data = letter->reason.data + letter->reason.len;
    letter->body.len = rec.body_len;

    return NGX_OK;
}


static ngx_array_t *
ngx_http_qbsync_dead_letter_letters(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_str_t *only)
{
    ngx_array_t                *letters;
    ngx_http_qbsync_collect_t   collect;

    letters = ngx_array_create(r->pool, 8, sizeof(ngx_http_qbsync_letter_t));
    if (letters == NULL) {
        return NULL;
    }

    collect.request = r;
    collect.letters = letters;
    collect.only = *only;

    if (ngx_http_qbsync_record_each(qlcf->shm_zone,
                              ngx_http_qbsync_dead_letter_ns(qlcf->shm_zone),
                              ngx_http_qbsync_dead_letter_collect, &collect)
        != NGX_OK)
    {
        return NULL;
    }

    return letters;
}


static ngx_int_t
ngx_http_qbsync_dead_letter_list(ngx_http_request_t *r,
    ngx_http_qbsync_loc_conf_t *qlcf, ngx_str_t *only)
{
    u_char                    *buf;
    size_t                     size, len, n;
    ngx_str_t                  list, object;
    ngx_uint_t                 i;
    ngx_array_t               *letters;
    qbsync_json_member_t       members[9];
    ngx_http_qbsync_letter_t  *letter;

    letters = ngx_http_qbsync_dead_letter_letters(r, qlcf, only);
    if (letters == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&list);
    size = 0;
    letter = letters->elts;

    for (i = 0; i < letters->nelts; i++) {
        ngx_memzero(members, sizeof(members));

        members[0].name = "event";
        members[1].name = "time";
        members[2].name = "location";
        members[3].name = "type";
        members[4].name = "product";
        members[5].name = "error";
        members[6].name = "reason";
        members[7].name = "body";

        members[0].value = (char *) letter[i].event.data;
        members[0].len = letter[i].event.len;
        members[1].value = (char *) letter[i].time.data;
        members[1].len = letter[i].time.len;
        members[2].value = (char *) letter[i].uri.data;
        members[2].len = letter[i].uri.len;
        members[3].value = (char *) letter[i].type.data;
        members[3].len = letter[i].type.len;
        members[4].value = (char *) letter[i].product.data;
        members[4].len = letter[i].product.len;
        members[5].value = (char *) letter[i].error.data;
        members[5].len = letter[i].error.len;
        members[6].value = (char *) letter[i].reason.data;
        members[6].len = letter[i].reason.len;

        /* the event itself only when one is asked for */
        if (only->len) {
            members[7].value = (char *) letter[i].body.data;
            members[7].len = letter[i].body.len;
        }

        n = 256 + 6 * (letter[i].event.len + letter[i].uri.len
                       + letter[i].type.len + letter[i].product.len
                       + letter[i].error.len + letter[i].reason.len
                       + (only->len ? letter[i].body.len : 0));

        if (ngx_http_qbsync_dead_letter_json(r->pool, members, 8, n, 0,
                                             &object)
            != NGX_OK
            || ngx_http_qbsync_dead_letter_add(r->pool, &list, &size,
                                               object.data, object.len)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (only->len && letters->nelts == 0) {
        return ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                           "no dead letter of that event");
    }

    buf = ngx_pnalloc(r->pool, list.len + 64);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_sprintf(buf, "{\"count\":%ui,\"dead_letters\":[%V]}",
                      letters->nelts, &list)
          - buf;

    return ngx_http_qbsync_reply_json(r, NGX_HTTP_OK, buf, len);
}


static void
ngx_http_qbsync_dead_letter_body_handler(ngx_http_request_t *r)
{
    ngx_str_t                    only;
    ngx_array_t                 *letters;
    ngx_http_qbsync_ctx_t       *ctx;
    ngx_http_qbsync_replay_t    *replay;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    if (ngx_http_arg(r, (u_char *) "event", 5, &only) != NGX_OK) {
        ngx_str_null(&only);
    }

    letters = ngx_http_qbsync_dead_letter_letters(r, qlcf, &only);
    if (letters == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (only.len && letters->nelts == 0) {
        ngx_http_finalize_request(r,
            ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "no dead letter of that event"));
        return;
    }

    ctx = ngx_http_qbsync_create_ctx(r);
    replay = ngx_pcalloc(r->pool, sizeof(ngx_http_qbsync_replay_t));

    if (ctx == NULL || replay == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    replay->letters = *letters;
    ctx->replay = replay;
    ctx->shm_zone = qlcf->shm_zone;

    r->write_event_handler = ngx_http_qbsync_dead_letter_resume;

    ngx_http_qbsync_dead_letter_resume(r);
}


/*
 * Letters are replayed one after the other, in this request: each runs
 * the sync of the location that first received it (found by its endpoint,
 * in this server), past its dead_lettered key, without a signature to
 * check since the module wrote the letter itself.  NGX_AGAIN while a sync
 * waits, NGX_OK when no letter is left.
 */

static ngx_int_t
ngx_http_qbsync_dead_letter_replay_next(ngx_http_request_t *r,
    ngx_http_qbsync_replay_t *replay)
{
    ngx_int_t                  rc;
    ngx_http_qbsync_letter_t  *letters;

    letters = replay->letters.elts;

    while (replay->next < replay->letters.nelts) {

        rc = ngx_http_qbsync_dead_letter_admit(r, replay,
                                               &letters[replay->next]);

        if (rc == NGX_OK) {
            rc = ngx_http_qbsync_sync_start(r, replay->event, replay->conf);

            if (rc == NGX_AGAIN) {
                return NGX_AGAIN;
            }

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            rc = ngx_http_qbsync_dead_letter_done(r, replay,
                                                  &letters[replay->next]);
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        replay->next++;
    }

    return NGX_OK;
}


/*
 * The checks of a delivery that still apply to a letter: the event parses,
 * its location is still there, and its key is free or dead_lettered.
 * NGX_OK: the sync may start; NGX_DONE: answered without one.
 */

static ngx_int_t
ngx_http_qbsync_dead_letter_admit(ngx_http_request_t *r,
    ngx_http_qbsync_replay_t *replay, ngx_http_qbsync_letter_t *letter)
{
    time_t                          retry_after;
    uint32_t                        endpoint;
    ngx_str_t                       error, message;
    ngx_uint_t                      i, action;
    qbsync_event_t                  event;
    qbsync_chunk_t                 *chunk;
    ngx_http_qbsync_ctx_t          *ctx;
    ngx_http_core_srv_conf_t       *cscf;
    ngx_http_qbsync_main_conf_t    *qmcf;
    ngx_http_qbsync_webhook_ref_t  *ref;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);
    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    endpoint = (uint32_t) ngx_hextoi(letter->endpoint.data,
                                     letter->endpoint.len);
    ref = qmcf->webhooks.elts;
    replay->conf = NULL;

    for (i = 0; i < qmcf->webhooks.nelts; i++) {
        if (ref[i].conf->endpoint == endpoint && ref[i].server == cscf) {
            replay->conf = ref[i].conf;
            break;
        }
    }

    if (replay->conf == NULL) {
        ngx_str_set(&error, "location_gone");
        ngx_str_set(&message, "no qbsync_webhook location of this server "
                              "received it: replay it from the admin "
                              "location of that location's server");
        return ngx_http_qbsync_dead_letter_result(r, replay, letter, 0, NULL,
                                                  &error, &message);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_qbsync_ctx_t));
    chunk = ngx_palloc(r->pool, sizeof(qbsync_chunk_t));

    if (ctx == NULL || chunk == NULL) {
        return NGX_ERROR;
    }

    chunk->data = letter->body.data;
    chunk->len = letter->body.len;
    ctx->body = chunk;
    ctx->nbody = 1;

    if (qbsync_event_parse(chunk, 1, &event) != QBSYNC_EVENT_OK) {
        ngx_str_set(&error, "invalid_event");
        message.data = (u_char *) event.message;
        message.len = ngx_strlen(event.message);
        return ngx_http_qbsync_dead_letter_result(r, replay, letter, 0, NULL,
                                                  &error, &message);
    }

    /* the event's strings may be in the parser's own buffers */
    ctx->key.id.data = ngx_pnalloc(r->pool, event.id_len + event.type_len);
    if (ctx->key.id.data == NULL) {
        return NGX_ERROR;
    }

    ctx->key.id.len = event.id_len;
    ngx_memcpy(ctx->key.id.data, event.id, event.id_len);

    ctx->event_type.data = ctx->key.id.data + event.id_len;
    ctx->event_type.len = event.type_len;
    ngx_memcpy(ctx->event_type.data, event.type, event.type_len);

    ctx->shm_zone = replay->conf->shm_zone;
    ctx->idempotency_ttl = (ngx_msec_t) replay->conf->idempotency_ttl * 1000;
    ctx->key.ns = replay->conf->endpoint;
    ctx->key.reclaim = NGX_HTTP_QBSYNC_ACTION_DEAD_LETTERED;
    ctx->key.detail = ctx->event_type;

    switch (ngx_http_qbsync_key_acquire(ctx->shm_zone, &ctx->key,
                              (ngx_msec_t) replay->conf->inflight_lease * 1000,
                              &retry_after, &action))
    {
    case NGX_HTTP_QBSYNC_KEY_ACQUIRED:
        ctx->holds_key = 1;
        replay->event = ctx;
        return NGX_OK;

    case NGX_HTTP_QBSYNC_KEY_DUPLICATE:
        /* synced meanwhile: the letter has nothing left to wait for */
        return ngx_http_qbsync_dead_letter_result(r, replay, letter,
                                   NGX_HTTP_OK,
                                   ngx_http_qbsync_action_name(action),
                                   NULL, NULL);

    case NGX_HTTP_QBSYNC_KEY_IN_PROGRESS:
        ngx_str_set(&error, "in_progress");
        ngx_str_set(&message, "a delivery of this event is in flight; "
                              "replay it later");
        return ngx_http_qbsync_dead_letter_result(r, replay, letter,
                                                  NGX_HTTP_CONFLICT, NULL,
                                                  &error, &message);

    default:
        ngx_str_set(&error, "zone_full");
        ngx_str_set(&message, "the zone has no room for the event's key");
        return ngx_http_qbsync_dead_letter_result(r, replay, letter,
                                         NGX_HTTP_SERVICE_UNAVAILABLE, NULL,
                                         &error, &message);
    }
}


static void
ngx_http_qbsync_dead_letter_resume(ngx_http_request_t *r)
{
    u_char                    *buf;
    size_t                     len;
    ngx_int_t                  rc;
    ngx_http_qbsync_ctx_t     *ctx;
    ngx_http_qbsync_replay_t  *replay;
    ngx_http_qbsync_letter_t  *letters;

    ctx = ngx_http_get_module_ctx(r, ngx_http_qbsync_module);
    replay = ctx->replay;
    letters = replay->letters.elts;

    if (replay->next < replay->letters.nelts && replay->event
        && replay->event->sync)
    {
        rc = ngx_http_qbsync_sync_resume(r, replay->event->sync);

        if (rc == NGX_AGAIN) {
            return;
        }

        if (rc == NGX_ERROR
            || ngx_http_qbsync_dead_letter_done(r, replay,
                                                &letters[replay->next])
               == NGX_ERROR)
        {
            goto failed;
        }

        replay->next++;
    }

    rc = ngx_http_qbsync_dead_letter_replay_next(r, replay);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc == NGX_ERROR) {
        goto failed;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    buf = ngx_pnalloc(r->pool, replay->results.len + 64);
    if (buf == NULL) {
        goto failed;
    }

    len = ngx_sprintf(buf, "{\"count\":%ui,\"replayed\":[%V]}",
                      replay->letters.nelts, &replay->results)
          - buf;

    ngx_http_finalize_request(r, ngx_http_qbsync_reply_json(r, NGX_HTTP_OK,
                                                            buf, len));
    return;

failed:

    r->write_event_handler = ngx_http_request_empty_handler;
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


/*
 * A replayed sync has its outcome: the key is settled as a delivery's
 * would be, the sync's locks go before the next letter, and a sync that
 * is no new dead letter resolves the letter.
 */

static ngx_int_t
ngx_http_qbsync_dead_letter_done(ngx_http_request_t *r,
    ngx_http_qbsync_replay_t *replay, ngx_http_qbsync_letter_t *letter)
{
    ngx_str_t                  error, message, name;
    ngx_uint_t                 status;
    const char                *action;
    ngx_http_qbsync_ctx_t     *ctx;
    ngx_http_qbsync_action_e   done;

    ctx = replay->event;

    ngx_http_qbsync_sync_settle(r, ctx->sync);
    ngx_http_qbsync_sync_outcome(ctx->sync, &status, &done, &error,
                                 &message);
    ngx_http_qbsync_sync_finish(ctx->sync);

    ctx->holds_key = 0;
    action = NULL;

    if (status == NGX_HTTP_OK) {
        action = ngx_http_qbsync_action_name(done);
        ngx_http_qbsync_key_complete(ctx->shm_zone, &ctx->key,
                                     ctx->idempotency_ttl, done,
                                     r->connection->log);

        if (done != NGX_HTTP_QBSYNC_ACTION_DEAD_LETTERED) {
            name.data = (u_char *) action;
            name.len = ngx_strlen(action);

            if (ngx_http_qbsync_dead_letter_resolved(r, ctx->shm_zone, letter,
                                                     &name)
                != NGX_OK)
            {
                ngx_str_set(&error, "dead_letter_failed");
                ngx_str_set(&message, "synced, but the resolved line could "
                                      "not be written; see the error log");
            }
        }

    } else {
        ngx_http_qbsync_key_release(ctx->shm_zone, &ctx->key,
                                    r->connection->log);
    }

    replay->event = NULL;

    return ngx_http_qbsync_dead_letter_result(r, replay, letter, status,
                                              action, &error, &message);
}


/* {"event", "status", "action" | "error", "message"} for the operator */

static ngx_int_t
ngx_http_qbsync_dead_letter_result(ngx_http_request_t *r,
    ngx_http_qbsync_replay_t *replay, ngx_http_qbsync_letter_t *letter,
    ngx_uint_t status, const char *action, ngx_str_t *error,
    ngx_str_t *message)
{
    size_t                 size;
    ngx_int_t              rc;
    ngx_str_t              object;
    qbsync_json_member_t   members[5];
    u_char                 code[NGX_INT_T_LEN];

    ngx_memzero(members, sizeof(members));

    members[0].name = "event";
    members[0].value = (char *) letter->event.data;
    members[0].len = letter->event.len;

    if (status) {
        members[1].name = "status";
        members[1].value = (char *) code;
        members[1].len = ngx_sprintf(code, "%ui", status) - code;
    }

    size = 256 + 6 * letter->event.len;

    if (action) {
        members[2].name = "action";
        members[2].value = action;
        members[2].len = ngx_strlen(action);
        size += members[2].len;
    }

    if (error && error->len) {
        members[3].name = "error";
        members[3].value = (char *) error->data;
        members[3].len = error->len;
        size += 6 * error->len;
    }

    if (message && message->len) {
        members[4].name = (action == NULL) ? "message"
                           : (ngx_strcmp(action, "dead_lettered") == 0)
                             ? "reason" : "warning";
        members[4].value = (char *) message->data;
        members[4].len = message->len;
        size += 6 * message->len;
    }

    if (ngx_http_qbsync_dead_letter_json(r->pool, members, 5, size, 0,
                                         &object)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_qbsync_dead_letter_add(r->pool, &replay->results,
                                         &replay->results_size, object.data,
                                         object.len);

    return (rc == NGX_OK) ? NGX_DONE : NGX_ERROR;
}


/* A JSON object in the pool, with a newline for a line of the file. */

static ngx_int_t
ngx_http_qbsync_dead_letter_json(ngx_pool_t *pool,
    qbsync_json_member_t *members, size_t n, size_t size, ngx_uint_t newline,
    ngx_str_t *out)
{
    u_char  *buf;
    size_t   len;

    buf = ngx_pnalloc(pool, size + 1);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    len = qbsync_json_object(buf, size, members, n);
    if (len == 0) {
        return NGX_ERROR;
    }

    if (newline) {
        buf[len++] = '\n';
    }

    out->data = buf;
    out->len = len;

    return NGX_OK;
}


/* Appends ",object" (or the first object) to a list grown in the pool. */

static ngx_int_t
ngx_http_qbsync_dead_letter_add(ngx_pool_t *pool, ngx_str_t *list,
    size_t *size, u_char *object, size_t len)
{
    u_char  *p;
    size_t   need;

    need = list->len + len + 1;

    if (need > *size) {
        *size = ngx_max(need, 2 * *size);

        p = ngx_pnalloc(pool, *size);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (list->len) {
            ngx_memcpy(p, list->data, list->len);
        }

        list->data = p;
    }

    if (list->len) {
        list->data[list->len++] = ',';
    }

    ngx_memcpy(list->data + list->len, object, len);
    list->len += len;

    return NGX_OK;
}


/* The time of a line, as the operator reads it: "2026-11-28T01:50:00Z". */

static u_char *
ngx_http_qbsync_dead_letter_now(u_char *buf)
{
    ngx_tm_t  tm;

    ngx_gmtime(ngx_time(), &tm);

    return ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ", tm.ngx_tm_year,
                       tm.ngx_tm_mon, tm.ngx_tm_mday, tm.ngx_tm_hour,
                       tm.ngx_tm_min, tm.ngx_tm_sec);
}


static ngx_str_t *
ngx_http_qbsync_dead_letter_path(ngx_http_request_t *r)
{
    ngx_http_qbsync_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(r, ngx_http_qbsync_module);

    return qmcf->dead_letter.len ? &qmcf->dead_letter : NULL;
}


ngx_uint_t
ngx_http_qbsync_dead_letter_count(ngx_shm_zone_t *shm_zone)
{
    return ngx_http_qbsync_record_count(shm_zone,
                                    ngx_http_qbsync_dead_letter_ns(shm_zone),
                                    1);
}


static uint32_t
ngx_http_qbsync_dead_letter_ns(ngx_shm_zone_t *shm_zone)
{
    return ngx_http_qbsync_zone_ns("dead letters", &shm_zone->shm.name);
}


/* Stripe sends an event to each endpoint: the key names both. */

static ngx_int_t
ngx_http_qbsync_dead_letter_key(ngx_pool_t *pool,
    ngx_http_qbsync_letter_t *letter)
{
    letter->key.data = ngx_pnalloc(pool, letter->endpoint.len + 1
                                         + letter->event.len);
    if (letter->key.data == NULL) {
        return NGX_ERROR;
    }

    letter->key.len = ngx_sprintf(letter->key.data, "%V:%V",
                                  &letter->endpoint, &letter->event)
                      - letter->key.data;

    return (letter->key.len <= NGX_HTTP_QBSYNC_KEY_MAX) ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_qbsync_dead_letter_string(yajl_val line, const char *name,
    ngx_str_t *value)
{
    yajl_val  v;

    v = qbsync_yajl_member(line, name);

    if (v == NULL || !YAJL_IS_STRING(v)) {
        return NGX_DECLINED;
    }

    value->data = (u_char *) v->u.string;
    value->len = ngx_strlen(v->u.string);

    return NGX_OK;
}
