/*
 * SigV4 canonicalisation with hostile methods, paths, queries and headers
 * (NUL-separated fields after a first byte of flags: payload, method,
 * path, query, region, service, session token, then header names and
 * values), and a differential check: where the
 * general signer and the DynamoDB fast path sign the same request, their
 * Authorization values must be identical.
 */

#include <string.h>

#include "fuzz.h"
#include "dm_sigv4.h"


#define FUZZ_FIELDS   40
#define FUZZ_HEADERS  16


typedef struct {
    const char  *p;
    size_t       n;
} fuzz_field_t;


/* a NUL-terminated heap copy of exactly n + 1 bytes */
static char *
fuzz_cstr(const fuzz_field_t *f)
{
    char  *s;

    s = malloc(f->n + 1);
    if (s == NULL) {
        abort();
    }

    memcpy(s, f->p, f->n);
    s[f->n] = '\0';

    return s;
}


static void
fuzz_general(unsigned flags, const fuzz_field_t *f, size_t nf)
{
    int                   rc;
    char                 *method, *region, *service, *token, *path, *query;
    char                  creq[8192], sts[1024];
    size_t                i, nh;
    dm_sigv4_header_t     h[FUZZ_HEADERS];
    dm_sigv4_result_t     res;
    dm_sigv4_request_t    req;
    dm_aws_credentials_t  creds;
    dm_sigv4_key_cache_t  cache;

    method = fuzz_cstr(&f[1]);
    path = fuzz_cstr(&f[2]);
    query = fuzz_cstr(&f[3]);
    region = fuzz_cstr(&f[4]);
    service = fuzz_cstr(&f[5]);
    token = fuzz_cstr(&f[6]);

    for (i = 7, nh = 0; i + 1 < nf && nh < FUZZ_HEADERS; i += 2, nh++) {
        h[nh].name = f[i].p;
        h[nh].name_len = f[i].n;
        h[nh].value = f[i + 1].p;
        h[nh].value_len = f[i + 1].n;
    }

    creds.access_key_id = "AKIDEXAMPLE";
    creds.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    creds.session_token = token;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.path_len = f[2].n;
    req.query = (flags & 2) ? NULL : query;
    req.query_len = (flags & 2) ? 0 : f[3].n;
    req.headers = nh ? h : NULL;
    req.nheaders = nh;
    req.payload = (const unsigned char *) f[0].p;
    req.payload_len = f[0].n;
    req.region = (flags & 16) ? region : "us-east-1";
    req.service = (flags & 32) ? service : "service";
    req.amz_date = "20150830T123600Z";
    req.normalize_path = (flags & 4) != 0;
    req.sign_session_token = (flags & 8) != 0;

    memset(&res, 0, sizeof(res));
    memset(&cache, 0, sizeof(cache));

    if (flags & 64) {
        res.canonical_request = creq;
        res.canonical_request_size = (flags & 128) ? 64 : sizeof(creq);
        res.string_to_sign = sts;
        res.string_to_sign_size = sizeof(sts);
    }

    rc = dm_sigv4_sign(&creds, &cache, &req, &res);

    if (rc == 0) {
        fuzz_assert(strlen(res.signature) == 64);
        fuzz_assert(memchr(res.authorization, '\0',
                           sizeof(res.authorization)) != NULL);
        if (flags & 64) {
            fuzz_assert(memchr(creq, '\0', res.canonical_request_size)
                        != NULL);
            fuzz_assert(memchr(sts, '\0', sizeof(sts)) != NULL);
        }

        /* the cached key signs the same request the same way */
        {
            char  sig[65];

            memcpy(sig, res.signature, sizeof(sig));
            fuzz_assert(dm_sigv4_sign(&creds, &cache, &req, &res) == 0);
            fuzz_assert(strcmp(sig, res.signature) == 0);
        }
    }

    free(method);
    free(path);
    free(query);
    free(region);
    free(service);
    free(token);
}


/* fields: host, operation, session token, body */
static void
fuzz_dynamodb(const fuzz_field_t *f, size_t nf)
{
    int                   rc, rc2;
    char                 *host, *op, *token, *target;
    char                  authz[DM_SIGV4_AUTHZ_MAX];
    size_t                nh;
    dm_sigv4_header_t     h[5];
    dm_sigv4_result_t     res;
    dm_sigv4_request_t    req;
    dm_aws_credentials_t  creds;
    dm_sigv4_key_cache_t  cache, cache2;

    host = fuzz_cstr(&f[0]);
    op = fuzz_cstr(&f[1]);
    token = fuzz_cstr(&f[2]);

    creds.access_key_id = "AKIDEXAMPLE";
    creds.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    creds.session_token = token;

    memset(&cache, 0, sizeof(cache));
    memset(&cache2, 0, sizeof(cache2));

    rc = dm_sigv4_sign_dynamodb(&creds, &cache, "us-east-1", host,
                                "20150830T123600Z", op,
                                (const unsigned char *) f[3].p, f[3].n,
                                authz, sizeof(authz));

    if (rc == 0) {
        target = malloc(sizeof(DM_DDB_TARGET_PREFIX) + f[1].n);
        if (target == NULL) {
            abort();
        }
        memcpy(target, DM_DDB_TARGET_PREFIX,
               sizeof(DM_DDB_TARGET_PREFIX) - 1);
        memcpy(target + sizeof(DM_DDB_TARGET_PREFIX) - 1, op, f[1].n + 1);

        nh = 0;
        h[nh++] = (dm_sigv4_header_t) { "Content-Type", 12,
            DM_DDB_CONTENT_TYPE, sizeof(DM_DDB_CONTENT_TYPE) - 1 };
        h[nh++] = (dm_sigv4_header_t) { "Host", 4, host, f[0].n };
        h[nh++] = (dm_sigv4_header_t) { "X-Amz-Date", 10,
            "20150830T123600Z", 16 };
        h[nh++] = (dm_sigv4_header_t) { "X-Amz-Target", 12, target,
            strlen(target) };

        memset(&req, 0, sizeof(req));
        req.method = "POST";
        req.path = "/";
        req.path_len = 1;
        req.headers = h;
        req.nheaders = nh;
        req.payload = (const unsigned char *) f[3].p;
        req.payload_len = f[3].n;
        req.region = "us-east-1";
        req.service = "dynamodb";
        req.amz_date = "20150830T123600Z";
        req.sign_session_token = 1;

        memset(&res, 0, sizeof(res));
        rc2 = dm_sigv4_sign(&creds, &cache2, &req, &res);

        if (rc2 != 0 || strcmp(res.authorization, authz) != 0) {
            fprintf(stderr, "fast path: %s\ngeneral:   %s (%d)\n", authz,
                    res.authorization, rc2);
        }
        fuzz_assert(rc2 == 0 && strcmp(res.authorization, authz) == 0);

        free(target);
    }

    free(host);
    free(op);
    free(token);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         nf, i, start;
    fuzz_field_t   f[FUZZ_FIELDS];

    if (size == 0) {
        return 0;
    }

    /* the first byte chooses the signer (bit 0) and flags */
    nf = 0;
    start = 1;

    for (i = 1; i <= size && nf < FUZZ_FIELDS; i++) {
        if (i == size || data[i] == '\0') {
            f[nf].p = (const char *) data + start;
            f[nf].n = i - start;
            nf++;
            start = i + 1;
        }
    }

    /* the last field takes the rest, NULs and all */
    if (nf == FUZZ_FIELDS && start < size) {
        f[nf - 1].n = size - (size_t) (f[nf - 1].p - (const char *) data);
    }

    for (i = nf; i < FUZZ_FIELDS; i++) {
        f[i].p = "";
        f[i].n = 0;
    }

    if (data[0] & 1) {
        fuzz_dynamodb(f, nf < 4 ? 4 : nf);

    } else {
        fuzz_general(data[0], f, nf < 7 ? 7 : nf);
    }

    return 0;
}
