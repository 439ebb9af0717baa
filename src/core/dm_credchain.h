/*
 * The AWS SDKs' default credential chain, written once for the module and
 * the CLI, in the order the SDKs follow:
 *
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 *      [, AWS_SESSION_TOKEN];
 *   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *      [+ AWS_ROLE_SESSION_NAME] -> STS AssumeRoleWithWebIdentity at the
 *      regional endpoint (AWS_ENDPOINT_URL_STS overrides it);
 *   3. the shared credentials and config files, for the profile
 *      (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE);
 *   4. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
 *      _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN (ECS, EKS Pod Identity);
 *   5. EC2 instance metadata, IMDSv2 (PUT a token, GET the role, GET its
 *      credentials); AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the
 *      address, AWS_EC2_METADATA_DISABLED=true skips it; IMDSv1 only when
 *      the caller allows it.
 *
 * A source that is configured but fails ends the chain with an error, as
 * in the SDKs (a broken container endpoint never falls through to IMDS).
 * Two rules follow botocore: a profile chosen by the caller
 * (dm_credchain_t.profile, not AWS_PROFILE) skips the environment's keys;
 * an instance metadata service that cannot be reached at all is "nothing
 * found", not a broken source (err then starts with DM_CREDCHAIN_ERR_NONE
 * and adds why).  The default shared files ($HOME/.aws/credentials and
 * config) count as absent when missing or unreadable (ENOENT, ENOTDIR,
 * EACCES: a worker that cannot look into the master's HOME), as in the
 * SDKs, with a note (dm_credchain_t.note); a file named by
 * AWS_SHARED_CREDENTIALS_FILE or AWS_CONFIG_FILE that exists but cannot
 * be read is an error (a missing one is absent, as in botocore).  A profile named explicitly (profile or AWS_PROFILE) that
 * exists in neither file is an error; role_arn, SSO and
 * credential_process profiles are refused as not implemented.
 *
 * Every exchange is given AWS_CA_BUNDLE, as the SDKs do for STS and the
 * container endpoint (dm_http_request_t.ca_bundle).
 *
 * Blocking: the CLI calls it directly; the module calls it from an NGINX
 * thread pool task, never on a worker's event loop.  HTTP and the
 * environment come through callbacks, so the module can hand in the
 * environment its master saw and the tests can hand in fakes.
 */

#ifndef DM_CREDCHAIN_H
#define DM_CREDCHAIN_H

#include <stddef.h>
#include <time.h>

#include "dm_buf.h"


#define DM_CREDS_ID_MAX         128
#define DM_CREDS_SECRET_MAX     128
#define DM_CREDS_TOKEN_MAX      8192    /* session tokens run to ~2-3k */
#define DM_CREDS_SOURCE_MAX     31
#define DM_CREDCHAIN_ERR_MAX    256

/* err when no source is configured; a caller may compare the prefix */
#define DM_CREDCHAIN_ERR_NONE                                               \
    "no AWS credentials found (environment, web identity, profile, "       \
    "container, instance metadata)"


typedef struct {
    char        access_key_id[DM_CREDS_ID_MAX + 1];
    char        secret_access_key[DM_CREDS_SECRET_MAX + 1];
    char        session_token[DM_CREDS_TOKEN_MAX + 1];     /* "": none */
    time_t      expiration;                 /* 0: does not expire */
    /* "environment", "web-identity", "profile", "container", "imds" */
    char        source[DM_CREDS_SOURCE_MAX + 1];
} dm_creds_t;


typedef struct {
    const char  *method;                    /* "GET", "PUT", "POST" */
    const char  *url;                       /* http:// or https:// */
    const char  *headers[8];                /* "Name: value", NULL ends */
    const char  *body;                      /* NULL: none */
    size_t       body_len;
    long         timeout_ms;                /* the whole exchange */
    /* a PEM file of CA certificates for https; NULL or "": the system's */
    const char  *ca_bundle;
} dm_http_request_t;


/*
 * A blocking HTTP exchange.  Returns 0 with *status set and the answer's
 * body appended to body (any status), or -1 on a connection error or
 * timeout, with a short reason in err (no secrets, no bodies).
 */
typedef int (*dm_http_exchange_pt)(void *data, const dm_http_request_t *req,
    long *status, dm_buf_t *body, char *err, size_t errlen);

/* NULL or "" means unset */
typedef const char *(*dm_getenv_pt)(void *data, const char *name);


typedef struct {
    dm_http_exchange_pt   http;
    dm_getenv_pt          getenv;
    void                 *data;             /* for both callbacks */

    const char           *profile;          /* NULL: AWS_PROFILE, "default" */
    const char           *region;           /* STS; NULL: AWS_REGION,
                                               AWS_DEFAULT_REGION, the
                                               profile's, us-east-1 */
    int                   imds_v1_fallback; /* IMDSv1 if the token PUT is
                                               refused */
    long                  timeout_ms;       /* per exchange; 0: 2000 (IMDS:
                                               1000, as the SDKs) */

    /*
     * Out, optional: a default shared file (under HOME) that exists but
     * could not be read and was taken as absent, one line, no secret;
     * "" when none.  The caller decides how often to log it.
     */
    char                 *note;
    size_t                note_len;
} dm_credchain_t;


/*
 * Resolves credentials.  Returns 0 with out filled, or -1 with a one-line
 * reason in err that names the source and never holds a secret.  out is
 * wiped on failure.
 */
int dm_credchain_resolve(const dm_credchain_t *chain, dm_creds_t *out,
    char *err, size_t errlen);

/* a region name as AWS writes them: [a-z0-9-], 1 to 63 characters */
int dm_aws_region_valid(const char *r);

/* overwrites the secrets in memory (OPENSSL_cleanse) */
void dm_creds_wipe(dm_creds_t *c);

/*
 * Parsers, exposed for the unit tests and the fuzzer:
 *   the container / IMDS JSON answer ({"AccessKeyId", "SecretAccessKey",
 *   "Token", "Expiration"}; an IMDS "Code" other than "Success" refused);
 *   STS's AssumeRoleWithWebIdentity XML answer;
 *   an ISO 8601 UTC time ("2026-11-30T12:00:00Z", fractions and "+00:00"
 *   accepted).
 * Each returns 0, or -1 with err set.
 */
int dm_creds_parse_json(const char *buf, size_t len, dm_creds_t *out,
    char *err, size_t errlen);
int dm_creds_parse_sts_xml(const char *buf, size_t len, dm_creds_t *out,
    char *err, size_t errlen);
int dm_creds_parse_time(const char *s, size_t len, time_t *t);


/*
 * dm_http_curl.c: the libcurl exchange (the CLI, the module's thread).
 * Thread-safe, one easy handle per call, no signals; curl_global_init()
 * must have been called once, before any thread, by the program (the
 * CLI's main, the module's init_module).  http and https only, no
 * redirects, no proxy for loopback and link-local addresses, answers
 * over 64 KiB refused; ca_bundle replaces libcurl's CA file, and a
 * certificate error names the bundle used.  Not referenced by
 * dm_credchain.c: programs that pass their own callback need no -lcurl.
 */
int dm_http_curl_exchange(void *data, const dm_http_request_t *req,
    long *status, dm_buf_t *body, char *err, size_t errlen);

/* getenv(3), for dm_credchain_t.getenv */
const char *dm_getenv_process(void *data, const char *name);

#endif /* DM_CREDCHAIN_H */
