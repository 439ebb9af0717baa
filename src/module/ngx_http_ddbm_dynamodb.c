/*
 * One DynamoDB call = one subrequest to the internal location named by
 * ddbm_backend, which proxies to the endpoint with an upstream keepalive
 * pool.  The body is ours (never the client's), the headers come through
 * the $ddbm_* variables, the answer is kept in memory.  Throttling and
 * server errors are retried with exponential backoff on a timer; nothing
 * here blocks the worker.
 */

#include "ngx_http_ddbm.h"


static ngx_int_t ngx_http_ddbm_issue(ngx_http_ddbm_call_t *call);
static ngx_int_t ngx_http_ddbm_call_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_http_ddbm_retry_handler(ngx_event_t *ev);
static void ngx_http_ddbm_calls_cleanup(void *data);
static ngx_http_ddbm_call_t *ngx_http_ddbm_subrequest_call(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_ddbm_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


enum {
    NGX_HTTP_DDBM_VAR_TARGET = 0,
    NGX_HTTP_DDBM_VAR_DATE,
    NGX_HTTP_DDBM_VAR_AUTHORIZATION,
    NGX_HTTP_DDBM_VAR_SECURITY_TOKEN,
    NGX_HTTP_DDBM_VAR_HOST
};


static ngx_http_variable_t  ngx_http_ddbm_vars[] = {

    { ngx_string("ddbm_target"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_TARGET, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_date"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_DATE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_authorization"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_AUTHORIZATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_security_token"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_SECURITY_TOKEN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ddbm_host"), NULL, ngx_http_ddbm_variable,
      NGX_HTTP_DDBM_VAR_HOST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* ---- memory from the request pool -------------------------------------- */

static void *
ngx_http_ddbm_pool_grow(void *pool, void *old, size_t used, size_t cap)
{
    void  *p;

    if (cap == 0) {
        if (old) {
            ngx_pfree(pool, old);
        }
        return NULL;
    }

    p = ngx_palloc(pool, cap);
    if (p == NULL) {
        return NULL;
    }

    if (old && used) {
        ngx_memcpy(p, old, used);
    }

    if (old) {
        /* frees only large blocks, which is what a grown buffer is */
        ngx_pfree(pool, old);
    }

    return p;
}


void
ngx_http_ddbm_buf_init(dm_buf_t *b, ngx_pool_t *pool)
{
    dm_buf_init(b, ngx_http_ddbm_pool_grow, pool);
}


/* yajl asks realloc without the old size: keep it in front of the block */

static void *
ngx_http_ddbm_yajl_malloc(void *pool, size_t size)
{
    size_t  *p;

    p = ngx_palloc(pool, size + sizeof(size_t));
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return p + 1;
}


static void *
ngx_http_ddbm_yajl_realloc(void *pool, void *old, size_t size)
{
    size_t  *p, *o;

    p = ngx_http_ddbm_yajl_malloc(pool, size);
    if (p == NULL || old == NULL) {
        return p;
    }

    o = (size_t *) old - 1;
    ngx_memcpy(p, old, ngx_min(*o, size));
    ngx_pfree(pool, o);

    return p;
}


static void
ngx_http_ddbm_yajl_free(void *pool, void *p)
{
    if (p) {
        ngx_pfree(pool, (size_t *) p - 1);
    }
}


void
ngx_http_ddbm_allocator(dm_allocator_t *a, ngx_pool_t *pool)
{
    a->malloc = ngx_http_ddbm_yajl_malloc;
    a->realloc = ngx_http_ddbm_yajl_realloc;
    a->free = ngx_http_ddbm_yajl_free;
    a->ctx = pool;
}


/* ---- calls ------------------------------------------------------------- */

ngx_http_ddbm_call_t *
ngx_http_ddbm_call(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    const char *operation, dm_buf_t *b)
{
    return ngx_http_ddbm_call_after(ctx, tag, operation, b, 0);
}


ngx_http_ddbm_call_t *
ngx_http_ddbm_call_after(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    const char *operation, dm_buf_t *b, ngx_msec_t delay)
{
    size_t                 len;
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

    call->ctx = ctx;
    call->tag = tag;
    call->operation = operation;
    call->body.data = b->data;
    call->body.len = b->len;

    len = sizeof(DM_DDB_TARGET_PREFIX) - 1 + ngx_strlen(operation);
    call->target.data = ngx_pnalloc(r->pool, len);
    if (call->target.data == NULL) {
        return NULL;
    }
    call->target.len = ngx_sprintf(call->target.data, "%s%s",
                                   DM_DDB_TARGET_PREFIX, operation)
                       - call->target.data;

    call->retry_timer.handler = ngx_http_ddbm_retry_handler;
    call->retry_timer.data = call;
    call->retry_timer.log = r->connection->log;

    ctx->calls[ctx->ncalls++] = call;

    if (delay) {
        /* the retry timer issues it: counted as pending until then */
        ctx->pending++;
        ngx_add_timer(&call->retry_timer, delay);
        return call;
    }

    if (ngx_http_ddbm_issue(call) != NGX_OK) {
        return NULL;
    }

    return call;
}


static ngx_int_t
ngx_http_ddbm_issue(ngx_http_ddbm_call_t *call)
{
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_http_request_t           *r, *sr;
    ngx_http_ddbm_ctx_t          *ctx;
    ngx_http_request_body_t      *rb;
    ngx_http_ddbm_loc_conf_t     *dlcf;
    ngx_http_post_subrequest_t   *ps;

    ctx = call->ctx;
    r = ctx->request;
    dlcf = ctx->conf;

    dm_sigv4_amz_date(ngx_time(), call->amz_date);

    if (dm_sigv4_sign_dynamodb(&dlcf->credentials->creds,
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
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_ddbm_call_done;
    ps->data = call;

    if (ngx_http_subrequest(r, &dlcf->backend, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* our own method, body and length: never the client's */

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (b == NULL || cl == NULL || rb == NULL) {
        return NGX_ERROR;
    }

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
    call->status = 0;
    call->answer.len = 0;
    call->answer.data = NULL;

    ctx->pending++;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ddbm: DynamoDB %s, attempt %ui, %uz bytes: \"%V\"",
                   call->operation, call->attempts, call->body.len,
                   &call->body);

    return NGX_OK;
}


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
    call->ctx->pending--;

    call->rc = rc;
    call->status = sr->headers_out.status;

    if (sr->upstream == NULL || sr->upstream->state == NULL
        || sr->upstream->headers_in.status_n == 0)
    {
        /* no answer from DynamoDB: the status is NGINX's own */
        call->status = 0;
    }

    if (sr->out && sr->out->buf && !call->too_large) {
        b = sr->out->buf;
        call->answer.data = b->pos;
        call->answer.len = b->last - b->pos;
    }

    u = sr->upstream;

    /*
     * Once DynamoDB's status line is through, NGINX ends the subrequest
     * with rc 0 even when the body stalls or is cut: compare the length.
     */
    if (call->status && !call->too_large
        && u->headers_in.content_length_n >= 0
        && (off_t) call->answer.len != u->headers_in.content_length_n)
    {
        call->incomplete = 1;
        call->timed_out = (u->pipe && u->pipe->upstream_error
                           && !u->pipe->upstream_eof);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "ddbm: DynamoDB %s done: rc %i, status %ui, "
                   "%uz bytes", call->operation, rc, call->status,
                   call->answer.len);

    return rc == NGX_ERROR ? NGX_OK : rc;
}


/*
 * A finished call: OK, canceled (for the pattern to decide), retried later
 * (NGX_AGAIN), or failed with the answer to give already chosen.
 */
ngx_int_t
ngx_http_ddbm_classify(ngx_http_ddbm_call_t *call)
{
    ngx_msec_t                 delay;
    ngx_uint_t                 throttled, retryable, level;
    ngx_http_request_t        *r;
    ngx_http_ddbm_loc_conf_t  *dlcf;
    dm_allocator_t             a;

    r = call->ctx->request;
    dlcf = call->ctx->conf;

    call->result = NGX_HTTP_DDBM_CALL_FAILED;
    call->http_status = NGX_HTTP_BAD_GATEWAY;

    if (call->too_large) {
        call->failure = "dynamodb_answer_too_large";
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ddbm: DynamoDB %s answer of more than %O bytes does "
                      "not fit subrequest_output_buffer_size of \"%V\"",
                      call->operation, call->received, &dlcf->backend);
        return NGX_OK;
    }

    if (call->incomplete) {
        if (call->timed_out) {
            call->http_status = NGX_HTTP_GATEWAY_TIME_OUT;
            call->failure = "dynamodb_timeout";
        } else {
            call->failure = "dynamodb_answer_unreadable";
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ddbm: DynamoDB %s answer cut short (%s): %uz of "
                      "%O bytes", call->operation,
                      call->timed_out ? "timed out" : "closed",
                      call->answer.len,
                      call->sr->upstream->headers_in.content_length_n);
        return NGX_OK;
    }

    if (call->status == NGX_HTTP_OK && call->rc != NGX_ERROR) {
        call->result = NGX_HTTP_DDBM_CALL_OK;
        return NGX_OK;
    }

    if (call->status == 0 || call->status == NGX_HTTP_OK) {

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
        return NGX_OK;
    }

    ngx_http_ddbm_allocator(&a, r->pool);

    if (dm_ddb_read_with(call->answer.data, call->answer.len, NULL,
                         &call->error, &a)
        != 0)
    {
        /* not DynamoDB's JSON (a proxy's HTML page...): say so, not why */
        call->error.error_type[0] = '\0';
        ngx_cpystrn((u_char *) call->error.error_message,
                    (u_char *) "(the answer is not DynamoDB JSON)",
                    sizeof(call->error.error_message));
    }

    if (dm_ddb_is_error(&call->error, "TransactionCanceledException")) {
        call->result = NGX_HTTP_DDBM_CALL_CANCELED;
        return NGX_OK;
    }

    throttled = dm_ddb_is_error(&call->error, "ThrottlingException")
        || dm_ddb_is_error(&call->error,
                           "ProvisionedThroughputExceededException")
        || dm_ddb_is_error(&call->error, "RequestLimitExceeded");

    retryable = throttled || call->status >= 500
        || dm_ddb_is_error(&call->error, "TransactionConflictException")
        || dm_ddb_is_error(&call->error, "TransactionInProgressException");

    if (retryable && call->attempts <= dlcf->retries) {
        /* exponential backoff with full jitter */
        delay = dlcf->retry_base << (call->attempts - 1);
        delay = delay / 2 + (ngx_random() % (delay / 2 + 1));

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ddbm: DynamoDB %s: %ui %s, retry %ui in %Mms",
                      call->operation, call->status,
                      call->error.error_type[0] ? call->error.error_type
                                                : "server error",
                      call->attempts, delay);

        call->done = 0;
        call->ctx->pending++;
        ngx_add_timer(&call->retry_timer, delay);

        return NGX_AGAIN;
    }

    level = NGX_LOG_ERR;

    if (throttled) {
        call->http_status = NGX_HTTP_SERVICE_UNAVAILABLE;
        call->failure = "dynamodb_throttled";

    } else if (call->status >= 500 || retryable) {
        call->http_status = NGX_HTTP_SERVICE_UNAVAILABLE;
        call->failure = "dynamodb_unavailable";

    } else if (dm_ddb_is_error(&call->error, "ResourceNotFoundException")) {
        call->http_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        call->failure = "dynamodb_table_not_found";
        level = NGX_LOG_CRIT;

    } else {
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

    return NGX_OK;
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

    call->ctx->pending--;

    if (ngx_http_ddbm_issue(call) != NGX_OK) {
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
    ngx_uint_t            i;
    ngx_http_ddbm_ctx_t  *ctx = data;

    for (i = 0; i < NGX_HTTP_DDBM_MAX_CALLS; i++) {
        if (ctx->calls[i] && ctx->calls[i]->retry_timer.timer_set) {
            ngx_del_timer(&ctx->calls[i]->retry_timer);
        }
    }
}


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


void
ngx_http_ddbm_reset_calls(ngx_http_ddbm_ctx_t *ctx)
{
    /* only between rounds: nothing is in flight, no timer is set */
    ngx_memzero(ctx->calls, sizeof(ctx->calls));
    ctx->ncalls = 0;
}


/* ---- the answer filter ------------------------------------------------- */

static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


/*
 * An answer larger than subrequest_output_buffer_size makes NGINX's
 * in-memory collector fail with NGX_ERROR, and that marks the client's
 * connection failed: the client would get no answer at all.  Ahead of it,
 * an oversized answer is dropped here and the call flagged, so the client
 * gets a 502 that says so.
 */
static ngx_int_t
ngx_http_ddbm_answer_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    off_t                      size, limit;
    ngx_chain_t               *cl;
    ngx_http_ddbm_call_t      *call;
    ngx_http_core_loc_conf_t  *clcf;

    call = ngx_http_ddbm_subrequest_call(r);

    if (call == NULL || !r->subrequest_in_memory) {
        return ngx_http_next_body_filter(r, in);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    limit = clcf->subrequest_output_buffer_size;

    size = 0;
    for (cl = in; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (!call->too_large
        && (r->headers_out.content_length_n > limit
            || call->received + size > limit))
    {
        call->too_large = 1;
    }

    call->received += size;

    if (!call->too_large) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_answer_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ddbm_answer_filter;

    return NGX_OK;
}


/* ---- variables for the internal location ------------------------------ */

static ngx_http_ddbm_call_t *
ngx_http_ddbm_subrequest_call(ngx_http_request_t *r)
{
    if (r->post_subrequest == NULL
        || r->post_subrequest->handler != ngx_http_ddbm_call_done)
    {
        return NULL;
    }

    return r->post_subrequest->data;
}


static ngx_int_t
ngx_http_ddbm_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    const char            *token;
    ngx_http_ddbm_call_t  *call;

    call = ngx_http_ddbm_subrequest_call(r);
    if (call == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    switch (data) {

    case NGX_HTTP_DDBM_VAR_TARGET:
        v->data = call->target.data;
        v->len = call->target.len;
        break;

    case NGX_HTTP_DDBM_VAR_DATE:
        v->data = (u_char *) call->amz_date;
        v->len = DM_SIGV4_AMZ_DATE_LEN;
        break;

    case NGX_HTTP_DDBM_VAR_AUTHORIZATION:
        v->data = (u_char *) call->authorization;
        v->len = ngx_strlen(call->authorization);
        break;

    case NGX_HTTP_DDBM_VAR_SECURITY_TOKEN:
        token = call->ctx->conf->credentials->creds.session_token;
        v->data = (u_char *) (token ? token : "");
        v->len = token ? ngx_strlen(token) : 0;
        break;

    default: /* NGX_HTTP_DDBM_VAR_HOST */
        v->data = call->ctx->conf->host.data;
        v->len = call->ctx->conf->host.len;
        break;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_variables_add(ngx_conf_t *cf)
{
    return ngx_http_ddbm_add_variables(cf, ngx_http_ddbm_vars);
}


ngx_int_t
ngx_http_ddbm_add_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
