/*
 * Access tokens and key sets, both from outside: the first byte picks
 *   even  the rest is a JWKS document (dm_jwks_parse);
 *   odd   the rest is a compact token, verified against a fixed key set.
 * With FUZZ_JWT_CLAIMS (fuzz_jwt_claims.c) the input is instead
 * "<header JSON>\n<payload JSON>", signed with the fixed key so that the
 * claim checks behind the signature are reached; RSA signing is slow, so
 * that is a harness of its own.
 */

#include <string.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "fuzz.h"
#include "dm_jwt.h"


static EVP_PKEY   *fuzz_key;
static dm_jwks_t  *fuzz_keys;

static const char *const  fuzz_clients[] = { "client-a", "client-b" };


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char      err[256];
    dm_buf_t  b;

    fuzz_key = EVP_RSA_gen(2048);
    if (fuzz_key == NULL) {
        abort();
    }

    dm_buf_init_malloc(&b);
    dm_buf_append_str(&b, "{\"keys\":[");
    if (dm_jwk_public_json(fuzz_key, "k1", &b) != 0) {
        abort();
    }
    dm_buf_append_str(&b, "]}");

    fuzz_keys = dm_jwks_parse((const char *) b.data, b.len, err,
                              sizeof(err));
    if (fuzz_keys == NULL) {
        fprintf(stderr, "fuzz_jwt: %s\n", err);
        abort();
    }

    dm_buf_free_malloc(&b);

    return 0;
}


static void
fuzz_verify(const char *token, size_t len, int64_t now)
{
    dm_jwt_rc_e      rc;
    dm_jwt_claims_t  c;
    dm_jwt_policy_t  p;

    memset(&p, 0, sizeof(p));
    p.alg = DM_JWT_ALG_RS256;
    p.issuer = "https://issuer.example";
    p.client_ids = fuzz_clients;
    p.nclient_ids = (len & 1) ? 2 : 0;
    p.token_use = "access";
    p.leeway = 30;
    p.now = now;

    rc = dm_jwt_verify(fuzz_keys, &p, token, len, &c);

    fuzz_assert(memchr(c.detail, '\0', sizeof(c.detail)) != NULL);
    fuzz_assert(memchr(c.sub, '\0', sizeof(c.sub)) != NULL);
    fuzz_assert(memchr(c.username, '\0', sizeof(c.username)) != NULL);
    fuzz_assert(memchr(c.client_id, '\0', sizeof(c.client_id)) != NULL);
    fuzz_assert(dm_jwt_reason(rc) != NULL);

    if (rc == DM_JWT_OK) {
        fuzz_assert(c.sub[0] != '\0' && c.exp > now - 30);
    }
}


#ifndef FUZZ_JWT_CLAIMS

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char            err[256], *s;
    size_t          i;
    dm_jwks_t      *keys;
    unsigned char   out[512];

    if (size == 0) {
        return 0;
    }

    /* an exact-size copy of the rest */
    s = malloc(size);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data + 1, size - 1);

    if ((data[0] & 1) == 0) {
        keys = dm_jwks_parse(s, size - 1, err, sizeof(err));
        fuzz_assert(keys != NULL || memchr(err, 0, sizeof(err)) != NULL);
        if (keys != NULL) {
            fuzz_assert(dm_jwks_count(keys) > 0);
            for (i = 0; i < dm_jwks_count(keys); i++) {
                fuzz_assert(dm_jwks_kid(keys, i) != NULL);
            }
            dm_jwks_free(keys);
        }

    } else {
        fuzz_verify(s, size - 1, 1800000000);
        (void) dm_b64url_decode(s, size - 1, out, sizeof(out));
    }

    free(s);

    return 0;
}

#else

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char  *s, *nl;
    dm_buf_t     tok;

    s = (const char *) data;
    nl = memchr(s, '\n', size);
    if (nl == NULL) {
        return 0;
    }

    dm_buf_init_malloc(&tok);

    if (dm_jwt_sign_rs256(fuzz_key, s, (size_t) (nl - s), nl + 1,
                          size - (size_t) (nl - s) - 1, &tok)
        == 0)
    {
        fuzz_verify((const char *) tok.data, tok.len, 1800000000);
    }

    dm_buf_free_malloc(&tok);

    return 0;
}

#endif
