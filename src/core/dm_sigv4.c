/*
 * AWS Signature Version 4 (header signing); see dm_sigv4.h.
 *
 * dm_sigv4_sign() is the general signer (the CLI, the tests); it may use
 * the heap.  dm_sigv4_sign_dynamodb() is the module's hot path and builds
 * everything in stack buffers.  Both end in dm_sigv4_finish(), so the
 * string to sign, the key and the Authorization value are produced by one
 * piece of code.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "dm_sigv4.h"


#define DM_SIGV4_ALGORITHM      "AWS4-HMAC-SHA256"
#define DM_SIGV4_TERMINATOR     "aws4_request"
#define DM_SIGV4_DDB_SERVICE    "dynamodb"

/*
 * The canonical request on the DynamoDB path is built on the stack when
 * it fits here (no session token, or a short one), else in a buffer sized
 * from the host, operation and token: a token of any length signs.
 */
#define DM_SIGV4_DDB_CREQ_STACK 4096

/* "AWS4" + secret; AWS secrets are 40 characters */
#define DM_SIGV4_SECRET_MAX     256

/* algorithm, date, scope (8 + 63 + 63 + separators) and hash, with room */
#define DM_SIGV4_STS_MAX        320


typedef struct {
    char            *data;
    size_t           len;
    size_t           cap;
    unsigned         fixed:1;   /* stack buffer: never grows */
    unsigned         failed:1;
} dm_sigv4_out_t;


typedef struct {
    const char      *name;
    size_t           name_len;
    const char      *value;
    size_t           value_len;
    size_t           order;
} dm_sigv4_hdr_t;


typedef struct {
    const char      *key;
    size_t           key_len;
    const char      *value;
    size_t           value_len;
} dm_sigv4_param_t;


static const char  dm_sigv4_hex[] = "0123456789abcdef";
static const char  dm_sigv4_uhex[] = "0123456789ABCDEF";


static void
dm_sigv4_out_add(dm_sigv4_out_t *o, const void *p, size_t n)
{
    size_t   cap;
    char    *d;

    if (o->failed) {
        return;
    }

    if (o->cap - o->len <= n) {
        if (o->fixed || n > ((size_t) -1) / 4 - o->len) {
            o->failed = 1;
            return;
        }

        cap = o->cap ? o->cap : 512;
        while (cap - o->len <= n) {
            cap *= 2;
        }

        /* not realloc(): the old block may hold the session token */
        d = malloc(cap);
        if (d == NULL) {
            o->failed = 1;
            return;
        }

        if (o->data != NULL) {
            memcpy(d, o->data, o->len);
            OPENSSL_cleanse(o->data, o->cap);
            free(o->data);
        }

        o->data = d;
        o->cap = cap;
    }

    if (n) {
        memcpy(o->data + o->len, p, n);
        o->len += n;
    }

    /* always NUL-terminated: there is room since cap > len + n */
    o->data[o->len] = '\0';
}


static void
dm_sigv4_out_str(dm_sigv4_out_t *o, const char *s)
{
    dm_sigv4_out_add(o, s, strlen(s));
}


static void
dm_sigv4_out_char(dm_sigv4_out_t *o, char c)
{
    dm_sigv4_out_add(o, &c, 1);
}


static void
dm_sigv4_out_lower(dm_sigv4_out_t *o, const char *p, size_t n)
{
    size_t  i;
    char    c;

    for (i = 0; i < n; i++) {
        c = p[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char) (c - 'A' + 'a');
        }
        dm_sigv4_out_char(o, c);
    }
}


static int
dm_sigv4_is_space(unsigned char c)
{
    /* CR and LF count: a folded (multi-line) value collapses like a run */
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/* trim, and turn every whitespace run inside the value into one space */
static void
dm_sigv4_out_value(dm_sigv4_out_t *o, const char *p, size_t n)
{
    size_t  i;
    int     pending, started;

    pending = 0;
    started = 0;

    for (i = 0; i < n; i++) {
        if (dm_sigv4_is_space((unsigned char) p[i])) {
            pending = started;
            continue;
        }

        if (pending) {
            dm_sigv4_out_char(o, ' ');
            pending = 0;
        }

        started = 1;
        dm_sigv4_out_char(o, p[i]);
    }
}


static int
dm_sigv4_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}


static void
dm_sigv4_out_encode(dm_sigv4_out_t *o, const unsigned char *p, size_t n)
{
    size_t  i;
    char    esc[3];

    for (i = 0; i < n; i++) {
        if (dm_sigv4_unreserved(p[i])) {
            dm_sigv4_out_char(o, (char) p[i]);
            continue;
        }

        esc[0] = '%';
        esc[1] = dm_sigv4_uhex[p[i] >> 4];
        esc[2] = dm_sigv4_uhex[p[i] & 0x0f];
        dm_sigv4_out_add(o, esc, 3);
    }
}


static void
dm_sigv4_hex_encode(char *dst, const unsigned char *src, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        dst[2 * i] = dm_sigv4_hex[src[i] >> 4];
        dst[2 * i + 1] = dm_sigv4_hex[src[i] & 0x0f];
    }

    dst[2 * n] = '\0';
}


/*
 * SHA-256 through one EVP_MD fetched once and one reused context:
 * EVP_sha256() and HMAC() look the algorithm up by name on every call
 * (OpenSSL 3), which cost more than hashing a DynamoDB request.  One of
 * each per thread (a worker signs in its main thread, but the module also
 * runs tasks in a thread pool), kept for the thread's life.
 */
static __thread EVP_MD      *dm_sigv4_md;
static __thread EVP_MD_CTX  *dm_sigv4_md_ctx;


static EVP_MD_CTX *
dm_sigv4_digest_begin(void)
{
    if (dm_sigv4_md_ctx == NULL) {
        if (dm_sigv4_md == NULL) {
            dm_sigv4_md = EVP_MD_fetch(NULL, "SHA256", NULL);
            if (dm_sigv4_md == NULL) {
                return NULL;
            }
        }

        dm_sigv4_md_ctx = EVP_MD_CTX_new();
        if (dm_sigv4_md_ctx == NULL) {
            return NULL;
        }
    }

    if (EVP_DigestInit_ex2(dm_sigv4_md_ctx, dm_sigv4_md, NULL) != 1) {
        return NULL;
    }

    return dm_sigv4_md_ctx;
}


/* SHA-256 of p1 followed by p2 (n2 may be 0) */
static int
dm_sigv4_sha256_2(const void *p1, size_t n1, const void *p2, size_t n2,
    unsigned char *md)
{
    unsigned int   len;
    EVP_MD_CTX    *ctx;

    ctx = dm_sigv4_digest_begin();
    if (ctx == NULL
        || EVP_DigestUpdate(ctx, p1, n1) != 1
        || (n2 && EVP_DigestUpdate(ctx, p2, n2) != 1)
        || EVP_DigestFinal_ex(ctx, md, &len) != 1
        || len != 32)
    {
        return -1;
    }

    return 0;
}


static int
dm_sigv4_sha256(const void *p, size_t n, unsigned char *md)
{
    return dm_sigv4_sha256_2(p, n, NULL, 0, md);
}


int
dm_sha256(const void *p, size_t n, unsigned char *md)
{
    return dm_sigv4_sha256_2(p, n, NULL, 0, md);
}


static int
dm_sigv4_sha256_hex(const void *p, size_t n, char *hex)
{
    unsigned char  md[32];

    if (dm_sigv4_sha256(p, n, md) != 0) {
        return -1;
    }

    dm_sigv4_hex_encode(hex, md, 32);

    return 0;
}


/* HMAC-SHA256 (RFC 2104), on the digest above */
static int
dm_sigv4_hmac(const void *key, size_t key_len, const void *p, size_t n,
    unsigned char *md)
{
    int             rc;
    size_t          i;
    unsigned char   k[64], pad[64], inner[32];

    memset(k, 0, sizeof(k));

    if (key_len > sizeof(k)) {
        if (dm_sigv4_sha256(key, key_len, k) != 0) {
            return -1;
        }

    } else {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] = k[i] ^ 0x36;
    }

    rc = dm_sigv4_sha256_2(pad, sizeof(pad), p, n, inner);

    if (rc == 0) {
        for (i = 0; i < sizeof(pad); i++) {
            pad[i] = k[i] ^ 0x5c;
        }

        rc = dm_sigv4_sha256_2(pad, sizeof(pad), inner, sizeof(inner), md);
    }

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));

    return rc;
}


static int
dm_sigv4_valid_amz_date(const char *d)
{
    size_t  i;

    if (d == NULL || strlen(d) != DM_SIGV4_AMZ_DATE_LEN
        || d[8] != 'T' || d[15] != 'Z')
    {
        return 0;
    }

    for (i = 0; i < 15; i++) {
        if (i != 8 && (d[i] < '0' || d[i] > '9')) {
            return 0;
        }
    }

    return 1;
}


/* region and service must fit the cache and contain no scope separator */
static int
dm_sigv4_valid_scope_part(const char *s)
{
    size_t  n;

    if (s == NULL) {
        return 0;
    }

    n = strlen(s);

    return n > 0 && n < 64 && strchr(s, '/') == NULL;
}


/* visible ASCII only: values that need no trimming or collapsing */
static int
dm_sigv4_visible(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


static int
dm_sigv4_signing_key(const dm_aws_credentials_t *creds,
    dm_sigv4_key_cache_t *cache, const char *amz_date, const char *region,
    const char *service, unsigned char *key)
{
    int             rc;
    size_t          slen;
    unsigned char   digest[32], k1[32], k2[32];
    unsigned char   secret[4 + DM_SIGV4_SECRET_MAX];

    slen = strlen(creds->secret_access_key);
    if (slen == 0 || slen > DM_SIGV4_SECRET_MAX) {
        return -1;
    }

    if (dm_sigv4_sha256(creds->secret_access_key, slen, digest) != 0) {
        return -1;
    }

    if (cache != NULL && cache->valid
        && memcmp(cache->date, amz_date, 8) == 0
        && strcmp(cache->region, region) == 0
        && strcmp(cache->service, service) == 0
        && CRYPTO_memcmp(cache->secret_digest, digest, 32) == 0)
    {
        memcpy(key, cache->key, 32);
        return 0;
    }

    memcpy(secret, "AWS4", 4);
    memcpy(secret + 4, creds->secret_access_key, slen);

    rc = dm_sigv4_hmac(secret, 4 + slen, amz_date, 8, k1)
         || dm_sigv4_hmac(k1, 32, region, strlen(region), k2)
         || dm_sigv4_hmac(k2, 32, service, strlen(service), k1)
         || dm_sigv4_hmac(k1, 32, DM_SIGV4_TERMINATOR,
                          sizeof(DM_SIGV4_TERMINATOR) - 1, key);

    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));

    if (rc) {
        return -1;
    }

    if (cache != NULL) {
        memcpy(cache->date, amz_date, 8);
        cache->date[8] = '\0';
        strcpy(cache->region, region);
        strcpy(cache->service, service);
        memcpy(cache->secret_digest, digest, 32);
        memcpy(cache->key, key, 32);
        cache->valid = 1;
    }

    return 0;
}


/*
 * HMAC-SHA256 with the signing key, which stays the same all day: the
 * digests of its two padded blocks are kept (per thread, with the key they
 * were made from) and copied for each signature, two SHA-256 blocks less.
 */
static __thread EVP_MD_CTX     *dm_sigv4_key_inner;
static __thread EVP_MD_CTX     *dm_sigv4_key_outer;
static __thread unsigned char   dm_sigv4_key_of[32];
static __thread int             dm_sigv4_key_ready;


static int
dm_sigv4_hmac_signing_key(const unsigned char *key, const void *p, size_t n,
    unsigned char *md)
{
    int             rc;
    size_t          i;
    unsigned int    len;
    EVP_MD_CTX     *ctx;
    unsigned char   pad[64], inner[32];

    if (!dm_sigv4_key_ready || CRYPTO_memcmp(dm_sigv4_key_of, key, 32) != 0)
    {
        dm_sigv4_key_ready = 0;

        if (dm_sigv4_digest_begin() == NULL) {
            return -1;
        }

        if (dm_sigv4_key_inner == NULL) {
            dm_sigv4_key_inner = EVP_MD_CTX_new();
            if (dm_sigv4_key_inner == NULL) {
                return -1;
            }
        }

        if (dm_sigv4_key_outer == NULL) {
            dm_sigv4_key_outer = EVP_MD_CTX_new();
            if (dm_sigv4_key_outer == NULL) {
                return -1;
            }
        }

        memset(pad, 0x36, sizeof(pad));
        for (i = 0; i < 32; i++) {
            pad[i] ^= key[i];
        }

        rc = EVP_DigestInit_ex2(dm_sigv4_key_inner, dm_sigv4_md, NULL) != 1
             || EVP_DigestUpdate(dm_sigv4_key_inner, pad, sizeof(pad)) != 1;

        memset(pad, 0x5c, sizeof(pad));
        for (i = 0; i < 32; i++) {
            pad[i] ^= key[i];
        }

        rc = rc
             || EVP_DigestInit_ex2(dm_sigv4_key_outer, dm_sigv4_md, NULL)
                != 1
             || EVP_DigestUpdate(dm_sigv4_key_outer, pad, sizeof(pad)) != 1;

        OPENSSL_cleanse(pad, sizeof(pad));

        if (rc) {
            return -1;
        }

        memcpy(dm_sigv4_key_of, key, 32);
        dm_sigv4_key_ready = 1;
    }

    ctx = dm_sigv4_md_ctx;

    rc = EVP_MD_CTX_copy_ex(ctx, dm_sigv4_key_inner) != 1
         || EVP_DigestUpdate(ctx, p, n) != 1
         || EVP_DigestFinal_ex(ctx, inner, &len) != 1
         || len != 32
         || EVP_MD_CTX_copy_ex(ctx, dm_sigv4_key_outer) != 1
         || EVP_DigestUpdate(ctx, inner, sizeof(inner)) != 1
         || EVP_DigestFinal_ex(ctx, md, &len) != 1
         || len != 32;

    OPENSSL_cleanse(inner, sizeof(inner));

    return rc ? -1 : 0;
}


/*
 * String to sign, signature and Authorization value from a finished
 * canonical request.  Stack only: shared by both entry points.
 */
static int
dm_sigv4_finish(const dm_aws_credentials_t *creds,
    dm_sigv4_key_cache_t *cache, const char *amz_date, const char *region,
    const char *service, const char *creq, size_t creq_len,
    const char *signed_headers, size_t signed_headers_len,
    char *sts_out, size_t sts_size, char *signature,
    char *authz, size_t authz_size)
{
    int              rc;
    unsigned char    key[32], md[32];
    char             sts[DM_SIGV4_STS_MAX];
    dm_sigv4_out_t   o;

    o.data = sts;
    o.len = 0;
    o.cap = sizeof(sts);
    o.fixed = 1;
    o.failed = 0;

    dm_sigv4_out_str(&o, DM_SIGV4_ALGORITHM "\n");
    dm_sigv4_out_add(&o, amz_date, DM_SIGV4_AMZ_DATE_LEN);
    dm_sigv4_out_char(&o, '\n');
    dm_sigv4_out_add(&o, amz_date, 8);
    dm_sigv4_out_char(&o, '/');
    dm_sigv4_out_str(&o, region);
    dm_sigv4_out_char(&o, '/');
    dm_sigv4_out_str(&o, service);
    dm_sigv4_out_str(&o, "/" DM_SIGV4_TERMINATOR "\n");

    if (o.failed || o.cap - o.len <= 64) {
        return -1;
    }

    if (dm_sigv4_sha256_hex(creq, creq_len, o.data + o.len) != 0) {
        return -1;
    }

    o.len += 64;

    if (sts_out != NULL) {
        if (sts_size <= o.len) {
            return -1;
        }
        memcpy(sts_out, o.data, o.len + 1);
    }

    if (dm_sigv4_signing_key(creds, cache, amz_date, region, service, key)
        != 0)
    {
        return -1;
    }

    rc = dm_sigv4_hmac_signing_key(key, o.data, o.len, md);
    OPENSSL_cleanse(key, sizeof(key));

    if (rc) {
        return -1;
    }

    dm_sigv4_hex_encode(signature, md, 32);

    o.data = authz;
    o.len = 0;
    o.cap = authz_size;
    o.fixed = 1;
    o.failed = 0;

    dm_sigv4_out_str(&o, DM_SIGV4_ALGORITHM " Credential=");
    dm_sigv4_out_str(&o, creds->access_key_id);
    dm_sigv4_out_char(&o, '/');
    dm_sigv4_out_add(&o, amz_date, 8);
    dm_sigv4_out_char(&o, '/');
    dm_sigv4_out_str(&o, region);
    dm_sigv4_out_char(&o, '/');
    dm_sigv4_out_str(&o, service);
    dm_sigv4_out_str(&o, "/" DM_SIGV4_TERMINATOR ", SignedHeaders=");
    dm_sigv4_out_add(&o, signed_headers, signed_headers_len);
    dm_sigv4_out_str(&o, ", Signature=");
    dm_sigv4_out_add(&o, signature, 64);

    if (o.failed) {
        if (authz_size) {
            authz[0] = '\0';
        }
        return -1;
    }

    return 0;
}


void
dm_sigv4_amz_date(time_t t, char *out)
{
    struct tm  tm;

    /* every call of a second has the same date: format it once */
    static __thread int     cached;
    static __thread time_t  cached_t;
    static __thread char    cached_date[DM_SIGV4_AMZ_DATE_LEN + 1];

    if (cached && t == cached_t) {
        memcpy(out, cached_date, DM_SIGV4_AMZ_DATE_LEN + 1);
        return;
    }

    if (gmtime_r(&t, &tm) == NULL
        || strftime(out, DM_SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm)
           != DM_SIGV4_AMZ_DATE_LEN)
    {
        /* years past 9999: an obviously invalid date the signer rejects */
        memset(out, '0', DM_SIGV4_AMZ_DATE_LEN);
        out[DM_SIGV4_AMZ_DATE_LEN] = '\0';
    }

    memcpy(cached_date, out, DM_SIGV4_AMZ_DATE_LEN + 1);
    cached_t = t;
    cached = 1;
}


/*
 * RFC 3986 remove_dot_segments, plus empty segments ("//") dropped as the
 * vectors require.  Segments are encoded as they are appended, so a ".."
 * simply cuts the output back to its previous '/'.
 */
static void
dm_sigv4_canonical_uri(dm_sigv4_out_t *o, const char *path, size_t len,
    int normalize)
{
    int          trailing;
    size_t       start, i, j, n;
    const char  *seg;

    if (len == 0) {
        dm_sigv4_out_char(o, '/');
        return;
    }

    if (!normalize) {
        for (i = 0; i < len; i = j + 1) {
            for (j = i; j < len && path[j] != '/'; j++) { /* void */ }

            dm_sigv4_out_encode(o, (const unsigned char *) path + i, j - i);
            if (j < len) {
                dm_sigv4_out_char(o, '/');
            }
        }
        return;
    }

    start = o->len;
    trailing = 0;

    for (i = 0; i <= len; i = j + 1) {
        for (j = i; j < len && path[j] != '/'; j++) { /* void */ }

        seg = path + i;
        n = j - i;

        if (n == 0 || (n == 1 && seg[0] == '.')) {
            trailing = 1;
            continue;
        }

        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            while (o->len > start && o->data[o->len - 1] != '/') {
                o->len--;
            }
            if (o->len > start) {
                o->len--;
            }
            trailing = 1;
            continue;
        }

        dm_sigv4_out_char(o, '/');
        dm_sigv4_out_encode(o, (const unsigned char *) seg, n);
        trailing = 0;
    }

    if (o->failed) {
        return;
    }

    if (o->len == start || trailing) {
        dm_sigv4_out_char(o, '/');
    }

    o->data[o->len] = '\0';
}


static int
dm_sigv4_unhex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}


/*
 * Decode %XX (a '%' not followed by two hex digits stays literal), then
 * encode per AWS rules, so raw and already-encoded input canonicalize
 * alike.  dst needs 3 * n bytes.
 */
static size_t
dm_sigv4_query_part(char *dst, const char *p, size_t n)
{
    int             hi, lo;
    size_t          i, d;
    unsigned char   c;

    d = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) p[i];

        if (c == '%' && i + 2 < n) {
            hi = dm_sigv4_unhex(p[i + 1]);
            lo = dm_sigv4_unhex(p[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (unsigned char) (hi << 4 | lo);
                i += 2;
            }
        }

        if (dm_sigv4_unreserved(c)) {
            dst[d++] = (char) c;

        } else {
            dst[d++] = '%';
            dst[d++] = dm_sigv4_uhex[c >> 4];
            dst[d++] = dm_sigv4_uhex[c & 0x0f];
        }
    }

    return d;
}


static int
dm_sigv4_cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int  rc;

    rc = memcmp(a, b, an < bn ? an : bn);
    if (rc != 0) {
        return rc;
    }

    return (an > bn) - (an < bn);
}


static int
dm_sigv4_param_cmp(const void *a, const void *b)
{
    int                      rc;
    const dm_sigv4_param_t  *x = a, *y = b;

    rc = dm_sigv4_cmp_bytes(x->key, x->key_len, y->key, y->key_len);
    if (rc != 0) {
        return rc;
    }

    return dm_sigv4_cmp_bytes(x->value, x->value_len, y->value, y->value_len);
}


static int
dm_sigv4_canonical_query(dm_sigv4_out_t *o, const char *q, size_t len)
{
    char              *scratch, *s;
    size_t             i, j, k, n, count;
    dm_sigv4_param_t  *params;

    if (q == NULL || len == 0) {
        return 0;
    }

    if (len > ((size_t) -1) / 4 / sizeof(dm_sigv4_param_t)) {
        return -1;
    }

    count = 1;
    for (i = 0; i < len; i++) {
        count += (q[i] == '&');
    }

    params = malloc(count * sizeof(dm_sigv4_param_t));
    scratch = malloc(3 * len);

    if (params == NULL || scratch == NULL) {
        free(params);
        free(scratch);
        return -1;
    }

    s = scratch;
    n = 0;

    for (i = 0; i <= len; i = j + 1) {
        for (j = i; j < len && q[j] != '&'; j++) { /* void */ }

        if (j == i) {
            continue;
        }

        for (k = i; k < j && q[k] != '='; k++) { /* void */ }

        params[n].key = s;
        params[n].key_len = dm_sigv4_query_part(s, q + i, k - i);
        s += params[n].key_len;

        params[n].value = s;
        params[n].value_len = (k < j)
                              ? dm_sigv4_query_part(s, q + k + 1, j - k - 1)
                              : 0;
        s += params[n].value_len;

        n++;
    }

    qsort(params, n, sizeof(dm_sigv4_param_t), dm_sigv4_param_cmp);

    for (i = 0; i < n; i++) {
        if (i) {
            dm_sigv4_out_char(o, '&');
        }
        dm_sigv4_out_add(o, params[i].key, params[i].key_len);
        dm_sigv4_out_char(o, '=');
        dm_sigv4_out_add(o, params[i].value, params[i].value_len);
    }

    free(params);
    free(scratch);

    return 0;
}


static int
dm_sigv4_name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t         i;
    unsigned char  x, y;

    for (i = 0; i < an && i < bn; i++) {
        x = (unsigned char) a[i];
        y = (unsigned char) b[i];
        x = (x >= 'A' && x <= 'Z') ? (unsigned char) (x | 0x20) : x;
        y = (y >= 'A' && y <= 'Z') ? (unsigned char) (y | 0x20) : y;

        if (x != y) {
            return x < y ? -1 : 1;
        }
    }

    return (an > bn) - (an < bn);
}


static int
dm_sigv4_name_is(const dm_sigv4_header_t *h, const char *lower)
{
    return dm_sigv4_name_cmp(h->name, h->name_len, lower, strlen(lower))
           == 0;
}


/* by lower-cased name, then request order (duplicates keep their order) */
static int
dm_sigv4_hdr_cmp(const void *a, const void *b)
{
    int                    rc;
    const dm_sigv4_hdr_t  *x = a, *y = b;

    rc = dm_sigv4_name_cmp(x->name, x->name_len, y->name, y->name_len);
    if (rc != 0) {
        return rc;
    }

    return (x->order > y->order) - (x->order < y->order);
}


static int
dm_sigv4_valid_name(const char *p, size_t n)
{
    size_t  i;

    if (p == NULL || n == 0) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((unsigned char) p[i] <= 0x20 || (unsigned char) p[i] >= 0x7f
            || p[i] == ':')
        {
            return 0;
        }
    }

    return 1;
}


static int
dm_sigv4_canonical_headers(dm_sigv4_out_t *o, dm_sigv4_out_t *sh,
    const dm_sigv4_request_t *req, const char *token, int add_token)
{
    int              has_host, has_date, has_token;
    size_t           i, n;
    dm_sigv4_hdr_t  *h;

    has_host = 0;
    has_date = 0;
    has_token = 0;

    for (i = 0; i < req->nheaders; i++) {
        if (!dm_sigv4_valid_name(req->headers[i].name,
                                 req->headers[i].name_len)
            || (req->headers[i].value == NULL
                && req->headers[i].value_len != 0))
        {
            return -1;
        }

        has_host |= dm_sigv4_name_is(&req->headers[i], "host");
        has_date |= dm_sigv4_name_is(&req->headers[i], "x-amz-date");
        has_token |= dm_sigv4_name_is(&req->headers[i],
                                      "x-amz-security-token");
    }

    if (!has_host) {
        return -1;
    }

    h = malloc((req->nheaders + 2) * sizeof(dm_sigv4_hdr_t));
    if (h == NULL) {
        return -1;
    }

    for (i = 0; i < req->nheaders; i++) {
        h[i].name = req->headers[i].name;
        h[i].name_len = req->headers[i].name_len;
        h[i].value = req->headers[i].value;
        h[i].value_len = req->headers[i].value_len;
        h[i].order = i;
    }

    n = req->nheaders;

    /* the signer owns X-Amz-Date unless the caller already set it */
    if (!has_date) {
        h[n].name = "x-amz-date";
        h[n].name_len = sizeof("x-amz-date") - 1;
        h[n].value = req->amz_date;
        h[n].value_len = DM_SIGV4_AMZ_DATE_LEN;
        h[n].order = n;
        n++;
    }

    if (add_token && !has_token) {
        h[n].name = "x-amz-security-token";
        h[n].name_len = sizeof("x-amz-security-token") - 1;
        h[n].value = token;
        h[n].value_len = strlen(token);
        h[n].order = n;
        n++;
    }

    qsort(h, n, sizeof(dm_sigv4_hdr_t), dm_sigv4_hdr_cmp);

    for (i = 0; i < n; i++) {
        if (i > 0
            && dm_sigv4_name_cmp(h[i].name, h[i].name_len,
                                 h[i - 1].name, h[i - 1].name_len) == 0)
        {
            dm_sigv4_out_char(o, ',');
            dm_sigv4_out_value(o, h[i].value, h[i].value_len);
            continue;
        }

        if (i > 0) {
            dm_sigv4_out_char(o, '\n');
            dm_sigv4_out_char(sh, ';');
        }

        dm_sigv4_out_lower(o, h[i].name, h[i].name_len);
        dm_sigv4_out_char(o, ':');
        dm_sigv4_out_value(o, h[i].value, h[i].value_len);

        dm_sigv4_out_lower(sh, h[i].name, h[i].name_len);
    }

    dm_sigv4_out_char(o, '\n');

    free(h);

    return 0;
}


int
dm_sigv4_sign(const dm_aws_credentials_t *creds,
    dm_sigv4_key_cache_t *cache, const dm_sigv4_request_t *req,
    dm_sigv4_result_t *res)
{
    int              rc, add_token;
    char             payload_hash[65];
    const char      *token;
    dm_sigv4_out_t   o, sh;

    if (creds == NULL || req == NULL || res == NULL
        || creds->access_key_id == NULL || creds->access_key_id[0] == '\0'
        || creds->secret_access_key == NULL
        || req->method == NULL || req->method[0] == '\0'
        || (req->path == NULL && req->path_len != 0)
        || (req->query == NULL && req->query_len != 0)
        || (req->headers == NULL && req->nheaders != 0)
        || (req->payload == NULL && req->payload_len != 0)
        || !dm_sigv4_valid_scope_part(req->region)
        || !dm_sigv4_valid_scope_part(req->service)
        || !dm_sigv4_valid_amz_date(req->amz_date))
    {
        return -1;
    }

    token = creds->session_token;
    add_token = req->sign_session_token && token != NULL && token[0] != '\0';

    if (dm_sigv4_sha256_hex(req->payload ? (const void *) req->payload : "",
                            req->payload_len, payload_hash)
        != 0)
    {
        return -1;
    }

    memset(&o, 0, sizeof(o));
    memset(&sh, 0, sizeof(sh));

    rc = -1;

    dm_sigv4_out_str(&o, req->method);
    dm_sigv4_out_char(&o, '\n');
    dm_sigv4_canonical_uri(&o, req->path, req->path_len,
                           req->normalize_path);
    dm_sigv4_out_char(&o, '\n');

    if (dm_sigv4_canonical_query(&o, req->query, req->query_len) != 0) {
        goto done;
    }

    dm_sigv4_out_char(&o, '\n');

    if (dm_sigv4_canonical_headers(&o, &sh, req, token, add_token) != 0) {
        goto done;
    }

    dm_sigv4_out_char(&o, '\n');
    dm_sigv4_out_add(&o, sh.data, sh.len);
    dm_sigv4_out_char(&o, '\n');
    dm_sigv4_out_add(&o, payload_hash, 64);

    if (o.failed || sh.failed) {
        goto done;
    }

    if (res->canonical_request != NULL) {
        if (res->canonical_request_size <= o.len) {
            goto done;
        }
        memcpy(res->canonical_request, o.data, o.len + 1);
    }

    rc = dm_sigv4_finish(creds, cache, req->amz_date, req->region,
                         req->service, o.data, o.len, sh.data, sh.len,
                         res->string_to_sign, res->string_to_sign_size,
                         res->signature, res->authorization,
                         sizeof(res->authorization));

done:

    /* the canonical request may carry the session token */
    if (o.data != NULL) {
        OPENSSL_cleanse(o.data, o.cap);
    }

    free(o.data);
    free(sh.data);

    return rc;
}


int
dm_sigv4_sign_dynamodb(const dm_aws_credentials_t *creds,
    dm_sigv4_key_cache_t *cache, const char *region, const char *host,
    const char *amz_date, const char *operation,
    const unsigned char *body, size_t body_len,
    char *authorization, size_t authorization_size)
{
    int              rc, with_token;
    size_t           sh_len, host_len, op_len, token_len, need;
    const char      *token, *sh;
    char             signature[65];
    char             creq[DM_SIGV4_DDB_CREQ_STACK];
    dm_sigv4_out_t   o;

    static const char  sh_plain[] =
        "content-type;host;x-amz-date;x-amz-target";
    static const char  sh_token[] =
        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target";

    if (creds == NULL || authorization == NULL
        || creds->access_key_id == NULL || creds->access_key_id[0] == '\0'
        || creds->secret_access_key == NULL
        || host == NULL || host[0] == '\0'
        || operation == NULL || operation[0] == '\0'
        || (body == NULL && body_len != 0)
        || !dm_sigv4_valid_scope_part(region)
        || !dm_sigv4_valid_amz_date(amz_date))
    {
        return -1;
    }

    token = creds->session_token;
    with_token = (token != NULL && token[0] != '\0');

    host_len = strlen(host);
    op_len = strlen(operation);
    token_len = with_token ? strlen(token) : 0;

    /*
     * The general signer would trim and collapse whitespace in these
     * values; refusing it here keeps both paths byte-identical.
     */
    if (!dm_sigv4_visible(host, host_len)
        || !dm_sigv4_visible(operation, op_len)
        || (with_token && !dm_sigv4_visible(token, token_len)))
    {
        return -1;
    }

    /* the fixed text below (about 210 bytes), the values, the hash */
    need = 512 + host_len + op_len + token_len + 64;

    if (need < host_len || need < token_len) {
        return -1;
    }

    if (need <= sizeof(creq)) {
        o.data = creq;
        o.cap = sizeof(creq);

    } else {
        o.data = malloc(need);
        if (o.data == NULL) {
            return -1;
        }
        o.cap = need;
    }

    o.len = 0;
    o.fixed = 1;
    o.failed = 0;

    dm_sigv4_out_str(&o, "POST\n/\n\ncontent-type:" DM_DDB_CONTENT_TYPE
                         "\nhost:");
    dm_sigv4_out_str(&o, host);
    dm_sigv4_out_str(&o, "\nx-amz-date:");
    dm_sigv4_out_add(&o, amz_date, DM_SIGV4_AMZ_DATE_LEN);

    if (with_token) {
        dm_sigv4_out_str(&o, "\nx-amz-security-token:");
        dm_sigv4_out_str(&o, token);
        sh = sh_token;
        sh_len = sizeof(sh_token) - 1;

    } else {
        sh = sh_plain;
        sh_len = sizeof(sh_plain) - 1;
    }

    dm_sigv4_out_str(&o, "\nx-amz-target:" DM_DDB_TARGET_PREFIX);
    dm_sigv4_out_str(&o, operation);
    dm_sigv4_out_str(&o, "\n\n");
    dm_sigv4_out_add(&o, sh, sh_len);
    dm_sigv4_out_char(&o, '\n');

    rc = -1;

    if (o.failed || o.cap - o.len <= 64) {
        goto done;
    }

    if (dm_sigv4_sha256_hex(body ? (const void *) body : "", body_len,
                            o.data + o.len)
        != 0)
    {
        goto done;
    }

    o.len += 64;

    rc = dm_sigv4_finish(creds, cache, amz_date, region,
                         DM_SIGV4_DDB_SERVICE, o.data, o.len, sh, sh_len,
                         NULL, 0, signature, authorization,
                         authorization_size);

done:

    /* the canonical request carries the session token */
    if (with_token) {
        OPENSSL_cleanse(o.data, o.cap);
    }

    if (o.data != creq) {
        free(o.data);
    }

    return rc;
}
