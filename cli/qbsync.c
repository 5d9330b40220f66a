
/*
 * Copyright (C) qbsync authors
 */


#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "qbsync_cli.h"


typedef int (*qbsync_cli_command_pt)(int argc, char **argv);

typedef struct {
    const char             *name;
    qbsync_cli_command_pt   run;
    unsigned                network:1;
} qbsync_cli_command_t;


static const qbsync_cli_command_t  qbsync_cli_commands[] = {
    { "sign",     qbsync_cli_sign,     0 },
    { "send",     qbsync_cli_send,     1 },
    { "backfill", qbsync_cli_backfill, 1 },
    { NULL, NULL, 0 }
};


static const char  qbsync_cli_help[] =
    "usage: qbsync COMMAND [OPTIONS]\n"
    "\n"
    "The command-line tool of qbsync (docs/cli.md):\n"
    "\n"
    "  sign      print the Stripe-Signature of an event as Stripe computes it\n"
    "  send      sign an event and POST it to a webhook location\n"
    "  backfill  stream every Stripe product into the qbsync_batch location\n"
    "\n"
    "qbsync COMMAND --help tells more.  Secrets and keys are read from\n"
    "files and never printed.\n"
    "\n"
    QBSYNC_CLI_EXIT_HELP;


int
main(int argc, char **argv)
{
    int                          rc;
    const qbsync_cli_command_t  *command;

    if (argc < 2) {
        fputs(qbsync_cli_help, stderr);
        return QBSYNC_EXIT_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "help") == 0)
    {
        fputs(qbsync_cli_help, stdout);
        return QBSYNC_EXIT_OK;
    }

    for (command = qbsync_cli_commands; command->name; command++) {
        if (strcmp(argv[1], command->name) == 0) {
            break;
        }
    }

    if (command->name == NULL) {
        /* a word is quoted; a key pasted in its place is not */
        if (strlen(argv[1]) <= 16
            && strspn(argv[1], "abcdefghijklmnopqrstuvwxyz-")
               == strlen(argv[1]))
        {
            fprintf(stderr, "qbsync: unknown command \"%s\": ", argv[1]);

        } else {
            fputs("qbsync: unknown command: ", stderr);
        }

        fputs("sign, send or backfill (see qbsync --help)\n", stderr);

        return QBSYNC_EXIT_USAGE;
    }

    /* a closed pipe on stdout is an error to report, not a silent death */
    signal(SIGPIPE, SIG_IGN);

    if (command->network && curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fputs("qbsync: libcurl could not start\n", stderr);
        return QBSYNC_EXIT_FAILED;
    }

    /* the command sees itself as argv[0], as getopt_long() expects */
    rc = command->run(argc - 1, argv + 1);

    if (command->network) {
        curl_global_cleanup();
    }

    if (fflush(stdout) != 0 && rc == QBSYNC_EXIT_OK) {
        fputs("qbsync: cannot write to standard output\n", stderr);
        rc = QBSYNC_EXIT_FAILED;
    }

    return rc;
}
