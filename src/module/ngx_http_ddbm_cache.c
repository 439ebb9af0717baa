/*
 * ddbm_cache: what the module may keep between requests, in one shared
 * memory zone for all workers (a slab pool, an rbtree by key, least
 * recently used entries evicted first):
 *
 *   S<sub>      the directory entry of a caller    (user_ttl; unknown:
 *   H<handle>   the directory entry of a handle     negative_ttl)
 *   G<group>    a conversation: its members and its record's revision
 *               and times (group_ttl; optimistic: a stale one fails the
 *               transaction's condition and is read again)
 *
 * each followed by the table, the endpoint and the region, so that one
 * zone serves several tables.  Each entry carries the generation of its
 * table when it was made (ngx_http_ddbm_pattern_health.c): a table
 * deleted and created again under the same name has a new one, and
 * entries of another generation are never served.
 *
 * What is known not to exist (negative entries) has a least recently used
 * list of its own, within a quarter of the zone: a flood of lookups of
 * random names evicts only other negative entries, never what exists.
 * Expired entries are freed when found, and swept from the lists' tails
 * before anything live is evicted.  The zone counts its entries and why
 * they were freed, for ddbm_status.
 *
 * So nothing kept here can break an invariant, with one NGINX or many on
 * the same table: the worst a stale entry does is show an old display
 * name, for at most user_ttl.  A full zone evicts; it never fails a
 * request.  Entries are lists of strings.
 */

#include "ngx_http_ddbm.h"


#define NGX_HTTP_DDBM_CACHE_VERSION   3
#define NGX_HTTP_DDBM_CACHE_EVICT     16       /* tries to make room */
#define NGX_HTTP_DDBM_CACHE_SWEEP     8        /* tail entries looked at */
#define NGX_HTTP_DDBM_CACHE_DEEP      64       /* ... before evicting */


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  lru;          /* most recent first */
    ngx_queue_t                  negative;     /* the same, "not found" */
    size_t                       negative_max; /* a quarter of the zone */
    ngx_uint_t                   version;
    /* changed under the mutex; bytes[1] bounds the negative list */
    ngx_http_ddbm_cache_stats_t  stats;
} ngx_http_ddbm_cache_sh_t;


typedef struct {
    ngx_http_ddbm_cache_sh_t    *sh;
    ngx_slab_pool_t             *shpool;
} ngx_http_ddbm_cache_zone_t;


typedef struct {
    ngx_rbtree_node_t            node;         /* key: crc32 of the key */
    ngx_queue_t                  queue;
    time_t                       expires;      /* 0: until evicted */
    ngx_uint_t                   generation;   /* of the table */
    u_short                      key_len;
    u_short                      nvalues;      /* 0: known not to exist */
    u_short                      len;          /* of data */
    /* the key, then each value as two bytes of length and its bytes */
    u_char                       data[1];
} ngx_http_ddbm_cache_node_t;


static ngx_int_t ngx_http_ddbm_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_ddbm_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_ddbm_cache_node_t *ngx_http_ddbm_cache_lookup(
    ngx_http_ddbm_cache_zone_t *z, ngx_str_t *key, uint32_t hash);
static void ngx_http_ddbm_cache_free_node(ngx_http_ddbm_cache_zone_t *z,
    ngx_http_ddbm_cache_node_t *cn, ngx_uint_t cause);
static ngx_uint_t ngx_http_ddbm_cache_sweep(ngx_http_ddbm_cache_zone_t *z,
    ngx_queue_t *lru, ngx_uint_t n);
static ngx_uint_t ngx_http_ddbm_cache_generation(ngx_http_ddbm_ctx_t *ctx);


const char  *ngx_http_ddbm_cache_causes[NGX_HTTP_DDBM_CACHE_CAUSES] = {
    "expired", "evicted", "generation", "replaced", "deleted"
};


/* ---- configuration ----------------------------------------------------- */

/*
 * ddbm_cache zone=NAME:SIZE [user_ttl=TIME] [negative_ttl=TIME]
 *            [group_ttl=TIME] | off
 */
char *
ngx_http_ddbm_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_ddbm_loc_conf_t  *dlcf = conf;

    u_char                       *p;
    time_t                        ttl;
    ssize_t                       size;
    ngx_str_t                    *value, name, s;
    ngx_uint_t                    i;
    ngx_shm_zone_t              **zp;
    ngx_http_ddbm_main_conf_t    *dmcf;
    ngx_http_ddbm_cache_conf_t   *cache;

    if (dlcf->cache != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        dlcf->cache = NULL;
        return NGX_CONF_OK;
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_cache_conf_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    cache->user_ttl = 60;
    cache->negative_ttl = 5;
    /* how long a deleted conversation may still be read */
    cache->group_ttl = 120;
    size = 0;
    ngx_str_null(&name);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                goto invalid;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (name.len == 0 || size == NGX_ERROR) {
                goto invalid;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ddbm_cache zone \"%V\" is too small: "
                                   "%uz at least", &name,
                                   8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "user_ttl=", 9) == 0
            || ngx_strncmp(value[i].data, "negative_ttl=", 13) == 0
            || ngx_strncmp(value[i].data, "group_ttl=", 10) == 0)
        {
            p = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.data = p;
            s.len = value[i].data + value[i].len - p;

            ttl = ngx_parse_time(&s, 1);
            if (ttl == (time_t) NGX_ERROR || ttl == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ddbm_cache: invalid time \"%V\" (at "
                                   "least 1s)", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 'u') {
                cache->user_ttl = ttl;
            } else if (value[i].data[0] == 'g') {
                cache->group_ttl = ttl;
            } else {
                cache->negative_ttl = ttl;
            }

            continue;
        }

        goto invalid;
    }

    if (name.len == 0) {
        return "needs zone=name:size, or off";
    }

    cache->zone = ngx_shared_memory_add(cf, &name, size,
                                        &ngx_http_ddbm_module);
    if (cache->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cache->zone->data == NULL) {
        /* the first directive naming the zone: filled in by init_zone */
        cache->zone->data = ngx_pcalloc(cf->pool,
                                        sizeof(ngx_http_ddbm_cache_zone_t));
        if (cache->zone->data == NULL) {
            return NGX_CONF_ERROR;
        }

        cache->zone->init = ngx_http_ddbm_cache_init_zone;

        /* each zone once, for ddbm_status */
        dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ddbm_module);

        if (dmcf->cache_zones == NULL) {
            dmcf->cache_zones = ngx_array_create(cf->pool, 2,
                                                 sizeof(ngx_shm_zone_t *));
            if (dmcf->cache_zones == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        zp = ngx_array_push(dmcf->cache_zones);
        if (zp == NULL) {
            return NGX_CONF_ERROR;
        }

        *zp = cache->zone;
    }

    dlcf->cache = cache;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ddbm_cache: invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_ddbm_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ddbm_cache_zone_t  *oz = data;

    size_t                       len;
    ngx_http_ddbm_cache_zone_t  *z;

    z = shm_zone->data;

    if (oz && oz->sh->version == NGX_HTTP_DDBM_CACHE_VERSION) {
        /* a reload with the same zone: what it holds stays true */
        z->sh = oz->sh;
        z->shpool = oz->shpool;
        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists && z->shpool->data) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }

    z->sh = ngx_slab_alloc(z->shpool, sizeof(ngx_http_ddbm_cache_sh_t));
    if (z->sh == NULL) {
        return NGX_ERROR;
    }

    z->shpool->data = z->sh;

    ngx_rbtree_init(&z->sh->rbtree, &z->sh->sentinel,
                    ngx_http_ddbm_cache_rbtree_insert);
    ngx_queue_init(&z->sh->lru);
    ngx_queue_init(&z->sh->negative);
    ngx_memzero(&z->sh->stats, sizeof(ngx_http_ddbm_cache_stats_t));
    z->sh->negative_max = shm_zone->shm.size / 4;
    z->sh->version = NGX_HTTP_DDBM_CACHE_VERSION;

    len = sizeof(" in ddbm_cache zone \"\"") + shm_zone->shm.name.len;

    z->shpool->log_ctx = ngx_slab_alloc(z->shpool, len);
    if (z->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(z->shpool->log_ctx, " in ddbm_cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts: its allocation failures are not news */
    z->shpool->log_nomem = 0;

    return NGX_OK;
}


/* ---- entries ----------------------------------------------------------- */

static void
ngx_http_ddbm_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t           **p;
    ngx_http_ddbm_cache_node_t   *cn, *cnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            cn = (ngx_http_ddbm_cache_node_t *) node;
            cnt = (ngx_http_ddbm_cache_node_t *) temp;

            p = (ngx_memn2cmp(cn->data, cnt->data, cn->key_len,
                              cnt->key_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_ddbm_cache_node_t *
ngx_http_ddbm_cache_lookup(ngx_http_ddbm_cache_zone_t *z, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                    rc;
    ngx_rbtree_node_t           *node, *sentinel;
    ngx_http_ddbm_cache_node_t  *cn;

    node = z->sh->rbtree.root;
    sentinel = z->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        cn = (ngx_http_ddbm_cache_node_t *) node;

        rc = ngx_memn2cmp(key->data, cn->data, key->len, cn->key_len);

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_ddbm_cache_free_node(ngx_http_ddbm_cache_zone_t *z,
    ngx_http_ddbm_cache_node_t *cn, ngx_uint_t cause)
{
    ngx_uint_t                    list;
    ngx_http_ddbm_cache_stats_t  *st;

    st = &z->sh->stats;
    list = (cn->nvalues == 0);

    st->entries[list]--;
    st->bytes[list] -= offsetof(ngx_http_ddbm_cache_node_t, data) + cn->len;
    st->freed[list][cause]++;

    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&z->sh->rbtree, &cn->node);
    ngx_slab_free_locked(z->shpool, cn);
}


/*
 * Frees what expired among n tail entries.  Not by generation: the lists
 * hold every table's entries, each checked against its own when found.
 */
static ngx_uint_t
ngx_http_ddbm_cache_sweep(ngx_http_ddbm_cache_zone_t *z, ngx_queue_t *lru,
    ngx_uint_t n)
{
    time_t                       now;
    ngx_uint_t                   freed;
    ngx_queue_t                 *q, *prev;
    ngx_http_ddbm_cache_node_t  *cn;

    now = ngx_time();
    freed = 0;

    for (q = ngx_queue_last(lru);
         n && q != ngx_queue_sentinel(lru);
         q = prev, n--)
    {
        prev = ngx_queue_prev(q);
        cn = ngx_queue_data(q, ngx_http_ddbm_cache_node_t, queue);

        if (cn->expires && cn->expires <= now) {
            ngx_http_ddbm_cache_free_node(z, cn, NGX_HTTP_DDBM_CACHE_EXPIRED);
            freed++;
        }
    }

    return freed;
}


/* the table's generation when the request first used the cache */
static ngx_uint_t
ngx_http_ddbm_cache_generation(ngx_http_ddbm_ctx_t *ctx)
{
    if (!ctx->generation_known) {
        ctx->generation = ngx_http_ddbm_status_generation(ctx);
        ctx->generation_known = 1;
    }

    return ctx->generation;
}


/*
 * The values kept under key, copied into the request's pool: NGX_OK with
 * *n of them (0: the item is known not to exist), or NGX_DECLINED.
 */
ngx_int_t
ngx_http_ddbm_cache_get(ngx_http_ddbm_ctx_t *ctx, ngx_str_t *key,
    ngx_str_t *values, ngx_uint_t max, ngx_uint_t *n)
{
    u_char                      *p, *copy;
    size_t                       len;
    uint32_t                     hash;
    ngx_uint_t                   i, generation;
    ngx_http_ddbm_cache_node_t  *cn;
    ngx_http_ddbm_cache_zone_t  *z;

    if (ctx->conf->cache == NULL) {
        return NGX_DECLINED;
    }

    z = ctx->conf->cache->zone->data;
    /*
     * the byte table's CRC32, the nibble table's value: keys of 70 to 150
     * bytes (a declared route's read) cost half the instructions
     */
    hash = ngx_crc32_long(key->data, key->len);
    copy = NULL;

    (void) ngx_http_ddbm_cache_generation(ctx);
    generation = ngx_http_ddbm_status_generation(ctx);

    ngx_shmtx_lock(&z->shpool->mutex);

    cn = ngx_http_ddbm_cache_lookup(z, key, hash);

    if (cn
        && ((cn->expires && cn->expires <= ngx_time())
            || cn->generation != generation))
    {
        /* expired, or made from a table since deleted: reclaimed now */
        ngx_http_ddbm_cache_free_node(z, cn,
                                      cn->generation != generation
                                      ? NGX_HTTP_DDBM_CACHE_GENERATION
                                      : NGX_HTTP_DDBM_CACHE_EXPIRED);
        cn = NULL;
    }

    if (cn && cn->nvalues <= max) {
        ngx_queue_remove(&cn->queue);
        ngx_queue_insert_head(cn->nvalues ? &z->sh->lru : &z->sh->negative,
                              &cn->queue);

        len = cn->len - cn->key_len;
        copy = ngx_pnalloc(ctx->request->pool, len ? len : 1);

        if (copy) {
            ngx_memcpy(copy, cn->data + cn->key_len, len);
            *n = cn->nvalues;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (copy == NULL) {
        ctx->cache_misses++;
        ngx_http_ddbm_metrics_cache(0);
        return NGX_DECLINED;
    }

    for (p = copy, i = 0; i < *n; i++) {
        values[i].len = (p[0] << 8) | p[1];
        values[i].data = p + 2;
        p += 2 + values[i].len;
    }

    ctx->cache_hits++;
    ngx_http_ddbm_metrics_cache(1);

    return NGX_OK;
}


/* keeps values under key for ttl seconds (0: until evicted); n 0: absent */
void
ngx_http_ddbm_cache_put(ngx_http_ddbm_ctx_t *ctx, ngx_str_t *key,
    ngx_str_t *values, ngx_uint_t n, time_t ttl)
{
    u_char                      *p;
    size_t                       len, size;
    uint32_t                     hash;
    ngx_uint_t                   i, tries, generation;
    ngx_queue_t                 *q, *lru, *victims;
    ngx_http_ddbm_cache_node_t  *cn;
    ngx_http_ddbm_cache_zone_t  *z;

    if (ctx->conf->cache == NULL) {
        return;
    }

    len = key->len;

    for (i = 0; i < n; i++) {
        if (values[i].len > 0xffff) {
            return;
        }
        len += 2 + values[i].len;
    }

    if (len > 0xffff) {
        return;
    }

    z = ctx->conf->cache->zone->data;
    hash = ngx_crc32_long(key->data, key->len);
    size = offsetof(ngx_http_ddbm_cache_node_t, data) + len;
    lru = n ? &z->sh->lru : &z->sh->negative;

    generation = ngx_http_ddbm_cache_generation(ctx);

    ngx_shmtx_lock(&z->shpool->mutex);

    cn = ngx_http_ddbm_cache_lookup(z, key, hash);
    if (cn) {
        ngx_http_ddbm_cache_free_node(z, cn, NGX_HTTP_DDBM_CACHE_REPLACED);
    }

    /* what expired goes first, a few at a time from each tail */
    (void) ngx_http_ddbm_cache_sweep(z, &z->sh->negative,
                                     NGX_HTTP_DDBM_CACHE_SWEEP);
    (void) ngx_http_ddbm_cache_sweep(z, &z->sh->lru,
                                     NGX_HTTP_DDBM_CACHE_SWEEP);

    if (n == 0) {
        /* "not found" stays within its share, evicting its own kind */
        while (z->sh->stats.bytes[1] + size > z->sh->negative_max
               && !ngx_queue_empty(&z->sh->negative))
        {
            q = ngx_queue_last(&z->sh->negative);
            ngx_http_ddbm_cache_free_node(z,
                ngx_queue_data(q, ngx_http_ddbm_cache_node_t, queue),
                NGX_HTTP_DDBM_CACHE_EVICTED);
        }
    }

    for (tries = 0; /* void */ ; tries++) {
        cn = ngx_slab_alloc_locked(z->shpool, size);

        if (cn || tries == NGX_HTTP_DDBM_CACHE_EVICT) {
            break;
        }

        if (tries == 0
            && (ngx_http_ddbm_cache_sweep(z, &z->sh->negative,
                                          NGX_HTTP_DDBM_CACHE_DEEP)
                + ngx_http_ddbm_cache_sweep(z, &z->sh->lru,
                                            NGX_HTTP_DDBM_CACHE_DEEP)))
        {
            continue;
        }

        /*
         * full: the least recently used entry goes, "not found" first;
         * a negative entry never evicts a positive one
         */
        victims = !ngx_queue_empty(&z->sh->negative) ? &z->sh->negative
                  : (n ? &z->sh->lru : NULL);

        if (victims == NULL || ngx_queue_empty(victims)) {
            break;
        }

        q = ngx_queue_last(victims);
        ngx_http_ddbm_cache_free_node(z,
            ngx_queue_data(q, ngx_http_ddbm_cache_node_t, queue),
            NGX_HTTP_DDBM_CACHE_EVICTED);
    }

    if (cn == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return;
    }

    cn->node.key = hash;
    cn->expires = ttl ? ngx_time() + ttl : 0;
    cn->generation = generation;
    cn->key_len = (u_short) key->len;
    cn->nvalues = (u_short) n;
    cn->len = (u_short) len;

    p = ngx_cpymem(cn->data, key->data, key->len);

    for (i = 0; i < n; i++) {
        *p++ = (u_char) (values[i].len >> 8);
        *p++ = (u_char) values[i].len;
        p = ngx_cpymem(p, values[i].data, values[i].len);
    }

    z->sh->stats.entries[n == 0]++;
    z->sh->stats.bytes[n == 0] += size;

    ngx_rbtree_insert(&z->sh->rbtree, &cn->node);
    ngx_queue_insert_head(lru, &cn->queue);

    ngx_shmtx_unlock(&z->shpool->mutex);
}


void
ngx_http_ddbm_cache_delete(ngx_http_ddbm_ctx_t *ctx, ngx_str_t *key)
{
    ngx_http_ddbm_cache_node_t  *cn;
    ngx_http_ddbm_cache_zone_t  *z;

    if (ctx->conf->cache == NULL) {
        return;
    }

    z = ctx->conf->cache->zone->data;

    ngx_shmtx_lock(&z->shpool->mutex);

    cn = ngx_http_ddbm_cache_lookup(z, key,
                                    ngx_crc32_long(key->data, key->len));
    if (cn) {
        ngx_http_ddbm_cache_free_node(z, cn, NGX_HTTP_DDBM_CACHE_DELETED);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


/* a copy under the mutex: the figures agree with each other */
ngx_int_t
ngx_http_ddbm_cache_stats(ngx_shm_zone_t *zone,
    ngx_http_ddbm_cache_stats_t *st)
{
    ngx_http_ddbm_cache_zone_t  *z;

    z = zone->data;

    if (z == NULL || z->sh == NULL) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&z->shpool->mutex);
    *st = z->sh->stats;
    ngx_shmtx_unlock(&z->shpool->mutex);

    return NGX_OK;
}


/*
 * "S" + sub, "H" + handle, "G" + group, then the table, the endpoint and
 * the region, each after a newline (which none of them holds): in the
 * request's pool.  "D" + a declared route's read (its parts
 * length-prefixed, ngx_http_ddbm_step_id: newlines in it are no
 * separators).
 */
ngx_int_t
ngx_http_ddbm_cache_key(ngx_http_ddbm_ctx_t *ctx, u_char kind,
    ngx_str_t *id, ngx_str_t *key)
{
    u_char                    *p;
    ngx_http_ddbm_loc_conf_t  *dlcf;

    dlcf = ctx->conf;

    key->len = 1 + id->len + 3 + dlcf->table.len + dlcf->host.len
               + dlcf->region.len;

    key->data = ngx_pnalloc(ctx->request->pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = key->data;
    *p++ = kind;
    p = ngx_cpymem(p, id->data, id->len);
    *p++ = '\n';
    p = ngx_cpymem(p, dlcf->table.data, dlcf->table.len);
    *p++ = '\n';
    p = ngx_cpymem(p, dlcf->host.data, dlcf->host.len);
    *p++ = '\n';
    ngx_memcpy(p, dlcf->region.data, dlcf->region.len);

    return NGX_OK;
}
