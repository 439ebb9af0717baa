/*
 * One streaming pass (yajl SAX) over DynamoDB answers: items, error type
 * and message, cancellation reasons, Count and LastEvaluatedKey.sk.  No
 * tree is built; strings are reported while the parser holds them.
 */

#include <stdlib.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#if (defined(__SSE2__))
#include <emmintrin.h>
#endif
#include <yajl/yajl_parse.h>
#include "dm_ddb.h"


typedef enum {
    DM_ST_START = 0,
    DM_ST_TOP,                  /* in the top object: a key or the end */
    DM_ST_TOP_VALUE,            /* after a top key we do not care about */
    DM_ST_ITEMS,                /* in "Items": [ ... ] */
    DM_ST_ITEM,                 /* in an item: attribute names */
    DM_ST_ATTR,                 /* in {"S": ...}: the type key */
    DM_ST_ATTR_VALUE,           /* the scalar after the type key */
    DM_ST_ATTR_DONE,            /* after the value: end of the attr map */
    DM_ST_LEK,                  /* in LastEvaluatedKey: attribute names */
    DM_ST_LEK_ATTR,
    DM_ST_LEK_VALUE,
    DM_ST_LEK_DONE,
    DM_ST_CANCEL,               /* in "CancellationReasons": [ ... ] */
    DM_ST_CANCEL_OBJ,
    DM_ST_CANCEL_CODE,
    DM_ST_DONE
} dm_state_e;

typedef enum {
    DM_TOP_OTHER = 0,
    DM_TOP_ITEMS,
    DM_TOP_ITEM,
    DM_TOP_COUNT,
    DM_TOP_LEK,
    DM_TOP_TYPE,
    DM_TOP_MESSAGE,
    DM_TOP_CANCEL
} dm_top_key_e;


typedef struct {
    const dm_item_handler_t  *handler;
    dm_ddb_answer_t          *answer;
    dm_state_e                state;
    dm_top_key_e              top_key;
    int                       single_item;  /* "Item", not "Items" */
    unsigned                  skip;         /* depth of a skipped value */
    int                       skip_next;    /* the next value is skipped */
    size_t                    attr_name_len;
    char                      attr_name[256];   /* DynamoDB's limit */
    char                      attr_type;    /* S, N, B(OOL), 0 (NULL) */
    int                       attr_wanted;
    int                       lek_is_sk;
    int                       in_code;
    int                       have_message;
} dm_reader_t;


static void
dm_copy_str(char *dst, size_t size, const unsigned char *s, size_t len)
{
    if (len >= size) {
        len = size - 1;
    }

    memcpy(dst, s, len);
    dst[len] = '\0';
}


static void
dm_stop(dm_reader_t *rd, const char *why)
{
    if (rd->answer->error_message[0] == '\0') {
        dm_copy_str(rd->answer->error_message,
                    sizeof(rd->answer->error_message),
                    (const unsigned char *) why, strlen(why));
    }
}


/* a value has been consumed entirely: where the parser goes next */
static void
dm_value_done(dm_reader_t *rd)
{
    switch (rd->state) {
    case DM_ST_TOP_VALUE:
        rd->state = DM_ST_TOP;
        break;
    case DM_ST_ATTR_VALUE:
        rd->state = DM_ST_ATTR_DONE;
        break;
    case DM_ST_LEK_VALUE:
        rd->state = DM_ST_LEK_DONE;
        break;
    default:
        break;
    }
}


/*
 * Every scalar goes through here.  type is 'S' for strings, 'N' for
 * numbers, 'B' for booleans, 0 for null.
 */
static int
dm_scalar(dm_reader_t *rd, char type, const unsigned char *v, size_t len)
{
    dm_ddb_answer_t  *a;
    long long         n;
    size_t            i;

    if (rd->skip) {
        return 1;
    }

    if (rd->skip_next) {
        rd->skip_next = 0;
        dm_value_done(rd);
        return 1;
    }

    a = rd->answer;

    switch (rd->state) {

    case DM_ST_TOP_VALUE:
        switch (rd->top_key) {

        case DM_TOP_COUNT:
            if (type == 'N') {
                for (n = 0, i = 0; i < len && v[i] >= '0' && v[i] <= '9';
                     i++)
                {
                    /* no real Count is near; a huge one must not overflow */
                    if (n > (LLONG_MAX - 9) / 10) {
                        n = LLONG_MAX;
                        break;
                    }

                    n = n * 10 + (v[i] - '0');
                }
                a->count = n;
            }
            break;

        case DM_TOP_TYPE:
            if (type == 'S') {
                /* "com.amazonaws.dynamodb.v20120810#ThrottlingException" */
                for (i = len; i > 0 && v[i - 1] != '#'; i--) { /* void */ }
                dm_copy_str(a->error_type, sizeof(a->error_type), v + i,
                            len - i);
            }
            break;

        case DM_TOP_MESSAGE:
            if (type == 'S') {
                dm_copy_str(a->error_message, sizeof(a->error_message), v,
                            len);
                rd->have_message = 1;
            }
            break;

        default:
            break;
        }

        rd->state = DM_ST_TOP;
        return 1;

    case DM_ST_ATTR_VALUE:
        if (rd->attr_wanted && rd->handler && rd->handler->item_attr) {
            if (rd->attr_type == 0) {
                v = (const unsigned char *) "";
                len = 0;
            }

            if (rd->handler->item_attr(rd->handler->ctx, rd->attr_name,
                                       rd->attr_name_len, rd->attr_type,
                                       v, len) != 0)
            {
                dm_stop(rd, "item handler refused an attribute");
                return 0;
            }
        }
        rd->state = DM_ST_ATTR_DONE;
        return 1;

    case DM_ST_LEK_VALUE:
        if (rd->lek_is_sk && type == 'S') {
            dm_copy_str(a->last_sk, sizeof(a->last_sk), v, len);
            a->last_sk_truncated = (len >= sizeof(a->last_sk));
        }
        rd->state = DM_ST_LEK_DONE;
        return 1;

    case DM_ST_CANCEL_CODE:
        if (a->ncancel < DM_DDB_MAX_CANCEL) {
            unsigned char  code = DM_CANCEL_OTHER;

            if (type == 'S') {
                if (len == 4 && memcmp(v, "None", 4) == 0) {
                    code = DM_CANCEL_NONE;
                } else if (len == 22
                           && memcmp(v, "ConditionalCheckFailed", 22) == 0)
                {
                    code = DM_CANCEL_CONDITION;
                } else if (len == 19
                           && memcmp(v, "TransactionConflict", 19) == 0)
                {
                    code = DM_CANCEL_CONFLICT;
                } else if ((len >= 10 && memcmp(v, "Throttling", 10) == 0)
                           || (len >= 20
                               && memcmp(v, "ProvisionedThroughput", 20)
                                  == 0)
                           || (len >= 12 && memcmp(v, "RequestLimit", 12)
                                            == 0))
                {
                    code = DM_CANCEL_THROTTLED;
                }
            }

            a->cancel[a->ncancel] = code;
            rd->in_code = 1;
        }
        rd->state = DM_ST_CANCEL_OBJ;
        return 1;

    default:
        dm_stop(rd, "unexpected value in DynamoDB answer");
        return 0;
    }
}


static int
dm_on_null(void *ctx)
{
    return dm_scalar(ctx, 0, (const unsigned char *) "", 0);
}


static int
dm_on_boolean(void *ctx, int v)
{
    return dm_scalar(ctx, 'B', (const unsigned char *) (v ? "true" : "false"),
                     v ? 4 : 5);
}


static int
dm_on_number(void *ctx, const char *v, size_t len)
{
    return dm_scalar(ctx, 'N', (const unsigned char *) v, len);
}


static int
dm_on_string(void *ctx, const unsigned char *v, size_t len)
{
    return dm_scalar(ctx, 'S', v, len);
}


static int
dm_start_container(dm_reader_t *rd, int is_map)
{
    if (rd->skip) {
        rd->skip++;
        return 1;
    }

    if (rd->skip_next) {
        rd->skip_next = 0;
        rd->skip = 1;
        return 1;
    }

    switch (rd->state) {

    case DM_ST_START:
        if (!is_map) {
            break;
        }
        rd->state = DM_ST_TOP;
        return 1;

    case DM_ST_TOP_VALUE:
        if (rd->top_key == DM_TOP_ITEMS && !is_map) {
            rd->state = DM_ST_ITEMS;
            return 1;
        }

        if (rd->top_key == DM_TOP_ITEM && is_map) {
            goto item_begin;
        }

        if (rd->top_key == DM_TOP_LEK && is_map) {
            rd->state = DM_ST_LEK;
            return 1;
        }

        if (rd->top_key == DM_TOP_CANCEL && !is_map) {
            rd->state = DM_ST_CANCEL;
            return 1;
        }

        /* a value of a shape we do not read */
        rd->skip = 1;
        return 1;

    case DM_ST_ITEMS:
        if (!is_map) {
            break;
        }

    item_begin:

        rd->state = DM_ST_ITEM;
        rd->answer->nitems++;

        if (rd->handler && rd->handler->item_begin
            && rd->handler->item_begin(rd->handler->ctx,
                                       rd->answer->nitems - 1) != 0)
        {
            dm_stop(rd, "item handler refused an item");
            return 0;
        }
        return 1;

    case DM_ST_ITEM:
    case DM_ST_LEK:
        /* the attribute value map, after its name */
        if (!is_map) {
            break;
        }
        rd->state = (rd->state == DM_ST_ITEM) ? DM_ST_ATTR : DM_ST_LEK_ATTR;
        return 1;

    case DM_ST_CANCEL:
        if (!is_map) {
            break;
        }
        rd->state = DM_ST_CANCEL_OBJ;
        rd->in_code = 0;
        return 1;

    default:
        break;
    }

    dm_stop(rd, "unexpected structure in DynamoDB answer");
    return 0;
}


static int
dm_on_start_map(void *ctx)
{
    return dm_start_container(ctx, 1);
}


static int
dm_on_start_array(void *ctx)
{
    return dm_start_container(ctx, 0);
}


static int
dm_end_container(dm_reader_t *rd)
{
    dm_ddb_answer_t  *a;

    if (rd->skip) {
        if (--rd->skip == 0) {
            dm_value_done(rd);
        }
        return 1;
    }

    a = rd->answer;

    switch (rd->state) {

    case DM_ST_TOP:
        rd->state = DM_ST_DONE;
        return 1;

    case DM_ST_ITEMS:
    case DM_ST_LEK:
    case DM_ST_CANCEL:
        rd->state = DM_ST_TOP;
        return 1;

    case DM_ST_ITEM:
        if (rd->handler && rd->handler->item_end
            && rd->handler->item_end(rd->handler->ctx, a->nitems - 1) != 0)
        {
            dm_stop(rd, "item handler refused an item");
            return 0;
        }
        rd->state = rd->single_item ? DM_ST_TOP : DM_ST_ITEMS;
        return 1;

    case DM_ST_ATTR:
    case DM_ST_ATTR_DONE:
        rd->state = DM_ST_ITEM;
        return 1;

    case DM_ST_LEK_ATTR:
    case DM_ST_LEK_DONE:
        rd->state = DM_ST_LEK;
        return 1;

    case DM_ST_CANCEL_OBJ:
        if (a->ncancel < DM_DDB_MAX_CANCEL) {
            if (!rd->in_code) {
                a->cancel[a->ncancel] = DM_CANCEL_NONE;
            }
            a->ncancel++;
        }
        rd->state = DM_ST_CANCEL;
        return 1;

    default:
        break;
    }

    dm_stop(rd, "unexpected end of a structure in DynamoDB answer");
    return 0;
}


static int
dm_on_end_map(void *ctx)
{
    return dm_end_container(ctx);
}


static int
dm_on_end_array(void *ctx)
{
    return dm_end_container(ctx);
}


#define dm_key_is(k, l, lit)                                                \
    ((l) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)


static int
dm_on_map_key(void *ctx, const unsigned char *k, size_t len)
{
    dm_reader_t  *rd = ctx;

    if (rd->skip) {
        return 1;
    }

    switch (rd->state) {

    case DM_ST_TOP:
        rd->state = DM_ST_TOP_VALUE;

        if (dm_key_is(k, len, "Items")) {
            rd->top_key = DM_TOP_ITEMS;
            rd->single_item = 0;
        } else if (dm_key_is(k, len, "Item")) {
            rd->top_key = DM_TOP_ITEM;
            rd->single_item = 1;
        } else if (dm_key_is(k, len, "Count")) {
            rd->top_key = DM_TOP_COUNT;
        } else if (dm_key_is(k, len, "LastEvaluatedKey")) {
            rd->top_key = DM_TOP_LEK;
            rd->answer->has_last_key = 1;
        } else if (dm_key_is(k, len, "__type")) {
            rd->top_key = DM_TOP_TYPE;
        } else if (dm_key_is(k, len, "message")
                   || (dm_key_is(k, len, "Message") && !rd->have_message))
        {
            rd->top_key = DM_TOP_MESSAGE;
        } else if (dm_key_is(k, len, "CancellationReasons")) {
            rd->top_key = DM_TOP_CANCEL;
        } else {
            rd->top_key = DM_TOP_OTHER;
            rd->skip_next = 1;
        }
        return 1;

    case DM_ST_ITEM:
        /* yajl may reuse its buffer for the value: keep a copy */
        if (len >= sizeof(rd->attr_name)) {
            break;
        }
        memcpy(rd->attr_name, k, len);
        rd->attr_name_len = len;
        return 1;

    case DM_ST_ATTR:
        rd->state = DM_ST_ATTR_VALUE;

        if (dm_key_is(k, len, "S")) {
            rd->attr_type = 'S';
        } else if (dm_key_is(k, len, "N")) {
            rd->attr_type = 'N';
        } else if (dm_key_is(k, len, "BOOL")) {
            rd->attr_type = 'B';
        } else if (dm_key_is(k, len, "NULL")) {
            rd->attr_type = 0;
        } else {
            rd->skip_next = 1;
            rd->attr_wanted = 0;
            return 1;
        }

        rd->attr_wanted = 1;
        return 1;

    case DM_ST_ATTR_DONE:
    case DM_ST_LEK_DONE:
        /* a second type key in one attribute value: not DynamoDB JSON */
        break;

    case DM_ST_LEK:
        rd->lek_is_sk = dm_key_is(k, len, "sk");
        return 1;

    case DM_ST_LEK_ATTR:
        rd->state = DM_ST_LEK_VALUE;
        if (!dm_key_is(k, len, "S")) {
            rd->skip_next = 1;
        }
        return 1;

    case DM_ST_CANCEL_OBJ:
        if (dm_key_is(k, len, "Code")) {
            rd->state = DM_ST_CANCEL_CODE;
        } else {
            rd->skip_next = 1;
        }
        return 1;

    default:
        break;
    }

    dm_stop(rd, "unexpected key in DynamoDB answer");
    return 0;
}


static const yajl_callbacks  dm_reader_callbacks = {
    dm_on_null,
    dm_on_boolean,
    NULL,
    NULL,
    dm_on_number,
    dm_on_string,
    dm_on_start_map,
    dm_on_map_key,
    dm_on_end_map,
    dm_on_start_array,
    dm_on_end_array
};


/* the yajl pass: 0, or -1 when the JSON is bad or a callback stopped it */
static int
dm_read_yajl(dm_reader_t *rd, const unsigned char *body, size_t len,
    const dm_allocator_t *allocator)
{
    yajl_handle       h;
    yajl_status       st;
    yajl_alloc_funcs  af, *afp;

    afp = NULL;

    if (allocator) {
        af.malloc = allocator->malloc;
        af.realloc = allocator->realloc;
        af.free = allocator->free;
        af.ctx = allocator->ctx;
        afp = &af;
    }

    h = yajl_alloc(&dm_reader_callbacks, afp, rd);
    if (h == NULL) {
        dm_stop(rd, "out of memory");
        return -1;
    }

    st = yajl_parse(h, body, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    return (st == yajl_status_ok) ? 0 : -1;
}


/* ---- the same pass without yajl ---------------------------------------- */

/*
 * yajl's lexer costs several times what the callbacks do on a page of
 * items.  An answer without a backslash (nothing to unescape) is read here
 * instead: the same tokens in the same order, the same callbacks with the
 * same text, and the verdict of yajl_parse + yajl_complete_parse with
 * yajl's default flags:
 *
 *   - whitespace is yajl's (space, \t, \n, \r, \v, \f);
 *   - strings hold no byte below 0x20, and yajl's UTF-8 only: a lead byte
 *     C0-F7 followed by its continuation bytes (no other check);
 *   - numbers follow JSON's grammar and are passed as their text; a number
 *     ends where its grammar does ("01" is the number 0, then an error);
 *   - true / false / null end after their letters ("truex": true, then an
 *     error);
 *   - after the value only whitespace, or (yajl's lexer waits for more)
 *     the unterminated start of a string that ends outside an escape or a
 *     UTF-8 sequence.
 *
 * yajl's unescaping (\u, surrogates) is not reproduced: an answer with a
 * backslash anywhere goes to yajl.
 */

#define DM_FAST_STACK  64

typedef enum {
    DM_FS_VALUE = 0,            /* a value (start, after ':' or ',' in []) */
    DM_FS_ARRAY_START,          /* a value or ']' */
    DM_FS_MAP_START,            /* a key or '}' */
    DM_FS_MAP_KEY,              /* a key (after ',') */
    DM_FS_MAP_SEP,              /* ':' */
    DM_FS_MAP_GOT_VAL,          /* ',' or '}' */
    DM_FS_ARRAY_GOT_VAL,        /* ',' or ']' */
    DM_FS_COMPLETE
} dm_fast_state_e;


/*
 * Bytes in strings: 0 plain, 1 '"', 2 '\\', 3 never valid here, 4-6 a
 * UTF-8 lead byte followed by 1-3 continuation bytes.
 */
static const unsigned char  dm_str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,     /* 00 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,     /* 10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,     /* 50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 70 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,     /* 80 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,     /* 90 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,     /* a0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,     /* b0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,     /* c0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,     /* d0 */
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,     /* e0 */
    6, 6, 6, 6, 6, 6, 6, 6, 3, 3, 3, 3, 3, 3, 3, 3      /* f0 */
};


#define dm_fast_ws(c)                                                       \
    ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t'                \
     || (c) == '\v' || (c) == '\f')

#define dm_fast_digit(c)  ((c) >= '0' && (c) <= '9')


/*
 * The bytes of 8 (read little-endian) that are not plain in a string:
 * below 0x20, '"', '\\', or 0x80 and above.  The classic "has zero byte" /
 * "has less than" tests: a borrow can only flag a byte above one that is
 * really flagged, so the lowest flag is exact.
 */
static inline uint64_t
dm_special8(const unsigned char *p)
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
            | ((v - 0x2020202020202020ULL) & ~v)
            | v)
           & 0x8080808080808080ULL;
}


#if (defined(__SSE2__))

/*
 * The bytes of 16 that are not plain in a string, one bit each: '"', '\\',
 * or below 0x20 as a signed byte (which is below 0x20 or 0x80 and above).
 */
static inline unsigned
dm_special16(const unsigned char *p)
{
    __m128i  v, m;

    v = _mm_loadu_si128((const __m128i *) p);

    m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                     _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));

    return (unsigned) _mm_movemask_epi8(m);
}

#endif


/*
 * A string after its opening quote: 1 and its text (*pp after the closing
 * quote), 0 when a byte is not allowed, -1 when the input ends in it,
 * -2 when the input ends inside a UTF-8 sequence.
 */
static inline __attribute__((always_inline)) int
dm_fast_string(const unsigned char **pp, const unsigned char *end,
    const unsigned char **s, size_t *len)
{
    unsigned              n;
    uint64_t              m;
    const unsigned char  *p, *start;

    p = *pp;
    start = p;

    for ( ;; ) {
#if (defined(__SSE2__))
        while (end - p >= 16) {
            n = dm_special16(p);

            if (n) {
                p += __builtin_ctz(n);
                goto special;
            }

            p += 16;
        }
#endif

        /* eight bytes at a time, to the first one that is not plain */
        while (end - p >= 8) {
            m = dm_special8(p);

            if (m) {
                p += __builtin_ctzll(m) >> 3;
                goto special;
            }

            p += 8;
        }

        while (p < end && dm_str_class[*p] == 0) {
            p++;
        }

        if (p == end) {
            return -1;
        }

    special:

        switch (dm_str_class[*p]) {

        case 1:
            *s = start;
            *len = p - start;
            *pp = p + 1;
            return 1;

        case 4:
        case 5:
        case 6:
            n = dm_str_class[*p] - 3;
            p++;

            while (n--) {
                if (p == end) {
                    return -2;
                }

                if ((*p & 0xc0) != 0x80) {
                    return 0;
                }

                p++;
            }
            break;

        default:
            return 0;
        }
    }
}


/* a number from its first byte ('-' or a digit): 1 (*pp after it), or 0 */
static int
dm_fast_number(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char  *p;

    p = *pp;

    if (*p == '-') {
        p++;
    }

    if (p == end) {
        return 0;
    }

    if (*p == '0') {
        p++;

    } else if (*p >= '1' && *p <= '9') {
        do {
            p++;
        } while (p < end && dm_fast_digit(*p));

    } else {
        return 0;
    }

    if (p < end && *p == '.') {
        p++;

        if (p == end || !dm_fast_digit(*p)) {
            return 0;
        }

        do {
            p++;
        } while (p < end && dm_fast_digit(*p));
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == end || !dm_fast_digit(*p)) {
            return 0;
        }

        do {
            p++;
        } while (p < end && dm_fast_digit(*p));
    }

    *pp = p;

    return 1;
}


static int
dm_fast_push(unsigned char **stack, size_t *cap, size_t depth,
    unsigned char *inline_stack, unsigned char v,
    const dm_allocator_t *allocator)
{
    size_t          ncap;
    unsigned char  *n;

    if (depth == *cap) {
        ncap = *cap * 2;

        n = allocator ? allocator->malloc(allocator->ctx, ncap)
                      : malloc(ncap);
        if (n == NULL) {
            return -1;
        }

        memcpy(n, *stack, depth);

        if (*stack != inline_stack) {
            if (allocator) {
                allocator->free(allocator->ctx, *stack);

            } else {
                free(*stack);
            }
        }

        *stack = n;
        *cap = ncap;
    }

    (*stack)[depth] = v;

    return 0;
}


/*
 * The callbacks of the tokens "name" : { "S" : "value" } (type 'S' or
 * 'N'): map key, start of a map, map key, string, end of the map.  In an
 * item (nothing skipped), their effect in one step: the attribute goes to
 * the handler, the reader is back in the item.  1, or 0 when a callback
 * stopped the pass.
 */
static int
dm_fast_attr(dm_reader_t *rd, const unsigned char *name, size_t name_len,
    char type, const unsigned char *v, size_t len)
{
    if (rd->state != DM_ST_ITEM || rd->skip || rd->skip_next
        || name_len >= sizeof(rd->attr_name))
    {
        return dm_on_map_key(rd, name, name_len)
               && dm_start_container(rd, 1)
               && dm_on_map_key(rd, (const unsigned char *)
                                    (type == 'S' ? "S" : "N"), 1)
               && dm_scalar(rd, 'S', v, len)
               && dm_end_container(rd);
    }

    /* the name stays in the answer, which is not unescaped here */
    rd->attr_name_len = name_len;
    rd->attr_type = type;
    rd->attr_wanted = 1;

    if (rd->handler && rd->handler->item_attr
        && rd->handler->item_attr(rd->handler->ctx, (const char *) name,
                                  name_len, type, v, len)
           != 0)
    {
        dm_stop(rd, "item handler refused an attribute");
        return 0;
    }

    return 1;
}


/* 0, -1 when the JSON is bad or a callback stopped it */
static int
dm_read_fast(dm_reader_t *rd, const unsigned char *body, size_t len,
    const dm_allocator_t *allocator)
{
    int                   rc, ok;
    size_t                n, vn, depth, cap;
    unsigned char         c;
    unsigned char        *stack;
    dm_fast_state_e       state;
    const unsigned char  *p, *q, *end, *s, *v;
    unsigned char         inline_stack[DM_FAST_STACK];

    p = body;
    end = body + len;
    state = DM_FS_VALUE;
    stack = inline_stack;
    cap = DM_FAST_STACK;
    depth = 0;
    rc = -1;

    for ( ;; ) {

        /* DynamoDB sends none: one test for the usual case */
        while (p < end && *p <= ' ' && dm_fast_ws(*p)) {
            p++;
        }

        if (p == end) {
            rc = (state == DM_FS_COMPLETE) ? 0 : -1;
            goto done;
        }

        c = *p;

        switch (state) {

        case DM_FS_COMPLETE:
            /* yajl's lexer waits for the rest of a string that may follow */
            if (c == '"') {
                p++;
                rc = (dm_fast_string(&p, end, &s, &n) == -1) ? 0 : -1;
            }
            goto done;

        case DM_FS_MAP_START:
        case DM_FS_MAP_KEY:
            if (c == '"') {
                p++;

                if (dm_fast_string(&p, end, &s, &n) != 1) {
                    goto done;
                }

                /*
                 * "name":{"S":"value"} (or "N"), as DynamoDB writes each
                 * attribute: at once, when it is all there, with the
                 * callbacks its tokens make; else token by token
                 */
                if (end - p >= 8
                    && p[0] == ':' && p[1] == '{' && p[2] == '"'
                    && (p[3] == 'S' || p[3] == 'N')
                    && p[4] == '"' && p[5] == ':' && p[6] == '"')
                {
                    q = p + 7;

                    if (dm_fast_string(&q, end, &v, &vn) == 1
                        && q < end && *q == '}')
                    {
                        if (!dm_fast_attr(rd, s, n, (char) p[3], v, vn)) {
                            goto done;
                        }

                        p = q + 1;
                        state = DM_FS_MAP_GOT_VAL;
                        continue;
                    }
                }

                if (!dm_on_map_key(rd, s, n)) {
                    goto done;
                }

                state = DM_FS_MAP_SEP;
                continue;
            }

            if (c == '}' && state == DM_FS_MAP_START) {
                p++;
                goto end_container;
            }

            goto done;

        case DM_FS_MAP_SEP:
            if (c != ':') {
                goto done;
            }

            p++;
            state = DM_FS_VALUE;
            continue;

        case DM_FS_MAP_GOT_VAL:
            if (c == ',') {
                p++;
                state = DM_FS_MAP_KEY;
                continue;
            }

            if (c == '}') {
                p++;
                goto end_container;
            }

            goto done;

        case DM_FS_ARRAY_GOT_VAL:
            if (c == ',') {
                p++;
                state = DM_FS_VALUE;
                continue;
            }

            if (c == ']') {
                p++;
                goto end_container;
            }

            goto done;

        case DM_FS_ARRAY_START:
            if (c == ']') {
                p++;
                goto end_container;
            }

            /* fall through */

        case DM_FS_VALUE:
            break;
        }

        /* a value */

        switch (c) {

        case '{':
        case '[':
            p++;

            if (!dm_start_container(rd, c == '{')
                || dm_fast_push(&stack, &cap, depth, inline_stack,
                                c == '{', allocator)
                   != 0)
            {
                goto done;
            }

            depth++;
            state = (c == '{') ? DM_FS_MAP_START : DM_FS_ARRAY_START;
            continue;

        case '"':
            p++;

            if (dm_fast_string(&p, end, &s, &n) != 1) {
                goto done;
            }

            ok = dm_scalar(rd, 'S', s, n);
            break;

        case 't':
            if (end - p < 4 || memcmp(p, "true", 4) != 0) {
                goto done;
            }

            p += 4;
            ok = dm_on_boolean(rd, 1);
            break;

        case 'f':
            if (end - p < 5 || memcmp(p, "false", 5) != 0) {
                goto done;
            }

            p += 5;
            ok = dm_on_boolean(rd, 0);
            break;

        case 'n':
            if (end - p < 4 || memcmp(p, "null", 4) != 0) {
                goto done;
            }

            p += 4;
            ok = dm_on_null(rd);
            break;

        default:
            if (c != '-' && !dm_fast_digit(c)) {
                goto done;
            }

            s = p;

            if (!dm_fast_number(&p, end)) {
                goto done;
            }

            ok = dm_scalar(rd, 'N', s, p - s);
            break;
        }

        if (!ok) {
            goto done;
        }

        goto got_value;

    end_container:

        if (!dm_end_container(rd)) {
            goto done;
        }

        depth--;

    got_value:

        if (depth == 0) {
            state = DM_FS_COMPLETE;

        } else {
            state = stack[depth - 1] ? DM_FS_MAP_GOT_VAL
                                     : DM_FS_ARRAY_GOT_VAL;
        }
    }

done:

    if (stack != inline_stack) {
        if (allocator) {
            allocator->free(allocator->ctx, stack);

        } else {
            free(stack);
        }
    }

    return rc;
}


/* what dm_read_fast reads: an answer with no backslash */
static int
dm_read_is_fast(const unsigned char *body, size_t len)
{
    return len && memchr(body, '\\', len) == NULL;
}


static int dm_read(const unsigned char *body, size_t len,
    const dm_item_handler_t *handler, dm_ddb_answer_t *answer,
    const dm_allocator_t *allocator, int fast);


int
dm_ddb_read_with(const unsigned char *body, size_t len,
    const dm_item_handler_t *handler, dm_ddb_answer_t *answer,
    const dm_allocator_t *allocator)
{
    return dm_read(body, len, handler, answer, allocator,
                   dm_read_is_fast(body, len));
}


static int
dm_read(const unsigned char *body, size_t len,
    const dm_item_handler_t *handler, dm_ddb_answer_t *answer,
    const dm_allocator_t *allocator, int fast)
{
    int          rc;
    dm_reader_t  rd;

    memset(answer, 0, sizeof(dm_ddb_answer_t));
    answer->count = -1;

    memset(&rd, 0, sizeof(dm_reader_t));
    rd.handler = handler;
    rd.answer = answer;

    if (fast) {
        rc = dm_read_fast(&rd, body, len, allocator);

    } else {
        rc = dm_read_yajl(&rd, body, len, allocator);
    }

    if (rc != 0) {
        dm_stop(&rd, "truncated or malformed JSON from DynamoDB");
        return -1;
    }

    if (rd.state != DM_ST_DONE) {
        dm_stop(&rd, "DynamoDB answer is not a JSON object");
        return -1;
    }

    return 0;
}


int
dm_ddb_read(const unsigned char *body, size_t len,
    const dm_item_handler_t *handler, dm_ddb_answer_t *answer)
{
    return dm_ddb_read_with(body, len, handler, answer, NULL);
}


/* ---- the rewrite ------------------------------------------------------- */

#define DM_REWRITE_MAX_ITEMS   1000
#define DM_REWRITE_MAX_FIELDS  16

/*
 * Each item's values are rendered into a scratch buffer as they come, then
 * written out in the map's order: the answer's keys do not depend on the
 * order DynamoDB happens to list attributes in.
 *
 * An answer without a backslash (read without yajl) needs neither: no
 * value text holds a byte that JSON escapes (string contents have no
 * control byte, quote or backslash; numbers and literals none either), so
 * each value is kept as a pointer into the answer (or a literal) and a
 * quote flag, and dm_buf_json_string's output is the text in quotes.
 */
typedef struct {
    dm_buf_t              *out;
    dm_buf_t               scratch;
    const dm_field_map_t  *map;
    size_t                 nmap;
    int                    verbatim;
    size_t                 attr_len[DM_REWRITE_MAX_FIELDS];
    size_t                 key_len[DM_REWRITE_MAX_FIELDS];
    size_t                 vstart[DM_REWRITE_MAX_FIELDS];
    size_t                 vlen[DM_REWRITE_MAX_FIELDS];
    const unsigned char   *vptr[DM_REWRITE_MAX_FIELDS];
    unsigned char          vquote[DM_REWRITE_MAX_FIELDS];
    unsigned char          seen[DM_REWRITE_MAX_FIELDS];
    size_t                 start[DM_REWRITE_MAX_ITEMS];
    size_t                 end[DM_REWRITE_MAX_ITEMS];
} dm_rewrite_t;


static int
dm_rewrite_item_begin(void *ctx, size_t index)
{
    dm_rewrite_t  *rw = ctx;

    if (index >= DM_REWRITE_MAX_ITEMS) {
        return -1;
    }

    if (index) {
        dm_buf_append(rw->out, ",", 1);
    }

    rw->start[index] = rw->out->len;
    rw->scratch.len = 0;
    memset(rw->seen, 0, sizeof(rw->seen));

    return rw->out->failed ? -1 : 0;
}


/* RFC 8259's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
dm_json_number(const unsigned char *p, size_t n)
{
    size_t  i, d;

    i = 0;

    if (i < n && p[i] == '-') {
        i++;
    }

    for (d = i; i < n && p[i] >= '0' && p[i] <= '9'; i++) { /* void */ }

    if (i == d || (p[d] == '0' && i - d > 1)) {
        return 0;
    }

    if (i < n && p[i] == '.') {
        for (d = ++i; i < n && p[i] >= '0' && p[i] <= '9'; i++) { /* void */ }

        if (i == d) {
            return 0;
        }
    }

    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;

        if (i < n && (p[i] == '+' || p[i] == '-')) {
            i++;
        }

        for (d = i; i < n && p[i] >= '0' && p[i] <= '9'; i++) { /* void */ }

        if (i == d) {
            return 0;
        }
    }

    return i == n;
}


static int
dm_rewrite_item_attr(void *ctx, const char *name, size_t name_len, char type,
    const unsigned char *value, size_t value_len)
{
    dm_rewrite_t  *rw = ctx;
    size_t         i;

    for (i = 0; i < rw->nmap; i++) {
        if (rw->attr_len[i] == name_len
            && (name_len == 0 || rw->map[i].attr[0] == name[0])
            && memcmp(rw->map[i].attr, name, name_len) == 0)
        {
            break;
        }
    }

    if (i == rw->nmap) {
        return 0;
    }

    if (rw->verbatim) {
        rw->vptr[i] = value;
        rw->vlen[i] = value_len;
        rw->vquote[i] = 0;

        if (type == 0) {
            rw->vptr[i] = (const unsigned char *) "null";
            rw->vlen[i] = 4;

        } else if (!((type == 'N' && dm_json_number(value, value_len))
                     || (type == 'B'
                         && ((value_len == 4
                              && memcmp(value, "true", 4) == 0)
                             || (value_len == 5
                                 && memcmp(value, "false", 5) == 0)))))
        {
            rw->vquote[i] = 1;
        }

        rw->seen[i] = 1;

        return 0;
    }

    rw->vstart[i] = rw->scratch.len;

    /*
     * The type is the attribute's ("N"), the value whatever JSON followed
     * it: only a value that is valid JSON of that type goes out verbatim,
     * anything else as a string, so the answer is always JSON.
     */
    if (type == 0) {
        dm_buf_append(&rw->scratch, "null", 4);

    } else if ((type == 'N' && dm_json_number(value, value_len))
               || (type == 'B'
                   && ((value_len == 4 && memcmp(value, "true", 4) == 0)
                       || (value_len == 5
                           && memcmp(value, "false", 5) == 0))))
    {
        dm_buf_append(&rw->scratch, value, value_len);

    } else {
        dm_buf_json_string(&rw->scratch, value, value_len);
    }

    rw->vlen[i] = rw->scratch.len - rw->vstart[i];
    rw->seen[i] = 1;

    return rw->scratch.failed ? -1 : 0;
}


static int
dm_rewrite_item_end(void *ctx, size_t index)
{
    size_t          i, n, size;
    unsigned char  *o;
    dm_rewrite_t   *rw = ctx;

    /* the item's size first: one reserve, then plain copies */
    size = 2;

    for (i = 0; i < rw->nmap; i++) {
        if (rw->seen[i]) {
            size += rw->key_len[i] + rw->vlen[i] + 6;
        }
    }

    if (dm_buf_reserve(rw->out, size) != 0) {
        return -1;
    }

    o = rw->out->data + rw->out->len;
    *o++ = '{';

    for (i = 0, n = 0; i < rw->nmap; i++) {
        if (!rw->seen[i]) {
            continue;
        }

        if (n++) {
            *o++ = ',';
        }

        *o++ = '"';
        memcpy(o, rw->map[i].key, rw->key_len[i]);
        o += rw->key_len[i];
        *o++ = '"';
        *o++ = ':';

        if (!rw->verbatim) {
            memcpy(o, rw->scratch.data + rw->vstart[i], rw->vlen[i]);
            o += rw->vlen[i];
            continue;
        }

        if (rw->vquote[i]) {
            *o++ = '"';
        }

        memcpy(o, rw->vptr[i], rw->vlen[i]);
        o += rw->vlen[i];

        if (rw->vquote[i]) {
            *o++ = '"';
        }
    }

    *o++ = '}';
    rw->out->len = o - rw->out->data;
    rw->end[index] = rw->out->len;

    return 0;
}


static void
free_rewrite_state(const dm_allocator_t *allocator, dm_rewrite_t *rw)
{
    if (allocator) {
        allocator->free(allocator->ctx, rw);

    } else {
        free(rw);
    }
}


static void
dm_rewrite_done(const dm_allocator_t *allocator, dm_rewrite_t *rw)
{
    dm_buf_release(&rw->scratch);

    free_rewrite_state(allocator, rw);
}


int
dm_ddb_rewrite_items(const unsigned char *body, size_t len,
    const dm_field_map_t *map, size_t nmap, int reverse, dm_buf_t *out,
    dm_ddb_answer_t *answer, const dm_allocator_t *allocator)
{
    size_t             i, n, base, total;
    dm_rewrite_t      *rw;
    dm_item_handler_t  h;

    rw = allocator ? allocator->malloc(allocator->ctx, sizeof(dm_rewrite_t))
                   : malloc(sizeof(dm_rewrite_t));
    if (rw == NULL) {
        return -1;
    }

    if (nmap > DM_REWRITE_MAX_FIELDS) {
        free_rewrite_state(allocator, rw);
        return -1;
    }

    rw->out = out;
    rw->map = map;
    rw->nmap = nmap;
    rw->verbatim = dm_read_is_fast(body, len);
    dm_buf_init(&rw->scratch, out->grow, out->alloc_ctx);

    for (i = 0; i < nmap; i++) {
        rw->attr_len[i] = strlen(map[i].attr);
        rw->key_len[i] = strlen(map[i].key);
    }

    /*
     * Room up front: the answer is about as long as DynamoDB's at most
     * (attribute names, types and unmapped attributes go), and a reversed
     * one is laid out twice.  A failure here sticks to the buffer.
     */
    (void) dm_buf_reserve(out, reverse ? 2 * len : len);

    h.item_begin = dm_rewrite_item_begin;
    h.item_attr = dm_rewrite_item_attr;
    h.item_end = dm_rewrite_item_end;
    h.ctx = rw;

    base = out->len;
    dm_buf_append(out, "[", 1);

    if (dm_read(body, len, &h, answer, allocator, rw->verbatim) != 0) {
        goto failed;
    }

    dm_buf_append(out, "]", 1);

    n = answer->nitems;

    if (reverse && n > 1 && !out->failed) {
        /* lay the items out again, last first, after the forward copy */
        total = out->len - base;

        if (dm_buf_reserve(out, total) != 0) {
            goto failed;
        }

        dm_buf_append(out, "[", 1);

        for (i = n; i-- > 0; /* void */) {
            dm_buf_append(out, out->data + rw->start[i],
                          rw->end[i] - rw->start[i]);
            if (i) {
                dm_buf_append(out, ",", 1);
            }
        }

        dm_buf_append(out, "]", 1);

        memmove(out->data + base, out->data + base + total, total);
        out->len = base + total;
    }

    if (out->failed) {
        goto failed;
    }

    dm_rewrite_done(allocator, rw);
    return 0;

failed:

    dm_rewrite_done(allocator, rw);
    return -1;
}
