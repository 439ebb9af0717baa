/*
 * Conversations: seed (the reference's demo conversation, in the
 * reference's layout), list-conversations and get-conversation (the
 * reference's pattern scripts, without the begins_with(sk, year) filter).
 * Queries are built by the core's builder and answers are read by the
 * core's streaming reader, as in the module.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddbm.h"


#define DDBM_DEMO_MESSAGES   12
#define DDBM_GET_LIMIT       20
#define DDBM_SHOW_CHARS      40

/* the demo directory; the tests rely on these exact values */
static const ddbm_user_t  ddbm_demo_users[] = {
    { "6f4736eb-c53a-4877-968e-ae8957f9383e", "andrewbrown", "Andrew Brown",
      "71c568d1-29bb-4ae1-92c5-057d12db82cb" },
    { "1c57dab3-621d-431c-b55d-de5cf7274595", "bayko", "Andrew Bayko",
      "8fa3c183-b83e-47b8-b41e-68081e5ff801" },
    { "69fca161-0a2d-4422-84aa-6a29d877f66e", "londo", "Londo Mollari",
      "7d62a217-66bb-4d2e-be24-ddb1b04128f9" }
};

#define DDBM_NDEMO_USERS \
    (sizeof(ddbm_demo_users) / sizeof(ddbm_demo_users[0]))

/* andrewbrown speaks first, then they alternate */
static const char  *ddbm_demo_lines[DDBM_DEMO_MESSAGES] = {
    "Bayko, I put NGINX in front of the messages table today. "
    "No Flask process in the path anymore.",
    "Nice! So the browser talks to NGINX and NGINX talks straight to "
    "DynamoDB?",
    "Exactly. A dynamic module signs every call with SigV4 and sends it "
    "as a subrequest.",
    "Does a slow DynamoDB answer block a worker? That was my first worry.",
    "No, the subrequests are non-blocking, and the upstream keeps a pool "
    "of keepalive connections.",
    "What happened to the Lambda that kept the last message up to date?",
    "Gone. The message and both conversation rows are written in one "
    "transaction now.",
    "So the inbox can never show a stale last message. I like that a lot.",
    "And conversations no longer vanish on the first of January either.",
    "Ha, the begins_with year filter. I never trusted that one.",
    "The old bin/ddb scripts still read everything: the key layout did "
    "not change.",
    "Then let's point wrk at it tonight and compare with the Flask "
    "numbers."
};


typedef struct {
    char           *sk;
    char           *message;
    char           *message_uuid;
    char           *group;              /* message_group_uuid */
    char           *user_uuid;
    char           *handle;
    char           *display_name;
} ddbm_row_t;

typedef struct {
    ddbm_row_t     *row;
    size_t          n;
    size_t          cap;
} ddbm_rows_t;


static int
ddbm_rows_begin(void *ctx, size_t index)
{
    ddbm_rows_t  *rows = ctx;
    ddbm_row_t   *p;
    size_t        cap;

    if (rows->n == rows->cap) {
        cap = rows->cap ? rows->cap * 2 : 32;

        p = realloc(rows->row, cap * sizeof(ddbm_row_t));
        if (p == NULL) {
            return -1;
        }

        rows->row = p;
        rows->cap = cap;
    }

    memset(&rows->row[rows->n++], 0, sizeof(ddbm_row_t));

    return 0;
}


static int
ddbm_rows_attr(void *ctx, const char *name, size_t name_len, char type,
    const unsigned char *value, size_t value_len)
{
    char         **dst, *s;
    ddbm_rows_t   *rows = ctx;
    ddbm_row_t    *r;

    if (type != 'S' || rows->n == 0) {
        return 0;
    }

    r = &rows->row[rows->n - 1];

#define ddbm_is(lit)                                                        \
    (name_len == sizeof(lit) - 1 && memcmp(name, lit, name_len) == 0)

    if (ddbm_is("sk")) {
        dst = &r->sk;

    } else if (ddbm_is("message")) {
        dst = &r->message;

    } else if (ddbm_is("message_uuid")) {
        dst = &r->message_uuid;

    } else if (ddbm_is("message_group_uuid")) {
        dst = &r->group;

    } else if (ddbm_is("user_uuid")) {
        dst = &r->user_uuid;

    } else if (ddbm_is("user_handle")) {
        dst = &r->handle;

    } else if (ddbm_is("user_display_name")) {
        dst = &r->display_name;

    } else {
        return 0;
    }

#undef ddbm_is

    s = malloc(value_len + 1);
    if (s == NULL) {
        return -1;
    }

    memcpy(s, value, value_len);
    s[value_len] = '\0';

    free(*dst);
    *dst = s;

    return 0;
}


static int
ddbm_rows_end(void *ctx, size_t index)
{
    return 0;
}


static void
ddbm_rows_free(ddbm_rows_t *rows)
{
    size_t       i;
    ddbm_row_t  *r;

    for (i = 0; i < rows->n; i++) {
        r = &rows->row[i];
        free(r->sk);
        free(r->message);
        free(r->message_uuid);
        free(r->group);
        free(r->user_uuid);
        free(r->handle);
        free(r->display_name);
    }

    free(rows->row);
    memset(rows, 0, sizeof(*rows));
}


/*
 * One call whose answer carries items (Query, GetItem), read by the
 * core's reader into rows.  With as_json the raw answer is printed instead.
 */
static int
ddbm_read_call(ddbm_client_t *c, const char *operation, dm_buf_t *body,
    ddbm_rows_t *rows, int as_json, dm_ddb_answer_t *a)
{
    int                rc;
    dm_buf_t           answer;
    dm_item_handler_t  h;

    dm_buf_init_malloc(&answer);

    rc = ddbm_ask_raw(c, operation, body, &answer, NULL);

    if (rc != 0) {
        /* reported */

    } else if (as_json) {
        rc = ddbm_print_raw_json(answer.data, answer.len);
        memset(a, 0, sizeof(*a));

    } else {
        h.item_begin = ddbm_rows_begin;
        h.item_attr = ddbm_rows_attr;
        h.item_end = ddbm_rows_end;
        h.key_attr = NULL;
        h.ctx = rows;

        rc = dm_ddb_read(answer.data, answer.len, &h, a);
        if (rc != 0) {
            ddbm_error("%s: unreadable answer from DynamoDB: %s", operation,
                       a->error_message);
        }
    }

    dm_buf_free_malloc(&answer);

    return rc;
}


/*
 * The items of partition pk (of conversation group only, when given),
 * newest first, page after page (the core's cursor: sk < the last key
 * seen) until max rows (0: all).  With as_json: the first page, raw.
 */
static int
ddbm_query_rows(ddbm_client_t *c, const char *pk, const char *group,
    unsigned max, ddbm_rows_t *rows, int as_json)
{
    int               rc;
    char              before[sizeof(((dm_ddb_answer_t *) 0)->last_sk)];
    dm_buf_t          body;
    dm_ddb_query_t    q;
    dm_ddb_answer_t   a;

    memset(&q, 0, sizeof(q));
    q.table = c->opts->table;
    q.key_name = "pk";
    q.key_value = pk;
    q.consistent = 1;

    if (group != NULL) {
        q.filter_name = "message_group_uuid";
        q.filter_value = group;
    }

    for ( ;; ) {
        q.limit = max ? max - (unsigned) rows->n : 0;

        dm_buf_init_malloc(&body);
        dm_ddb_query(&body, &q);

        rc = ddbm_read_call(c, "Query", &body, rows, as_json, &a);
        dm_buf_free_malloc(&body);

        if (rc != 0) {
            return -1;
        }

        if (as_json || !a.has_last_key || a.last_sk[0] == '\0'
            || (max && rows->n >= max))
        {
            return 0;
        }

        memcpy(before, a.last_sk, sizeof(before));
        q.sk_before = before;
    }
}


/* "2026-11-25 07:55 PM", local time, like the reference's strftime */
int
ddbm_local_time(const char *iso, size_t len, char *out, size_t size)
{
    time_t     t;
    int64_t    us;
    struct tm  tm;

    if (!dm_time_parse(iso, len, &us)) {
        return -1;
    }

    t = (time_t) (us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000));

    if (localtime_r(&t, &tm) == NULL
        || strftime(out, size, "%Y-%m-%d %I:%M %p", &tm) == 0)
    {
        return -1;
    }

    return 0;
}


/* the first 40 characters (not bytes), printable, then "..." */
static void
ddbm_print_start(const char *s)
{
    size_t                chars;
    const unsigned char  *p;

    chars = 0;

    for (p = (const unsigned char *) (s ? s : ""); *p; p++) {
        if ((*p & 0xc0) != 0x80) {
            if (chars == DDBM_SHOW_CHARS) {
                break;
            }

            chars++;
        }

        putchar((*p < 0x20 || *p == 0x7f) ? ' ' : *p);
    }

    fputs("...\n", stdout);
}


static void
ddbm_print_time(const char *sk)
{
    char  local[64];

    if (sk != NULL && ddbm_local_time(sk, strlen(sk), local, sizeof(local))
                      == 0)
    {
        printf("%-22s", local);

    } else {
        /* not a time the reference writes: show it as it is */
        printf("%-22.40s", sk ? sk : "?");
    }
}


static int
ddbm_take_limit(const char *command, void *dest, const char *v)
{
    if (ddbm_parse_limit(v, dest) != 0) {
        ddbm_usage_error("%s: --limit wants a number from 1 to 100000, "
                         "not \"%s\"", command, v);
        return -1;
    }

    return 1;
}


static int
ddbm_conversation_args(ddbm_options_t *opts, ddbm_args_t *args,
    const char *cmd, const char **id, unsigned *limit, int *as_json)
{
    const ddbm_option_t  options[] = {
        { "--json", DDBM_OPT_FLAG, as_json, NULL },
        { "--limit", DDBM_OPT_VALUE, limit, ddbm_take_limit },
        ddbm_null_option
    };

    const ddbm_syntax_t  syntax = {
        cmd, options, DDBM_ARGS_DASHDASH, 1, 1, "wants exactly one argument"
    };

    return ddbm_args_parse(opts, args, &syntax, id);
}


/* a handle to a user uuid through the directory's USER#HANDLE# item */
static int
ddbm_resolve_handle(ddbm_client_t *c, const char *handle, char *uuid)
{
    int               rc;
    char              pk[DM_KEY_MAX];
    dm_buf_t          body;
    ddbm_rows_t       rows;
    dm_ddb_answer_t   a;

    if (dm_key_user_handle(pk, sizeof(pk), handle, strlen(handle)) == 0) {
        return -1;
    }

    memset(&rows, 0, sizeof(rows));
    dm_buf_init_malloc(&body);
    dm_ddb_get_item(&body, c->opts->table, pk, DM_SK_USER, 1);

    rc = ddbm_read_call(c, "GetItem", &body, &rows, 0, &a);
    dm_buf_free_malloc(&body);

    if (rc != 0) {
        ddbm_rows_free(&rows);
        return -1;
    }

    if (rows.n == 0) {
        ddbm_error("no user with handle \"%s\" in the user directory of %s "
                   "(run seed, import-users or put-user)", handle,
                   c->opts->table);
        rc = -1;

    } else if (rows.row[0].user_uuid == NULL
               || !dm_uuid_valid(rows.row[0].user_uuid,
                                 strlen(rows.row[0].user_uuid)))
    {
        ddbm_error("the directory item %s has no valid user_uuid", pk);
        rc = -1;

    } else {
        memcpy(uuid, rows.row[0].user_uuid, DM_UUID_LEN + 1);
    }

    ddbm_rows_free(&rows);

    return rc;
}


typedef void (*ddbm_rows_print_pt)(ddbm_rows_t *rows, const char *id);


/*
 * What list-conversations and get-conversation show of partition pk: the
 * answer's JSON, or the rows as print lays them out.
 */
static int
ddbm_show_rows(ddbm_client_t *c, const char *pk, unsigned limit,
    int as_json, ddbm_rows_print_pt print, const char *id)
{
    int          rc;
    ddbm_rows_t  rows;

    memset(&rows, 0, sizeof(rows));

    rc = ddbm_query_rows(c, pk, NULL, limit, &rows, as_json);

    if (rc == 0 && !as_json) {
        print(&rows, id);
    }

    ddbm_rows_free(&rows);

    return rc == 0 ? DDBM_OK : DDBM_ERROR;
}


static void
ddbm_print_conversations(ddbm_rows_t *rows, const char *who)
{
    size_t       i;
    ddbm_row_t  *r;

    if (rows->n == 0) {
        fprintf(stderr, "ddbm: no conversations for %s\n", who);
    }

    for (i = 0; i < rows->n; i++) {
        r = &rows->row[i];

        ddbm_print_time(r->sk);
        printf("%-16s%-38s", r->handle ? r->handle : "?",
               r->group ? r->group : "?");
        ddbm_print_start(r->message);
    }
}


static void
ddbm_print_messages(ddbm_rows_t *rows, const char *group)
{
    size_t       i;
    ddbm_row_t  *r;

    if (rows->n == 0) {
        fprintf(stderr, "ddbm: no messages in conversation %s\n", group);
    }

    /* fetched newest first, printed oldest first */
    for (i = rows->n; i-- > 0; /* void */ ) {
        r = &rows->row[i];

        printf("%-16s", r->handle ? r->handle : "?");
        ddbm_print_time(r->sk);
        ddbm_print_start(r->message);
    }
}


int
ddbm_cmd_list_conversations(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             rc, as_json;
    char            uuid[DM_UUID_LEN + 1], pk[DM_KEY_MAX];
    unsigned        limit;
    const char     *who;
    ddbm_client_t   c;

    limit = 0;
    as_json = 0;

    if (ddbm_conversation_args(opts, args, "list-conversations", &who,
                               &limit, &as_json)
        != 0)
    {
        return DDBM_USAGE;
    }

    if (!dm_uuid_valid(who, strlen(who))
        && !dm_handle_valid(who, strlen(who)))
    {
        ddbm_usage_error("list-conversations: \"%s\" is neither a handle "
                         "nor a user uuid", who);
        return DDBM_USAGE;
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        return rc;
    }

    rc = DDBM_ERROR;

    if (dm_uuid_valid(who, strlen(who))) {
        memcpy(uuid, who, DM_UUID_LEN + 1);

    } else if (ddbm_resolve_handle(&c, who, uuid) != 0) {
        goto done;
    }

    if (dm_key_grp(pk, sizeof(pk), uuid, strlen(uuid)) == 0) {
        ddbm_error("the core refused the key of user %s", uuid);
        goto done;
    }

    rc = ddbm_show_rows(&c, pk, limit, as_json, ddbm_print_conversations,
                        who);

done:

    ddbm_client_close(&c);

    return rc;
}


int
ddbm_cmd_get_conversation(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             rc, as_json;
    char            pk[DM_KEY_MAX];
    unsigned        limit;
    const char     *group;
    ddbm_client_t   c;

    limit = DDBM_GET_LIMIT;
    as_json = 0;

    if (ddbm_conversation_args(opts, args, "get-conversation", &group,
                               &limit, &as_json)
        != 0)
    {
        return DDBM_USAGE;
    }

    /* the core's builder refuses anything but a canonical uuid */
    if (dm_key_msg(pk, sizeof(pk), group, strlen(group)) == 0) {
        ddbm_usage_error("get-conversation: \"%s\" is not a "
                         "message_group_uuid (a canonical lower-case uuid)",
                         group);
        return DDBM_USAGE;
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        return rc;
    }

    rc = ddbm_show_rows(&c, pk, limit, as_json, ddbm_print_messages, group);

    ddbm_client_close(&c);

    return rc;
}


/* ---- seed -------------------------------------------------------------- */

typedef struct {
    char                 pk_msg[DM_KEY_MAX];
    char                 pk_grp[2][DM_KEY_MAX];
    char                 time[DDBM_DEMO_MESSAGES][DM_TIME_LEN + 1];
    char                 uuid[DDBM_DEMO_MESSAGES][DM_UUID_LEN + 1];
    dm_attr_t            msg[DDBM_DEMO_MESSAGES][7];
    dm_attr_t            grp[2][7];
    ddbm_user_items_t    users[DDBM_NDEMO_USERS];
    ddbm_item_t          puts[2 * DDBM_NDEMO_USERS + 2 + DDBM_DEMO_MESSAGES];
    size_t               nputs;
} ddbm_seed_t;


/* the reference's create_message_group and create_message, item by item */
static int
ddbm_seed_items(ddbm_seed_t *s, int64_t base_us)
{
    size_t              i, k;
    const ddbm_user_t  *from, *owner, *other;

    if (dm_key_msg(s->pk_msg, sizeof(s->pk_msg), DDBM_DEMO_GROUP,
                   DM_UUID_LEN)
        == 0)
    {
        return -1;
    }

    for (i = 0; i < DDBM_NDEMO_USERS; i++) {
        if (ddbm_user_items(&ddbm_demo_users[i], &s->users[i]) != 0) {
            return -1;
        }

        s->puts[s->nputs].attrs = s->users[i].by_sub;
        s->puts[s->nputs++].nattrs = 6;
        s->puts[s->nputs].attrs = s->users[i].by_handle;
        s->puts[s->nputs++].nattrs = 6;
    }

    for (i = 0; i < DDBM_DEMO_MESSAGES; i++) {
        from = &ddbm_demo_users[i % 2];

        if (dm_time_format(base_us + (int64_t) i * 60 * 1000000,
                           s->time[i])
            == 0
            || dm_uuid_v4(s->uuid[i]) != 0)
        {
            return -1;
        }

        ddbm_attr_set(&s->msg[i][0], "pk", s->pk_msg);
        ddbm_attr_set(&s->msg[i][1], "sk", s->time[i]);
        ddbm_attr_set(&s->msg[i][2], "message_uuid", s->uuid[i]);
        ddbm_attr_set(&s->msg[i][3], "message", ddbm_demo_lines[i]);
        ddbm_attr_set(&s->msg[i][4], "user_uuid", from->uuid);
        ddbm_attr_set(&s->msg[i][5], "user_display_name", from->display_name);
        ddbm_attr_set(&s->msg[i][6], "user_handle", from->handle);

        s->puts[s->nputs].attrs = s->msg[i];
        s->puts[s->nputs++].nattrs = 7;
    }

    /* one row per participant, about the other, at the last message */
    for (k = 0; k < 2; k++) {
        owner = &ddbm_demo_users[k];
        other = &ddbm_demo_users[1 - k];

        if (dm_key_grp(s->pk_grp[k], sizeof(s->pk_grp[k]), owner->uuid,
                       strlen(owner->uuid))
            == 0)
        {
            return -1;
        }

        ddbm_attr_set(&s->grp[k][0], "pk", s->pk_grp[k]);
        ddbm_attr_set(&s->grp[k][1], "sk", s->time[DDBM_DEMO_MESSAGES - 1]);
        ddbm_attr_set(&s->grp[k][2], "message_group_uuid", DDBM_DEMO_GROUP);
        ddbm_attr_set(&s->grp[k][3], "message",
                  ddbm_demo_lines[DDBM_DEMO_MESSAGES - 1]);
        ddbm_attr_set(&s->grp[k][4], "user_uuid", other->uuid);
        ddbm_attr_set(&s->grp[k][5], "user_display_name", other->display_name);
        ddbm_attr_set(&s->grp[k][6], "user_handle", other->handle);

        s->puts[s->nputs].attrs = s->grp[k];
        s->puts[s->nputs++].nattrs = 7;
    }

    return 0;
}


typedef struct {
    ddbm_key_t     *key;                /* strings owned here */
    size_t          n;
    size_t          cap;
} ddbm_keys_t;


static int
ddbm_keys_add(ddbm_keys_t *ks, const char *pk, const char *sk)
{
    size_t       cap;
    ddbm_key_t  *p;

    if (ks->n == ks->cap) {
        cap = ks->cap ? ks->cap * 2 : 32;

        p = realloc(ks->key, cap * sizeof(ddbm_key_t));
        if (p == NULL) {
            return -1;
        }

        ks->key = p;
        ks->cap = cap;
    }

    ks->key[ks->n].pk = strdup(pk);
    ks->key[ks->n].sk = strdup(sk);

    if (ks->key[ks->n].pk == NULL || ks->key[ks->n].sk == NULL) {
        free((char *) ks->key[ks->n].pk);
        free((char *) ks->key[ks->n].sk);
        return -1;
    }

    ks->n++;

    return 0;
}


static void
ddbm_keys_free(ddbm_keys_t *ks)
{
    size_t  i;

    for (i = 0; i < ks->n; i++) {
        free((char *) ks->key[i].pk);
        free((char *) ks->key[i].sk);
    }

    free(ks->key);
    memset(ks, 0, sizeof(*ks));
}


/* the keys of every item of partition pk (of conversation group) */
static int
ddbm_collect_keys(ddbm_client_t *c, const char *pk, const char *group,
    ddbm_keys_t *ks)
{
    int          rc;
    size_t       i;
    ddbm_rows_t  rows;

    memset(&rows, 0, sizeof(rows));

    rc = ddbm_query_rows(c, pk, group, 0, &rows, 0);

    for (i = 0; rc == 0 && i < rows.n; i++) {
        if (rows.row[i].sk != NULL
            && ddbm_keys_add(ks, pk, rows.row[i].sk) != 0)
        {
            ddbm_error("out of memory");
            rc = -1;
        }
    }

    ddbm_rows_free(&rows);

    return rc;
}


/*
 * What an earlier seed (or the module) left of the demo conversation: its
 * messages, the participants' rows pointing at it and the module's
 * metadata item.  Seeding replaces them all, so that each participant
 * keeps exactly one row for the conversation and only the reference's
 * item kinds describe it.
 */
static int
ddbm_seed_old(ddbm_client_t *c, ddbm_seed_t *s, ddbm_keys_t *old)
{
    int               rc;
    size_t            k;
    char              meta_pk[DM_KEY_MAX];
    dm_buf_t          body;
    ddbm_rows_t       meta;
    dm_ddb_answer_t   a;

    if (ddbm_collect_keys(c, s->pk_msg, NULL, old) != 0) {
        return -1;
    }

    for (k = 0; k < 2; k++) {
        if (ddbm_collect_keys(c, s->pk_grp[k], DDBM_DEMO_GROUP, old) != 0) {
            return -1;
        }
    }

    if (dm_key_group_meta(meta_pk, sizeof(meta_pk), DDBM_DEMO_GROUP,
                          DM_UUID_LEN)
        == 0)
    {
        return -1;
    }

    memset(&meta, 0, sizeof(meta));
    dm_buf_init_malloc(&body);
    dm_ddb_get_item(&body, c->opts->table, meta_pk, DM_SK_GROUP_META, 1);

    rc = ddbm_read_call(c, "GetItem", &body, &meta, 0, &a);

    if (rc == 0 && meta.n > 0) {
        rc = ddbm_keys_add(old, meta_pk, DM_SK_GROUP_META);
    }

    dm_buf_free_malloc(&body);
    ddbm_rows_free(&meta);

    return rc;
}


static int
ddbm_seed_will_put(ddbm_seed_t *s, const ddbm_key_t *key)
{
    size_t  i;

    for (i = 0; i < s->nputs; i++) {
        if (strcmp(s->puts[i].attrs[0].value, key->pk) == 0
            && strcmp(s->puts[i].attrs[1].value, key->sk) == 0)
        {
            return 1;
        }
    }

    return 0;
}


int
ddbm_cmd_seed(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             rc;
    size_t          k, ndel;
    int64_t         base_us;
    const char     *at;
    ddbm_seed_t    *s;
    ddbm_keys_t     old;
    ddbm_client_t   c;

    const ddbm_option_t  options[] = {
        { "--time", DDBM_OPT_VALUE, &at, NULL },
        ddbm_null_option
    };

    const ddbm_syntax_t  syntax = {
        "seed", options, 0, 0, 0, "takes no arguments besides --time"
    };

    at = NULL;

    if (ddbm_args_parse(opts, args, &syntax, NULL) != 0) {
        return DDBM_USAGE;
    }

    if (at != NULL) {
        if (!dm_time_parse(at, strlen(at), &base_us)) {
            ddbm_usage_error("seed: --time \"%s\" is not an ISO 8601 time "
                             "(2026-11-25T19:55:39.123456+00:00)", at);
            return DDBM_USAGE;
        }

    } else {
        /* an hour ago, so the conversation is "recent" but not future */
        base_us = dm_time_now_us() - (int64_t) 3600 * 1000000;
    }

    s = calloc(1, sizeof(ddbm_seed_t));
    if (s == NULL) {
        ddbm_error("out of memory");
        return DDBM_ERROR;
    }

    if (ddbm_seed_items(s, base_us) != 0) {
        ddbm_error("seed: the core refused a key, a time or a uuid");
        free(s);
        return DDBM_ERROR;
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        free(s);
        return rc;
    }

    memset(&old, 0, sizeof(old));
    rc = DDBM_ERROR;

    if (ddbm_seed_old(&c, s, &old) != 0) {
        goto done;
    }

    /* keys about to be overwritten need no delete (nor may they have one) */
    for (k = 0, ndel = 0; k < old.n; k++) {
        if (ddbm_seed_will_put(s, &old.key[k])) {
            free((char *) old.key[k].pk);
            free((char *) old.key[k].sk);
            continue;
        }

        old.key[ndel++] = old.key[k];
    }

    old.n = ndel;

    if (ddbm_batch_write(&c, s->puts, s->nputs, old.key, old.n) != 0) {
        goto done;
    }

    printf("seeded %zu users and conversation %s (andrewbrown and bayko, "
           "%d messages, %s to %s) into %s",
           DDBM_NDEMO_USERS, DDBM_DEMO_GROUP, DDBM_DEMO_MESSAGES,
           s->time[0], s->time[DDBM_DEMO_MESSAGES - 1], opts->table);

    if (old.n > 0) {
        printf("; replaced %zu earlier item%s", old.n,
               old.n == 1 ? "" : "s");
    }

    printf("\n");

    rc = DDBM_OK;

done:

    ddbm_keys_free(&old);
    ddbm_client_close(&c);
    free(s);

    return rc;
}
