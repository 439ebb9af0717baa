/*
 * Metrics: counters and histograms in one shared memory zone that every
 * worker adds to without a lock (atomic adds), read by a location with
 * ddbm_status in the Prometheus text format (0.0.4), or as JSON with
 * ?format=json.
 *
 *   per DynamoDB operation and table: attempts, errors by type,
 *   throttles, retries, a latency histogram per attempt;
 *   per API route, by its name: requests by status class, a latency
 *   histogram;
 *   the cache's hits and misses; per ddbm_cache zone, its entries and
 *   their bytes by list (positive, negative) and the entries freed by
 *   cause (kept in the zone itself); the credentials' source; token
 *   refusals by reason.
 *
 * The zone is made when the configuration has a ddbm_pattern, a
 * ddbm_route or a ddbm_status, and a reload keeps its counts (counters
 * only grow).  Routes are counted by name, not by pattern: a route keeps
 * its counts when a C pattern gives way to a declared route of the same
 * name.  Every name is listed from the start, 0s included: the C
 * patterns' first, then the configuration's, then earlier
 * configurations' ones the zone still holds.
 */

#include "ngx_http_ddbm.h"
#include "dm_jwt.h"


#define NGX_HTTP_DDBM_METRICS_ZONE     "ddbm_metrics"
#define NGX_HTTP_DDBM_METRICS_SIZE     (128 * 1024)
#define NGX_HTTP_DDBM_METRICS_VERSION  2

#define NGX_HTTP_DDBM_TABLES_MAX       8
#define NGX_HTTP_DDBM_ROUTES_MAX       32
#define NGX_HTTP_DDBM_ROUTE_NAME       64    /* with its '\0' */
#define NGX_HTTP_DDBM_BUCKETS          12
#define NGX_HTTP_DDBM_JWT_REASONS      16


static const char  *ngx_http_ddbm_operations[] = {
    "GetItem", "Query", "TransactWriteItems", "DescribeTable",
    "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "other"
};

#define NGX_HTTP_DDBM_OPS                                                    \
    (sizeof(ngx_http_ddbm_operations) / sizeof(ngx_http_ddbm_operations[0]))


/* what an attempt can end as: DynamoDB's error types and our own */
static const char  *ngx_http_ddbm_error_types[] = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailableException",
    "TransactionCanceledException",
    "TransactionConflictException",
    "TransactionInProgressException",
    "ConditionalCheckFailedException",
    "ResourceNotFoundException",
    "ValidationException",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "other",                               /* any other DynamoDB type */
    "http_5xx",                            /* a 5xx without a type */
    "timeout",
    "unreachable",
    "unreadable",
    "too_large",
    "cut_short",
    "unprocessed_keys"                     /* a BatchGetItem's, asked again */
};

#define NGX_HTTP_DDBM_ERRORS                                                 \
    (sizeof(ngx_http_ddbm_error_types) / sizeof(ngx_http_ddbm_error_types[0]))


/* upper bounds of the latency buckets, ms; the last one is +Inf */
static const ngx_msec_t  ngx_http_ddbm_buckets[NGX_HTTP_DDBM_BUCKETS - 1] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000
};


typedef struct {
    ngx_atomic_t                 bucket[NGX_HTTP_DDBM_BUCKETS];
    ngx_atomic_t                 sum_ms;
    ngx_atomic_t                 count;
} ngx_http_ddbm_histogram_t;


typedef struct {
    ngx_atomic_t                 attempts;
    ngx_atomic_t                 throttles;
    ngx_atomic_t                 retries;
    ngx_atomic_t                 quota_refusals;
    ngx_atomic_t                 errors[NGX_HTTP_DDBM_ERRORS];
    ngx_http_ddbm_histogram_t    latency;
} ngx_http_ddbm_op_metrics_t;


typedef struct {
    ngx_atomic_t                 status[5];    /* 1xx .. 5xx */
    ngx_http_ddbm_histogram_t    latency;
} ngx_http_ddbm_route_metrics_t;


typedef struct {
    ngx_uint_t                   version;
    ngx_atomic_t                 ntables;
    u_char                       table[NGX_HTTP_DDBM_TABLES_MAX][256];
    ngx_http_ddbm_op_metrics_t   op[NGX_HTTP_DDBM_TABLES_MAX]
                                   [NGX_HTTP_DDBM_OPS];
    /* written by the master only, when a configuration is loaded */
    ngx_atomic_t                 nroutes;
    u_char                       route_name[NGX_HTTP_DDBM_ROUTES_MAX]
                                           [NGX_HTTP_DDBM_ROUTE_NAME];
    ngx_http_ddbm_route_metrics_t  route[NGX_HTTP_DDBM_ROUTES_MAX];
    ngx_atomic_t                 cache_hits;
    ngx_atomic_t                 cache_misses;
    ngx_atomic_t                 jwt_refused[NGX_HTTP_DDBM_JWT_REASONS];
    ngx_atomic_t                 jwt_no_token;
    ngx_atomic_t                 retry_tokens;  /* the retry quota left */
} ngx_http_ddbm_metrics_t;


/* the worker's view of the zone (set in each cycle's init, then forked) */
static ngx_http_ddbm_metrics_t  *ngx_http_ddbm_metrics;

/* ddbm_retry_quota: the size of the bucket all workers draw retries from */
static ngx_uint_t                ngx_http_ddbm_retry_quota_max =
                                     NGX_HTTP_DDBM_RETRY_QUOTA;


static ngx_int_t ngx_http_ddbm_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_ddbm_status_handler(ngx_http_request_t *r);
static ngx_http_ddbm_op_metrics_t *ngx_http_ddbm_op_metrics(
    ngx_str_t *table, const char *operation);


static const char  *ngx_http_ddbm_cache_lists[] = { "positive", "negative" };


/* ---- configuration ----------------------------------------------------- */

/*
 * The zone, and with it this configuration's list of route names
 * (ngx_str_t, in zone->data), the C patterns' first: the zone's init
 * runs once the configuration is read, and writes the list into the zone.
 */
static ngx_shm_zone_t *
ngx_http_ddbm_metrics_shm_zone(ngx_conf_t *cf)
{
    ngx_str_t        name, *rn;
    ngx_uint_t       i;
    ngx_array_t     *names;
    ngx_shm_zone_t  *zone;

    ngx_str_set(&name, NGX_HTTP_DDBM_METRICS_ZONE);

    zone = ngx_shared_memory_add(cf, &name, NGX_HTTP_DDBM_METRICS_SIZE,
                                 &ngx_http_ddbm_module);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data != NULL) {
        return zone;
    }

    names = ngx_array_create(cf->pool, NGX_HTTP_DDBM_ROUTES_MAX,
                             sizeof(ngx_str_t));
    if (names == NULL) {
        return NULL;
    }

    for (i = 0; ngx_http_ddbm_patterns[i]; i++) {
        rn = ngx_array_push(names);
        if (rn == NULL) {
            return NULL;
        }

        *rn = ngx_http_ddbm_patterns[i]->name;
    }

    zone->init = ngx_http_ddbm_metrics_init_zone;
    zone->data = names;

    return zone;
}


ngx_int_t
ngx_http_ddbm_metrics_zone(ngx_conf_t *cf)
{
    return ngx_http_ddbm_metrics_shm_zone(cf) ? NGX_OK : NGX_ERROR;
}


/* a route counted under this name, listed even before its first request */
ngx_int_t
ngx_http_ddbm_metrics_route(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_str_t       *rn;
    ngx_uint_t       i;
    ngx_array_t     *names;
    ngx_shm_zone_t  *zone;

    zone = ngx_http_ddbm_metrics_shm_zone(cf);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    names = zone->data;
    rn = names->elts;

    for (i = 0; i < names->nelts; i++) {
        if (rn[i].len == name->len
            && ngx_strncmp(rn[i].data, name->data, name->len) == 0)
        {
            return NGX_OK;
        }
    }

    if (name->len == 0 || name->len >= NGX_HTTP_DDBM_ROUTE_NAME
        || names->nelts == NGX_HTTP_DDBM_ROUTES_MAX)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "ddbm_status counts at most %d routes, with "
                           "names shorter than %d characters: route "
                           "\"%V\" is not counted",
                           NGX_HTTP_DDBM_ROUTES_MAX,
                           NGX_HTTP_DDBM_ROUTE_NAME, name);
        return NGX_OK;
    }

    rn = ngx_array_push(names);
    if (rn == NULL) {
        return NGX_ERROR;
    }

    *rn = *name;

    return NGX_OK;
}


/* the zone's slot of a route, by name; -1: none */
static ngx_int_t
ngx_http_ddbm_route_slot(ngx_http_ddbm_metrics_t *m, ngx_str_t *name)
{
    ngx_uint_t  i, n;

    if (name->len >= NGX_HTTP_DDBM_ROUTE_NAME) {
        return -1;
    }

    n = ngx_min(m->nroutes, NGX_HTTP_DDBM_ROUTES_MAX);

    for (i = 0; i < n; i++) {
        if (ngx_strncmp(m->route_name[i], name->data, name->len) == 0
            && m->route_name[i][name->len] == '\0')
        {
            return i;
        }
    }

    return -1;
}


/*
 * Names already in the zone keep their slot (and counts); new ones are
 * appended.  Only the master writes them, while the old workers may be
 * reading: the name is in place before the count that shows it.
 */
static void
ngx_http_ddbm_metrics_add_routes(ngx_shm_zone_t *shm_zone,
    ngx_http_ddbm_metrics_t *m)
{
    ngx_str_t    *rn;
    ngx_uint_t    i, n;
    ngx_array_t  *names;

    names = shm_zone->data;
    rn = names->elts;

    for (i = 0; i < names->nelts; i++) {
        if (ngx_http_ddbm_route_slot(m, &rn[i]) >= 0) {
            continue;
        }

        n = m->nroutes;

        if (n >= NGX_HTTP_DDBM_ROUTES_MAX) {
            ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                          "ddbm_status: the metrics zone holds %d routes "
                          "already (earlier configurations' ones "
                          "included, until a restart): route \"%V\" is "
                          "not counted", NGX_HTTP_DDBM_ROUTES_MAX, &rn[i]);
            continue;
        }

        ngx_memcpy(m->route_name[n], rn[i].data, rn[i].len);
        m->route_name[n][rn[i].len] = '\0';

        ngx_memory_barrier();
        m->nroutes = n + 1;
    }
}


static ngx_int_t
ngx_http_ddbm_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t          *shpool;
    ngx_http_ddbm_metrics_t  *m;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    m = shpool->data;

    if (data && m && m->version == NGX_HTTP_DDBM_METRICS_VERSION) {
        /* a reload: the counts go on, the quota within its new size */
        if (m->retry_tokens > ngx_http_ddbm_retry_quota_max) {
            m->retry_tokens = ngx_http_ddbm_retry_quota_max;
        }

        ngx_http_ddbm_metrics_add_routes(shm_zone, m);

        ngx_http_ddbm_metrics = m;
        return NGX_OK;
    }

    m = ngx_slab_alloc(shpool, sizeof(ngx_http_ddbm_metrics_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(m, sizeof(ngx_http_ddbm_metrics_t));
    m->version = NGX_HTTP_DDBM_METRICS_VERSION;
    m->retry_tokens = ngx_http_ddbm_retry_quota_max;

    ngx_http_ddbm_metrics_add_routes(shm_zone, m);

    shpool->data = m;
    ngx_http_ddbm_metrics = m;

    return NGX_OK;
}


char *
ngx_http_ddbm_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ddbm_status_handler;

    if (ngx_http_ddbm_metrics_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_ddbm_retry_quota(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_int_t   n;
    ngx_str_t  *value;

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR || n > 100000) {
        return "takes a number of tokens from 0 to 100000";
    }

    ngx_http_ddbm_retry_quota_max = n;

    return NGX_CONF_OK;
}


/*
 * The AWS SDKs' standard retry mode (docs.aws.amazon.com/sdkref/latest/
 * guide/feature-retry-behavior.html): a retry takes tokens from a bucket
 * shared by every worker, and is refused when too few are left, so that a
 * failing table is not hammered; a success puts some back.
 */
ngx_uint_t
ngx_http_ddbm_retry_quota_take(ngx_http_ddbm_call_t *call, ngx_uint_t cost)
{
    ngx_atomic_uint_t            left;
    ngx_http_ddbm_op_metrics_t  *om;

    if (ngx_http_ddbm_metrics == NULL) {
        return 1;
    }

    for ( ;; ) {
        left = ngx_http_ddbm_metrics->retry_tokens;

        if (left < cost) {
            om = ngx_http_ddbm_op_metrics(&call->ctx->conf->table,
                                          call->operation);
            if (om) {
                (void) ngx_atomic_fetch_add(&om->quota_refusals, 1);
            }

            return 0;
        }

        if (ngx_atomic_cmp_set(&ngx_http_ddbm_metrics->retry_tokens, left,
                               left - cost))
        {
            return 1;
        }
    }
}


void
ngx_http_ddbm_retry_quota_give(ngx_uint_t n)
{
    ngx_atomic_uint_t  left;

    if (ngx_http_ddbm_metrics == NULL) {
        return;
    }

    for ( ;; ) {
        left = ngx_http_ddbm_metrics->retry_tokens;

        if (left >= ngx_http_ddbm_retry_quota_max
            || ngx_atomic_cmp_set(&ngx_http_ddbm_metrics->retry_tokens, left,
                                  ngx_min(left + n,
                                          ngx_http_ddbm_retry_quota_max)))
        {
            return;
        }
    }
}


/* ---- counting ---------------------------------------------------------- */

static void
ngx_http_ddbm_observe(ngx_http_ddbm_histogram_t *h, ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_DDBM_BUCKETS - 1; i++) {
        if (ms <= ngx_http_ddbm_buckets[i]) {
            break;
        }
    }

    /* buckets are kept apart; the exposition makes them cumulative */
    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum_ms, ms);
    (void) ngx_atomic_fetch_add(&h->count, 1);
}


/* the table's slot: tables are few, found by name, added on first use */
static ngx_http_ddbm_op_metrics_t *
ngx_http_ddbm_op_metrics(ngx_str_t *table, const char *operation)
{
    ngx_uint_t                i, n, op;
    ngx_http_ddbm_metrics_t  *m;

    m = ngx_http_ddbm_metrics;
    if (m == NULL) {
        return NULL;
    }

    for (op = 0; op < NGX_HTTP_DDBM_OPS - 1; op++) {
        if (ngx_strcmp(operation, ngx_http_ddbm_operations[op]) == 0) {
            break;
        }
    }

    n = ngx_min(m->ntables, NGX_HTTP_DDBM_TABLES_MAX);

    for (i = 0; i < n; i++) {
        if (ngx_strlen(m->table[i]) == table->len
            && ngx_strncmp(m->table[i], table->data, table->len) == 0)
        {
            return &m->op[i][op];
        }
    }

    if (table->len >= sizeof(m->table[0])) {
        return NULL;
    }

    /* a slot claimed atomically; two workers may name a table twice */
    i = ngx_atomic_fetch_add(&m->ntables, 1);
    if (i >= NGX_HTTP_DDBM_TABLES_MAX) {
        return NULL;
    }

    ngx_memcpy(m->table[i], table->data, table->len);
    m->table[i][table->len] = '\0';

    return &m->op[i][op];
}


void
ngx_http_ddbm_metrics_attempt(ngx_http_ddbm_call_t *call, ngx_msec_t ms)
{
    ngx_http_ddbm_op_metrics_t  *om;

    om = ngx_http_ddbm_op_metrics(&call->ctx->conf->table, call->operation);
    if (om == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&om->attempts, 1);
    ngx_http_ddbm_observe(&om->latency, ms);
}


/* kind: one of ngx_http_ddbm_error_types, or a DynamoDB "__type" */
void
ngx_http_ddbm_metrics_error(ngx_http_ddbm_call_t *call, const char *kind,
    ngx_uint_t throttled, ngx_uint_t retried)
{
    ngx_uint_t                   i;
    ngx_http_ddbm_op_metrics_t  *om;

    om = ngx_http_ddbm_op_metrics(&call->ctx->conf->table, call->operation);
    if (om == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_DDBM_ERRORS; i++) {
        if (ngx_strcmp(kind, ngx_http_ddbm_error_types[i]) == 0) {
            break;
        }
    }

    if (i == NGX_HTTP_DDBM_ERRORS) {
        i = 13;    /* "other" */
    }

    (void) ngx_atomic_fetch_add(&om->errors[i], 1);

    if (throttled) {
        (void) ngx_atomic_fetch_add(&om->throttles, 1);
    }

    if (retried) {
        (void) ngx_atomic_fetch_add(&om->retries, 1);
    }
}


void
ngx_http_ddbm_metrics_cache(ngx_uint_t hit)
{
    if (ngx_http_ddbm_metrics) {
        (void) ngx_atomic_fetch_add(hit ? &ngx_http_ddbm_metrics->cache_hits
                                        : &ngx_http_ddbm_metrics->cache_misses,
                                    1);
    }
}


void
ngx_http_ddbm_metrics_jwt(ngx_int_t rc)
{
    ngx_http_ddbm_metrics_t  *m;

    m = ngx_http_ddbm_metrics;
    if (m == NULL) {
        return;
    }

    if (rc < 0) {
        (void) ngx_atomic_fetch_add(&m->jwt_no_token, 1);

    } else if (rc < NGX_HTTP_DDBM_JWT_REASONS) {
        (void) ngx_atomic_fetch_add(&m->jwt_refused[rc], 1);
    }
}


/* the log phase: every answer of an API location, whoever gave it */
ngx_int_t
ngx_http_ddbm_metrics_log(ngx_http_request_t *r)
{
    ngx_int_t                       ms, slot;
    ngx_uint_t                      status;
    ngx_time_t                     *tp;
    ngx_http_ddbm_ctx_t            *ctx;
    ngx_http_ddbm_pattern_t        *pattern;
    ngx_http_ddbm_loc_conf_t       *dlcf;
    ngx_http_ddbm_route_metrics_t  *rm;

    if (ngx_http_ddbm_metrics == NULL || r != r->main) {
        return NGX_OK;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ddbm_module);
    if (dlcf->pattern == NULL) {
        return NGX_OK;
    }

    /* the route run: a location may have one per method */
    ctx = ngx_http_get_module_ctx(r, ngx_http_ddbm_module);
    pattern = (ctx && ctx->pattern) ? ctx->pattern : dlcf->pattern;

    slot = ngx_http_ddbm_route_slot(ngx_http_ddbm_metrics, &pattern->name);
    if (slot < 0) {
        return NGX_OK;
    }

    rm = &ngx_http_ddbm_metrics->route[slot];

    status = r->err_status ? r->err_status : r->headers_out.status;
    if (status >= 100 && status < 600) {
        (void) ngx_atomic_fetch_add(&rm->status[status / 100 - 1], 1);
    }

    tp = ngx_timeofday();
    ms = (ngx_int_t) ((tp->sec - r->start_sec) * 1000
                      + (tp->msec - r->start_msec));

    ngx_http_ddbm_observe(&rm->latency, (ngx_msec_t) ngx_max(ms, 0));

    return NGX_OK;
}


/* ---- the status page --------------------------------------------------- */

#define ngx_http_ddbm_load(a)  ((ngx_atomic_uint_t) *(a))


static void
ngx_http_ddbm_prom_histogram(dm_buf_t *b, const char *name,
    const char *labels, ngx_http_ddbm_histogram_t *h)
{
    u_char             line[512], *p;
    ngx_uint_t         i;
    ngx_atomic_uint_t  cumulative;

    cumulative = 0;

    for (i = 0; i < NGX_HTTP_DDBM_BUCKETS; i++) {
        cumulative += ngx_http_ddbm_load(&h->bucket[i]);

        if (i < NGX_HTTP_DDBM_BUCKETS - 1) {
            p = ngx_snprintf(line, sizeof(line),
                             "%s_bucket{%s,le=\"%.3f\"} %uA\n", name, labels,
                             (double) ngx_http_ddbm_buckets[i] / 1000,
                             cumulative);
        } else {
            p = ngx_snprintf(line, sizeof(line),
                             "%s_bucket{%s,le=\"+Inf\"} %uA\n", name, labels,
                             cumulative);
        }

        dm_buf_append(b, (const char *) line, p - line);
    }

    p = ngx_snprintf(line, sizeof(line), "%s_sum{%s} %.3f\n%s_count{%s} %uA\n",
                     name, labels,
                     (double) ngx_http_ddbm_load(&h->sum_ms) / 1000,
                     name, labels, ngx_http_ddbm_load(&h->count));
    dm_buf_append(b, (const char *) line, p - line);
}


static void
ngx_http_ddbm_prom_line(dm_buf_t *b, const char *name, const char *labels,
    ngx_atomic_uint_t value)
{
    u_char  line[512], *p;

    if (labels[0] == '\0') {
        p = ngx_snprintf(line, sizeof(line), "%s %uA\n", name, value);

    } else {
        p = ngx_snprintf(line, sizeof(line), "%s{%s} %uA\n", name, labels,
                         value);
    }
    dm_buf_append(b, (const char *) line, p - line);
}


static void
ngx_http_ddbm_prom_help(dm_buf_t *b, const char *name, const char *type,
    const char *help)
{
    dm_buf_append_str(b, "# HELP ");
    dm_buf_append_str(b, name);
    dm_buf_append_str(b, " ");
    dm_buf_append_str(b, help);
    dm_buf_append_str(b, "\n# TYPE ");
    dm_buf_append_str(b, name);
    dm_buf_append_str(b, " ");
    dm_buf_append_str(b, type);
    dm_buf_append_str(b, "\n");
}


/* a label value: backslash, double quote and newline escaped */
static void
ngx_http_ddbm_prom_escape(u_char *dst, size_t size, ngx_str_t *value)
{
    u_char      c, *last;
    ngx_uint_t  i;

    last = dst + size;

    for (i = 0; i < value->len && dst + 2 < last; i++) {
        c = value->data[i];

        if (c == '\\' || c == '"' || c == '\n') {
            *dst++ = '\\';
            c = (c == '\n') ? 'n' : c;
        }

        *dst++ = c;
    }

    *dst = '\0';
}


/* each ddbm_cache zone's entries and what was freed, by list and cause */
static void
ngx_http_ddbm_prom_cache_zones(dm_buf_t *b, ngx_array_t *zones,
    ngx_pool_t *pool)
{
    u_char                        zone[256], labels[512], *p;
    ngx_uint_t                    i, l, c, k;
    ngx_shm_zone_t              **shm;
    ngx_http_ddbm_cache_stats_t  *st, *stats;

    static const char  *names[] = {
        "ddbm_cache_entries", "ddbm_cache_bytes", "ddbm_cache_size_bytes",
        "ddbm_cache_freed_total"
    };
    static const char  *types[] = { "gauge", "gauge", "gauge", "counter" };
    static const char  *help[] = {
        "Entries in a ddbm_cache zone, by list.",
        "Bytes of the entries in a ddbm_cache zone, by list.",
        "The size of a ddbm_cache zone.",
        "Entries freed from a ddbm_cache zone, by list and cause."
    };

    if (zones == NULL || zones->nelts == 0) {
        return;
    }

    shm = zones->elts;

    /* one copy of each zone's figures, for the four families below */
    stats = ngx_pcalloc(pool, zones->nelts * sizeof(*stats));
    if (stats == NULL) {
        b->failed = 1;
        return;
    }

    for (i = 0; i < zones->nelts; i++) {
        (void) ngx_http_ddbm_cache_stats(shm[i], &stats[i]);
    }

    for (k = 0; k < 4; k++) {
        ngx_http_ddbm_prom_help(b, names[k], types[k], help[k]);

        for (i = 0; i < zones->nelts; i++) {
            st = &stats[i];
            ngx_http_ddbm_prom_escape(zone, sizeof(zone), &shm[i]->shm.name);

            if (k == 2) {
                p = ngx_snprintf(labels, sizeof(labels), "zone=\"%s\"%Z",
                                 zone);
                ngx_http_ddbm_prom_line(b, names[k], (char *) labels,
                                        shm[i]->shm.size);
                continue;
            }

            for (l = 0; l < 2; l++) {
                if (k < 2) {
                    p = ngx_snprintf(labels, sizeof(labels),
                                     "list=\"%s\",zone=\"%s\"%Z",
                                     ngx_http_ddbm_cache_lists[l], zone);
                    ngx_http_ddbm_prom_line(b, names[k], (char *) labels,
                                            k == 0 ? st->entries[l]
                                                   : st->bytes[l]);
                    continue;
                }

                for (c = 0; c < NGX_HTTP_DDBM_CACHE_CAUSES; c++) {
                    p = ngx_snprintf(labels, sizeof(labels),
                                     "list=\"%s\",reason=\"%s\","
                                     "zone=\"%s\"%Z",
                                     ngx_http_ddbm_cache_lists[l],
                                     ngx_http_ddbm_cache_causes[c], zone);
                    ngx_http_ddbm_prom_line(b, names[k], (char *) labels,
                                            st->freed[l][c]);
                }
            }
        }
    }

    (void) p;
}


/* the Prometheus text exposition format, version 0.0.4 */
static void
ngx_http_ddbm_prometheus(dm_buf_t *b, ngx_http_request_t *r,
    ngx_http_ddbm_loc_conf_t *dlcf, ngx_http_ddbm_main_conf_t *dmcf)
{
    u_char                             labels[512], name[64], *p;
    ngx_uint_t                         t, o, i, n, nr, k;
    ngx_http_ddbm_metrics_t           *m;
    ngx_http_ddbm_op_metrics_t        *om;
    ngx_http_ddbm_credentials_stats_t  cst;

    static const char  *kinds[] = { "attempts", "throttles", "retries",
                                    "retry_quota_refusals" };
    static const char  *help[] = {
        "DynamoDB requests sent, retries included.",
        "DynamoDB requests throttled.",
        "DynamoDB requests retried.",
        "Retries refused because the shared retry quota ran out."
    };
    static const char  *statuses[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

    m = ngx_http_ddbm_metrics;
    n = ngx_min(m->ntables, NGX_HTTP_DDBM_TABLES_MAX);

    for (k = 0; k < 4; k++) {
        p = ngx_snprintf(labels, sizeof(labels),
                         "ddbm_dynamodb_%s_total%Z", kinds[k]);
        ngx_http_ddbm_prom_help(b, (char *) labels, "counter", help[k]);

        for (t = 0; t < n; t++) {
            for (o = 0; o < NGX_HTTP_DDBM_OPS; o++) {
                om = &m->op[t][o];
                p = ngx_snprintf(labels, sizeof(labels),
                                 "operation=\"%s\",table=\"%s\"%Z",
                                 ngx_http_ddbm_operations[o], m->table[t]);
                p = ngx_snprintf(name, sizeof(name),
                                 "ddbm_dynamodb_%s_total%Z", kinds[k]);
                ngx_http_ddbm_prom_line(b, (char *) name, (char *) labels,
                                        k == 0 ? om->attempts
                                        : k == 1 ? om->throttles
                                        : k == 2 ? om->retries
                                        : om->quota_refusals);
            }
        }
    }

    ngx_http_ddbm_prom_help(b, "ddbm_dynamodb_retry_quota_tokens", "gauge",
                            "Tokens left in the shared retry quota.");
    ngx_http_ddbm_prom_line(b, "ddbm_dynamodb_retry_quota_tokens", "",
                            m->retry_tokens);

    ngx_http_ddbm_prom_help(b, "ddbm_dynamodb_errors_total", "counter",
                            "DynamoDB requests that failed, by error type.");

    for (t = 0; t < n; t++) {
        for (o = 0; o < NGX_HTTP_DDBM_OPS; o++) {
            om = &m->op[t][o];

            for (i = 0; i < NGX_HTTP_DDBM_ERRORS; i++) {
                if (om->errors[i] == 0) {
                    continue;
                }

                p = ngx_snprintf(labels, sizeof(labels),
                                 "operation=\"%s\",table=\"%s\",type=\"%s\"%Z",
                                 ngx_http_ddbm_operations[o], m->table[t],
                                 ngx_http_ddbm_error_types[i]);
                ngx_http_ddbm_prom_line(b, "ddbm_dynamodb_errors_total",
                                        (char *) labels, om->errors[i]);
            }
        }
    }

    ngx_http_ddbm_prom_help(b, "ddbm_dynamodb_attempt_duration_seconds",
                            "histogram",
                            "Time from sending a DynamoDB request to its "
                            "answer.");

    for (t = 0; t < n; t++) {
        for (o = 0; o < NGX_HTTP_DDBM_OPS; o++) {
            p = ngx_snprintf(labels, sizeof(labels),
                             "operation=\"%s\",table=\"%s\"%Z",
                             ngx_http_ddbm_operations[o], m->table[t]);
            ngx_http_ddbm_prom_histogram(b,
                                   "ddbm_dynamodb_attempt_duration_seconds",
                                   (char *) labels, &m->op[t][o].latency);
        }
    }

    ngx_http_ddbm_prom_help(b, "ddbm_api_requests_total", "counter",
                            "API requests answered, by route and status "
                            "class.");

    nr = ngx_min(m->nroutes, NGX_HTTP_DDBM_ROUTES_MAX);

    for (i = 0; i < nr; i++) {
        for (k = 0; k < 5; k++) {
            p = ngx_snprintf(labels, sizeof(labels),
                             "route=\"%s\",status=\"%s\"%Z",
                             m->route_name[i], statuses[k]);
            ngx_http_ddbm_prom_line(b, "ddbm_api_requests_total",
                                    (char *) labels, m->route[i].status[k]);
        }
    }

    ngx_http_ddbm_prom_help(b, "ddbm_api_request_duration_seconds",
                            "histogram",
                            "Time from an API request to its answer.");

    for (i = 0; i < nr; i++) {
        p = ngx_snprintf(labels, sizeof(labels), "route=\"%s\"%Z",
                         m->route_name[i]);
        ngx_http_ddbm_prom_histogram(b, "ddbm_api_request_duration_seconds",
                                     (char *) labels, &m->route[i].latency);
    }

    ngx_http_ddbm_prom_help(b, "ddbm_cache_lookups_total", "counter",
                            "ddbm_cache lookups, by result.");
    ngx_http_ddbm_prom_line(b, "ddbm_cache_lookups_total", "result=\"hit\"",
                            m->cache_hits);
    ngx_http_ddbm_prom_line(b, "ddbm_cache_lookups_total", "result=\"miss\"",
                            m->cache_misses);

    ngx_http_ddbm_prom_cache_zones(b, dmcf->cache_zones, r->pool);

    ngx_http_ddbm_credentials_stats(dlcf->credentials, &cst);

    ngx_http_ddbm_prom_help(b, "ddbm_credentials_info", "gauge",
                            "The source of this location's AWS "
                            "credentials.");
    p = ngx_snprintf(labels, sizeof(labels), "source=\"%V\"%Z",
                     &cst.source);
    ngx_http_ddbm_prom_line(b, "ddbm_credentials_info", (char *) labels, 1);

    if (dlcf->credentials != NULL && dlcf->credentials->autoc != NULL) {
        ngx_http_ddbm_prom_help(b, "ddbm_credentials_expiry_timestamp_seconds",
                                "gauge",
                                "When the AWS credentials in use expire "
                                "(0: none yet, or they do not expire).");
        ngx_http_ddbm_prom_line(b,
                                "ddbm_credentials_expiry_timestamp_seconds",
                                "", (ngx_atomic_uint_t) cst.expiration);

        ngx_http_ddbm_prom_help(b, "ddbm_credentials_refreshes_total",
                                "counter",
                                "Credential fetches from the AWS chain, by "
                                "result.");
        ngx_http_ddbm_prom_line(b, "ddbm_credentials_refreshes_total",
                                "result=\"ok\"", cst.refresh_ok);
        ngx_http_ddbm_prom_line(b, "ddbm_credentials_refreshes_total",
                                "result=\"error\"", cst.refresh_failed);

        ngx_http_ddbm_prom_help(b, "ddbm_credentials_unavailable_total",
                                "counter",
                                "DynamoDB calls not made for want of valid "
                                "credentials (answered 503).");
        ngx_http_ddbm_prom_line(b, "ddbm_credentials_unavailable_total", "",
                                cst.unavailable);
    }

    ngx_http_ddbm_prom_help(b, "ddbm_jwt_refusals_total", "counter",
                            "Access tokens refused, by reason.");
    ngx_http_ddbm_prom_line(b, "ddbm_jwt_refusals_total",
                            "reason=\"no token\"", m->jwt_no_token);

    for (i = 1; i <= DM_JWT_INTERNAL && i < NGX_HTTP_DDBM_JWT_REASONS; i++) {
        p = ngx_snprintf(labels, sizeof(labels), "reason=\"%s\"%Z",
                         dm_jwt_reason((dm_jwt_rc_e) i));
        ngx_http_ddbm_prom_line(b, "ddbm_jwt_refusals_total",
                                (char *) labels, m->jwt_refused[i]);
    }

    (void) p;
}


static void
ngx_http_ddbm_json_counter(dm_buf_t *b, const char *name,
    ngx_atomic_uint_t value, ngx_uint_t comma)
{
    u_char  line[128], *p;

    p = ngx_snprintf(line, sizeof(line), "%s\"%s\":%uA", comma ? "," : "",
                     name, value);
    dm_buf_append(b, (const char *) line, p - line);
}


/* the same counts as JSON, for what does not speak Prometheus */
static void
ngx_http_ddbm_json_cache_zones(dm_buf_t *b, ngx_array_t *zones)
{
    ngx_uint_t                    i, l, c;
    ngx_shm_zone_t              **shm;
    ngx_http_ddbm_cache_stats_t   st;

    dm_buf_append_str(b, ",\"cache_zones\":{");

    shm = zones ? zones->elts : NULL;

    for (i = 0; zones && i < zones->nelts; i++) {
        ngx_memzero(&st, sizeof(st));
        (void) ngx_http_ddbm_cache_stats(shm[i], &st);

        if (i) {
            dm_buf_append_str(b, ",");
        }

        dm_buf_json_string(b, shm[i]->shm.name.data, shm[i]->shm.name.len);
        dm_buf_append_str(b, ":{");
        ngx_http_ddbm_json_counter(b, "size", shm[i]->shm.size, 0);

        for (l = 0; l < 2; l++) {
            dm_buf_append_str(b, ",\"");
            dm_buf_append_str(b, ngx_http_ddbm_cache_lists[l]);
            dm_buf_append_str(b, "\":{");
            ngx_http_ddbm_json_counter(b, "entries", st.entries[l], 0);
            ngx_http_ddbm_json_counter(b, "bytes", st.bytes[l], 1);
            dm_buf_append_str(b, ",\"freed\":{");

            for (c = 0; c < NGX_HTTP_DDBM_CACHE_CAUSES; c++) {
                ngx_http_ddbm_json_counter(b, ngx_http_ddbm_cache_causes[c],
                                           st.freed[l][c], c > 0);
            }

            dm_buf_append_str(b, "}}");
        }

        dm_buf_append_str(b, "}");
    }

    dm_buf_append_str(b, "}");
}


static void
ngx_http_ddbm_json(dm_buf_t *b, ngx_http_ddbm_loc_conf_t *dlcf,
    ngx_http_ddbm_main_conf_t *dmcf)
{
    ngx_uint_t                         t, o, i, n, first;
    ngx_http_ddbm_metrics_t           *m;
    ngx_http_ddbm_op_metrics_t        *om;
    ngx_http_ddbm_credentials_stats_t  cst;

    m = ngx_http_ddbm_metrics;
    n = ngx_min(m->ntables, NGX_HTTP_DDBM_TABLES_MAX);

    dm_buf_append_str(b, "{\"dynamodb\":[");

    for (t = 0, first = 1; t < n; t++) {
        for (o = 0; o < NGX_HTTP_DDBM_OPS; o++) {
            om = &m->op[t][o];

            if (!first) {
                dm_buf_append_str(b, ",");
            }
            first = 0;

            dm_buf_append_str(b, "{\"table\":");
            dm_buf_json_string(b, m->table[t], ngx_strlen(m->table[t]));
            dm_buf_append_str(b, ",\"operation\":\"");
            dm_buf_append_str(b, ngx_http_ddbm_operations[o]);
            dm_buf_append_str(b, "\"");
            ngx_http_ddbm_json_counter(b, "attempts", om->attempts, 1);
            ngx_http_ddbm_json_counter(b, "throttles", om->throttles, 1);
            ngx_http_ddbm_json_counter(b, "retries", om->retries, 1);
            ngx_http_ddbm_json_counter(b, "retry_quota_refusals",
                                       om->quota_refusals, 1);
            dm_buf_append_str(b, ",\"errors\":{");

            for (i = 0; i < NGX_HTTP_DDBM_ERRORS; i++) {
                ngx_http_ddbm_json_counter(b, ngx_http_ddbm_error_types[i],
                                           om->errors[i], i > 0);
            }

            dm_buf_append_str(b, "}");
            ngx_http_ddbm_json_counter(b, "latency_ms_sum",
                                       om->latency.sum_ms, 1);
            ngx_http_ddbm_json_counter(b, "latency_count",
                                       om->latency.count, 1);
            dm_buf_append_str(b, "}");
        }
    }

    dm_buf_append_str(b, "],\"routes\":{");

    n = ngx_min(m->nroutes, NGX_HTTP_DDBM_ROUTES_MAX);

    for (i = 0; i < n; i++) {
        if (i) {
            dm_buf_append_str(b, ",");
        }

        dm_buf_json_string(b, m->route_name[i],
                           ngx_strlen(m->route_name[i]));
        dm_buf_append_str(b, ":{");
        ngx_http_ddbm_json_counter(b, "1xx", m->route[i].status[0], 0);
        ngx_http_ddbm_json_counter(b, "2xx", m->route[i].status[1], 1);
        ngx_http_ddbm_json_counter(b, "3xx", m->route[i].status[2], 1);
        ngx_http_ddbm_json_counter(b, "4xx", m->route[i].status[3], 1);
        ngx_http_ddbm_json_counter(b, "5xx", m->route[i].status[4], 1);
        ngx_http_ddbm_json_counter(b, "latency_ms_sum",
                                   m->route[i].latency.sum_ms, 1);
        ngx_http_ddbm_json_counter(b, "latency_count",
                                   m->route[i].latency.count, 1);
        dm_buf_append_str(b, "}");
    }

    dm_buf_append_str(b, "},\"cache\":{");
    ngx_http_ddbm_json_counter(b, "hits", m->cache_hits, 0);
    ngx_http_ddbm_json_counter(b, "misses", m->cache_misses, 1);
    dm_buf_append_str(b, "}");
    ngx_http_ddbm_json_cache_zones(b, dmcf->cache_zones);
    ngx_http_ddbm_json_counter(b, "retry_quota_tokens", m->retry_tokens, 1);

    ngx_http_ddbm_credentials_stats(dlcf->credentials, &cst);
    dm_buf_append_str(b, ",\"credentials\":{\"source\":");
    dm_buf_json_string(b, cst.source.data, cst.source.len);
    ngx_http_ddbm_json_counter(b, "expiry", (ngx_atomic_uint_t) cst.expiration,
                               1);
    ngx_http_ddbm_json_counter(b, "refresh_ok", cst.refresh_ok, 1);
    ngx_http_ddbm_json_counter(b, "refresh_error", cst.refresh_failed, 1);
    ngx_http_ddbm_json_counter(b, "unavailable", cst.unavailable, 1);
    dm_buf_append_str(b, "}");
    dm_buf_append_str(b, ",\"jwt_refusals\":{");
    ngx_http_ddbm_json_counter(b, "no token", m->jwt_no_token, 0);

    for (i = 1; i <= DM_JWT_INTERNAL && i < NGX_HTTP_DDBM_JWT_REASONS; i++) {
        ngx_http_ddbm_json_counter(b, dm_jwt_reason((dm_jwt_rc_e) i),
                                   m->jwt_refused[i], 1);
    }

    dm_buf_append_str(b, "}}");
}


static ngx_int_t
ngx_http_ddbm_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  format;
    ngx_buf_t                 *out;
    ngx_chain_t                cl;
    dm_buf_t                    b;
    ngx_http_ddbm_loc_conf_t   *dlcf;
    ngx_http_ddbm_main_conf_t  *dmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_ddbm_metrics == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_ddbm_module);
    dmcf = ngx_http_get_module_main_conf(r, ngx_http_ddbm_module);

    ngx_http_ddbm_buf_init(&b, r->pool);

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK
        && format.len == 4 && ngx_strncmp(format.data, "json", 4) == 0)
    {
        ngx_http_ddbm_json(&b, dlcf, dmcf);
        ngx_str_set(&r->headers_out.content_type, "application/json");

    } else {
        ngx_http_ddbm_prometheus(&b, r, dlcf, dmcf);
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
    }

    if (b.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b.len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out = ngx_calloc_buf(r->pool);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out->pos = b.data;
    out->last = b.data + b.len;
    out->memory = 1;
    out->last_buf = 1;

    cl.buf = out;
    cl.next = NULL;

    return ngx_http_output_filter(r, &cl);
}
