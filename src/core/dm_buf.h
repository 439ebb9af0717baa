/*
 * Growable output buffer shared by the module, the CLI and the tests.
 *
 * The core never allocates by itself: the owner supplies a grow function
 * (a request pool in the module, realloc in the CLI).  Errors are sticky so
 * a builder can append many pieces and check "failed" once at the end.
 */

#ifndef DM_BUF_H
#define DM_BUF_H

#include <stddef.h>


/* new_cap 0 releases old (and returns NULL) */
typedef void *(*dm_buf_grow_pt)(void *alloc_ctx, void *old, size_t used,
    size_t new_cap);

typedef struct {
    unsigned char   *data;
    size_t           len;
    size_t           cap;
    dm_buf_grow_pt   grow;
    void            *alloc_ctx;
    int              failed;
} dm_buf_t;


void dm_buf_init(dm_buf_t *b, dm_buf_grow_pt grow, void *alloc_ctx);
void dm_buf_init_malloc(dm_buf_t *b);
void dm_buf_free_malloc(dm_buf_t *b);
/* gives the memory back through the buffer's own grow function */
void dm_buf_release(dm_buf_t *b);

int dm_buf_reserve(dm_buf_t *b, size_t n);
int dm_buf_append(dm_buf_t *b, const void *p, size_t n);
int dm_buf_append_str(dm_buf_t *b, const char *s);
int dm_buf_append_uint(dm_buf_t *b, unsigned long long v);

/* a quoted JSON string; control characters, '"' and '\\' escaped */
int dm_buf_json_string(dm_buf_t *b, const unsigned char *s, size_t n);

/* NUL-terminates without counting the NUL in len */
const char *dm_buf_cstr(dm_buf_t *b);

#endif /* DM_BUF_H */
