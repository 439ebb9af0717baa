/*
 * Test helper for test_botocore_agreement.py: signs one DynamoDB request
 * and prints the Authorization value.
 *
 *   sigv4_dynamodb_cli [-g] REGION HOST AMZ_DATE OPERATION < body
 *
 * Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN (optional), never from arguments, so they do not show
 * up in process listings.  -g signs with the general dm_sigv4_sign()
 * instead of the dm_sigv4_sign_dynamodb() fast path.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_sigv4.h"


static unsigned char *
read_stdin(size_t *len)
{
    size_t          n, cap;
    unsigned char  *p, *q;

    n = 0;
    cap = 4096;

    p = malloc(cap);
    if (p == NULL) {
        return NULL;
    }

    for ( ;; ) {
        n += fread(p + n, 1, cap - n, stdin);

        if (n < cap) {
            break;
        }

        cap *= 2;
        q = realloc(p, cap);
        if (q == NULL) {
            free(p);
            return NULL;
        }
        p = q;
    }

    if (ferror(stdin)) {
        free(p);
        return NULL;
    }

    *len = n;

    return p;
}


static int
sign_general(const dm_aws_credentials_t *creds, const char *region,
    const char *host, const char *amz_date, const char *op,
    const unsigned char *body, size_t body_len, char *authz)
{
    int                 i;
    char                target[256];
    dm_sigv4_header_t   h[3];
    dm_sigv4_request_t  req;
    dm_sigv4_result_t   res;

    if ((size_t) snprintf(target, sizeof(target), "%s%s",
                          DM_DDB_TARGET_PREFIX, op)
        >= sizeof(target))
    {
        return -1;
    }

    h[0].name = "Content-Type";
    h[0].value = DM_DDB_CONTENT_TYPE;
    h[1].name = "Host";
    h[1].value = host;
    h[2].name = "X-Amz-Target";
    h[2].value = target;

    for (i = 0; i < 3; i++) {
        h[i].name_len = strlen(h[i].name);
        h[i].value_len = strlen(h[i].value);
    }

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = "/";
    req.path_len = 1;
    req.headers = h;
    req.nheaders = 3;
    req.payload = body;
    req.payload_len = body_len;
    req.region = region;
    req.service = "dynamodb";
    req.amz_date = amz_date;
    req.normalize_path = 1;
    req.sign_session_token = 1;

    memset(&res, 0, sizeof(res));

    if (dm_sigv4_sign(creds, NULL, &req, &res) != 0) {
        return -1;
    }

    memcpy(authz, res.authorization, sizeof(res.authorization));

    return 0;
}


int
main(int argc, char **argv)
{
    int                    general, rc;
    char                   authz[DM_SIGV4_AUTHZ_MAX];
    size_t                 body_len;
    unsigned char         *body;
    dm_aws_credentials_t   creds;

    general = (argc > 1 && strcmp(argv[1], "-g") == 0);
    argv += general;
    argc -= general;

    if (argc != 5) {
        fprintf(stderr, "usage: sigv4_dynamodb_cli [-g] REGION HOST "
                        "AMZ_DATE OPERATION < body\n");
        return 2;
    }

    creds.access_key_id = getenv("AWS_ACCESS_KEY_ID");
    creds.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
    creds.session_token = getenv("AWS_SESSION_TOKEN");

    if (creds.access_key_id == NULL || creds.secret_access_key == NULL) {
        fprintf(stderr, "sigv4_dynamodb_cli: AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY must be set\n");
        return 2;
    }

    body = read_stdin(&body_len);
    if (body == NULL) {
        fprintf(stderr, "sigv4_dynamodb_cli: cannot read the body\n");
        return 1;
    }

    if (general) {
        rc = sign_general(&creds, argv[1], argv[2], argv[3], argv[4],
                          body, body_len, authz);

    } else {
        rc = dm_sigv4_sign_dynamodb(&creds, NULL, argv[1], argv[2],
                                    argv[3], argv[4], body, body_len,
                                    authz, sizeof(authz));
    }

    free(body);

    if (rc != 0) {
        fprintf(stderr, "sigv4_dynamodb_cli: signing failed\n");
        return 1;
    }

    printf("%s\n", authz);

    return 0;
}
