
/*
 * Copyright (C) qbsync authors
 */


#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qbsync_cli.h"
#include "qbsync_signature.h"


/* "t=" 18 digits ",v1=" 64 hex digits, and room to spare */
#define QBSYNC_CLI_SIGNATURE_MAX  128
#define QBSYNC_CLI_STATUS_MAX     256


typedef struct {
    char      status[QBSYNC_CLI_STATUS_MAX];
    int       last_byte;
    unsigned  status_printed:1;
    unsigned  failed_write:1;
} qbsync_cli_send_ctx_t;


static int qbsync_cli_signature(const char *secret_file, int64_t timestamp,
    const unsigned char *body, size_t len, char *header, size_t size);
static size_t qbsync_cli_send_header(char *data, size_t size, size_t nmemb,
    void *ctx);
static size_t qbsync_cli_send_body(char *data, size_t size, size_t nmemb,
    void *ctx);
static void qbsync_cli_send_status(qbsync_cli_send_ctx_t *ctx);


static const char  qbsync_cli_sign_help[] =
    "usage: qbsync sign --secret-file FILE [--timestamp T] < event.json\n"
    "\n"
    "Prints the Stripe-Signature header value that Stripe would send with\n"
    "the event read from standard input, byte for byte:\n"
    "\n"
    "  t=T,v1=hex(HMAC-SHA256(secret, \"T.\" + body))\n"
    "\n"
    "options:\n"
    "  --secret-file FILE  the endpoint secret (whsec_...), in the format of\n"
    "                      qbsync_webhook_secret_file: one a line, blank\n"
    "                      lines and # comments ignored; the first is used\n"
    "  --timestamp T       seconds since the epoch (default: now)\n"
    "  --help              this help\n"
    "\n"
    QBSYNC_CLI_EXIT_HELP;


static const char  qbsync_cli_send_help[] =
    "usage: qbsync send --url URL --secret-file FILE [--header 'Name: value']"
    "...\n"
    "                   [--timestamp T] event.json\n"
    "\n"
    "Signs the event as Stripe does and POSTs it to URL with\n"
    "Content-Type: application/json and Stripe-Signature; prints the\n"
    "answer's status line, then its body.  \"-\" reads the event from\n"
    "standard input.\n"
    "\n"
    "options:\n"
    "  --url URL            the webhook location (http:// or https://)\n"
    "  --secret-file FILE   the endpoint secret, as for qbsync sign\n"
    "  --header 'N: v'      an extra request header (repeatable);\n"
    "                       --header @FILE reads them from FILE, one a line\n"
    "  --timestamp T        the signature's time (default: now)\n"
    "  --help               this help\n"
    "\n"
    "The exit code is 0 when the answer is 2xx, 7 for any other status.\n"
    "\n"
    QBSYNC_CLI_EXIT_HELP;


int
qbsync_cli_sign(int argc, char **argv)
{
    int             opt, rc;
    char            header[QBSYNC_CLI_SIGNATURE_MAX];
    size_t          len;
    int64_t         timestamp;
    const char     *secret_file;
    unsigned char  *body;

    static const struct option  options[] = {
        { "secret-file", required_argument, NULL, 's' },
        { "timestamp",   required_argument, NULL, 't' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    secret_file = NULL;
    timestamp = (int64_t) time(NULL);

    while ((opt = qbsync_cli_getopt("sign", argc, argv, options))
           != -1)
    {

        switch (opt) {

        case 's':
            secret_file = optarg;
            break;

        case 't':
            if (qbsync_cli_parse_timestamp(optarg, &timestamp) != 0) {
                return qbsync_cli_usage("sign", "--timestamp must be 1 to 18 "
                                        "decimal digits");
            }

            break;

        case 'h':
            fputs(qbsync_cli_sign_help, stdout);
            return QBSYNC_EXIT_OK;

        default:
            return QBSYNC_EXIT_USAGE;
        }
    }

    /* not quoted: a secret pasted here would be printed */
    if (optind < argc) {
        return qbsync_cli_usage("sign", "unexpected argument: the event is "
                                "read from standard input");
    }

    if (secret_file == NULL) {
        return qbsync_cli_usage("sign", "--secret-file is required");
    }

    if (strcmp(secret_file, "-") == 0) {
        return qbsync_cli_usage("sign", "standard input is the event: "
                                "--secret-file must name a file");
    }

    /* waiting for a paste would change the bytes, and looks like a hang */
    if (isatty(STDIN_FILENO)) {
        return qbsync_cli_usage("sign", "give the event on standard input: "
                                "qbsync sign --secret-file F < event.json");
    }

    rc = qbsync_cli_read_file("-", "the event", QBSYNC_CLI_FILE_MAX,
                              &body, &len);
    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    rc = qbsync_cli_signature(secret_file, timestamp, body, len, header,
                              sizeof(header));

    free(body);

    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    printf("%s\n", header);

    return QBSYNC_EXIT_OK;
}


int
qbsync_cli_send(int argc, char **argv)
{
    int                     opt, rc;
    long                    status;
    char                    signature[QBSYNC_CLI_SIGNATURE_MAX];
    char                    header[QBSYNC_CLI_SIGNATURE_MAX + 32];
    char                    errbuf[CURL_ERROR_SIZE], shown[512];
    CURL                   *curl;
    size_t                  len;
    int64_t                 timestamp;
    CURLcode                code;
    const char             *url, *secret_file;
    unsigned char          *body;
    struct curl_slist      *headers, *list;
    qbsync_cli_send_ctx_t   ctx;

    static const struct option  options[] = {
        { "url",         required_argument, NULL, 'u' },
        { "secret-file", required_argument, NULL, 's' },
        { "header",      required_argument, NULL, 'H' },
        { "timestamp",   required_argument, NULL, 't' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    url = NULL;
    secret_file = NULL;
    timestamp = (int64_t) time(NULL);
    headers = NULL;
    body = NULL;
    curl = NULL;

    /*
     * Content-Type first: a --header of the same name is sent after it.
     * No "Expect: 100-continue": the module reads the body at once, and
     * curl would wait a second for the 100 on larger events.
     */
    headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (headers == NULL) {
        qbsync_cli_error("out of memory");
        return QBSYNC_EXIT_FAILED;
    }

    list = curl_slist_append(headers, "Expect:");
    if (list == NULL) {
        qbsync_cli_error("out of memory");
        rc = QBSYNC_EXIT_FAILED;
        goto done;
    }

    headers = list;

    while ((opt = qbsync_cli_getopt("send", argc, argv, options))
           != -1)
    {

        switch (opt) {

        case 'u':
            url = optarg;
            break;

        case 's':
            secret_file = optarg;
            break;

        case 'H':
            rc = qbsync_cli_header_add(&headers, optarg);
            if (rc != QBSYNC_EXIT_OK) {
                goto done;
            }

            break;

        case 't':
            if (qbsync_cli_parse_timestamp(optarg, &timestamp) != 0) {
                rc = qbsync_cli_usage("send", "--timestamp must be 1 to 18 "
                                      "decimal digits");
                goto done;
            }

            break;

        case 'h':
            fputs(qbsync_cli_send_help, stdout);
            rc = QBSYNC_EXIT_OK;
            goto done;

        default:
            rc = QBSYNC_EXIT_USAGE;
            goto done;
        }
    }

    if (url == NULL || secret_file == NULL) {
        rc = qbsync_cli_usage("send", "--url and --secret-file are required");
        goto done;
    }

    if (argc - optind != 1) {
        rc = qbsync_cli_usage("send", "give one event file (or - for "
                              "standard input)");
        goto done;
    }

    if (strcmp(secret_file, "-") == 0 && strcmp(argv[optind], "-") == 0) {
        rc = qbsync_cli_usage("send", "the event and --secret-file cannot "
                              "both be standard input");
        goto done;
    }

    rc = qbsync_cli_check_url("send", "--url", url);
    if (rc != QBSYNC_EXIT_OK) {
        goto done;
    }

    rc = qbsync_cli_read_file(argv[optind], "the event file",
                              QBSYNC_CLI_FILE_MAX, &body, &len);
    if (rc != QBSYNC_EXIT_OK) {
        goto done;
    }

    rc = qbsync_cli_signature(secret_file, timestamp, body, len, signature,
                              sizeof(signature));
    if (rc != QBSYNC_EXIT_OK) {
        goto done;
    }

    snprintf(header, sizeof(header), "Stripe-Signature: %s", signature);

    list = curl_slist_append(headers, header);
    if (list == NULL) {
        qbsync_cli_error("out of memory");
        rc = QBSYNC_EXIT_FAILED;
        goto done;
    }

    headers = list;

    curl = curl_easy_init();
    if (curl == NULL) {
        qbsync_cli_error("libcurl could not start");
        rc = QBSYNC_EXIT_FAILED;
        goto done;
    }

    rc = qbsync_cli_curl_setup(curl, errbuf);
    if (rc != QBSYNC_EXIT_OK) {
        goto done;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.last_byte = '\n';

    /*
     * The module may hold the delivery while it syncs (its retry budget),
     * so there is no total timeout, only one on a silent connection.
     */
    if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_POST, 1L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                            (curl_off_t) len) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION,
                            qbsync_cli_send_header) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ctx) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                            qbsync_cli_send_body) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ctx) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 120L) != CURLE_OK)
    {
        qbsync_cli_error("libcurl refused an option");
        rc = QBSYNC_EXIT_FAILED;
        goto done;
    }

    code = curl_easy_perform(curl);

    if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && ctx.failed_write))
    {
        rc = qbsync_cli_curl_failed(code, errbuf, "the webhook location",
                                    url);
        goto done;
    }

    qbsync_cli_send_status(&ctx);

    if (ctx.last_byte != '\n') {
        putchar('\n');
    }

    if (fflush(stdout) != 0 || ctx.failed_write) {
        qbsync_cli_error("cannot write the answer to standard output");
        rc = QBSYNC_EXIT_FAILED;
        goto done;
    }

    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

    if (status < 200 || status > 299) {
        qbsync_cli_url_show(url, shown, sizeof(shown));
        qbsync_cli_error("%s answered %ld", shown, status);
        rc = QBSYNC_EXIT_HTTP;
        goto done;
    }

    rc = QBSYNC_EXIT_OK;

done:

    if (curl) {
        curl_easy_cleanup(curl);
    }

    curl_slist_free_all(headers);
    free(body);

    return rc;
}


static int
qbsync_cli_signature(const char *secret_file, int64_t timestamp,
    const unsigned char *body, size_t len, char *header, size_t size)
{
    int                      rc;
    char                    *secret, hex[QBSYNC_SIGNATURE_HEX_LEN];
    size_t                   secret_len;
    unsigned char            mac[QBSYNC_SIGNATURE_MAC_LEN];
    qbsync_chunk_t           chunk;
    qbsync_signature_key_t  *key;

    rc = qbsync_cli_read_secret(secret_file, "the webhook secret file",
                                &secret, &secret_len);
    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    /* the module's own code: what it verifies is what is signed here */
    key = qbsync_signature_key_new((const unsigned char *) secret,
                                   secret_len);

    qbsync_cli_secret_free(secret, secret_len);

    if (key == NULL) {
        qbsync_cli_error("OpenSSL could not set up HMAC-SHA256");
        return QBSYNC_EXIT_FAILED;
    }

    chunk.data = body;
    chunk.len = len;

    rc = qbsync_signature_compute(key, timestamp, &chunk, 1, mac);

    qbsync_signature_key_free(key);

    if (rc != 0) {
        qbsync_cli_error("OpenSSL could not compute HMAC-SHA256");
        return QBSYNC_EXIT_FAILED;
    }

    qbsync_hex_encode(mac, sizeof(mac), hex);

    snprintf(header, size, "t=%" PRId64 ",v1=%.*s", timestamp,
             QBSYNC_SIGNATURE_HEX_LEN, hex);

    return QBSYNC_EXIT_OK;
}


static size_t
qbsync_cli_send_header(char *data, size_t size, size_t nmemb, void *data_ctx)
{
    size_t                  len;
    qbsync_cli_send_ctx_t  *ctx = data_ctx;

    len = size * nmemb;

    /* the last status line wins: a "100 Continue" comes before the answer */
    if (len > 5 && memcmp(data, "HTTP/", 5) == 0) {
        while (len && (data[len - 1] == '\n' || data[len - 1] == '\r')) {
            len--;
        }

        qbsync_cli_printable(data, len, ctx->status, sizeof(ctx->status));
    }

    return size * nmemb;
}


static size_t
qbsync_cli_send_body(char *data, size_t size, size_t nmemb, void *data_ctx)
{
    size_t                  len;
    qbsync_cli_send_ctx_t  *ctx = data_ctx;

    len = size * nmemb;

    if (len == 0) {
        return 0;
    }

    qbsync_cli_send_status(ctx);

    if (fwrite(data, 1, len, stdout) != len) {
        ctx->failed_write = 1;
        return 0;
    }

    ctx->last_byte = (unsigned char) data[len - 1];

    return len;
}


static void
qbsync_cli_send_status(qbsync_cli_send_ctx_t *ctx)
{
    if (ctx->status_printed) {
        return;
    }

    ctx->status_printed = 1;

    if (printf("%s\n", ctx->status) < 0) {
        ctx->failed_write = 1;
    }
}
