/*
 * GET /health: whether NGINX reaches DynamoDB with working credentials and
 * the table exists, answered from a status all workers share.
 *
 * DescribeTable is a control plane call, throttled per account: it is made
 * at most once per ddbm_health_interval per table, endpoint and backend,
 * by whichever worker takes the slot's lease first (a lease with an
 * expiry, so a worker that dies holding it stops nobody for long).  A
 * /health request that finds the status due makes the call itself and
 * answers from it; every other one answers from the status.  Requests of
 * the other patterns that use ddbm_cache refresh it too, with a call
 * nobody waits for (a background subrequest), because the cache needs the
 * table's identity: DescribeTable's TableId and CreationDateTime.  When
 * they change (the table was deleted and created again) the slot's
 * generation changes, and no entry made under another generation is
 * served (ngx_http_ddbm_cache.c).
 *
 * The status call's retries never draw from the shared retry quota: a
 * throttled control plane must not leave the data plane without retries.
 */

#include "ngx_http_ddbm.h"


#define NGX_HTTP_DDBM_STATUS_ZONE   "ddbm_status"
#define NGX_HTTP_DDBM_STATUS_SLOTS  64
#define NGX_HTTP_DDBM_STATUS_KEY    640


enum {
    NGX_HTTP_DDBM_STATUS_FOUND = 0,
    NGX_HTTP_DDBM_STATUS_NOT_FOUND,
    NGX_HTTP_DDBM_STATUS_FAILED
};


struct ngx_http_ddbm_status_slot_s {
    ngx_atomic_t                 lease;        /* msec it ends at, 0: none */
    ngx_atomic_t                 checked;      /* msec of the last answer */
    ngx_atomic_t                 failure;      /* NGX_HTTP_DDBM_STATUS_* */
    ngx_atomic_t                 identity;     /* 0: not known */
    ngx_atomic_t                 generation;
    size_t                       len;          /* of key, 0: a free slot */
    u_char                       key[NGX_HTTP_DDBM_STATUS_KEY];
};


typedef struct {
    ngx_slab_pool_t             *shpool;
    ngx_http_ddbm_status_slot_t *slots;
} ngx_http_ddbm_status_zone_t;


static ngx_int_t ngx_http_ddbm_status_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_ddbm_status_slot_t *ngx_http_ddbm_status_slot(
    ngx_http_ddbm_ctx_t *ctx);
static ngx_uint_t ngx_http_ddbm_status_take(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_status_slot_t *slot);
static void ngx_http_ddbm_status_record(ngx_http_ddbm_call_t *call,
    ngx_http_ddbm_status_slot_t *slot);
static ngx_int_t ngx_http_ddbm_describe(ngx_http_ddbm_ctx_t *ctx,
    dm_buf_t *b);


static ngx_shm_zone_t  *ngx_http_ddbm_status_shm;


ngx_int_t
ngx_http_ddbm_status_zone(ngx_conf_t *cf)
{
    ngx_str_t  name;

    ngx_str_set(&name, NGX_HTTP_DDBM_STATUS_ZONE);

    ngx_http_ddbm_status_shm = ngx_shared_memory_add(cf, &name,
        8 * ngx_pagesize
        + NGX_HTTP_DDBM_STATUS_SLOTS * sizeof(ngx_http_ddbm_status_slot_t),
        &ngx_http_ddbm_module);
    if (ngx_http_ddbm_status_shm == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_ddbm_status_shm->data == NULL) {
        ngx_http_ddbm_status_shm->data = ngx_pcalloc(cf->pool,
                                          sizeof(ngx_http_ddbm_status_zone_t));
        if (ngx_http_ddbm_status_shm->data == NULL) {
            return NGX_ERROR;
        }

        ngx_http_ddbm_status_shm->init = ngx_http_ddbm_status_init_zone;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ddbm_status_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ddbm_status_zone_t  *oz = data;

    size_t                        size;
    ngx_http_ddbm_status_zone_t  *z;

    z = shm_zone->data;

    if (oz) {
        /* a reload: the status and the generations go on */
        *z = *oz;
        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists && z->shpool->data) {
        z->slots = z->shpool->data;
        return NGX_OK;
    }

    size = NGX_HTTP_DDBM_STATUS_SLOTS * sizeof(ngx_http_ddbm_status_slot_t);

    z->slots = ngx_slab_alloc(z->shpool, size);
    if (z->slots == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(z->slots, size);
    z->shpool->data = z->slots;

    return NGX_OK;
}


/*
 * The slot of the location's table, endpoint, region and backend (test
 * set-ups reach one table through several backends): found or taken on
 * first use, then kept in the worker's copy of the configuration.  NULL
 * when every slot is taken.
 */
static ngx_http_ddbm_status_slot_t *
ngx_http_ddbm_status_slot(ngx_http_ddbm_ctx_t *ctx)
{
    u_char                        key[NGX_HTTP_DDBM_STATUS_KEY], *p;
    size_t                        len;
    ngx_uint_t                    i;
    ngx_http_ddbm_loc_conf_t     *dlcf;
    ngx_http_ddbm_status_slot_t  *slot, *free;
    ngx_http_ddbm_status_zone_t  *z;

    dlcf = ctx->conf;

    if (dlcf->status) {
        return dlcf->status;
    }

    if (ngx_http_ddbm_status_shm == NULL) {
        return NULL;
    }

    len = dlcf->table.len + dlcf->host.len + dlcf->region.len
          + dlcf->backend.len + 3;

    if (len > NGX_HTTP_DDBM_STATUS_KEY) {
        return NULL;
    }

    p = ngx_cpymem(key, dlcf->table.data, dlcf->table.len);
    *p++ = '\n';
    p = ngx_cpymem(p, dlcf->host.data, dlcf->host.len);
    *p++ = '\n';
    p = ngx_cpymem(p, dlcf->region.data, dlcf->region.len);
    *p++ = '\n';
    ngx_memcpy(p, dlcf->backend.data, dlcf->backend.len);

    z = ngx_http_ddbm_status_shm->data;
    free = NULL;
    slot = NULL;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (i = 0; i < NGX_HTTP_DDBM_STATUS_SLOTS; i++) {
        if (z->slots[i].len == 0) {
            if (free == NULL) {
                free = &z->slots[i];
            }
            continue;
        }

        if (z->slots[i].len == len
            && ngx_memcmp(z->slots[i].key, key, len) == 0)
        {
            slot = &z->slots[i];
            break;
        }
    }

    if (slot == NULL && free != NULL) {
        slot = free;
        ngx_memcpy(slot->key, key, len);
        slot->generation = 1;
        slot->len = len;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (slot == NULL) {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "ddbm: more than %d tables and endpoints: table "
                      "\"%V\" has no shared status",
                      NGX_HTTP_DDBM_STATUS_SLOTS, &dlcf->table);
        return NULL;
    }

    dlcf->status = slot;

    return slot;
}


/* 1: the status is due and this worker now holds the lease to refresh it */
static ngx_uint_t
ngx_http_ddbm_status_take(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_status_slot_t *slot)
{
    ngx_msec_t    now;
    ngx_atomic_t  lease, checked;

    now = ngx_current_msec;
    checked = slot->checked;

    if (checked
        && (ngx_msec_int_t) (now - checked)
           < (ngx_msec_int_t) (ctx->conf->health_interval * 1000))
    {
        return 0;
    }

    lease = slot->lease;

    if (lease && (ngx_msec_int_t) (lease - now) > 0) {
        return 0;
    }

    /* long enough for the call and its retries; then anyone may take it */
    return ngx_atomic_cmp_set(&slot->lease, lease,
                              now + ctx->conf->request_timeout + 1000);
}


/* what a DescribeTable answer says of the table, into the slot */
static void
ngx_http_ddbm_status_record(ngx_http_ddbm_call_t *call,
    ngx_http_ddbm_status_slot_t *slot)
{
    u_char         buf[128], *p;
    json_t        *root, *table, *id, *created;
    ngx_uint_t     failure;
    ngx_atomic_t   identity;
    json_error_t   err;

    failure = NGX_HTTP_DDBM_STATUS_FAILED;
    identity = 0;
    root = NULL;

    if (call->status == NGX_HTTP_OK && call->answer.len) {
        root = json_loadb((const char *) call->answer.data, call->answer.len,
                          0, &err);
    }

    table = root ? json_object_get(root, "Table") : NULL;

    if (json_is_object(table)) {
        failure = NGX_HTTP_DDBM_STATUS_FOUND;

        id = json_object_get(table, "TableId");
        created = json_object_get(table, "CreationDateTime");

        p = ngx_snprintf(buf, sizeof(buf), "%s|%.6f",
                         json_is_string(id) ? json_string_value(id) : "",
                         json_is_number(created)
                         ? json_number_value(created) : 0.0);

        /* never 0, which stands for "not known" */
        identity = ((ngx_atomic_t) ngx_crc32_short(buf, p - buf) << 1) | 1;

    } else if (call->answer.len
               && ngx_strnstr(call->answer.data, "ResourceNotFoundException",
                              call->answer.len))
    {
        failure = NGX_HTTP_DDBM_STATUS_NOT_FOUND;
    }

    if (root) {
        json_decref(root);
    }

    if (failure != NGX_HTTP_DDBM_STATUS_FAILED) {
        /*
         * Another table under the name, or none: what the cache holds of
         * the one before is never served again.  A first identity is only
         * learned (entries made before it stay).
         */
        if (slot->identity != 0 && slot->identity != identity) {
            (void) ngx_atomic_fetch_add(&slot->generation, 1);

            ngx_log_error(NGX_LOG_NOTICE, call->ctx->request->connection->log,
                          0, "ddbm: table \"%V\" %s: cached entries of the "
                          "one before are dropped", &call->ctx->conf->table,
                          identity ? "was created again" : "is gone");
        }

        slot->identity = identity;
    }

    slot->failure = failure;
    slot->checked = ngx_current_msec ? ngx_current_msec : 1;
    slot->lease = 0;
}


static ngx_int_t
ngx_http_ddbm_describe(ngx_http_ddbm_ctx_t *ctx, dm_buf_t *b)
{
    ngx_http_ddbm_buf_init(b, ctx->request->pool);

    dm_buf_append_str(b, "{\"TableName\":");
    dm_buf_json_string(b, ctx->conf->table.data, ctx->conf->table.len);
    dm_buf_append_str(b, "}");

    return b->failed ? NGX_ERROR : NGX_OK;
}


void
ngx_http_ddbm_status_refresh(ngx_http_ddbm_ctx_t *ctx)
{
    dm_buf_t                      b;
    ngx_http_ddbm_call_t         *call;
    ngx_http_ddbm_status_slot_t  *slot;

    slot = ngx_http_ddbm_status_slot(ctx);

    if (slot == NULL || !ngx_http_ddbm_status_take(ctx, slot)) {
        return;
    }

    if (ngx_http_ddbm_describe(ctx, &b) != NGX_OK) {
        slot->lease = 0;
        return;
    }

    call = ngx_http_ddbm_call_background(ctx, "DescribeTable", &b);

    if (call == NULL) {
        /* not sent: the next request may try */
        slot->lease = 0;
    }
}


void
ngx_http_ddbm_status_done(ngx_http_ddbm_call_t *call)
{
    ngx_http_ddbm_status_slot_t  *slot;

    slot = call->ctx->conf->status;

    if (slot) {
        ngx_http_ddbm_status_record(call, slot);
    }
}


ngx_uint_t
ngx_http_ddbm_status_generation(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_http_ddbm_status_slot_t  *slot;

    slot = ngx_http_ddbm_status_slot(ctx);

    return slot ? slot->generation : 0;
}


/* ---- the pattern ------------------------------------------------------- */

static ngx_int_t
ngx_http_ddbm_health_answer(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t failure)
{
    dm_buf_t  b;

    if (failure == NGX_HTTP_DDBM_STATUS_NOT_FOUND) {
        return ngx_http_ddbm_respond_unavailable(ctx,
                                                 "dynamodb_table_not_found",
                                                 "the database call failed");
    }

    if (failure != NGX_HTTP_DDBM_STATUS_FOUND) {
        return ngx_http_ddbm_respond_unavailable(ctx, "dynamodb_unavailable",
                                                 "the database call failed");
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    dm_buf_append_str(&b, "{\"status\":\"ok\",\"table\":");
    dm_buf_json_string(&b, ctx->conf->table.data, ctx->conf->table.len);
    dm_buf_append_str(&b, "}");

    if (b.failed) {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_respond(ctx, NGX_HTTP_OK, b.data, b.len);
}


static ngx_int_t
ngx_http_ddbm_health_start(ngx_http_ddbm_ctx_t *ctx)
{
    dm_buf_t                      b;
    ngx_msec_t                    age;
    ngx_http_ddbm_call_t         *call;
    ngx_http_ddbm_status_slot_t  *slot;

    slot = ngx_http_ddbm_status_slot(ctx);

    if (slot && !ngx_http_ddbm_status_take(ctx, slot)) {

        /*
         * A refresh is under way in another request.  Its status is not
         * known yet (the first), or is older than an interval and a
         * refresh (nobody asked for a while): this request asks too,
         * rather than call a node unhealthy, or healthy, on no evidence.
         * The status is the lease holder's to record.
         */
        age = ngx_current_msec - slot->checked;

        if (slot->checked == 0
            || age > (ngx_msec_t) ctx->conf->health_interval * 1000
                     + ctx->conf->request_timeout + 1000)
        {
            slot = NULL;
            goto call;
        }

        return ngx_http_ddbm_health_answer(ctx, slot->failure);
    }

call:

    if (ngx_http_ddbm_describe(ctx, &b) != NGX_OK) {
        return NGX_ERROR;
    }

    call = ngx_http_ddbm_call(ctx, 0, "DescribeTable", &b);
    if (call == NULL) {
        if (slot) {
            slot->lease = 0;
        }
        return NGX_ERROR;
    }

    call->no_quota = 1;
    ctx->data = slot;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_ddbm_health_resume(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_http_ddbm_call_t         *call;
    ngx_http_ddbm_status_slot_t  *slot;

    call = ngx_http_ddbm_find_call(ctx, 0);
    if (call == NULL) {
        return NGX_ERROR;
    }

    slot = ctx->data;

    if (slot) {
        ngx_http_ddbm_status_record(call, slot);
    }

    if (call->result == NGX_HTTP_DDBM_CALL_OK) {
        return ngx_http_ddbm_health_answer(ctx, NGX_HTTP_DDBM_STATUS_FOUND);
    }

    if (call->failure
        && ngx_strcmp(call->failure, "dynamodb_table_not_found") == 0)
    {
        /* unhealthy, not broken: a load balancer's 503 */
        call->http_status = NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return ngx_http_ddbm_respond_call_failure(ctx, call);
}


ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_health = {
    ngx_string("health"),
    NGX_HTTP_GET|NGX_HTTP_HEAD,
    0,                                     /* reads_body */
    0,                                     /* needs_identity */
    ngx_http_ddbm_health_start,
    ngx_http_ddbm_health_resume,
    NULL                                   /* route */
};
