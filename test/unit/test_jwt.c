/*
 * Unit tests: JWKS parsing, RS256 verification of Cognito-shaped access
 * tokens (every refusal path, key rotation, leeway edges) and signing.
 * Keys are generated at run time.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "tap.h"
#include "dm_jwt.h"

#define NOW      1795000000LL
#define ISS      "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"
#define CLIENT   "testclient1"
#define SUB      "71c568d1-29bb-4ae1-92c5-057d12db82cb"


static const char *const  clients[] = { "otherclient", CLIENT };

static dm_jwt_policy_t    policy = {
    DM_JWT_ALG_RS256, ISS, clients, 2, "access", 60, NOW
};


/* the claims of a good access token with one member replaced or added */
static char *
claims(const char *extra)
{
    static char  buf[2048];

    snprintf(buf, sizeof(buf),
             "{\"sub\":\"" SUB "\",\"iss\":\"" ISS "\","
             "\"client_id\":\"" CLIENT "\",\"origin_jti\":\"x\","
             "\"event_id\":\"y\",\"token_use\":\"access\","
             "\"scope\":\"aws.cognito.signin.user.admin\","
             "\"auth_time\":%lld,\"exp\":%lld,\"iat\":%lld,\"jti\":\"z\","
             "\"username\":\"andrewbrown\"%s%s}",
             NOW - 10, NOW + 3600, NOW - 10, extra ? "," : "",
             extra ? extra : "");

    return buf;
}


static char *
mint_raw(EVP_PKEY *key, const char *header, const char *payload)
{
    dm_buf_t  b;

    dm_buf_init_malloc(&b);

    if (dm_jwt_sign_rs256(key, header, strlen(header), payload,
                          strlen(payload), &b) != 0)
    {
        dm_buf_free_malloc(&b);
        return NULL;
    }

    return (char *) dm_buf_cstr(&b);
}


static char *
mint(EVP_PKEY *key, const char *kid, const char *payload)
{
    char  header[256];

    snprintf(header, sizeof(header), "{\"kid\":\"%s\",\"alg\":\"RS256\"}",
             kid);

    return mint_raw(key, header, payload);
}


static dm_jwt_rc_e
verify(const dm_jwks_t *keys, const char *token, dm_jwt_claims_t *c)
{
    return dm_jwt_verify(keys, &policy, token, strlen(token), c);
}


static char *
jwks_of(EVP_PKEY *k1, const char *kid1, EVP_PKEY *k2, const char *kid2,
    const char *extra)
{
    dm_buf_t  b;

    dm_buf_init_malloc(&b);
    dm_buf_append_str(&b, "{\"keys\":[");
    dm_jwk_public_json(k1, kid1, &b);

    if (k2) {
        dm_buf_append_str(&b, ",");
        dm_jwk_public_json(k2, kid2, &b);
    }

    if (extra) {
        dm_buf_append_str(&b, ",");
        dm_buf_append_str(&b, extra);
    }

    dm_buf_append_str(&b, "]}");

    return (char *) dm_buf_cstr(&b);
}


static dm_jwks_t *
parse(const char *json, char *err)
{
    return dm_jwks_parse(json, strlen(json), err, 256);
}


/* "<b64url(header)>.<b64url(payload)>.<sig>" with the given pieces */
static char *
assemble(const char *header, const char *payload, const unsigned char *sig,
    size_t sig_len)
{
    dm_buf_t  b;

    dm_buf_init_malloc(&b);
    dm_b64url_append(&b, (const unsigned char *) header, strlen(header));
    dm_buf_append_str(&b, ".");
    dm_b64url_append(&b, (const unsigned char *) payload, strlen(payload));
    dm_buf_append_str(&b, ".");
    dm_b64url_append(&b, sig, sig_len);

    return (char *) dm_buf_cstr(&b);
}


static void
test_base64url(void)
{
    long           n;
    dm_buf_t       b;
    unsigned char  out[64];

    n = dm_b64url_decode("aGVsbG8", 7, out, sizeof(out));
    ok(n == 5 && memcmp(out, "hello", 5) == 0, "b64url: unpadded decodes");
    ok(dm_b64url_decode("aGVsbG8=", 8, out, sizeof(out)) < 0,
       "b64url: '=' padding refused");
    ok(dm_b64url_decode("a+8", 3, out, sizeof(out)) < 0,
       "b64url: '+' of the standard alphabet refused");
    ok(dm_b64url_decode("a/8", 3, out, sizeof(out)) < 0,
       "b64url: '/' of the standard alphabet refused");
    ok(dm_b64url_decode("aGVsb", 5, out, sizeof(out)) < 0,
       "b64url: impossible length refused");
    ok(dm_b64url_decode("aGVsbG9", 7, out, sizeof(out)) < 0,
       "b64url: non-zero unused bits refused");
    ok(dm_b64url_decode("aGVs bG8", 8, out, sizeof(out)) < 0,
       "b64url: whitespace refused");
    ok(dm_b64url_decode("aGVsbG8", 7, out, 4) < 0,
       "b64url: small output buffer refused");
    ok(dm_b64url_decode("", 0, out, sizeof(out)) == 0, "b64url: empty");
    ok(dm_b64url_decode("-_8", 3, out, sizeof(out)) == 2
       && out[0] == 0xfb && out[1] == 0xff, "b64url: '-' and '_'");

    dm_buf_init_malloc(&b);
    dm_b64url_append(&b, (const unsigned char *) "\xfb\xff\x01", 3);
    dm_b64url_append(&b, (const unsigned char *) "hello", 5);
    is_str(dm_buf_cstr(&b), "-_8BaGVsbG8", "b64url: encodes without padding");
    dm_buf_free_malloc(&b);
}


static void
test_jwks(EVP_PKEY *k1, EVP_PKEY *k2, EVP_PKEY *small)
{
    char        err[256], *j;
    dm_jwks_t  *keys;

    j = jwks_of(k1, "k1", k2, "k2",
                "{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\","
                "\"x\":\"AA\",\"y\":\"AA\"},"
                "{\"kty\":\"RSA\",\"kid\":\"enc1\",\"use\":\"enc\","
                "\"n\":\"AQAB\",\"e\":\"AQAB\"},"
                "{\"kty\":\"RSA\",\"kid\":\"ps1\",\"alg\":\"PS256\","
                "\"n\":\"AQAB\",\"e\":\"AQAB\"}");
    keys = parse(j, err);
    ok(keys != NULL, "jwks: two RSA keys and three others parse");
    ok(keys && dm_jwks_count(keys) == 2, "jwks: both RSA signing keys kept");
    ok(keys && dm_jwks_skipped(keys) == 3,
       "jwks: EC, encryption and PS256 keys skipped");
    is_str(keys ? dm_jwks_kid(keys, 1) : NULL, "k2", "jwks: kid kept");
    dm_jwks_free(keys);
    free(j);

    ok(parse("{\"keys\":[", err) == NULL && strstr(err, "not valid JSON"),
       "jwks: invalid JSON refused (%s)", err);
    ok(parse("[]", err) == NULL && strstr(err, "\"keys\" array"),
       "jwks: a bare array refused (%s)", err);
    ok(parse("{\"keys\":[]}", err) == NULL
       && strstr(err, "no RSA signing key"), "jwks: empty set refused (%s)",
       err);
    ok(parse("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\"}]}", err) == NULL
       && strstr(err, "no RSA signing key"),
       "jwks: a set without RSA keys refused (%s)", err);
    ok(parse("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"e\":\"AQAB\"}]}",
             err) == NULL && strstr(err, "lacks \"n\""),
       "jwks: key without n refused (%s)", err);
    ok(parse("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"a+b/\","
             "\"e\":\"AQAB\"}]}", err) == NULL && strstr(err, "base64url"),
       "jwks: n in the standard alphabet refused (%s)", err);
    ok(parse("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
             err) == NULL && strstr(err, "\"kid\""),
       "jwks: RSA key without kid refused (%s)", err);
    ok(parse("{\"keys\":[{\"n\":\"AQAB\"}]}", err) == NULL
       && strstr(err, "kty"), "jwks: key without kty refused (%s)", err);
    ok(parse("{\"keys\":[7]}", err) == NULL && strstr(err, "not a JSON obj"),
       "jwks: non-object key refused (%s)", err);

    j = jwks_of(k1, "same", k2, "same", NULL);
    ok(parse(j, err) == NULL && strstr(err, "two keys with kid"),
       "jwks: duplicate kid refused (%s)", err);
    free(j);

    j = jwks_of(small, "small", NULL, NULL, NULL);
    ok(parse(j, err) == NULL && strstr(err, "1024-bit"),
       "jwks: 1024-bit key refused (%s)", err);
    free(j);

    ok(parse("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"AQAB\","
             "\"e\":\"AQAB\"},{\"kty\":\"RSA\",\"kid\":\"a\"}]}", err)
       == NULL, "jwks: a tiny modulus refused (%s)", err);
}


static void
expect(const dm_jwks_t *keys, const char *token, dm_jwt_rc_e want,
    const char *what)
{
    dm_jwt_rc_e      rc;
    dm_jwt_claims_t  c;

    if (token == NULL) {
        ok(0, "%s: could not make the token", what);
        return;
    }

    rc = verify(keys, token, &c);
    ok(rc == want && (rc == DM_JWT_OK || c.sub[0] == '\0'),
       "%s: %s (%s)", what, dm_jwt_reason(rc), c.detail);

    if (rc != want) {
        diag("want %s", dm_jwt_reason(want));
    }
}


static void
test_verify(EVP_PKEY *k1, EVP_PKEY *k2, EVP_PKEY *k3)
{
    char             *j, *t, hdr[256], pl[2048], *p, *dot;
    size_t            len, i;
    dm_buf_t          b;
    dm_jwks_t        *keys, *only2;
    dm_jwt_rc_e       rc;
    unsigned int      mac_len;
    unsigned char     mac[64];
    dm_jwt_claims_t   c;
    dm_jwt_policy_t   saved;

    j = jwks_of(k1, "k1", k2, "k2", NULL);
    keys = parse(j, NULL);
    free(j);

    j = jwks_of(k2, "k2", NULL, NULL, NULL);
    only2 = parse(j, NULL);
    free(j);

    if (keys == NULL || only2 == NULL) {
        ok(0, "key sets for the verification tests");
        return;
    }

    /* acceptance and what comes out */
    t = mint(k1, "k1", claims(NULL));
    rc = verify(keys, t, &c);
    ok(rc == DM_JWT_OK, "valid access token accepted (%s)", c.detail);
    is_str(c.sub, SUB, "sub returned");
    is_str(c.username, "andrewbrown", "username returned");
    is_str(c.client_id, CLIENT, "client_id returned");
    ok(c.exp == NOW + 3600, "exp returned");
    free(t);

    /* rotation: both keys of the set verify their own tokens */
    t = mint(k2, "k2", claims(NULL));
    expect(keys, t, DM_JWT_OK, "rotation: token of the second key");
    expect(only2, t, DM_JWT_OK, "rotation: new set, new key");
    free(t);
    t = mint(k1, "k1", claims(NULL));
    expect(only2, t, DM_JWT_UNKNOWN_KID, "rotation: old key gone");
    free(t);
    t = mint(k2, "k1", claims(NULL));
    expect(keys, t, DM_JWT_BAD_SIGNATURE, "kid of one key, signed by other");
    free(t);
    t = mint(k3, "k3", claims(NULL));
    expect(keys, t, DM_JWT_UNKNOWN_KID, "unknown kid");
    free(t);
    t = mint_raw(k1, "{\"alg\":\"RS256\"}", claims(NULL));
    expect(keys, t, DM_JWT_UNKNOWN_KID, "no kid");
    free(t);

    /* alg */
    t = assemble("{\"kid\":\"k1\",\"alg\":\"none\"}", claims(NULL),
                 (const unsigned char *) "", 0);
    expect(keys, t, DM_JWT_ALG, "alg none, no signature");
    free(t);
    t = assemble("{\"kid\":\"k1\",\"alg\":\"NONE\"}", claims(NULL),
                 (const unsigned char *) "x", 1);
    expect(keys, t, DM_JWT_ALG, "alg NONE");
    free(t);
    t = mint_raw(k1, "{\"kid\":\"k1\",\"alg\":\"rs256\"}", claims(NULL));
    expect(keys, t, DM_JWT_ALG, "alg in lower case");
    free(t);
    t = mint_raw(k1, "{\"kid\":\"k1\"}", claims(NULL));
    expect(keys, t, DM_JWT_ALG, "no alg");
    free(t);
    t = mint_raw(k1, "{\"kid\":\"k1\",\"alg\":[\"RS256\"]}", claims(NULL));
    expect(keys, t, DM_JWT_ALG, "alg not a string");
    free(t);

    /* HS256 with the public key material as the HMAC secret */
    j = jwks_of(k1, "k1", k2, "k2", NULL);
    dm_buf_init_malloc(&b);
    p = "{\"kid\":\"k1\",\"alg\":\"HS256\"}";
    dm_b64url_append(&b, (const unsigned char *) p, strlen(p));
    dm_buf_append_str(&b, ".");
    p = claims(NULL);
    dm_b64url_append(&b, (const unsigned char *) p, strlen(p));
    HMAC(EVP_sha256(), j, (int) strlen(j), b.data, b.len, mac, &mac_len);
    dm_buf_append_str(&b, ".");
    dm_b64url_append(&b, mac, mac_len);
    expect(keys, dm_buf_cstr(&b), DM_JWT_ALG, "HS256 keyed with the JWKS");
    dm_buf_free_malloc(&b);
    free(j);

    /* structure */
    t = mint(k1, "k1", claims(NULL));
    len = strlen(t);
    dot = strrchr(t, '.');

    expect(keys, "", DM_JWT_MALFORMED, "empty token");
    expect(keys, "abc", DM_JWT_MALFORMED, "one part");
    *dot = '\0';
    expect(keys, t, DM_JWT_MALFORMED, "two parts");
    *dot = '.';

    p = malloc(len + 8);
    snprintf(p, len + 8, "%s.AAAA", t);
    expect(keys, p, DM_JWT_MALFORMED, "four parts");
    snprintf(p, len + 8, "%s=", t);
    expect(keys, p, DM_JWT_MALFORMED, "padded signature");
    snprintf(p, len + 8, ".%s", strchr(t, '.') + 1);
    expect(keys, p, DM_JWT_MALFORMED, "empty header");
    memcpy(p, t, len + 1);
    p[1] = '+';
    expect(keys, p, DM_JWT_MALFORMED, "'+' in the header");
    memcpy(p, t, len + 1);
    p[strchr(t, '.') - t + 3] = '*';
    expect(keys, p, DM_JWT_MALFORMED, "'*' in the payload");
    memcpy(p, t, len + 1);
    p[dot - t + 5] = '/';
    expect(keys, p, DM_JWT_MALFORMED, "'/' in the signature");

    /* tampering: one character of the payload, of the signature */
    memcpy(p, t, len + 1);
    i = strchr(t, '.') - t + 10;
    p[i] = p[i] == 'A' ? 'B' : 'A';
    expect(keys, p, DM_JWT_BAD_SIGNATURE, "tampered payload");
    memcpy(p, t, len + 1);
    p[dot - t + 20] = p[dot - t + 20] == 'A' ? 'B' : 'A';
    expect(keys, p, DM_JWT_BAD_SIGNATURE, "tampered signature");
    memcpy(p, t, len + 1);
    p[len - 2] = '\0';
    expect(keys, p, DM_JWT_BAD_SIGNATURE, "truncated signature");
    memcpy(p, t, len + 1);
    p[dot - t + 1] = '\0';
    expect(keys, p, DM_JWT_BAD_SIGNATURE, "RS256 without signature");
    free(p);
    free(t);

    /* a payload re-signed with another claim set but the old signature */
    t = mint(k1, "k1", claims(NULL));
    p = mint(k1, "k1", claims("\"admin\":true"));
    snprintf(pl, sizeof(pl), "%.*s%s", (int) (strrchr(p, '.') - p), p,
             strrchr(t, '.'));
    expect(keys, pl, DM_JWT_BAD_SIGNATURE, "signature moved to other claims");
    free(p);
    free(t);

    /* JSON */
    t = assemble("{\"kid\":\"k1\",\"alg\":\"RS256\"", claims(NULL),
                 (const unsigned char *) "x", 1);
    expect(keys, t, DM_JWT_MALFORMED, "header not JSON");
    free(t);
    t = assemble("[\"RS256\"]", claims(NULL), (const unsigned char *) "x", 1);
    expect(keys, t, DM_JWT_MALFORMED, "header a JSON array");
    free(t);
    t = assemble("{\"kid\":\"k1\",\"alg\":\"none\",\"alg\":\"RS256\"}",
                 claims(NULL), (const unsigned char *) "x", 1);
    expect(keys, t, DM_JWT_MALFORMED, "duplicate alg in the header");
    free(t);
    t = mint_raw(k1, "{\"kid\":\"k1\",\"alg\":\"RS256\",\"crit\":[\"b64\"]}",
                 claims(NULL));
    expect(keys, t, DM_JWT_MALFORMED, "crit header");
    free(t);
    t = mint(k1, "k1", "{\"sub\":");
    expect(keys, t, DM_JWT_MALFORMED, "signed payload that is not JSON");
    free(t);
    t = mint(k1, "k1", "[1,2]");
    expect(keys, t, DM_JWT_MALFORMED, "signed payload that is an array");
    free(t);
    snprintf(pl, sizeof(pl), "%s", claims(NULL));
    pl[strlen(pl) - 1] = '\0';
    strcat(pl, ",\"sub\":\"8fa3c183-b83e-47b8-b41e-68081e5ff801\"}");
    t = mint(k1, "k1", pl);
    expect(keys, t, DM_JWT_MALFORMED, "duplicate sub claim");
    free(t);

    /* size */
    p = malloc(DM_JWT_TOKEN_MAX + 2);
    memset(p, 'A', DM_JWT_TOKEN_MAX + 1);
    p[10] = '.';
    p[20] = '.';
    p[DM_JWT_TOKEN_MAX + 1] = '\0';
    expect(keys, p, DM_JWT_TOO_LARGE, "token over the size limit");
    free(p);

    /* claims */
    snprintf(pl, sizeof(pl), "%s", claims(NULL));
#define WITH(from, to, rc, what)                                            \
    do {                                                                    \
        char  *s_, buf_[2048];                                              \
        s_ = strstr(pl, from);                                              \
        snprintf(buf_, sizeof(buf_), "%.*s%s%s", (int) (s_ - pl), pl, to,   \
                 s_ + strlen(from));                                        \
        t = mint(k1, "k1", buf_);                                           \
        expect(keys, t, rc, what);                                          \
        free(t);                                                            \
    } while (0)

    WITH("\"iss\":\"" ISS "\",", "\"iss\":\"" ISS "x\",",
         DM_JWT_WRONG_ISSUER, "wrong issuer");
    WITH("\"iss\":\"" ISS "\",", "\"iss\":\"https://cognito-idp.us-east-1."
         "amazonaws.com/us-east-1_Other\",", DM_JWT_WRONG_ISSUER,
         "another user pool");
    WITH("\"iss\":\"" ISS "\",", "", DM_JWT_WRONG_ISSUER, "no issuer");
    WITH("\"token_use\":\"access\"", "\"token_use\":\"id\"",
         DM_JWT_NOT_ACCESS, "id token");
    WITH("\"token_use\":\"access\",", "", DM_JWT_NOT_ACCESS, "no token_use");
    WITH("\"client_id\":\"" CLIENT "\"", "\"client_id\":\"evil\"",
         DM_JWT_WRONG_CLIENT, "wrong client");
    WITH("\"client_id\":\"" CLIENT "\",", "\"aud\":\"" CLIENT "\",",
         DM_JWT_WRONG_CLIENT, "aud instead of client_id");
    WITH("\"client_id\":\"" CLIENT "\"", "\"client_id\":\"otherclient\"",
         DM_JWT_OK, "the other configured client");
    WITH("\"sub\":\"" SUB "\",", "", DM_JWT_NO_SUBJECT, "no sub");
    WITH("\"sub\":\"" SUB "\",", "\"sub\":\"\",", DM_JWT_NO_SUBJECT,
         "empty sub");
    WITH("\"sub\":\"" SUB "\",", "\"sub\":42,", DM_JWT_NO_SUBJECT,
         "numeric sub");
    WITH("\"sub\":\"" SUB "\",", "\"sub\":\"a\\nb\",", DM_JWT_NO_SUBJECT,
         "control character in sub");
    WITH("\"username\":\"andrewbrown\"", "\"username\":\"a\\u0000b\"",
         DM_JWT_MALFORMED, "NUL in username");
    WITH("\"username\":", "\"nickname\":", DM_JWT_OK, "no username");

    /* time: exp */
#define TIME(name, value, rc, what)                                         \
    do {                                                                    \
        char  from_[64], to_[64];                                           \
        snprintf(from_, sizeof(from_), "\"" name "\":%lld",                 \
                 strcmp(name, "exp") == 0 ? NOW + 3600 : NOW - 10);         \
        snprintf(to_, sizeof(to_), "\"" name "\":%s", value);               \
        WITH(from_, to_, rc, what);                                         \
    } while (0)

    {
        char  v[32];

        snprintf(v, sizeof(v), "%lld", NOW - 3600);
        TIME("exp", v, DM_JWT_EXPIRED, "expired an hour ago");
        snprintf(v, sizeof(v), "%lld", NOW - 60);
        TIME("exp", v, DM_JWT_EXPIRED, "expired exactly the leeway ago");
        snprintf(v, sizeof(v), "%lld", NOW - 59);
        TIME("exp", v, DM_JWT_OK, "expired within the leeway");
        snprintf(v, sizeof(v), "%lld.5", NOW + 10);
        TIME("exp", v, DM_JWT_OK, "fractional exp");
        TIME("exp", "\"2099\"", DM_JWT_MALFORMED, "exp as a string");
        WITH("\"exp\":", "\"expires\":", DM_JWT_MALFORMED, "no exp");

        snprintf(v, sizeof(v), "%lld", NOW + 61);
        TIME("iat", v, DM_JWT_ISSUED_IN_FUTURE, "iat beyond the leeway");
        snprintf(v, sizeof(v), "%lld", NOW + 60);
        TIME("iat", v, DM_JWT_OK, "iat at the leeway");
        TIME("iat", "null", DM_JWT_MALFORMED, "iat null");

        snprintf(pl, sizeof(pl), "%s", claims("\"nbf\":1"));
        snprintf(v, sizeof(v), "%lld", NOW + 61);
        WITH("\"nbf\":1", (snprintf(hdr, sizeof(hdr), "\"nbf\":%s", v), hdr),
             DM_JWT_NOT_YET_VALID, "nbf beyond the leeway");
        snprintf(v, sizeof(v), "%lld", NOW + 60);
        WITH("\"nbf\":1", (snprintf(hdr, sizeof(hdr), "\"nbf\":%s", v), hdr),
             DM_JWT_OK, "nbf at the leeway");
        WITH("\"nbf\":1", "\"nbf\":\"soon\"", DM_JWT_MALFORMED,
             "nbf as a string");

        /*
         * Extreme times, validly signed: refused as out of range, never
         * an overflow (UBSan stops `make sanitize` on one) nor a wrap
         * to "valid".
         */
        WITH("\"nbf\":1", "\"nbf\":-9223372036854775808", DM_JWT_MALFORMED,
             "nbf INT64_MIN");
        WITH("\"nbf\":1", "\"nbf\":9223372036854775807", DM_JWT_MALFORMED,
             "nbf INT64_MAX");
        WITH("\"nbf\":1", "\"nbf\":-1e300", DM_JWT_MALFORMED,
             "nbf -1e300");
        snprintf(pl, sizeof(pl), "%s", claims(NULL));

        TIME("exp", "-9223372036854775808", DM_JWT_MALFORMED,
             "exp INT64_MIN");
        TIME("exp", "-9223372036854775807", DM_JWT_MALFORMED,
             "exp -INT64_MAX");
        TIME("exp", "9223372036854775807", DM_JWT_MALFORMED,
             "exp INT64_MAX");
        TIME("exp", "1e300", DM_JWT_MALFORMED, "exp 1e300");
        TIME("exp", "-1e300", DM_JWT_MALFORMED, "exp -1e300");
        TIME("exp", "9.2e18", DM_JWT_MALFORMED, "exp 9.2e18");
        TIME("exp", "-9.2e18", DM_JWT_MALFORMED, "exp -9.2e18");
        TIME("exp", "9007199254740993", DM_JWT_MALFORMED,
             "exp just beyond 2^53");
        TIME("exp", "9007199254740992", DM_JWT_OK, "exp at 2^53");
        TIME("exp", "-9007199254740992", DM_JWT_EXPIRED, "exp at -2^53");
        TIME("iat", "9223372036854775807", DM_JWT_MALFORMED, "iat INT64_MAX");
        TIME("iat", "-9223372036854775808", DM_JWT_MALFORMED,
             "iat INT64_MIN");
        TIME("iat", "-1e300", DM_JWT_MALFORMED, "iat -1e300");
    }

    /* the leeway is the policy's */
    saved = policy;
    policy.leeway = 0;
    snprintf(pl, sizeof(pl), "%s", claims(NULL));
    {
        char  v[32];

        snprintf(v, sizeof(v), "%lld", NOW);
        TIME("exp", v, DM_JWT_EXPIRED, "leeway 0: exp now is expired");
        snprintf(v, sizeof(v), "%lld", NOW + 1);
        TIME("exp", v, DM_JWT_OK, "leeway 0: exp in a second");
        snprintf(v, sizeof(v), "%lld", NOW + 1);
        TIME("iat", v, DM_JWT_ISSUED_IN_FUTURE, "leeway 0: iat in a second");
    }

    /* an unchecked client list and issuer */
    policy.nclient_ids = 0;
    policy.issuer = NULL;
    WITH("\"client_id\":\"" CLIENT "\"", "\"client_id\":\"any\"", DM_JWT_OK,
         "no client ids configured: any client");
    policy = saved;

    dm_jwks_free(keys);
    dm_jwks_free(only2);
}


int
main(void)
{
    char       tp[DM_JWK_THUMBPRINT_LEN + 1], tp2[DM_JWK_THUMBPRINT_LEN + 1];
    EVP_PKEY  *k1, *k2, *k3, *small;

    test_base64url();

    k1 = EVP_RSA_gen(2048);
    k2 = EVP_RSA_gen(2048);
    k3 = EVP_RSA_gen(2048);
    small = EVP_RSA_gen(1024);

    if (k1 == NULL || k2 == NULL || k3 == NULL || small == NULL) {
        ok(0, "RSA keys generated");
        return done_testing();
    }

    ok(dm_jwk_thumbprint(k1, tp) == 0 && strlen(tp) == 43,
       "thumbprint: 43 base64url characters");
    ok(dm_jwk_thumbprint(k2, tp2) == 0 && strcmp(tp, tp2) != 0,
       "thumbprint: differs between keys");

    test_jwks(k1, k2, small);
    test_verify(k1, k2, k3);

    is_str(dm_jwt_reason(DM_JWT_EXPIRED), "expired", "reason text");
    is_str(dm_jwt_reason(DM_JWT_ALG), "alg not allowed", "reason text");

    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
    EVP_PKEY_free(small);

    return done_testing();
}
