/*
 * AWS Signature Version 4 (header signing), OpenSSL only.
 *
 * Shared by the NGINX module (one call per DynamoDB subrequest) and the CLI.
 * The signing key is derived once per (secret, date, region, service) and
 * kept in a caller-owned cache; the cache holds a digest of the secret, not
 * the secret.
 */

#ifndef DM_SIGV4_H
#define DM_SIGV4_H

#include <stddef.h>
#include <time.h>

#define DM_SIGV4_AMZ_DATE_LEN   16      /* 20150830T123600Z */
#define DM_SIGV4_AUTHZ_MAX      512
#define DM_DDB_CONTENT_TYPE     "application/x-amz-json-1.0"
#define DM_DDB_TARGET_PREFIX    "DynamoDB_20120810."


typedef struct {
    const char     *access_key_id;
    const char     *secret_access_key;
    const char     *session_token;          /* NULL or "" when none */
} dm_aws_credentials_t;

typedef struct {
    int             valid;
    char            date[9];                /* yyyymmdd */
    char            region[64];
    char            service[64];
    unsigned char   secret_digest[32];      /* SHA-256 of the secret */
    unsigned char   key[32];
} dm_sigv4_key_cache_t;

typedef struct {
    const char     *name;
    size_t          name_len;
    const char     *value;
    size_t          value_len;
} dm_sigv4_header_t;

typedef struct {
    const char              *method;
    const char              *path;          /* as on the request line */
    size_t                   path_len;
    const char              *query;         /* without '?', may be NULL */
    size_t                   query_len;
    const dm_sigv4_header_t *headers;       /* must include host */
    size_t                   nheaders;
    const unsigned char     *payload;
    size_t                   payload_len;
    const char              *region;
    const char              *service;
    const char              *amz_date;      /* YYYYMMDDTHHMMSSZ */
    int                      normalize_path;
    /* add X-Amz-Security-Token (from the credentials) to signed headers */
    int                      sign_session_token;
} dm_sigv4_request_t;

typedef struct {
    /* optional outputs: NULL/0 to skip */
    char           *canonical_request;
    size_t          canonical_request_size;
    char           *string_to_sign;
    size_t          string_to_sign_size;
    /* always filled on success */
    char            signature[65];
    char            authorization[DM_SIGV4_AUTHZ_MAX];
} dm_sigv4_result_t;


/*
 * SHA-256 of p into md (32 bytes), through the signer's digest (fetched
 * once per thread, not looked up by name on each call).  0, or -1.
 */
int dm_sha256(const void *p, size_t n, unsigned char *md);

/* "YYYYMMDDTHHMMSSZ" for t (UTC); out gets 17 bytes */
void dm_sigv4_amz_date(time_t t, char *out);

/* 0 on success, -1 on error (bad input, buffer too small, OpenSSL) */
int dm_sigv4_sign(const dm_aws_credentials_t *creds,
    dm_sigv4_key_cache_t *cache, const dm_sigv4_request_t *req,
    dm_sigv4_result_t *res);

/*
 * The one request shape the project sends: POST / to DynamoDB with
 * signed headers content-type (DM_DDB_CONTENT_TYPE), host, x-amz-date,
 * x-amz-security-token (only with a session token) and x-amz-target
 * (DM_DDB_TARGET_PREFIX + operation).  The caller must send exactly those
 * header values.  No heap allocation.  Writes the Authorization value.
 */
int dm_sigv4_sign_dynamodb(const dm_aws_credentials_t *creds,
    dm_sigv4_key_cache_t *cache, const char *region, const char *host,
    const char *amz_date, const char *operation,
    const unsigned char *body, size_t body_len,
    char *authorization, size_t authorization_size);

#endif /* DM_SIGV4_H */
