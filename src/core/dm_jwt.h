/*
 * JWS compact tokens signed RS256 (Cognito user pool access tokens):
 * a JWKS parser, the verifier, and the signer the CLI mints development
 * tokens with.  OpenSSL 3 EVP and jansson only; shared by the NGINX
 * module, the CLI and the unit tests.
 *
 * Only RSA verification is ever attempted, whatever a token's header
 * says: a token with "alg" other than the configured one ("none", HS256,
 * ...) is refused before any key is touched, so a public key can never be
 * used as an HMAC secret.
 */

#ifndef DM_JWT_H
#define DM_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#include "dm_buf.h"


#define DM_JWT_TOKEN_MAX      8192    /* a whole compact token, bytes */
#define DM_JWT_HEADER_MAX     1024    /* the decoded header JSON */
#define DM_JWT_CLAIM_MAX      255     /* sub, username, client_id */
#define DM_JWT_KID_MAX        128
#define DM_JWT_DETAIL_MAX     160
#define DM_JWKS_KEYS_MAX      64
#define DM_JWKS_FILE_MAX      (1024 * 1024)
#define DM_JWK_THUMBPRINT_LEN 43      /* base64url of a SHA-256 */

#define DM_JWT_ALG_RS256      "RS256"


typedef enum {
    DM_JWT_OK = 0,
    DM_JWT_MALFORMED,           /* not three strict base64url parts ... */
    DM_JWT_TOO_LARGE,
    DM_JWT_ALG,                 /* "none", HS256, anything not allowed */
    DM_JWT_UNKNOWN_KID,
    DM_JWT_BAD_SIGNATURE,
    DM_JWT_WRONG_ISSUER,
    DM_JWT_NOT_ACCESS,          /* token_use is not "access" */
    DM_JWT_WRONG_CLIENT,
    DM_JWT_EXPIRED,
    DM_JWT_NOT_YET_VALID,       /* nbf in the future */
    DM_JWT_ISSUED_IN_FUTURE,    /* iat in the future */
    DM_JWT_NO_SUBJECT,
    DM_JWT_INTERNAL             /* out of memory, OpenSSL failure */
} dm_jwt_rc_e;


typedef struct dm_jwks_s  dm_jwks_t;


typedef struct {
    const char           *alg;          /* DM_JWT_ALG_RS256 */
    const char           *issuer;       /* NULL: not checked */
    const char *const    *client_ids;   /* nclient_ids 0: not checked */
    size_t                nclient_ids;
    const char           *token_use;    /* "access"; NULL: not checked */
    int64_t               leeway;       /* seconds of clock skew allowed */
    int64_t               now;          /* seconds since the epoch */
} dm_jwt_policy_t;


typedef struct {
    char                  sub[DM_JWT_CLAIM_MAX + 1];
    char                  username[DM_JWT_CLAIM_MAX + 1];  /* "" if none */
    char                  client_id[DM_JWT_CLAIM_MAX + 1]; /* "" if none */
    int64_t               exp;
    /* why a token was refused, for the log: never the token itself */
    char                  detail[DM_JWT_DETAIL_MAX];
} dm_jwt_claims_t;


/*
 * Parses a JWKS ({"keys": [...]}).  A key set keeps OpenSSL contexts made
 * once for all its verifications: use it from one thread at a time (an
 * NGINX worker, the CLI).  RSA keys with "use" "sig" (or none)
 * and "alg" RS256 (or none) are kept; other keys (EC, encryption keys)
 * are skipped and counted.  A malformed RSA key, a duplicate kid or a set
 * without any usable key is an error: NULL, with the reason in err.
 */
dm_jwks_t *dm_jwks_parse(const char *json, size_t len, char *err,
    size_t err_size);
void dm_jwks_free(dm_jwks_t *keys);
size_t dm_jwks_count(const dm_jwks_t *keys);
size_t dm_jwks_skipped(const dm_jwks_t *keys);
const char *dm_jwks_kid(const dm_jwks_t *keys, size_t i);

/*
 * Verifies a compact token against the keys and the policy; DM_JWT_OK and
 * the claims, or an error code with claims->detail saying more.
 */
dm_jwt_rc_e dm_jwt_verify(const dm_jwks_t *keys,
    const dm_jwt_policy_t *policy, const char *token, size_t len,
    dm_jwt_claims_t *claims);

/* "expired", "bad signature", ... */
const char *dm_jwt_reason(dm_jwt_rc_e rc);

/*
 * Strict base64url without padding: the decoded length, or -1 for any
 * other character, '=' padding, an impossible length, non-zero unused
 * bits, or an output buffer that is too small.
 */
long dm_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t out_size);
int dm_b64url_append(dm_buf_t *b, const unsigned char *in, size_t len);

/*
 * Appends "<b64url(header)>.<b64url(payload)>.<b64url(RS256 signature)>";
 * the header and payload are taken as given (JSON text).  0 or -1.
 */
int dm_jwt_sign_rs256(EVP_PKEY *key, const char *header, size_t header_len,
    const char *payload, size_t payload_len, dm_buf_t *out);

/* the RSA public key as a JWK object with kid, use "sig", alg RS256 */
int dm_jwk_public_json(EVP_PKEY *key, const char *kid, dm_buf_t *out);

/* RFC 7638 thumbprint (base64url SHA-256); out gets 44 bytes */
int dm_jwk_thumbprint(EVP_PKEY *key, char *out);

#endif /* DM_JWT_H */
