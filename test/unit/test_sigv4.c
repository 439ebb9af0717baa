/*
 * SigV4 signer: AWS's published vectors (test data in the repository,
 * test/vectors/sigv4/, its README gives origin and licence), the DynamoDB
 * fast path against the general signer, the signing-key cache, and error
 * handling.
 *
 * The vectors are AWS's published SigV4 test suite, the data files of two
 * public repositories: awslabs/aws-c-auth tests/aws-signing-test-suite/v4/
 * (here <suite>/aws-c-auth/v4/<case>/) and boto/botocore
 * tests/unit/auth/aws4_testsuite/ (here <suite>/botocore/aws4_testsuite/).
 * <suite> is $DM_SIGV4_SUITE, else test/vectors/sigv4 relative to the
 * working directory (the repository root, where make and prove run the
 * test), else relative to the repository this binary was built in
 * (<root>/<build>/unit/test_sigv4).  A missing suite is a failure, not a
 * skip.
 */

#define _GNU_SOURCE

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dm_credchain.h"
#include "dm_sigv4.h"
#include "tap.h"


#define SUITE_DEFAULT   "test/vectors/sigv4"
#define MAX_HEADERS     32
#define BUF_SIZE        8192

/* the suite's common parameters (its README); botocore's cases have none */
#define EX_AKID         "AKIDEXAMPLE"
#define EX_SECRET       "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define EX_REGION       "us-east-1"
#define EX_SERVICE      "service"
#define EX_TOKEN        \
    "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"


typedef struct {
    char                *text;
    size_t               text_len;
    char                 method[16];
    const char          *path;
    size_t               path_len;
    const char          *query;
    size_t               query_len;
    dm_sigv4_header_t    headers[MAX_HEADERS];
    size_t               nheaders;
    const char          *body;
    size_t               body_len;
} raw_request_t;


static const char  *suite;
static int          crt_cases;
static int          boto_cases;


/* snprintf that reports truncation instead of silently cutting a path */
static int
pathf(char *buf, size_t size, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);

    if (n < 0 || (size_t) n >= size) {
        buf[0] = '\0';
        return -1;
    }

    return 0;
}


static char *
read_file(const char *path, size_t *len)
{
    FILE    *f;
    char    *p;
    long     n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    p = malloc((size_t) n + 1);
    if (p == NULL || fread(p, 1, (size_t) n, f) != (size_t) n) {
        free(p);
        fclose(f);
        return NULL;
    }

    fclose(f);
    p[n] = '\0';

    if (len) {
        *len = (size_t) n;
    }

    return p;
}


static char *
read_case_file(const char *dir, const char *name)
{
    char  path[1024];

    (void) pathf(path, sizeof(path), "%s/%s", dir, name);

    return read_file(path, NULL);
}


static int
is_dir(const char *path)
{
    struct stat  st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}


/*
 * request.txt / .req: request line, "Name:value" headers (a line starting
 * with whitespace continues the previous value; the raw bytes including
 * the line break are handed to the signer, which must fold them), then a
 * blank line and the body.
 */
static int
parse_request(raw_request_t *r, char *text, size_t text_len)
{
    char    *p, *end, *eol, *sp1, *sp2, *colon, *q;

    memset(r, 0, sizeof(*r));
    r->text = text;
    r->text_len = text_len;

    p = text;
    end = text + text_len;

    eol = memchr(p, '\n', (size_t) (end - p));
    if (eol == NULL) {
        eol = end;
    }

    sp1 = memchr(p, ' ', (size_t) (eol - p));
    for (sp2 = eol - 1; sp2 > p && *sp2 != ' '; sp2--) { /* void */ }

    if (sp1 == NULL || sp2 <= sp1 || (size_t) (sp1 - p) >= sizeof(r->method))
    {
        return -1;
    }

    memcpy(r->method, p, (size_t) (sp1 - p));
    r->method[sp1 - p] = '\0';

    r->path = sp1 + 1;
    q = memchr(r->path, '?', (size_t) (sp2 - r->path));

    if (q != NULL) {
        r->path_len = (size_t) (q - r->path);
        r->query = q + 1;
        r->query_len = (size_t) (sp2 - r->query);

    } else {
        r->path_len = (size_t) (sp2 - r->path);
    }

    p = eol < end ? eol + 1 : end;

    while (p < end) {
        eol = memchr(p, '\n', (size_t) (end - p));
        if (eol == NULL) {
            eol = end;
        }

        if (eol == p) {
            r->body = p + 1;
            r->body_len = (size_t) (end - r->body);
            break;
        }

        if (*p == ' ' || *p == '\t') {
            if (r->nheaders == 0) {
                return -1;
            }
            r->headers[r->nheaders - 1].value_len =
                (size_t) (eol - r->headers[r->nheaders - 1].value);

        } else {
            colon = memchr(p, ':', (size_t) (eol - p));
            if (colon == NULL || r->nheaders == MAX_HEADERS) {
                return -1;
            }

            r->headers[r->nheaders].name = p;
            r->headers[r->nheaders].name_len = (size_t) (colon - p);
            r->headers[r->nheaders].value = colon + 1;
            r->headers[r->nheaders].value_len = (size_t) (eol - colon - 1);
            r->nheaders++;
        }

        p = eol < end ? eol + 1 : end;
    }

    return 0;
}


static const dm_sigv4_header_t *
find_header(const raw_request_t *r, const char *name)
{
    size_t  i;

    for (i = 0; i < r->nheaders; i++) {
        if (r->headers[i].name_len == strlen(name)
            && strncasecmp(r->headers[i].name, name, strlen(name)) == 0)
        {
            return &r->headers[i];
        }
    }

    return NULL;
}


/* the value of the first "Name:" line of a signed-request file */
static char *
line_value(const char *text, const char *name, char *out, size_t size)
{
    size_t       n;
    const char  *p, *eol;

    n = strlen(name);

    for (p = text; p != NULL && *p; p = eol ? eol + 1 : NULL) {
        eol = strchr(p, '\n');

        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            n = eol ? (size_t) (eol - p) : strlen(p);
            if (n >= size) {
                return NULL;
            }
            memcpy(out, p, n);
            out[n] = '\0';
            return out;
        }
    }

    return NULL;
}


static void
to_hex(const unsigned char *md, char *hex)
{
    int  i;

    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", md[i]);
    }
}


static void
sha256_hex(const void *p, size_t n, char *hex)
{
    unsigned int    len;
    unsigned char   md[32];

    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    to_hex(md, hex);
}


static int
sign_raw(const raw_request_t *r, const dm_sigv4_header_t *headers,
    size_t nheaders, const dm_aws_credentials_t *creds,
    dm_sigv4_key_cache_t *cache, const char *region, const char *service,
    const char *amz_date, int normalize, int sign_token,
    dm_sigv4_result_t *res, char *creq, char *sts)
{
    dm_sigv4_request_t  req;

    memset(&req, 0, sizeof(req));
    req.method = r->method;
    req.path = r->path;
    req.path_len = r->path_len;
    req.query = r->query;
    req.query_len = r->query_len;
    req.headers = headers;
    req.nheaders = nheaders;
    req.payload = (const unsigned char *) r->body;
    req.payload_len = r->body_len;
    req.region = region;
    req.service = service;
    req.amz_date = amz_date;
    req.normalize_path = normalize;
    req.sign_session_token = sign_token;

    memset(res, 0, sizeof(*res));
    res->canonical_request = creq;
    res->canonical_request_size = BUF_SIZE;
    res->string_to_sign = sts;
    res->string_to_sign_size = BUF_SIZE;

    return dm_sigv4_sign(creds, cache, &req, res);
}


static const char *
json_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}


static void
run_crt_case(const char *dir, const char *name, dm_sigv4_key_cache_t *cache)
{
    int                    normalize, sign_body, omit_token, rc;
    char                  *text, *want_creq, *want_sts, *want_sig, *signed_req;
    char                   path[1024], amz_date[17], body_hash[65];
    char                   want_authz[DM_SIGV4_AUTHZ_MAX], want_date[32];
    char                  *creq, *sts;
    size_t                 text_len, nheaders;
    struct tm              tm;
    json_t                *ctx, *cred;
    json_error_t           err;
    raw_request_t          r;
    dm_sigv4_header_t      headers[MAX_HEADERS + 1];
    dm_sigv4_result_t      res;
    dm_aws_credentials_t   creds;

    (void) pathf(path, sizeof(path), "%s/context.json", dir);
    ctx = json_load_file(path, 0, &err);

    (void) pathf(path, sizeof(path), "%s/request.txt", dir);
    text = read_file(path, &text_len);

    want_creq = read_case_file(dir, "header-canonical-request.txt");
    want_sts = read_case_file(dir, "header-string-to-sign.txt");
    want_sig = read_case_file(dir, "header-signature.txt");
    signed_req = read_case_file(dir, "header-signed-request.txt");

    creq = malloc(BUF_SIZE);
    sts = malloc(BUF_SIZE);

    if (ctx == NULL || text == NULL || want_creq == NULL || want_sts == NULL
        || want_sig == NULL || signed_req == NULL
        || parse_request(&r, text, text_len) != 0)
    {
        ok(0, "aws-c-auth/%s: case files readable and parsable", name);
        goto done;
    }

    cred = json_object_get(ctx, "credentials");
    memset(&creds, 0, sizeof(creds));
    creds.access_key_id = json_str(cred, "access_key_id");
    creds.secret_access_key = json_str(cred, "secret_access_key");
    creds.session_token = json_str(cred, "token");

    normalize = json_is_true(json_object_get(ctx, "normalize"));
    sign_body = json_is_true(json_object_get(ctx, "sign_body"));
    omit_token = json_is_true(json_object_get(ctx, "omit_session_token"));

    memset(&tm, 0, sizeof(tm));
    if (json_str(ctx, "timestamp") == NULL
        || strptime(json_str(ctx, "timestamp"), "%Y-%m-%dT%H:%M:%SZ", &tm)
           == NULL)
    {
        ok(0, "aws-c-auth/%s: timestamp parsable", name);
        goto done;
    }

    dm_sigv4_amz_date(timegm(&tm), amz_date);

    nheaders = r.nheaders;
    memcpy(headers, r.headers, nheaders * sizeof(dm_sigv4_header_t));

    /* sign_body: the signer's caller adds x-amz-content-sha256 */
    if (sign_body) {
        sha256_hex(r.body ? r.body : "", r.body_len, body_hash);
        headers[nheaders].name = "x-amz-content-sha256";
        headers[nheaders].name_len = strlen("x-amz-content-sha256");
        headers[nheaders].value = body_hash;
        headers[nheaders].value_len = 64;
        nheaders++;
    }

    rc = sign_raw(&r, headers, nheaders, &creds, cache,
                  json_str(ctx, "region"), json_str(ctx, "service"),
                  amz_date, normalize, !omit_token, &res, creq, sts);

    crt_cases++;

    ok(rc == 0, "aws-c-auth/%s: signed", name);

    if (rc != 0) {
        goto done;
    }

    if (line_value(signed_req, "Authorization", want_authz,
                   sizeof(want_authz)) == NULL)
    {
        want_authz[0] = '\0';
    }

    if (line_value(signed_req, "X-Amz-Date", want_date, sizeof(want_date))
        == NULL)
    {
        want_date[0] = '\0';
    }

    is_str(amz_date, want_date, "aws-c-auth/%s: X-Amz-Date", name);
    is_str(creq, want_creq, "aws-c-auth/%s: canonical request", name);
    is_str(sts, want_sts, "aws-c-auth/%s: string to sign", name);
    is_str(res.signature, want_sig, "aws-c-auth/%s: signature", name);
    is_str(res.authorization, want_authz, "aws-c-auth/%s: Authorization",
           name);

done:

    json_decref(ctx);
    free(text);
    free(want_creq);
    free(want_sts);
    free(want_sig);
    free(signed_req);
    free(creq);
    free(sts);
}


static void
run_crt_suite(dm_sigv4_key_cache_t *cache)
{
    int              i, n;
    char             dir[1024], root[1024];
    struct dirent  **list;

    (void) pathf(root, sizeof(root), "%s/aws-c-auth/v4", suite);

    n = scandir(root, &list, NULL, alphasort);
    if (n < 0) {
        ok(0, "aws-c-auth vectors readable at %s", root);
        return;
    }

    for (i = 0; i < n; i++) {
        (void) pathf(dir, sizeof(dir), "%s/%s", root, list[i]->d_name);

        if (list[i]->d_name[0] != '.' && is_dir(dir)) {
            run_crt_case(dir, list[i]->d_name, cache);
        }

        free(list[i]);
    }

    free(list);

    diag("skipped: aws-c-auth/v4/* (all cases): query-*.txt: query-string "
         "(presigned URL) signing, not header signing; the header-*.txt "
         "files of every case are checked");
}


static void
run_boto_case(const char *dir, const char *rel, const char *base,
    dm_sigv4_key_cache_t *cache)
{
    int                        rc, sign_token;
    char                      *text, *want_creq, *want_sts, *want_authz;
    char                      *creq, *sts;
    char                       file[512], amz_date[17], token[BUF_SIZE];
    size_t                     text_len;
    raw_request_t              r;
    dm_sigv4_result_t          res;
    dm_aws_credentials_t       creds;
    const dm_sigv4_header_t   *h;

    (void) pathf(file, sizeof(file), "%s.req", base);
    text = read_case_file(dir, file);
    text_len = text ? strlen(text) : 0;

    (void) pathf(file, sizeof(file), "%s.creq", base);
    want_creq = read_case_file(dir, file);
    (void) pathf(file, sizeof(file), "%s.sts", base);
    want_sts = read_case_file(dir, file);
    (void) pathf(file, sizeof(file), "%s.authz", base);
    want_authz = read_case_file(dir, file);

    creq = malloc(BUF_SIZE);
    sts = malloc(BUF_SIZE);

    if (text == NULL || want_creq == NULL || want_sts == NULL
        || want_authz == NULL || parse_request(&r, text, text_len) != 0)
    {
        ok(0, "botocore/%s: case files readable and parsable", rel);
        goto done;
    }

    h = find_header(&r, "X-Amz-Date");
    if (h == NULL || h->value_len != DM_SIGV4_AMZ_DATE_LEN) {
        ok(0, "botocore/%s: request has X-Amz-Date", rel);
        goto done;
    }

    memcpy(amz_date, h->value, DM_SIGV4_AMZ_DATE_LEN);
    amz_date[DM_SIGV4_AMZ_DATE_LEN] = '\0';

    creds.access_key_id = EX_AKID;
    creds.secret_access_key = EX_SECRET;
    creds.session_token = NULL;
    sign_token = 0;

    /*
     * get-vanilla-with-session-token: the .req has no token header; the
     * signer adds it from the credentials (the suite's README has the
     * token).  post-sts-header-before: the caller already set the header;
     * giving the same token in the credentials must not add a second one.
     */
    h = find_header(&r, "X-Amz-Security-Token");

    if (strcmp(base, "get-vanilla-with-session-token") == 0) {
        creds.session_token = EX_TOKEN;
        sign_token = 1;

    } else if (h != NULL && h->value_len < sizeof(token)) {
        memcpy(token, h->value, h->value_len);
        token[h->value_len] = '\0';
        creds.session_token = token;
        sign_token = 1;
    }

    rc = sign_raw(&r, r.headers, r.nheaders, &creds, cache, EX_REGION,
                  EX_SERVICE, amz_date, 1, sign_token, &res, creq, sts);

    boto_cases++;

    ok(rc == 0, "botocore/%s: signed", rel);

    if (rc != 0) {
        goto done;
    }

    is_str(creq, want_creq, "botocore/%s: canonical request", rel);
    is_str(sts, want_sts, "botocore/%s: string to sign", rel);
    is_str(res.authorization, want_authz, "botocore/%s: Authorization", rel);

done:

    free(text);
    free(want_creq);
    free(want_sts);
    free(want_authz);
    free(creq);
    free(sts);
}


/* a case is a folder holding <folder>.req; others are groups to descend */
static void
walk_boto(const char *root, const char *rel, dm_sigv4_key_cache_t *cache)
{
    int              i, n;
    char             dir[1024], sub[512], req[1280];
    struct dirent  **list;

    if (rel[0]) {
        (void) pathf(dir, sizeof(dir), "%s/%s", root, rel);
    } else {
        (void) pathf(dir, sizeof(dir), "%s", root);
    }

    n = scandir(dir, &list, NULL, alphasort);
    if (n < 0) {
        ok(0, "botocore vectors readable at %s", dir);
        return;
    }

    for (i = 0; i < n; i++) {
        const char  *d = list[i]->d_name;

        if (d[0] == '.') {
            free(list[i]);
            continue;
        }

        if (rel[0]) {
            (void) pathf(sub, sizeof(sub), "%s/%s", rel, d);
        } else {
            (void) pathf(sub, sizeof(sub), "%s", d);
        }

        (void) pathf(req, sizeof(req), "%s/%s", root, sub);

        if (is_dir(req)) {
            char  casedir[1024];

            (void) pathf(casedir, sizeof(casedir), "%s", req);
            (void) pathf(req, sizeof(req), "%s/%s.req", casedir, d);

            if (access(req, R_OK) == 0) {
                run_boto_case(casedir, sub, d, cache);

            } else {
                walk_boto(root, sub, cache);
            }
        }

        free(list[i]);
    }

    free(list);
}


static void
test_vectors(void)
{
    char                   root[1024];
    dm_sigv4_key_cache_t   cache;

    if (!is_dir(suite)) {
        ok(0, "SigV4 test suite present at '%s'", suite);
        diag("the AWS SigV4 vectors are required: they are in the "
             "repository at " SUITE_DEFAULT " (run the test from the "
             "repository root) or set DM_SIGV4_SUITE");
    }

    /* one cache for all: every case shares date, region and service */
    memset(&cache, 0, sizeof(cache));

    run_crt_suite(&cache);

    (void) pathf(root, sizeof(root), "%s/botocore/aws4_testsuite", suite);
    walk_boto(root, "", &cache);

    diag("checked %d aws-c-auth/v4 cases, %d botocore/aws4_testsuite cases",
         crt_cases, boto_cases);

    ok(crt_cases >= 38, "all 38 aws-c-auth/v4 cases checked (%d)",
       crt_cases);
    ok(boto_cases >= 34, "all 34 botocore/aws4_testsuite cases checked (%d)",
       boto_cases);
}


static void
test_amz_date(void)
{
    char       d[17];
    struct tm  tm;

    dm_sigv4_amz_date(1440938160, d);
    is_str(d, "20150830T123600Z", "amz_date: suite time");

    dm_sigv4_amz_date(0, d);
    is_str(d, "19700101T000000Z", "amz_date: epoch");

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = 2024 - 1900;
    tm.tm_mon = 1;
    tm.tm_mday = 29;
    tm.tm_hour = 23;
    tm.tm_min = 59;
    tm.tm_sec = 59;
    dm_sigv4_amz_date(timegm(&tm), d);
    is_str(d, "20240229T235959Z", "amz_date: leap day, end of day");
}


/* dm_sigv4_sign for the request dm_sigv4_sign_dynamodb describes */
static int
sign_ddb_general(const dm_aws_credentials_t *creds,
    dm_sigv4_key_cache_t *cache, const char *region, const char *host,
    const char *amz_date, const char *op, const char *body,
    int explicit_headers, char *authz)
{
    int                  rc;
    char                 target[128];
    size_t               i, n;
    dm_sigv4_header_t    h[5];
    dm_sigv4_request_t   req;
    dm_sigv4_result_t    res;

    snprintf(target, sizeof(target), "%s%s", DM_DDB_TARGET_PREFIX, op);

    /* deliberately unsorted, mixed case */
    n = 0;
    h[n].name = "X-Amz-Target";
    h[n].value = target;
    n++;
    h[n].name = "Host";
    h[n].value = host;
    n++;
    h[n].name = "Content-Type";
    h[n].value = DM_DDB_CONTENT_TYPE;
    n++;

    if (explicit_headers) {
        h[n].name = "X-Amz-Date";
        h[n].value = amz_date;
        n++;

        if (creds->session_token && creds->session_token[0]) {
            h[n].name = "X-Amz-Security-Token";
            h[n].value = creds->session_token;
            n++;
        }
    }

    for (i = 0; i < n; i++) {
        h[i].name_len = strlen(h[i].name);
        h[i].value_len = strlen(h[i].value);
    }

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = "/";
    req.path_len = 1;
    req.headers = h;
    req.nheaders = n;
    req.payload = (const unsigned char *) body;
    req.payload_len = strlen(body);
    req.region = region;
    req.service = "dynamodb";
    req.amz_date = amz_date;
    req.normalize_path = 1;
    req.sign_session_token = 1;

    memset(&res, 0, sizeof(res));
    rc = dm_sigv4_sign(creds, cache, &req, &res);
    strcpy(authz, res.authorization);

    return rc;
}


static void
test_dynamodb_equivalence(void)
{
    int                    rc1, rc2, same, all;
    char                   a[DM_SIGV4_AUTHZ_MAX], b[DM_SIGV4_AUTHZ_MAX];
    char                   c[DM_SIGV4_AUTHZ_MAX];
    size_t                 hi, oi, bi, ti;
    dm_aws_credentials_t   creds;
    dm_sigv4_key_cache_t   cache;

    static const char  *hosts[] = {
        "127.0.0.1:8000", "dynamodb.eu-west-1.amazonaws.com"
    };
    static const char  *regions[] = { "us-east-1", "eu-west-1" };
    static const char  *ops[] = { "Query", "GetItem", "TransactWriteItems" };
    static const char  *bodies[] = {
        "",
        "{}",
        "{\"TableName\":\"messages\",\"Key\":{\"pk\":{\"S\":\"u#1\"}}}",
        "{\"TableName\":\"messages\",\"Item\":{\"body\":{\"S\":"
            "\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\"}}}"
    };
    static const char  *tokens[] = { NULL, "", EX_TOKEN,
        "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTw"
        "dQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKP"
        "i/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq"
        "5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iP"
        "PkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJ"
        "abIQwj2ICCR/oLxBA=="
    };

    memset(&cache, 0, sizeof(cache));
    creds.access_key_id = EX_AKID;
    creds.secret_access_key = EX_SECRET;

    for (ti = 0; ti < sizeof(tokens) / sizeof(tokens[0]); ti++) {
        creds.session_token = tokens[ti];
        all = 1;

        for (hi = 0; hi < 2; hi++) {
            for (oi = 0; oi < 3; oi++) {
                for (bi = 0; bi < 4; bi++) {
                    rc1 = dm_sigv4_sign_dynamodb(&creds, &cache,
                              regions[hi], hosts[hi], "20150830T123600Z",
                              ops[oi], (const unsigned char *) bodies[bi],
                              strlen(bodies[bi]), a, sizeof(a));
                    rc2 = sign_ddb_general(&creds, NULL, regions[hi],
                              hosts[hi], "20150830T123600Z", ops[oi],
                              bodies[bi], 0, b);
                    same = rc1 == 0 && rc2 == 0 && strcmp(a, b) == 0;

                    if (same) {
                        rc2 = sign_ddb_general(&creds, NULL, regions[hi],
                                  hosts[hi], "20150830T123600Z", ops[oi],
                                  bodies[bi], 1, c);
                        same = rc2 == 0 && strcmp(a, c) == 0;
                    }

                    if (!same) {
                        diag("differs: token %zu host %s op %s body %zu",
                             ti, hosts[hi], ops[oi], bi);
                        diag("  fast:    %s", a);
                        diag("  general: %s", b);
                        all = 0;
                    }
                }
            }
        }

        ok(all, "dynamodb fast path == general signer (24 requests, "
           "token %s)", tokens[ti] == NULL ? "NULL"
                        : tokens[ti][0] == '\0' ? "\"\"" : "set");
    }

    creds.session_token = NULL;
    dm_sigv4_sign_dynamodb(&creds, NULL, "eu-west-1",
                           "dynamodb.eu-west-1.amazonaws.com",
                           "20150830T123600Z", "Query",
                           (const unsigned char *) "{}", 2, a, sizeof(a));
    ok(strstr(a, "SignedHeaders=content-type;host;x-amz-date;x-amz-target,")
       != NULL, "dynamodb: signed headers without token");
    ok(strncmp(a, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
               "eu-west-1/dynamodb/aws4_request, ", 82) == 0,
       "dynamodb: credential scope");

    creds.session_token = EX_TOKEN;
    dm_sigv4_sign_dynamodb(&creds, NULL, "eu-west-1",
                           "dynamodb.eu-west-1.amazonaws.com",
                           "20150830T123600Z", "Query",
                           (const unsigned char *) "{}", 2, a, sizeof(a));
    ok(strstr(a, "SignedHeaders=content-type;host;x-amz-date;"
                 "x-amz-security-token;x-amz-target,") != NULL,
       "dynamodb: signed headers with token");
}


/*
 * The signature of a DynamoDB call, worked out here from the SigV4
 * definition with OpenSSL alone (none of dm_sigv4.c): the reference for
 * a session token too long for the signer's stack buffer.
 */
static void
independent_ddb_signature(const char *secret, const char *region,
    const char *host, const char *amz_date, const char *op,
    const char *token, const char *body, char *hex)
{
    char            *creq, *sts, key0[300], body_hash[65], creq_hash[65];
    size_t           n;
    unsigned int     len;
    unsigned char    k[32], k2[32];

    n = strlen(host) + strlen(op) + strlen(token) + 1024;
    creq = malloc(n);
    sts = malloc(1024);

    sha256_hex(body, strlen(body), body_hash);

    snprintf(creq, n,
             "POST\n/\n\n"
             "content-type:application/x-amz-json-1.0\n"
             "host:%s\n"
             "x-amz-date:%s\n"
             "x-amz-security-token:%s\n"
             "x-amz-target:DynamoDB_20120810.%s\n"
             "\n"
             "content-type;host;x-amz-date;x-amz-security-token;"
             "x-amz-target\n"
             "%s", host, amz_date, token, op, body_hash);
    sha256_hex(creq, strlen(creq), creq_hash);

    snprintf(sts, 1024, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/dynamodb/"
             "aws4_request\n%s", amz_date, amz_date, region, creq_hash);

    snprintf(key0, sizeof(key0), "AWS4%s", secret);
    HMAC(EVP_sha256(), key0, strlen(key0), (const unsigned char *) amz_date,
         8, k, &len);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *) region,
         strlen(region), k2, &len);
    HMAC(EVP_sha256(), k2, 32, (const unsigned char *) "dynamodb", 8, k,
         &len);
    HMAC(EVP_sha256(), k, 32, (const unsigned char *) "aws4_request", 12,
         k2, &len);
    HMAC(EVP_sha256(), k2, 32, (const unsigned char *) sts, strlen(sts), k,
         &len);
    to_hex(k, hex);

    free(creq);
    free(sts);
}


/*
 * The credential chain accepts session tokens up to DM_CREDS_TOKEN_MAX
 * bytes: both signers must sign with the longest, and agree with the
 * independent computation.
 */
static void
test_long_session_token(void)
{
    int                    rc;
    char                  *token, a[DM_SIGV4_AUTHZ_MAX];
    char                   b[DM_SIGV4_AUTHZ_MAX], want[65];
    const char            *sig;
    size_t                 i, ti;
    dm_aws_credentials_t   creds;
    dm_sigv4_key_cache_t   cache;

    static const size_t    lens[] = { 4000, 8000, DM_CREDS_TOKEN_MAX };
    static const char      body[] = "{\"TableName\":\"messages\"}";
    static const char      b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    token = malloc(DM_CREDS_TOKEN_MAX + 1);

    memset(&cache, 0, sizeof(cache));
    creds.access_key_id = EX_AKID;
    creds.secret_access_key = EX_SECRET;

    for (ti = 0; ti < sizeof(lens) / sizeof(lens[0]); ti++) {
        for (i = 0; i < lens[ti]; i++) {
            token[i] = b64[(i * 7 + ti) % 64];
        }
        token[lens[ti]] = '\0';

        creds.session_token = token;

        independent_ddb_signature(EX_SECRET, "eu-west-1",
                                  "dynamodb.eu-west-1.amazonaws.com",
                                  "20150830T123600Z", "Query", token, body,
                                  want);

        rc = dm_sigv4_sign_dynamodb(&creds, &cache, "eu-west-1",
                                    "dynamodb.eu-west-1.amazonaws.com",
                                    "20150830T123600Z", "Query",
                                    (const unsigned char *) body,
                                    strlen(body), a, sizeof(a));
        sig = rc == 0 ? strstr(a, "Signature=") : NULL;

        ok(sig != NULL && strcmp(sig + 10, want) == 0,
           "dynamodb fast path: %zu-byte session token signs, as computed "
           "independently", lens[ti]);

        if (sig == NULL || strcmp(sig + 10, want) != 0) {
            diag("  rc %d, got %s", rc, sig ? sig + 10 : "(none)");
            diag("  want %s", want);
        }

        rc = sign_ddb_general(&creds, NULL, "eu-west-1",
                              "dynamodb.eu-west-1.amazonaws.com",
                              "20150830T123600Z", "Query", body, 1, b);
        sig = rc == 0 ? strstr(b, "Signature=") : NULL;

        ok(sig != NULL && strcmp(sig + 10, want) == 0,
           "general signer: %zu-byte session token signs, as computed "
           "independently", lens[ti]);
    }

    OPENSSL_cleanse(token, DM_CREDS_TOKEN_MAX + 1);
    free(token);
}


static int
ddb(const char *secret, dm_sigv4_key_cache_t *cache, const char *region,
    const char *date, char *authz)
{
    dm_aws_credentials_t  creds;

    creds.access_key_id = EX_AKID;
    creds.secret_access_key = secret;
    creds.session_token = NULL;

    return dm_sigv4_sign_dynamodb(&creds, cache, region, "127.0.0.1:8000",
                                  date, "Query",
                                  (const unsigned char *) "{}", 2,
                                  authz, DM_SIGV4_AUTHZ_MAX);
}


/*
 * A stale key planted in the cache shows whether a call reused it (the
 * signature comes out wrong) or derived a fresh one (it comes out right).
 */
static void
test_key_cache(void)
{
    char                   got[DM_SIGV4_AUTHZ_MAX], want[DM_SIGV4_AUTHZ_MAX];
    char                   digest_hex[65], cached_hex[65];
    unsigned char          key[32];
    dm_sigv4_key_cache_t   cache;

    memset(&cache, 0, sizeof(cache));

    ok(ddb(EX_SECRET, &cache, "us-east-1", "20150830T123600Z", got) == 0
       && cache.valid, "cache: filled by the first call");
    is_str(cache.date, "20150830", "cache: date");
    is_str(cache.region, "us-east-1", "cache: region");
    is_str(cache.service, "dynamodb", "cache: service");

    sha256_hex(EX_SECRET, strlen(EX_SECRET), digest_hex);
    to_hex(cache.secret_digest, cached_hex);
    is_str(cached_hex, digest_hex, "cache: holds SHA-256 of the secret");

    memcpy(key, cache.key, 32);

    ddb(EX_SECRET, NULL, "us-east-1", "20150830T235959Z", want);
    ddb(EX_SECRET, &cache, "us-east-1", "20150830T235959Z", got);
    is_str(got, want, "cache: hit gives the same signature");
    ok(memcmp(key, cache.key, 32) == 0, "cache: key unchanged on a hit");

    /* same day: the planted key must be used, not re-derived */
    cache.key[0] ^= 0xff;
    ddb(EX_SECRET, &cache, "us-east-1", "20150830T235959Z", got);
    ok(strcmp(got, want) != 0, "cache: same day does not re-derive");

    /* next day */
    ddb(EX_SECRET, NULL, "us-east-1", "20150831T000000Z", want);
    ddb(EX_SECRET, &cache, "us-east-1", "20150831T000000Z", got);
    is_str(got, want, "cache: new date re-derives");
    is_str(cache.date, "20150831", "cache: date updated");

    /* region */
    cache.key[0] ^= 0xff;
    ddb(EX_SECRET, NULL, "eu-west-1", "20150831T000000Z", want);
    ddb(EX_SECRET, &cache, "eu-west-1", "20150831T000000Z", got);
    is_str(got, want, "cache: new region re-derives");
    is_str(cache.region, "eu-west-1", "cache: region updated");

    /* secret (rotated credentials) */
    cache.key[0] ^= 0xff;
    ddb("another/secret+KEY", NULL, "eu-west-1", "20150831T000000Z", want);
    ddb("another/secret+KEY", &cache, "eu-west-1", "20150831T000000Z", got);
    is_str(got, want, "cache: new secret re-derives");
    sha256_hex("another/secret+KEY", strlen("another/secret+KEY"),
               digest_hex);
    to_hex(cache.secret_digest, cached_hex);
    is_str(cached_hex, digest_hex, "cache: secret digest updated");

    /* service: the general signer with another service on the same cache */
    {
        char                  want2[DM_SIGV4_AUTHZ_MAX];
        dm_sigv4_header_t     h = { "Host", 4, "example.amazonaws.com", 21 };
        dm_sigv4_request_t    req;
        dm_sigv4_result_t     res;
        dm_aws_credentials_t  creds = { EX_AKID, "another/secret+KEY", NULL };

        memset(&req, 0, sizeof(req));
        req.method = "GET";
        req.path = "/";
        req.path_len = 1;
        req.headers = &h;
        req.nheaders = 1;
        req.region = "eu-west-1";
        req.service = "sqs";
        req.amz_date = "20150831T000000Z";

        memset(&res, 0, sizeof(res));
        dm_sigv4_sign(&creds, NULL, &req, &res);
        strcpy(want2, res.authorization);

        cache.key[0] ^= 0xff;
        memset(&res, 0, sizeof(res));
        dm_sigv4_sign(&creds, &cache, &req, &res);
        is_str(res.authorization, want2, "cache: new service re-derives");
        is_str(cache.service, "sqs", "cache: service updated");
    }

    /* an invalid cache is never trusted */
    cache.valid = 0;
    cache.key[0] ^= 0xff;
    ddb(EX_SECRET, NULL, "us-east-1", "20150830T123600Z", want);
    memcpy(cache.date, "20150830", 9);
    strcpy(cache.region, "us-east-1");
    strcpy(cache.service, "dynamodb");
    ddb(EX_SECRET, &cache, "us-east-1", "20150830T123600Z", got);
    is_str(got, want, "cache: valid=0 re-derives");
}


/* canonical request of GET <path>?<query> with the given extra header */
static int
creq_of(const char *path, const char *query, int normalize,
    const char *hname, const char *hvalue, char *creq)
{
    size_t                 n;
    dm_sigv4_header_t      h[2];
    dm_sigv4_request_t     req;
    dm_sigv4_result_t      res;
    dm_aws_credentials_t   creds = { EX_AKID, EX_SECRET, NULL };

    n = 0;
    h[n].name = "Host";
    h[n].name_len = 4;
    h[n].value = "example.amazonaws.com";
    h[n].value_len = 21;
    n++;

    if (hname) {
        h[n].name = hname;
        h[n].name_len = strlen(hname);
        h[n].value = hvalue;
        h[n].value_len = strlen(hvalue);
        n++;
    }

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = path;
    req.path_len = strlen(path);
    req.query = query;
    req.query_len = query ? strlen(query) : 0;
    req.headers = h;
    req.nheaders = n;
    req.region = EX_REGION;
    req.service = EX_SERVICE;
    req.amz_date = "20150830T123600Z";
    req.normalize_path = normalize;

    memset(&res, 0, sizeof(res));
    res.canonical_request = creq;
    res.canonical_request_size = BUF_SIZE;

    return dm_sigv4_sign(&creds, NULL, &req, &res);
}


/* line i (0-based) of a canonical request */
static const char *
creq_line(const char *creq, int i, char *out)
{
    const char  *p, *e;

    for (p = creq; i > 0 && p; i--) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }

    if (p == NULL) {
        return "";
    }

    e = strchr(p, '\n');
    snprintf(out, 512, "%.*s", (int) (e ? e - p : (long) strlen(p)), p);

    return out;
}


static void
test_canonical_forms(void)
{
    char    creq[BUF_SIZE], line[512];
    size_t  i;

    static const struct {
        const char  *path;
        int          normalize;
        const char  *want;
    } paths[] = {
        { "", 1, "/" },
        { "/", 1, "/" },
        { "/a/b/..", 1, "/a/" },
        { "/a/./b/../c/", 1, "/a/c/" },
        { "/a/b/../../..", 1, "/" },
        { "/a/.", 1, "/a/" },
        { "/a%2Fb", 1, "/a%252Fb" },
        { "/a%2Fb", 0, "/a%252Fb" },
        { "/a b/c+d$", 0, "/a%20b/c%2Bd%24" },
    };

    static const struct {
        const char  *query;
        const char  *want;
    } queries[] = {
        { "b=2&a=&a=1&c", "a=&a=1&b=2&c=" },
        { "x=a b+c%2fd", "x=a%20b%2Bc%2Fd" },
        { "&&k=v&", "k=v" },
        { "%zz=%4", "%25zz=%254" },
        { "k=a=b", "k=a%3Db" },
        { "", "" },
    };

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ok(creq_of(paths[i].path, NULL, paths[i].normalize, NULL, NULL,
                   creq) == 0, "path '%s' signed", paths[i].path);
        is_str(creq_line(creq, 1, line), paths[i].want,
               "canonical URI of '%s' (normalize %d)", paths[i].path,
               paths[i].normalize);
    }

    for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        ok(creq_of("/", queries[i].query, 1, NULL, NULL, creq) == 0,
           "query '%s' signed", queries[i].query);
        is_str(creq_line(creq, 2, line), queries[i].want,
               "canonical query of '%s'", queries[i].query);
    }

    creq_of("/", NULL, 1, "X-Test", " \t a\t\t b \r\n  c  ", creq);
    is_str(creq_line(creq, 5, line), "x-test:a b c",
           "header value trimmed and whitespace runs collapsed");

    creq_of("/", NULL, 1, "X-Test", "a:  b", creq);
    is_str(creq_line(creq, 5, line), "x-test:a: b",
           "':' inside a value is not a boundary");

    creq_of("/", NULL, 1, "X-Test", "", creq);
    is_str(creq_line(creq, 5, line), "x-test:", "empty header value");

    creq_of("/", NULL, 1, "X-Amz-Date", "20150830T123600Z", creq);
    is_str(creq_line(creq, 6, line), "host;x-amz-date",
           "caller's X-Amz-Date is not duplicated");
}


static void
test_errors(void)
{
    char                   small[32], authz[DM_SIGV4_AUTHZ_MAX];
    char                   creq[BUF_SIZE], *big;
    dm_sigv4_header_t      h = { "X-Test", 6, "v", 1 };
    dm_sigv4_request_t     req;
    dm_sigv4_result_t      res;
    dm_aws_credentials_t   creds = { EX_AKID, EX_SECRET, NULL };

    ok(dm_sigv4_sign_dynamodb(&creds, NULL, "us-east-1", "h:1",
                              "20150830T123600Z", "Query", NULL, 0,
                              small, sizeof(small)) == -1,
       "dynamodb: authorization buffer too small");
    ok(dm_sigv4_sign_dynamodb(&creds, NULL, "us-east-1", "h:1",
                              "2015-08-30T12:36:00Z", "Query", NULL, 0,
                              authz, sizeof(authz)) == -1,
       "dynamodb: malformed date");
    ok(dm_sigv4_sign_dynamodb(&creds, NULL, "us-east-1", "h 1",
                              "20150830T123600Z", "Query", NULL, 0,
                              authz, sizeof(authz)) == -1,
       "dynamodb: whitespace in host");
    ok(dm_sigv4_sign_dynamodb(&creds, NULL, "us-east-1", "h:1",
                              "20150830T123600Z", "", NULL, 0,
                              authz, sizeof(authz)) == -1,
       "dynamodb: empty operation");
    ok(dm_sigv4_sign_dynamodb(&creds, NULL,
                              "a-region-name-of-more-than-sixty-three-"
                              "characters-which-does-not-fit", "h:1",
                              "20150830T123600Z", "Query", NULL, 0,
                              authz, sizeof(authz)) == -1,
       "dynamodb: region too long");
    ok(dm_sigv4_sign_dynamodb(&creds, NULL, "us-east-1", "h:1",
                              "20150830T123600Z", "Query", NULL, 5,
                              authz, sizeof(authz)) == -1,
       "dynamodb: NULL body with a length");

    big = malloc(10000);
    memset(big, 'A', 9999);
    big[9999] = '\0';
    creds.session_token = big;
    /* no stack-sized bound: longer than the chain takes still signs */
    ok(dm_sigv4_sign_dynamodb(&creds, NULL, "us-east-1", "h:1",
                              "20150830T123600Z", "Query", NULL, 0,
                              authz, sizeof(authz)) == 0
       && strstr(authz, "x-amz-security-token") != NULL,
       "dynamodb: a 9999-byte session token signs");
    creds.session_token = NULL;
    free(big);

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = "/";
    req.path_len = 1;
    req.headers = &h;
    req.nheaders = 1;
    req.region = EX_REGION;
    req.service = EX_SERVICE;
    req.amz_date = "20150830T123600Z";

    memset(&res, 0, sizeof(res));
    ok(dm_sigv4_sign(&creds, NULL, &req, &res) == -1,
       "general: no Host header");

    h.name = "Host";
    h.name_len = 4;
    memset(&res, 0, sizeof(res));
    res.canonical_request = small;
    res.canonical_request_size = sizeof(small);
    ok(dm_sigv4_sign(&creds, NULL, &req, &res) == -1,
       "general: canonical request buffer too small");

    memset(&res, 0, sizeof(res));
    res.canonical_request = creq;
    res.canonical_request_size = sizeof(creq);
    res.string_to_sign = small;
    res.string_to_sign_size = sizeof(small);
    ok(dm_sigv4_sign(&creds, NULL, &req, &res) == -1,
       "general: string-to-sign buffer too small");

    h.name = "Bad Name";
    h.name_len = 8;
    memset(&res, 0, sizeof(res));
    ok(dm_sigv4_sign(&creds, NULL, &req, &res) == -1,
       "general: invalid header name");

    h.name = "Host";
    h.name_len = 4;
    req.amz_date = "20150830T1236Z";
    memset(&res, 0, sizeof(res));
    ok(dm_sigv4_sign(&creds, NULL, &req, &res) == -1,
       "general: malformed date");

    req.amz_date = "20150830T123600Z";
    creds.access_key_id = "";
    memset(&res, 0, sizeof(res));
    ok(dm_sigv4_sign(&creds, NULL, &req, &res) == -1,
       "general: empty access key id");

    creds.access_key_id = EX_AKID;
    memset(&res, 0, sizeof(res));
    ok(dm_sigv4_sign(&creds, NULL, &req, &res) == 0
       && strlen(res.signature) == 64, "general: minimal request signs");
}


/*
 * The in-repository copy: from the working directory, else from the
 * binary's own place, <root>/<build>/unit/, so that running it from
 * elsewhere still finds the repository's vectors.
 */
static const char *
default_suite(void)
{
    int            up;
    char          *slash, exe[1024];
    ssize_t        n;
    static char    path[1100];

    if (is_dir(SUITE_DEFAULT)) {
        return SUITE_DEFAULT;
    }

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return SUITE_DEFAULT;
    }

    exe[n] = '\0';

    for (up = 0; up < 3; up++) {
        slash = strrchr(exe, '/');

        if (slash == NULL) {
            return SUITE_DEFAULT;
        }

        *slash = '\0';
    }

    (void) pathf(path, sizeof(path), "%s/" SUITE_DEFAULT, exe);

    return is_dir(path) ? path : SUITE_DEFAULT;
}


int
main(void)
{
    suite = getenv("DM_SIGV4_SUITE");
    if (suite == NULL || suite[0] == '\0') {
        suite = default_suite();
    }

    diag("SigV4 suite: %s", suite);

    test_vectors();
    test_amz_date();
    test_dynamodb_equivalence();
    test_long_session_token();
    test_key_cache();
    test_canonical_forms();
    test_errors();

    return done_testing();
}
