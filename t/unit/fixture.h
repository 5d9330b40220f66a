
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_FIXTURE_H_INCLUDED_
#define _QBSYNC_FIXTURE_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>


/* QBSYNC_FIXTURES is the absolute path of t/fixtures, set by the Makefile */
static inline unsigned char *
fixture_read(const char *name, size_t *len)
{
    FILE           *file;
    long            size;
    char            path[1024];
    unsigned char  *data;

    snprintf(path, sizeof(path), "%s/%s", QBSYNC_FIXTURES, name);

    file = fopen(path, "rb");
    if (file == NULL) {
        printf("Bail out! cannot open %s\n", path);
        exit(1);
    }

    if (fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) < 0
        || fseek(file, 0, SEEK_SET) != 0)
    {
        printf("Bail out! cannot size %s\n", path);
        exit(1);
    }

    data = malloc(size ? size : 1);

    if (data == NULL || fread(data, 1, size, file) != (size_t) size) {
        printf("Bail out! cannot read %s\n", path);
        exit(1);
    }

    fclose(file);

    *len = size;

    return data;
}


#endif /* _QBSYNC_FIXTURE_H_INCLUDED_ */
