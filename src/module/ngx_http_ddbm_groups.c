/*
 * Conversations: who is in one, where each member's GRP# row stands, and
 * its revision for optimistic concurrency.
 *
 * The module keeps a GRPMETA#<group> item (sk "META") beside the
 * reference's items: members (a_*, b_*), last_sk and rev.  It is read with
 * a strongly consistent GetItem, so a conversation is readable the moment
 * its POST returns.  It carries no message_group_uuid attribute, so the
 * reference's GSI (and its stream Lambda) never see it.  A conversation
 * that only the reference's tools wrote has no such item; its two GRP#
 * rows are found through message-group-sk-index (old data, so the index's
 * eventual consistency does not matter), and the first module write adds
 * the item.
 */

#include "ngx_http_ddbm.h"


#define NGX_HTTP_DDBM_GSI  "message-group-sk-index"


typedef struct {
    ngx_pool_t             *pool;
    ngx_http_ddbm_group_t  *g;
    ngx_uint_t              row;          /* GSI rows: the current one */
    ngx_str_t               pk, sk;
    ngx_http_ddbm_user_t    other;
} ngx_http_ddbm_group_reader_t;


static ngx_int_t
ngx_http_ddbm_copy(ngx_pool_t *pool, ngx_str_t *dst, const u_char *v,
    size_t len)
{
    dst->data = ngx_pnalloc(pool, len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, v, len);
    dst->data[len] = '\0';
    dst->len = len;

    return NGX_OK;
}


#define ngx_http_ddbm_attr_is(n, l, lit)                                    \
    ((l) == sizeof(lit) - 1 && ngx_strncmp((n), lit, sizeof(lit) - 1) == 0)


#define NGX_HTTP_DDBM_GROUP_VALUES  11


/* what the cache keeps of a conversation, in the order of its values */
static void
ngx_http_ddbm_group_values(ngx_http_ddbm_group_t *g, ngx_str_t *v)
{
    ngx_uint_t  i;

    if (g->has_meta) {
        ngx_str_set(&v[0], "1");
    } else {
        ngx_str_set(&v[0], "0");
    }
    v[1] = g->rev;
    v[2] = g->last_sk;
    v[3] = g->member_sk[0];
    v[4] = g->member_sk[1];

    for (i = 0; i < 2; i++) {
        v[5 + 3 * i] = g->member[i].uuid;
        v[6 + 3 * i] = g->member[i].handle;
        v[7 + 3 * i] = g->member[i].display_name;
    }
}


void
ngx_http_ddbm_group_keep(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_group_t *g)
{
    ngx_str_t  key, v[NGX_HTTP_DDBM_GROUP_VALUES];

    if (ctx->conf->cache == NULL || g->nmembers != 2
        || ngx_http_ddbm_cache_key(ctx, 'G', &g->group, &key) != NGX_OK)
    {
        return;
    }

    ngx_http_ddbm_group_values(g, v);

    /*
     * members never change, the rest is checked by every write; kept for
     * group_ttl only, so a deleted conversation stops being readable
     */
    ngx_http_ddbm_cache_put(ctx, &key, v, NGX_HTTP_DDBM_GROUP_VALUES,
                            ctx->conf->cache->group_ttl);
}


/*
 * Neither a record nor rows: a 404 for at most negative_ttl without a
 * read.  Only that long: start-conversation on this instance or another
 * (or the reference's tools) may create it later.
 */
static void
ngx_http_ddbm_group_absent(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_group_t *g)
{
    ngx_str_t  key;

    if (ctx->conf->cache == NULL
        || ngx_http_ddbm_cache_key(ctx, 'G', &g->group, &key) != NGX_OK)
    {
        return;
    }

    ngx_http_ddbm_cache_put(ctx, &key, NULL, 0,
                            ctx->conf->cache->negative_ttl);
}


void
ngx_http_ddbm_group_forget(ngx_http_ddbm_ctx_t *ctx, ngx_str_t *group)
{
    ngx_str_t  key;

    if (ctx->conf->cache
        && ngx_http_ddbm_cache_key(ctx, 'G', group, &key) == NGX_OK)
    {
        ngx_http_ddbm_cache_delete(ctx, &key);
    }
}


static ngx_int_t
ngx_http_ddbm_group_cached(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_group_t *g)
{
    ngx_str_t   key, v[NGX_HTTP_DDBM_GROUP_VALUES];
    ngx_uint_t  i, n;

    if (ctx->conf->cache == NULL
        || ngx_http_ddbm_cache_key(ctx, 'G', &g->group, &key) != NGX_OK
        || ngx_http_ddbm_cache_get(ctx, &key, v, NGX_HTTP_DDBM_GROUP_VALUES,
                                   &n)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (n == 0) {
        /* known not to exist, for at most negative_ttl */
        g->nmembers = 0;
        g->caller = -1;
        g->cached = 1;
        return NGX_OK;
    }

    if (n != NGX_HTTP_DDBM_GROUP_VALUES) {
        return NGX_DECLINED;
    }

    g->has_meta = (v[0].len == 1 && v[0].data[0] == '1');
    g->rev = v[1];
    g->last_sk = v[2];
    g->member_sk[0] = v[3];
    g->member_sk[1] = v[4];

    for (i = 0; i < 2; i++) {
        g->member[i].uuid = v[5 + 3 * i];
        g->member[i].handle = v[6 + 3 * i];
        g->member[i].display_name = v[7 + 3 * i];
        g->member[i].found = 1;
    }

    g->nmembers = 2;
    g->caller = -1;
    g->cached = 1;

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_lookup_group_meta(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_http_ddbm_group_t *g, ngx_msec_t delay, ngx_uint_t fresh)
{
    char      pk[DM_KEY_MAX];
    dm_buf_t  b;

    g->cached = 0;

    if (!fresh && ngx_http_ddbm_group_cached(ctx, g) == NGX_OK) {
        return NGX_OK;
    }

    if (dm_key_group_meta(pk, sizeof(pk), (const char *) g->group.data,
                          g->group.len)
        == 0)
    {
        return NGX_ERROR;
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    if (dm_ddb_get_item(&b, (const char *) ctx->conf->table.data, pk,
                        DM_SK_GROUP_META, 1)
        != 0)
    {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_call_after(ctx, tag, "GetItem", &b, delay)
           ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_ddbm_lookup_group_rows(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_str_t *group, ngx_msec_t delay)
{
    char            *g;
    dm_buf_t         b;
    dm_ddb_query_t   q;

    g = ngx_http_ddbm_cstr(ctx->request->pool, group);
    if (g == NULL || !dm_uuid_valid(g, group->len)) {
        return NGX_ERROR;
    }

    ngx_memzero(&q, sizeof(dm_ddb_query_t));
    q.table = (const char *) ctx->conf->table.data;
    q.index = NGX_HTTP_DDBM_GSI;
    q.key_name = "message_group_uuid";
    q.key_value = g;
    q.forward = 0;
    q.limit = 10;   /* two rows, or a few more in damaged data */

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    if (dm_ddb_query(&b, &q) != 0) {
        return NGX_ERROR;
    }

    return ngx_http_ddbm_call_after(ctx, tag, "Query", &b, delay)
           ? NGX_OK : NGX_ERROR;
}


static int
ngx_http_ddbm_meta_attr(void *data, const char *name, size_t len, char type,
    const unsigned char *v, size_t vlen)
{
    ngx_http_ddbm_group_reader_t  *gr = data;

    ngx_str_t              *dst;
    ngx_http_ddbm_user_t   *m;
    ngx_http_ddbm_group_t  *g;

    g = gr->g;

    if (len > 2 && (name[0] == 'a' || name[0] == 'b') && name[1] == '_') {
        m = &g->member[name[0] - 'a'];
        name += 2;
        len -= 2;

        if (ngx_http_ddbm_attr_is(name, len, "uuid")) {
            dst = &m->uuid;
        } else if (ngx_http_ddbm_attr_is(name, len, "handle")) {
            dst = &m->handle;
        } else if (ngx_http_ddbm_attr_is(name, len, "display_name")) {
            dst = &m->display_name;
        } else {
            return 0;
        }

    } else if (ngx_http_ddbm_attr_is(name, len, "last_sk")) {
        dst = &g->last_sk;

    } else if (ngx_http_ddbm_attr_is(name, len, "rev") && type == 'N') {
        dst = &g->rev;

    } else {
        return 0;
    }

    return ngx_http_ddbm_copy(gr->pool, dst, v, vlen) == NGX_OK ? 0 : -1;
}


/* forgets what g knew (but its uuid) and reads the call's answer into it */
static ngx_int_t
ngx_http_ddbm_read_group(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_http_ddbm_group_t *g,
    int (*item_begin)(void *ctx, size_t index),
    int (*item_attr)(void *ctx, const char *name, size_t name_len,
                     char type, const unsigned char *value, size_t value_len),
    int (*item_end)(void *ctx, size_t index),
    dm_ddb_answer_t *answer)
{
    ngx_str_t                      group;
    dm_item_handler_t              h;
    ngx_http_ddbm_group_reader_t   gr;

    group = g->group;
    ngx_memzero(g, sizeof(ngx_http_ddbm_group_t));
    g->group = group;
    g->caller = -1;

    ngx_memzero(&gr, sizeof(gr));
    gr.pool = ctx->request->pool;
    gr.g = g;

    h.item_begin = item_begin;
    h.item_attr = item_attr;
    h.item_end = item_end;
    h.key_attr = NULL;
    h.ctx = &gr;

    return ngx_http_ddbm_read_answer(ctx, tag, &h, answer);
}


ngx_int_t
ngx_http_ddbm_read_group_meta(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_http_ddbm_group_t *g)
{
    ngx_int_t         rc;
    ngx_uint_t        i;
    dm_ddb_answer_t   answer;

    if (g->cached) {
        return NGX_OK;
    }

    rc = ngx_http_ddbm_read_group(ctx, tag, g, NULL, ngx_http_ddbm_meta_attr,
                                  NULL, &answer);
    if (rc != NGX_OK) {
        return rc;
    }

    if (answer.nitems == 0) {
        return NGX_OK;
    }

    for (i = 0; i < 2; i++) {
        if (!dm_uuid_valid((const char *) g->member[i].uuid.data,
                           g->member[i].uuid.len))
        {
            goto damaged;
        }
        g->member[i].found = 1;
        g->member_sk[i] = g->last_sk;
    }

    if (g->rev.len == 0 || g->last_sk.len == 0) {
        goto damaged;
    }

    g->has_meta = 1;
    g->nmembers = 2;

    ngx_http_ddbm_group_keep(ctx, g);

    return NGX_OK;

damaged:

    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "ddbm: conversation item of \"%V\" is damaged", &g->group);

    return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "conversation_damaged",
                                       "the conversation's record is "
                                       "damaged");
}


static ngx_int_t
ngx_http_ddbm_group_member(ngx_http_ddbm_group_t *g, ngx_str_t *uuid)
{
    ngx_uint_t  i;

    for (i = 0; i < g->nmembers; i++) {
        if (g->member[i].uuid.len == uuid->len
            && ngx_strncmp(g->member[i].uuid.data, uuid->data, uuid->len)
               == 0)
        {
            return i;
        }
    }

    if (g->nmembers == 2) {
        return -1;
    }

    g->member[g->nmembers].uuid = *uuid;
    g->member[g->nmembers].found = 1;

    return g->nmembers++;
}


static int
ngx_http_ddbm_row_begin(void *data, size_t index)
{
    ngx_http_ddbm_group_reader_t  *gr = data;

    ngx_str_null(&gr->pk);
    ngx_str_null(&gr->sk);
    ngx_memzero(&gr->other, sizeof(ngx_http_ddbm_user_t));

    return 0;
}


static int
ngx_http_ddbm_row_attr(void *data, const char *name, size_t len, char type,
    const unsigned char *v, size_t vlen)
{
    ngx_http_ddbm_group_reader_t  *gr = data;

    ngx_str_t  *dst;

    if (type != 'S') {
        return 0;
    }

    if (ngx_http_ddbm_attr_is(name, len, "pk")) {
        dst = &gr->pk;
    } else if (ngx_http_ddbm_attr_is(name, len, "sk")) {
        dst = &gr->sk;
    } else if (ngx_http_ddbm_attr_is(name, len, "user_uuid")) {
        dst = &gr->other.uuid;
    } else if (ngx_http_ddbm_attr_is(name, len, "user_handle")) {
        dst = &gr->other.handle;
    } else if (ngx_http_ddbm_attr_is(name, len, "user_display_name")) {
        dst = &gr->other.display_name;
    } else {
        return 0;
    }

    return ngx_http_ddbm_copy(gr->pool, dst, v, vlen) == NGX_OK ? 0 : -1;
}


/* a GRP#<owner> row: the owner's sk, the other member's name */
static int
ngx_http_ddbm_row_end(void *data, size_t index)
{
    ngx_http_ddbm_group_reader_t  *gr = data;

    ngx_int_t               owner, other;
    ngx_str_t               owner_uuid;
    ngx_http_ddbm_group_t  *g;

    g = gr->g;

    if (gr->pk.len != sizeof(DM_PK_GRP) - 1 + DM_UUID_LEN
        || ngx_strncmp(gr->pk.data, DM_PK_GRP, sizeof(DM_PK_GRP) - 1) != 0
        || !dm_uuid_valid((const char *) gr->other.uuid.data,
                          gr->other.uuid.len)
        || gr->sk.len == 0)
    {
        return 0;   /* not a conversation row: ignore it */
    }

    owner_uuid.data = gr->pk.data + sizeof(DM_PK_GRP) - 1;
    owner_uuid.len = DM_UUID_LEN;

    if (!dm_uuid_valid((const char *) owner_uuid.data, owner_uuid.len)) {
        return 0;
    }

    owner = ngx_http_ddbm_group_member(g, &owner_uuid);
    other = ngx_http_ddbm_group_member(g, &gr->other.uuid);

    if (owner < 0 || other < 0 || owner == other) {
        return 0;   /* a third party in damaged data: ignore the row */
    }

    /* rows come newest first: keep each owner's newest row */
    if (g->member_sk[owner].len == 0) {
        g->member_sk[owner] = gr->sk;
    }

    if (g->member[other].handle.len == 0) {
        g->member[other].handle = gr->other.handle;
        g->member[other].display_name = gr->other.display_name;
    }

    return 0;
}


/* g from the index's rows, nothing kept: NGX_OK, or answered */
static ngx_int_t
ngx_http_ddbm_parse_group_rows(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_http_ddbm_group_t *g)
{
    ngx_int_t        rc;
    dm_ddb_answer_t  answer;

    rc = ngx_http_ddbm_read_group(ctx, tag, g, ngx_http_ddbm_row_begin,
                                  ngx_http_ddbm_row_attr,
                                  ngx_http_ddbm_row_end, &answer);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the newest of the rows is the conversation's last known time */
    g->last_sk = g->member_sk[0];
    if (g->member_sk[1].len
        && (g->last_sk.len == 0
            || ngx_strncmp(g->member_sk[1].data, g->last_sk.data,
                           ngx_min(g->member_sk[1].len, g->last_sk.len))
               > 0))
    {
        g->last_sk = g->member_sk[1];
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_read_group_rows(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_http_ddbm_group_t *g)
{
    ngx_int_t  rc;

    rc = ngx_http_ddbm_parse_group_rows(ctx, tag, g);
    if (rc != NGX_OK) {
        return rc;
    }

    if (g->nmembers == 0) {
        ngx_http_ddbm_group_absent(ctx, g);
        return NGX_OK;
    }

    ngx_http_ddbm_group_keep(ctx, g);

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_locate_group_rows(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_http_ddbm_group_t *g)
{
    ngx_int_t              rc;
    ngx_uint_t             i, j;
    ngx_http_ddbm_group_t  rows;

    ngx_memzero(&rows, sizeof(ngx_http_ddbm_group_t));
    rows.group = g->group;

    rc = ngx_http_ddbm_parse_group_rows(ctx, tag, &rows);
    if (rc != NGX_OK) {
        return rc;
    }

    if (g->nmembers == 0) {
        /* no record: the rows are all there is */
        *g = rows;
        goto done;
    }

    /* a member without a row gets one; a row elsewhere is moved */
    for (i = 0; i < 2; i++) {
        ngx_str_null(&g->member_sk[i]);

        for (j = 0; j < rows.nmembers; j++) {
            if (rows.member[j].uuid.len == g->member[i].uuid.len
                && ngx_strncmp(rows.member[j].uuid.data,
                               g->member[i].uuid.data,
                               g->member[i].uuid.len) == 0)
            {
                g->member_sk[i] = rows.member_sk[j];
            }
        }
    }

done:

    ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                  "ddbm: conversation \"%V\": a row was not where it was "
                  "known to be; the index shows \"%V\" and \"%V\"",
                  &g->group, &g->member_sk[0], &g->member_sk[1]);

    return NGX_OK;
}


ngx_int_t
ngx_http_ddbm_check_member(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_group_t *g)
{
    ngx_uint_t  i;

    for (i = 0; i < g->nmembers; i++) {
        if (g->member[i].uuid.len == ctx->caller.uuid.len
            && ngx_strncmp(g->member[i].uuid.data, ctx->caller.uuid.data,
                           ctx->caller.uuid.len) == 0)
        {
            g->caller = i;
            break;
        }
    }

    if (g->nmembers == 0) {
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_NOT_FOUND,
                                           "conversation_not_found",
                                           "no such conversation");
    }

    if (g->caller < 0 || g->nmembers != 2) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "ddbm: user \"%V\" is not a member of conversation "
                      "\"%V\", answered 403", &ctx->caller.uuid, &g->group);
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_FORBIDDEN,
                                           "not_a_participant",
                                           "only the conversation's "
                                           "participants may read or post "
                                           "to it");
    }

    return NGX_OK;
}
