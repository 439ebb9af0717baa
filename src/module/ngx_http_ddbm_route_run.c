/*
 * Declared routes, the engine: a compiled plan (ngx_http_ddbm_route.h)
 * run as DynamoDB calls through the request loop of
 * ngx_http_ddbm_request.c, as a pattern whose start and resume steps are
 * the same for every route.
 *
 *   start    validation (every 422 code at once), then the first round
 *   a round  every step whose steps and checks are done is issued (or
 *            answered by the cache); checks run, in the order written, as
 *            soon as what they read is known
 *   resume   the round's answers kept (only the attributes the plan reads
 *            later), then the next round, or the answer
 *
 * A value reaches DynamoDB only as a typed attribute value: each one is
 * bound to its slot's or attribute's type (dm_rtype_bind) and written as
 * {"S": ...} or {"N": ...}; expressions are the configuration's static
 * text with generated placeholders.
 */

#include "ngx_http_ddbm_route.h"


/* what one step has read: values[item * nreads + attr] */
typedef struct {
    ngx_http_ddbm_call_t       *call;
    ngx_str_t                  *values;        /* data NULL: absent */
    u_char                     *types;         /* 'S', 'N', 'B', '0' */
    ngx_uint_t                  nitems;
    ngx_str_t                   cache_key;
    unsigned                    issued:1;
    unsigned                    done:1;
    unsigned                    from_cache:1;
    /* LastEvaluatedKey's sort key when it was read, for a cursor */
    ngx_str_t                   last_sk;
    /*
     * BatchGetItem: the keys asked (pk, sk: two strings a key), in the
     * order of its Query's items, and those DynamoDB left unprocessed,
     * asked again after a pause
     */
    ngx_str_t                  *keys;
    ngx_uint_t                  nkeys;
    ngx_str_t                  *unprocessed;
    ngx_uint_t                  nunprocessed;
    ngx_uint_t                  calls;
    ngx_msec_t                  delay;
    unsigned                    again:1;
} ngx_http_ddbm_step_state_t;

typedef struct {
    ngx_http_ddbm_route_t      *route;
    ngx_http_ddbm_step_state_t  step[NGX_HTTP_DDBM_ROUTE_STEPS];
    uint32_t                    steps_done;
    uint32_t                    checks_done;
    ngx_uint_t                  next_check;
    json_t                     *body;
    int64_t                     now;           /* one time per request */
} ngx_http_ddbm_run_t;

/* the item reader's state */
typedef struct {
    ngx_http_ddbm_ctx_t        *ctx;
    ngx_http_ddbm_step_t       *step;
    ngx_http_ddbm_step_state_t *st;
    ngx_uint_t                  base;          /* items read before */
    ngx_uint_t                  max;
} ngx_http_ddbm_reader_t;


static ngx_int_t ngx_http_ddbm_route_advance(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_run_t *run);
static ngx_int_t ngx_http_ddbm_route_answer(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_run_t *run);
static ngx_int_t ngx_http_ddbm_last_sk(ngx_http_ddbm_ctx_t *ctx,
    dm_ddb_answer_t *answer, ngx_str_t *out);
static ngx_int_t ngx_http_ddbm_route_error_type(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_route_t *route, const char *type);


#define ngx_http_ddbm_run_route(ctx)                                         \
    ((ngx_http_ddbm_route_t *) (ctx)->pattern->route)


static void
ngx_http_ddbm_route_json_cleanup(void *data)
{
    json_decref(data);
}


/* ---- values ------------------------------------------------------------ */

/* the attribute's place in what a step reads, or -1 */
ngx_int_t
ngx_http_ddbm_read_index(ngx_http_ddbm_step_t *step, ngx_str_t *attr)
{
    ngx_str_t   *reads;
    ngx_uint_t   i;

    reads = step->reads.elts;

    for (i = 0; i < step->reads.nelts; i++) {
        if (reads[i].len == attr->len
            && ngx_strncmp(reads[i].data, attr->data, attr->len) == 0)
        {
            return i;
        }
    }

    return -1;
}


/* an attribute of one item a step read: NGX_OK, or NGX_DECLINED */
static ngx_int_t
ngx_http_ddbm_step_attr(ngx_http_ddbm_run_t *run, ngx_uint_t s,
    ngx_uint_t item, ngx_str_t *attr, ngx_str_t *out, u_char *type)
{
    ngx_int_t                    k;
    ngx_http_ddbm_step_t        *step;
    ngx_http_ddbm_step_state_t  *st;

    step = &((ngx_http_ddbm_step_t *) run->route->steps.elts)[s];
    st = &run->step[s];

    k = ngx_http_ddbm_read_index(step, attr);

    if (k < 0 || item >= st->nitems
        || st->values[item * step->reads.nelts + k].data == NULL)
    {
        return NGX_DECLINED;
    }

    *out = st->values[item * step->reads.nelts + k];

    if (type) {
        *type = st->types[item * step->reads.nelts + k];
    }

    return NGX_OK;
}


/* STEP[].SLOT or STEP.SLOT: the slot's text out of the key attribute */
static ngx_int_t
ngx_http_ddbm_slot_value(ngx_http_ddbm_source_t *src, ngx_str_t *key,
    ngx_str_t *out)
{
    dm_rstr_t  vals[DM_RTMPL_PARTS_MAX];

    if (dm_rtmpl_match(src->tmpl, (const char *) key->data, key->len, vals,
                       src->tmpl->nslots)
        != 0
        || src->slot >= src->tmpl->nslots)
    {
        return NGX_DECLINED;
    }

    out->data = (u_char *) vals[src->slot].data;
    out->len = vals[src->slot].len;

    return NGX_OK;
}


/*
 * The raw text of a source for one item (STEP_ALL; 0 otherwise):
 * NGX_OK, NGX_DECLINED (missing), NGX_ABORT (present, not a scalar),
 * NGX_ERROR.
 */
static ngx_int_t
ngx_http_ddbm_source_get(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_source_t *src, ngx_uint_t item, ngx_str_t *out)
{
    u_char                     *p;
    char                        t[DM_TIME_LEN + 1];
    int64_t                     us;
    ngx_int_t                   rc;
    ngx_str_t                   v, seg, *name;
    json_t                     *j;
    ngx_http_ddbm_item_t       *it;
    ngx_http_variable_value_t  *vv;

    switch (src->kind) {

    case NGX_HTTP_DDBM_SRC_VAR:
        vv = ngx_http_get_indexed_variable(ctx->request, src->index);
        if (vv == NULL || vv->not_found) {
            rc = NGX_DECLINED;
            break;
        }

        out->data = vv->data;
        out->len = vv->len;
        rc = NGX_OK;
        break;

    case NGX_HTTP_DDBM_SRC_ARG:
        rc = ngx_http_ddbm_query_arg(ctx, (const char *) src->name.data,
                                     src->name.len, out);
        break;

    case NGX_HTTP_DDBM_SRC_BODY:
        j = run->body;
        v = src->name;

        /* a.b.c: object members, one by one */
        while (j != NULL && v.len) {
            seg.data = v.data;
            p = ngx_strlchr(v.data, v.data + v.len, '.');
            seg.len = p ? (size_t) (p - v.data) : v.len;
            v.data += p ? seg.len + 1 : seg.len;
            v.len -= p ? seg.len + 1 : seg.len;

            j = json_is_object(j) ? json_object_getn(j, (char *) seg.data,
                                                      seg.len)
                                  : NULL;
        }

        if (j == NULL || json_is_null(j)) {
            rc = NGX_DECLINED;

        } else if (json_is_string(j)) {
            out->data = (u_char *) json_string_value(j);
            out->len = json_string_length(j);
            rc = NGX_OK;

        } else if (json_is_integer(j)) {
            out->data = ngx_pnalloc(ctx->request->pool, NGX_INT64_LEN);
            if (out->data == NULL) {
                return NGX_ERROR;
            }

            out->len = ngx_sprintf(out->data, "%L",
                                   (int64_t) json_integer_value(j))
                       - out->data;
            rc = NGX_OK;

        } else {
            /* an object, an array, a boolean, a real: no scalar value */
            rc = NGX_ABORT;
        }

        break;

    case NGX_HTTP_DDBM_SRC_IDENTITY:
        *out = ctx->sub;
        rc = out->len ? NGX_OK : NGX_DECLINED;
        break;

    case NGX_HTTP_DDBM_SRC_STEP:
    case NGX_HTTP_DDBM_SRC_STEP_ALL:
        if (src->kind == NGX_HTTP_DDBM_SRC_STEP) {
            item = 0;
        }

        name = &src->name;

        if (src->tmpl) {
            /* a slot: split out of the key attribute that holds it */
            it = ((ngx_http_ddbm_step_t *) run->route->steps.elts)
                 [src->step].item;
            name = (src->tmpl == &it->pk) ? &it->schema->pk
                                          : &it->schema->sk;
        }

        rc = ngx_http_ddbm_step_attr(run, src->step, item, name, &v, NULL);
        if (rc == NGX_OK && src->tmpl) {
            rc = ngx_http_ddbm_slot_value(src, &v, &v);
        }

        if (rc == NGX_OK) {
            *out = v;
        }

        break;

    case NGX_HTTP_DDBM_SRC_LITERAL:
        *out = src->literal;
        return NGX_OK;

    case NGX_HTTP_DDBM_SRC_UUID4:
        out->data = ngx_pnalloc(ctx->request->pool, DM_UUID_LEN + 1);
        if (out->data == NULL || dm_uuid_v4((char *) out->data) != 0) {
            return NGX_ERROR;
        }

        out->len = DM_UUID_LEN;
        return NGX_OK;

    case NGX_HTTP_DDBM_SRC_NOW:
    case NGX_HTTP_DDBM_SRC_LATER_THAN:
        if (run->now == 0) {
            run->now = dm_time_now_us();
        }

        us = run->now;

        if (src->kind == NGX_HTTP_DDBM_SRC_LATER_THAN) {
            rc = ngx_http_ddbm_source_get(ctx, run, src->arg, item, &v);
            if (rc == NGX_ERROR) {
                return rc;
            }

            if (rc == NGX_OK
                && dm_time_parse((const char *) v.data, v.len, &us))
            {
                us = dm_time_next(run->now, us);

            } else {
                us = run->now;
            }
        }

        if (dm_time_format(us, t) == 0) {
            return NGX_ERROR;
        }

        out->data = ngx_pnalloc(ctx->request->pool, DM_TIME_LEN);
        if (out->data == NULL) {
            return NGX_ERROR;
        }

        out->len = DM_TIME_LEN;
        ngx_memcpy(out->data, t, DM_TIME_LEN);
        return NGX_OK;

    default:
        return NGX_DECLINED;
    }

    if (rc == NGX_DECLINED && src->has_default) {
        *out = src->literal;
        return NGX_OK;
    }

    return rc;
}


/*
 * A source bound to a type, for one item of a list (STEP[].attr; 0
 * otherwise): DM_RBIND_OK with *val, or why not
 */
static ngx_int_t
ngx_http_ddbm_bind_item(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_source_t *src, ngx_uint_t item, const dm_rtype_t *type,
    dm_rval_t *val, dm_rbind_e *why)
{
    char       *buf;
    size_t      size;
    ngx_int_t   rc;
    ngx_str_t   v;

    rc = ngx_http_ddbm_source_get(ctx, run, src, item, &v);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        *why = dm_rtype_bind(type, NULL, 0, NULL, 0, val);
        return NGX_OK;
    }

    if (rc == NGX_ABORT) {
        *why = DM_RBIND_INVALID;
        return NGX_OK;
    }

    size = ngx_max(v.len, DM_TIME_LEN) + 1;

    buf = ngx_pnalloc(ctx->request->pool, size);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    *why = dm_rtype_bind(type, (const char *) v.data, v.len, buf, size, val);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ddbm_bind(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_source_t *src, const dm_rtype_t *type, dm_rval_t *val,
    dm_rbind_e *why)
{
    return ngx_http_ddbm_bind_item(ctx, run, src, 0, type, val, why);
}


/* a value no validate line checked failed its type: 400 invalid_NAME */
static ngx_int_t
ngx_http_ddbm_respond_invalid(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_source_t *src, dm_rbind_e why)
{
    u_char     *code, *msg, *p;
    ngx_str_t   name;

    name = src->name.len ? src->name : src->text;

    code = ngx_pnalloc(ctx->request->pool, sizeof("invalid_") + name.len);
    msg = ngx_pnalloc(ctx->request->pool,
                      sizeof("invalid : ") + src->text.len + 32);
    if (code == NULL || msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(code, "invalid_%V%Z", &name);

    for (p = code; *p; p++) {
        if (*p == '.' || *p == '-') {
            *p = '_';
        }
    }

    ngx_sprintf(msg, "invalid %V: %s%Z", &src->text, dm_rbind_name(why));

    return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                       (const char *) code,
                                       (const char *) msg);
}


/* ---- validation -------------------------------------------------------- */

static ngx_int_t
ngx_http_ddbm_route_validate(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_run_t *run)
{
    char                       *msg;
    dm_rval_t                   val;
    ngx_int_t                   rc;
    dm_rbind_e                  why;
    ngx_str_t                  *code, name;
    ngx_uint_t                  i, n, status;
    const char                **codes;
    ngx_http_ddbm_validate_t   *v;

    v = run->route->validates.elts;
    n = 0;

    codes = ngx_palloc(ctx->request->pool,
                       (run->route->validates.nelts + 1) * sizeof(char *));
    if (codes == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < run->route->validates.nelts; i++) {
        rc = ngx_http_ddbm_bind(ctx, run, &v[i].source, v[i].type, &val,
                                &why);
        if (rc != NGX_OK) {
            return rc;
        }

        if (why == DM_RBIND_OK || (why == DM_RBIND_MISSING && v[i].optional))
        {
            continue;
        }

        code = &v[i].code[why];
        status = v[i].status[why];

        if (code->len == 0) {
            name = v[i].source.name.len ? v[i].source.name
                                        : v[i].source.text;
            code = ngx_palloc(ctx->request->pool, sizeof(ngx_str_t));
            if (code == NULL) {
                return NGX_ERROR;
            }

            code->data = ngx_pnalloc(ctx->request->pool,
                                     sizeof("invalid_") + name.len);
            if (code->data == NULL) {
                return NGX_ERROR;
            }

            code->len = ngx_sprintf(code->data, "invalid_%V", &name)
                        - code->data;
            status = NGX_HTTP_BAD_REQUEST;
        }

        if (status == 0 || status == NGX_HTTP_DDBM_UNPROCESSABLE) {
            codes[n] = ngx_http_ddbm_cstr(ctx->request->pool, code);
            if (codes[n] == NULL) {
                return NGX_ERROR;
            }

            n++;
            continue;
        }

        if (v[i].message.len) {
            msg = ngx_http_ddbm_cstr(ctx->request->pool, &v[i].message);

        } else {
            msg = ngx_pnalloc(ctx->request->pool,
                              sizeof("invalid ") + v[i].source.text.len);
            if (msg) {
                ngx_sprintf((u_char *) msg, "invalid %V%Z",
                            &v[i].source.text);
            }
        }

        if (msg == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_ddbm_respond_error(ctx, status,
                                     ngx_http_ddbm_cstr(ctx->request->pool,
                                                        code),
                                     msg);
    }

    if (n) {
        return ngx_http_ddbm_respond_codes(ctx, codes, n);
    }

    return NGX_OK;
}


/* ---- requests ------------------------------------------------------------ */

/* {"S":"..."} or {"N":"..."} */
static void
ngx_http_ddbm_json_value(dm_buf_t *b, dm_rval_t *v)
{
    dm_buf_append_str(b, v->ddb == 'N' ? "{\"N\":" : "{\"S\":");
    dm_buf_json_string(b, (const u_char *) v->data, v->len);
    dm_buf_append_str(b, "}");
}


/* a key attribute: "name":{"S":"..."} */
static void
ngx_http_ddbm_json_attr(dm_buf_t *b, ngx_str_t *name, const char *type,
    const u_char *value, size_t len)
{
    dm_buf_json_string(b, name->data, name->len);
    dm_buf_append_str(b, ":{\"");
    dm_buf_append_str(b, type);
    dm_buf_append_str(b, "\":");
    dm_buf_json_string(b, value, len);
    dm_buf_append_str(b, "}");
}


/*
 * The key's templates rendered from the step's key binds (pk's slots,
 * then sk's), those that are STEP[].attr from that step's item "item":
 * NGX_OK, answered (a value not of its slot's type), or NGX_DECLINED (a
 * BatchGetItem's: that item gives no key)
 */
static ngx_int_t
ngx_http_ddbm_render_key(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step, ngx_uint_t item, ngx_str_t *pk,
    ngx_str_t *sk)
{
    size_t                 len, npk;
    dm_rval_t              vals[2 * DM_RTMPL_PARTS_MAX];
    ngx_int_t              rc;
    dm_rbind_e             why;
    ngx_uint_t             i, level;
    ngx_http_ddbm_bind_t  *key;

    key = step->key.elts;

    for (i = 0; i < step->key.nelts && i < 2 * DM_RTMPL_PARTS_MAX; i++) {
        rc = ngx_http_ddbm_bind_item(ctx, run, &key[i].source, item,
                                     key[i].type, &vals[i], &why);
        if (rc != NGX_OK) {
            return rc;
        }

        if (why != DM_RBIND_OK
            && key[i].source.kind == NGX_HTTP_DDBM_SRC_STEP_ALL)
        {
            /*
             * an item of the Query without that value (or with one the
             * schema does not allow): it names no item of this family
             */
            level = (why == DM_RBIND_MISSING) ? NGX_LOG_INFO : NGX_LOG_WARN;

            ngx_log_error(level, ctx->request->connection->log, 0,
                          "ddbm: step \"%V\": item %ui of \"%V\" is %s: "
                          "no key asked for it", &step->name, item,
                          &key[i].source.text, dm_rbind_name(why));
            return NGX_DECLINED;
        }

        if (why != DM_RBIND_OK) {
            return ngx_http_ddbm_respond_invalid(ctx, &key[i].source, why);
        }
    }

    npk = step->item->pk.nslots;

    pk->data = ngx_pnalloc(ctx->request->pool, DM_KEY_MAX);
    sk->data = ngx_pnalloc(ctx->request->pool, DM_KEY_MAX);
    if (pk->data == NULL || sk->data == NULL) {
        return NGX_ERROR;
    }

    pk->len = dm_rtmpl_render(&step->item->pk, vals, npk, (char *) pk->data,
                              DM_KEY_MAX);
    if (pk->len == 0) {
        return ngx_http_ddbm_respond_invalid(ctx, &key[0].source,
                                             DM_RBIND_INVALID);
    }

    sk->len = 0;

    if (step->item->sk.nparts && (step->op != NGX_HTTP_DDBM_OP_QUERY
                                  || step->key_has_sk))
    {
        len = dm_rtmpl_render(&step->item->sk, vals + npk,
                              step->key.nelts - npk, (char *) sk->data,
                              DM_KEY_MAX);
        if (len == 0) {
            return ngx_http_ddbm_respond_invalid(ctx,
                                       &key[step->key.nelts - 1].source,
                                       DM_RBIND_INVALID);
        }

        sk->len = len;
    }

    return NGX_OK;
}


/* a key: {"pk":{"S":...},"sk":{"S":...}} */
static void
ngx_http_ddbm_json_key_object(dm_buf_t *b, ngx_http_ddbm_schema_t *schema,
    ngx_str_t *pk, ngx_str_t *sk)
{
    dm_buf_append_str(b, "{");
    ngx_http_ddbm_json_attr(b, &schema->pk, "S", pk->data, pk->len);

    if (schema->sk.len) {
        dm_buf_append_str(b, ",");
        ngx_http_ddbm_json_attr(b, &schema->sk, "S", sk->data, sk->len);
    }

    dm_buf_append_str(b, "}");
}


/* "Key":{...} of GetItem, UpdateItem, DeleteItem */
static void
ngx_http_ddbm_json_key(dm_buf_t *b, ngx_http_ddbm_schema_t *schema,
    ngx_str_t *pk, ngx_str_t *sk)
{
    dm_buf_append_str(b, "\"Key\":");
    ngx_http_ddbm_json_key_object(b, schema, pk, sk);
}


/*
 * Expression attribute names: the projection's (#ddbmpN), the key
 * condition's (#ddbmk0, #ddbmk1) and the route's own #names
 */
static void
ngx_http_ddbm_json_names(dm_buf_t *b, ngx_http_ddbm_step_t *step,
    ngx_array_t *project, ngx_str_t *kpk, ngx_str_t *ksk)
{
    ngx_str_t   *a;
    ngx_uint_t   i, n;
    dm_rname_t  *names;

    n = 0;
    dm_buf_append_str(b, ",\"ExpressionAttributeNames\":{");

    if (project) {
        a = project->elts;

        for (i = 0; i < project->nelts; i++) {
            dm_buf_append_str(b, n++ ? ",\"#ddbmp" : "\"#ddbmp");
            dm_buf_append_uint(b, i);
            dm_buf_append_str(b, "\":");
            dm_buf_json_string(b, a[i].data, a[i].len);
        }
    }

    if (kpk) {
        dm_buf_append_str(b, n++ ? ",\"#ddbmk0\":" : "\"#ddbmk0\":");
        dm_buf_json_string(b, kpk->data, kpk->len);
    }

    if (ksk) {
        dm_buf_append_str(b, n++ ? ",\"#ddbmk1\":" : "\"#ddbmk1\":");
        dm_buf_json_string(b, ksk->data, ksk->len);
    }

    names = step->names.elts;

    for (i = 0; i < step->names.nelts; i++) {
        if (n++) {
            dm_buf_append_str(b, ",");
        }

        dm_buf_json_string(b, (const u_char *) names[i].alias.data,
                           names[i].alias.len);
        dm_buf_append_str(b, ":");
        dm_buf_json_string(b, (const u_char *) names[i].attr.data,
                           names[i].attr.len);
    }

    dm_buf_append_str(b, "}");
}


static void
ngx_http_ddbm_json_projection(dm_buf_t *b, ngx_array_t *project)
{
    ngx_uint_t  i;

    dm_buf_append_str(b, ",\"ProjectionExpression\":\"");

    for (i = 0; i < project->nelts; i++) {
        dm_buf_append_str(b, i ? ", #ddbmp" : "#ddbmp");
        dm_buf_append_uint(b, i);
    }

    dm_buf_append_str(b, "\"");
}


/*
 * A step's values, bound before anything is rendered: its cache key is
 * made of them, and its request only when the cache does not answer
 */
typedef struct {
    ngx_str_t                    pk;            /* the table's key */
    ngx_str_t                    sk;            /* len 0: none */
    dm_rval_t                    kv;            /* an index's key */
    dm_rval_t                    skv[2];        /* sort_key OP's values */
    ngx_uint_t                   nsk;
    int64_t                      limit;         /* 0: none */
    dm_rval_t                   *values;        /* step->values' */
} ngx_http_ddbm_bound_t;


/* the key, the sort key's condition and the limit: NGX_OK or answered */
static ngx_int_t
ngx_http_ddbm_bind_key(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step, ngx_http_ddbm_bound_t *bd)
{
    dm_rval_t              val;
    ngx_int_t              rc;
    dm_rbind_e             why;
    ngx_uint_t             i, nsk;
    ngx_http_ddbm_bind_t  *key;

    ngx_str_null(&bd->pk);
    ngx_str_null(&bd->sk);
    bd->nsk = 0;
    bd->limit = 0;

    if (step->op != NGX_HTTP_DDBM_OP_QUERY) {
        return ngx_http_ddbm_render_key(ctx, run, step, 0, &bd->pk, &bd->sk);
    }

    if (step->ddb_index) {
        /* an index: its key attribute, bound to its type */
        key = step->key.elts;

        rc = ngx_http_ddbm_bind(ctx, run, &key[0].source, key[0].type,
                                &bd->kv, &why);
        if (rc != NGX_OK) {
            return rc;
        }

        if (why != DM_RBIND_OK) {
            return ngx_http_ddbm_respond_invalid(ctx, &key[0].source, why);
        }

    } else {
        rc = ngx_http_ddbm_render_key(ctx, run, step, 0, &bd->pk, &bd->sk);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (bd->sk.len == 0 && step->sk_op != NGX_HTTP_DDBM_SK_NONE) {
        nsk = (step->sk_op == NGX_HTTP_DDBM_SK_BETWEEN) ? 2 : 1;

        for (i = 0; i < nsk; i++) {
            rc = ngx_http_ddbm_bind(ctx, run, &step->sk_value[i].source,
                                    step->sk_value[i].type, &bd->skv[i],
                                    &why);
            if (rc != NGX_OK) {
                return rc;
            }

            if (why == DM_RBIND_MISSING) {
                /* "sort_key < arg:cursor": only when the cursor is given */
                nsk = 0;
                break;
            }

            if (why != DM_RBIND_OK) {
                return ngx_http_ddbm_respond_invalid(ctx,
                                              &step->sk_value[i].source, why);
            }
        }

        bd->nsk = nsk;
    }

    if (step->limit.source.kind == NGX_HTTP_DDBM_SRC_NONE) {
        return NGX_OK;
    }

    rc = ngx_http_ddbm_bind(ctx, run, &step->limit.source, step->limit.type,
                            &val, &why);
    if (rc != NGX_OK) {
        return rc;
    }

    if (why == DM_RBIND_MISSING) {
        return NGX_OK;
    }

    if (why != DM_RBIND_OK || val.num < 1) {
        return ngx_http_ddbm_respond_invalid(ctx, &step->limit.source,
                                     why == DM_RBIND_OK ? DM_RBIND_RANGE
                                                        : why);
    }

    bd->limit = val.num;

    return NGX_OK;
}


/* the step's :values: NGX_OK, or answered */
static ngx_int_t
ngx_http_ddbm_bind_values(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step, ngx_http_ddbm_bound_t *bd)
{
    ngx_int_t              rc;
    dm_rbind_e             why;
    ngx_uint_t             i;
    ngx_http_ddbm_bind_t  *v;

    bd->values = NULL;

    if (step->values.nelts == 0) {
        return NGX_OK;
    }

    bd->values = ngx_palloc(ctx->request->pool,
                            step->values.nelts * sizeof(dm_rval_t));
    if (bd->values == NULL) {
        return NGX_ERROR;
    }

    v = step->values.elts;

    for (i = 0; i < step->values.nelts; i++) {
        rc = ngx_http_ddbm_bind(ctx, run, &v[i].source, v[i].type,
                                &bd->values[i], &why);
        if (rc != NGX_OK) {
            return rc;
        }

        if (why != DM_RBIND_OK) {
            return ngx_http_ddbm_respond_invalid(ctx, &v[i].source, why);
        }
    }

    return NGX_OK;
}


u_char *
ngx_http_ddbm_id_put(u_char *p, const u_char *data, size_t len)
{
    size_t  n;

    for (n = len; n >= 0x80; n >>= 7) {
        *p++ = (u_char) (0x80 | (n & 0x7f));
    }

    *p++ = (u_char) n;

    /* no data: the length alone (a list's count) */
    return data ? ngx_cpymem(p, data, len) : p;
}


/* a bound value in a cache key: its DynamoDB type, its text */
static u_char *
ngx_http_ddbm_id_value(u_char *p, dm_rval_t *v)
{
    *p++ = (u_char) v->ddb;

    return ngx_http_ddbm_id_put(p, (const u_char *) v->data, v->len);
}


/*
 * A cached step's key: its identity (made when the configuration
 * loaded: every part of the request but its values), then its bound
 * values, each length-prefixed, those that may be left out preceded by
 * their count: two different requests never share it
 */
static ngx_int_t
ngx_http_ddbm_step_id(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_step_t *step,
    ngx_http_ddbm_bound_t *bd, ngx_str_t *id)
{
    u_char      *p;
    size_t       size;
    ngx_uint_t   i;

    /* the identity, pk, sk, the count of sk values, the limit */
    size = step->cache_id.len + NGX_HTTP_DDBM_ID_LEN(bd->pk.len)
           + NGX_HTTP_DDBM_ID_LEN(bd->sk.len) + 1 + NGX_HTTP_DDBM_ID_LEN(0);

    if (step->ddb_index) {
        size += 1 + NGX_HTTP_DDBM_ID_LEN(bd->kv.len);
    }

    for (i = 0; i < bd->nsk; i++) {
        size += 1 + NGX_HTTP_DDBM_ID_LEN(bd->skv[i].len);
    }

    for (i = 0; i < step->values.nelts; i++) {
        size += 1 + NGX_HTTP_DDBM_ID_LEN(bd->values[i].len);
    }

    p = ngx_pnalloc(ctx->request->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    id->data = p;
    p = ngx_cpymem(p, step->cache_id.data, step->cache_id.len);

    if (step->ddb_index) {
        p = ngx_http_ddbm_id_value(p, &bd->kv);

    } else {
        p = ngx_http_ddbm_id_put(p, bd->pk.data, bd->pk.len);
        p = ngx_http_ddbm_id_put(p, bd->sk.data, bd->sk.len);
    }

    *p++ = (u_char) bd->nsk;

    for (i = 0; i < bd->nsk; i++) {
        p = ngx_http_ddbm_id_value(p, &bd->skv[i]);
    }

    /* the limit: 0 when none (a bound one is at least 1) */
    p = ngx_http_ddbm_id_put(p, NULL, (size_t) bd->limit);

    for (i = 0; i < step->values.nelts; i++) {
        p = ngx_http_ddbm_id_value(p, &bd->values[i]);
    }

    id->len = p - id->data;

    return NGX_OK;
}


/* PutItem's item: the key and every set attribute, typed */
static ngx_int_t
ngx_http_ddbm_json_item(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step, dm_buf_t *b, ngx_str_t *pk, ngx_str_t *sk)
{
    ngx_int_t                    rc, k;
    dm_rval_t                    val;
    dm_rbind_e                   why;
    ngx_uint_t                   i, nreads;
    ngx_http_ddbm_bind_t        *set;
    ngx_http_ddbm_step_state_t  *st;

    st = &run->step[step->index];
    nreads = step->reads.nelts;
    set = step->set.elts;

    /* what the answer or a later step reads of it: what was written */
    st->nitems = 1;

    dm_buf_append_str(b, ",\"Item\":{");
    ngx_http_ddbm_json_attr(b, &step->item->schema->pk, "S", pk->data,
                            pk->len);

    if (step->item->schema->sk.len) {
        dm_buf_append_str(b, ",");
        ngx_http_ddbm_json_attr(b, &step->item->schema->sk, "S", sk->data,
                                sk->len);
    }

    for (i = 0; i < step->set.nelts; i++) {
        rc = ngx_http_ddbm_bind(ctx, run, &set[i].source, set[i].type, &val,
                                &why);
        if (rc != NGX_OK) {
            return rc;
        }

        if (why == DM_RBIND_MISSING) {
            continue;               /* an optional attribute not given */
        }

        if (why != DM_RBIND_OK) {
            return ngx_http_ddbm_respond_invalid(ctx, &set[i].source, why);
        }

        dm_buf_append_str(b, ",");
        dm_buf_json_string(b, set[i].name.data, set[i].name.len);
        dm_buf_append_str(b, ":");
        ngx_http_ddbm_json_value(b, &val);

        k = ngx_http_ddbm_read_index(step, &set[i].name);
        if (k >= 0 && (ngx_uint_t) k < nreads) {
            st->values[k].data = (u_char *) val.data;
            st->values[k].len = val.len;
            st->types[k] = val.ddb;
        }
    }

    for (i = 0; i < 2; i++) {
        k = ngx_http_ddbm_read_index(step, i ? &step->item->schema->sk
                                             : &step->item->schema->pk);
        if (k >= 0) {
            st->values[k] = i ? *sk : *pk;
            st->types[k] = 'S';
        }
    }

    dm_buf_append_str(b, "}");

    return NGX_OK;
}


/* ---- the cache ----------------------------------------------------------- */

/* values a cached answer may hold: its count, then its items' reads */
#define NGX_HTTP_DDBM_CACHE_VALUES  64


/*
 * A read step's answer as the cache keeps it, under its request's
 * identity and values (ngx_http_ddbm_step_id: two steps asking the same
 * and reading the same get the same): the number of items, then each
 * item's attributes read, each with its DynamoDB type first ("" when
 * absent).  NGX_OK: answered from the cache; NGX_DECLINED: not kept.
 */
static ngx_int_t
ngx_http_ddbm_step_cached(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step, ngx_http_ddbm_bound_t *bd)
{
    ngx_int_t                    items;
    ngx_str_t                    id, v[NGX_HTTP_DDBM_CACHE_VALUES];
    ngx_uint_t                   i, n, nreads;
    ngx_http_ddbm_step_state_t  *st;

    st = &run->step[step->index];
    nreads = step->reads.nelts;

    if (ctx->conf->cache == NULL || nreads >= NGX_HTTP_DDBM_CACHE_VALUES) {
        return NGX_DECLINED;
    }

    if (ngx_http_ddbm_step_id(ctx, step, bd, &id) != NGX_OK
        || ngx_http_ddbm_cache_key(ctx, 'D', &id, &st->cache_key) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_ddbm_cache_get(ctx, &st->cache_key, v,
                                NGX_HTTP_DDBM_CACHE_VALUES, &n)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    st->from_cache = 1;
    st->done = 1;
    st->nitems = 0;

    if (n == 0) {
        return NGX_OK;              /* known absent */
    }

    items = ngx_atoi(v[0].data, v[0].len);

    if (items < 0 || 1 + (ngx_uint_t) items * nreads != n) {
        /* not what this step keeps: read it again */
        st->from_cache = 0;
        st->done = 0;
        return NGX_DECLINED;
    }

    st->nitems = items;

    for (i = 0; i < (ngx_uint_t) items * nreads; i++) {
        if (v[i + 1].len == 0) {
            continue;
        }

        st->types[i] = v[i + 1].data[0];
        st->values[i].data = v[i + 1].data + 1;
        st->values[i].len = v[i + 1].len - 1;
    }

    return NGX_OK;
}


static void
ngx_http_ddbm_step_keep(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_step_t *step,
    ngx_http_ddbm_step_state_t *st)
{
    u_char                       count[NGX_INT_T_LEN];
    time_t                       ttl;
    ngx_str_t                    v[NGX_HTTP_DDBM_CACHE_VALUES];
    ngx_uint_t                   i, n;
    ngx_http_ddbm_cache_conf_t  *cc;

    cc = ctx->conf->cache;

    if (cc == NULL || st->cache_key.len == 0) {
        return;
    }

    if (st->nitems == 0) {
        /*
         * unknown for a while only: a stranger's retries cost no reads,
         * and what is made later is seen soon
         */
        ngx_http_ddbm_cache_put(ctx, &st->cache_key, NULL, 0,
                                cc->negative_ttl);
        return;
    }

    n = 1 + st->nitems * step->reads.nelts;

    if (n > NGX_HTTP_DDBM_CACHE_VALUES) {
        return;                     /* too many to keep */
    }

    v[0].data = count;
    v[0].len = ngx_sprintf(count, "%ui", st->nitems) - count;

    for (i = 0; i + 1 < n; i++) {
        if (st->values[i].data == NULL) {
            ngx_str_null(&v[i + 1]);
            continue;
        }

        /* the type, then the value: "Sabc" */
        v[i + 1].data = st->values[i].data - 1;
        v[i + 1].len = st->values[i].len + 1;
    }

    ttl = step->cache_ttl;

    if (ttl == 0) {
        ttl = (step->cache == NGX_HTTP_DDBM_CACHE_DIRECTORY) ? cc->user_ttl
                                                             : cc->group_ttl;
    }

    ngx_http_ddbm_cache_put(ctx, &st->cache_key, v, n, ttl);
}


/*
 * A step found nothing and its fallback (when missing) found the item:
 * that absence is a fact of the item (a conversation the reference's
 * tools wrote has no record), kept as long as what was found, among the
 * positive entries, where no flood of unknown names evicts it
 */
static void
ngx_http_ddbm_absent_kept(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_uint_t s)
{
    time_t                       ttl;
    ngx_str_t                    v;
    ngx_http_ddbm_step_t        *step;
    ngx_http_ddbm_step_state_t  *st;
    ngx_http_ddbm_cache_conf_t  *cc;

    step = &((ngx_http_ddbm_step_t *) run->route->steps.elts)[s];
    st = &run->step[s];
    cc = ctx->conf->cache;

    if (cc == NULL || !step->cache || st->nitems || st->cache_key.len == 0) {
        return;
    }

    ngx_str_set(&v, "0");

    ttl = step->cache_ttl;

    if (ttl == 0) {
        ttl = (step->cache == NGX_HTTP_DDBM_CACHE_DIRECTORY) ? cc->user_ttl
                                                             : cc->group_ttl;
    }

    ngx_http_ddbm_cache_put(ctx, &st->cache_key, &v, 1, ttl);
}


/* ---- steps ------------------------------------------------------------- */

static const char *ngx_http_ddbm_ops[] = {
    "GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
    "BatchGetItem", "TransactWriteItems"
};


/* the step's request, its values bound: NGX_OK or answered */
static ngx_int_t
ngx_http_ddbm_step_body(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step, ngx_http_ddbm_bound_t *bd, dm_buf_t *b)
{
    ngx_int_t              rc;
    ngx_str_t             *kpk, *ksk, *table;
    ngx_uint_t             i, nv;
    ngx_http_ddbm_bind_t  *v;
    static const char     *ops[] = { "", " = ", " < ", " <= ", " > ",
                                     " >= " };

    /* the location's ddbm_table, by default the schema's */
    table = &ctx->conf->table;

    ngx_http_ddbm_buf_init(b, ctx->request->pool);

    dm_buf_append_str(b, "{\"TableName\":");
    dm_buf_json_string(b, table->data, table->len);

    kpk = NULL;
    ksk = NULL;

    if (step->op == NGX_HTTP_DDBM_OP_QUERY) {
        if (step->ddb_index) {
            dm_buf_append_str(b, ",\"IndexName\":");
            dm_buf_json_string(b, step->ddb_index->name.data,
                               step->ddb_index->name.len);
            kpk = &step->ddb_index->pk;

        } else {
            kpk = &step->item->schema->pk;
        }

        if (bd->sk.len) {
            ksk = &step->item->schema->sk;
            dm_buf_append_str(b, ",\"KeyConditionExpression\":"
                                 "\"#ddbmk0 = :ddbmk0 AND "
                                 "#ddbmk1 = :ddbmk1\"");

        } else if (bd->nsk == 0) {
            dm_buf_append_str(b, ",\"KeyConditionExpression\":"
                                 "\"#ddbmk0 = :ddbmk0\"");

        } else {
            ksk = step->ddb_index ? &step->ddb_index->sk
                                  : &step->item->schema->sk;

            dm_buf_append_str(b, ",\"KeyConditionExpression\":"
                                 "\"#ddbmk0 = :ddbmk0 AND ");

            switch (step->sk_op) {

            case NGX_HTTP_DDBM_SK_BETWEEN:
                dm_buf_append_str(b, "#ddbmk1 BETWEEN :ddbmk1 AND :ddbmk2\"");
                break;

            case NGX_HTTP_DDBM_SK_BEGINS_WITH:
                dm_buf_append_str(b, "begins_with(#ddbmk1, :ddbmk1)\"");
                break;

            default:
                dm_buf_append_str(b, "#ddbmk1");
                dm_buf_append_str(b, ops[step->sk_op]);
                dm_buf_append_str(b, ":ddbmk1\"");
            }
        }

        if (bd->limit) {
            dm_buf_append_str(b, ",\"Limit\":");
            dm_buf_append_uint(b, (unsigned long long) bd->limit);
        }

        dm_buf_append_str(b, step->forward ? ",\"ScanIndexForward\":true"
                                           : ",\"ScanIndexForward\":false");

    } else if (step->op == NGX_HTTP_DDBM_OP_PUT) {
        rc = ngx_http_ddbm_json_item(ctx, run, step, b, &bd->pk, &bd->sk);
        if (rc != NGX_OK) {
            return rc;
        }

        /* bound after the item's attributes, as they are written */
        rc = ngx_http_ddbm_bind_values(ctx, run, step, bd);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        dm_buf_append_str(b, ",");
        ngx_http_ddbm_json_key(b, step->item->schema, &bd->pk, &bd->sk);
    }

    if (step->ask) {
        ngx_http_ddbm_json_projection(b, step->ask);
    }

    if (step->consistent && !step->ddb_index
        && (step->op == NGX_HTTP_DDBM_OP_GET
            || step->op == NGX_HTTP_DDBM_OP_QUERY))
    {
        dm_buf_append_str(b, ",\"ConsistentRead\":true");
    }

    if (step->condition) {
        dm_buf_append_str(b, ",\"ConditionExpression\":");
        dm_buf_json_string(b, (const u_char *) step->condition->text.data,
                           step->condition->text.len);
    }

    if (step->update) {
        dm_buf_append_str(b, ",\"UpdateExpression\":");
        dm_buf_json_string(b, (const u_char *) step->update->text.data,
                           step->update->text.len);
        dm_buf_append_str(b, ",\"ReturnValues\":\"ALL_NEW\"");
    }

    if (step->filter) {
        dm_buf_append_str(b, ",\"FilterExpression\":");
        dm_buf_json_string(b, (const u_char *) step->filter->text.data,
                           step->filter->text.len);
    }

    if (step->ask || kpk || step->names.nelts) {
        ngx_http_ddbm_json_names(b, step, step->ask, kpk, ksk);
    }

    /* the key condition's values first, then the step's own */
    nv = 0;

    if (step->op == NGX_HTTP_DDBM_OP_QUERY) {
        dm_buf_append_str(b, ",\"ExpressionAttributeValues\":{");
        nv = 1;

        if (step->ddb_index) {
            dm_buf_append_str(b, "\":ddbmk0\":");
            ngx_http_ddbm_json_value(b, &bd->kv);

        } else {
            dm_buf_append_str(b, "\":ddbmk0\":{\"S\":");
            dm_buf_json_string(b, bd->pk.data, bd->pk.len);
            dm_buf_append_str(b, "}");
        }

        if (bd->sk.len) {
            dm_buf_append_str(b, ",\":ddbmk1\":{\"S\":");
            dm_buf_json_string(b, bd->sk.data, bd->sk.len);
            dm_buf_append_str(b, "}");
        }

        for (i = 0; i < bd->nsk; i++) {
            dm_buf_append_str(b, i ? ",\":ddbmk2\":" : ",\":ddbmk1\":");
            ngx_http_ddbm_json_value(b, &bd->skv[i]);
        }
    }

    v = step->values.elts;

    for (i = 0; i < step->values.nelts; i++) {
        dm_buf_append_str(b, nv++ ? "," : ",\"ExpressionAttributeValues\":{");
        dm_buf_json_string(b, v[i].name.data, v[i].name.len);
        dm_buf_append_str(b, ":");
        ngx_http_ddbm_json_value(b, &bd->values[i]);
    }

    if (nv) {
        dm_buf_append_str(b, "}");
    }

    dm_buf_append_str(b, "}");

    return b->failed ? NGX_ERROR : NGX_OK;
}


/*
 * The step's request, or its answer from the cache, looked up before the
 * request is rendered: NGX_OK or answered
 */
static ngx_int_t
ngx_http_ddbm_step_issue(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step)
{
    dm_buf_t                     b;
    ngx_int_t                    rc;
    ngx_uint_t                   nreads, nitems;
    ngx_http_ddbm_call_t        *call;
    ngx_http_ddbm_bound_t        bd;
    ngx_http_ddbm_step_state_t  *st;

    st = &run->step[step->index];
    st->issued = 1;
    nreads = step->reads.nelts;

    /* a streamed answer's items are never kept (8 KB for a 100-item page) */
    nitems = (step->op == NGX_HTTP_DDBM_OP_QUERY
              && !(run->route->answer.streamed
                   && run->route->answer.step == step->index))
             ? NGX_HTTP_DDBM_ROUTE_ITEMS : 1;

    st->values = ngx_pcalloc(ctx->request->pool,
                             (nreads ? nreads : 1) * sizeof(ngx_str_t)
                             * nitems);
    st->types = ngx_pcalloc(ctx->request->pool,
                            (nreads ? nreads : 1) * nitems);
    if (st->values == NULL || st->types == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_ddbm_bind_key(ctx, run, step, &bd);
    if (rc != NGX_OK) {
        return rc;
    }

    if (step->op != NGX_HTTP_DDBM_OP_PUT) {
        rc = ngx_http_ddbm_bind_values(ctx, run, step, &bd);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (step->cache_id.len) {
        rc = ngx_http_ddbm_step_cached(ctx, run, step, &bd);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    rc = ngx_http_ddbm_step_body(ctx, run, step, &bd, &b);
    if (rc != NGX_OK) {
        return rc;
    }

    call = ngx_http_ddbm_call(ctx, step->index, ngx_http_ddbm_ops[step->op],
                              &b);
    if (call == NULL) {
        return NGX_ERROR;
    }

    st->call = call;

    return NGX_OK;
}


static int
ngx_http_ddbm_reader_begin(void *data, size_t index)
{
    ngx_http_ddbm_reader_t  *rd = data;

    if (rd->base + index >= rd->max) {
        return -1;
    }

    rd->st->nitems = rd->base + index + 1;

    return 0;
}


static int
ngx_http_ddbm_reader_attr(void *data, const char *name, size_t name_len,
    char type, const unsigned char *value, size_t value_len)
{
    ngx_http_ddbm_reader_t  *rd = data;

    u_char      *p;
    ngx_int_t    k;
    ngx_str_t    attr;
    ngx_uint_t   at;

    attr.data = (u_char *) name;
    attr.len = name_len;

    k = ngx_http_ddbm_read_index(rd->step, &attr);
    if (k < 0 || rd->st->nitems == 0) {
        return 0;
    }

    at = (rd->st->nitems - 1) * rd->step->reads.nelts + k;

    /* one byte before the value for its type: the cache keeps both */
    p = ngx_pnalloc(rd->ctx->request->pool, value_len + 2);
    if (p == NULL) {
        return -1;
    }

    p[0] = type;
    ngx_memcpy(p + 1, value, value_len);
    p[value_len + 1] = '\0';

    rd->st->values[at].data = p + 1;
    rd->st->values[at].len = value_len;
    rd->st->types[at] = type;

    return 0;
}


/* the route's ddbm_errors line for this error type: answered, or DECLINED */
static ngx_int_t
ngx_http_ddbm_route_error_type(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_route_t *route, const char *type)
{
    char                       *code;
    ngx_uint_t                  i;
    ngx_http_ddbm_error_map_t  *e;

    e = route->errors ? route->errors->elts : NULL;

    for (i = 0; e && i < route->errors->nelts; i++) {
        if (e[i].error.len == ngx_strlen(type)
            && ngx_strncmp(e[i].error.data, type, e[i].error.len) == 0)
        {
            code = ngx_http_ddbm_cstr(ctx->request->pool, &e[i].code);
            if (code == NULL) {
                return NGX_ERROR;
            }

            if (e[i].status == NGX_HTTP_SERVICE_UNAVAILABLE) {
                return ngx_http_ddbm_respond_unavailable(ctx, code,
                                                 "the database is busy");
            }

            return ngx_http_ddbm_respond_error(ctx, e[i].status, code,
                                               "the database refused the "
                                               "request");
        }
    }

    return NGX_DECLINED;
}


/* a route's own mapping of DynamoDB's error, if it has one: answered */
static ngx_int_t
ngx_http_ddbm_route_error(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_route_t *route, ngx_http_ddbm_call_t *call)
{
    ngx_int_t    rc;
    const char  *type, *busy;

    if (call->result == NGX_HTTP_DDBM_CALL_OK
        || call->error.error_type[0] == '\0')
    {
        return NGX_DECLINED;
    }

    type = call->error.error_type;

    /*
     * cancelled by a busy database, not by the request (the engine has
     * retried it already): answered as that, never as the route's
     * conflict, since the transaction wrote nothing and was not refused
     */
    busy = call->result == NGX_HTTP_DDBM_CALL_CANCELED
           ? ngx_http_ddbm_tx_busy(&call->error) : NULL;

    if (busy) {
        type = busy;
    }

    rc = ngx_http_ddbm_route_error_type(ctx, route, type);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (busy && ngx_strcmp(busy, "ThrottlingException") == 0) {
        return ngx_http_ddbm_respond_unavailable(ctx, "dynamodb_throttled",
                                                 "the database call failed");
    }

    if (busy) {
        return ngx_http_ddbm_respond_unavailable(ctx, "transaction_conflict",
                                                 "another request was "
                                                 "changing the same items");
    }

    if (dm_ddb_is_error(&call->error, "ConditionalCheckFailedException")
        || call->result == NGX_HTTP_DDBM_CALL_CANCELED)
    {
        /*
         * a declared condition that did not hold (or a transaction
         * DynamoDB refused for another reason of the request's own):
         * the route's conflict, and a cancelled transaction wrote nothing
         */
        return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_CONFLICT,
                                           "conflict",
                                           "the item is not as the request "
                                           "expects");
    }

    return NGX_DECLINED;
}


/* a step's answer: what is read of it kept, the cache fed */
static ngx_int_t
ngx_http_ddbm_step_read(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step)
{
    ngx_int_t                    rc;
    dm_ddb_answer_t              answer;
    dm_item_handler_t            h;
    ngx_http_ddbm_reader_t       rd;
    ngx_http_ddbm_step_state_t  *st;

    st = &run->step[step->index];
    st->done = 1;

    if (st->call == NULL) {
        return NGX_OK;              /* the cache answered it */
    }

    rc = ngx_http_ddbm_route_error(ctx, run->route, st->call);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (step->op == NGX_HTTP_DDBM_OP_PUT
        || step->op == NGX_HTTP_DDBM_OP_DELETE
        || step->op == NGX_HTTP_DDBM_OP_TRANSACT)
    {
        ngx_http_ddbm_call_t  *call;

        /* nothing to read: success, or the failure answered */
        return ngx_http_ddbm_call_answer(ctx, step->index, &call);
    }

    if (run->route->answer.streamed && run->route->answer.step == step->index)
    {
        /* the answer streams it: no second pass here */
        ngx_http_ddbm_call_t  *call;

        return ngx_http_ddbm_call_answer(ctx, step->index, &call);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "ddbm: step \"%V\": its answer read item by item",
                   &step->name);

    rd.ctx = ctx;
    rd.step = step;
    rd.st = st;
    rd.base = 0;
    rd.max = (step->op == NGX_HTTP_DDBM_OP_QUERY)
             ? NGX_HTTP_DDBM_ROUTE_ITEMS : 1;

    h.item_begin = ngx_http_ddbm_reader_begin;
    h.item_attr = ngx_http_ddbm_reader_attr;
    h.item_end = NULL;
    h.key_attr = NULL;
    h.ctx = &rd;

    st->nitems = 0;

    rc = ngx_http_ddbm_read_answer(ctx, step->index, &h, &answer);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_ddbm_last_sk(ctx, &answer, &st->last_sk) != NGX_OK) {
        return NGX_ERROR;
    }

    if (step->cache) {
        ngx_http_ddbm_step_keep(ctx, step, st);
    }

    if (step->when_missing >= 0 && st->nitems) {
        ngx_http_ddbm_absent_kept(ctx, run, step->when_missing);
    }

    return NGX_OK;
}


/* the sort key DynamoDB stopped at, if any: a cursor (NGX_ERROR: memory) */
static ngx_int_t
ngx_http_ddbm_last_sk(ngx_http_ddbm_ctx_t *ctx, dm_ddb_answer_t *answer,
    ngx_str_t *out)
{
    ngx_str_null(out);

    if (!answer->has_last_key || answer->last_sk[0] == '\0'
        || answer->last_sk_truncated)
    {
        return NGX_OK;
    }

    out->len = ngx_strlen(answer->last_sk);
    out->data = ngx_pnalloc(ctx->request->pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, answer->last_sk, out->len);

    return NGX_OK;
}


/* ---- checks ------------------------------------------------------------ */

static ngx_uint_t
ngx_http_ddbm_same(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len && ngx_strncmp(a->data, b->data, a->len) == 0;
}


/* NGX_OK: holds; NGX_DECLINED: does not; NGX_ERROR */
static ngx_int_t
ngx_http_ddbm_check_holds(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_check_t *c)
{
    ngx_int_t                rc;
    ngx_str_t                first, v;
    ngx_uint_t               i, item, nitems;
    ngx_http_ddbm_source_t  *op;

    if (c->kind == NGX_HTTP_DDBM_CHECK_FOUND) {
        for (i = 0; i < run->route->steps.nelts; i++) {
            if ((c->steps & (1u << i)) && run->step[i].nitems) {
                return NGX_OK;
            }
        }

        return NGX_DECLINED;
    }

    op = c->operands.elts;

    rc = ngx_http_ddbm_source_get(ctx, run, &op[0], 0, &first);
    if (rc == NGX_ERROR) {
        return rc;
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    for (i = 1; i < c->operands.nelts; i++) {
        nitems = (op[i].kind == NGX_HTTP_DDBM_SRC_STEP_ALL)
                 ? run->step[op[i].step].nitems : 1;

        for (item = 0; item < nitems; item++) {
            rc = ngx_http_ddbm_source_get(ctx, run, &op[i], item, &v);
            if (rc == NGX_ERROR) {
                return rc;
            }

            if (rc != NGX_OK) {
                if (c->kind == NGX_HTTP_DDBM_CHECK_EQUAL) {
                    return NGX_DECLINED;
                }

                continue;
            }

            if (ngx_http_ddbm_same(&first, &v)) {
                return c->kind == NGX_HTTP_DDBM_CHECK_NOT_EQUAL
                       ? NGX_DECLINED : NGX_OK;
            }
        }
    }

    return c->kind == NGX_HTTP_DDBM_CHECK_NOT_EQUAL ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_ddbm_check_failed(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_check_t *c)
{
    char  *code, *msg;

    if (c->log.len) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "ddbm: route \"%V\": %V", &ctx->pattern->name,
                      &c->log);

    } else {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "ddbm: route \"%V\": a check failed, answered %ui %V",
                      &ctx->pattern->name, c->status, &c->code);
    }

    if (c->code.len == 0) {
        return ngx_http_ddbm_respond(ctx, c->status, (u_char *) "{}", 2);
    }

    code = ngx_http_ddbm_cstr(ctx->request->pool, &c->code);
    msg = ngx_http_ddbm_cstr(ctx->request->pool, &c->message);
    if (code == NULL || msg == NULL) {
        return NGX_ERROR;
    }

    if (c->status == NGX_HTTP_DDBM_UNPROCESSABLE) {
        return ngx_http_ddbm_respond_codes(ctx, (const char **) &code, 1);
    }

    return ngx_http_ddbm_respond_error(ctx, c->status, code, msg);
}


/* ---- transactions ------------------------------------------------------ */

/* a transaction's member for each action's operation */
static const char *ngx_http_ddbm_tx_members[] = {
    NULL, NULL, "{\"Put\":", "{\"Update\":", "{\"Delete\":", NULL, NULL,
    "{\"ConditionCheck\":"
};


/*
 * A TransactWriteItems: each action built as its single operation's
 * request is (typed binds, never pasted text), without ReturnValues.  Its
 * ClientRequestToken is derived from a new uuid and the actions: a retry
 * of this call (after a timeout or a 5xx) resends the same body, so
 * DynamoDB applies it at most once; another request is another
 * transaction, even with the same values.  NGX_OK, or answered.
 */
static ngx_int_t
ngx_http_ddbm_tx_issue(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *tx)
{
    char                         token[DM_UUID_LEN + 1
                                       + DM_DDB_TX_TOKEN_LEN + 1];
    dm_buf_t                     b, ib, vb;
    ngx_int_t                    rc;
    ngx_str_t                    pk, sk, *table;
    ngx_uint_t                   i, n, nv, nreads;
    ngx_http_ddbm_bind_t        *v;
    ngx_http_ddbm_step_t        *a;
    ngx_http_ddbm_call_t        *call;
    ngx_http_ddbm_bound_t        bd;
    ngx_http_ddbm_step_state_t  *st;

    st = &run->step[tx->index];
    st->issued = 1;
    nreads = tx->reads.nelts;

    /* what its first put writes, for the answer */
    st->values = ngx_pcalloc(ctx->request->pool,
                             (nreads ? nreads : 1) * sizeof(ngx_str_t));
    st->types = ngx_pcalloc(ctx->request->pool, nreads ? nreads : 1);
    if (st->values == NULL || st->types == NULL) {
        return NGX_ERROR;
    }

    table = &ctx->conf->table;
    a = tx->actions->elts;

    ngx_http_ddbm_buf_init(&ib, ctx->request->pool);

    if (dm_uuid_v4(token) != 0) {
        return NGX_ERROR;
    }

    token[DM_UUID_LEN] = ' ';
    dm_buf_append(&ib, (u_char *) token, DM_UUID_LEN + 1);

    for (i = 0; i < tx->actions->nelts; i++) {
        ngx_http_ddbm_buf_init(&vb, ctx->request->pool);

        if (i) {
            dm_buf_append_str(&ib, ",");
        }

        dm_buf_append_str(&ib, ngx_http_ddbm_tx_members[a[i].op]);
        dm_buf_append_str(&ib, "{\"TableName\":");
        dm_buf_json_string(&ib, table->data, table->len);

        rc = ngx_http_ddbm_render_key(ctx, run, &a[i], 0, &pk, &sk);
        if (rc != NGX_OK) {
            return rc;
        }

        if (a[i].op == NGX_HTTP_DDBM_OP_PUT) {
            /* the first put keeps what the answer reads of it */
            rc = ngx_http_ddbm_json_item(ctx, run, &a[i], &ib, &pk, &sk);
            if (rc != NGX_OK) {
                return rc;
            }

        } else {
            dm_buf_append_str(&ib, ",");
            ngx_http_ddbm_json_key(&ib, a[i].item->schema, &pk, &sk);
        }

        if (a[i].condition) {
            dm_buf_append_str(&ib, ",\"ConditionExpression\":");
            dm_buf_json_string(&ib,
                               (const u_char *) a[i].condition->text.data,
                               a[i].condition->text.len);
        }

        if (a[i].update) {
            dm_buf_append_str(&ib, ",\"UpdateExpression\":");
            dm_buf_json_string(&ib, (const u_char *) a[i].update->text.data,
                               a[i].update->text.len);
        }

        if (a[i].names.nelts) {
            ngx_http_ddbm_json_names(&ib, &a[i], NULL, NULL, NULL);
        }

        nv = 0;

        rc = ngx_http_ddbm_bind_values(ctx, run, &a[i], &bd);
        if (rc != NGX_OK) {
            return rc;
        }

        v = a[i].values.elts;

        for (n = 0; n < a[i].values.nelts; n++) {
            if (nv++) {
                dm_buf_append_str(&vb, ",");
            }

            dm_buf_json_string(&vb, v[n].name.data, v[n].name.len);
            dm_buf_append_str(&vb, ":");
            ngx_http_ddbm_json_value(&vb, &bd.values[n]);
        }

        if (nv) {
            dm_buf_append_str(&ib, ",\"ExpressionAttributeValues\":{");
            dm_buf_append(&ib, vb.data, vb.len);
            dm_buf_append_str(&ib, "}");
        }

        dm_buf_append_str(&ib, "}}");

        if (vb.failed) {
            return NGX_ERROR;
        }
    }

    if (ib.failed
        || dm_ddb_tx_token(ib.data, ib.len, token) != 0)
    {
        return NGX_ERROR;
    }

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    if (dm_ddb_tx_begin(&b, token) != 0) {
        return NGX_ERROR;
    }

    /* the actions, without the uuid the token was derived with */
    dm_buf_append(&b, ib.data + DM_UUID_LEN + 1, ib.len - DM_UUID_LEN - 1);

    if (dm_ddb_tx_end(&b) != 0) {
        return NGX_ERROR;
    }

    call = ngx_http_ddbm_call(ctx, tx->index, "TransactWriteItems", &b);
    if (call == NULL) {
        return NGX_ERROR;
    }

    call->retry_busy = 1;
    st->call = call;

    return NGX_OK;
}



/* ---- BatchGetItem ------------------------------------------------------ */

/*
 * A BatchGetItem of these keys (pk, sk: two strings a key) on the
 * location's table, its projection and ConsistentRead as a GetItem's;
 * issued after delay ms (0: at once).  NGX_OK, or NGX_ERROR.
 */
static ngx_int_t
ngx_http_ddbm_batch_call(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step, ngx_str_t *keys, ngx_uint_t n,
    ngx_msec_t delay)
{
    dm_buf_t                     b;
    ngx_str_t                   *table;
    ngx_uint_t                   i;
    ngx_http_ddbm_call_t        *call;
    ngx_http_ddbm_step_state_t  *st;

    st = &run->step[step->index];
    table = &ctx->conf->table;

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);

    dm_buf_append_str(&b, "{\"RequestItems\":{");
    dm_buf_json_string(&b, table->data, table->len);
    dm_buf_append_str(&b, ":{\"Keys\":[");

    for (i = 0; i < n; i++) {
        if (i) {
            dm_buf_append_str(&b, ",");
        }

        ngx_http_ddbm_json_key_object(&b, step->item->schema, &keys[2 * i],
                                      &keys[2 * i + 1]);
    }

    dm_buf_append_str(&b, "]");

    if (step->ask) {
        ngx_http_ddbm_json_projection(&b, step->ask);
        ngx_http_ddbm_json_names(&b, step, step->ask, NULL, NULL);
    }

    if (step->consistent) {
        dm_buf_append_str(&b, ",\"ConsistentRead\":true");
    }

    dm_buf_append_str(&b, "}}}");

    call = delay ? ngx_http_ddbm_call_after(ctx, step->index, "BatchGetItem",
                                            &b, delay)
                 : ngx_http_ddbm_call(ctx, step->index, "BatchGetItem", &b);
    if (call == NULL) {
        return NGX_ERROR;
    }

    st->call = call;
    st->calls++;

    return NGX_OK;
}


/*
 * A BatchGetItem's keys: one per item of its Query, in that order, each
 * asked once (BatchGetItem refuses a key asked twice); none, no call and
 * nothing found.  NGX_OK, or answered.
 */
static ngx_int_t
ngx_http_ddbm_batch_issue(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step)
{
    size_t                       size;
    ngx_int_t                    rc;
    ngx_str_t                    pk, sk, *k;
    ngx_uint_t                   i, j, n, nreads;
    ngx_http_ddbm_step_state_t  *st;

    st = &run->step[step->index];
    st->issued = 1;
    nreads = step->reads.nelts ? step->reads.nelts : 1;
    size = NGX_HTTP_DDBM_ROUTE_ITEMS;

    st->values = ngx_pcalloc(ctx->request->pool,
                             nreads * size * sizeof(ngx_str_t));
    st->types = ngx_pcalloc(ctx->request->pool, nreads * size);
    st->keys = ngx_palloc(ctx->request->pool, 2 * size * sizeof(ngx_str_t));
    st->unprocessed = ngx_palloc(ctx->request->pool,
                                 2 * size * sizeof(ngx_str_t));
    if (st->values == NULL || st->types == NULL || st->keys == NULL
        || st->unprocessed == NULL)
    {
        return NGX_ERROR;
    }

    /* at most 100: the compiler bounds the Query's limit to that */
    n = ngx_min(run->step[step->keys_of].nitems, size);

    for (i = 0; i < n; i++) {
        rc = ngx_http_ddbm_render_key(ctx, run, step, i, &pk, &sk);
        if (rc == NGX_DECLINED) {
            continue;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        k = st->keys;

        for (j = 0; j < st->nkeys; j++) {
            if (ngx_http_ddbm_same(&k[2 * j], &pk)
                && ngx_http_ddbm_same(&k[2 * j + 1], &sk))
            {
                break;
            }
        }

        if (j < st->nkeys) {
            continue;               /* asked once, answered in its place */
        }

        k[2 * st->nkeys] = pk;
        k[2 * st->nkeys + 1] = sk;
        st->nkeys++;
    }

    if (st->nkeys == 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "ddbm: step \"%V\": no key, no call", &step->name);
        st->done = 1;
        st->nitems = 0;
        return NGX_OK;
    }

    return ngx_http_ddbm_batch_call(ctx, run, step, st->keys, st->nkeys, 0);
}


/* an attribute of a key DynamoDB left unprocessed: its pk or its sk */
static int
ngx_http_ddbm_reader_key(void *data, size_t index, const char *name,
    size_t name_len, char type, const unsigned char *value, size_t value_len)
{
    ngx_http_ddbm_reader_t  *rd = data;

    u_char                  *p;
    ngx_str_t                attr, *slot;
    ngx_uint_t               i;
    ngx_http_ddbm_schema_t  *schema;

    schema = rd->step->item->schema;

    /* no more keys than asked, each pk and sk a string, as asked */
    if (index >= rd->st->nkeys || type != 'S') {
        return -1;
    }

    for (i = rd->st->nunprocessed; i <= index; i++) {
        ngx_str_null(&rd->st->unprocessed[2 * i]);
        ngx_str_null(&rd->st->unprocessed[2 * i + 1]);
    }

    rd->st->nunprocessed = ngx_max(rd->st->nunprocessed, index + 1);

    attr.data = (u_char *) name;
    attr.len = name_len;

    if (ngx_http_ddbm_same(&attr, &schema->pk)) {
        slot = &rd->st->unprocessed[2 * index];

    } else if (schema->sk.len && ngx_http_ddbm_same(&attr, &schema->sk)) {
        slot = &rd->st->unprocessed[2 * index + 1];

    } else {
        return -1;
    }

    p = ngx_pnalloc(rd->ctx->request->pool, value_len ? value_len : 1);
    if (p == NULL) {
        return -1;
    }

    ngx_memcpy(p, value, value_len);
    slot->data = p;
    slot->len = value_len;

    return 0;
}


/*
 * DynamoDB answers a BatchGetItem's items in no order: each item is put
 * back in the place of its key, so that the answer keeps the Query's
 * order; a key without its item (none stored) is left out
 */
static ngx_int_t
ngx_http_ddbm_batch_order(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_step_t *step,
    ngx_http_ddbm_step_state_t *st)
{
    u_char      *types;
    ngx_int_t    kpk, ksk;
    ngx_str_t   *values, *row;
    ngx_uint_t   i, j, n, nreads;

    nreads = step->reads.nelts;
    kpk = ngx_http_ddbm_read_index(step, &step->item->schema->pk);
    ksk = step->item->schema->sk.len
          ? ngx_http_ddbm_read_index(step, &step->item->schema->sk) : -1;

    if (kpk < 0 || st->nitems == 0) {
        return NGX_OK;
    }

    values = ngx_pcalloc(ctx->request->pool,
                         st->nitems * nreads * sizeof(ngx_str_t));
    types = ngx_pcalloc(ctx->request->pool, st->nitems * nreads);
    if (values == NULL || types == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < st->nkeys && n < st->nitems; i++) {
        for (j = 0; j < st->nitems; j++) {
            row = &st->values[j * nreads];

            if (row[kpk].data != NULL
                && ngx_http_ddbm_same(&row[kpk], &st->keys[2 * i])
                && (ksk < 0
                    || (row[ksk].data != NULL
                        && ngx_http_ddbm_same(&row[ksk],
                                              &st->keys[2 * i + 1]))))
            {
                break;
            }
        }

        if (j == st->nitems) {
            continue;               /* not stored: absent from the answer */
        }

        ngx_memcpy(&values[n * nreads], &st->values[j * nreads],
                   nreads * sizeof(ngx_str_t));
        ngx_memcpy(&types[n * nreads], &st->types[j * nreads], nreads);
        n++;
    }

    if (n != st->nitems) {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "ddbm: step \"%V\": %ui item(s) of DynamoDB's "
                      "BatchGetItem answer match no key asked, left out",
                      &step->name, st->nitems - n);
    }

    st->values = values;
    st->types = types;
    st->nitems = n;

    return NGX_OK;
}


/*
 * A BatchGetItem's answer: its items kept after those of its earlier
 * calls; the keys DynamoDB left unprocessed are asked again after a
 * backoff (ngx_http_ddbm_route_resume issues it), at most ddbm_retries
 * times and within ddbm_request_timeout; keys still unprocessed then are
 * answered as throttling (the route's ddbm_errors line for
 * ProvisionedThroughputExceededException, else 503), never as a partial
 * list.  NGX_OK (st->done unless asked again), or answered.
 */
static ngx_int_t
ngx_http_ddbm_batch_read(ngx_http_ddbm_ctx_t *ctx, ngx_http_ddbm_run_t *run,
    ngx_http_ddbm_step_t *step)
{
    ngx_int_t                    rc;
    ngx_str_t                   *u;
    ngx_msec_t                   delay;
    ngx_uint_t                   i, j;
    dm_ddb_answer_t              answer;
    dm_item_handler_t            h;
    ngx_http_ddbm_reader_t       rd;
    ngx_http_ddbm_loc_conf_t    *dlcf;
    ngx_http_ddbm_step_state_t  *st;

    st = &run->step[step->index];
    dlcf = ctx->conf;

    rc = ngx_http_ddbm_route_error(ctx, run->route, st->call);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rd.ctx = ctx;
    rd.step = step;
    rd.st = st;
    rd.base = st->nitems;
    rd.max = NGX_HTTP_DDBM_ROUTE_ITEMS;

    h.item_begin = ngx_http_ddbm_reader_begin;
    h.item_attr = ngx_http_ddbm_reader_attr;
    h.item_end = NULL;
    h.key_attr = ngx_http_ddbm_reader_key;
    h.ctx = &rd;

    st->nunprocessed = 0;

    rc = ngx_http_ddbm_read_answer(ctx, step->index, &h, &answer);
    if (rc != NGX_OK) {
        return rc;
    }

    /* every key left unprocessed is whole and one of those asked */
    u = st->unprocessed;

    for (i = 0; i < st->nunprocessed; i++) {
        for (j = 0; j < st->nkeys; j++) {
            if (u[2 * i].data && ngx_http_ddbm_same(&u[2 * i], &st->keys[2 * j])
                && (u[2 * i + 1].data || !step->item->schema->sk.len)
                && ngx_http_ddbm_same(&u[2 * i + 1], &st->keys[2 * j + 1]))
            {
                break;
            }
        }

        if (j == st->nkeys) {
            return ngx_http_ddbm_respond_unreadable(ctx, st->call,
                                                    "an unprocessed key that "
                                                    "was not asked");
        }
    }

    if (st->nunprocessed == 0) {
        st->done = 1;
        return ngx_http_ddbm_batch_order(ctx, step, st);
    }

    delay = ngx_http_ddbm_backoff(dlcf->retry_base, dlcf->retry_cap,
                                  st->calls);

    /* a retry as any other: bounded, within the deadline, from the quota */
    if (st->calls > dlcf->retries
        || ctx->attempts >= NGX_HTTP_DDBM_MAX_ATTEMPTS
        || !ngx_http_ddbm_retry_allowed(st->call, delay))
    {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "ddbm: DynamoDB BatchGetItem: %ui of %ui key(s) still "
                      "unprocessed after %ui call(s): answered as throttled",
                      st->nunprocessed, st->nkeys, st->calls);

        rc = ngx_http_ddbm_route_error_type(ctx, run->route,
                                   "ProvisionedThroughputExceededException");
        if (rc != NGX_DECLINED) {
            return rc;
        }

        return ngx_http_ddbm_respond_unavailable(ctx, "dynamodb_throttled",
                                                 "the database call failed");
    }

    ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                  "ddbm: DynamoDB BatchGetItem: %ui of %ui key(s) "
                  "unprocessed, asked again in %Mms", st->nunprocessed,
                  st->nkeys, delay);

    ngx_http_ddbm_metrics_error(st->call, "unprocessed_keys", 0, 1);
    ctx->retries++;

    st->again = 1;
    st->delay = delay ? delay : 1;
    st->call = NULL;

    return NGX_OK;
}


/* ---- the rounds -------------------------------------------------------- */

static ngx_int_t
ngx_http_ddbm_route_advance(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_run_t *run)
{
    ngx_int_t               rc;
    ngx_uint_t              i, n, nsteps, nchecks, issued, progress;
    ngx_http_ddbm_step_t   *steps;
    ngx_http_ddbm_check_t  *checks;

    steps = run->route->steps.elts;
    checks = run->route->checks.elts;
    nsteps = run->route->steps.nelts;
    nchecks = run->route->checks.nelts;

    for ( ;; ) {
        progress = 0;
        issued = 0;

        /* checks, in the order written, once what they read is known */
        while (run->next_check < nchecks) {
            n = run->next_check;

            if ((checks[n].after_steps & run->steps_done)
                != checks[n].after_steps)
            {
                break;
            }

            rc = ngx_http_ddbm_check_holds(ctx, run, &checks[n]);
            if (rc == NGX_ERROR) {
                return rc;
            }

            if (rc == NGX_DECLINED) {
                return ngx_http_ddbm_check_failed(ctx, &checks[n]);
            }

            run->checks_done |= 1u << n;
            run->next_check++;
            progress = 1;
        }

        for (i = 0; i < nsteps; i++) {
            if (run->step[i].issued
                || (steps[i].after_steps & run->steps_done)
                   != steps[i].after_steps
                || (steps[i].after_checks & run->checks_done)
                   != steps[i].after_checks)
            {
                continue;
            }

            if (steps[i].when_missing >= 0
                && run->step[steps[i].when_missing].nitems)
            {
                /* its fallback is not needed */
                run->step[i].issued = 1;
                run->step[i].done = 1;
                run->steps_done |= 1u << i;
                progress = 1;
                continue;
            }

            rc = (steps[i].op == NGX_HTTP_DDBM_OP_TRANSACT)
                 ? ngx_http_ddbm_tx_issue(ctx, run, &steps[i])
                 : (steps[i].op == NGX_HTTP_DDBM_OP_BATCH_GET)
                 ? ngx_http_ddbm_batch_issue(ctx, run, &steps[i])
                 : ngx_http_ddbm_step_issue(ctx, run, &steps[i]);
            if (rc != NGX_OK) {
                return rc;
            }

            progress = 1;

            if (run->step[i].done) {
                run->steps_done |= 1u << i;     /* from the cache */

            } else {
                issued = 1;
            }
        }

        /* a BatchGetItem asking its unprocessed keys again, meanwhile */
        for (i = 0; i < nsteps && !issued; i++) {
            issued = run->step[i].issued && !run->step[i].done;
        }

        if (issued) {
            return NGX_AGAIN;
        }

        if (run->steps_done == (1u << nsteps) - 1
            && run->next_check == nchecks)
        {
            return ngx_http_ddbm_route_answer(ctx, run);
        }

        if (!progress) {
            ngx_log_error(NGX_LOG_ALERT, ctx->request->connection->log, 0,
                          "ddbm: route \"%V\" cannot go on",
                          &ctx->pattern->name);
            return NGX_ERROR;
        }
    }
}


ngx_int_t
ngx_http_ddbm_route_start(ngx_http_ddbm_ctx_t *ctx)
{
    json_t                *body;
    ngx_int_t              rc;
    json_error_t           err;
    ngx_pool_cleanup_t    *cln;
    ngx_http_ddbm_run_t   *run;

    run = ngx_pcalloc(ctx->request->pool, sizeof(ngx_http_ddbm_run_t));
    if (run == NULL) {
        return NGX_ERROR;
    }

    ctx->data = run;
    run->route = ngx_http_ddbm_run_route(ctx);

    if (run->route->reads_body) {
        body = json_loadb((const char *) ctx->raw_body.data,
                          ctx->raw_body.len, JSON_REJECT_DUPLICATES, &err);

        if (body == NULL || !json_is_object(body)) {
            json_decref(body);
            return ngx_http_ddbm_respond_error(ctx, NGX_HTTP_BAD_REQUEST,
                                               "malformed_json",
                                               "the body must be a JSON "
                                               "object");
        }

        cln = ngx_pool_cleanup_add(ctx->request->pool, 0);
        if (cln == NULL) {
            json_decref(body);
            return NGX_ERROR;
        }

        cln->handler = ngx_http_ddbm_route_json_cleanup;
        cln->data = body;
        run->body = body;
    }

    rc = ngx_http_ddbm_route_validate(ctx, run);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_ddbm_route_advance(ctx, run);
}


ngx_int_t
ngx_http_ddbm_route_resume(ngx_http_ddbm_ctx_t *ctx)
{
    ngx_int_t              rc;
    ngx_uint_t             i;
    ngx_http_ddbm_run_t   *run;
    ngx_http_ddbm_step_t  *steps;

    run = ctx->data;
    steps = run->route->steps.elts;

    for (i = 0; i < run->route->steps.nelts; i++) {
        if (!run->step[i].issued || run->step[i].done) {
            continue;
        }

        rc = (steps[i].op == NGX_HTTP_DDBM_OP_BATCH_GET)
             ? ngx_http_ddbm_batch_read(ctx, run, &steps[i])
             : ngx_http_ddbm_step_read(ctx, run, &steps[i]);
        if (rc != NGX_OK) {
            return rc;
        }

        if (run->step[i].done) {
            run->steps_done |= 1u << i;
        }
    }

    ngx_http_ddbm_reset_calls(ctx);

    /* the keys a BatchGetItem left unprocessed, in a call of their own */
    for (i = 0; i < run->route->steps.nelts; i++) {
        if (!run->step[i].again) {
            continue;
        }

        run->step[i].again = 0;

        if (ngx_http_ddbm_batch_call(ctx, run, &steps[i],
                                     run->step[i].unprocessed,
                                     run->step[i].nunprocessed,
                                     run->step[i].delay)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_ddbm_route_advance(ctx, run);
}


/* ---- the answer ---------------------------------------------------------- */

static void
ngx_http_ddbm_answer_fields(ngx_http_ddbm_run_t *run, ngx_uint_t s,
    ngx_uint_t item, ngx_array_t *fields, dm_buf_t *b)
{
    u_char                  type;
    ngx_str_t               v;
    ngx_uint_t              i;
    ngx_http_ddbm_field_t  *f;

    f = fields->elts;

    dm_buf_append_str(b, "{");

    for (i = 0; i < fields->nelts; i++) {
        if (i) {
            dm_buf_append_str(b, ",");
        }

        dm_buf_json_string(b, f[i].key.data, f[i].key.len);
        dm_buf_append_str(b, ":");

        if (f[i].object) {
            ngx_http_ddbm_answer_fields(run, s, item, f[i].object, b);
            continue;
        }

        if (ngx_http_ddbm_step_attr(run, s, item, &f[i].attr, &v, &type)
            != NGX_OK)
        {
            dm_buf_append_str(b, "null");

        } else if (type == 'N' || type == 'B') {
            /* a number or a boolean is written as itself */
            dm_buf_append(b, v.data, v.len);

        } else {
            dm_buf_json_string(b, v.data, v.len);
        }
    }

    dm_buf_append_str(b, "}");
}


static ngx_int_t
ngx_http_ddbm_route_answer(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_run_t *run)
{
    ngx_str_t                    v;
    dm_buf_t                     b;
    ngx_uint_t                   i, k, status;
    dm_allocator_t               a;
    dm_ddb_answer_t              answer;
    ngx_http_ddbm_step_t        *steps;
    ngx_http_ddbm_answer_t      *ans;
    ngx_http_ddbm_step_state_t  *st;

    ans = &run->route->answer;
    st = &run->step[ans->step];
    steps = run->route->steps.elts;
    status = ans->status ? ans->status : NGX_HTTP_OK;

    ngx_http_ddbm_buf_init(&b, ctx->request->pool);
    ngx_str_null(&v);

    if (status == NGX_HTTP_NO_CONTENT) {
        return ngx_http_ddbm_respond(ctx, status, (u_char *) "", 0);
    }

    if (!ans->object && ans->map && st->call
        && steps[ans->step].op != NGX_HTTP_DDBM_OP_BATCH_GET)
    {
        /* a flat page: one streaming pass from DynamoDB's answer */
        ngx_http_ddbm_allocator(&a, ctx->request->pool);

        if (dm_ddb_rewrite_items(st->call->answer.data, st->call->answer.len,
                                 ans->map, ans->nmap, ans->reverse, &b,
                                 &answer, &a)
            != 0)
        {
            return ngx_http_ddbm_respond_unreadable(ctx, st->call,
                                                    answer.error_message);
        }

        if (ngx_http_ddbm_last_sk(ctx, &answer, &v) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ans->object) {
        if (st->nitems == 0) {
            dm_buf_append_str(&b, "{}");

        } else {
            ngx_http_ddbm_answer_fields(run, ans->step, 0, &ans->fields, &b);
        }

    } else {
        dm_buf_append_str(&b, "[");

        for (i = 0; i < st->nitems; i++) {
            k = ans->reverse ? st->nitems - 1 - i : i;

            if (i) {
                dm_buf_append_str(&b, ",");
            }

            ngx_http_ddbm_answer_fields(run, ans->step, k, &ans->fields, &b);
        }

        dm_buf_append_str(&b, "]");

        /* the cursor as the step's reading found it */
        v = st->last_sk;
    }

    if (b.failed) {
        return NGX_ERROR;
    }

    if (ans->cursor_header.len && v.len) {
        if (ngx_http_ddbm_add_header(ctx->request,
                         ngx_http_ddbm_cstr(ctx->request->pool,
                                            &ans->cursor_header),
                         &v)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_ddbm_respond(ctx, status, b.data, b.len);
}


/* ---- a location's routes, by method ------------------------------------- */

ngx_http_ddbm_pattern_t *
ngx_http_ddbm_route_for(ngx_http_request_t *r,
    ngx_http_ddbm_pattern_t *pattern, ngx_str_t *allow)
{
    u_char                 *p;
    ngx_uint_t              i, methods;
    ngx_http_ddbm_route_t  *route;

    static struct {
        ngx_uint_t   method;
        const char  *name;
    } names[] = {
        { NGX_HTTP_GET, "GET, " }, { NGX_HTTP_HEAD, "HEAD, " },
        { NGX_HTTP_POST, "POST, " }, { NGX_HTTP_PUT, "PUT, " },
        { NGX_HTTP_PATCH, "PATCH, " }, { NGX_HTTP_DELETE, "DELETE, " }
    };

    methods = 0;

    for (route = pattern->route; route; route = route->next) {
        if (r->method & route->methods) {
            return &route->pattern;
        }

        methods |= route->methods;
    }

    p = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, DELETE, "
                                    "OPTIONS"));
    if (p == NULL) {
        ngx_str_set(allow, "OPTIONS");
        return pattern;
    }

    allow->data = p;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (methods & names[i].method) {
            p = ngx_cpymem(p, names[i].name, ngx_strlen(names[i].name));
        }
    }

    p = ngx_cpymem(p, "OPTIONS", sizeof("OPTIONS") - 1);
    allow->len = p - allow->data;

    return pattern;
}
