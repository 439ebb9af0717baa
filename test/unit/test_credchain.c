/*
 * Unit tests: the default credential chain (dm_credchain.c), every source
 * in order, through a fake environment and a fake HTTP exchange that
 * answers from a script and records what it was asked.
 */

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"
#include "dm_credchain.h"
#include "dm_sigv4.h"


#define SECRET      "Sec/ret+Value0123456789abcdefghijklmnopq"
#define STS_TOKEN   "FwoGZXIvYXdz&Token/+="
#define T_2026      1796040000      /* 2026-11-30T12:00:00Z */


/* ---- the fake environment --------------------------------------------- */

static const char  *env_k[32];
static const char  *env_v[32];
static int          env_n;


static void
env_reset(void)
{
    env_n = 0;
}


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


/* ---- the fake HTTP exchange --------------------------------------------- */

typedef struct {
    int          fail;              /* a connection error */
    long         status;
    const char  *body;
} answer_t;

typedef struct {
    char         method[8];
    char         url[512];
    char         headers[16384];    /* "Name: value\n" each */
    char         body[4096];
    long         timeout_ms;
    char         ca_bundle[256];    /* "(null)" for NULL */
} seen_t;

static answer_t  answers[8];
static int       answers_n;
static seen_t    seen[8];
static int       asked;


static void
script(int n, ...)
{
    int      i;
    va_list  ap;

    va_start(ap, n);

    for (i = 0; i < n; i++) {
        answers[i] = va_arg(ap, answer_t);
    }

    va_end(ap);

    answers_n = n;
    asked = 0;
    memset(seen, 0, sizeof(seen));
}


static int
fake_http(void *data, const dm_http_request_t *req, long *status,
    dm_buf_t *body, char *err, size_t errlen)
{
    int        i;
    seen_t    *s;
    answer_t  *a;

    if (asked >= answers_n) {
        snprintf(err, errlen, "unscripted request");
        return -1;
    }

    s = &seen[asked];
    a = &answers[asked++];

    snprintf(s->method, sizeof(s->method), "%s", req->method);
    snprintf(s->url, sizeof(s->url), "%s", req->url);
    s->timeout_ms = req->timeout_ms;
    snprintf(s->ca_bundle, sizeof(s->ca_bundle), "%s",
             req->ca_bundle ? req->ca_bundle : "(null)");

    for (i = 0; i < 8 && req->headers[i] != NULL; i++) {
        strcat(s->headers, req->headers[i]);
        strcat(s->headers, "\n");
    }

    if (req->body != NULL) {
        snprintf(s->body, sizeof(s->body), "%.*s", (int) req->body_len,
                 req->body);
    }

    if (a->fail) {
        snprintf(err, errlen, "Connection refused");
        return -1;
    }

    *status = a->status;
    dm_buf_append_str(body, a->body);

    return 0;
}


#define OK(st, b)    ((answer_t) { 0, (st), (b) })
#define DOWN         ((answer_t) { 1, 0, "" })


/* ---- helpers ------------------------------------------------------------ */

static dm_credchain_t  chain;
static dm_creds_t      c;
static char            err[DM_CREDCHAIN_ERR_MAX];
static char            dir[] = "/tmp/dm-credchain-XXXXXX";
static char            paths[8][256];


static int
resolve(void)
{
    err[0] = '\0';
    return dm_credchain_resolve(&chain, &c, err, sizeof(err));
}


static const char *
write_file(int i, const char *name, const char *text)
{
    FILE  *f;

    snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, name);

    f = fopen(paths[i], "w");
    if (f == NULL) {
        return NULL;
    }

    fputs(text, f);
    fclose(f);

    return paths[i];
}


/* the chain's defaults, every source off but what a test switches on */
static void
reset(void)
{
    env_reset();
    memset(&chain, 0, sizeof(chain));
    chain.http = fake_http;
    chain.getenv = fake_getenv;
    env_set("AWS_EC2_METADATA_DISABLED", "true");
    env_set("HOME", "/nonexistent");
    script(0);
}


/* the JSON parser on a string */
#define parse_json(s)  dm_creds_parse_json(s, strlen(s), &c, err, sizeof(err))


static int
no_secret(void)
{
    return strstr(err, SECRET) == NULL && strstr(err, "Sec/ret") == NULL
           && strstr(err, "FwoG") == NULL;
}


static const char  sts_ok[] =
    "<AssumeRoleWithWebIdentityResponse "
    "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleWithWebIdentityResult>\n"
    "    <SubjectFromWebIdentityToken>system:sa</SubjectFromWebIdentityToken>\n"
    "    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn>"
    "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <SessionToken>FwoGZXIvYXdz&amp;Token/+=</SessionToken>\n"
    "      <SecretAccessKey>" SECRET "</SecretAccessKey>\n"
    "      <Expiration>2026-11-30T12:00:00Z</Expiration>\n"
    "      <AccessKeyId>ASIAWEBIDENTITY</AccessKeyId>\n"
    "    </Credentials>\n"
    "  </AssumeRoleWithWebIdentityResult>\n"
    "</AssumeRoleWithWebIdentityResponse>\n";

static const char  sts_error[] =
    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>\n"
    "  <Message>token FwoG " SECRET " is bad</Message></Error>\n"
    "  <RequestId>1</RequestId>\n</ErrorResponse>\n";

static const char  json_ok[] =
    "{\"Code\": \"Success\", \"LastUpdated\": \"2026-11-30T06:00:00Z\","
    " \"Type\": \"AWS-HMAC\", \"AccessKeyId\": \"ASIAJSON\","
    " \"SecretAccessKey\": \"" SECRET "\", \"Token\": \"FwoGjson\","
    " \"Expiration\": \"2026-11-30T12:00:00Z\"}";


static void
test_nothing(void)
{
    reset();
    ok(resolve() == -1 && strcmp(err, DM_CREDCHAIN_ERR_NONE) == 0,
       "nothing configured: the not-found message");
    ok(asked == 0, "and no HTTP exchange");
    ok(c.access_key_id[0] == '\0', "out is wiped");
}


static void
test_environment(void)
{
    char  big[DM_CREDS_TOKEN_MAX + 2];

    reset();
    env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
    env_set("AWS_SECRET_ACCESS_KEY", SECRET);
    env_set("AWS_SESSION_TOKEN", "envtoken");
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent");
    env_set("AWS_ROLE_ARN", "arn:aws:iam::1:role/r");
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x");

    ok(resolve() == 0, "environment");
    is_str(c.source, "environment", "source");
    is_str(c.access_key_id, "AKIDENV", "key id");
    is_str(c.secret_access_key, SECRET, "secret");
    is_str(c.session_token, "envtoken", "session token");
    ok(c.expiration == 0, "no expiration");
    ok(asked == 0, "the environment wins over every later source");

    env_set("AWS_CREDENTIAL_EXPIRATION", "2026-11-30T12:00:00Z");
    ok(resolve() == 0 && c.expiration == T_2026,
       "AWS_CREDENTIAL_EXPIRATION");
    env_set("AWS_CREDENTIAL_EXPIRATION", "tomorrow");
    ok(resolve() == -1 && strstr(err, "AWS_CREDENTIAL_EXPIRATION"),
       "a bad AWS_CREDENTIAL_EXPIRATION is refused: %s", err);
    env_set("AWS_CREDENTIAL_EXPIRATION", "");

    env_set("AWS_ACCESS_KEY_ID", "AKID-ENV");
    ok(resolve() == -1 && strstr(err, "environment:") && no_secret(),
       "a key id that is not letters and digits: %s", err);
    ok(c.secret_access_key[0] == '\0', "out wiped on failure");

    env_set("AWS_ACCESS_KEY_ID", "akidlower1");
    ok(resolve() == 0, "lower-case key ids are taken (fakes)");

    env_set("AWS_SECRET_ACCESS_KEY", "Sec/ret\r\nX-Evil: 1");
    ok(resolve() == -1 && strstr(err, "control") && no_secret(),
       "a secret with CR/LF is refused: %s", err);

    memset(big, 'T', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    env_set("AWS_SECRET_ACCESS_KEY", SECRET);
    env_set("AWS_SESSION_TOKEN", big);
    ok(resolve() == -1 && strstr(err, "too long") && no_secret(),
       "a token over DM_CREDS_TOKEN_MAX is refused: %s", err);
    big[DM_CREDS_TOKEN_MAX] = '\0';
    ok(resolve() == 0 && strlen(c.session_token) == DM_CREDS_TOKEN_MAX,
       "a token of exactly DM_CREDS_TOKEN_MAX is taken");

    reset();
    env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
    ok(resolve() == -1 && strcmp(err, DM_CREDCHAIN_ERR_NONE) == 0,
       "a key id without a secret is not configured");
}


static void
test_web_identity(void)
{
    const char  *tf;

    reset();
    tf = write_file(0, "token", "tok+en/=1\n");
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", tf);
    env_set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r x");
    env_set("AWS_REGION", "eu-west-1");
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x");

    script(1, OK(200, sts_ok));
    ok(resolve() == 0, "web identity");
    is_str(c.source, "web-identity", "source");
    is_str(c.access_key_id, "ASIAWEBIDENTITY", "key id from the XML");
    is_str(c.secret_access_key, SECRET, "secret from the XML");
    is_str(c.session_token, STS_TOKEN, "token, &amp; decoded");
    ok(c.expiration == T_2026, "expiration");
    ok(asked == 1, "one exchange (the container is not asked)");
    is_str(seen[0].method, "POST", "POST");
    is_str(seen[0].url, "https://sts.eu-west-1.amazonaws.com/",
           "the regional endpoint");
    ok(strstr(seen[0].headers, "Content-Type: application/x-www-form-"
              "urlencoded; charset=utf-8\n") != NULL, "the form's type");
    ok(strncmp(seen[0].body, "Action=AssumeRoleWithWebIdentity"
               "&Version=2011-06-15"
               "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr%20x"
               "&RoleSessionName=ddbm-", 120) == 0,
       "form fields, percent-encoded: %s", seen[0].body);
    ok(strstr(seen[0].body, "&WebIdentityToken=tok%2Ben%2F%3D1") != NULL
       && strstr(seen[0].body, "%0A") == NULL,
       "the token from the file, its line break trimmed");
    ok(seen[0].timeout_ms == 2000, "2000 ms");

    /* rotated */
    tf = write_file(0, "token", "second");
    env_set("AWS_ROLE_SESSION_NAME", "my-session@x");
    env_set("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9999/sts");
    chain.timeout_ms = 300;
    script(1, OK(200, sts_ok));
    ok(resolve() == 0, "again");
    ok(strstr(seen[0].body, "&WebIdentityToken=second") != NULL,
       "the file is read at each call");
    ok(strstr(seen[0].body, "&RoleSessionName=my-session%40x&") != NULL,
       "AWS_ROLE_SESSION_NAME");
    is_str(seen[0].url, "http://127.0.0.1:9999/sts", "AWS_ENDPOINT_URL_STS");
    ok(seen[0].timeout_ms == 300, "the chain's timeout");
    chain.timeout_ms = 0;
    env_set("AWS_ENDPOINT_URL_STS", "");

    env_set("AWS_REGION", "cn-north-1");
    script(1, OK(200, sts_ok));
    ok(resolve() == 0, "China");
    is_str(seen[0].url, "https://sts.cn-north-1.amazonaws.com.cn/",
           "the .cn endpoint");
    env_set("AWS_REGION", "");

    chain.region = "ap-south-1";
    env_set("AWS_DEFAULT_REGION", "us-west-2");
    script(1, OK(200, sts_ok));
    ok(resolve() == 0, "chain region");
    is_str(seen[0].url, "https://sts.ap-south-1.amazonaws.com/",
           "the chain's region first");
    chain.region = NULL;
    script(1, OK(200, sts_ok));
    ok(resolve() == 0, "default region");
    is_str(seen[0].url, "https://sts.us-west-2.amazonaws.com/",
           "then AWS_DEFAULT_REGION");

    script(1, OK(400, sts_error));
    ok(resolve() == -1 && strstr(err, "InvalidIdentityToken")
       && strstr(err, "400") && no_secret(),
       "STS ErrorResponse: the code and the status: %s", err);
    ok(strstr(err, "is bad") == NULL, "not STS's message");
    ok(c.access_key_id[0] == '\0', "out wiped");

    script(1, DOWN);
    ok(resolve() == -1 && strstr(err, "web identity: STS: Connection"),
       "STS unreachable: %s", err);

    script(1, OK(200, "<html>" SECRET "</html>"));
    ok(resolve() == -1 && strstr(err, "Credentials") && no_secret(),
       "not STS's XML: %s", err);

    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", "");
    script(0);
    ok(resolve() == -1 && strstr(err, "AWS_WEB_IDENTITY_TOKEN_FILE")
       && strstr(err, "web identity"),
       "the role without the file names the file: %s", err);

    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", tf);
    env_set("AWS_ROLE_ARN", "");
    ok(resolve() == -1 && strstr(err, "AWS_ROLE_ARN is not"),
       "the file without the role names the role: %s", err);

    env_set("AWS_ROLE_ARN", "arn:aws:iam::1:role/r");
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token");
    ok(resolve() == -1 && strstr(err, "cannot read the token file"),
       "a missing token file: %s", err);
    ok(asked == 0, "no STS call then");
}


static void
test_profile(void)
{
    char  aws[300];

    reset();
    snprintf(aws, sizeof(aws), "%s/.aws", dir);
    ok(mkdir(aws, 0700) == 0, "a HOME with .aws");

    write_file(1, ".aws/credentials",
               "[default]\naws_access_key_id = AKIDFILE\n"
               "aws_secret_access_key = " SECRET "\n\n"
               "[dev]\naws_access_key_id=AKIDDEV\n"
               "aws_secret_access_key=dev-secret\naws_session_token=devtok\n"
               "[assume]\nrole_arn = arn:aws:iam::1:role/r\n"
               "source_profile = default\n"
               "[bad]\naws_access_key_id = AKID-BAD\n"
               "aws_secret_access_key = " SECRET "\n"
               "[half]\naws_access_key_id = AKIDHALF\n");
    write_file(2, ".aws/config",
               "[default]\nregion = ap-south-1\n"
               "[profile conf]\naws_access_key_id = AKIDCONF\n"
               "aws_secret_access_key = conf-secret\n"
               "[profile sso]\nsso_start_url = https://x\n"
               "[profile proc]\ncredential_process = /bin/false\n"
               "[profile regiononly]\nregion = eu-north-1\n");

    env_set("HOME", dir);
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x");

    ok(resolve() == 0, "profile: [default] from $HOME/.aws/credentials");
    is_str(c.source, "profile", "source");
    is_str(c.access_key_id, "AKIDFILE", "key id");
    is_str(c.secret_access_key, SECRET, "secret");
    is_str(c.session_token, "", "no token");
    ok(asked == 0, "the container is not asked");

    env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
    env_set("AWS_SECRET_ACCESS_KEY", "env-secret");
    ok(resolve() == 0, "env and a default profile");
    is_str(c.access_key_id, "AKIDENV", "the environment wins");
    env_set("AWS_PROFILE", "dev");
    ok(resolve() == 0, "env and AWS_PROFILE");
    is_str(c.access_key_id, "AKIDENV", "the environment still wins");
    chain.profile = "dev";
    ok(resolve() == 0, "env and the caller's profile");
    is_str(c.access_key_id, "AKIDDEV",
           "a profile the caller chose skips the environment");
    is_str(c.session_token, "devtok", "the profile's token");
    chain.profile = NULL;
    env_set("AWS_ACCESS_KEY_ID", "");
    env_set("AWS_SECRET_ACCESS_KEY", "");

    ok(resolve() == 0, "AWS_PROFILE");
    is_str(c.access_key_id, "AKIDDEV", "picks [dev]");

    env_set("AWS_PROFILE", "conf");
    ok(resolve() == 0, "keys in the config file");
    is_str(c.access_key_id, "AKIDCONF", "from [profile conf]");

    env_set("AWS_PROFILE", "assume");
    ok(resolve() == -1 && strstr(err, "role_arn")
       && strstr(err, "not implemented"), "role_arn: %s", err);
    env_set("AWS_PROFILE", "sso");
    ok(resolve() == -1 && strstr(err, "SSO")
       && strstr(err, "not implemented"), "sso: %s", err);
    env_set("AWS_PROFILE", "proc");
    ok(resolve() == -1 && strstr(err, "credential_process"),
       "credential_process: %s", err);
    env_set("AWS_PROFILE", "bad");
    ok(resolve() == -1 && strstr(err, "letters and digits") && no_secret(),
       "a bad key id in a file: %s", err);
    env_set("AWS_PROFILE", "half");
    ok(resolve() == -1 && strstr(err, "only one of"), "half a key: %s", err);
    ok(asked == 0, "none of these falls through to the container");

    env_set("AWS_PROFILE", "nowhere");
    ok(resolve() == -1 && strstr(err, "\"nowhere\" not found"),
       "AWS_PROFILE naming no profile: %s", err);
    env_set("AWS_PROFILE", "");
    chain.profile = "nowhere";
    ok(resolve() == -1 && strstr(err, "\"nowhere\" not found"),
       "the caller's profile naming no profile: %s", err);
    chain.profile = NULL;

    /* settings only: on to the next source */
    env_set("AWS_PROFILE", "regiononly");
    script(1, OK(200, json_ok));
    ok(resolve() == 0 && strcmp(c.source, "container") == 0,
       "a profile with only a region goes on to the container");
    env_set("AWS_PROFILE", "");

    env_set("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
    script(1, OK(200, json_ok));
    ok(resolve() == 0 && strcmp(c.source, "container") == 0,
       "AWS_SHARED_CREDENTIALS_FILE missing: on to the container");
    env_set("AWS_SHARED_CREDENTIALS_FILE", paths[2]);
    env_set("AWS_CONFIG_FILE", paths[1]);
    env_set("AWS_PROFILE", "dev");
    ok(resolve() == -1 && strstr(err, "not found"),
       "the files' variables are used (swapped here): %s", err);
    env_set("AWS_PROFILE", "");
    env_set("AWS_SHARED_CREDENTIALS_FILE", "");
    env_set("AWS_CONFIG_FILE", "");
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "");

    env_set("HOME", "");
    ok(resolve() == -1 && strcmp(err, DM_CREDCHAIN_ERR_NONE) == 0,
       "no HOME, no files: nothing found");

    /* the profile's region for STS */
    env_set("HOME", dir);
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", write_file(0, "token", "t"));
    env_set("AWS_ROLE_ARN", "arn:aws:iam::1:role/r");
    script(1, OK(200, sts_ok));
    ok(resolve() == 0, "web identity with a profile region");
    is_str(seen[0].url, "https://sts.ap-south-1.amazonaws.com/",
           "STS in the profile's region");
}


static void
test_container(void)
{
    char         crlf[] = "tok\r\nX-Evil: 1";
    size_t       i;
    const char  *tf;
    static const struct {
        const char  *url;
        int          ok;
    } urls[] = {
        { "http://10.0.0.1/creds", 0 },
        { "http://169.254.169.254/creds", 0 },
        { "http://127.example.com/", 0 },
        { "http://localhost.evil.com/", 0 },
        { "http://user@127.0.0.1/", 0 },
        { "http://127.0.0.1.evil/", 0 },
        { "http://127.0.0.256/", 0 },
        { "http://[fd00:ec2::24]/", 0 },
        { "ftp://127.0.0.1/", 0 },
        { "http://127.0.0.1:/", 0 },
        { "https:///x", 0 },
        { "https://example.com/creds", 1 },
        { "HTTPS://10.0.0.1:8443/creds", 1 },
        { "http://127.0.0.1:8080/creds", 1 },
        { "http://127.1.2.3/", 1 },
        { "http://localhost/creds", 1 },
        { "http://LOCALHOST:80", 1 },
        { "http://[::1]:9000/x", 1 },
        { "http://169.254.170.2/v2", 1 },
        { "http://169.254.170.23/v1/credentials", 1 },
        { "http://[fd00:ec2::23]/v1/credentials", 1 },
    };

    reset();
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/id");
    env_set("AWS_EC2_METADATA_DISABLED", "");

    script(1, OK(200, json_ok));
    ok(resolve() == 0, "container (relative)");
    is_str(c.source, "container", "source");
    is_str(c.access_key_id, "ASIAJSON", "key id");
    is_str(c.secret_access_key, SECRET, "secret");
    is_str(c.session_token, "FwoGjson", "token");
    ok(c.expiration == T_2026, "expiration");
    ok(asked == 1, "one exchange: instance metadata not asked");
    is_str(seen[0].method, "GET", "GET");
    is_str(seen[0].url, "http://169.254.170.2/v2/credentials/id",
           "the ECS agent's address");
    ok(strstr(seen[0].headers, "Authorization") == NULL,
       "no Authorization without a token");

    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "envtok");
    script(1, OK(200, json_ok));
    ok(resolve() == 0 && strstr(seen[0].headers, "Authorization: envtok\n"),
       "AWS_CONTAINER_AUTHORIZATION_TOKEN");

    tf = write_file(3, "ctoken", "filetok\n");
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf);
    script(1, OK(200, json_ok));
    ok(resolve() == 0 && strstr(seen[0].headers, "Authorization: filetok\n")
       && strstr(seen[0].headers, "envtok") == NULL,
       "the token file wins over the token");
    write_file(3, "ctoken", "rotated");
    script(1, OK(200, json_ok));
    ok(resolve() == 0 && strstr(seen[0].headers, "Authorization: rotated\n"),
       "and is read at each call");

    write_file(3, "ctoken", "file\r\ntok");
    script(1, OK(200, json_ok));
    ok(resolve() == -1 && strstr(err, "control") && asked == 0,
       "a token file with CR/LF inside is refused: %s", err);

    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/nonexistent/t");
    ok(resolve() == -1 && strstr(err, "authorization token file"),
       "a missing token file: %s", err);

    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "");
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", crlf);
    ok(resolve() == -1 && strstr(err, "control") && asked == 0
       && strstr(err, "tok") == strstr(err, "token"),
       "a token with CR/LF is refused, not shown: %s", err);
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "");

    script(1, OK(500, "{\"message\": \"" SECRET "\"}"));
    ok(resolve() == -1 && strstr(err, "HTTP 500") && no_secret()
       && strstr(err, "container:"),
       "non-200: the status, not the body: %s", err);

    script(1, DOWN);
    ok(resolve() == -1 && strstr(err, "container: Connection refused"),
       "unreachable: an error, no fall-through to IMDS: %s", err);
    ok(asked == 1, "IMDS not asked");

    script(1, OK(200, "{\"AccessKeyId\": \"ASIA\", \"Secret"));
    ok(resolve() == -1 && strstr(err, "not a JSON object"),
       "truncated JSON: %s", err);

    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/x");
    ok(resolve() == -1 && strstr(err, "RELATIVE_URI"),
       "a relative URI must be a path: %s", err);
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "");

    for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", urls[i].url);
        script(1, OK(200, json_ok));

        if (urls[i].ok) {
            ok(resolve() == 0 && strcmp(seen[0].url, urls[i].url) == 0,
               "FULL_URI %s is allowed", urls[i].url);

        } else {
            ok(resolve() == -1 && asked == 0 && strstr(err, "FULL_URI"),
               "FULL_URI %s is refused", urls[i].url);
        }
    }

    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/rel");
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/");
    script(1, OK(200, json_ok));
    ok(resolve() == 0 && strcmp(seen[0].url, "http://169.254.170.2/rel")
       == 0, "RELATIVE_URI wins over FULL_URI");
}


static void
test_imds(void)
{
    char    big[DM_CREDS_TOKEN_MAX + 200];
    size_t  i;

    reset();
    env_set("AWS_EC2_METADATA_DISABLED", "");

    script(3, OK(200, "AQAEAtoken=="), OK(200, "my-role\nother\n"),
           OK(200, json_ok));
    ok(resolve() == 0, "IMDSv2");
    is_str(c.source, "imds", "source");
    is_str(c.access_key_id, "ASIAJSON", "key id");
    ok(c.expiration == T_2026, "expiration");
    ok(asked == 3, "three exchanges");
    is_str(seen[0].method, "PUT", "a PUT");
    is_str(seen[0].url, "http://169.254.169.254/latest/api/token",
           "for a token");
    is_str(seen[0].headers, "X-aws-ec2-metadata-token-ttl-seconds: 21600\n",
           "with its TTL");
    ok(seen[0].timeout_ms == 1000, "1000 ms");
    is_str(seen[1].method, "GET", "then a GET");
    is_str(seen[1].url, "http://169.254.169.254/latest/meta-data/iam/"
           "security-credentials/", "of the role");
    is_str(seen[1].headers, "X-aws-ec2-metadata-token: AQAEAtoken==\n",
           "with the token");
    is_str(seen[2].url, "http://169.254.169.254/latest/meta-data/iam/"
           "security-credentials/my-role", "then of the role's credentials");
    is_str(seen[2].headers, "X-aws-ec2-metadata-token: AQAEAtoken==\n",
           "with the token too");

    env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://[fd00:ec2::254]/");
    chain.timeout_ms = 700;
    script(3, OK(200, "tok"), OK(200, " my-role \r\n"), OK(200, json_ok));
    ok(resolve() == 0, "endpoint override, role name trimmed");
    is_str(seen[0].url, "http://[fd00:ec2::254]/latest/api/token",
           "the trailing / stripped");
    is_str(seen[2].url, "http://[fd00:ec2::254]/latest/meta-data/iam/"
           "security-credentials/my-role", "the role trimmed");
    ok(seen[0].timeout_ms == 700 && seen[2].timeout_ms == 700,
       "the chain's timeout");
    chain.timeout_ms = 0;
    env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "");

    script(3, OK(200, "tok"), OK(200, "my-role"),
           OK(200, "{\"Code\": \"AssumeRoleUnauthorizedAccess\", "
                   "\"AccessKeyId\": \"ASIA\", \"SecretAccessKey\": \""
                   SECRET "\"}"));
    ok(resolve() == -1 && strstr(err, "AssumeRoleUnauthorizedAccess")
       && strstr(err, "instance metadata:") && no_secret(),
       "Code other than Success: %s", err);

    script(1, OK(403, "forbidden"));
    ok(resolve() == -1 && strstr(err, "token PUT answered HTTP 403"),
       "PUT refused, no IMDSv1: an error: %s", err);
    ok(asked == 1, "and no GET");

    chain.imds_v1_fallback = 1;
    script(3, OK(403, ""), OK(200, "my-role"), OK(200, json_ok));
    ok(resolve() == 0 && asked == 3, "PUT refused, IMDSv1 allowed");
    ok(seen[1].headers[0] == '\0' && seen[2].headers[0] == '\0',
       "the GETs carry no token header");
    script(3, DOWN, OK(200, "my-role"), OK(200, json_ok));
    ok(resolve() == 0 && asked == 3, "PUT unreachable, IMDSv1 allowed");
    script(2, DOWN, DOWN);
    ok(resolve() == -1 && strncmp(err, DM_CREDCHAIN_ERR_NONE,
                                  strlen(DM_CREDCHAIN_ERR_NONE)) == 0,
       "nothing answers at all: nothing found: %s", err);
    chain.imds_v1_fallback = 0;

    script(1, DOWN);
    ok(resolve() == -1 && strncmp(err, DM_CREDCHAIN_ERR_NONE,
                                  strlen(DM_CREDCHAIN_ERR_NONE)) == 0
       && strstr(err, "Connection refused"),
       "PUT unreachable: nothing found, and why: %s", err);

    script(2, OK(200, "tok"), OK(404, ""));
    ok(resolve() == -1 && strstr(err, "404") && strstr(err, "no role"),
       "no role attached: %s", err);

    script(2, OK(200, "tok"), OK(200, "../../etc"));
    ok(resolve() == -1 && strstr(err, "role name") && asked == 2,
       "a role name with a path in it is refused: %s", err);

    script(2, OK(200, "tok\r\nX-Evil: 1"), OK(200, "r"));
    ok(resolve() == -1 && strstr(err, "session token") && asked == 1,
       "a metadata token with CR/LF is refused: %s", err);

    script(3, OK(200, "tok"), OK(200, "r"), OK(500, SECRET));
    ok(resolve() == -1 && strstr(err, "HTTP 500") && no_secret(),
       "the credentials GET failing: %s", err);

    /* a token one byte over the limit */
    i = (size_t) snprintf(big, sizeof(big), "{\"AccessKeyId\": \"ASIA\", "
                          "\"SecretAccessKey\": \"s\", \"Token\": \"");
    memset(big + i, 'x', DM_CREDS_TOKEN_MAX + 1);
    strcpy(big + i + DM_CREDS_TOKEN_MAX + 1, "\"}");
    script(3, OK(200, "tok"), OK(200, "r"), OK(200, big));
    ok(resolve() == -1 && strstr(err, "too long"),
       "an oversize token is refused: %s", err);

    env_set("AWS_EC2_METADATA_DISABLED", "TRUE");
    script(1, OK(200, "tok"));
    ok(resolve() == -1 && strcmp(err, DM_CREDCHAIN_ERR_NONE) == 0
       && asked == 0, "AWS_EC2_METADATA_DISABLED=TRUE: not asked");
    env_set("AWS_EC2_METADATA_DISABLED", "false");
    script(3, OK(200, "tok"), OK(200, "r"), OK(200, json_ok));
    ok(resolve() == 0, "AWS_EC2_METADATA_DISABLED=false: asked");
}


static void
test_parsers(void)
{
    time_t  t;
    size_t  i;
    static const struct {
        const char  *s;
        time_t       t;                 /* 0: refused */
    } times[] = {
        { "2026-11-30T12:00:00Z", T_2026 },
        { "2026-11-30T12:00:00.123Z", T_2026 },
        { "2026-11-30T12:00:00.123456789Z", T_2026 },
        { "2026-11-30T12:00:00+00:00", T_2026 },
        { "2026-11-30T14:30:00+02:30", T_2026 },
        { "2026-11-30T10:00:00-0200", T_2026 },
        { "2026-11-30t12:00:00z", T_2026 },
        { "2024-02-29T23:59:59Z", 1709251199 },
        { "2026-01-01T00:00:00Z", 1767225600 },
        { "2023-02-29T00:00:00Z", 0 },
        { "2026-11-31T00:00:00Z", 0 },
        { "2026-13-01T00:00:00Z", 0 },
        { "2026-11-30T24:00:00Z", 0 },
        { "2026-11-30T12:00:00", 0 },
        { "2026-11-30T12:00:00.Z", 0 },
        { "2026-11-30T12:00:00Zjunk", 0 },
        { "2026-11-30 12:00:00Z", 0 },
        { "1970-01-01T00:00:00Z", 0 },
        { "1969-12-31T23:59:59Z", 0 },
        { "2026-11-30T12:00:00+24:00", 0 },
        { "+026-11-30T12:00:00Z", 0 },
        { "", 0 },
    };

    for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        t = 0;

        if (times[i].t) {
            ok(dm_creds_parse_time(times[i].s, strlen(times[i].s), &t) == 0
               && t == times[i].t, "time %s", times[i].s);

        } else {
            ok(dm_creds_parse_time(times[i].s, strlen(times[i].s), &t)
               == -1, "time %s refused", times[i].s);
        }
    }

    ok(dm_creds_parse_time("2026-11-30T12:00:00Z", 19, &t) == -1,
       "the length is honoured");

    ok(parse_json("{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"S\"}")
       == 0 && c.session_token[0] == '\0' && c.expiration == 0,
       "JSON without Token and Expiration");
    ok(parse_json("[1]") == -1, "JSON array refused");
    ok(parse_json("{\"AccessKeyId\": 1, \"SecretAccessKey\": \"S\"}") == -1,
       "a number for a key id refused");
    ok(parse_json("{\"AccessKeyId\": \"A\", \"SecretAccessKey\": "
                  "\"S\\u0001\"}") == -1 && strstr(err, "control"),
       "a control character refused: %s", err);
    ok(parse_json("{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"S\", "
                  "\"Expiration\": \"soon\"}") == -1
       && strstr(err, "Expiration"), "a bad Expiration refused");
    ok(parse_json("{\"AccessKeyId\": \"A\", \"AccessKeyId\": \"B\", "
                  "\"SecretAccessKey\": \"S\"}") == -1,
       "duplicate keys refused");
    ok(parse_json("{\"Code\": \"Fail\\nure\", \"AccessKeyId\": \"A\", "
                  "\"SecretAccessKey\": \"S\"}") == -1
       && strstr(err, "other") && strchr(err, '\n') == NULL,
       "an unsafe Code is not shown: %s", err);
    ok(parse_json("{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"S\", "
                  "\"Token\": null, \"Expiration\": null}") == 0,
       "null Token and Expiration");

    ok(dm_creds_parse_sts_xml(sts_ok, strlen(sts_ok), &c, err, sizeof(err))
       == 0, "STS XML");
    ok(dm_creds_parse_sts_xml(sts_ok, 200, &c, err, sizeof(err)) == -1,
       "truncated STS XML refused");
    {
        static const char  ents[] =
            "<Credentials><AccessKeyId>AK</AccessKeyId>"
            "<SecretAccessKey>a&lt;b&gt;c&quot;d&apos;e&amp;f"
            "</SecretAccessKey><SessionToken>t</SessionToken>"
            "<Expiration>2026-11-30T12:00:00Z</Expiration></Credentials>";
        static const char  bad[] =
            "<Credentials><AccessKeyId>AK</AccessKeyId>"
            "<SecretAccessKey>a&nbsp;b</SecretAccessKey>"
            "<SessionToken>t</SessionToken>"
            "<Expiration>2026-11-30T12:00:00Z</Expiration></Credentials>";
        static const char  outside[] =
            "<AccessKeyId>AK</AccessKeyId><Credentials>"
            "<SecretAccessKey>s</SecretAccessKey>"
            "<SessionToken>t</SessionToken>"
            "<Expiration>2026-11-30T12:00:00Z</Expiration></Credentials>";

        ok(dm_creds_parse_sts_xml(ents, strlen(ents), &c, err, sizeof(err))
           == 0, "the five entities");
        is_str(c.secret_access_key, "a<b>c\"d'e&f", "decoded");
        ok(dm_creds_parse_sts_xml(bad, strlen(bad), &c, err, sizeof(err))
           == -1 && c.access_key_id[0] == '\0', "an unknown entity refused");
        ok(dm_creds_parse_sts_xml(outside, strlen(outside), &c, err,
                                  sizeof(err)) == -1,
           "only what is inside <Credentials>");
    }
    ok(dm_creds_parse_sts_xml(sts_error, strlen(sts_error), &c, err,
                              sizeof(err)) == -1
       && strstr(err, "InvalidIdentityToken") && no_secret(),
       "ErrorResponse: %s", err);
}


/*
 * AWS_CA_BUNDLE reaches every exchange (container, STS, each IMDS step)
 * through the chain's getenv (the module's snapshot of the master's
 * environment), never getenv(3): the process says something else here.
 */
static void
test_ca_bundle(void)
{
    int          i;
    const char  *tf;

    setenv("AWS_CA_BUNDLE", "/process/env/ca.pem", 1);

    reset();
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "https://creds.example.com/v1");
    env_set("AWS_CA_BUNDLE", "/etc/pki/corp-ca.pem");
    script(1, OK(200, json_ok));
    ok(resolve() == 0 && asked == 1, "container over https");
    is_str(seen[0].ca_bundle, "/etc/pki/corp-ca.pem",
           "container: the chain's AWS_CA_BUNDLE, not the process's");

    env_set("AWS_CA_BUNDLE", NULL);
    script(1, OK(200, json_ok));
    ok(resolve() == 0, "container, no AWS_CA_BUNDLE");
    is_str(seen[0].ca_bundle, "(null)", "unset: NULL (the system's)");

    env_set("AWS_CA_BUNDLE", "");
    script(1, OK(200, json_ok));
    ok(resolve() == 0, "container, AWS_CA_BUNDLE empty");
    is_str(seen[0].ca_bundle, "(null)", "\"\" is unset, as the SDKs");

    reset();
    tf = write_file(0, "token", "eyJhbGciOiJSUzI1NiJ9.e30.sig\n");
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", tf);
    env_set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r");
    env_set("AWS_REGION", "eu-west-1");
    env_set("AWS_CA_BUNDLE", "/etc/pki/sts-ca.pem");
    script(1, OK(200, sts_ok));
    ok(resolve() == 0 && asked == 1, "web identity");
    is_str(seen[0].ca_bundle, "/etc/pki/sts-ca.pem", "STS: AWS_CA_BUNDLE");

    reset();
    env_set("AWS_EC2_METADATA_DISABLED", "");
    env_set("AWS_CA_BUNDLE", "/etc/pki/imds-ca.pem");
    script(3, OK(200, "AQAEAtoken=="), OK(200, "my-role\n"),
           OK(200, json_ok));
    ok(resolve() == 0 && asked == 3, "IMDS in three exchanges");

    for (i = 0; i < 3; i++) {
        is_str(seen[i].ca_bundle, "/etc/pki/imds-ca.pem",
               "IMDS exchange %d: AWS_CA_BUNDLE", i + 1);
    }

    unsetenv("AWS_CA_BUNDLE");
}


/* ---- default shared files that cannot be read ---------------------------- */

/*
 * The checks below need a file this process cannot read.  Root reads
 * anything, so as root they run in a child that drops to "nobody" (the
 * deployed case: a worker that cannot look into the master's HOME); as
 * anybody else, in a child too, with the directory's mode at 0.  Results
 * come back over a pipe, one "0|1 name" line each.
 */
static int  report_fd = -1;


static void
report(int pass, const char *fmt, ...)
{
    char     line[512];
    int      n;
    va_list  ap;

    n = snprintf(line, sizeof(line), "%d ", pass ? 1 : 0);

    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);

    if (n > (int) sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }

    line[n++] = '\n';

    if (write(report_fd, line, n) != n) {
        _exit(3);
    }
}


static void
locked_checks(const char *home, const char *locked_creds,
    const char *locked_conf)
{
    char  note[DM_CREDCHAIN_ERR_MAX];

    reset();
    chain.note = note;
    chain.note_len = sizeof(note);

    /* the worker's view: HOME is the master's, and it cannot look in */
    env_set("HOME", home);
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x");
    script(1, OK(200, json_ok));
    report(resolve() == 0 && strcmp(c.source, "container") == 0,
           "default credentials file unreadable (EACCES): taken as "
           "absent, on to the container (%s)", err);
    report(strstr(note, "cannot be read (permission denied)") != NULL
           && strstr(note, "/.aws/") != NULL,
           "and noted for the caller to log: %s", note);

    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "");
    script(0);
    report(resolve() == -1 && strcmp(err, DM_CREDCHAIN_ERR_NONE) == 0,
           "nothing else configured: nothing found, not a read error (%s)",
           err);

    /* a named file is somebody's choice: not skipped */
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x");
    env_set("AWS_SHARED_CREDENTIALS_FILE", locked_creds);
    script(1, OK(200, json_ok));
    report(resolve() == -1 && strstr(err, "cannot read")
           && strstr(err, "permission denied")
           && strstr(err, "AWS_SHARED_CREDENTIALS_FILE") && asked == 0,
           "AWS_SHARED_CREDENTIALS_FILE unreadable: an error, the chain "
           "stops (%s)", err);
    env_set("AWS_SHARED_CREDENTIALS_FILE", "");

    env_set("AWS_CONFIG_FILE", locked_conf);
    script(1, OK(200, json_ok));
    report(resolve() == -1 && strstr(err, "cannot read")
           && strstr(err, "permission denied")
           && strstr(err, "AWS_CONFIG_FILE") && asked == 0,
           "AWS_CONFIG_FILE unreadable: an error, the chain stops (%s)",
           err);
    env_set("AWS_CONFIG_FILE", "");
}


static void
test_unreadable_default_files(void)
{
    int             fds[2], status, n;
    char            home[300], aws[320], creds[340], conf[340], buf[8192];
    char           *line, *next;
    size_t          len;
    pid_t           pid;
    FILE           *f;
    struct passwd  *pw;

    snprintf(home, sizeof(home), "%s/locked-home", dir);
    snprintf(aws, sizeof(aws), "%s/.aws", home);
    snprintf(creds, sizeof(creds), "%s/credentials", aws);
    snprintf(conf, sizeof(conf), "%s/config", aws);

    ok(mkdir(home, 0700) == 0 && mkdir(aws, 0700) == 0,
       "a HOME with .aws that the checks cannot read");

    f = fopen(creds, "w");
    if (f != NULL) {
        fputs("[default]\naws_access_key_id = AKIDLOCKED\n"
              "aws_secret_access_key = " SECRET "\n", f);
        fclose(f);
    }

    f = fopen(conf, "w");
    if (f != NULL) {
        fputs("[default]\nregion = eu-west-1\n", f);
        fclose(f);
    }

    pw = getpwnam("nobody");

    if (pipe(fds) != 0) {
        ok(0, "pipe");
        return;
    }

    pid = fork();

    if (pid == 0) {
        close(fds[0]);
        report_fd = fds[1];

        if (geteuid() == 0) {
            /* the tests' directory is root's, mode 0700, as /root */
            if (pw == NULL || setgroups(0, NULL) != 0
                || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            {
                report(0, "drop to nobody");
                _exit(2);
            }

        } else if (chmod(home, 0) != 0) {
            report(0, "chmod 0 %s", home);
            _exit(2);
        }

        /* the premise: this child really cannot read them */
        report(access(creds, R_OK) == -1 && errno == EACCES,
               "the child cannot read %s (EACCES)", creds);

        locked_checks(home, creds, conf);

        _exit(0);
    }

    close(fds[1]);

    len = 0;

    while (len < sizeof(buf) - 1) {
        n = read(fds[0], buf + len, sizeof(buf) - 1 - len);
        if (n <= 0) {
            break;
        }
        len += n;
    }

    buf[len] = '\0';
    close(fds[0]);

    status = -1;
    (void) waitpid(pid, &status, 0);

    for (line = buf; *line; line = next) {
        next = strchr(line, '\n');
        if (next == NULL) {
            next = line + strlen(line);
        } else {
            *next++ = '\0';
        }

        ok(line[0] == '1', "%s", line + 2);
    }

    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the unprivileged child finished");

    (void) chmod(home, 0700);
    unlink(creds);
    unlink(conf);
    rmdir(aws);
    rmdir(home);

    /* ENOTDIR: HOME names a file; quiet, as a missing file */
    {
        char  note[DM_CREDCHAIN_ERR_MAX];

        reset();
        chain.note = note;
        chain.note_len = sizeof(note);
        env_set("HOME", write_file(4, "not-a-dir", "x"));
        env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x");
        script(1, OK(200, json_ok));
        ok(resolve() == 0 && strcmp(c.source, "container") == 0,
           "HOME is a file (ENOTDIR): absent, on to the container (%s)",
           err);
        ok(note[0] == '\0', "a missing file is not noted");

        env_set("HOME", "/nonexistent");
        script(1, OK(200, json_ok));
        ok(resolve() == 0 && note[0] == '\0',
           "no file (ENOENT): absent, not noted");
    }
}


/*
 * The chain takes session tokens up to DM_CREDS_TOKEN_MAX bytes: the
 * longest must sign (the canonical request once had a fixed 8 KiB buffer).
 */
static void
test_long_token_signs(void)
{
    int                    rc;
    char                  *json, *tok, authz[DM_SIGV4_AUTHZ_MAX];
    size_t                 i;
    dm_aws_credentials_t   ac;

    tok = malloc(DM_CREDS_TOKEN_MAX + 1);
    json = malloc(DM_CREDS_TOKEN_MAX + 512);

    for (i = 0; i < DM_CREDS_TOKEN_MAX; i++) {
        tok[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789+/"[(i * 13) % 64];
    }
    tok[DM_CREDS_TOKEN_MAX] = '\0';

    snprintf(json, DM_CREDS_TOKEN_MAX + 512,
             "{\"AccessKeyId\": \"ASIALONG\", \"SecretAccessKey\": \""
             SECRET "\", \"Token\": \"%s\", \"Expiration\": "
             "\"2026-11-30T12:00:00Z\"}", tok);

    reset();
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x");
    script(1, OK(200, json));
    ok(resolve() == 0 && strlen(c.session_token) == DM_CREDS_TOKEN_MAX,
       "the chain accepts a %d-byte session token", DM_CREDS_TOKEN_MAX);

    ac.access_key_id = c.access_key_id;
    ac.secret_access_key = c.secret_access_key;
    ac.session_token = c.session_token;

    rc = dm_sigv4_sign_dynamodb(&ac, NULL, "eu-west-1",
                                "dynamodb.eu-west-1.amazonaws.com",
                                "20261130T060000Z", "Query",
                                (const unsigned char *) "{}", 2, authz,
                                sizeof(authz));
    ok(rc == 0 && strstr(authz, "Signature=") != NULL,
       "and a DynamoDB call signs with it");

    free(tok);
    free(json);
}


int
main(void)
{
    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return done_testing();
    }

    test_nothing();
    test_environment();
    test_web_identity();
    test_profile();
    test_unreadable_default_files();
    test_container();
    test_imds();
    test_ca_bundle();
    test_long_token_signs();
    test_parsers();

    dm_creds_wipe(&c);
    ok(c.secret_access_key[0] == '\0' && c.session_token[0] == '\0',
       "dm_creds_wipe");

    unlink(paths[0]);
    unlink(paths[1]);
    unlink(paths[2]);
    unlink(paths[3]);
    unlink(paths[4]);
    {
        char  aws[300];

        snprintf(aws, sizeof(aws), "%s/.aws", dir);
        rmdir(aws);
    }
    rmdir(dir);

    return done_testing();
}
