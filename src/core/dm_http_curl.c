/*
 * A blocking HTTP exchange with libcurl's easy interface, for the
 * credential chain (dm_http_exchange_pt); see dm_credchain.h.
 */

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "dm_credchain.h"


#define DM_HTTP_BODY_MAX  (64 * 1024)

/*
 * The instance metadata and container agents are on the loopback or
 * link-local: a proxy from the environment must never see their tokens.
 * STS (https) may still go through one.
 */
#define DM_HTTP_NOPROXY                                                     \
    "localhost,127.0.0.0/8,::1,169.254.0.0/16,fd00:ec2::/64"


typedef struct {
    dm_buf_t   *body;
    int         too_large;
} dm_http_sink_t;


static size_t
dm_http_write(char *p, size_t size, size_t n, void *data)
{
    dm_http_sink_t  *sink;

    sink = data;
    n *= size;

    if (sink->body->len + n > DM_HTTP_BODY_MAX) {
        sink->too_large = 1;
        return 0;
    }

    if (dm_buf_append(sink->body, p, n) != 0) {
        return 0;
    }

    return n;
}


int
dm_http_curl_exchange(void *data, const dm_http_request_t *req,
    long *status, dm_buf_t *body, char *err, size_t errlen)
{
    int                 rc;
    long                timeout;
    char                cerr[CURL_ERROR_SIZE];
    const char         *msg, *ca;
    CURL               *curl;
    size_t              i;
    CURLcode            code;
    dm_http_sink_t      sink;
    struct curl_slist  *headers, *h;

    *status = 0;

    curl = curl_easy_init();
    if (curl == NULL) {
        (void) snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }

    headers = NULL;
    rc = -1;

    /* no "Expect: 100-continue" wait for a long STS form */
    h = curl_slist_append(headers, "Expect:");
    if (h == NULL) {
        goto nomem;
    }
    headers = h;

    for (i = 0; i < sizeof(req->headers) / sizeof(req->headers[0]); i++) {
        if (req->headers[i] == NULL) {
            break;
        }

        h = curl_slist_append(headers, req->headers[i]);
        if (h == NULL) {
            goto nomem;
        }
        headers = h;
    }

    sink.body = body;
    sink.too_large = 0;
    cerr[0] = '\0';

    timeout = req->timeout_ms > 0 ? req->timeout_ms : 2000;

    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, DM_HTTP_NOPROXY);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ddbm-credchain/1.0");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dm_http_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);

    /* AWS_CA_BUNDLE (a private CA, a TLS-inspecting proxy) */
    if (req->ca_bundle != NULL && req->ca_bundle[0] != '\0') {
        curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_bundle);
    }

    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);

    } else {
        /* POST, or PUT with its body sent the same way (and no body: 0) */
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) (req->body ? req->body_len : 0));
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                         req->body ? req->body : "");

        if (strcmp(req->method, "POST") != 0) {
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
        }
    }

    code = curl_easy_perform(curl);

    if (code != CURLE_OK) {
        if (sink.too_large) {
            (void) snprintf(err, errlen, "the answer is over %d bytes",
                            DM_HTTP_BODY_MAX);

        } else if (body->failed) {
            (void) snprintf(err, errlen, "out of memory");

        } else {
            msg = cerr[0] ? cerr : curl_easy_strerror(code);
            ca = (req->ca_bundle && req->ca_bundle[0]) ? req->ca_bundle
                                                        : NULL;

            if ((code == CURLE_PEER_FAILED_VERIFICATION
                 || code == CURLE_SSL_CACERT_BADFILE)
                && (ca == NULL || strstr(msg, ca) == NULL))
            {
                /* which CA certificates were used: the first thing to check */
                (void) snprintf(err, errlen, "%s (CA bundle: %s)", msg,
                                ca ? ca : "the system's");

            } else {
                (void) snprintf(err, errlen, "%s", msg);
            }
        }

        goto done;
    }

    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    rc = 0;

    goto done;

nomem:

    (void) snprintf(err, errlen, "out of memory");

done:

    /* the copies of the authorization and metadata token headers */
    for (h = headers; h != NULL; h = h->next) {
        OPENSSL_cleanse(h->data, strlen(h->data));
    }

    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);

    return rc;
}
