/*
 * Growable output buffer; see dm_buf.h.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dm_buf.h"


static void *
dm_buf_malloc_grow(void *alloc_ctx, void *old, size_t used, size_t new_cap)
{
    if (new_cap == 0) {
        free(old);
        return NULL;
    }

    return realloc(old, new_cap);
}


void
dm_buf_init(dm_buf_t *b, dm_buf_grow_pt grow, void *alloc_ctx)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->grow = grow;
    b->alloc_ctx = alloc_ctx;
    b->failed = 0;
}


void
dm_buf_init_malloc(dm_buf_t *b)
{
    dm_buf_init(b, dm_buf_malloc_grow, NULL);
}


void
dm_buf_free_malloc(dm_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


void
dm_buf_release(dm_buf_t *b)
{
    if (b->data) {
        (void) b->grow(b->alloc_ctx, b->data, b->len, 0);
    }

    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


int
dm_buf_reserve(dm_buf_t *b, size_t n)
{
    size_t   cap;
    void    *p;

    if (b->failed) {
        return -1;
    }

    if (b->cap - b->len > n) {
        return 0;
    }

    cap = b->cap ? b->cap : 256;

    while (cap - b->len <= n) {
        if (cap > ((size_t) -1) / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }

    p = b->grow(b->alloc_ctx, b->data, b->len, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }

    b->data = p;
    b->cap = cap;

    return 0;
}


int
dm_buf_append(dm_buf_t *b, const void *p, size_t n)
{
    if ((b->failed || b->cap - b->len <= n) && dm_buf_reserve(b, n) != 0) {
        return -1;
    }

    if (n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }

    return 0;
}


int
dm_buf_append_str(dm_buf_t *b, const char *s)
{
    return dm_buf_append(b, s, strlen(s));
}


int
dm_buf_append_uint(dm_buf_t *b, unsigned long long v)
{
    char    tmp[24];
    size_t  i;

    i = sizeof(tmp);

    do {
        tmp[--i] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    return dm_buf_append(b, tmp + i, sizeof(tmp) - i);
}


/*
 * The bytes of 8 (read little-endian) that must be escaped: below 0x20,
 * '"' or '\\'.  The classic "has zero byte" / "has less than" tests: a
 * borrow can only flag a byte above one that is really flagged, so the
 * lowest flag is exact.
 */
static inline uint64_t
dm_buf_escape8(const unsigned char *p)
{
    uint64_t  v, q, b;

    memcpy(&v, p, 8);

#if (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    v = __builtin_bswap64(v);
#endif

    q = v ^ 0x2222222222222222ULL;
    b = v ^ 0x5c5c5c5c5c5c5c5cULL;

    return (((q - 0x0101010101010101ULL) & ~q)
            | ((b - 0x0101010101010101ULL) & ~b)
            | ((v - 0x2020202020202020ULL) & ~v))
           & 0x8080808080808080ULL;
}


int
dm_buf_json_string(dm_buf_t *b, const unsigned char *s, size_t n)
{
    static const char      hex[] = "0123456789abcdef";
    const unsigned char   *p, *end, *run;
    unsigned char         *o;
    char                   esc[6];
    size_t                 elen;
    uint64_t               m;

    /* worst case: every byte becomes \u00XX */
    if ((b->failed || b->cap - b->len <= n * 6 + 2)
        && dm_buf_reserve(b, n * 6 + 2) != 0)
    {
        return -1;
    }

    o = b->data + b->len;
    *o++ = '"';

    for (p = s, end = s + n, run = s; p < end; p++) {

        /* eight bytes at a time, to the first one to escape */
        while (end - p >= 8) {
            m = dm_buf_escape8(p);

            if (m) {
                p += __builtin_ctzll(m) >> 3;
                break;
            }

            p += 8;
        }

        if (p == end) {
            break;
        }

        if (*p >= 0x20 && *p != '"' && *p != '\\') {
            continue;
        }

        memcpy(o, run, p - run);
        o += p - run;
        run = p + 1;

        elen = 2;
        esc[0] = '\\';

        switch (*p) {
        case '"':  esc[1] = '"';  break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n';  break;
        case '\r': esc[1] = 'r';  break;
        case '\t': esc[1] = 't';  break;
        case '\b': esc[1] = 'b';  break;
        case '\f': esc[1] = 'f';  break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xf];
            elen = 6;
        }

        memcpy(o, esc, elen);
        o += elen;
    }

    memcpy(o, run, end - run);
    o += end - run;
    *o++ = '"';

    b->len = o - b->data;

    return 0;
}


const char *
dm_buf_cstr(dm_buf_t *b)
{
    if (dm_buf_reserve(b, 1) != 0) {
        return NULL;
    }

    b->data[b->len] = '\0';

    return (const char *) b->data;
}
