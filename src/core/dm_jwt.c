/*
 * JWKS, RS256 verification and signing; see dm_jwt.h.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "dm_jwt.h"


#define DM_JWK_RSA_BITS_MIN   2048
#define DM_JWK_RSA_BITS_MAX   8192
#define DM_JWK_SIG_MAX        (DM_JWK_RSA_BITS_MAX / 8)
/* encoded lengths that cannot hold more than the limits above */
#define DM_B64_LEN(n)         (((n) * 4 + 2) / 3)


typedef struct {
    char            kid[DM_JWT_KID_MAX + 1];
    EVP_PKEY       *pkey;
    /*
     * initialised for RS256 once: a fresh context per token costs a few
     * microseconds of provider look-ups, a fifth of the RSA work itself
     */
    EVP_PKEY_CTX   *vctx;
    size_t          size;               /* signature length, bytes */
} dm_jwk_t;


struct dm_jwks_s {
    dm_jwk_t        key[DM_JWKS_KEYS_MAX];
    size_t          n;
    size_t          skipped;
    EVP_MD         *sha256;             /* fetched once, not per token */
};


static const char  dm_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static const char *const  dm_jwt_reasons[] = {
    "ok",
    "malformed",
    "too large",
    "alg not allowed",
    "unknown kid",
    "bad signature",
    "wrong issuer",
    "not an access token",
    "wrong client",
    "expired",
    "not yet valid",
    "issued in the future",
    "no subject",
    "internal error"
};


const char *
dm_jwt_reason(dm_jwt_rc_e rc)
{
    if ((size_t) rc >= sizeof(dm_jwt_reasons) / sizeof(dm_jwt_reasons[0])) {
        return "unknown";
    }

    return dm_jwt_reasons[rc];
}


/* ---- base64url --------------------------------------------------------- */

static int
dm_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}


long
dm_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t out_size)
{
    int       v;
    size_t    i, o, need;
    unsigned  acc, bits;

    /* one character left over carries 6 bits: never a whole byte */
    if (len % 4 == 1) {
        return -1;
    }

    need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > out_size) {
        return -1;
    }

    acc = 0;
    bits = 0;
    o = 0;

    for (i = 0; i < len; i++) {
        v = dm_b64url_value((unsigned char) in[i]);
        if (v < 0) {
            return -1;
        }

        acc = ((acc << 6) | (unsigned) v) & 0xfff;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
        }
    }

    /* a canonical encoding leaves the unused low bits zero */
    if (acc & ((1u << bits) - 1)) {
        return -1;
    }

    return (long) o;
}


int
dm_b64url_append(dm_buf_t *b, const unsigned char *in, size_t len)
{
    char      q[4];
    size_t    i;
    unsigned  v;

    if (dm_buf_reserve(b, DM_B64_LEN(len) + 4) != 0) {
        return -1;
    }

    for (i = 0; i + 3 <= len; i += 3) {
        v = (unsigned) in[i] << 16 | (unsigned) in[i + 1] << 8 | in[i + 2];
        q[0] = dm_b64url_alphabet[v >> 18];
        q[1] = dm_b64url_alphabet[(v >> 12) & 63];
        q[2] = dm_b64url_alphabet[(v >> 6) & 63];
        q[3] = dm_b64url_alphabet[v & 63];
        dm_buf_append(b, q, 4);
    }

    if (len - i == 1) {
        v = (unsigned) in[i] << 16;
        q[0] = dm_b64url_alphabet[v >> 18];
        q[1] = dm_b64url_alphabet[(v >> 12) & 63];
        dm_buf_append(b, q, 2);

    } else if (len - i == 2) {
        v = (unsigned) in[i] << 16 | (unsigned) in[i + 1] << 8;
        q[0] = dm_b64url_alphabet[v >> 18];
        q[1] = dm_b64url_alphabet[(v >> 12) & 63];
        q[2] = dm_b64url_alphabet[(v >> 6) & 63];
        dm_buf_append(b, q, 3);
    }

    return b->failed ? -1 : 0;
}


/* ---- messages ---------------------------------------------------------- */

static void
dm_jwt_errf(char *err, size_t size, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || size == 0) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}


/*
 * A value from a token or a key file, fit for a log line: printable ASCII
 * only, at most 64 characters.
 */
static void
dm_jwt_quote(char *out, size_t size, const char *s)
{
    size_t  i, n;

    n = 0;

    for (i = 0; s[i] != '\0' && n + 4 < size; i++) {
        if (i == 64) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }

        out[n++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    }

    out[n] = '\0';
}


static dm_jwt_rc_e
dm_jwt_fail(dm_jwt_claims_t *claims, dm_jwt_rc_e rc, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(claims->detail, sizeof(claims->detail), fmt, ap);
    va_end(ap);

    return rc;
}


/* ---- JWKS -------------------------------------------------------------- */

static EVP_PKEY *
dm_jwk_rsa_public(const unsigned char *n, size_t nlen, const unsigned char *e,
    size_t elen)
{
    BIGNUM          *bn, *be;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    params = NULL;
    ctx = NULL;

    bn = BN_bin2bn(n, (int) nlen, NULL);
    be = BN_bin2bn(e, (int) elen, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (bn == NULL || be == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);

    return pkey;
}


/* an optional string member: 1 absent, 0 present (*value), -1 not a string */
static int
dm_json_opt_string(json_t *obj, const char *name, const char **value)
{
    json_t  *v;

    v = json_object_get(obj, name);
    if (v == NULL) {
        return 1;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    *value = json_string_value(v);

    return 0;
}


/* 1 kept, 0 skipped (not an RS256 signing key), -1 error (err set) */
static int
dm_jwks_add(dm_jwks_t *keys, json_t *k, size_t idx, char *err,
    size_t err_size)
{
    int             rc, bits;
    long            nlen, elen;
    size_t          i, len;
    const char     *kty, *use, *alg, *kid, *n, *e;
    unsigned char   nbuf[DM_JWK_SIG_MAX + 1], ebuf[16];
    dm_jwk_t       *jwk;
    EVP_PKEY       *pkey;

    if (!json_is_object(k)) {
        dm_jwt_errf(err, err_size, "key %zu is not a JSON object", idx);
        return -1;
    }

    kty = use = alg = kid = n = e = NULL;

    if (dm_json_opt_string(k, "kty", &kty) != 0) {
        dm_jwt_errf(err, err_size, "key %zu has no \"kty\" string", idx);
        return -1;
    }

    if (dm_json_opt_string(k, "use", &use) < 0
        || dm_json_opt_string(k, "alg", &alg) < 0)
    {
        dm_jwt_errf(err, err_size, "key %zu: \"use\" and \"alg\" must be "
                    "strings", idx);
        return -1;
    }

    if (strcmp(kty, "RSA") != 0
        || (use != NULL && strcmp(use, "sig") != 0)
        || (alg != NULL && strcmp(alg, DM_JWT_ALG_RS256) != 0))
    {
        keys->skipped++;
        return 0;
    }

    rc = dm_json_opt_string(k, "kid", &kid);
    if (rc != 0 || kid[0] == '\0' || strlen(kid) > DM_JWT_KID_MAX) {
        dm_jwt_errf(err, err_size, "RSA key %zu has no \"kid\" string of 1 "
                    "to %d characters", idx, DM_JWT_KID_MAX);
        return -1;
    }

    for (i = 0; i < keys->n; i++) {
        if (strcmp(keys->key[i].kid, kid) == 0) {
            dm_jwt_errf(err, err_size, "two keys with kid \"%.64s\"", kid);
            return -1;
        }
    }

    if (dm_json_opt_string(k, "n", &n) != 0
        || dm_json_opt_string(k, "e", &e) != 0)
    {
        dm_jwt_errf(err, err_size, "RSA key \"%.64s\" lacks \"n\" or \"e\"",
                    kid);
        return -1;
    }

    nlen = dm_b64url_decode(n, strlen(n), nbuf, sizeof(nbuf));
    elen = dm_b64url_decode(e, strlen(e), ebuf, sizeof(ebuf));

    if (nlen <= 0 || elen <= 0 || elen > 8) {
        dm_jwt_errf(err, err_size, "RSA key \"%.64s\": \"n\" or \"e\" is not "
                    "unpadded base64url of a sensible size", kid);
        return -1;
    }

    /* RFC 7518: no leading zero octets; tolerate them, count bits after */
    for (len = 0; len < (size_t) nlen && nbuf[len] == 0; len++) {
        /* void */
    }

    bits = (int) ((size_t) nlen - len) * 8;
    if (len < (size_t) nlen) {
        for (i = 0x80; i && !(nbuf[len] & i); i >>= 1) {
            bits--;
        }
    }

    if (bits < DM_JWK_RSA_BITS_MIN || bits > DM_JWK_RSA_BITS_MAX) {
        dm_jwt_errf(err, err_size, "RSA key \"%.64s\" has a %d-bit modulus; "
                    "%d to %d bits are accepted", kid, bits,
                    DM_JWK_RSA_BITS_MIN, DM_JWK_RSA_BITS_MAX);
        return -1;
    }

    if (!(ebuf[elen - 1] & 1) || (elen == 1 && ebuf[0] < 3)) {
        dm_jwt_errf(err, err_size, "RSA key \"%.64s\" has an invalid public "
                    "exponent", kid);
        return -1;
    }

    if (keys->n == DM_JWKS_KEYS_MAX) {
        dm_jwt_errf(err, err_size, "more than %d keys", DM_JWKS_KEYS_MAX);
        return -1;
    }

    pkey = dm_jwk_rsa_public(nbuf + len, (size_t) nlen - len, ebuf,
                             (size_t) elen);
    if (pkey == NULL) {
        ERR_clear_error();
        dm_jwt_errf(err, err_size, "RSA key \"%.64s\" is not usable by "
                    "OpenSSL", kid);
        return -1;
    }

    jwk = &keys->key[keys->n++];
    memcpy(jwk->kid, kid, strlen(kid) + 1);
    jwk->pkey = pkey;
    jwk->size = (size_t) EVP_PKEY_get_size(pkey);
    jwk->vctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

    if (jwk->vctx == NULL
        || EVP_PKEY_verify_init(jwk->vctx) <= 0
        || EVP_PKEY_CTX_set_rsa_padding(jwk->vctx, RSA_PKCS1_PADDING) <= 0
        || EVP_PKEY_CTX_set_signature_md(jwk->vctx, keys->sha256) <= 0)
    {
        ERR_clear_error();
        dm_jwt_errf(err, err_size, "RSA key \"%.64s\" cannot verify RS256 "
                    "in OpenSSL", kid);
        return -1;
    }

    return 1;
}


dm_jwks_t *
dm_jwks_parse(const char *json, size_t len, char *err, size_t err_size)
{
    size_t         i;
    json_t        *root, *arr;
    dm_jwks_t     *keys;
    json_error_t   jerr;

    if (len > DM_JWKS_FILE_MAX) {
        dm_jwt_errf(err, err_size, "larger than %d bytes", DM_JWKS_FILE_MAX);
        return NULL;
    }

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        dm_jwt_errf(err, err_size, "not valid JSON (line %d: %s)", jerr.line,
                    jerr.text);
        return NULL;
    }

    arr = json_object_get(root, "keys");
    if (!json_is_object(root) || !json_is_array(arr)) {
        dm_jwt_errf(err, err_size, "not a JWKS: a JSON object with a "
                    "\"keys\" array is expected");
        json_decref(root);
        return NULL;
    }

    keys = calloc(1, sizeof(dm_jwks_t));
    if (keys == NULL) {
        dm_jwt_errf(err, err_size, "out of memory");
        json_decref(root);
        return NULL;
    }

    keys->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (keys->sha256 == NULL) {
        ERR_clear_error();
        dm_jwt_errf(err, err_size, "OpenSSL has no SHA-256");
        json_decref(root);
        dm_jwks_free(keys);
        return NULL;
    }

    for (i = 0; i < json_array_size(arr); i++) {
        if (dm_jwks_add(keys, json_array_get(arr, i), i, err, err_size) < 0) {
            json_decref(root);
            dm_jwks_free(keys);
            return NULL;
        }
    }

    json_decref(root);

    if (keys->n == 0) {
        dm_jwt_errf(err, err_size, "no RSA signing key for RS256 (%zu keys "
                    "of other kinds)", keys->skipped);
        dm_jwks_free(keys);
        return NULL;
    }

    return keys;
}


void
dm_jwks_free(dm_jwks_t *keys)
{
    size_t  i;

    if (keys == NULL) {
        return;
    }

    for (i = 0; i < keys->n; i++) {
        EVP_PKEY_CTX_free(keys->key[i].vctx);
        EVP_PKEY_free(keys->key[i].pkey);
    }

    EVP_MD_free(keys->sha256);
    free(keys);
}


size_t
dm_jwks_count(const dm_jwks_t *keys)
{
    return keys->n;
}


size_t
dm_jwks_skipped(const dm_jwks_t *keys)
{
    return keys->skipped;
}


const char *
dm_jwks_kid(const dm_jwks_t *keys, size_t i)
{
    return i < keys->n ? keys->key[i].kid : NULL;
}


/* ---- verification ------------------------------------------------------ */

static int
dm_jwt_rs256_verify(const dm_jwks_t *keys, const dm_jwk_t *k,
    const unsigned char *data, size_t len, const unsigned char *sig,
    size_t sig_len)
{
    int            rc;
    unsigned int   md_len;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(data, len, md, &md_len, keys->sha256, NULL) != 1) {
        ERR_clear_error();
        return -1;
    }

    /* 1: valid; 0 or an error for a well-formed but wrong signature */
    rc = EVP_PKEY_verify(k->vctx, sig, sig_len, md, md_len) == 1 ? 1 : 0;

    ERR_clear_error();

    return rc;
}


/* a string claim copied into out: 1 absent, 0 copied, -1 unusable */
static int
dm_jwt_string_claim(json_t *obj, const char *name, char *out)
{
    size_t       i, len;
    const char  *s;
    json_t      *v;

    v = json_object_get(obj, name);
    if (v == NULL) {
        return 1;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len > DM_JWT_CLAIM_MAX) {
        return -1;
    }

    /* the claims end up in variables: headers, logs; no control bytes */
    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return -1;
        }
    }

    memcpy(out, s, len + 1);

    return 0;
}


/*
 * A NumericDate claim: 1 absent, 0 found, -1 not a number, -2 out of
 * range.  A time further than DM_JWT_TIME_LIMIT from the epoch is no
 * date a user pool issues: refusing it keeps every difference of two
 * times, here and where the verification is cached, far from overflow.
 */
#define DM_JWT_TIME_LIMIT  ((int64_t) 1 << 53)

static int
dm_jwt_time_claim(json_t *obj, const char *name, int64_t *t)
{
    double      d;
    json_t     *v;
    json_int_t  i;

    v = json_object_get(obj, name);
    if (v == NULL) {
        return 1;
    }

    if (json_is_integer(v)) {
        i = json_integer_value(v);
        if (i < -DM_JWT_TIME_LIMIT || i > DM_JWT_TIME_LIMIT) {
            return -2;
        }

        *t = (int64_t) i;
        return 0;
    }

    if (json_is_real(v)) {
        d = json_real_value(v);
        if (!(d >= (double) -DM_JWT_TIME_LIMIT
              && d <= (double) DM_JWT_TIME_LIMIT))
        {
            return -2;
        }

        *t = (int64_t) d;
        return 0;
    }

    return -1;
}


static dm_jwt_rc_e
dm_jwt_check_claims(const dm_jwt_policy_t *p, json_t *c,
    dm_jwt_claims_t *claims)
{
    int          rc;
    size_t       i;
    int64_t      exp, nbf, iat;
    const char  *s;
    char         q[80];

    if (p->issuer != NULL) {
        rc = dm_json_opt_string(c, "iss", &s);
        if (rc != 0) {
            return dm_jwt_fail(claims, DM_JWT_WRONG_ISSUER, "no \"iss\"");
        }

        if (strcmp(s, p->issuer) != 0) {
            dm_jwt_quote(q, sizeof(q), s);
            return dm_jwt_fail(claims, DM_JWT_WRONG_ISSUER, "iss \"%s\"", q);
        }
    }

    if (p->token_use != NULL) {
        rc = dm_json_opt_string(c, "token_use", &s);
        if (rc != 0) {
            return dm_jwt_fail(claims, DM_JWT_NOT_ACCESS, "no \"token_use\"");
        }

        if (strcmp(s, p->token_use) != 0) {
            dm_jwt_quote(q, sizeof(q), s);
            return dm_jwt_fail(claims, DM_JWT_NOT_ACCESS,
                               "token_use \"%s\"", q);
        }
    }

    rc = dm_jwt_string_claim(c, "client_id", claims->client_id);
    if (rc < 0) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED, "unusable \"client_id\"");
    }

    if (p->nclient_ids) {
        if (rc == 1) {
            return dm_jwt_fail(claims, DM_JWT_WRONG_CLIENT, "no \"client_id\"");
        }

        for (i = 0; i < p->nclient_ids; i++) {
            if (strcmp(claims->client_id, p->client_ids[i]) == 0) {
                break;
            }
        }

        if (i == p->nclient_ids) {
            dm_jwt_quote(q, sizeof(q), claims->client_id);
            return dm_jwt_fail(claims, DM_JWT_WRONG_CLIENT,
                               "client_id \"%s\"", q);
        }
    }

    rc = dm_jwt_time_claim(c, "exp", &exp);
    if (rc != 0) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED, rc == -2
                           ? "\"exp\" out of range"
                           : "no numeric \"exp\" claim");
    }

    if (exp <= p->now - p->leeway) {
        return dm_jwt_fail(claims, DM_JWT_EXPIRED, "exp %lld s ago",
                           (long long) (p->now - exp));
    }

    rc = dm_jwt_time_claim(c, "nbf", &nbf);
    if (rc < 0) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED, rc == -2
                           ? "\"nbf\" out of range" : "non-numeric \"nbf\"");
    }

    if (rc == 0 && nbf > p->now + p->leeway) {
        return dm_jwt_fail(claims, DM_JWT_NOT_YET_VALID, "nbf %lld s ahead",
                           (long long) (nbf - p->now));
    }

    rc = dm_jwt_time_claim(c, "iat", &iat);
    if (rc < 0) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED, rc == -2
                           ? "\"iat\" out of range" : "non-numeric \"iat\"");
    }

    if (rc == 0 && iat > p->now + p->leeway) {
        return dm_jwt_fail(claims, DM_JWT_ISSUED_IN_FUTURE,
                           "iat %lld s ahead", (long long) (iat - p->now));
    }

    rc = dm_jwt_string_claim(c, "sub", claims->sub);
    if (rc != 0 || claims->sub[0] == '\0') {
        claims->sub[0] = '\0';
        return dm_jwt_fail(claims, DM_JWT_NO_SUBJECT, "%s \"sub\"",
                           rc < 0 ? "unusable" : rc ? "no" : "empty");
    }

    if (dm_jwt_string_claim(c, "username", claims->username) < 0) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED, "unusable \"username\"");
    }

    claims->exp = exp;

    return DM_JWT_OK;
}


dm_jwt_rc_e
dm_jwt_verify(const dm_jwks_t *keys, const dm_jwt_policy_t *policy,
    const char *token, size_t len, dm_jwt_claims_t *claims)
{
    int             v;
    long            hlen, plen, slen;
    size_t          i, h_len, p_len, s_len;
    json_t         *header, *payload;
    const char     *dot1, *dot2, *alg, *kid, *pb, *sb;
    char            q[80];
    unsigned char   hbuf[DM_JWT_HEADER_MAX], sig[DM_JWK_SIG_MAX],
                   *pbuf;
    json_error_t    jerr;
    dm_jwt_rc_e     rc;
    const dm_jwk_t *k;

    memset(claims, 0, sizeof(dm_jwt_claims_t));

    if (len == 0 || token == NULL) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED, "empty token");
    }

    if (len > DM_JWT_TOKEN_MAX) {
        return dm_jwt_fail(claims, DM_JWT_TOO_LARGE, "%zu bytes, over %d",
                           len, DM_JWT_TOKEN_MAX);
    }

    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', token + len - dot1 - 1) : NULL;

    if (dot2 == NULL || memchr(dot2 + 1, '.', token + len - dot2 - 1)) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED,
                           "not three dot-separated parts");
    }

    h_len = (size_t) (dot1 - token);
    pb = dot1 + 1;
    p_len = (size_t) (dot2 - pb);
    sb = dot2 + 1;
    s_len = (size_t) (token + len - sb);

    if (h_len == 0 || p_len == 0) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED,
                           "empty header or payload");
    }

    if (h_len > DM_B64_LEN(DM_JWT_HEADER_MAX)) {
        return dm_jwt_fail(claims, DM_JWT_TOO_LARGE, "header too large");
    }

    hlen = dm_b64url_decode(token, h_len, hbuf, sizeof(hbuf));
    if (hlen < 0) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED,
                           "header is not unpadded base64url");
    }

    header = json_loadb((const char *) hbuf, (size_t) hlen,
                        JSON_REJECT_DUPLICATES, &jerr);
    if (header == NULL || !json_is_object(header)) {
        json_decref(header);
        return dm_jwt_fail(claims, DM_JWT_MALFORMED,
                           "header is not a JSON object");
    }

    alg = NULL;
    kid = NULL;
    k = NULL;

    if (dm_json_opt_string(header, "alg", &alg) != 0) {
        rc = dm_jwt_fail(claims, DM_JWT_ALG, "no \"alg\" string");
        goto header_done;
    }

    if (strcmp(alg, policy->alg) != 0) {
        dm_jwt_quote(q, sizeof(q), alg);
        rc = dm_jwt_fail(claims, DM_JWT_ALG, "alg \"%s\"", q);
        goto header_done;
    }

    /* RFC 7515 4.1.11: extensions we do not understand must be refused */
    if (json_object_get(header, "crit") != NULL) {
        rc = dm_jwt_fail(claims, DM_JWT_MALFORMED, "\"crit\" header");
        goto header_done;
    }

    if (dm_json_opt_string(header, "kid", &kid) != 0) {
        rc = dm_jwt_fail(claims, DM_JWT_UNKNOWN_KID, "no \"kid\" string");
        goto header_done;
    }

    for (i = 0; i < keys->n; i++) {
        if (strcmp(keys->key[i].kid, kid) == 0) {
            k = &keys->key[i];
            break;
        }
    }

    if (k == NULL) {
        dm_jwt_quote(q, sizeof(q), kid);
        rc = dm_jwt_fail(claims, DM_JWT_UNKNOWN_KID, "kid \"%s\"", q);
        goto header_done;
    }

    rc = DM_JWT_OK;

header_done:

    json_decref(header);

    if (rc != DM_JWT_OK) {
        return rc;
    }

    if (s_len == 0) {
        return dm_jwt_fail(claims, DM_JWT_BAD_SIGNATURE, "no signature");
    }

    slen = dm_b64url_decode(sb, s_len, sig, sizeof(sig));
    if (slen < 0) {
        return dm_jwt_fail(claims, DM_JWT_MALFORMED,
                           "signature is not unpadded base64url");
    }

    if ((size_t) slen != k->size) {
        return dm_jwt_fail(claims, DM_JWT_BAD_SIGNATURE,
                           "signature of %ld bytes for a %zu-byte key",
                           slen, k->size);
    }

    pbuf = malloc(p_len);
    if (pbuf == NULL) {
        return dm_jwt_fail(claims, DM_JWT_INTERNAL, "out of memory");
    }

    /* the alphabet first: a garbled payload is "malformed", not forged */
    plen = dm_b64url_decode(pb, p_len, pbuf, p_len);
    if (plen < 0) {
        free(pbuf);
        return dm_jwt_fail(claims, DM_JWT_MALFORMED,
                           "payload is not unpadded base64url");
    }

    v = dm_jwt_rs256_verify(keys, k, (const unsigned char *) token,
                            (size_t) (dot2 - token), sig, (size_t) slen);
    if (v != 1) {
        free(pbuf);
        return v < 0 ? dm_jwt_fail(claims, DM_JWT_INTERNAL,
                                   "signature check failed in OpenSSL")
                     : dm_jwt_fail(claims, DM_JWT_BAD_SIGNATURE,
                                   "kid \"%s\"", k->kid);
    }

    payload = json_loadb((const char *) pbuf, (size_t) plen,
                         JSON_REJECT_DUPLICATES, &jerr);
    free(pbuf);

    if (payload == NULL || !json_is_object(payload)) {
        json_decref(payload);
        return dm_jwt_fail(claims, DM_JWT_MALFORMED,
                           "payload is not a JSON object");
    }

    rc = dm_jwt_check_claims(policy, payload, claims);
    json_decref(payload);

    if (rc != DM_JWT_OK) {
        claims->sub[0] = '\0';
        claims->username[0] = '\0';
        claims->client_id[0] = '\0';
    }

    return rc;
}


/* ---- signing and JWK export (the CLI's development keys) --------------- */

int
dm_jwt_sign_rs256(EVP_PKEY *key, const char *header, size_t header_len,
    const char *payload, size_t payload_len, dm_buf_t *out)
{
    int            rc;
    size_t         start, sig_len;
    EVP_MD_CTX    *mctx;
    unsigned char  sig[DM_JWK_SIG_MAX];

    if (!EVP_PKEY_is_a(key, "RSA")
        || EVP_PKEY_get_size(key) > (int) sizeof(sig))
    {
        return -1;
    }

    start = out->len;

    dm_b64url_append(out, (const unsigned char *) header, header_len);
    dm_buf_append(out, ".", 1);
    dm_b64url_append(out, (const unsigned char *) payload, payload_len);

    if (out->failed) {
        return -1;
    }

    mctx = EVP_MD_CTX_new();
    if (mctx == NULL) {
        return -1;
    }

    sig_len = sizeof(sig);
    rc = -1;

    if (EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestSign(mctx, sig, &sig_len, out->data + start,
                          out->len - start) == 1)
    {
        dm_buf_append(out, ".", 1);
        dm_b64url_append(out, sig, sig_len);
        rc = out->failed ? -1 : 0;
    }

    EVP_MD_CTX_free(mctx);
    ERR_clear_error();

    return rc;
}


/* n and e of an RSA key, base64url, appended to two buffers */
static int
dm_jwk_rsa_ne(EVP_PKEY *key, dm_buf_t *n, dm_buf_t *e)
{
    int             rc, len;
    BIGNUM         *bn, *be;
    unsigned char  *tmp;

    bn = NULL;
    be = NULL;
    tmp = NULL;
    rc = -1;

    if (EVP_PKEY_is_a(key, "RSA")
        && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &bn) == 1
        && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &be) == 1
        && (tmp = malloc(BN_num_bytes(bn) + 8)) != NULL)
    {
        len = BN_bn2bin(bn, tmp);
        dm_b64url_append(n, tmp, (size_t) len);
        len = BN_bn2bin(be, tmp);
        dm_b64url_append(e, tmp, (size_t) len);
        rc = (n->failed || e->failed) ? -1 : 0;
    }

    free(tmp);
    BN_free(bn);
    BN_free(be);
    ERR_clear_error();

    return rc;
}


int
dm_jwk_public_json(EVP_PKEY *key, const char *kid, dm_buf_t *out)
{
    int       rc;
    dm_buf_t  n, e;

    dm_buf_init_malloc(&n);
    dm_buf_init_malloc(&e);

    rc = dm_jwk_rsa_ne(key, &n, &e);

    if (rc == 0) {
        dm_buf_append_str(out, "{\"kty\":\"RSA\",\"kid\":");
        dm_buf_json_string(out, (const unsigned char *) kid, strlen(kid));
        dm_buf_append_str(out, ",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"");
        dm_buf_append(out, n.data, n.len);
        dm_buf_append_str(out, "\",\"e\":\"");
        dm_buf_append(out, e.data, e.len);
        dm_buf_append_str(out, "\"}");
        rc = out->failed ? -1 : 0;
    }

    dm_buf_free_malloc(&n);
    dm_buf_free_malloc(&e);

    return rc;
}


int
dm_jwk_thumbprint(EVP_PKEY *key, char *out)
{
    int            rc;
    unsigned int   md_len;
    dm_buf_t       n, e, canon, b;
    unsigned char  md[EVP_MAX_MD_SIZE];

    dm_buf_init_malloc(&n);
    dm_buf_init_malloc(&e);
    dm_buf_init_malloc(&canon);
    dm_buf_init_malloc(&b);

    rc = dm_jwk_rsa_ne(key, &n, &e);

    if (rc == 0) {
        /* RFC 7638 3.2: the required members, sorted, no whitespace */
        dm_buf_append_str(&canon, "{\"e\":\"");
        dm_buf_append(&canon, e.data, e.len);
        dm_buf_append_str(&canon, "\",\"kty\":\"RSA\",\"n\":\"");
        dm_buf_append(&canon, n.data, n.len);
        dm_buf_append_str(&canon, "\"}");

        rc = -1;

        if (!canon.failed
            && EVP_Digest(canon.data, canon.len, md, &md_len, EVP_sha256(),
                          NULL) == 1
            && dm_b64url_append(&b, md, md_len) == 0
            && b.len == DM_JWK_THUMBPRINT_LEN)
        {
            memcpy(out, b.data, b.len);
            out[b.len] = '\0';
            rc = 0;
        }
    }

    dm_buf_free_malloc(&n);
    dm_buf_free_malloc(&e);
    dm_buf_free_malloc(&canon);
    dm_buf_free_malloc(&b);

    return rc;
}
