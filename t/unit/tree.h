
/*
 * Copyright (C) qbsync authors
 */


#ifndef _QBSYNC_TREE_H_INCLUDED_
#define _QBSYNC_TREE_H_INCLUDED_


#include <string.h>

#include <yajl/yajl_tree.h>


/*
 * Whether two yajl trees are the same, member for member and value for
 * value, for tests and fuzzers of the tree builders.
 */
static inline int
tree_same(yajl_val a, yajl_val b)
{
    size_t  i;

    if (a == NULL || b == NULL || a->type != b->type) {
        return 0;
    }

    switch (a->type) {

    case yajl_t_string:
        return strcmp(a->u.string, b->u.string) == 0;

    case yajl_t_number:
        return strcmp(a->u.number.r, b->u.number.r) == 0;

    case yajl_t_object:
        if (a->u.object.len != b->u.object.len) {
            return 0;
        }

        for (i = 0; i < a->u.object.len; i++) {
            if (strcmp(a->u.object.keys[i], b->u.object.keys[i]) != 0
                || !tree_same(a->u.object.values[i], b->u.object.values[i]))
            {
                return 0;
            }
        }

        return 1;

    case yajl_t_array:
        if (a->u.array.len != b->u.array.len) {
            return 0;
        }

        for (i = 0; i < a->u.array.len; i++) {
            if (!tree_same(a->u.array.values[i], b->u.array.values[i])) {
                return 0;
            }
        }

        return 1;

    default:
        return 1;
    }
}


#endif /* _QBSYNC_TREE_H_INCLUDED_ */
