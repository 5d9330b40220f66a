
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_YAJL_H_INCLUDED_
#define _QBSYNC_YAJL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "qbsync_str.h"


/* The yajl plumbing that the pure parsers and generators share. */


typedef enum {
    QBSYNC_YAJL_OK = 0,
    QBSYNC_YAJL_INVALID,
    QBSYNC_YAJL_NOMEM
} qbsync_yajl_rc_t;


/* a generator's output: the caller's buffer, never yajl's own */
typedef struct {
    unsigned char  *start;
    unsigned char  *pos;
    unsigned char  *end;
    unsigned        overflow:1;
} qbsync_yajl_out_t;


/*
 * Builds a yajl tree from a JSON text of len bytes (not NUL-terminated),
 * refusing what yajl would take but JSON does not (comments, a NUL, a
 * "\u0000" that would cut a string short) and nesting deeper than
 * depth_max, since yajl_tree_free() recurses once per level.  On
 * QBSYNC_YAJL_INVALID, *problem says why without quoting the text, which
 * may hold secrets.  The caller frees the tree with yajl_tree_free().
 */
qbsync_yajl_rc_t qbsync_yajl_parse(const unsigned char *json, size_t len,
    size_t depth_max, yajl_val *tree, const char **problem);

/*
 * The same checks and answers as qbsync_yajl_parse(), but the tree holds
 * only the object members whose keys are in keep (NULL-terminated), with
 * all they hold: a parser that reads a few fields of a large document
 * does not pay for building the rest.  The tree is in the allocator's
 * memory and is not freed with yajl_tree_free(); its strings are
 * NUL-terminated and whole, its numbers have only u.number.r set.
 */
qbsync_yajl_rc_t qbsync_yajl_parse_some(const unsigned char *json,
    size_t len, size_t depth_max, const char *const *keep,
    qbsync_allocator_t *allocator, yajl_val *tree, const char **problem);

/*
 * The builder of qbsync_yajl_parse_some() for a parse that someone else
 * drives, so that one pass of yajl both checks a text and builds its
 * tree: the driver passes each of its callbacks on to these until one
 * returns 0, then sets failed and passes nothing more.
 */
/* an open object or array of the tree being built */
typedef struct {
    yajl_val   node;
    size_t     size;    /* room in its arrays */
} qbsync_yajl_frame_t;


typedef struct {
    qbsync_allocator_t    *allocator;
    const char *const     *keep;
    size_t                 depth_max;
    size_t                 depth;          /* open containers, kept or not */
    size_t                 skip;           /* open containers not kept */
    unsigned               skip_value:1;   /* the next value is not kept */
    const char            *key;            /* of the next value, if kept */
    yajl_val               root;
    size_t                 nframes;
    qbsync_yajl_frame_t   *frames;
    const char            *problem;

    /* a callback returned 0: problem says why, or, left NULL, memory ran out */
    unsigned               failed:1;
} qbsync_yajl_some_t;


extern const yajl_callbacks  qbsync_yajl_some_callbacks;

/* -1 when out of memory */
int qbsync_yajl_some_init(qbsync_yajl_some_t *some, size_t depth_max,
    const char *const *keep, qbsync_allocator_t *allocator);

/*
 * Once the driver's parse has succeeded (a broken text leaves a part of a
 * tree): the tree, or why there is none.
 */
qbsync_yajl_rc_t qbsync_yajl_some_tree(qbsync_yajl_some_t *some,
    yajl_val *tree, const char **problem);

/* the first member of that name, or NULL */
yajl_val qbsync_yajl_member(yajl_val object, const char *key);

/*
 * A JSON number as written, when it is an integer that fits: yajl 2.1.0's
 * tree never sets its own integer flag, and 1e3 or 1.0 are no integers
 * to Stripe or Intuit.  Returns -1 otherwise.
 */
int qbsync_yajl_int64(const char *number, int64_t *value);

/*
 * A generator that writes into buf, validating UTF-8; NULL when out of
 * memory.  qbsync_yajl_done() frees it and tells the length written, or
 * 0 if ok is false or buf was too small.
 */
yajl_gen qbsync_yajl_gen(qbsync_yajl_out_t *out, unsigned char *buf,
    size_t size);
void qbsync_yajl_print(void *out, const char *str, size_t len);
size_t qbsync_yajl_done(yajl_gen gen, qbsync_yajl_out_t *out, int ok);

/* "name": "value", on yajl_gen_status_ok */
int qbsync_yajl_gen_member(yajl_gen gen, const char *name,
    const char *value, size_t len);


#endif /* _QBSYNC_YAJL_H_INCLUDED_ */
