
/*
 * Copyright (C) qbsync authors
 */


#include "ngx_http_qbsync_batch.h"
#include "ngx_http_qbsync_gate.h"
#include "ngx_http_qbsync_limiter.h"
#include "ngx_http_qbsync_mapping.h"
#include "ngx_http_qbsync_metrics.h"
#include "ngx_http_qbsync_events.h"
#include "ngx_http_qbsync_oauth.h"
#include "ngx_http_qbsync_qbo.h"
#include "ngx_http_qbsync_reply.h"
#include "qbsync_item.h"
#include "qbsync_json.h"
#include "qbsync_qbo.h"
#include "qbsync_stripe.h"


/* Intuit's Batch reference: at most 30 operations in one request */
#define NGX_HTTP_QBSYNC_BATCH_OPS         30

/*
 * An answer line covers at most this many lines, so that a rerun whose
 * products are all unchanged still answers as it goes, and the group's
 * pool stays small.
 */
#define NGX_HTTP_QBSYNC_BATCH_LINES       100

/* a product with an expanded price is a few kB; metadata adds some */
#define NGX_HTTP_QBSYNC_BATCH_LINE_MAX    (256 * 1024)

/* how long one call may queue for its slot with the realm's limiter */
#define NGX_HTTP_QBSYNC_BATCH_PACE_MAX    300000

#define NGX_HTTP_QBSYNC_BATCH_GROUP_POOL  16384
#define NGX_HTTP_QBSYNC_BATCH_SUMMARY_MAX 512


typedef enum {
    NGX_HTTP_QBSYNC_BATCH_DONE = 0,
    NGX_HTTP_QBSYNC_BATCH_LOOKUP,      /* its item is looked up by Sku */
    NGX_HTTP_QBSYNC_BATCH_NAME,        /* its name is taken: by whom? */
    NGX_HTTP_QBSYNC_BATCH_WRITE        /* goes in the next batch */
} ngx_http_qbsync_batch_state_e;


typedef enum {
    NGX_HTTP_QBSYNC_BATCH_READ = 0,
    NGX_HTTP_QBSYNC_BATCH_FIND_SKUS,
    NGX_HTTP_QBSYNC_BATCH_FIND_NAMES,
    NGX_HTTP_QBSYNC_BATCH_SEND,
    NGX_HTTP_QBSYNC_BATCH_ANSWER,
    NGX_HTTP_QBSYNC_BATCH_SUMMARY,
    NGX_HTTP_QBSYNC_BATCH_END
} ngx_http_qbsync_batch_phase_e;


/* One product of the group being synced, from the last line naming it. */
typedef struct {
    ngx_uint_t                       line;
    ngx_http_qbsync_batch_state_e    state;

    ngx_str_t                        product_id;
    ngx_str_t                        default_price;

    /* the item as the product wants it */
    ngx_str_t                        name;
    ngx_str_t                        description;
    ngx_str_t                        unit_price;

    /* the item in QuickBooks, once known */
    ngx_str_t                        item_id;
    ngx_str_t                        sync_token;

    ngx_http_qbsync_mapping_t       *mapping;

    ngx_http_qbsync_action_e         action;
    const char                      *error;
    ngx_str_t                        message;

    unsigned                         active:1;
    unsigned                         found_active:1;
    unsigned                         suffixed:1;
    unsigned                         superseded:1;
    unsigned                         tried_name:1;
    unsigned                         tried_stale:1;
    unsigned                         tried_missing:1;
} ngx_http_qbsync_batch_product_t;


struct ngx_http_qbsync_batch_s {
    ngx_http_request_t              *request;
    ngx_http_qbsync_loc_conf_t      *conf;

    /* the group's: it goes once the group's answer line is out */
    ngx_pool_t                      *pool;
    qbsync_allocator_t               allocator;
    ngx_array_t                      products;
    ngx_uint_t                       pending;
    ngx_uint_t                       group_lines;
    ngx_uint_t                       group;

    /* the body, read a window at a time (nginx may have spooled it) */
    ngx_chain_t                     *in;
    off_t                            in_offset;
    u_char                          *window;
    u_char                          *pos;
    u_char                          *last;
    ngx_uint_t                       line;

    ngx_http_qbsync_batch_phase_e    phase;

    /* what finalizes a body refused whole */
    ngx_int_t                        refused;

    /* the call of the phase, its tries, its slot with the limiter */
    ngx_http_qbsync_call_t           call;
    ngx_event_t                      wait;
    ngx_msec_t                       call_started;
    uint32_t                         tries;
    uint32_t                         entries;
    uint64_t                         previous_delay;
    qbsync_retry_random_t            random;
    ngx_http_qbsync_pace_t           pace;
    ngx_http_qbsync_oauth_ctx_t      oauth;

    ngx_uint_t                       lines;
    qbsync_json_counts_t             total;

    /* why the run stopped before the end of the body */
    const char                      *stop_error;
    const char                      *stop_message;

    unsigned                         eof:1;
    unsigned                         answering:1;
    unsigned                         prepared:1;
    unsigned                         calling:1;
    unsigned                         retried_auth:1;
    unsigned                         is_batch:1;
};


static void ngx_http_qbsync_batch_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_qbsync_batch_start(ngx_http_request_t *r,
    ngx_http_qbsync_batch_t *b);
static void ngx_http_qbsync_batch_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_qbsync_batch_run(ngx_http_qbsync_batch_t *b);
static ngx_int_t ngx_http_qbsync_batch_read(ngx_http_qbsync_batch_t *b);
static ngx_int_t ngx_http_qbsync_batch_next_line(ngx_http_qbsync_batch_t *b,
    ngx_str_t *line);
static ngx_int_t ngx_http_qbsync_batch_fill(ngx_http_qbsync_batch_t *b);
static ngx_int_t ngx_http_qbsync_batch_take(ngx_http_qbsync_batch_t *b,
    ngx_str_t *line);
static ngx_int_t ngx_http_qbsync_batch_want(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p, qbsync_product_t *product);
static ngx_int_t ngx_http_qbsync_batch_exchange(ngx_http_qbsync_batch_t *b);
static ngx_int_t ngx_http_qbsync_batch_find(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_state_e state);
static ngx_int_t ngx_http_qbsync_batch_found(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_state_e state);
static ngx_int_t ngx_http_qbsync_batch_send(ngx_http_qbsync_batch_t *b);
static ngx_int_t ngx_http_qbsync_batch_body(ngx_http_qbsync_batch_t *b,
    ngx_str_t *body);
static ngx_int_t ngx_http_qbsync_batch_sent(ngx_http_qbsync_batch_t *b);
static ngx_int_t ngx_http_qbsync_batch_result(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p, qbsync_qbo_reply_t *reply);
static ngx_int_t ngx_http_qbsync_batch_call(ngx_http_qbsync_batch_t *b);
static void ngx_http_qbsync_batch_stop(ngx_http_qbsync_batch_t *b,
    const char *error, const char *message);
static ngx_int_t ngx_http_qbsync_batch_rejected(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p, qbsync_qbo_reply_t *reply);
static ngx_int_t ngx_http_qbsync_batch_fail(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p, const char *error,
    const char *message, size_t len);
static ngx_int_t ngx_http_qbsync_batch_suffix(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p);
static void ngx_http_qbsync_batch_remember(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p);
static ngx_uint_t ngx_http_qbsync_batch_next_phase(ngx_http_qbsync_batch_t *b);
static void ngx_http_qbsync_batch_event(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p);
static ngx_int_t ngx_http_qbsync_batch_answer(ngx_http_qbsync_batch_t *b);
static ngx_int_t ngx_http_qbsync_batch_summary(ngx_http_qbsync_batch_t *b);
static ngx_int_t ngx_http_qbsync_batch_output(ngx_http_qbsync_batch_t *b,
    u_char *data, size_t len, ngx_uint_t last);
static ngx_int_t ngx_http_qbsync_batch_new_group(ngx_http_qbsync_batch_t *b);
static void ngx_http_qbsync_batch_cleanup(void *data);


static ngx_str_t  ngx_http_qbsync_ndjson = ngx_string("application/x-ndjson");


ngx_int_t
ngx_http_qbsync_batch_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  name, value;

    if (r->method != NGX_HTTP_POST
        || r->headers_in.content_type == NULL
        || r->headers_in.content_type->value.len
           < ngx_http_qbsync_ndjson.len
        || ngx_strncasecmp(r->headers_in.content_type->value.data,
                           ngx_http_qbsync_ndjson.data,
                           ngx_http_qbsync_ndjson.len)
           != 0)
    {
        /* a refused body is read and dropped: the connection stays usable */
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (r->method != NGX_HTTP_POST) {
        ngx_str_set(&name, "Allow");
        ngx_str_set(&value, "POST");

        if (ngx_http_qbsync_set_header(r, &name, &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_qbsync_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "the batch location takes POST "
                                           "with one Stripe product per line");
    }

    if (r->headers_in.content_type == NULL
        || r->headers_in.content_type->value.len
           < ngx_http_qbsync_ndjson.len
        || ngx_strncasecmp(r->headers_in.content_type->value.data,
                           ngx_http_qbsync_ndjson.data,
                           ngx_http_qbsync_ndjson.len)
           != 0)
    {
        return ngx_http_qbsync_reply_error(r,
                                       NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                       "unsupported_media_type",
                                       "the batch location takes "
                                       "Content-Type: application/x-ndjson");
    }

    rc = ngx_http_read_client_request_body(r,
                                          ngx_http_qbsync_batch_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_qbsync_batch_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_pool_cleanup_t       *cln;
    ngx_http_qbsync_ctx_t    *ctx;
    ngx_http_qbsync_batch_t  *b;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ngx_http_finalize_request(r,
                                  ngx_http_qbsync_reply_error(r,
                                        NGX_HTTP_BAD_REQUEST, "empty_body",
                                        "the body holds no product"));
        return;
    }

    ctx = ngx_http_qbsync_create_ctx(r);
    b = ngx_pcalloc(r->pool, sizeof(ngx_http_qbsync_batch_t));

    if (ctx == NULL || b == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->batch = b;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    cln->handler = ngx_http_qbsync_batch_cleanup;
    cln->data = b;

    rc = ngx_http_qbsync_batch_start(r, b);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, (rc == NGX_DONE) ? b->refused : rc);
        return;
    }

    r->write_event_handler = ngx_http_qbsync_batch_resume;

    ngx_http_qbsync_batch_resume(r);
}


/*
 * The body is refused whole when it does not even start like NDJSON
 * (NGX_DONE, the answer sent); past that, the answer is 200 and every
 * line gets its own verdict.
 */

static ngx_int_t
ngx_http_qbsync_batch_start(ngx_http_request_t *r, ngx_http_qbsync_batch_t *b)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = ngx_http_get_module_loc_conf(r, ngx_http_qbsync_module);

    b->request = r;
    b->conf = qlcf;
    b->in = r->request_body->bufs;

    b->wait.handler = ngx_http_qbsync_call_wake;
    b->wait.data = r;
    b->wait.log = r->connection->log;

    qbsync_retry_seed(&b->random,
                      ((uint64_t) ngx_random() << 32)
                      ^ (uint64_t) ngx_random() ^ ((uint64_t) ngx_pid << 16)
                      ^ ngx_current_msec);

    ngx_http_qbsync_oauth_init(r, &b->oauth, qlcf->oauth, qlcf->shm_zone);

    b->window = ngx_palloc(r->pool, NGX_HTTP_QBSYNC_BATCH_LINE_MAX);
    if (b->window == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = b->window;
    b->last = b->window;

    if (ngx_http_qbsync_batch_fill(b) != NGX_OK
        || ngx_http_qbsync_batch_new_group(b) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (p = b->pos; p < b->last; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            break;
        }
    }

    if (p == b->last) {
        b->refused = ngx_http_qbsync_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                 "empty_body",
                                                 "the body holds no product");
        return NGX_DONE;
    }

    if (*p != '{') {
        b->refused = ngx_http_qbsync_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                                 "invalid_ndjson",
                                                 "the body is not NDJSON: "
                                                 "each line must be a Stripe "
                                                 "product object");
        return NGX_DONE;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_qbsync_ndjson;
    r->headers_out.content_type_len = ngx_http_qbsync_ndjson.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    /* a client that goes away ends the request, and the run with it */
    r->read_event_handler = ngx_http_test_reading;
    b->answering = 1;

    return NGX_OK;
}


/* Woken when a call ends, by a timer, or when the client may take more. */

static void
ngx_http_qbsync_batch_resume(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_http_qbsync_batch_t  *b;

    b = ngx_http_qbsync_get_ctx(r)->batch;

    rc = ngx_http_qbsync_batch_run(b);

    if (rc == NGX_AGAIN) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_qbsync_batch_run(ngx_http_qbsync_batch_t *b)
{
    ngx_int_t  rc;

    for ( ;; ) {

        switch (b->phase) {

        case NGX_HTTP_QBSYNC_BATCH_READ:
            rc = ngx_http_qbsync_batch_read(b);
            break;

        case NGX_HTTP_QBSYNC_BATCH_FIND_SKUS:
        case NGX_HTTP_QBSYNC_BATCH_FIND_NAMES:
        case NGX_HTTP_QBSYNC_BATCH_SEND:
            rc = ngx_http_qbsync_batch_exchange(b);
            break;

        case NGX_HTTP_QBSYNC_BATCH_ANSWER:
            rc = ngx_http_qbsync_batch_answer(b);
            break;

        case NGX_HTTP_QBSYNC_BATCH_SUMMARY:
            return ngx_http_qbsync_batch_summary(b);

        default: /* END */
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }
}


/*
 * Lines into the group until it has a batch's worth of products to look
 * up or write, or enough lines for one answer line.
 */

static ngx_int_t
ngx_http_qbsync_batch_read(ngx_http_qbsync_batch_t *b)
{
    ngx_int_t                         rc;
    ngx_str_t                         line;
    ngx_http_qbsync_batch_product_t  *p;

    while (b->pending < NGX_HTTP_QBSYNC_BATCH_OPS
           && b->group_lines < NGX_HTTP_QBSYNC_BATCH_LINES)
    {
        rc = ngx_http_qbsync_batch_next_line(b, &line);

        if (rc == NGX_DONE) {
            break;
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        b->lines++;
        b->group_lines++;

        if (rc == NGX_DECLINED) {
            p = ngx_array_push(&b->products);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(p, sizeof(ngx_http_qbsync_batch_product_t));
            p->line = b->line;

            if (ngx_http_qbsync_batch_fail(b, p, "invalid_product",
                                           "the line is longer than "
                                           "256 kB", 0)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (ngx_http_qbsync_batch_take(b, &line) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (b->group_lines == 0) {
        b->phase = NGX_HTTP_QBSYNC_BATCH_SUMMARY;
        return NGX_OK;
    }

    b->phase = ngx_http_qbsync_batch_next_phase(b);

    return NGX_OK;
}


/*
 * NGX_OK: the next line that is not blank; NGX_DONE: the end of the body;
 * NGX_DECLINED: a line too long to take, skipped.
 */

static ngx_int_t
ngx_http_qbsync_batch_next_line(ngx_http_qbsync_batch_t *b, ngx_str_t *line)
{
    u_char      *p, *nl;
    ngx_uint_t   skipping;

    skipping = 0;

    for ( ;; ) {
        nl = ngx_strlchr(b->pos, b->last, '\n');

        if (nl == NULL && !b->eof) {

            if (b->pos == b->window
                && b->last == b->window + NGX_HTTP_QBSYNC_BATCH_LINE_MAX)
            {
                /* a line longer than the window: dropped to its end */
                skipping = 1;
                b->last = b->window;
            }

            if (ngx_http_qbsync_batch_fill(b) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (nl == NULL) {
            if (b->pos == b->last) {
                if (skipping) {
                    b->line++;
                    return NGX_DECLINED;
                }

                return NGX_DONE;
            }

            nl = b->last;
        }

        b->line++;

        line->data = b->pos;
        line->len = nl - b->pos;

        b->pos = (nl < b->last) ? nl + 1 : nl;

        if (skipping) {
            return NGX_DECLINED;
        }

        for (p = line->data; p < line->data + line->len; p++) {
            if (*p != ' ' && *p != '\t' && *p != '\r') {
                return NGX_OK;
            }
        }
    }
}


/* More of the body behind what is left in the window. */

static ngx_int_t
ngx_http_qbsync_batch_fill(ngx_http_qbsync_batch_t *b)
{
    size_t      size, left;
    ssize_t     n;
    ngx_buf_t  *buf;

    left = b->last - b->pos;

    if (b->pos != b->window) {
        ngx_memmove(b->window, b->pos, left);
        b->pos = b->window;
        b->last = b->window + left;
    }

    while (b->in && b->last < b->window + NGX_HTTP_QBSYNC_BATCH_LINE_MAX) {
        buf = b->in->buf;
        size = b->window + NGX_HTTP_QBSYNC_BATCH_LINE_MAX - b->last;

        if (buf->in_file && !ngx_buf_in_memory(buf)) {
            size = ngx_min(size, (size_t) (buf->file_last - buf->file_pos
                                           - b->in_offset));

            n = ngx_read_file(buf->file, b->last, size,
                              buf->file_pos + b->in_offset);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            if ((size_t) n != size) {
                ngx_log_error(NGX_LOG_ERR, b->request->connection->log, 0,
                              "qbsync: the batch body file \"%V\" is shorter "
                              "than nginx wrote it", &buf->file->name);
                return NGX_ERROR;
            }

        } else {
            size = ngx_min(size, (size_t) (buf->last - buf->pos
                                           - b->in_offset));

            ngx_memcpy(b->last, buf->pos + b->in_offset, size);
        }

        b->last += size;
        b->in_offset += size;

        if (b->in_offset == (buf->in_file && !ngx_buf_in_memory(buf)
                             ? buf->file_last - buf->file_pos
                             : buf->last - buf->pos))
        {
            b->in = b->in->next;
            b->in_offset = 0;
        }
    }

    if (b->in == NULL) {
        b->eof = 1;
    }

    return NGX_OK;
}


/* One line, a product: into the group, or answered at once. */

static ngx_int_t
ngx_http_qbsync_batch_take(ngx_http_qbsync_batch_t *b, ngx_str_t *line)
{
    ngx_uint_t                        i;
    qbsync_product_t                  product;
    qbsync_stripe_rc_t                rc;
    ngx_http_qbsync_batch_product_t  *p, *others;
    char                              error[QBSYNC_STRIPE_ERROR_MAX];

    rc = qbsync_stripe_listed_product_parse(line->data, line->len,
                                            &b->allocator, &product, error,
                                            sizeof(error));
    if (rc == QBSYNC_STRIPE_NOMEM) {
        return NGX_ERROR;
    }

    p = ngx_array_push(&b->products);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(p, sizeof(ngx_http_qbsync_batch_product_t));
    p->line = b->line;
    p->product_id = ngx_http_qbsync_str(&product.id);

    if (rc != QBSYNC_STRIPE_OK) {
        return ngx_http_qbsync_batch_fail(b, p, "invalid_product", error,
                                          ngx_strlen(error));
    }

    if (product.deleted) {
        return ngx_http_qbsync_batch_fail(b, p, "invalid_product",
                                          "a deleted product: its "
                                          "product.deleted event deactivates "
                                          "the item", 0);
    }

    /* the last line naming a product wins */
    others = b->products.elts;

    for (i = 0; i < b->products.nelts - 1; i++) {
        if (others[i].state != NGX_HTTP_QBSYNC_BATCH_DONE
            && others[i].product_id.len == p->product_id.len
            && ngx_memcmp(others[i].product_id.data, p->product_id.data,
                          p->product_id.len)
               == 0)
        {
            others[i].state = NGX_HTTP_QBSYNC_BATCH_DONE;
            others[i].superseded = 1;
            b->pending--;
        }
    }

    return ngx_http_qbsync_batch_want(b, p, &product);
}


static ngx_int_t
ngx_http_qbsync_batch_want(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p, qbsync_product_t *product)
{
    u_char                      *buf;
    size_t                       len;
    ngx_str_t                    warning, plain;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = b->conf;

    buf = ngx_pnalloc(b->pool, QBSYNC_ITEM_NAME_SIZE);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    len = qbsync_item_name(product->name.data, product->name.len,
                           (char *) buf, QBSYNC_ITEM_NAME_SIZE);
    if (len == 0) {
        return ngx_http_qbsync_batch_fail(b, p, "invalid_product",
                                          "name: empty once QuickBooks' "
                                          "name rules apply", 0);
    }

    p->name.data = buf;
    p->name.len = len;

    buf = ngx_pnalloc(b->pool, QBSYNC_ITEM_DESCRIPTION_SIZE);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p->description.data = buf;
    p->description.len = qbsync_item_description(product->description.data,
                                                 product->description.len,
                                                 (char *) buf,
                                                 QBSYNC_ITEM_DESCRIPTION_SIZE);
    p->active = product->active;
    p->default_price = ngx_http_qbsync_str(&product->default_price);

    ngx_http_qbsync_unit_price(b->pool, qlcf, &p->default_price,
                               product->has_price ? &product->price : NULL,
                               &p->unit_price, &warning);

    p->mapping = ngx_palloc(b->pool, sizeof(ngx_http_qbsync_mapping_t));
    if (p->mapping == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_qbsync_record_get(qlcf->shm_zone, qlcf->quickbooks->ns,
                                   &p->product_id, p->mapping,
                                   sizeof(ngx_http_qbsync_mapping_t))
        != NGX_OK)
    {
        p->mapping = NULL;
    }

    if (p->mapping && p->mapping->suffixed) {
        /* a suffixed item keeps its suffix while its name stays */
        plain = p->name;

        if (ngx_http_qbsync_batch_suffix(b, p) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (p->name.len != p->mapping->name_len
            || ngx_memcmp(p->name.data, p->mapping->name, p->name.len) != 0)
        {
            p->name = plain;
            p->suffixed = 0;
        }
    }

    if (p->mapping
        && ngx_http_qbsync_mapping_unchanged(p->mapping, qlcf->item->digest,
                                             &p->name, &p->description,
                                             &p->unit_price, p->active))
    {
        p->action = NGX_HTTP_QBSYNC_ACTION_UNCHANGED;
        return NGX_OK;
    }

    if (p->mapping && p->mapping->item_id_len) {
        p->item_id.data = p->mapping->item_id;
        p->item_id.len = p->mapping->item_id_len;
        p->sync_token.data = p->mapping->sync_token;
        p->sync_token.len = p->mapping->sync_token_len;
        p->found_active = p->mapping->active;
        p->state = NGX_HTTP_QBSYNC_BATCH_WRITE;

    } else {
        p->state = NGX_HTTP_QBSYNC_BATCH_LOOKUP;
    }

    b->pending++;

    return NGX_OK;
}


/*
 * A phase's call to QuickBooks: made (and made again) as prepared once,
 * its answer read, its memory given back to the request's pool.
 */

static ngx_int_t
ngx_http_qbsync_batch_exchange(ngx_http_qbsync_batch_t *b)
{
    ngx_int_t                      rc;
    ngx_http_qbsync_batch_state_e  state;

    state = (b->phase == NGX_HTTP_QBSYNC_BATCH_FIND_SKUS)
            ? NGX_HTTP_QBSYNC_BATCH_LOOKUP : NGX_HTTP_QBSYNC_BATCH_NAME;

    if (!b->prepared) {
        rc = (b->phase == NGX_HTTP_QBSYNC_BATCH_SEND)
             ? ngx_http_qbsync_batch_send(b)
             : ngx_http_qbsync_batch_find(b, state);

        if (rc != NGX_OK) {
            return rc;
        }

        b->prepared = 1;
    }

    rc = ngx_http_qbsync_batch_call(b);

    if (rc == NGX_AGAIN || rc == NGX_ERROR) {
        return rc;
    }

    b->prepared = 0;

    /* NGX_DECLINED: the run stopped, the group fails with its reason */

    if (rc == NGX_DECLINED) {
        rc = NGX_OK;

    } else {
        rc = (b->phase == NGX_HTTP_QBSYNC_BATCH_SEND)
             ? ngx_http_qbsync_batch_sent(b)
             : ngx_http_qbsync_batch_found(b, state);
    }

    ngx_http_qbsync_call_free(b->request, &b->call);

    if (rc != NGX_OK) {
        return rc;
    }

    b->phase = ngx_http_qbsync_batch_next_phase(b);

    return NGX_OK;
}


/*
 * One query for the group's products of a state: by Sku for those whose
 * item is not known, by Name for those whose create met a taken name.
 */

static ngx_int_t
ngx_http_qbsync_batch_find(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_state_e state)
{
    size_t                            size;
    ngx_str_t                         query;
    ngx_uint_t                        i, n;
    qbsync_str_t                     *values;
    ngx_http_qbsync_batch_product_t  *p;

    p = b->products.elts;

    values = ngx_palloc(b->pool,
                        b->products.nelts * sizeof(qbsync_str_t));
    if (values == NULL) {
        return NGX_ERROR;
    }

    n = 0;
    size = sizeof("select * from Item where Name in () and Active in "
                  "(true, false) maxresults 1000") * 3;

    for (i = 0; i < b->products.nelts; i++) {
        if (p[i].state != state) {
            continue;
        }

        if (state == NGX_HTTP_QBSYNC_BATCH_LOOKUP) {
            values[n].data = (char *) p[i].product_id.data;
            values[n].len = p[i].product_id.len;

        } else {
            values[n].data = (char *) p[i].name.data;
            values[n].len = p[i].name.len;
        }

        size += 6 * values[n].len + sizeof(", ''") * 3;
        n++;
    }

    query.data = ngx_pnalloc(b->pool, size);
    if (query.data == NULL) {
        return NGX_ERROR;
    }

    query.len = qbsync_item_query_in((state == NGX_HTTP_QBSYNC_BATCH_LOOKUP)
                                     ? "Sku" : "Name",
                                     values, n, (char *) query.data,
                                     size);
    if (query.len == 0) {
        return NGX_ERROR;
    }

    if (ngx_http_qbsync_qbo_query(b->pool, b->conf->quickbooks, &b->call,
                                  &query)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    b->entries = 1;
    b->is_batch = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_batch_found(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_state_e state)
{
    ngx_uint_t                        i, j;
    qbsync_qbo_item_t                *item;
    qbsync_qbo_reply_t                reply;
    ngx_http_qbsync_batch_product_t  *p;

    switch (qbsync_qbo_reply_parse(b->call.response.data,
                                   b->call.response.len, &b->allocator,
                                   &reply))
    {
    case QBSYNC_QBO_OK:
        break;

    case QBSYNC_QBO_NOMEM:
        return NGX_ERROR;

    default:
        ngx_http_qbsync_batch_stop(b, "quickbooks_unavailable",
                                   "QuickBooks gave an unreadable answer");
        return NGX_OK;
    }

    p = b->products.elts;

    for (i = 0; i < b->products.nelts; i++) {
        if (p[i].state != state) {
            continue;
        }

        if (reply.fault) {
            if (ngx_http_qbsync_batch_rejected(b, &p[i], &reply) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        p[i].state = NGX_HTTP_QBSYNC_BATCH_WRITE;

        for (j = 0; j < reply.nitems; j++) {
            item = &reply.items[j];

            if (state == NGX_HTTP_QBSYNC_BATCH_LOOKUP
                ? item->sku.len != p[i].product_id.len
                  || ngx_memcmp(item->sku.data, p[i].product_id.data,
                                item->sku.len) != 0
                : item->name.len != p[i].name.len
                  || ngx_strncasecmp((u_char *) item->name.data,
                                     p[i].name.data, item->name.len) != 0)
            {
                continue;
            }

            /*
             * By name: an item without a Sku, or already this product's,
             * is adopted; another product's leaves this one a suffix.
             */
            if (state == NGX_HTTP_QBSYNC_BATCH_NAME
                && item->sku.len
                && (item->sku.len != p[i].product_id.len
                    || ngx_memcmp(item->sku.data, p[i].product_id.data,
                                  item->sku.len) != 0))
            {
                if (ngx_http_qbsync_batch_suffix(b, &p[i]) != NGX_OK) {
                    if (ngx_http_qbsync_batch_fail(b, &p[i],
                                                   "quickbooks_rejected",
                                                   "the name is taken by "
                                                   "another item, and so is "
                                                   "the name with the "
                                                   "product id", 0)
                        != NGX_OK)
                    {
                        return NGX_ERROR;
                    }
                }

                break;
            }

            p[i].item_id = ngx_http_qbsync_str(&item->id);
            p[i].sync_token = ngx_http_qbsync_str(&item->sync_token);
            p[i].found_active = item->active;
            break;
        }
    }

    return NGX_OK;
}


/* The group's writes, in one batch call. */

static ngx_int_t
ngx_http_qbsync_batch_send(ngx_http_qbsync_batch_t *b)
{
    u_char     *id;
    ngx_str_t   body, request_id;

    if (ngx_http_qbsync_batch_body(b, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    id = ngx_pnalloc(b->pool, QBSYNC_ITEM_BATCH_REQUEST_ID_MAX + 1);
    if (id == NULL) {
        return NGX_ERROR;
    }

    request_id.data = id;
    request_id.len = qbsync_item_batch_request_id(body.data, body.len,
                                                  (char *) id);
    if (request_id.len == 0) {
        return NGX_ERROR;
    }

    if (ngx_http_qbsync_qbo_batch(b->pool, b->conf->quickbooks, &b->call,
                                  &body, &request_id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    b->is_batch = 1;

    return NGX_OK;
}


/*
 * {"BatchItemRequest": [{"bId", "operation", "Item"}, ...]}: a bId is the
 * product's place in the group, a few digits, within the 10 characters
 * QuickBooks allows with a requestid.
 */

static ngx_int_t
ngx_http_qbsync_batch_body(ngx_http_qbsync_batch_t *b, ngx_str_t *body)
{
    u_char                           *buf, *pos, *end;
    size_t                            size, len;
    ngx_uint_t                        i;
    qbsync_item_t                     item;
    ngx_http_qbsync_item_conf_t      *conf;
    ngx_http_qbsync_batch_product_t  *p;

    conf = b->conf->item;
    p = b->products.elts;

    size = sizeof("{\"BatchItemRequest\":[]}");
    b->entries = 0;

    for (i = 0; i < b->products.nelts; i++) {
        if (p[i].state == NGX_HTTP_QBSYNC_BATCH_WRITE) {
            size += 1200 + 6 * (p[i].name.len + p[i].description.len
                                + p[i].product_id.len);
            b->entries++;
        }
    }

    buf = ngx_pnalloc(b->pool, size);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    pos = ngx_cpymem(buf, "{\"BatchItemRequest\":[", 21);
    end = buf + size;

    for (i = 0; i < b->products.nelts; i++) {
        if (p[i].state != NGX_HTTP_QBSYNC_BATCH_WRITE) {
            continue;
        }

        ngx_memzero(&item, sizeof(qbsync_item_t));

        item.name = (char *) p[i].name.data;
        item.name_len = p[i].name.len;
        item.sku = (char *) p[i].product_id.data;
        item.sku_len = p[i].product_id.len;
        item.active = p[i].active;
        item.description = (char *) p[i].description.data;
        item.description_len = p[i].description.len;
        item.type = (char *) conf->type.data;
        item.income_account = (char *) conf->income_account.data;
        item.expense_account = (char *) conf->expense_account.data;

        if (p[i].unit_price.len) {
            item.unit_price = (char *) p[i].unit_price.data;
            item.unit_price_len = p[i].unit_price.len;
        }

        pos = ngx_slprintf(pos, end, "%s{\"bId\":\"%ui\",\"operation\":\"%s\","
                           "\"Item\":", (pos[-1] == '[') ? "" : ",", i,
                           p[i].item_id.len ? "update" : "create");

        len = p[i].item_id.len
              ? qbsync_item_update_body(&item, (char *) p[i].item_id.data,
                                        p[i].item_id.len,
                                        (char *) p[i].sync_token.data,
                                        p[i].sync_token.len, pos, end - pos)
              : qbsync_item_create_body(&item, pos, end - pos);

        if (len == 0 || end - (pos + len) < 4) {
            return NGX_ERROR;
        }

        pos += len;
        *pos++ = '}';
    }

    pos = ngx_cpymem(pos, "]}", 2);

    body->data = buf;
    body->len = pos - buf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_batch_sent(ngx_http_qbsync_batch_t *b)
{
    ngx_int_t                         bid;
    ngx_uint_t                        i;
    qbsync_qbo_rc_t                   rc;
    qbsync_qbo_reply_t                reply;
    qbsync_qbo_batch_t                batch;
    qbsync_qbo_batch_item_t          *answer;
    ngx_http_qbsync_batch_product_t  *p;

    p = b->products.elts;

    rc = (b->call.status == NGX_HTTP_OK)
         ? qbsync_qbo_batch_parse(b->call.response.data,
                                  b->call.response.len, &b->allocator,
                                  &batch)
         : QBSYNC_QBO_UNPARSABLE;

    if (rc == QBSYNC_QBO_NOMEM) {
        return NGX_ERROR;
    }

    if (rc != QBSYNC_QBO_OK) {
        /* the whole batch refused: each of its writes says why */

        rc = qbsync_qbo_reply_parse(b->call.response.data,
                                    b->call.response.len, &b->allocator,
                                    &reply);

        if (rc == QBSYNC_QBO_NOMEM) {
            return NGX_ERROR;
        }

        if (rc != QBSYNC_QBO_OK || !reply.fault) {
            ngx_http_qbsync_batch_stop(b, "quickbooks_unavailable",
                                       "QuickBooks gave an unreadable batch "
                                       "answer");
            return NGX_OK;
        }

        for (i = 0; i < b->products.nelts; i++) {
            if (p[i].state == NGX_HTTP_QBSYNC_BATCH_WRITE
                && ngx_http_qbsync_batch_rejected(b, &p[i], &reply) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    for (i = 0; i < batch.nitems; i++) {
        answer = &batch.items[i];

        bid = ngx_atoi((u_char *) answer->bid.data, answer->bid.len);

        if (bid == NGX_ERROR || (ngx_uint_t) bid >= b->products.nelts
            || p[bid].state != NGX_HTTP_QBSYNC_BATCH_WRITE)
        {
            continue;
        }

        if (ngx_http_qbsync_batch_result(b, &p[bid], &answer->reply)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < b->products.nelts; i++) {
        if (p[i].state == NGX_HTTP_QBSYNC_BATCH_WRITE
            && ngx_http_qbsync_batch_fail(b, &p[i], "quickbooks_unavailable",
                                          "QuickBooks' batch answer has "
                                          "nothing for this product", 0)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * One write's answer.  The faults a later batch can fix: a taken name
 * (6240: whose is it?), a stale SyncToken (5010: look the item up again)
 * and an item gone from QuickBooks (610: create it again); each once.
 */

static ngx_int_t
ngx_http_qbsync_batch_result(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p, qbsync_qbo_reply_t *reply)
{
    if (reply->fault) {

        switch (reply->code) {

        case 6240:
            if (p->item_id.len == 0 && !p->tried_name) {
                p->tried_name = 1;
                p->state = NGX_HTTP_QBSYNC_BATCH_NAME;
                return NGX_OK;
            }

            if (p->item_id.len && ngx_http_qbsync_batch_suffix(b, p) == NGX_OK)
            {
                return NGX_OK;
            }

            break;

        case 5010:
            if (p->item_id.len && !p->tried_stale) {
                p->tried_stale = 1;
                p->state = NGX_HTTP_QBSYNC_BATCH_LOOKUP;
                return NGX_OK;
            }

            break;

        case 610:
            if (p->item_id.len && !p->tried_missing) {
                p->tried_missing = 1;
                ngx_str_null(&p->item_id);
                p->state = NGX_HTTP_QBSYNC_BATCH_LOOKUP;
                return NGX_OK;
            }

            break;
        }

        return ngx_http_qbsync_batch_rejected(b, p, reply);
    }

    if (reply->nitems == 0) {
        return ngx_http_qbsync_batch_fail(b, p, "quickbooks_unavailable",
                                          "QuickBooks answered without the "
                                          "item", 0);
    }

    if (p->item_id.len == 0) {
        p->action = NGX_HTTP_QBSYNC_ACTION_CREATED;

    } else if (p->found_active && !p->active) {
        p->action = NGX_HTTP_QBSYNC_ACTION_DEACTIVATED;

    } else if (!p->found_active && p->active) {
        p->action = NGX_HTTP_QBSYNC_ACTION_REACTIVATED;

    } else {
        p->action = NGX_HTTP_QBSYNC_ACTION_UPDATED;
    }

    p->item_id = ngx_http_qbsync_str(&reply->items[0].id);
    p->sync_token = ngx_http_qbsync_str(&reply->items[0].sync_token);
    p->state = NGX_HTTP_QBSYNC_BATCH_DONE;
    b->pending--;

    ngx_http_qbsync_batch_remember(b, p);

    return NGX_OK;
}


/*
 * A call that failed for a reason that may pass goes again as qbsync_retry
 * says, each try counted from the call's start.  NGX_OK: an answer of
 * 200 or 400 to read; NGX_DECLINED: the run stops (b->stop_error says
 * why); NGX_AGAIN: waiting.
 */

static ngx_int_t
ngx_http_qbsync_batch_call(ngx_http_qbsync_batch_t *b)
{
    uint64_t                     delay;
    ngx_int_t                    rc;
    ngx_uint_t                   status;
    ngx_msec_t                   wait;
    ngx_http_request_t          *r;
    qbsync_retry_policy_t       *policy;
    ngx_http_qbsync_loc_conf_t  *conf;

    r = b->request;
    conf = b->conf;
    policy = conf->retry;

    if (!b->calling) {

        if (b->tries == 0 && !b->retried_auth) {
            b->call_started = ngx_current_msec;
        }

        if (!b->pace.leased) {
            rc = ngx_http_qbsync_limiter_acquire(r, conf->shm_zone,
                                                 conf->quickbooks->ns,
                                                 conf->limits, b->entries,
                                                 b->is_batch,
                                                 NGX_HTTP_QBSYNC_BATCH_PACE_MAX,
                                                 &b->pace, &wait);
            switch (rc) {

            case NGX_OK:
                break;

            case NGX_AGAIN:
                ngx_add_timer(&b->wait, wait);
                return NGX_AGAIN;

            case NGX_DECLINED:
                ngx_http_qbsync_batch_stop(b, "quickbooks_rate_limited",
                                           "QuickBooks' rate limit leaves "
                                           "no room for the batch now; "
                                           "send the rest later");
                return NGX_DECLINED;

            default:
                ngx_http_qbsync_batch_stop(b, "zone_full",
                                           "no room in the zone to pace "
                                           "the calls to QuickBooks");
                return NGX_DECLINED;
            }
        }

        rc = ngx_http_qbsync_oauth_token(r, &b->oauth);

        switch (rc) {

        case NGX_OK:
            break;

        case NGX_AGAIN:
            return NGX_AGAIN;

        case NGX_DECLINED:
            ngx_http_qbsync_batch_stop(b, "quickbooks_reauthorization_"
                                       "required",
                                       "Intuit refused the refresh token; "
                                       "the QuickBooks connection must be "
                                       "re-authorised");
            return NGX_DECLINED;

        default:
            ngx_http_qbsync_batch_stop(b, "quickbooks_unavailable",
                                       "no QuickBooks access token could be "
                                       "had; retry later");
            return NGX_DECLINED;
        }

        b->call.authorization = b->oauth.authorization;

        if (ngx_http_qbsync_call_start(r, &b->call) != NGX_OK) {
            return NGX_ERROR;
        }

        b->tries++;
        b->calling = 1;
        return NGX_AGAIN;
    }

    if (!b->call.done) {
        return NGX_AGAIN;
    }

    b->calling = 0;
    status = b->call.status;

    ngx_http_qbsync_limiter_done(conf->shm_zone, conf->quickbooks->ns,
                                 conf->limits, &b->pace,
                                 b->call.answered ? status : 0,
                                 b->call.retry_after);

    if (status == 0 || status == NGX_HTTP_TOO_MANY_REQUESTS
        || status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qbsync: QuickBooks %s %ui for a batch call, "
                      "intuit_tid \"%V\"",
                      b->call.answered ? "answered" : "could not be reached:",
                      status, &b->call.intuit_tid);

        ngx_http_qbsync_call_free(r, &b->call);

        if (ngx_http_qbsync_call_retry(&b->call, policy,
                                       conf->limits->cooldown / 1000,
                                       b->tries, b->previous_delay,
                                       &b->random,
                                       ngx_current_msec - b->call_started,
                                       &delay)
            == NGX_OK)
        {
            b->previous_delay = delay;
            ngx_http_qbsync_count_retry(conf->shm_zone);
            ngx_add_timer(&b->wait, (ngx_msec_t) delay);
            return NGX_AGAIN;
        }

        b->tries = 0;
        b->previous_delay = 0;

        ngx_http_qbsync_batch_stop(b, "quickbooks_unavailable",
                                   "QuickBooks could not take the batch "
                                   "now; send the rest later");
        return NGX_DECLINED;
    }

    b->tries = 0;
    b->previous_delay = 0;

    if (status == NGX_HTTP_UNAUTHORIZED && !b->retried_auth) {
        b->retried_auth = 1;
        ngx_http_qbsync_oauth_rejected(r, &b->oauth);
        ngx_http_qbsync_call_free(r, &b->call);
        return ngx_http_qbsync_batch_call(b);
    }

    b->retried_auth = 0;

    if (status != NGX_HTTP_OK && status != NGX_HTTP_BAD_REQUEST) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "qbsync: QuickBooks answered %ui for a batch call, "
                      "intuit_tid \"%V\"", status, &b->call.intuit_tid);

        ngx_http_qbsync_batch_stop(b, "quickbooks_unavailable",
                                   "QuickBooks could not take the batch "
                                   "now; send the rest later");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* Nothing more is sent to QuickBooks: the group fails, then the summary. */

static void
ngx_http_qbsync_batch_stop(ngx_http_qbsync_batch_t *b, const char *error,
    const char *message)
{
    ngx_uint_t                        i;
    ngx_http_qbsync_batch_product_t  *p;

    b->stop_error = error;
    b->stop_message = message;

    p = b->products.elts;

    for (i = 0; i < b->products.nelts; i++) {
        if (p[i].state != NGX_HTTP_QBSYNC_BATCH_DONE) {
            (void) ngx_http_qbsync_batch_fail(b, &p[i], error, message, 0);
        }
    }
}


/* QuickBooks' own words, for the operator: code, message, detail. */

static ngx_int_t
ngx_http_qbsync_batch_rejected(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p, qbsync_qbo_reply_t *reply)
{
    u_char  *buf, *last;
    size_t   size;

    size = sizeof("QuickBooks fault : ") + NGX_INT_T_LEN
           + reply->message.len + sizeof(": ") + reply->detail.len;

    buf = ngx_pnalloc(b->pool, size);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    last = ngx_slprintf(buf, buf + size, "QuickBooks fault %l: %*s",
                        reply->code, reply->message.len, reply->message.data);

    if (reply->detail.len) {
        last = ngx_slprintf(last, buf + size, ": %*s", reply->detail.len,
                            reply->detail.data);
    }

    return ngx_http_qbsync_batch_fail(b, p, "quickbooks_rejected",
                                      (char *) buf, last - buf);
}


/* len 0: message is NUL-terminated (and may be a caller's buffer) */

static ngx_int_t
ngx_http_qbsync_batch_fail(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p, const char *error,
    const char *message, size_t len)
{
    if (len == 0) {
        len = ngx_strlen(message);
    }

    if (p->state != NGX_HTTP_QBSYNC_BATCH_DONE) {
        p->state = NGX_HTTP_QBSYNC_BATCH_DONE;
        b->pending--;
    }

    p->error = error;
    p->message.data = ngx_pnalloc(b->pool, len);
    if (p->message.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p->message.data, message, len);
    p->message.len = len;

    return NGX_OK;
}


/* "<name> (<product id>)", once; NGX_DECLINED when it cannot be had */

static ngx_int_t
ngx_http_qbsync_batch_suffix(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p)
{
    u_char  *buf;
    size_t   len;

    if (p->suffixed) {
        return NGX_DECLINED;
    }

    buf = ngx_pnalloc(b->pool, QBSYNC_ITEM_NAME_SIZE);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    len = qbsync_item_name_with_suffix((char *) p->name.data, p->name.len,
                                       (char *) p->product_id.data,
                                       p->product_id.len, (char *) buf,
                                       QBSYNC_ITEM_NAME_SIZE);
    if (len == 0) {
        return NGX_DECLINED;
    }

    p->name.data = buf;
    p->name.len = len;
    p->suffixed = 1;

    return NGX_OK;
}


/* What the zone keeps, so that a rerun of the same line costs nothing. */

static void
ngx_http_qbsync_batch_remember(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p)
{
    ngx_http_qbsync_mapping_t    m;
    ngx_http_qbsync_loc_conf_t  *qlcf;

    qlcf = b->conf;

    if (p->mapping) {
        m = *p->mapping;

    } else {
        ngx_memzero(&m, sizeof(ngx_http_qbsync_mapping_t));
    }

    if (ngx_http_qbsync_mapping_item(&m, &p->item_id, &p->sync_token,
                                     &p->name, p->active)
        != NGX_OK)
    {
        return;
    }

    ngx_http_qbsync_mapping_content(&m, qlcf->item->digest, &p->description,
                                    p->suffixed);
    ngx_http_qbsync_mapping_unit_price(&m, &p->unit_price);

    if (p->default_price.len <= sizeof(m.default_price)) {
        m.default_price_len = (u_char) p->default_price.len;
        ngx_memcpy(m.default_price, p->default_price.data,
                   p->default_price.len);
    }

    ngx_http_qbsync_mapping_store(qlcf, &p->product_id, &m,
                                  b->request->connection->log);
}


/* Names first (their creates wait), then look-ups, then writes. */

static ngx_uint_t
ngx_http_qbsync_batch_next_phase(ngx_http_qbsync_batch_t *b)
{
    ngx_uint_t                        i, names, skus, writes;
    ngx_http_qbsync_batch_product_t  *p;

    if (b->stop_error) {
        return NGX_HTTP_QBSYNC_BATCH_ANSWER;
    }

    names = 0;
    skus = 0;
    writes = 0;
    p = b->products.elts;

    for (i = 0; i < b->products.nelts; i++) {
        switch (p[i].state) {

        case NGX_HTTP_QBSYNC_BATCH_NAME:
            names++;
            break;

        case NGX_HTTP_QBSYNC_BATCH_LOOKUP:
            skus++;
            break;

        case NGX_HTTP_QBSYNC_BATCH_WRITE:
            writes++;
            break;

        default:
            break;
        }
    }

    return names ? NGX_HTTP_QBSYNC_BATCH_FIND_NAMES
           : skus ? NGX_HTTP_QBSYNC_BATCH_FIND_SKUS
           : writes ? NGX_HTTP_QBSYNC_BATCH_SEND
           : NGX_HTTP_QBSYNC_BATCH_ANSWER;
}


/*
 * A product the batch wrote, or could not, into the event store; one that
 * did not change is left out, so that a rerun keeps the ring's history.
 */

static void
ngx_http_qbsync_batch_event(ngx_http_qbsync_batch_t *b,
    ngx_http_qbsync_batch_product_t *p)
{
    const char              *word;
    qbsync_event_kind_e      kind;
    qbsync_events_record_t   record;

    if (p->error) {
        word = p->error;
        kind = QBSYNC_EVENTS_SYNC_FAILED;

    } else {
        switch (p->action) {

        case NGX_HTTP_QBSYNC_ACTION_CREATED:
            kind = QBSYNC_EVENTS_ITEM_CREATED;
            break;

        case NGX_HTTP_QBSYNC_ACTION_DEACTIVATED:
            kind = QBSYNC_EVENTS_ITEM_DEACTIVATED;
            break;

        case NGX_HTTP_QBSYNC_ACTION_UPDATED:
        case NGX_HTTP_QBSYNC_ACTION_REACTIVATED:
            kind = QBSYNC_EVENTS_ITEM_UPDATED;
            break;

        default:
            return;
        }

        word = ngx_http_qbsync_action_name(p->action);
    }

    ngx_http_qbsync_event_init(b->request, &record, kind, word,
                               ngx_strlen(word));

    qbsync_events_set(&record.product, (char *) p->product_id.data,
                      p->product_id.len);
    qbsync_events_set(&record.qb_item_id, (char *) p->item_id.data,
                      p->item_id.len);

    if (p->error) {
        qbsync_events_set(&record.error, p->error, ngx_strlen(p->error));
    }

    ngx_http_qbsync_event_add(b->request, b->conf->shm_zone, &record);
}


/* The group's line, and a fresh group. */

static ngx_int_t
ngx_http_qbsync_batch_answer(ngx_http_qbsync_batch_t *b)
{
    u_char                           *buf;
    size_t                            size, len;
    ngx_int_t                         rc;
    ngx_uint_t                        i, n;
    qbsync_json_counts_t              counts;
    qbsync_json_line_error_t         *errors;
    ngx_http_qbsync_batch_product_t  *p;

    ngx_memzero(&counts, sizeof(qbsync_json_counts_t));

    p = b->products.elts;

    errors = ngx_palloc(b->pool,
                        b->products.nelts * sizeof(qbsync_json_line_error_t));
    if (errors == NULL) {
        return NGX_ERROR;
    }

    n = 0;
    size = 256;

    for (i = 0; i < b->products.nelts; i++) {

        if (p[i].superseded) {
            continue;
        }

        ngx_http_qbsync_batch_event(b, &p[i]);

        if (p[i].error) {
            counts.failed++;

            errors[n].line = p[i].line;
            errors[n].product = p[i].product_id.len
                                ? (char *) p[i].product_id.data : NULL;
            errors[n].product_len = p[i].product_id.len;
            errors[n].error = p[i].error;
            errors[n].message = (char *) p[i].message.data;
            errors[n].message_len = p[i].message.len;

            size += 128 + 6 * (p[i].product_id.len + p[i].message.len);
            n++;
            continue;
        }

        switch (p[i].action) {

        case NGX_HTTP_QBSYNC_ACTION_CREATED:
            counts.created++;
            break;

        case NGX_HTTP_QBSYNC_ACTION_UNCHANGED:
            counts.unchanged++;
            break;

        default:
            counts.updated++;
            break;
        }
    }

    b->total.created += counts.created;
    b->total.updated += counts.updated;
    b->total.unchanged += counts.unchanged;
    b->total.failed += counts.failed;

    /* the line outlives the group's pool while the client reads slowly */
    buf = ngx_pnalloc(b->request->pool, size);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    len = qbsync_json_batch_line(buf, size, ++b->group, &counts, errors, n);
    if (len == 0) {
        return NGX_ERROR;
    }

    rc = ngx_http_qbsync_batch_output(b, buf, len, 0);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (b->stop_error) {
        b->phase = NGX_HTTP_QBSYNC_BATCH_SUMMARY;
        return NGX_OK;
    }

    if (ngx_http_qbsync_batch_new_group(b) != NGX_OK) {
        return NGX_ERROR;
    }

    b->phase = NGX_HTTP_QBSYNC_BATCH_READ;

    return NGX_OK;
}


static ngx_int_t
ngx_http_qbsync_batch_summary(ngx_http_qbsync_batch_t *b)
{
    u_char  *buf;
    size_t   len;

    b->phase = NGX_HTTP_QBSYNC_BATCH_END;

    buf = ngx_pnalloc(b->request->pool, NGX_HTTP_QBSYNC_BATCH_SUMMARY_MAX);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    len = qbsync_json_batch_summary(buf, NGX_HTTP_QBSYNC_BATCH_SUMMARY_MAX,
                                    b->lines, &b->total, b->stop_error,
                                    b->stop_message);
    if (len == 0) {
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, b->request->connection->log, 0,
                  "qbsync: batch of %ui lines: %uz created, %uz updated, "
                  "%uz unchanged, %uz failed%s%s", b->lines,
                  b->total.created, b->total.updated, b->total.unchanged,
                  b->total.failed, b->stop_error ? "; stopped: " : "",
                  b->stop_error ? b->stop_error : "");

    return ngx_http_qbsync_batch_output(b, buf, len, 1);
}


static ngx_int_t
ngx_http_qbsync_batch_output(ngx_http_qbsync_batch_t *b, u_char *data,
    size_t len, ngx_uint_t last)
{
    ngx_buf_t           *buf;
    ngx_chain_t          out;
    ngx_http_request_t  *r;

    r = b->request;

    buf = ngx_calloc_buf(r->pool);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    buf->pos = data;
    buf->last = data + len;
    buf->memory = 1;
    buf->flush = 1;
    buf->last_buf = last;
    buf->last_in_chain = 1;

    out.buf = buf;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_qbsync_batch_new_group(ngx_http_qbsync_batch_t *b)
{
    if (b->pool) {
        ngx_destroy_pool(b->pool);
    }

    b->pool = ngx_create_pool(NGX_HTTP_QBSYNC_BATCH_GROUP_POOL,
                              b->request->connection->log);
    if (b->pool == NULL) {
        return NGX_ERROR;
    }

    b->allocator.alloc = ngx_http_qbsync_pool_alloc;
    b->allocator.ctx = b->pool;

    b->pending = 0;
    b->group_lines = 0;

    return ngx_array_init(&b->products, b->pool, NGX_HTTP_QBSYNC_BATCH_OPS,
                          sizeof(ngx_http_qbsync_batch_product_t));
}


/* The end of the request, done or cut short by the client. */

static void
ngx_http_qbsync_batch_cleanup(void *data)
{
    ngx_http_qbsync_batch_t *b = data;

    if (b->request == NULL) {
        return;
    }

    ngx_http_qbsync_oauth_finish(b->request, &b->oauth);

    if (b->wait.timer_set) {
        ngx_del_timer(&b->wait);
    }

    ngx_http_qbsync_limiter_done(b->conf->shm_zone, b->conf->quickbooks->ns,
                                 b->conf->limits, &b->pace, 0, 0);

    if (b->answering && b->phase != NGX_HTTP_QBSYNC_BATCH_END) {
        ngx_log_error(NGX_LOG_INFO, b->request->connection->log, 0,
                      "qbsync: batch stopped at line %ui: the client went "
                      "away", b->line);
    }

    if (b->pool) {
        ngx_destroy_pool(b->pool);
        b->pool = NULL;
    }
}


