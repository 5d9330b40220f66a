
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_CLI_H_INCLUDED_
#define _QBSYNC_CLI_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <getopt.h>

#include <curl/curl.h>


/*
 * The exit codes of every command, listed in docs/cli.md and in each
 * --help: a script tells "fix the arguments" from "try again later" from
 * "fix the key" without reading the message.
 */
#define QBSYNC_EXIT_OK       0
#define QBSYNC_EXIT_FAILED   1     /* some products failed; out of memory */
#define QBSYNC_EXIT_USAGE    2     /* bad arguments */
#define QBSYNC_EXIT_NETWORK  3     /* a URL could not be reached */
#define QBSYNC_EXIT_AUTH     4     /* Stripe refused the API key */
#define QBSYNC_EXIT_ANSWER   5     /* an answer that is not what was expected */
#define QBSYNC_EXIT_FILE     6     /* a file missing, unreadable or empty */
#define QBSYNC_EXIT_HTTP     7     /* an HTTP status that is not success */

#define QBSYNC_CLI_EXIT_HELP                                                  \
    "exit codes:\n"                                                           \
    "  0  done, nothing failed\n"                                             \
    "  1  done, but some products failed (or out of memory)\n"                \
    "  2  bad arguments\n"                                                    \
    "  3  a URL could not be reached (DNS, connection, TLS, timeout)\n"       \
    "  4  Stripe refused the API key (401 or 403)\n"                          \
    "  5  an answer that is not what was expected (not JSON, no summary)\n"   \
    "  6  a file is missing, unreadable, too large or holds no secret\n"      \
    "  7  an HTTP status that is not a success (send: not 2xx; backfill:\n"   \
    "     the batch location did not answer 200, or Stripe failed)\n"

/* every file the tool reads, the event included, is at most this large */
#define QBSYNC_CLI_FILE_MAX     (64 * 1024 * 1024)

/* as the module's secret files: a few lines, anything larger is wrong */
#define QBSYNC_CLI_SECRET_MAX   65536

#define QBSYNC_CLI_USER_AGENT   "qbsync-cli"


/* a byte buffer that grows up to a bound, then drops what comes */
typedef struct {
    unsigned char  *data;
    size_t          len;
    size_t          size;
} qbsync_cli_buf_t;


int qbsync_cli_sign(int argc, char **argv);
int qbsync_cli_send(int argc, char **argv);
int qbsync_cli_backfill(int argc, char **argv);

/* "qbsync: <message>" on stderr, the progress bar cleared first */
void qbsync_cli_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void qbsync_cli_warn(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* the usage error of a command: the message, then where help is */
int qbsync_cli_usage(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * getopt_long() with whole option names only and the tool's messages:
 * QBSYNC_CLI_OPTION_BAD after a usage error is printed.
 */
#define QBSYNC_CLI_OPTION_BAD  -2

int qbsync_cli_getopt(const char *command, int argc, char **argv,
    const struct option *options);

/* "-" is standard input; returns an exit code, *data malloc()ed */
int qbsync_cli_read_file(const char *path, const char *what, size_t max,
    unsigned char **data, size_t *len);

/*
 * The first secret of a file in the module's format: one a line, blank
 * lines, "#" comments and surrounding spaces ignored.  Returns an exit
 * code; the secret is NUL-terminated and freed with secret_free(), which
 * wipes it.  what names the file in messages ("the webhook secret file").
 */
int qbsync_cli_read_secret(const char *path, const char *what,
    char **secret, size_t *len);
void qbsync_cli_secret_free(char *secret, size_t len);

/* "Name: value", or "@FILE" for a file of them; returns an exit code */
int qbsync_cli_header_add(struct curl_slist **headers, const char *arg);

/* an http:// or https:// URL; a usage error names the option only */
int qbsync_cli_check_url(const char *command, const char *option,
    const char *url);

/* the URL as messages show it: no user, password, query or fragment */
void qbsync_cli_url_show(const char *url, char *buf, size_t size);

/* 1 when the URL is http:// to a host other than this machine */
int qbsync_cli_url_is_plain_remote(const char *url);

/* decimal digits only; 0 on success */
int qbsync_cli_parse_size(const char *text, size_t min, size_t max,
    size_t *value);
int qbsync_cli_parse_timestamp(const char *text, int64_t *timestamp);

/* the options that every transfer shares */
int qbsync_cli_curl_setup(CURL *curl, char *errbuf);

/* reports a failed transfer and returns its exit code */
int qbsync_cli_curl_failed(CURLcode rc, const char *errbuf,
    const char *what, const char *url);

/* a transfer error that another try may not meet */
int qbsync_cli_curl_transient(CURLcode rc);

/* copies what a terminal may show: control bytes become '?' */
void qbsync_cli_printable(const char *text, size_t len, char *out,
    size_t size);

/* 0 on success, -1 when out of memory; past max, bytes are dropped */
int qbsync_cli_buf_append(qbsync_cli_buf_t *buf, const void *data,
    size_t len, size_t max);
void qbsync_cli_buf_free(qbsync_cli_buf_t *buf);

/* seconds on a clock that does not jump */
double qbsync_cli_now(void);


#endif /* _QBSYNC_CLI_H_INCLUDED_ */
