
/*
 * Copyright (C) qbsync authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "qbsync_cli.h"
#include "qbsync_cli_progress.h"


#define QBSYNC_CLI_BAR_WIDTH     24
#define QBSYNC_CLI_BAR_INTERVAL  0.1     /* seconds between two redraws */
#define QBSYNC_CLI_LINE_MAX      512


static void qbsync_cli_progress_vprint(const char *fmt, va_list args);
static size_t qbsync_cli_progress_columns(void);


static int     qbsync_cli_progress_tty;
static int     qbsync_cli_progress_shown;
static double  qbsync_cli_progress_drawn;
static char    qbsync_cli_progress_last[QBSYNC_CLI_LINE_MAX];


void
qbsync_cli_progress_start(void)
{
    qbsync_cli_progress_tty = isatty(STDERR_FILENO);
    qbsync_cli_progress_shown = 0;
    qbsync_cli_progress_drawn = 0;
}


void
qbsync_cli_progress_update(const qbsync_cli_progress_t *progress, int force)
{
    char    line[QBSYNC_CLI_LINE_MAX];
    char    bar[QBSYNC_CLI_BAR_WIDTH + 1];
    size_t  filled, columns, len;
    double  now;

    if (!qbsync_cli_progress_tty) {
        return;
    }

    now = qbsync_cli_now();

    if (!force && now - qbsync_cli_progress_drawn < QBSYNC_CLI_BAR_INTERVAL) {
        return;
    }

    qbsync_cli_progress_drawn = now;

    /*
     * Stripe's list gives no total, so the bar is what the batch location
     * answered of what was fetched so far: it runs ahead of the truth
     * while pages are still coming, and is exact once they have all come.
     */
    filled = 0;

    if (progress->fetched) {
        filled = progress->answered * QBSYNC_CLI_BAR_WIDTH
                 / progress->fetched;
    }

    memset(bar, '#', filled);
    memset(bar + filled, '.', QBSYNC_CLI_BAR_WIDTH - filled);
    bar[QBSYNC_CLI_BAR_WIDTH] = '\0';

    len = (size_t) snprintf(line, sizeof(line),
                            "[%s] %zu/%zu answered, %zu failed", bar,
                            progress->answered, progress->fetched,
                            progress->failed);

    if (progress->request && len < sizeof(line)) {
        len += (size_t) snprintf(line + len, sizeof(line) - len,
                                 ", request %zu", progress->request);
    }

    if (progress->fetching && len < sizeof(line)) {
        snprintf(line + len, sizeof(line) - len, ", fetching");
    }

    /* the same line again would only make the terminal flicker */
    if (qbsync_cli_progress_shown
        && strcmp(line, qbsync_cli_progress_last) == 0)
    {
        return;
    }

    memcpy(qbsync_cli_progress_last, line, sizeof(line));

    /* a line longer than the terminal would wrap and never be erased */
    columns = qbsync_cli_progress_columns();
    len = strlen(line);

    if (len >= columns) {
        len = columns - 1;
    }

    fprintf(stderr, "\r\033[K%.*s", (int) len, line);
    fflush(stderr);

    qbsync_cli_progress_shown = 1;
}


void
qbsync_cli_progress_end(void)
{
    qbsync_cli_progress_clear();
    qbsync_cli_progress_tty = 0;
}


void
qbsync_cli_progress_clear(void)
{
    if (!qbsync_cli_progress_shown) {
        return;
    }

    fputs("\r\033[K", stderr);
    fflush(stderr);

    qbsync_cli_progress_shown = 0;

    /* the next update draws it again at once */
    qbsync_cli_progress_drawn = 0;
}


void
qbsync_cli_progress_note(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    qbsync_cli_progress_vprint(fmt, args);
    va_end(args);
}


void
qbsync_cli_progress_line(const char *fmt, ...)
{
    va_list  args;

    if (qbsync_cli_progress_tty) {
        return;
    }

    va_start(args, fmt);
    qbsync_cli_progress_vprint(fmt, args);
    va_end(args);
}


static void
qbsync_cli_progress_vprint(const char *fmt, va_list args)
{
    qbsync_cli_progress_clear();

    fputs("qbsync: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    fflush(stderr);
}


static size_t
qbsync_cli_progress_columns(void)
{
    struct winsize  size;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 10) {
        return size.ws_col;
    }

    return 80;
}
