/*
 * Unit tests: AWS_CA_BUNDLE in the credential chain (dm_credchain.c).
 * Every exchange (STS, container, each IMDS step) is handed the chain's
 * AWS_CA_BUNDLE in dm_http_request_t.ca_bundle, read through the chain's
 * getenv callback (the module's snapshot of the master's environment),
 * never getenv(3): the process environment here says something else.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "dm_credchain.h"


#define SECRET  "Sec/ret+Value0123456789abcdefghijklmnopq"


static const char  *env_k[16];
static const char  *env_v[16];
static int          env_n;

static const char  *answers[4];
static int          answers_n;
static int          asked;
static char         seen_ca[4][256];    /* "(null)" for NULL */

static const char  json_ok[] =
    "{\"Code\": \"Success\", \"AccessKeyId\": \"ASIAJSON\","
    " \"SecretAccessKey\": \"" SECRET "\", \"Token\": \"FwoGjson\","
    " \"Expiration\": \"2099-01-01T00:00:00Z\"}";

static const char  sts_ok[] =
    "<AssumeRoleWithWebIdentityResponse>"
    "<AssumeRoleWithWebIdentityResult><Credentials>"
    "<SessionToken>FwoGsts</SessionToken>"
    "<SecretAccessKey>" SECRET "</SecretAccessKey>"
    "<Expiration>2099-01-01T00:00:00Z</Expiration>"
    "<AccessKeyId>ASIASTS</AccessKeyId>"
    "</Credentials></AssumeRoleWithWebIdentityResult>"
    "</AssumeRoleWithWebIdentityResponse>";


static void
env_set(const char *k, const char *v)
{
    int  i;

    for (i = 0; i < env_n; i++) {
        if (strcmp(env_k[i], k) == 0) {
            env_v[i] = v;
            return;
        }
    }

    env_k[env_n] = k;
    env_v[env_n++] = v;
}


static const char *
fake_getenv(void *data, const char *name)
{
    int  i;

    for (i = 0; i < env_n; i++) {
        if (strcmp(env_k[i], name) == 0) {
            return env_v[i];
        }
    }

    return NULL;
}


static int
fake_http(void *data, const dm_http_request_t *req, long *status,
    dm_buf_t *body, char *err, size_t errlen)
{
    if (asked >= answers_n) {
        snprintf(err, errlen, "unscripted request");
        return -1;
    }

    snprintf(seen_ca[asked], sizeof(seen_ca[0]), "%s",
             req->ca_bundle ? req->ca_bundle : "(null)");

    *status = 200;
    dm_buf_append_str(body, answers[asked++]);

    return 0;
}


static int
resolve(dm_credchain_t *chain, char *err, size_t errlen)
{
    int         rc;
    dm_creds_t  c;

    asked = 0;
    memset(seen_ca, 0, sizeof(seen_ca));
    err[0] = '\0';

    rc = dm_credchain_resolve(chain, &c, err, errlen);
    dm_creds_wipe(&c);

    if (rc != 0) {
        diag("%s", err);
    }

    return rc;
}


int
main(void)
{
    int              i;
    char             err[DM_CREDCHAIN_ERR_MAX], tfile[] =
                         "/tmp/dm-ca-bundle-XXXXXX";
    FILE            *f;
    dm_credchain_t   chain;

    /* what getenv(3) would find: must never reach a request */
    setenv("AWS_CA_BUNDLE", "/process/env/ca.pem", 1);

    memset(&chain, 0, sizeof(chain));
    chain.http = fake_http;
    chain.getenv = fake_getenv;

    /* container */

    env_set("AWS_EC2_METADATA_DISABLED", "true");
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "https://creds.example.com/v1");
    env_set("AWS_CA_BUNDLE", "/etc/pki/corp-ca.pem");
    answers[0] = json_ok;
    answers_n = 1;

    ok(resolve(&chain, err, sizeof(err)) == 0 && asked == 1,
       "container: resolved");
    is_str(seen_ca[0], "/etc/pki/corp-ca.pem",
           "container: the chain's AWS_CA_BUNDLE, not the process's");

    env_set("AWS_CA_BUNDLE", NULL);
    ok(resolve(&chain, err, sizeof(err)) == 0, "container: resolved");
    is_str(seen_ca[0], "(null)", "container: unset: NULL (the system's)");

    env_set("AWS_CA_BUNDLE", "");
    ok(resolve(&chain, err, sizeof(err)) == 0, "container: resolved");
    is_str(seen_ca[0], "(null)", "container: \"\" is unset, as the SDKs");

    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", NULL);

    /* web identity: STS */

    f = NULL;
    i = mkstemp(tfile);
    if (i != -1) {
        f = fdopen(i, "w");
    }

    ok(f != NULL, "a token file");
    if (f != NULL) {
        fputs("eyJhbGciOiJSUzI1NiJ9.e30.sig\n", f);
        fclose(f);
    }

    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", tfile);
    env_set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r");
    env_set("AWS_REGION", "eu-west-1");
    env_set("AWS_CA_BUNDLE", "/etc/pki/sts-ca.pem");
    answers[0] = sts_ok;
    answers_n = 1;

    ok(resolve(&chain, err, sizeof(err)) == 0 && asked == 1,
       "web identity: resolved");
    is_str(seen_ca[0], "/etc/pki/sts-ca.pem", "STS: AWS_CA_BUNDLE");

    unlink(tfile);
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", NULL);
    env_set("AWS_ROLE_ARN", NULL);

    /* instance metadata: the token PUT and both GETs */

    env_set("AWS_EC2_METADATA_DISABLED", "false");
    env_set("AWS_CA_BUNDLE", "/etc/pki/imds-ca.pem");
    answers[0] = "AQAEAtoken==";
    answers[1] = "my-role\n";
    answers[2] = json_ok;
    answers_n = 3;

    ok(resolve(&chain, err, sizeof(err)) == 0 && asked == 3,
       "IMDS: resolved in three exchanges");

    for (i = 0; i < 3; i++) {
        is_str(seen_ca[i], "/etc/pki/imds-ca.pem",
               "IMDS exchange %d: AWS_CA_BUNDLE", i + 1);
    }

    return done_testing();
}
