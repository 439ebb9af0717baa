/*
 * DynamoDB answers (from the network: trusted only as far as TLS goes)
 * through the streaming reader and the rewrite to the API's JSON.
 * Invariant: a rewrite that succeeds is one JSON array of nitems items.
 */

#include <string.h>
#include <jansson.h>

#include "fuzz.h"
#include "dm_ddb.h"


typedef struct {
    size_t  begins, attrs, ends;
    size_t  keys;                   /* unprocessed keys: 1 + highest index */
    size_t  sum;
    int     stop_at;
} fuzz_items_t;


static const dm_field_map_t  fuzz_map[] = {
    { "message_group_uuid", "uuid" },
    { "sk", "created_at" },
    { "message", "message" },
    { "user_handle", "handle" },
    { "user_display_name", "display_name" },
    { "n", "n" },
};


static int
fuzz_begin(void *ctx, size_t i)
{
    fuzz_items_t  *c = ctx;

    c->begins++;

    /* a handler that refuses an item stops the parse */
    return c->stop_at >= 0 && (size_t) c->stop_at == i ? -1 : 0;
}


static int
fuzz_attr(void *ctx, const char *name, size_t nl, char type,
    const unsigned char *v, size_t vl)
{
    size_t         i;
    fuzz_items_t  *c = ctx;

    c->attrs++;

    /* every byte the reader hands out must be readable */
    for (i = 0; i < nl; i++) {
        c->sum += (unsigned char) name[i];
    }

    for (i = 0; i < vl; i++) {
        c->sum += v[i];
    }

    return 0;
}


static int
fuzz_end(void *ctx, size_t i)
{
    ((fuzz_items_t *) ctx)->ends++;
    return 0;
}


/* BatchGetItem's UnprocessedKeys: an index the reader has counted */
static int
fuzz_key(void *ctx, size_t index, const char *name, size_t nl, char type,
    const unsigned char *v, size_t vl)
{
    fuzz_items_t  *c = ctx;

    if (index + 1 > c->keys) {
        c->keys = index + 1;
    }

    return fuzz_attr(ctx, name, nl, type, v, vl);
}


static void *
fuzz_malloc(void *ctx, size_t size)
{
    return malloc(size);
}


static void *
fuzz_realloc(void *ctx, void *p, size_t size)
{
    return realloc(p, size);
}


static void
fuzz_free(void *ctx, void *p)
{
    free(p);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc;
    json_t            *j;
    dm_buf_t           out;
    fuzz_items_t       c;
    json_error_t       err;
    dm_ddb_answer_t    a;
    dm_allocator_t     al;
    dm_item_handler_t  h;

    al.malloc = fuzz_malloc;
    al.realloc = fuzz_realloc;
    al.free = fuzz_free;
    al.ctx = NULL;

    memset(&c, 0, sizeof(c));
    c.stop_at = size > 0 ? (int) (data[size - 1] % 8) - 1 : -1;
    h.item_begin = fuzz_begin;
    h.item_attr = fuzz_attr;
    h.item_end = fuzz_end;
    h.key_attr = fuzz_key;
    h.ctx = &c;

    rc = dm_ddb_read_with(data, size, &h, &a, &al);
    fuzz_assert(memchr(a.error_type, '\0', sizeof(a.error_type)) != NULL);
    fuzz_assert(memchr(a.error_message, '\0', sizeof(a.error_message))
                != NULL);
    fuzz_assert(memchr(a.last_sk, '\0', sizeof(a.last_sk)) != NULL);
    fuzz_assert(a.ncancel <= DM_DDB_MAX_CANCEL);

    if (rc == 0) {
        fuzz_assert(c.begins == c.ends && c.begins == a.nitems);
    }

    fuzz_assert(c.keys <= a.nunprocessed);

    (void) dm_ddb_read(data, size, NULL, &a);

    dm_buf_init_malloc(&out);
    dm_buf_append_str(&out, "x");   /* the rewrite appends after this */

    rc = dm_ddb_rewrite_items(data, size, fuzz_map,
                              sizeof(fuzz_map) / sizeof(fuzz_map[0]),
                              size & 1, &out, &a, (size & 2) ? &al : NULL);

    if (rc == 0) {
        fuzz_assert(out.len >= 3 && out.data[0] == 'x');

        j = json_loadb((const char *) out.data + 1, out.len - 1,
                       JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

        /* 4e400 is JSON (RFC 8259 sets no range), only not a double */
        if (j == NULL && json_error_code(&err) == json_error_numeric_overflow)
        {
            dm_buf_free_malloc(&out);
            return 0;
        }

        if (j == NULL) {
            fprintf(stderr, "rewrite is not JSON: %s: %.*s\n", err.text,
                    (int) out.len - 1, (const char *) out.data + 1);
        }
        fuzz_assert(j != NULL && json_is_array(j));
        fuzz_assert(json_array_size(j) == a.nitems);
        json_decref(j);
    }

    dm_buf_free_malloc(&out);

    return 0;
}
