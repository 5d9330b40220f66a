
/*
 * Copyright (C) qbsync authors
 */


#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qbsync_cli.h"
#include "qbsync_cli_batch.h"
#include "qbsync_cli_progress.h"
#include "qbsync_cli_stripe.h"


#define QBSYNC_CLI_STRIPE_URL      "https://api.stripe.com"

/* Stripe's largest page */
#define QBSYNC_CLI_STRIPE_LIMIT    "100"

/* the bound: the batch location is fed at most this per request */
#define QBSYNC_CLI_BATCH_SIZE      2000
#define QBSYNC_CLI_BATCH_SIZE_MAX  1000000

/*
 * Tries of one page: waits of 1, 2, 4, 8 and 16 s between them when
 * Stripe gives no Retry-After, about half a minute in all; a Retry-After
 * longer than the cap is cut to it, so that the tool never looks hung.
 */
#define QBSYNC_CLI_STRIPE_TRIES    6
#define QBSYNC_CLI_RETRY_AFTER_MAX 120

/*
 * Pages are fetched ahead of the batch location only this far: the
 * location writes to QuickBooks at its rate limit, far slower than
 * Stripe lists, and the catalog is never held whole.
 */
#define QBSYNC_CLI_QUEUE_MAX       (4 * 1024 * 1024)

#define QBSYNC_CLI_ERROR_BODY_MAX  16384
/* the base URL, the path and the query, with an id escaped three times */
#define QBSYNC_CLI_URL_MAX         (4 * QBSYNC_CLI_STRIPE_ID_MAX + 1024)
#define QBSYNC_CLI_POLL_MS         100


typedef struct {
    /* the options */
    char                 *stripe_url;     /* no trailing "/" */
    const char           *to;
    char                 *key;
    size_t                key_len;
    size_t                batch_size;
    struct curl_slist    *to_headers;

    CURLM                *multi;

    /* the page being read from Stripe */
    CURL                 *get;
    char                  get_errbuf[CURL_ERROR_SIZE];
    char                  get_url[QBSYNC_CLI_URL_MAX];
    long                  get_status;
    qbsync_cli_page_t     page;
    qbsync_cli_buf_t      get_error;
    unsigned              tries;
    double                retry_at;
    size_t                pages;
    size_t                fetched;
    char                  after[QBSYNC_CLI_STRIPE_ID_MAX];

    /* the products fetched and not yet sent, in Stripe's order */
    qbsync_cli_lines_t    queue;

    /* the request to the batch location */
    CURL                 *post;
    char                  post_errbuf[CURL_ERROR_SIZE];
    long                  post_status;
    qbsync_cli_answer_t   answer;
    qbsync_cli_buf_t      post_error;
    size_t                request;        /* the last one started */
    size_t                request_sent;
    size_t                sent;

    qbsync_cli_totals_t   totals;         /* summaries of finished requests */
    int                   rc;             /* the first failure's exit code */

    unsigned              get_running:1;
    unsigned              fetch_done:1;
    unsigned              post_running:1;
    unsigned              post_paused:1;
    unsigned              stop:1;
    unsigned              help:1;
} qbsync_cli_backfill_t;


static int qbsync_cli_backfill_options(qbsync_cli_backfill_t *bf, int argc,
    char **argv);
static int qbsync_cli_backfill_setup(qbsync_cli_backfill_t *bf);
static int qbsync_cli_backfill_run(qbsync_cli_backfill_t *bf);
static int qbsync_cli_backfill_get_start(qbsync_cli_backfill_t *bf);
static void qbsync_cli_backfill_get_done(qbsync_cli_backfill_t *bf,
    CURLcode code);
static void qbsync_cli_backfill_get_retry(qbsync_cli_backfill_t *bf,
    const char *why);
static void qbsync_cli_backfill_commit(qbsync_cli_backfill_t *bf);
static int qbsync_cli_backfill_post_start(qbsync_cli_backfill_t *bf);
static void qbsync_cli_backfill_post_done(qbsync_cli_backfill_t *bf,
    CURLcode code);
static int qbsync_cli_backfill_request_full(qbsync_cli_backfill_t *bf);
static int qbsync_cli_backfill_has_data(qbsync_cli_backfill_t *bf);
static size_t qbsync_cli_backfill_get_write(char *data, size_t size,
    size_t nmemb, void *ctx);
static int qbsync_cli_backfill_ok(CURL *curl, long *status);
static size_t qbsync_cli_backfill_error_body(qbsync_cli_buf_t *error,
    const char *data, size_t len);
static size_t qbsync_cli_backfill_post_read(char *buffer, size_t size,
    size_t nitems, void *ctx);
static size_t qbsync_cli_backfill_post_write(char *data, size_t size,
    size_t nmemb, void *ctx);
static void qbsync_cli_backfill_fail(qbsync_cli_backfill_t *bf, int rc);
static void qbsync_cli_backfill_stop(qbsync_cli_backfill_t *bf, int rc);
static void qbsync_cli_backfill_progress(qbsync_cli_backfill_t *bf,
    int force);
static void qbsync_cli_backfill_free(qbsync_cli_backfill_t *bf);


static const char  qbsync_cli_backfill_help[] =
    "usage: qbsync backfill --stripe-key-file FILE --to URL\n"
    "                       [--stripe-url URL] [--header 'Name: value']...\n"
    "                       [--batch-size N]\n"
    "\n"
    "Reads every product of the Stripe account, active and archived\n"
    "(GET /v1/products, 100 a page, default_price expanded), and streams\n"
    "them as NDJSON into the qbsync_batch location at URL, at most N\n"
    "products a request.  Prints each failed product on stdout as the\n"
    "location answers, progress on stderr (a bar on a terminal), and a\n"
    "summary line on stdout at the end.\n"
    "\n"
    "options:\n"
    "  --stripe-key-file FILE  the Stripe secret or restricted key (read\n"
    "                          access to products is enough); first line\n"
    "                          that is not blank or a # comment\n"
    "  --to URL                the qbsync_batch location\n"
    "  --stripe-url URL        Stripe's API (default " QBSYNC_CLI_STRIPE_URL
    ")\n"
    "  --header 'N: v'         a header for the batch location, such as its\n"
    "                          credentials (repeatable); --header @FILE reads\n"
    "                          them from FILE, one a line\n"
    "  --batch-size N          products a request (default 2000)\n"
    "  --help                  this help\n"
    "\n"
    "Stripe's 429 and 5xx are tried again (Retry-After honoured, up to 120 s,\n"
    "else 1, 2, 4, 8, 16 s); the first request that the batch location does\n"
    "not answer 200 stops the backfill.  A rerun writes only what is left.\n"
    "\n"
    QBSYNC_CLI_EXIT_HELP;


int
qbsync_cli_backfill(int argc, char **argv)
{
    int                    rc;
    qbsync_cli_backfill_t  bf;

    memset(&bf, 0, sizeof(qbsync_cli_backfill_t));

    rc = qbsync_cli_backfill_options(&bf, argc, argv);

    if (rc == QBSYNC_EXIT_OK && !bf.help) {
        rc = qbsync_cli_backfill_setup(&bf);

        if (rc == QBSYNC_EXIT_OK) {
            rc = qbsync_cli_backfill_run(&bf);
        }
    }

    qbsync_cli_backfill_free(&bf);

    return rc;
}


static int
qbsync_cli_backfill_options(qbsync_cli_backfill_t *bf, int argc,
    char **argv)
{
    int          opt, rc;
    size_t       len;
    const char  *key_file, *stripe_url;

    static const struct option  options[] = {
        { "stripe-key-file", required_argument, NULL, 'k' },
        { "stripe-url",      required_argument, NULL, 's' },
        { "to",              required_argument, NULL, 't' },
        { "header",          required_argument, NULL, 'H' },
        { "batch-size",      required_argument, NULL, 'b' },
        { "help",            no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    key_file = NULL;
    stripe_url = QBSYNC_CLI_STRIPE_URL;
    bf->batch_size = QBSYNC_CLI_BATCH_SIZE;

    while ((opt = qbsync_cli_getopt("backfill", argc, argv, options))
           != -1)
    {

        switch (opt) {

        case 'k':
            key_file = optarg;
            break;

        case 's':
            stripe_url = optarg;
            break;

        case 't':
            bf->to = optarg;
            break;

        case 'H':
            rc = qbsync_cli_header_add(&bf->to_headers, optarg);
            if (rc != QBSYNC_EXIT_OK) {
                return rc;
            }

            break;

        case 'b':
            if (qbsync_cli_parse_size(optarg, 1, QBSYNC_CLI_BATCH_SIZE_MAX,
                                      &bf->batch_size)
                != 0)
            {
                return qbsync_cli_usage("backfill", "--batch-size must be a "
                                        "number from 1 to %d",
                                        QBSYNC_CLI_BATCH_SIZE_MAX);
            }

            break;

        case 'h':
            fputs(qbsync_cli_backfill_help, stdout);
            bf->help = 1;
            return QBSYNC_EXIT_OK;

        default:
            return QBSYNC_EXIT_USAGE;
        }
    }

    /* not quoted: a key pasted here would be printed */
    if (optind < argc) {
        return qbsync_cli_usage("backfill", "unexpected argument: every "
                                "option is named");
    }

    if (key_file == NULL || bf->to == NULL) {
        return qbsync_cli_usage("backfill", "--stripe-key-file and --to are "
                                "required");
    }

    rc = qbsync_cli_check_url("backfill", "--to", bf->to);
    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    rc = qbsync_cli_check_url("backfill", "--stripe-url", stripe_url);
    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    /* the key would cross the network in clear text */
    if (qbsync_cli_url_is_plain_remote(stripe_url)) {
        return qbsync_cli_usage("backfill", "--stripe-url must be https:// "
                                "unless it is this machine");
    }

    /* the batch location's credentials and the catalog, in clear text */
    if (qbsync_cli_url_is_plain_remote(bf->to)) {
        qbsync_cli_warn("--to is plain http:// to another machine: the "
                        "products and any --header cross the network "
                        "unencrypted");
    }

    len = strlen(stripe_url);

    while (len && stripe_url[len - 1] == '/') {
        len--;
    }

    bf->stripe_url = strndup(stripe_url, len);
    if (bf->stripe_url == NULL) {
        qbsync_cli_error("out of memory");
        return QBSYNC_EXIT_FAILED;
    }

    rc = qbsync_cli_read_secret(key_file, "the Stripe key file", &bf->key,
                                &bf->key_len);
    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    return QBSYNC_EXIT_OK;
}


static int
qbsync_cli_backfill_setup(qbsync_cli_backfill_t *bf)
{
    int                 rc;
    struct curl_slist  *list;

    /*
     * The body's length is not known when it starts: chunked.  No
     * "Expect: 100-continue", which curl would wait a second for.
     */
    list = curl_slist_append(bf->to_headers,
                             "Content-Type: application/x-ndjson");
    if (list != NULL) {
        bf->to_headers = list;
        list = curl_slist_append(bf->to_headers,
                                 "Transfer-Encoding: chunked");
    }

    if (list != NULL) {
        bf->to_headers = list;
        list = curl_slist_append(bf->to_headers, "Expect:");
    }

    if (list == NULL) {
        qbsync_cli_error("out of memory");
        return QBSYNC_EXIT_FAILED;
    }

    bf->to_headers = list;

    bf->multi = curl_multi_init();
    bf->get = curl_easy_init();
    bf->post = curl_easy_init();

    if (bf->multi == NULL || bf->get == NULL || bf->post == NULL
        || qbsync_cli_page_init(&bf->page) != 0)
    {
        qbsync_cli_error("out of memory");
        return QBSYNC_EXIT_FAILED;
    }

    rc = qbsync_cli_curl_setup(bf->get, bf->get_errbuf);
    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    rc = qbsync_cli_curl_setup(bf->post, bf->post_errbuf);
    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    /*
     * The key goes as a bearer token through curl's own option, which
     * curl keeps out of its messages; a Stripe that stops sending for a
     * minute is a failed page, tried again.
     */
    if (curl_easy_setopt(bf->get, CURLOPT_HTTPAUTH, CURLAUTH_BEARER)
           != CURLE_OK
        || curl_easy_setopt(bf->get, CURLOPT_XOAUTH2_BEARER, bf->key)
           != CURLE_OK
        || curl_easy_setopt(bf->get, CURLOPT_WRITEFUNCTION,
                            qbsync_cli_backfill_get_write) != CURLE_OK
        || curl_easy_setopt(bf->get, CURLOPT_WRITEDATA, bf) != CURLE_OK
        || curl_easy_setopt(bf->get, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK
        || curl_easy_setopt(bf->get, CURLOPT_LOW_SPEED_TIME, 60L) != CURLE_OK)
    {
        qbsync_cli_error("libcurl refused an option");
        return QBSYNC_EXIT_FAILED;
    }

    /*
     * No low-speed limit here: the upload waits on Stripe's pages, and
     * the answer on QuickBooks' rate limit; TCP keepalive notices a dead
     * peer.  HTTP/1.1 always: a chunked body, as nginx reads it anywhere
     * (HTTP/2 has no chunked encoding, and curl would drop the header).
     */
    if (curl_easy_setopt(bf->post, CURLOPT_URL, bf->to) != CURLE_OK
        || curl_easy_setopt(bf->post, CURLOPT_HTTP_VERSION,
                            (long) CURL_HTTP_VERSION_1_1) != CURLE_OK
        || curl_easy_setopt(bf->post, CURLOPT_POST, 1L) != CURLE_OK
        || curl_easy_setopt(bf->post, CURLOPT_HTTPHEADER, bf->to_headers)
           != CURLE_OK
        || curl_easy_setopt(bf->post, CURLOPT_READFUNCTION,
                            qbsync_cli_backfill_post_read) != CURLE_OK
        || curl_easy_setopt(bf->post, CURLOPT_READDATA, bf) != CURLE_OK
        || curl_easy_setopt(bf->post, CURLOPT_WRITEFUNCTION,
                            qbsync_cli_backfill_post_write) != CURLE_OK
        || curl_easy_setopt(bf->post, CURLOPT_WRITEDATA, bf) != CURLE_OK)
    {
        qbsync_cli_error("libcurl refused an option");
        return QBSYNC_EXIT_FAILED;
    }

    return QBSYNC_EXIT_OK;
}


static int
qbsync_cli_backfill_run(qbsync_cli_backfill_t *bf)
{
    int        running, msgs, done, timeout;
    double     now;
    CURLMsg   *msg;
    CURLMcode  mc;

    qbsync_cli_progress_start();

    for ( ;; ) {
        now = qbsync_cli_now();

        if (!bf->stop) {
            if (!bf->fetch_done && !bf->get_running && now >= bf->retry_at
                && bf->queue.bytes < QBSYNC_CLI_QUEUE_MAX
                && qbsync_cli_backfill_get_start(bf) != 0)
            {
                break;
            }

            if (!bf->post_running && bf->queue.head != NULL
                && qbsync_cli_backfill_post_start(bf) != 0)
            {
                break;
            }

            /* curl_easy_pause() may call the read function at once */
            if (bf->post_running && bf->post_paused
                && (qbsync_cli_backfill_has_data(bf)
                    || qbsync_cli_backfill_request_full(bf)))
            {
                bf->post_paused = 0;
                curl_easy_pause(bf->post, CURLPAUSE_CONT);
            }
        }

        if (!bf->get_running && !bf->post_running
            && (bf->stop || (bf->fetch_done && bf->queue.head == NULL)))
        {
            break;
        }

        mc = curl_multi_perform(bf->multi, &running);
        if (mc != CURLM_OK) {
            qbsync_cli_error("libcurl: %s", curl_multi_strerror(mc));
            qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_FAILED);
            break;
        }

        done = 0;

        while ((msg = curl_multi_info_read(bf->multi, &msgs)) != NULL) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }

            done = 1;

            if (msg->easy_handle == bf->get) {
                qbsync_cli_backfill_get_done(bf, msg->data.result);

            } else {
                qbsync_cli_backfill_post_done(bf, msg->data.result);
            }
        }

        qbsync_cli_backfill_progress(bf, done);

        if (done) {
            continue;
        }

        timeout = QBSYNC_CLI_POLL_MS;

        if (!bf->get_running && !bf->fetch_done && bf->retry_at > now
            && (bf->retry_at - now) * 1000 < timeout)
        {
            timeout = (int) ((bf->retry_at - now) * 1000) + 1;
        }

        /* without transfers, this waits out the timeout: a Retry-After */
        mc = curl_multi_poll(bf->multi, NULL, 0, timeout, NULL);
        if (mc != CURLM_OK) {
            qbsync_cli_error("libcurl: %s", curl_multi_strerror(mc));
            qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_FAILED);
            break;
        }
    }

    if (bf->get_running) {
        curl_multi_remove_handle(bf->multi, bf->get);
        bf->get_running = 0;
    }

    if (bf->post_running) {
        curl_multi_remove_handle(bf->multi, bf->post);
        bf->post_running = 0;
    }

    qbsync_cli_progress_end();

    printf("summary: fetched %zu, sent %zu, requests %zu, lines %zu, "
           "created %zu, updated %zu, unchanged %zu, failed %zu\n",
           bf->fetched, bf->sent, bf->request, bf->totals.lines,
           bf->totals.created, bf->totals.updated, bf->totals.unchanged,
           bf->totals.failed);
    fflush(stdout);

    if (bf->rc != QBSYNC_EXIT_OK) {
        return bf->rc;
    }

    if (bf->totals.failed) {
        qbsync_cli_error("%zu product%s failed: see the errors above",
                         bf->totals.failed,
                         bf->totals.failed == 1 ? "" : "s");
        return QBSYNC_EXIT_FAILED;
    }

    return QBSYNC_EXIT_OK;
}


static int
qbsync_cli_backfill_get_start(qbsync_cli_backfill_t *bf)
{
    int    n;
    char  *after;

    if (qbsync_cli_page_begin(&bf->page) != 0) {
        qbsync_cli_error("out of memory");
        qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_FAILED);
        return -1;
    }

    /*
     * Without "active", Stripe lists active and archived products alike;
     * the expanded default_price saves the batch location a call a
     * product.
     */
    if (bf->after[0] == '\0') {
        n = snprintf(bf->get_url, sizeof(bf->get_url),
                     "%s/v1/products?limit=" QBSYNC_CLI_STRIPE_LIMIT
                     "&expand%%5B%%5D=data.default_price", bf->stripe_url);

    } else {
        after = curl_easy_escape(bf->get, bf->after, 0);
        if (after == NULL) {
            qbsync_cli_error("out of memory");
            qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_FAILED);
            return -1;
        }

        n = snprintf(bf->get_url, sizeof(bf->get_url),
                     "%s/v1/products?limit=" QBSYNC_CLI_STRIPE_LIMIT
                     "&starting_after=%s&expand%%5B%%5D=data.default_price",
                     bf->stripe_url, after);

        curl_free(after);
    }

    if (n < 0 || (size_t) n >= sizeof(bf->get_url)) {
        qbsync_cli_error("the URL of page %zu is too long", bf->pages + 1);
        qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_USAGE);
        return -1;
    }

    bf->get_status = 0;
    bf->get_error.len = 0;
    bf->get_errbuf[0] = '\0';

    if (curl_easy_setopt(bf->get, CURLOPT_URL, bf->get_url) != CURLE_OK
        || curl_multi_add_handle(bf->multi, bf->get) != CURLM_OK)
    {
        qbsync_cli_error("libcurl could not start a request");
        qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_FAILED);
        return -1;
    }

    bf->get_running = 1;

    return 0;
}


static void
qbsync_cli_backfill_get_done(qbsync_cli_backfill_t *bf, CURLcode code)
{
    long  status;
    char  shown[512], why[640], message[512];

    curl_multi_remove_handle(bf->multi, bf->get);
    bf->get_running = 0;

    qbsync_cli_url_show(bf->get_url, shown, sizeof(shown));

    if (code == CURLE_WRITE_ERROR && bf->page.problem) {
        qbsync_cli_error("Stripe's answer from %s is not a product list: %s",
                         shown, bf->page.problem);
        if (bf->page.nomem) {
            qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_FAILED);
            return;
        }

        qbsync_cli_backfill_fail(bf, QBSYNC_EXIT_ANSWER);
        return;
    }

    if (code != CURLE_OK) {
        if (qbsync_cli_curl_transient(code)) {
            snprintf(why, sizeof(why), "%s",
                     bf->get_errbuf[0] ? bf->get_errbuf
                                       : curl_easy_strerror(code));
            qbsync_cli_backfill_get_retry(bf, why);
            return;
        }

        qbsync_cli_backfill_fail(bf,
                                 qbsync_cli_curl_failed(code, bf->get_errbuf,
                                                        "Stripe",
                                                        bf->get_url));
        return;
    }

    status = bf->get_status;

    if (status == 0) {
        curl_easy_getinfo(bf->get, CURLINFO_RESPONSE_CODE, &status);
    }

    if (status == 200) {
        if (qbsync_cli_page_finish(&bf->page) != 0) {
            qbsync_cli_error("Stripe's answer from %s is not a product list: "
                             "%s", shown, bf->page.problem);
            qbsync_cli_backfill_fail(bf, QBSYNC_EXIT_ANSWER);
            return;
        }

        qbsync_cli_backfill_commit(bf);
        return;
    }

    /*
     * Stripe's 401 message quotes the end of the key: it is not shown.
     * A restricted key without read access to products gets a 403.
     */
    if (status == 401 || status == 403) {
        qbsync_cli_error("Stripe refused the API key of --stripe-key-file "
                         "(%ld %s)", status,
                         status == 401 ? "invalid key"
                                       : "no read access to products");
        qbsync_cli_backfill_fail(bf, QBSYNC_EXIT_AUTH);
        return;
    }

    if (status == 429 || status >= 500) {
        snprintf(why, sizeof(why), "Stripe answered %ld", status);
        qbsync_cli_backfill_get_retry(bf, why);
        return;
    }

    qbsync_cli_stripe_error(bf->get_error.data, bf->get_error.len, message,
                            sizeof(message));

    qbsync_cli_error("Stripe answered %ld to %s%s%s", status, shown,
                     message[0] ? ": " : "", message);
    qbsync_cli_backfill_fail(bf, QBSYNC_EXIT_HTTP);
}


static void
qbsync_cli_backfill_get_retry(qbsync_cli_backfill_t *bf, const char *why)
{
    long        delay;
    curl_off_t  retry_after;

    bf->tries++;

    if (bf->tries >= QBSYNC_CLI_STRIPE_TRIES) {
        qbsync_cli_error("%s to page %zu, %u tries: giving up", why,
                         bf->pages + 1, bf->tries);
        qbsync_cli_backfill_fail(bf, bf->get_status ? QBSYNC_EXIT_HTTP
                                                    : QBSYNC_EXIT_NETWORK);
        return;
    }

    /* Stripe asks for exponential backoff; a Retry-After is honoured */
    retry_after = 0;

    if (bf->get_status == 0
        || curl_easy_getinfo(bf->get, CURLINFO_RETRY_AFTER, &retry_after)
           != CURLE_OK)
    {
        retry_after = 0;
    }

    if (retry_after > 0) {
        delay = retry_after > QBSYNC_CLI_RETRY_AFTER_MAX
                ? QBSYNC_CLI_RETRY_AFTER_MAX : (long) retry_after;

    } else {
        delay = 1L << (bf->tries - 1);
    }

    bf->retry_at = qbsync_cli_now() + (double) delay;

    qbsync_cli_progress_note("%s to page %zu: trying again in %ld s "
                             "(try %u of %d)", why, bf->pages + 1, delay,
                             bf->tries + 1, QBSYNC_CLI_STRIPE_TRIES);
}


/*
 * A page's products join the queue only once the whole page is read: a
 * page cut short and tried again never sends a product twice.
 */
static void
qbsync_cli_backfill_commit(qbsync_cli_backfill_t *bf)
{
    size_t              count;
    qbsync_cli_line_t  *line;

    count = bf->page.lines.count;

    for (line = bf->page.lines.head; line; line = line->next) {
        line->request = bf->fetched / bf->batch_size + 1;
        bf->fetched++;
    }

    qbsync_cli_lines_append(&bf->queue, &bf->page.lines);

    bf->pages++;
    bf->tries = 0;

    if (bf->page.has_more) {
        memcpy(bf->after, bf->page.last_id, sizeof(bf->after));

    } else {
        bf->fetch_done = 1;
    }

    qbsync_cli_progress_line("page %zu: %zu product%s from Stripe "
                             "(%zu in all)%s", bf->pages, count,
                             count == 1 ? "" : "s", bf->fetched,
                             bf->fetch_done ? ", the last page" : "");
}


static int
qbsync_cli_backfill_post_start(qbsync_cli_backfill_t *bf)
{
    bf->request = bf->queue.head->request;
    bf->request_sent = 0;
    bf->post_status = 0;
    bf->post_paused = 0;
    bf->post_error.len = 0;
    bf->post_errbuf[0] = '\0';

    qbsync_cli_answer_begin(&bf->answer, bf->request);

    if (curl_multi_add_handle(bf->multi, bf->post) != CURLM_OK) {
        qbsync_cli_error("libcurl could not start a request");
        qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_FAILED);
        return -1;
    }

    bf->post_running = 1;

    return 0;
}


static void
qbsync_cli_backfill_post_done(qbsync_cli_backfill_t *bf, CURLcode code)
{
    long                  status;
    char                  shown[512], message[512];
    qbsync_cli_totals_t  *summary;

    curl_multi_remove_handle(bf->multi, bf->post);
    bf->post_running = 0;
    bf->post_paused = 0;

    qbsync_cli_url_show(bf->to, shown, sizeof(shown));

    if (code == CURLE_WRITE_ERROR && bf->answer.problem) {
        qbsync_cli_error("the answer of %s to request %zu is not the batch "
                         "location's: %s", shown, bf->request,
                         bf->answer.problem);
        qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_ANSWER);
        return;
    }

    if (code != CURLE_OK) {
        snprintf(message, sizeof(message), "the batch location (request %zu)",
                 bf->request);
        qbsync_cli_backfill_stop(bf,
                                 qbsync_cli_curl_failed(code, bf->post_errbuf,
                                                        message, bf->to));
        return;
    }

    status = bf->post_status;

    if (status == 0) {
        curl_easy_getinfo(bf->post, CURLINFO_RESPONSE_CODE, &status);
    }

    if (status != 200) {
        qbsync_cli_batch_error(bf->post_error.data, bf->post_error.len,
                               message, sizeof(message));
        qbsync_cli_error("%s answered %ld to request %zu%s%s", shown, status,
                         bf->request, message[0] ? ": " : "", message);
        qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_HTTP);
        return;
    }

    if (qbsync_cli_answer_finish(&bf->answer) != 0) {
        qbsync_cli_error("the answer of %s to request %zu is not the batch "
                         "location's: %s", shown, bf->request,
                         bf->answer.problem);
        qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_ANSWER);
        return;
    }

    summary = &bf->answer.summary;

    bf->totals.lines += summary->lines;
    bf->totals.created += summary->created;
    bf->totals.updated += summary->updated;
    bf->totals.unchanged += summary->unchanged;
    bf->totals.failed += summary->failed;

    qbsync_cli_progress_note("request %zu: %zu products: created %zu, "
                             "updated %zu, unchanged %zu, failed %zu",
                             bf->request, summary->lines, summary->created,
                             summary->updated, summary->unchanged,
                             summary->failed);

    /* a product that the location did not count was not synced */
    if (summary->lines != bf->request_sent) {
        qbsync_cli_error("%s counted %zu lines in request %zu, %zu were sent",
                         shown, summary->lines, bf->request,
                         bf->request_sent);
        qbsync_cli_backfill_stop(bf, QBSYNC_EXIT_ANSWER);
    }
}


/* no line of the running request waits, and none will come */
static int
qbsync_cli_backfill_request_full(qbsync_cli_backfill_t *bf)
{
    if (bf->queue.head != NULL) {
        return bf->queue.head->request != bf->request;
    }

    return bf->fetch_done || bf->fetched >= bf->request * bf->batch_size;
}


static int
qbsync_cli_backfill_has_data(qbsync_cli_backfill_t *bf)
{
    return bf->queue.head != NULL && bf->queue.head->request == bf->request;
}


static size_t
qbsync_cli_backfill_get_write(char *data, size_t size, size_t nmemb,
    void *ctx)
{
    int                     fed;
    size_t                  len;
    qbsync_cli_backfill_t  *bf = ctx;

    len = size * nmemb;

    if (!qbsync_cli_backfill_ok(bf->get, &bf->get_status)) {
        return qbsync_cli_backfill_error_body(&bf->get_error, data, len);
    }

    fed = qbsync_cli_page_feed(&bf->page, (const unsigned char *) data, len);

    return (fed == 0) ? len : 0;
}


/* Whether the answer being received is a 200, its status noted once. */
static int
qbsync_cli_backfill_ok(CURL *curl, long *status)
{
    if (*status == 0) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    }

    return *status == 200;
}


/* an error answer, kept (up to a bound) for its message */
static size_t
qbsync_cli_backfill_error_body(qbsync_cli_buf_t *error, const char *data,
    size_t len)
{
    if (qbsync_cli_buf_append(error, data, len, QBSYNC_CLI_ERROR_BODY_MAX)
        != 0)
    {
        return 0;
    }

    return len;
}


/*
 * The request's body, as products arrive: whole lines of this request,
 * then its end once it holds batch_size products or Stripe has no more.
 */
static size_t
qbsync_cli_backfill_post_read(char *buffer, size_t size, size_t nitems,
    void *ctx)
{
    size_t                  room, n, len;
    qbsync_cli_line_t      *line;
    qbsync_cli_backfill_t  *bf = ctx;

    room = size * nitems;
    n = 0;

    while (n < room && qbsync_cli_backfill_has_data(bf)) {
        line = bf->queue.head;

        len = line->len - line->sent;
        if (len > room - n) {
            len = room - n;
        }

        memcpy(buffer + n, line->data + line->sent, len);
        line->sent += len;
        n += len;

        if (line->sent == line->len) {
            free(qbsync_cli_lines_shift(&bf->queue));
            bf->request_sent++;
            bf->sent++;
        }
    }

    if (n) {
        return n;
    }

    if (qbsync_cli_backfill_request_full(bf)) {
        return 0;
    }

    bf->post_paused = 1;

    return CURL_READFUNC_PAUSE;
}


static size_t
qbsync_cli_backfill_post_write(char *data, size_t size, size_t nmemb,
    void *ctx)
{
    int                     fed;
    size_t                  len;
    qbsync_cli_backfill_t  *bf = ctx;

    len = size * nmemb;

    if (!qbsync_cli_backfill_ok(bf->post, &bf->post_status)) {
        return qbsync_cli_backfill_error_body(&bf->post_error, data, len);
    }

    fed = qbsync_cli_answer_feed(&bf->answer, (const unsigned char *) data,
                                 len);

    return (fed == 0) ? len : 0;
}


/*
 * A failure at Stripe ends the fetching: what was fetched still goes to
 * the batch location, whose answer is then worth having.
 */
static void
qbsync_cli_backfill_fail(qbsync_cli_backfill_t *bf, int rc)
{
    if (bf->rc == QBSYNC_EXIT_OK) {
        bf->rc = rc;
    }

    bf->fetch_done = 1;
}


/*
 * A failure at the batch location, or of the tool itself, stops
 * everything: the next request would meet it too, and a rerun costs
 * little.
 */
static void
qbsync_cli_backfill_stop(qbsync_cli_backfill_t *bf, int rc)
{
    qbsync_cli_backfill_fail(bf, rc);

    bf->stop = 1;

    if (bf->get_running) {
        curl_multi_remove_handle(bf->multi, bf->get);
        bf->get_running = 0;
    }

    /* the location sees the connection close and stops cleanly */
    if (bf->post_running) {
        curl_multi_remove_handle(bf->multi, bf->post);
        bf->post_running = 0;
        bf->post_paused = 0;
    }
}


static void
qbsync_cli_backfill_progress(qbsync_cli_backfill_t *bf, int force)
{
    qbsync_cli_progress_t  progress;

    progress.fetched = bf->fetched;
    progress.sent = bf->sent;
    progress.answered = bf->totals.lines;
    progress.failed = bf->totals.failed;
    progress.request = bf->request;
    progress.fetching = !bf->fetch_done;

    if (bf->post_running) {
        progress.answered += bf->answer.batches.created
                             + bf->answer.batches.updated
                             + bf->answer.batches.unchanged
                             + bf->answer.batches.failed;
        progress.failed += bf->answer.batches.failed;
    }

    qbsync_cli_progress_update(&progress, force);
}


static void
qbsync_cli_backfill_free(qbsync_cli_backfill_t *bf)
{
    if (bf->multi) {
        curl_multi_cleanup(bf->multi);
    }

    if (bf->get) {
        curl_easy_cleanup(bf->get);
    }

    if (bf->post) {
        curl_easy_cleanup(bf->post);
    }

    qbsync_cli_page_free(&bf->page);
    qbsync_cli_lines_free(&bf->queue);
    qbsync_cli_answer_free(&bf->answer);
    qbsync_cli_buf_free(&bf->get_error);
    qbsync_cli_buf_free(&bf->post_error);
    curl_slist_free_all(bf->to_headers);
    qbsync_cli_secret_free(bf->key, bf->key_len);
    free(bf->stripe_url);
}
