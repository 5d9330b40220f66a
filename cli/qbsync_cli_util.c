
/*
 * Copyright (C) qbsync authors
 */


#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "qbsync_cli.h"
#include "qbsync_cli_progress.h"


#define QBSYNC_CLI_READ_CHUNK  65536


static int qbsync_cli_next_line(const unsigned char **pos,
    const unsigned char *last, const unsigned char **start, size_t *len);
static int qbsync_cli_header_add_one(struct curl_slist **headers,
    const unsigned char *header, size_t len);


void
qbsync_cli_error(const char *fmt, ...)
{
    va_list  args;

    qbsync_cli_progress_clear();
    fflush(stdout);

    fputs("qbsync: ", stderr);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fputc('\n', stderr);
}


void
qbsync_cli_warn(const char *fmt, ...)
{
    va_list  args;

    qbsync_cli_progress_clear();

    fputs("qbsync: warning: ", stderr);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fputc('\n', stderr);
}


int
qbsync_cli_usage(const char *command, const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "qbsync %s: ", command);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fprintf(stderr, " (see qbsync %s --help)\n", command);

    return QBSYNC_EXIT_USAGE;
}


int
qbsync_cli_getopt(const char *command, int argc, char **argv,
    const struct option *options)
{
    int          opt, index, len;
    const char  *arg, *equal;

    index = -1;

    opt = getopt_long(argc, argv, ":h", options, &index);

    if (opt == -1) {
        return -1;
    }

    if (opt != '?' && opt != ':') {
        if (index < 0) {
            return opt;
        }

        /*
         * getopt_long() takes any unambiguous prefix of a long option:
         * "--secret" would be --secret-file, and a secret given there
         * would be read, and shown, as a file name.  Only whole names
         * are taken.
         */
        arg = (options[index].has_arg == required_argument
               && optarg == argv[optind - 1])
              ? argv[optind - 2] : argv[optind - 1];

        len = (int) strcspn(arg + 2, "=");

        if ((size_t) len == strlen(options[index].name)) {
            return opt;
        }

        qbsync_cli_usage(command, "unknown option --%.*s", len, arg + 2);

        return QBSYNC_CLI_OPTION_BAD;
    }

    /* after a refusal, optind is past the option refused */
    arg = argv[optind - 1];

    /* "--stripe-key=sk_live_..." mistyped: the value is never shown */
    equal = strchr(arg, '=');
    len = equal ? (int) (equal - arg) : (int) strlen(arg);

    if (opt == ':') {
        qbsync_cli_usage(command, "%.*s needs a value", len, arg);

    } else if (optopt && arg[0] == '-' && arg[1] != '-') {
        qbsync_cli_usage(command, "unknown option -%c", optopt);

    } else {
        qbsync_cli_usage(command, "unknown option %.*s", len, arg);
    }

    return QBSYNC_CLI_OPTION_BAD;
}


int
qbsync_cli_read_file(const char *path, const char *what, size_t max,
    unsigned char **data, size_t *len)
{
    int             err;
    FILE           *file;
    size_t          n, size;
    unsigned char  *buf, *grown;

    *data = NULL;
    *len = 0;

    if (strcmp(path, "-") == 0) {
        file = stdin;
        what = "standard input";
        path = "";

    } else {
        file = fopen(path, "rb");
        if (file == NULL) {
            qbsync_cli_error("cannot open %s %s: %s", what, path,
                             strerror(errno));
            return QBSYNC_EXIT_FILE;
        }
    }

    buf = NULL;
    size = 0;
    n = 0;
    err = QBSYNC_EXIT_OK;

    for ( ;; ) {
        if (n == size) {
            if (size > max) {
                break;
            }

            size += QBSYNC_CLI_READ_CHUNK;

            grown = realloc(buf, size);
            if (grown == NULL) {
                qbsync_cli_error("out of memory reading %s%s%s", what,
                                 path[0] ? " " : "", path);
                err = QBSYNC_EXIT_FAILED;
                break;
            }

            buf = grown;
        }

        n += fread(buf + n, 1, size - n, file);

        if (ferror(file)) {
            qbsync_cli_error("cannot read %s%s%s: %s", what,
                             path[0] ? " " : "", path, strerror(errno));
            err = QBSYNC_EXIT_FILE;
            break;
        }

        if (feof(file)) {
            break;
        }
    }

    if (err == QBSYNC_EXIT_OK && n > max) {
        qbsync_cli_error("%s%s%s is larger than %zu bytes", what,
                         path[0] ? " " : "", path, max);
        err = QBSYNC_EXIT_FILE;
    }

    if (file != stdin) {
        fclose(file);
    }

    if (err != QBSYNC_EXIT_OK) {
        if (buf) {
            OPENSSL_cleanse(buf, size);
        }

        free(buf);
        return err;
    }

    *data = buf;
    *len = n;

    return QBSYNC_EXIT_OK;
}


int
qbsync_cli_read_secret(const char *path, const char *what, char **secret,
    size_t *len)
{
    int                   rc;
    size_t                size, secret_len;
    struct stat           st;
    unsigned char        *contents;
    const unsigned char  *pos, *start;

    *secret = NULL;
    *len = 0;

    rc = qbsync_cli_read_file(path, what, QBSYNC_CLI_SECRET_MAX, &contents,
                              &size);
    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    /* the module warns alike: a secret that every user reads is no secret */
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0
        && (st.st_mode & S_IROTH))
    {
        qbsync_cli_warn("%s %s is readable by every user", what, path);
    }

    pos = contents;
    rc = QBSYNC_EXIT_FILE;

    while (qbsync_cli_next_line(&pos, contents + size, &start, &secret_len)) {

        if (secret_len == 0 || start[0] == '#') {
            continue;
        }

        *secret = malloc(secret_len + 1);
        if (*secret == NULL) {
            qbsync_cli_error("out of memory reading %s", what);
            rc = QBSYNC_EXIT_FAILED;
            break;
        }

        memcpy(*secret, start, secret_len);
        (*secret)[secret_len] = '\0';
        *len = secret_len;
        rc = QBSYNC_EXIT_OK;
        break;
    }

    if (rc == QBSYNC_EXIT_FILE) {
        qbsync_cli_error("%s %s holds no secret", what, path);
    }

    if (contents) {
        OPENSSL_cleanse(contents, size);
    }

    free(contents);

    return rc;
}


void
qbsync_cli_secret_free(char *secret, size_t len)
{
    if (secret == NULL) {
        return;
    }

    OPENSSL_cleanse(secret, len);
    free(secret);
}


/*
 * The next line, without its surrounding spaces, tabs and CR: the rules
 * of the module's secret files (ngx_http_qbsync_secrets.c).
 */
static int
qbsync_cli_next_line(const unsigned char **pos, const unsigned char *last,
    const unsigned char **start, size_t *len)
{
    const unsigned char  *p, *end;

    p = *pos;

    if (p >= last) {
        return 0;
    }

    *start = p;

    while (p < last && *p != '\n') {
        p++;
    }

    end = p;

    if (p < last) {
        p++;
    }

    *pos = p;

    while (*start < end && (**start == ' ' || **start == '\t')) {
        (*start)++;
    }

    while (end > *start
           && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
    {
        end--;
    }

    *len = end - *start;

    return 1;
}


int
qbsync_cli_header_add(struct curl_slist **headers, const char *arg)
{
    int                   rc;
    size_t                size, len, n;
    unsigned char        *contents;
    const unsigned char  *pos, *start;

    if (arg[0] != '@') {
        if (qbsync_cli_header_add_one(headers, (const unsigned char *) arg,
                                      strlen(arg))
            != 0)
        {
            /* the value may be a credential: it is not quoted */
            qbsync_cli_error("a --header is not of the form 'Name: value'");
            return QBSYNC_EXIT_USAGE;
        }

        return QBSYNC_EXIT_OK;
    }

    /* a file keeps credentials out of the process list and shell history */
    rc = qbsync_cli_read_file(arg + 1, "the header file", QBSYNC_CLI_SECRET_MAX,
                              &contents, &size);
    if (rc != QBSYNC_EXIT_OK) {
        return rc;
    }

    pos = contents;
    n = 0;

    while (qbsync_cli_next_line(&pos, contents + size, &start, &len)) {
        n++;

        if (len == 0 || start[0] == '#') {
            continue;
        }

        if (qbsync_cli_header_add_one(headers, start, len) != 0) {
            qbsync_cli_error("line %zu of the header file %s is not of the "
                             "form 'Name: value'", n, arg + 1);
            rc = QBSYNC_EXIT_FILE;
            break;
        }
    }

    if (contents) {
        OPENSSL_cleanse(contents, size);
    }

    free(contents);

    return rc;
}


static int
qbsync_cli_header_add_one(struct curl_slist **headers,
    const unsigned char *header, size_t len)
{
    char                 *copy;
    size_t                i, name_len;
    struct curl_slist    *list;
    const unsigned char  *colon;

    colon = memchr(header, ':', len);
    if (colon == NULL || colon == header) {
        return -1;
    }

    name_len = colon - header;

    /* RFC 9110 field names are tokens: no space, no separator */
    for (i = 0; i < name_len; i++) {
        if (header[i] <= ' ' || header[i] >= 0x7f
            || strchr("\"(),/:;<=>?@[\\]{}", header[i]) != NULL)
        {
            return -1;
        }
    }

    /* a CR or LF would start another header: a header injection */
    for (i = name_len; i < len; i++) {
        if (header[i] == '\r' || header[i] == '\n' || header[i] == '\0') {
            return -1;
        }
    }

    copy = malloc(len + 1);
    if (copy == NULL) {
        return -1;
    }

    memcpy(copy, header, len);
    copy[len] = '\0';

    list = curl_slist_append(*headers, copy);

    OPENSSL_cleanse(copy, len);
    free(copy);

    if (list == NULL) {
        return -1;
    }

    *headers = list;

    return 0;
}


int
qbsync_cli_check_url(const char *command, const char *option,
    const char *url)
{
    int     ok;
    CURLU  *u;
    char   *scheme, *host;

    u = curl_url();
    if (u == NULL) {
        qbsync_cli_error("out of memory");
        return QBSYNC_EXIT_FAILED;
    }

    scheme = NULL;
    host = NULL;

    /* no guessing of a scheme: "api.stripe.com" alone is refused */
    ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
         && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
         && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
         && (strcasecmp(scheme, "http") == 0
             || strcasecmp(scheme, "https") == 0)
         && host[0] != '\0';

    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);

    if (!ok) {
        /* the URL may carry a password: it is not quoted */
        return qbsync_cli_usage(command, "%s is not an http:// or https:// "
                                "URL", option);
    }

    return QBSYNC_EXIT_OK;
}


void
qbsync_cli_url_show(const char *url, char *buf, size_t size)
{
    CURLU  *u;
    char   *scheme, *host, *port, *path;

    scheme = NULL;
    host = NULL;
    port = NULL;
    path = NULL;

    u = curl_url();

    if (u != NULL
        && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK)
    {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK) {
            port = NULL;
        }

        snprintf(buf, size, "%s://%s%s%s%s", scheme, host, port ? ":" : "",
                 port ? port : "", path);

    } else {
        snprintf(buf, size, "the URL");
    }

    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
}


int
qbsync_cli_url_is_plain_remote(const char *url)
{
    int     plain;
    CURLU  *u;
    char   *scheme, *host;

    scheme = NULL;
    host = NULL;
    plain = 0;

    u = curl_url();

    if (u != NULL
        && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
    {
        plain = strcasecmp(scheme, "http") == 0
                && strcasecmp(host, "localhost") != 0
                && strncmp(host, "127.", 4) != 0
                && strcmp(host, "[::1]") != 0;
    }

    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);

    return plain;
}


int
qbsync_cli_parse_size(const char *text, size_t min, size_t max,
    size_t *value)
{
    size_t  n;

    if (*text == '\0') {
        return -1;
    }

    n = 0;

    for ( /* void */ ; *text; text++) {
        if (*text < '0' || *text > '9') {
            return -1;
        }

        if (n > (max - (size_t) (*text - '0')) / 10) {
            return -1;
        }

        n = n * 10 + (size_t) (*text - '0');
    }

    if (n < min || n > max) {
        return -1;
    }

    *value = n;

    return 0;
}


int
qbsync_cli_parse_timestamp(const char *text, int64_t *timestamp)
{
    size_t   len, i;
    int64_t  t;

    len = strlen(text);

    /* what the module accepts in "t=": 1 to 18 digits, so int64_t holds it */
    if (len == 0 || len > 18) {
        return -1;
    }

    t = 0;

    for (i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }

        t = t * 10 + (text[i] - '0');
    }

    *timestamp = t;

    return 0;
}


int
qbsync_cli_curl_setup(CURL *curl, char *errbuf)
{
    errbuf[0] = '\0';

    /*
     * No redirects: a webhook endpoint or Stripe that redirects is a
     * mistake to see, and curl would not carry a POST body over most.
     */
    if (curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_USERAGENT, QBSYNC_CLI_USER_AGENT)
           != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https")
           != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK
        || curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK)
    {
        qbsync_cli_error("libcurl refused an option");
        return QBSYNC_EXIT_FAILED;
    }

    return QBSYNC_EXIT_OK;
}


int
qbsync_cli_curl_failed(CURLcode rc, const char *errbuf, const char *what,
    const char *url)
{
    char  shown[512];

    qbsync_cli_url_show(url, shown, sizeof(shown));

    switch (rc) {

    case CURLE_OUT_OF_MEMORY:
        qbsync_cli_error("out of memory talking to %s", what);
        return QBSYNC_EXIT_FAILED;

    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        qbsync_cli_error("%s: %s is not a URL that can be reached", what,
                         shown);
        return QBSYNC_EXIT_USAGE;

    default:
        /* curl's messages name hosts and ports, never headers or bodies */
        qbsync_cli_error("cannot reach %s at %s: %s", what, shown,
                         errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return QBSYNC_EXIT_NETWORK;
    }
}


int
qbsync_cli_curl_transient(CURLcode rc)
{
    switch (rc) {

    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;

    default:
        return 0;
    }
}


void
qbsync_cli_printable(const char *text, size_t len, char *out, size_t size)
{
    size_t         i, n;
    unsigned char  c;

    if (size == 0) {
        return;
    }

    n = 0;

    /* UTF-8 bytes (0x80 and up) pass: only terminal controls are replaced */
    for (i = 0; i < len && n + 1 < size; i++) {
        c = (unsigned char) text[i];
        out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
    }

    out[n] = '\0';
}


int
qbsync_cli_buf_append(qbsync_cli_buf_t *buf, const void *data, size_t len,
    size_t max)
{
    size_t          size;
    unsigned char  *grown;

    if (buf->len >= max) {
        return 0;
    }

    if (len > max - buf->len) {
        len = max - buf->len;
    }

    if (buf->len + len > buf->size) {
        size = buf->size ? buf->size : 1024;

        while (size < buf->len + len) {
            size *= 2;
        }

        grown = realloc(buf->data, size);
        if (grown == NULL) {
            return -1;
        }

        buf->data = grown;
        buf->size = size;
    }

    memcpy(buf->data + buf->len, data, len);
    buf->len += len;

    return 0;
}


void
qbsync_cli_buf_free(qbsync_cli_buf_t *buf)
{
    free(buf->data);

    buf->data = NULL;
    buf->len = 0;
    buf->size = 0;
}


double
qbsync_cli_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}
