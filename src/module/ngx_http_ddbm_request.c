/*
 * The request loop, in one place.
 *
 *   handler ─ body ─ begin ─ pattern->start ─┐
 *                                            after(rc)
 *   call_done (each subrequest) ─ wake ─ pattern->resume ─┘
 *
 * A pattern step answers the client (NGX_DONE) or issues DynamoDB calls
 * (NGX_AGAIN).  Each call is one signed subrequest; when the last one of a
 * round has its answer, NGINX runs the parent's write handler, wake(),
 * which classifies the answers (retrying throttling and server errors on
 * a timer) and runs the pattern's resume step.
 *
 * The lifetime rule (see ngx_http_ddbm.h): an answer finalizes the
 * request and may free it, so NGX_DONE is returned at once, up through
 * every caller, and nothing here reads the request or ctx after it.
 */

#include "ngx_http_ddbm.h"


static void ngx_http_ddbm_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ddbm_read_body(ngx_http_ddbm_ctx_t *ctx);
static void ngx_http_ddbm_post_cleanup(void *data);
static ngx_int_t ngx_http_ddbm_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_ddbm_begin(ngx_http_ddbm_ctx_t *ctx);
static void ngx_http_ddbm_after(ngx_http_ddbm_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_ddbm_wake(ngx_http_request_t *r);

static ngx_int_t ngx_http_ddbm_issue(ngx_http_ddbm_call_t *call);
static ngx_int_t ngx_http_ddbm_call_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static ngx_uint_t ngx_http_ddbm_answer_complete(ngx_http_upstream_t *u,
    ngx_http_ddbm_call_t *call);
static ngx_int_t ngx_http_ddbm_classify(ngx_http_ddbm_call_t *call);
static void ngx_http_ddbm_retry_handler(ngx_event_t *ev);
static void ngx_http_ddbm_calls_cleanup(void *data);
static const char *ngx_http_ddbm_error_kind(ngx_http_ddbm_call_t *call);
static ngx_int_t ngx_http_ddbm_transient(ngx_http_ddbm_call_t *call,
    const char *kind);
static ngx_uint_t ngx_http_ddbm_retry(ngx_http_ddbm_call_t *call,
    const char *what, const char *kind, ngx_uint_t throttled);
static ngx_uint_t ngx_http_ddbm_answer_sound(ngx_http_ddbm_call_t *call);
static void ngx_http_ddbm_pending(ngx_http_ddbm_ctx_t *ctx, ngx_int_t n);
static void ngx_http_ddbm_keep_headers(ngx_http_ddbm_call_t *call,
    ngx_http_upstream_t *u);


static ngx_http_request_body_filter_pt  ngx_http_ddbm_next_request_body_filter;


/* ---- the client's request ---------------------------------------------- */

ngx_int_t
ngx_http_ddbm_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  allow;
    ngx_http_ddbm_ctx_t       *ctx;
    ngx_http_ddbm_pattern_t   *pattern;
    ngx_http_ddbm_loc_conf_t  *dlcf;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ddbm_module);
    pattern = dlcf->pattern;

    if (r->method == NGX_HTTP_OPTIONS) {
        return ngx_http_ddbm_preflight(r, dlcf);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ddbm_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = dlcf;
    ctx->pattern = pattern;

    ngx_http_set_ctx(r, ctx, ngx_http_ddbm_module);

    /*
     * An answer given here finalizes the request, and so does the content
     * phase with our NGX_DONE: r->main->count++ keeps the request alive
     * for the second, and comes after everything that can still fail.
     */

    if (pattern->route && !(r->method & pattern->methods)) {
        /* the location's declared route for this method, if any */
        pattern = ngx_http_ddbm_route_for(r, pattern, &allow);
        ctx->pattern = pattern;
    }

    if (!(r->method & pattern->methods)) {
        if (pattern->route) {
            /* allow: every method the location's routes take */

        } else if (pattern->methods & NGX_HTTP_POST) {
            ngx_str_set(&allow, "POST, OPTIONS");
        } else {
            ngx_str_set(&allow, "GET, HEAD, OPTIONS");
        }

        if (ngx_http_ddbm_add_header(r, "Allow", &allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->main->count++;
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "method not allowed here");
    }

    if (pattern->needs_identity) {
        if (ngx_http_complex_value(r, dlcf->identity, &ctx->sub) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (!dm_uuid_valid((const char *) ctx->sub.data, ctx->sub.len)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "ddbm: %s identity, answered 401",
                          ctx->sub.len ? "malformed" : "no");

            r->main->count++;
            return ngx_http_ddbm_respond(ctx, NGX_HTTP_UNAUTHORIZED,
                                         (u_char *) "{}", 2);
        }
    }

    if (!pattern->reads_body) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        r->main->count++;
        ngx_http_ddbm_begin(ctx);
        return NGX_DONE;
    }

    if (r->headers_in.content_length_n > (off_t) dlcf->body_max) {
        r->main->count++;
        return ngx_http_ddbm_respond_error(ctx,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                           "body_too_large",
                                           "request body is too large");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_ddbm_body_handler);

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE && ctx->body_too_large) {
        /* our request body filter stopped a chunked body: say it in JSON */
        r->main->count++;
        return ngx_http_ddbm_respond_error(ctx,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                           "body_too_large",
                                           "request body is too large");
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    /* the body handler answers; the body reader holds the request */
    return NGX_DONE;
}


/*
 * A chunked body has no length to check up front: count it as it comes
 * and refuse it once it passes ddbm_body_max, not client_max_body_size.
 */
static ngx_int_t
ngx_http_ddbm_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t          *cl;
    ngx_http_ddbm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ddbm_module);

    if (ctx == NULL || r != r->main || !ctx->pattern->reads_body) {
        return ngx_http_ddbm_next_request_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        ctx->body_received += ngx_buf_size(cl->buf);
    }

    if (ctx->body_received > (off_t) ctx->conf->body_max) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ddbm: request body over ddbm_body_max %uz, "
                      "answered 413", ctx->conf->body_max);
        ctx->body_too_large = 1;
        r->keepalive = 0;
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    return ngx_http_ddbm_next_request_body_filter(r, in);
}


ngx_int_t
ngx_http_ddbm_request_body_filter_init(ngx_conf_t *cf)
{
    ngx_http_ddbm_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_ddbm_request_body_filter;

    return NGX_OK;
}


/*
 * The body, checked by the core's rules for POST /api/messages (the same
 * code the unit tests and the fuzzers run): 400 and 422 are answered
 * here, a valid body goes to the pattern in ctx->post.
 */
static void
ngx_http_ddbm_body_handler(ngx_http_request_t *r)
{
    int                   rc;
    size_t                n;
    const char           *codes[DM_API_CODES_MAX];
    ngx_pool_cleanup_t   *cln;
    ngx_http_ddbm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ddbm_module);

    if (ngx_http_ddbm_read_body(ctx) != NGX_OK) {
        return;
    }

    if (ctx->pattern->route) {
        /* a declared route reads the fields it names itself */
        ngx_http_ddbm_begin(ctx);
        return;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_http_ddbm_after(ctx, NGX_ERROR);
        return;
    }

    n = 0;
    rc = dm_api_post_check((const char *) ctx->raw_body.data,
                           ctx->raw_body.len, &ctx->post, codes, &n);

    cln->handler = ngx_http_ddbm_post_cleanup;
    cln->data = &ctx->post;

    switch (rc) {

    case 0:
        ngx_http_ddbm_begin(ctx);
        return;

    case 400:
        if (ngx_strcmp(ctx->post.error, "malformed_json") == 0) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "ddbm: malformed JSON body at byte %uz, answered "
                          "400", ctx->post.error_position);
        }

        (void) ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                           ctx->post.error,
                                           ctx->post.detail);
        return;

    case 422:
        (void) ngx_http_ddbm_respond_codes(ctx, codes, n);
        return;

    default:
        ngx_http_ddbm_after(ctx, NGX_ERROR);
        return;
    }
}


static void
ngx_http_ddbm_post_cleanup(void *data)
{
    dm_api_post_free(data);
}


/* the body in one piece, from memory buffers or the temp file: NGX_OK */
static ngx_int_t
ngx_http_ddbm_read_body(ngx_http_ddbm_ctx_t *ctx)
{
    u_char              *p;
    size_t               len;
    ssize_t              n;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ctx->raw_body.len = 0;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    if (len > ctx->conf->body_max) {
        return ngx_http_ddbm_respond_error(ctx,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                           "body_too_large",
                                           "request body is too large");
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        ngx_http_ddbm_after(ctx, NGX_ERROR);
        return NGX_DONE;
    }

    ctx->raw_body.data = p;
    ctx->raw_body.len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ddbm: cannot read the request body from \"%V\"",
                          &b->file->name);
            ngx_http_ddbm_after(ctx, NGX_ERROR);
            return NGX_DONE;
        }

        p += n;
    }

    *p = '\0';

    return NGX_OK;
}


/* ---- the pattern's steps ----------------------------------------------- */

static void
ngx_http_ddbm_begin(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_http_request_t        *r;
    ngx_http_ddbm_loc_conf_t  *dlcf;

    r = ctx->request;
    dlcf = ctx->conf;

    r->write_event_handler = ngx_http_ddbm_wake;
    ctx->deadline = ngx_current_msec + dlcf->request_timeout;

    if (dlcf->cache && ctx->pattern != &ngx_http_ddbm_pattern_health) {
        /* the cache needs the table's identity, kept fresh by anyone */
        ngx_http_ddbm_status_refresh(ctx);
    }

    ngx_http_ddbm_after(ctx, ctx->pattern->start(ctx));
}


/* what a step returned: the one place that reads its return code */
static void
ngx_http_ddbm_after(ngx_http_ddbm_ctx_t *ctx, ngx_int_t rc)
{
    ngx_uint_t  rounds;

    /* a round the cache answered whole needs no wait: go on at once */
    for (rounds = 0;
         rc == NGX_AGAIN && ctx->pending == 0
         && rounds < NGX_HTTP_DDBM_MAX_ROUNDS;
         rounds++)
    {
        rc = ctx->pattern->resume(ctx);
    }

    if (rc == NGX_DONE) {
        /* answered: the request may be gone */
        return;
    }

    if (rc == NGX_AGAIN && ctx->pending) {
        ctx->waiting = 1;
        return;
    }

    ngx_log_error(NGX_LOG_ALERT, ctx->request->connection->log, 0,
                  "ddbm: pattern \"%V\" stopped without an answer (rc %i)",
                  &ctx->pattern->name, rc);

    (void) ngx_http_ddbm_respond_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal_error", "internal error");
}


/* the parent runs again: after each subrequest, retry, or client event */
static void
ngx_http_ddbm_wake(ngx_http_request_t *r)
{
    ngx_uint_t             i, again;
    ngx_http_ddbm_ctx_t   *ctx;
    ngx_http_ddbm_call_t  *call;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ddbm_module);

    if (ctx == NULL || ctx->answered || !ctx->waiting || ctx->pending) {
        return;
    }

    /* the upstream left "sending to client" behind: not what we do now */
    r->connection->log->action = NULL;

    again = 0;

    for (i = 0; i < ctx->ncalls; i++) {
        call = ctx->calls[i];

        if (!call->done || call->classified) {
            continue;
        }

        if (ngx_http_ddbm_classify(call) == NGX_AGAIN) {
            again = 1;
            continue;
        }

        call->classified = 1;
    }

    if (again) {
        return;
    }

    ctx->waiting = 0;

    ngx_http_ddbm_after(ctx, ctx->pattern->resume(ctx));
}


/* ---- DynamoDB calls ---------------------------------------------------- */

ngx_http_ddbm_call_t *
ngx_http_ddbm_call(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    const char *operation, dm_buf_t *b)
{
    return ngx_http_ddbm_call_after(ctx, tag, operation, b, 0);
}


/* what every call carries: its request, operation, body and X-Amz-Target */
static ngx_int_t
ngx_http_ddbm_call_init(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_call_t *call,
    const char *operation, dm_buf_t *b)
{
    size_t  len;

    call->ctx = ctx;
    call->operation = operation;
    call->body.data = b->data;
    call->body.len = b->len;

    len = sizeof(DM_DDB_TARGET_PREFIX) - 1 + ngx_strlen(operation);
    call->target.data = ngx_pnalloc(ctx->request->pool, len);
    if (call->target.data == NULL) {
        return NGX_ERROR;
    }

    call->target.len = ngx_sprintf(call->target.data, "%s%s",
                                   DM_DDB_TARGET_PREFIX, operation)
                       - call->target.data;

    return NGX_OK;
}


ngx_http_ddbm_call_t *
ngx_http_ddbm_call_after(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    const char *operation, dm_buf_t *b, ngx_msec_t delay)
{
    ngx_http_request_t    *r;
    ngx_pool_cleanup_t    *cln;
    ngx_http_ddbm_call_t  *call;

    r = ctx->request;

    if (b->failed || ctx->ncalls == NGX_HTTP_DDBM_MAX_CALLS) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ddbm: cannot build the DynamoDB %s call", operation);
        return NULL;
    }

    call = ngx_pcalloc(r->pool, sizeof(ngx_http_ddbm_call_t));
    if (call == NULL) {
        return NULL;
    }

    if (!ctx->cleanup_added) {
        /* a pending retry timer must not outlive the request */
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NULL;
        }
        cln->handler = ngx_http_ddbm_calls_cleanup;
        cln->data = ctx;
        ctx->cleanup_added = 1;
    }

    call->tag = tag;

    if (ngx_http_ddbm_call_init(ctx, call, operation, b) != NGX_OK) {
        return NULL;
    }

    call->retry_timer.handler = ngx_http_ddbm_retry_handler;
    call->retry_timer.data = call;
    call->retry_timer.log = r->connection->log;

    ctx->calls[ctx->ncalls++] = call;

    if (delay) {
        /* the retry timer issues it: counted as pending until then */
        ngx_http_ddbm_pending(ctx, 1);
        ngx_add_timer(&call->retry_timer, delay);
        return call;
    }

    if (ngx_http_ddbm_issue(call) == NGX_ERROR) {
        return NULL;
    }

    /* NGX_DECLINED: failed without a subrequest, read like any failure */
    return call;
}


/*
 * A call nobody waits for (the table's status): a background subrequest,
 * not counted among the request's calls, never retried.  The client's
 * answer does not wait for it; the connection's next request does.
 */
ngx_http_ddbm_call_t *
ngx_http_ddbm_call_background(ngx_http_ddbm_ctx_t *ctx,
    const char *operation, dm_buf_t *b)
{
    ngx_http_request_t    *r;
    ngx_http_ddbm_call_t  *call;

    r = ctx->request;

    if (b->failed) {
        return NULL;
    }

    call = ngx_pcalloc(r->pool, sizeof(ngx_http_ddbm_call_t));
    if (call == NULL) {
        return NULL;
    }

    call->background = 1;
    call->no_quota = 1;

    if (ngx_http_ddbm_call_init(ctx, call, operation, b) != NGX_OK) {
        return NULL;
    }

    return ngx_http_ddbm_issue(call) == NGX_OK ? call : NULL;
}


static ngx_int_t
ngx_http_ddbm_issue(ngx_http_ddbm_call_t *call)
{
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_http_request_t           *r, *sr;
    ngx_http_ddbm_ctx_t          *ctx;
    dm_aws_credentials_t          creds;
    ngx_http_request_body_t      *rb;
    ngx_http_ddbm_loc_conf_t     *dlcf;
    ngx_http_post_subrequest_t   *ps;

    ctx = call->ctx;
    r = ctx->request;
    dlcf = ctx->conf;

    if (ctx->attempts >= NGX_HTTP_DDBM_MAX_ATTEMPTS && !call->background) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ddbm: %ui DynamoDB calls for one request: no more",
                      ctx->attempts);
        return NGX_ERROR;
    }

    if (ngx_http_ddbm_credentials_current(dlcf->credentials,
                                          r->connection->log, &creds)
        != NGX_OK)
    {
        /* no keys to sign with: the call fails here, the client gets 503 */
        call->done = 1;
        call->classified = 1;
        call->in_flight = 0;
        call->result = NGX_HTTP_DDBM_CALL_FAILED;
        call->failure = "credentials_unavailable";
        call->http_status = NGX_HTTP_SERVICE_UNAVAILABLE;
        return NGX_DECLINED;
    }

    ngx_str_null(&call->session_token);

    if (creds.session_token != NULL) {
        call->session_token.len = ngx_strlen(creds.session_token);
        call->session_token.data = (u_char *) creds.session_token;

        if (dlcf->credentials->autoc != NULL) {
            /* a copy: the worker's keys may change before the call goes */
            call->session_token.data = ngx_pnalloc(r->pool,
                                                   call->session_token.len);
            if (call->session_token.data == NULL) {
                return NGX_ERROR;
            }
            ngx_memcpy(call->session_token.data, creds.session_token,
                       call->session_token.len);
        }
    }

    dm_sigv4_amz_date(ngx_time(), call->amz_date);

    if (dm_sigv4_sign_dynamodb(&creds,
                               &dlcf->credentials->cache,
                               (const char *) dlcf->region.data,
                               (const char *) dlcf->host.data,
                               call->amz_date, call->operation,
                               call->body.data, call->body.len,
                               call->authorization,
                               sizeof(call->authorization))
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ddbm: cannot sign the DynamoDB %s call",
                      call->operation);
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (ps == NULL || b == NULL || cl == NULL || rb == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_ddbm_call_done;
    ps->data = call;

    if (ngx_http_subrequest(r, &dlcf->backend, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |(call->background
                              ? NGX_HTTP_SUBREQUEST_BACKGROUND
                              : NGX_HTTP_SUBREQUEST_WAITED))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* our own method, body and length: never the client's */

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    b->pos = call->body.data;
    b->last = call->body.data + call->body.len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->rest = 0;

    sr->request_body = rb;
    sr->headers_in.content_length_n = call->body.len;
    sr->headers_in.content_length = NULL;
    sr->headers_in.chunked = 0;
    sr->headers_in.transfer_encoding = NULL;

    call->sr = sr;
    call->attempts++;
    call->in_flight = 1;
    call->done = 0;
    call->classified = 0;
    call->too_large = 0;
    call->incomplete = 0;
    call->timed_out = 0;
    call->received = 0;
    call->retry_after = 0;
    call->status = 0;
    call->answer.len = 0;
    call->answer.data = NULL;

    if (!call->background) {
        ngx_http_ddbm_pending(ctx, 1);
        ctx->attempts++;
    }

    call->start = ngx_current_msec;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ddbm: DynamoDB %s, attempt %ui, %uz bytes: \"%V\"",
                   call->operation, call->attempts, call->body.len,
                   &call->body);

    return NGX_OK;
}


/* the subrequest is over; the parent is alive (it counts its subrequests) */
static ngx_int_t
ngx_http_ddbm_call_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_buf_t             *b;
    ngx_http_upstream_t   *u;
    ngx_http_ddbm_call_t  *call = data;

    /* an NGX_ERROR would terminate the client's request: we answer it */
    if (!call->in_flight) {
        return rc == NGX_ERROR ? NGX_OK : rc;
    }

    call->in_flight = 0;
    call->done = 1;

    if (!call->background) {
        ngx_http_ddbm_pending(call->ctx, -1);
    }

    ngx_http_ddbm_metrics_attempt(call, ngx_current_msec - call->start);

    call->rc = rc;
    call->status = sr->headers_out.status;

    u = sr->upstream;

    if (u == NULL || u->state == NULL || u->headers_in.status_n == 0) {
        /* no answer from DynamoDB: the status is NGINX's own */
        call->status = 0;

    } else {
        ngx_http_ddbm_keep_headers(call, u);
    }

    if (sr->out && sr->out->buf && !call->too_large) {
        b = sr->out->buf;
        call->answer.data = b->pos;
        call->answer.len = b->last - b->pos;
    }

    if (call->status && !call->too_large
        && !ngx_http_ddbm_answer_complete(u, call))
    {
        call->incomplete = 1;
        call->timed_out = (u->pipe && u->pipe->upstream_error
                           && !u->pipe->upstream_eof);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "ddbm: DynamoDB %s done: rc %i, status %ui, "
                   "%uz bytes", call->operation, rc, call->status,
                   call->answer.len);

    if (call->background) {
        ngx_http_ddbm_status_done(call);
        return NGX_OK;
    }

    return rc == NGX_ERROR ? NGX_OK : rc;
}


/*
 * Once DynamoDB's status line is through, NGINX ends the subrequest with
 * rc 0 even when the body stalls or is cut short: look at how it ended.
 */
static ngx_uint_t
ngx_http_ddbm_answer_complete(ngx_http_upstream_t *u,
    ngx_http_ddbm_call_t *call)
{
    if (u->headers_in.content_length_n >= 0) {
        return (off_t) call->answer.len == u->headers_in.content_length_n;
    }

    if (u->headers_in.chunked) {
        /* the last chunk seen: the pipe is done; else it was cut */
        return u->buffering ? (u->pipe && u->pipe->upstream_done)
                            : u->length == 0;
    }

    /* neither: the answer ends where the connection does */
    return !(u->pipe && u->pipe->upstream_error);
}


/*
 * A finished call: OK, canceled (a transaction, for the pattern to
 * decide), retried later (NGX_AGAIN), or failed with the answer to give
 * already chosen.
 */
static ngx_int_t
ngx_http_ddbm_classify(ngx_http_ddbm_call_t *call)
{
    const char                *busy;
    ngx_uint_t                 throttled, retryable, unreadable, level;
    ngx_http_request_t        *r;
    ngx_http_ddbm_ctx_t       *ctx;
    ngx_http_ddbm_loc_conf_t  *dlcf;
    dm_allocator_t             a;

    ctx = call->ctx;
    r = ctx->request;
    dlcf = ctx->conf;

    call->result = NGX_HTTP_DDBM_CALL_FAILED;
    call->http_status = NGX_HTTP_BAD_GATEWAY;

    /*
     * Only DynamoDB's own error answer (a 4xx it could be read from) says
     * that this attempt changed nothing; sticky for the call's retries.
     */
    if (call->too_large || call->incomplete || call->status == 0
        || call->status >= 500)
    {
        call->ambiguous = 1;
    }

    if (call->too_large) {
        call->failure = "dynamodb_answer_too_large";
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ddbm: DynamoDB %s answer of more than %O bytes does "
                      "not fit subrequest_output_buffer_size of \"%V\"",
                      call->operation, call->received, &dlcf->backend);
        ngx_http_ddbm_metrics_error(call, "too_large", 0, 0);
        return NGX_OK;
    }

    if (call->incomplete) {
        if (call->timed_out) {
            call->http_status = NGX_HTTP_GATEWAY_TIME_OUT;
            call->failure = "dynamodb_timeout";
        } else {
            call->failure = "dynamodb_answer_unreadable";
        }

        if (call->sr->upstream->headers_in.content_length_n >= 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ddbm: DynamoDB %s answer cut short (%s): %uz of "
                          "%O bytes", call->operation,
                          call->timed_out ? "timed out" : "closed",
                          call->answer.len,
                          call->sr->upstream->headers_in.content_length_n);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ddbm: DynamoDB %s chunked answer cut short (%s) "
                          "after %uz bytes", call->operation,
                          call->timed_out ? "timed out" : "closed",
                          call->answer.len);
        }

        return ngx_http_ddbm_transient(call, call->timed_out ? "timeout"
                                                             : "cut_short");
    }

    unreadable = 0;

    if (call->status == NGX_HTTP_OK && call->rc != NGX_ERROR) {

        if (ngx_http_ddbm_answer_sound(call)) {
            call->result = NGX_HTTP_DDBM_CALL_OK;

            if (!call->no_quota) {
                ngx_http_ddbm_retry_quota_give(call->attempts == 1
                                               ? 1 : NGX_HTTP_DDBM_RETRY_COST);
            }

            return NGX_OK;
        }

        /*
         * A 200 that is not DynamoDB's JSON: whether a write was applied
         * is unknown, so it is never taken for a success.  The same
         * request again (a transaction with the same ClientRequestToken,
         * applied at most once) tells.
         */
        unreadable = 1;
        call->ambiguous = 1;
    }

    if (!unreadable && (call->status == 0 || call->status == NGX_HTTP_OK)) {

        call->ambiguous = 1;

        if (call->rc == NGX_HTTP_GATEWAY_TIME_OUT) {
            call->http_status = NGX_HTTP_GATEWAY_TIME_OUT;
            call->failure = "dynamodb_timeout";

        } else if (call->rc == NGX_OK || call->rc == NGX_ERROR) {
            /* something answered, but not with an HTTP answer we read */
            call->failure = "dynamodb_answer_unreadable";

        } else {
            call->failure = "dynamodb_unreachable";
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ddbm: DynamoDB %s failed: %s (rc %i)",
                      call->operation, call->failure, call->rc);

        return ngx_http_ddbm_transient(call, ngx_http_ddbm_error_kind(call));
    }

    ngx_http_ddbm_allocator(&a, r->pool);

    if (unreadable
        || dm_ddb_read_with(call->answer.data, call->answer.len, NULL,
                            &call->error, &a)
           != 0)
    {
        /* not DynamoDB's JSON (a proxy's HTML page...): say so, not why */
        call->ambiguous = 1;
        call->error.error_type[0] = '\0';
        ngx_cpystrn((u_char *) call->error.error_message,
                    (u_char *) "(the answer is not DynamoDB JSON)",
                    sizeof(call->error.error_message));
    }

    if (dm_ddb_is_error(&call->error, "TransactionCanceledException")
        && ngx_strcmp(call->operation, "TransactWriteItems") == 0)
    {
        busy = call->retry_busy ? ngx_http_ddbm_tx_busy(&call->error) : NULL;

        /*
         * nothing written, and nothing wrong with the request: the same
         * body again (its ClientRequestToken with it) after a backoff
         */
        throttled = busy && ngx_strcmp(busy, "ThrottlingException") == 0;

        if (busy != NULL
            && ngx_http_ddbm_retry(call, throttled
                                   ? "transaction cancelled: throttled"
                                   : "transaction cancelled: conflict",
                                   "TransactionCanceledException", throttled))
        {
            return NGX_AGAIN;
        }

        call->result = NGX_HTTP_DDBM_CALL_CANCELED;
        ngx_http_ddbm_metrics_error(call, "TransactionCanceledException",
                                    0, 0);
        return NGX_OK;
    }

    throttled = dm_ddb_is_error(&call->error, "ThrottlingException")
        || dm_ddb_is_error(&call->error,
                           "ProvisionedThroughputExceededException")
        || dm_ddb_is_error(&call->error, "RequestLimitExceeded");

    retryable = throttled || call->status >= 500 || unreadable
        || dm_ddb_is_error(&call->error, "TransactionConflictException")
        || dm_ddb_is_error(&call->error, "TransactionInProgressException");

    if (retryable
        && ngx_http_ddbm_retry(call,
                               call->error.error_type[0]
                               ? call->error.error_type
                               : unreadable ? "answer that is not DynamoDB JSON"
                               : "server error",
                               ngx_http_ddbm_error_kind(call), throttled))
    {
        return NGX_AGAIN;
    }

    level = NGX_LOG_ERR;

    if (unreadable) {
        call->http_status = NGX_HTTP_BAD_GATEWAY;
        call->failure = "dynamodb_answer_unreadable";

    } else if (throttled) {
        call->http_status = NGX_HTTP_SERVICE_UNAVAILABLE;
        call->failure = "dynamodb_throttled";

    } else if (retryable) {
        call->http_status = NGX_HTTP_SERVICE_UNAVAILABLE;
        call->failure = "dynamodb_unavailable";

    } else if (dm_ddb_is_error(&call->error, "ResourceNotFoundException")) {
        call->http_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        call->failure = "dynamodb_table_not_found";
        level = NGX_LOG_CRIT;

    } else {
        /* any other 4xx, a cancellation of what is not a transaction too */
        call->http_status = NGX_HTTP_BAD_GATEWAY;
        call->failure = "dynamodb_error";
    }

    ngx_log_error(level, r->connection->log, 0,
                  "ddbm: DynamoDB %s failed after %ui attempt(s): "
                  "%ui %s: \"%s\"", call->operation, call->attempts,
                  call->status,
                  call->error.error_type[0] ? call->error.error_type
                                            : "(no error type)",
                  call->error.error_message);

    ngx_http_ddbm_metrics_error(call, ngx_http_ddbm_error_kind(call),
                                throttled, 0);

    return NGX_OK;
}


/*
 * A 200 answer that no pattern reads on (a transaction's, DescribeTable's)
 * must still be DynamoDB's JSON to count as a success; the readers of
 * the other answers check theirs as they read them.
 */
static ngx_uint_t
ngx_http_ddbm_answer_sound(ngx_http_ddbm_call_t *call)
{
    dm_allocator_t   a;
    dm_ddb_answer_t  answer;

    if (ngx_strcmp(call->operation, "TransactWriteItems") != 0
        && ngx_strcmp(call->operation, "DescribeTable") != 0)
    {
        return 1;
    }

    ngx_http_ddbm_allocator(&a, call->ctx->request->pool);

    return dm_ddb_read_with(call->answer.data, call->answer.len, NULL,
                            &answer, &a)
           == 0;
}


/*
 * No answer, or one cut short: a connection refused or reset, a timeout.
 * Retried like a 5xx, as the SDKs' standard mode retries transient errors
 * (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html):
 * a transaction goes again with the same ClientRequestToken, so it is
 * applied at most once whichever attempt reached DynamoDB.
 */
static ngx_int_t
ngx_http_ddbm_transient(ngx_http_ddbm_call_t *call, const char *kind)
{
    if (ngx_http_ddbm_retry(call, call->failure, kind, 0)) {
        return NGX_AGAIN;
    }

    ngx_http_ddbm_metrics_error(call, kind, 0, 0);

    return NGX_OK;
}


/* schedules the call again after a backoff, if it may be: 1, or 0 */
static ngx_uint_t
ngx_http_ddbm_retry(ngx_http_ddbm_call_t *call, const char *what,
    const char *kind, ngx_uint_t throttled)
{
    ngx_msec_t                 delay;
    ngx_http_ddbm_ctx_t       *ctx;
    ngx_http_ddbm_loc_conf_t  *dlcf;

    ctx = call->ctx;
    dlcf = ctx->conf;

    delay = ngx_http_ddbm_backoff(dlcf->retry_base, dlcf->retry_cap,
                                  call->attempts);

    if (call->retry_after) {
        /* DynamoDB's own word on when to come back, within our cap */
        delay = ngx_min(call->retry_after, dlcf->retry_cap);
    }

    if (call->attempts > dlcf->retries
        || ctx->attempts >= NGX_HTTP_DDBM_MAX_ATTEMPTS
        || !ngx_http_ddbm_retry_allowed(call, delay))
    {
        return 0;
    }

    ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                  "ddbm: DynamoDB %s: %ui %s, retry %ui in %Mms",
                  call->operation, call->status, what, call->attempts,
                  delay);

    ngx_http_ddbm_metrics_error(call, kind, throttled, 1);
    ctx->retries++;

    call->done = 0;
    ngx_http_ddbm_pending(ctx, 1);
    ngx_add_timer(&call->retry_timer, delay ? delay : 1);

    return 1;
}


/* no retry past the request's deadline, nor beyond the shared quota */
ngx_uint_t
ngx_http_ddbm_retry_allowed(ngx_http_ddbm_call_t *call, ngx_msec_t delay)
{
    ngx_http_ddbm_ctx_t  *ctx;

    ctx = call->ctx;

    if ((ngx_msec_int_t) (ngx_current_msec + delay - ctx->deadline) > 0) {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "ddbm: DynamoDB %s: no retry, ddbm_request_timeout "
                      "would pass", call->operation);
        return 0;
    }

    /* the status call's retries are its own: never the traffic's quota */
    if (!call->no_quota
        && !ngx_http_ddbm_retry_quota_take(call, NGX_HTTP_DDBM_RETRY_COST))
    {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "ddbm: DynamoDB %s: no retry, the retry quota is "
                      "spent", call->operation);
        return 0;
    }

    return 1;
}


const char *
ngx_http_ddbm_tx_busy(dm_ddb_answer_t *error)
{
    size_t       i;
    const char  *busy;

    busy = NULL;

    for (i = 0; i < error->ncancel; i++) {
        switch (error->cancel[i]) {

        case DM_CANCEL_NONE:
            break;

        case DM_CANCEL_THROTTLED:
            busy = "ThrottlingException";
            break;

        case DM_CANCEL_CONFLICT:
            if (busy == NULL) {
                busy = "TransactionConflictException";
            }

            break;

        default:
            return NULL;
        }
    }

    return busy;
}


/* what an attempt that failed ended as, for the metrics */
static const char *
ngx_http_ddbm_error_kind(ngx_http_ddbm_call_t *call)
{
    if (call->status == 0 || call->status == NGX_HTTP_OK) {
        if (call->rc == NGX_HTTP_GATEWAY_TIME_OUT) {
            return "timeout";
        }

        return (call->rc == NGX_OK || call->rc == NGX_ERROR) ? "unreadable"
                                                             : "unreachable";
    }

    if (call->error.error_type[0]) {
        return call->error.error_type;
    }

    return call->status >= 500 ? "http_5xx" : "other";
}


/*
 * Calls under way, retry timers included; the time they keep the request
 * waiting is $ddbm_ddb_time.
 */
static void
ngx_http_ddbm_pending(ngx_http_ddbm_ctx_t *ctx, ngx_int_t n)
{
    if (n > 0 && ctx->pending == 0) {
        ctx->wait_start = ngx_current_msec;
    }

    ctx->pending += n;

    if (n < 0 && ctx->pending == 0) {
        ctx->ddb_time += ngx_current_msec - ctx->wait_start;
    }
}


/*
 * From DynamoDB's headers: x-amzn-RequestId, for $ddbm_request_ids, and
 * x-amz-retry-after (ms), the pause DynamoDB asks for before a retry.
 */
static void
ngx_http_ddbm_keep_headers(ngx_http_ddbm_call_t *call, ngx_http_upstream_t *u)
{
    u_char               *p;
    ngx_int_t             n;
    ngx_uint_t            i;
    ngx_list_part_t      *part;
    ngx_table_elt_t      *h;
    ngx_http_ddbm_ctx_t  *ctx;

    ctx = call->ctx;
    part = &u->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("x-amz-retry-after") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "x-amz-retry-after",
                               h[i].key.len) == 0)
        {
            n = ngx_atoi(h[i].value.data, h[i].value.len);
            call->retry_after = (n > 0) ? (ngx_msec_t) n : 0;
            continue;
        }

        if (h[i].key.len != sizeof("x-amzn-RequestId") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "x-amzn-RequestId",
                               h[i].key.len) != 0
            || ctx->request_ids.len + 1 + h[i].value.len > 1024)
        {
            continue;
        }

        p = ngx_pnalloc(ctx->request->pool,
                        ctx->request_ids.len + 1 + h[i].value.len);
        if (p == NULL) {
            return;
        }

        ngx_memcpy(p, ctx->request_ids.data, ctx->request_ids.len);
        n = ctx->request_ids.len;

        if (n) {
            p[n++] = ',';
        }

        ngx_memcpy(p + n, h[i].value.data, h[i].value.len);
        ctx->request_ids.data = p;
        ctx->request_ids.len = n + h[i].value.len;
    }
}


/*
 * "Exponential backoff and jitter", AWS Architecture Blog, and the AWS
 * SDKs' standard retry mode (docs.aws.amazon.com/sdkref/latest/guide/
 * feature-retry-behavior.html): full jitter, a random pause between 0
 * and min(cap, base * 2^(n-1)).  The shift is clamped so that no retry
 * count makes it wrap.
 */
ngx_msec_t
ngx_http_ddbm_backoff(ngx_msec_t base, ngx_msec_t cap, ngx_uint_t n)
{
    ngx_msec_t  ceiling;

    n = ngx_min(ngx_max(n, 1), 20);

    ceiling = base << (n - 1);
    if (ceiling > cap || ceiling < base) {
        ceiling = cap;
    }

    return (ngx_msec_t) ngx_random() % (ceiling + 1);
}


static void
ngx_http_ddbm_retry_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_ddbm_call_t  *call;

    call = ev->data;
    r = call->ctx->request;
    c = r->connection;

    ngx_http_ddbm_pending(call->ctx, -1);

    switch (ngx_http_ddbm_issue(call)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        /* failed without a subrequest: nothing else will wake the parent */
        ngx_http_post_request(r, NULL);
        break;

    default:
        call->done = 1;
        call->status = 0;
        call->rc = NGX_ERROR;
        ngx_http_post_request(r, NULL);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_ddbm_calls_cleanup(void *data)
{
    ngx_http_ddbm_ctx_t  *ctx = data;

    ngx_http_ddbm_stop_timers(ctx);
}


void
ngx_http_ddbm_stop_timers(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_uint_t  i;

    for (i = 0; i < ctx->ncalls; i++) {
        if (ctx->calls[i]->retry_timer.timer_set) {
            ngx_del_timer(&ctx->calls[i]->retry_timer);
            ngx_http_ddbm_pending(ctx, -1);
        }
    }
}


void
ngx_http_ddbm_reset_calls(ngx_http_ddbm_ctx_t *ctx)
{
    /* only between rounds: nothing is in flight, no timer is set */
    ngx_memzero(ctx->calls, sizeof(ctx->calls));
    ctx->ncalls = 0;
}


/* ---- answers of calls -------------------------------------------------- */

ngx_http_ddbm_call_t *
ngx_http_ddbm_find_call(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag)
{
    ngx_uint_t  i;

    for (i = 0; i < ctx->ncalls; i++) {
        if (ctx->calls[i]->tag == tag) {
            return ctx->calls[i];
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_ddbm_call_answer(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_http_ddbm_call_t **callp)
{
    ngx_http_ddbm_call_t  *call;

    call = ngx_http_ddbm_find_call(ctx, tag);

    if (call == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ctx->request->connection->log, 0,
                      "ddbm: pattern \"%V\" reads call %ui it never made",
                      &ctx->pattern->name, tag);
        return NGX_ERROR;
    }

    if (call->result != NGX_HTTP_DDBM_CALL_OK) {
        return ngx_http_ddbm_respond_call_failure(ctx, call);
    }

    *callp = call;

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_read_answer(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    dm_item_handler_t *h, dm_ddb_answer_t *answer)
{
    ngx_int_t              rc;
    dm_allocator_t         a;
    ngx_http_ddbm_call_t  *call;

    rc = ngx_http_ddbm_call_answer(ctx, tag, &call);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_ddbm_allocator(&a, ctx->request->pool);

    if (dm_ddb_read_with(call->answer.data, call->answer.len, h, answer, &a)
        != 0)
    {
        return ngx_http_ddbm_respond_unreadable(ctx, call,
                                                answer->error_message);
    }

    return NGX_OK;
}


ngx_http_ddbm_call_t *
ngx_http_ddbm_subrequest_call(ngx_http_request_t *r)
{
    if (r->post_subrequest == NULL
        || r->post_subrequest->handler != ngx_http_ddbm_call_done)
    {
        return NULL;
    }

    return r->post_subrequest->data;
}
