/*
 * The DynamoDB client: endpoint, libcurl (blocking, one connection kept
 * alive across calls), SigV4 signing by the core's signer (the one the
 * module uses), bounded retries of throttling and 5xx, and error answers
 * read by the core's streaming reader.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ddbm.h"
#include "dm_credchain.h"


#define DDBM_TRIES            5
#define DDBM_BACKOFF_BASE_MS  100
#define DDBM_BACKOFF_CAP_MS   3000
#define DDBM_ANSWER_MAX       (64 * 1024 * 1024)
#define DDBM_CONNECT_TIMEOUT  10
#define DDBM_TIMEOUT          60


/* the outcome of one call, after retries */
typedef struct {
    long            status;          /* HTTP status, 0: no answer */
    int             curl_code;       /* CURLE_OK when an answer came */
    char            error_type[96];  /* "ResourceNotFoundException" */
    char            error_message[256];
} ddbm_result_t;


static int
ddbm_ascii_lower(int ch)
{
    return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}


static int
ddbm_ends_with(const char *s, size_t n, const char *suffix)
{
    size_t  m;

    m = strlen(suffix);

    return n >= m && strncmp(s + n - m, suffix, m) == 0;
}


/*
 * scheme://authority[/] only: the signer signs "POST /", so an endpoint
 * with a path would be signed for the wrong resource.
 */
static int
ddbm_parse_endpoint(ddbm_client_t *c, const char *endpoint)
{
    size_t       n, i, hlen;
    const char  *a, *p, *scheme;

    if (strncasecmp(endpoint, "http://", 7) == 0) {
        scheme = "http";
        a = endpoint + 7;

    } else if (strncasecmp(endpoint, "https://", 8) == 0) {
        scheme = "https";
        a = endpoint + 8;

    } else {
        ddbm_usage_error("endpoint \"%s\" is not an http:// or https:// "
                         "URL", endpoint);
        return -1;
    }

    n = strcspn(a, "/?#");
    p = a + n;

    if (n == 0 || n >= sizeof(c->host) || (*p != '\0' && strcmp(p, "/") != 0))
    {
        ddbm_usage_error("endpoint \"%s\" must be scheme://host[:port] "
                         "without a path", endpoint);
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (a[i] == '@' || (unsigned char) a[i] <= 0x20
            || (unsigned char) a[i] >= 0x7f)
        {
            ddbm_usage_error("endpoint \"%s\" has an invalid host",
                             endpoint);
            return -1;
        }

        c->host[i] = (char) ddbm_ascii_lower(a[i]);
    }

    c->host[n] = '\0';

    if ((size_t) snprintf(c->url, sizeof(c->url), "%s://%s/", scheme,
                          c->host)
        >= sizeof(c->url))
    {
        ddbm_usage_error("endpoint \"%s\" is too long", endpoint);
        return -1;
    }

    /* AWS itself, whatever flag was given: prompts, no dummy keys */
    hlen = c->host[0] == '[' ? n : strcspn(c->host, ":");

    if (ddbm_ends_with(c->host, hlen, ".amazonaws.com")
        || ddbm_ends_with(c->host, hlen, ".amazonaws.com.cn"))
    {
        c->prod = 1;
    }

    return 0;
}


int
ddbm_client_open(ddbm_client_t *c, ddbm_options_t *opts)
{
    char         regional[256];
    const char  *endpoint, *ca;

    memset(c, 0, sizeof(*c));
    c->opts = opts;
    c->prod = opts->prod;

    if (ddbm_resolve_region(opts, c->region, sizeof(c->region)) != 0) {
        return DDBM_USAGE;
    }

    endpoint = opts->endpoint;

    if (endpoint == NULL && opts->prod) {
        snprintf(regional, sizeof(regional),
                 "https://dynamodb.%s.amazonaws.com%s", c->region,
                 strncmp(c->region, "cn-", 3) == 0 ? ".cn" : "");
        endpoint = regional;
    }

    if (endpoint == NULL) {
        endpoint = getenv("DDBM_ENDPOINT");
    }

    if (endpoint == NULL || *endpoint == '\0') {
        endpoint = DDBM_DEFAULT_ENDPOINT;
    }

    if (ddbm_parse_endpoint(c, endpoint) != 0) {
        return DDBM_USAGE;
    }

    if (ddbm_resolve_credentials(opts, c->region, !c->prod, &c->creds)
        != 0)
    {
        return DDBM_ERROR;
    }

    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        ddbm_credentials_free(&c->creds);
        ddbm_error("cannot initialise libcurl");
        return DDBM_ERROR;
    }

    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT,
                     (long) DDBM_CONNECT_TIMEOUT);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, (long) DDBM_TIMEOUT);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "ddbm/1.0");
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");

    /* boto3 and the AWS CLI honour it; so do we */
    ca = getenv("AWS_CA_BUNDLE");
    if (ca != NULL && *ca != '\0') {
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, ca);
    }

    srandom((unsigned) time(NULL) ^ (unsigned) getpid());

    return DDBM_OK;
}


void
ddbm_client_close(ddbm_client_t *c)
{
    if (c->curl != NULL) {
        curl_easy_cleanup(c->curl);
        c->curl = NULL;
    }

    ddbm_credentials_free(&c->creds);
}


static size_t
ddbm_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    size_t     n;
    dm_buf_t  *b;

    b = userdata;
    n = size * nmemb;

    if (b->len + n > DDBM_ANSWER_MAX) {
        return 0;
    }

    dm_buf_append(b, ptr, n);

    return b->failed ? 0 : n;
}


void
ddbm_sleep_ms(unsigned ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000L;

    while (nanosleep(&ts, &ts) != 0) {
        /* interrupted: sleep the rest */
    }
}


/* exponential with "equal jitter": half fixed, half random */
unsigned
ddbm_backoff_ms(unsigned attempt)
{
    unsigned  d;

    d = DDBM_BACKOFF_BASE_MS << (attempt < 10 ? attempt : 10);
    if (d > DDBM_BACKOFF_CAP_MS) {
        d = DDBM_BACKOFF_CAP_MS;
    }

    return d / 2 + (unsigned) (random() % (d / 2 + 1));
}


static int
ddbm_is_error(const ddbm_result_t *res, const char *type)
{
    return res->status > 0 && strcmp(res->error_type, type) == 0;
}


static int
ddbm_retriable(const ddbm_result_t *res)
{
    if (res->status == 0) {
        /* the connection broke mid-call (e.g. a stale keepalive) */
        return res->curl_code == CURLE_SEND_ERROR
               || res->curl_code == CURLE_RECV_ERROR
               || res->curl_code == CURLE_GOT_NOTHING
               || res->curl_code == CURLE_PARTIAL_FILE;
    }

    if (res->status >= 500) {
        return 1;
    }

    return ddbm_is_error(res, "ThrottlingException")
           || ddbm_is_error(res, "ProvisionedThroughputExceededException")
           || ddbm_is_error(res, "RequestLimitExceeded");
}


static void
ddbm_read_error(const dm_buf_t *answer, ddbm_result_t *res)
{
    size_t            n;
    dm_ddb_answer_t   a;

    /* the module's reader: "__type" after the '#', "message"/"Message" */
    if (answer->len > 0
        && dm_ddb_read(answer->data, answer->len, NULL, &a) == 0
        && a.error_type[0] != '\0')
    {
        snprintf(res->error_type, sizeof(res->error_type), "%s",
                 a.error_type);
        snprintf(res->error_message, sizeof(res->error_message), "%s",
                 a.error_message);
        return;
    }

    /* not DynamoDB's JSON: a proxy or a load balancer answered */
    snprintf(res->error_type, sizeof(res->error_type), "HTTP %ld",
             res->status);

    n = answer->len < sizeof(res->error_message) - 1
        ? answer->len : sizeof(res->error_message) - 1;
    memcpy(res->error_message, answer->data, n);
    res->error_message[n] = '\0';
}


static int
ddbm_call_once(ddbm_client_t *c, const char *operation,
    const unsigned char *body, size_t len, dm_buf_t *answer,
    ddbm_result_t *res)
{
    int                    rc, n;
    char                   amz_date[DM_SIGV4_AMZ_DATE_LEN + 1];
    char                   authz[DM_SIGV4_AUTHZ_MAX];
    /* the longest header is a session token's */
    char                   line[DM_CREDS_TOKEN_MAX + 64];
    CURLcode               code;
    dm_aws_credentials_t   creds;
    struct curl_slist     *headers, *h;

    memset(res, 0, sizeof(*res));
    answer->len = 0;
    answer->failed = 0;
    c->curl_error[0] = '\0';

    creds.access_key_id = c->creds.access_key_id;
    creds.secret_access_key = c->creds.secret_access_key;
    creds.session_token = c->creds.session_token;

    /* signed afresh for each try: the date is part of the signature */
    dm_sigv4_amz_date(time(NULL), amz_date);

    if (dm_sigv4_sign_dynamodb(&creds, &c->key_cache, c->region, c->host,
                               amz_date, operation, body, len, authz,
                               sizeof(authz))
        != 0)
    {
        ddbm_error("%s: cannot sign the request", operation);
        res->status = -1;
        return -1;
    }

    headers = NULL;
    rc = 0;

#define ddbm_header(...)                                                    \
    if (rc == 0) {                                                          \
        n = snprintf(line, sizeof(line), __VA_ARGS__);                      \
        h = (n < 0 || (size_t) n >= sizeof(line))                           \
            ? NULL : curl_slist_append(headers, line);                      \
        if (h == NULL) {                                                    \
            rc = -1;                                                        \
        } else {                                                            \
            headers = h;                                                    \
        }                                                                   \
    }

    /* exactly the values that were signed */
    ddbm_header("Host: %s", c->host);
    ddbm_header("Content-Type: %s", DM_DDB_CONTENT_TYPE);
    ddbm_header("X-Amz-Date: %s", amz_date);
    ddbm_header("X-Amz-Target: %s%s", DM_DDB_TARGET_PREFIX, operation);

    if (c->creds.session_token != NULL) {
        ddbm_header("X-Amz-Security-Token: %s", c->creds.session_token);
    }

    ddbm_header("Authorization: %s", authz);

    /* no 100-continue round trip for larger bodies */
    ddbm_header("Expect:");

#undef ddbm_header

    if (rc != 0) {
        curl_slist_free_all(headers);
        ddbm_error("out of memory");
        res->status = -1;
        return -1;
    }

    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, ddbm_write_cb);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, answer);

    code = curl_easy_perform(c->curl);

    /* the token's copy in the header list is not left behind */
    for (h = headers; h != NULL; h = h->next) {
        memset(h->data, 0, strlen(h->data));
    }

    curl_slist_free_all(headers);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);

    if (code != CURLE_OK) {
        res->curl_code = code;

        if (code == CURLE_WRITE_ERROR) {
            ddbm_error("%s: the answer is too large or out of memory",
                       operation);
            res->status = -1;
            return -1;
        }

        snprintf(res->error_message, sizeof(res->error_message), "%s",
                 c->curl_error[0] != '\0' ? c->curl_error
                                          : curl_easy_strerror(code));
        return -1;
    }

    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);

    if (res->status == 200) {
        return 0;
    }

    ddbm_read_error(answer, res);

    return -1;
}


static int
ddbm_call(ddbm_client_t *c, const char *operation, const unsigned char *body,
    size_t len, dm_buf_t *answer, ddbm_result_t *res)
{
    unsigned  attempt;

    for (attempt = 0; /* void */ ; attempt++) {

        if (ddbm_call_once(c, operation, body, len, answer, res) == 0) {
            return 0;
        }

        if (res->status < 0 || attempt + 1 >= DDBM_TRIES
            || !ddbm_retriable(res))
        {
            return -1;
        }

        ddbm_sleep_ms(ddbm_backoff_ms(attempt));
    }
}


static void
ddbm_report(ddbm_client_t *c, const char *operation,
    const ddbm_result_t *res)
{
    char    url[sizeof(c->url)];
    size_t  n;

    if (res->status < 0) {
        /* already said */
        return;
    }

    if (res->status == 0) {
        n = strlen(c->url);
        memcpy(url, c->url, n - 1);
        url[n - 1] = '\0';

        ddbm_error("cannot reach %s: %s", url, res->error_message);
        return;
    }

    if (res->error_message[0] != '\0') {
        ddbm_error("%s: %s: %s", operation, res->error_type,
                   res->error_message);

    } else {
        ddbm_error("%s: %s", operation, res->error_type);
    }
}


/*
 * One call whose failure the caller has nothing to add to: 0 and the
 * answer's bytes, or -1 with the error printed.  A failure of the error
 * type "expected" is an outcome to the caller instead: 1, not printed.
 */
int
ddbm_ask_raw(ddbm_client_t *c, const char *operation, const dm_buf_t *body,
    dm_buf_t *answer, const char *expected)
{
    ddbm_result_t  res;

    if (body->failed) {
        ddbm_error("%s: cannot build the request", operation);
        return -1;
    }

    if (ddbm_call(c, operation, body->data, body->len, answer, &res) == 0) {
        return 0;
    }

    if (expected != NULL && ddbm_is_error(&res, expected)) {
        return 1;
    }

    ddbm_report(c, operation, &res);

    return -1;
}


static int
ddbm_dump_cb(const char *buffer, size_t size, void *data)
{
    return dm_buf_append(data, buffer, size);
}


/*
 * The same with the request built by jansson (req) or by the core's
 * builders (body, when req is NULL), and the answer parsed (*answer, to
 * be released; answer NULL: the answer is not read).
 */
int
ddbm_ask(ddbm_client_t *c, const char *operation, json_t *req,
    const dm_buf_t *body, json_t **answer, const char *expected)
{
    int            rc;
    dm_buf_t       text, out;
    json_error_t   err;

    if (answer != NULL) {
        *answer = NULL;
    }

    dm_buf_init_malloc(&text);

    if (req != NULL) {
        if (json_dump_callback(req, ddbm_dump_cb, &text, JSON_COMPACT) != 0)
        {
            ddbm_error("%s: cannot encode the request", operation);
            dm_buf_free_malloc(&text);
            return -1;
        }

        body = &text;
    }

    dm_buf_init_malloc(&out);

    rc = ddbm_ask_raw(c, operation, body, &out, expected);

    if (rc == 0 && answer != NULL) {
        *answer = json_loadb((const char *) out.data, out.len, 0, &err);

        if (*answer == NULL) {
            ddbm_error("%s: malformed answer from DynamoDB: %s", operation,
                       err.text);
            rc = -1;
        }
    }

    dm_buf_free_malloc(&text);
    dm_buf_free_malloc(&out);

    return rc;
}
