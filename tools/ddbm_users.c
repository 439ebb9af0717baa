/*
 * The user directory the module reads to map a Cognito sub (and a handle,
 * for new conversations) to {uuid, handle, display_name}: two items per
 * user, each read with one strongly consistent GetItem.  They never carry
 * message_group_uuid, so the GSI indexes conversation rows only.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ddbm.h"


#define DDBM_CSV_MAX   (256 * 1024 * 1024)

enum {
    DDBM_COL_UUID = 0,
    DDBM_COL_HANDLE,
    DDBM_COL_DISPLAY_NAME,
    DDBM_COL_SUB,
    DDBM_NCOLS
};

static const char  *ddbm_columns[DDBM_NCOLS] = {
    "uuid", "handle", "display_name", "cognito_user_id"
};


/*
 * Valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF)
 * without control characters: C0, DEL and C1.
 */
int
ddbm_utf8_text_valid(const char *s, size_t len)
{
    size_t          i, k, need;
    uint32_t        cp, min;
    unsigned char   ch;

    for (i = 0; i < len; /* void */ ) {
        ch = (unsigned char) s[i];

        if (ch < 0x80) {
            if (ch < 0x20 || ch == 0x7f) {
                return 0;
            }

            i++;
            continue;
        }

        if (ch >= 0xc2 && ch <= 0xdf) {
            need = 1;
            cp = ch & 0x1f;
            min = 0x80;

        } else if (ch >= 0xe0 && ch <= 0xef) {
            need = 2;
            cp = ch & 0x0f;
            min = 0x800;

        } else if (ch >= 0xf0 && ch <= 0xf4) {
            need = 3;
            cp = ch & 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (len - i <= need) {
            return 0;
        }

        for (k = 1; k <= need; k++) {
            ch = (unsigned char) s[i + k];
            if ((ch & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (ch & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)
            || (cp >= 0x80 && cp <= 0x9f))
        {
            return 0;
        }

        i += need + 1;
    }

    return 1;
}


/* NULL when the user is fine, else why not */
const char *
ddbm_user_check(const ddbm_user_t *u)
{
    size_t  n;

    if (!dm_uuid_valid(u->uuid, strlen(u->uuid))) {
        return "uuid is not a canonical lower-case uuid";
    }

    if (!dm_handle_valid(u->handle, strlen(u->handle))) {
        return "handle must be 1 to 64 of A-Z a-z 0-9 _ . -";
    }

    n = strlen(u->display_name);

    if (n == 0) {
        return "display_name is empty";
    }

    if (n > DDBM_DISPLAY_NAME_MAX) {
        return "display_name is longer than 256 bytes";
    }

    if (!ddbm_utf8_text_valid(u->display_name, n)) {
        return "display_name is not valid UTF-8 or holds control "
               "characters";
    }

    if (!dm_uuid_valid(u->sub, strlen(u->sub))) {
        return "cognito_user_id is not a canonical lower-case uuid "
               "(a Cognito sub)";
    }

    return NULL;
}


void
ddbm_attr_set(dm_attr_t *a, const char *name, const char *value)
{
    a->name = name;
    a->type = "S";
    a->value = value;
    a->len = strlen(value);
}


static void
ddbm_user_attrs(dm_attr_t *a, const char *pk, const ddbm_user_t *u)
{
    ddbm_attr_set(&a[0], "pk", pk);
    ddbm_attr_set(&a[1], "sk", DM_SK_USER);
    ddbm_attr_set(&a[2], "user_uuid", u->uuid);
    ddbm_attr_set(&a[3], "user_handle", u->handle);
    ddbm_attr_set(&a[4], "user_display_name", u->display_name);
    ddbm_attr_set(&a[5], "cognito_user_id", u->sub);
}


/* the keys come from the core's builders, which validate the ids again */
int
ddbm_user_items(const ddbm_user_t *u, ddbm_user_items_t *it)
{
    if (dm_key_user_sub(it->pk_sub, sizeof(it->pk_sub), u->sub,
                        strlen(u->sub))
        == 0
        || dm_key_user_handle(it->pk_handle, sizeof(it->pk_handle),
                              u->handle, strlen(u->handle))
           == 0)
    {
        return -1;
    }

    ddbm_user_attrs(it->by_sub, it->pk_sub, u);
    ddbm_user_attrs(it->by_handle, it->pk_handle, u);

    return 0;
}


static int
ddbm_read_file(const char *path, char **data, size_t *len)
{
    FILE    *f;
    char    *buf, *p;
    size_t   n, cap;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        ddbm_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }

    buf = NULL;
    cap = 0;
    *len = 0;

    for ( ;; ) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 65536;

            if (cap > DDBM_CSV_MAX) {
                ddbm_error("%s is larger than %d MB", path,
                           DDBM_CSV_MAX / 1024 / 1024);
                goto failed;
            }

            p = realloc(buf, cap);
            if (p == NULL) {
                ddbm_error("out of memory");
                goto failed;
            }

            buf = p;
        }

        n = fread(buf + *len, 1, cap - *len, f);
        *len += n;

        if (n == 0) {
            break;
        }
    }

    if (ferror(f)) {
        ddbm_error("cannot read %s: %s", path, strerror(errno));
        goto failed;
    }

    if (f != stdin) {
        fclose(f);
    }

    *data = buf;

    return 0;

failed:

    if (f != stdin) {
        fclose(f);
    }

    free(buf);

    return -1;
}


/* the good rows (their records own the strings) and the count of bad */
typedef struct {
    const char          *file;
    ddbm_user_t         *users;
    size_t              *lines;
    ddbm_csv_record_t   *recs;
    size_t               n;
    size_t               cap;
    size_t               bad;
} ddbm_import_t;


static void
ddbm_import_bad(ddbm_import_t *im, size_t line, const char *fmt,
    const char *a, const char *b)
{
    char  what[512];

    snprintf(what, sizeof(what), fmt, a, b);
    ddbm_error("%s: line %zu: %s", im->file, line, what);
    im->bad++;
}


/* a short, printable echo of a rejected value */
static const char *
ddbm_echo(const char *s, char *out, size_t size)
{
    size_t  n;

    n = strlen(s);
    if (n > 64) {
        snprintf(out, size, "%.64s...", s);

    } else {
        snprintf(out, size, "%s", s);
    }

    ddbm_sanitize(out);

    return out;
}


typedef struct {
    const char     *key;
    size_t          idx;
} ddbm_dup_t;


static int
ddbm_dup_cmp(const void *a, const void *b)
{
    int                rc;
    const ddbm_dup_t  *x = a, *y = b;

    /* handles are ASCII once valid, and case-insensitive */
    rc = strcasecmp(x->key, y->key);
    if (rc != 0) {
        return rc;
    }

    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}


/* two rows must not claim one uuid, one sub or one handle */
static int
ddbm_import_dups(ddbm_import_t *im)
{
    int          col;
    size_t       i;
    char         line[32];
    ddbm_dup_t  *d;

    d = malloc((im->n ? im->n : 1) * sizeof(ddbm_dup_t));
    if (d == NULL) {
        ddbm_error("out of memory");
        return -1;
    }

    for (col = 0; col < 3; col++) {
        for (i = 0; i < im->n; i++) {
            d[i].key = col == 0 ? im->users[i].uuid
                     : col == 1 ? im->users[i].handle
                                : im->users[i].sub;
            d[i].idx = i;
        }

        qsort(d, im->n, sizeof(ddbm_dup_t), ddbm_dup_cmp);

        for (i = 1; i < im->n; i++) {
            if (strcasecmp(d[i].key, d[i - 1].key) == 0) {
                snprintf(line, sizeof(line), "%zu", im->lines[d[i - 1].idx]);
                ddbm_import_bad(im, im->lines[d[i].idx],
                                "%s also on line %s",
                                col == 0 ? "uuid"
                                : col == 1 ? "handle (case-insensitive)"
                                           : "cognito_user_id",
                                line);
            }
        }
    }

    free(d);

    return 0;
}


static int
ddbm_import_parse(ddbm_import_t *im, const char *data, size_t len)
{
    int                 rc, col[DDBM_NCOLS], c;
    size_t              i;
    char                echo[80];
    void               *p;
    const char         *why, *bad;
    ddbm_csv_t          csv;
    ddbm_csv_record_t   rec, header;
    ddbm_user_t        *u;

    ddbm_csv_init(&csv, data, len);

    rc = ddbm_csv_next(&csv, &header);
    if (rc <= 0) {
        ddbm_error("%s: line 1: %s", im->file,
                   rc == 0 ? "empty file, expected a header line"
                           : csv.error);
        return -1;
    }

    for (c = 0; c < DDBM_NCOLS; c++) {
        col[c] = -1;

        for (i = 0; i < header.n; i++) {
            if (strcasecmp(header.field[i], ddbm_columns[c]) == 0) {
                col[c] = (int) i;
            }
        }

        if (col[c] < 0) {
            ddbm_error("%s: line %zu: the header has no column \"%s\" "
                       "(wanted: uuid, handle, display_name, "
                       "cognito_user_id)", im->file, header.line,
                       ddbm_columns[c]);
            ddbm_csv_record_free(&header);
            return -1;
        }
    }

    for ( ;; ) {
        rc = ddbm_csv_next(&csv, &rec);

        if (rc == 0) {
            break;
        }

        if (rc < 0) {
            ddbm_import_bad(im, rec.line, "%s%s", csv.error, "");
            continue;
        }

        if (rec.n == 1 && rec.len[0] == 0) {
            ddbm_csv_record_free(&rec);
            continue;
        }

        if (rec.n != header.n) {
            snprintf(echo, sizeof(echo), "%zu fields, the header has %zu",
                     rec.n, header.n);
            ddbm_import_bad(im, rec.line, "%s%s", echo, "");
            ddbm_csv_record_free(&rec);
            continue;
        }

        for (i = 0; i < rec.n; i++) {
            if (strlen(rec.field[i]) != rec.len[i]) {
                break;
            }
        }

        if (i < rec.n) {
            ddbm_import_bad(im, rec.line, "a field holds a NUL byte%s%s",
                            "", "");
            ddbm_csv_record_free(&rec);
            continue;
        }

        if (im->n == im->cap) {
            im->cap = im->cap ? im->cap * 2 : 64;

            p = realloc(im->users, im->cap * sizeof(ddbm_user_t));
            if (p == NULL) {
                goto nomem;
            }
            im->users = p;

            p = realloc(im->lines, im->cap * sizeof(size_t));
            if (p == NULL) {
                goto nomem;
            }
            im->lines = p;

            p = realloc(im->recs, im->cap * sizeof(ddbm_csv_record_t));
            if (p == NULL) {
                goto nomem;
            }
            im->recs = p;
        }

        u = &im->users[im->n];
        u->uuid = rec.field[col[DDBM_COL_UUID]];
        u->handle = rec.field[col[DDBM_COL_HANDLE]];
        u->display_name = rec.field[col[DDBM_COL_DISPLAY_NAME]];
        u->sub = rec.field[col[DDBM_COL_SUB]];

        why = ddbm_user_check(u);

        if (why != NULL) {
            /* name the offending id; free text is not echoed */
            bad = strncmp(why, "uuid", 4) == 0 ? u->uuid
                  : strncmp(why, "handle", 6) == 0 ? u->handle
                  : strncmp(why, "cognito", 7) == 0 ? u->sub : NULL;

            if (bad != NULL) {
                ddbm_import_bad(im, rec.line, "%s: \"%s\"", why,
                                ddbm_echo(bad, echo, sizeof(echo)));

            } else {
                ddbm_import_bad(im, rec.line, "%s%s", why, "");
            }

            ddbm_csv_record_free(&rec);
            continue;
        }

        im->lines[im->n] = rec.line;
        im->recs[im->n] = rec;
        im->n++;
    }

    ddbm_csv_record_free(&header);

    return ddbm_import_dups(im);

nomem:

    ddbm_csv_record_free(&rec);
    ddbm_csv_record_free(&header);
    ddbm_error("out of memory");

    return -1;
}


/*
 * A user whose handle changed would leave the old USER#HANDLE# item
 * behind, still pointing at them: the module would then open
 * conversations with them under a handle they gave up.  So the writers
 * read each user's current directory item first, and once the new items
 * are in, delete the old handle's item, on condition that it still names
 * the same user (the same import may have given the handle to someone
 * else, which the condition then protects).
 */
typedef struct {
    char            pk[DM_KEY_MAX];          /* USER#HANDLE#<old> */
    char            owner[DM_UUID_LEN + 1];
    char            sub[DM_UUID_LEN + 1];
} ddbm_stale_t;

#define DDBM_BATCH_GET_MAX  100


static const char *
ddbm_item_s(json_t *item, const char *name)
{
    return json_string_value(json_object_get(json_object_get(item, name),
                                             "S"));
}


static void
ddbm_stale_check(json_t *item, const ddbm_user_t *users,
    char (*pks)[DM_KEY_MAX], size_t m, ddbm_stale_t *stale, size_t *nstale)
{
    size_t         j;
    const char    *pk, *handle, *owner;
    ddbm_stale_t  *st;

    pk = ddbm_item_s(item, "pk");
    handle = ddbm_item_s(item, "user_handle");
    owner = ddbm_item_s(item, "user_uuid");

    if (pk == NULL || handle == NULL || owner == NULL
        || !dm_uuid_valid(owner, strlen(owner)))
    {
        return;
    }

    for (j = 0; j < m; j++) {
        if (strcmp(pks[j], pk) == 0) {
            break;
        }
    }

    /* handles are case-insensitive: a new case is the same item */
    if (j == m || strcasecmp(handle, users[j].handle) == 0) {
        return;
    }

    st = &stale[*nstale];

    if (dm_key_user_handle(st->pk, sizeof(st->pk), handle, strlen(handle))
        == 0)
    {
        return;
    }

    memcpy(st->owner, owner, DM_UUID_LEN + 1);
    memcpy(st->sub, users[j].sub, DM_UUID_LEN + 1);
    (*nstale)++;
}


static int
ddbm_find_stale(ddbm_client_t *c, const ddbm_user_t *users, size_t n,
    ddbm_stale_t *stale, size_t *nstale)
{
    size_t    start, m, j, k, round;
    json_t   *req, *keys, *ans, *items, *item, *left;
    char    (*pks)[DM_KEY_MAX];

    *nstale = 0;

    pks = malloc(DDBM_BATCH_GET_MAX * DM_KEY_MAX);
    if (pks == NULL) {
        ddbm_error("out of memory");
        return -1;
    }

    for (start = 0; start < n; start += m) {
        m = n - start < DDBM_BATCH_GET_MAX ? n - start : DDBM_BATCH_GET_MAX;

        keys = json_array();

        for (j = 0; j < m && keys != NULL; j++) {
            if (dm_key_user_sub(pks[j], DM_KEY_MAX, users[start + j].sub,
                                strlen(users[start + j].sub))
                == 0
                || json_array_append_new(keys,
                       json_pack("{s:{s:s}, s:{s:s}}", "pk", "S", pks[j],
                                 "sk", "S", DM_SK_USER))
                   != 0)
            {
                json_decref(keys);
                keys = NULL;
            }
        }

        req = keys ? json_pack("{s:{s:{s:o, s:b, s:s, s:{s:s, s:s, s:s}}}}",
                               "RequestItems", c->opts->table,
                               "Keys", keys, "ConsistentRead", 1,
                               "ProjectionExpression", "#p, #u, #h",
                               "ExpressionAttributeNames",
                               "#p", "pk", "#u", "user_uuid",
                               "#h", "user_handle")
                   : NULL;

        if (req == NULL) {
            ddbm_error("out of memory");
            free(pks);
            return -1;
        }

        for (round = 0; /* void */ ; round++) {
            if (ddbm_ask(c, "BatchGetItem", req, NULL, &ans, NULL) != 0) {
                json_decref(req);
                free(pks);
                return -1;
            }

            items = json_object_get(json_object_get(ans, "Responses"),
                                    c->opts->table);

            json_array_foreach(items, k, item) {
                ddbm_stale_check(item, users + start, pks, m, stale, nstale);
            }

            left = json_object_get(ans, "UnprocessedKeys");

            if (json_object_size(left) == 0) {
                json_decref(ans);
                break;
            }

            if (round + 1 == 10) {
                json_decref(ans);
                json_decref(req);
                free(pks);
                ddbm_error("BatchGetItem: keys still unprocessed after 10 "
                           "rounds (throttled?); run the command again");
                return -1;
            }

            json_object_set(req, "RequestItems", left);
            json_decref(ans);
            ddbm_sleep_ms(ddbm_backoff_ms((unsigned) round));
        }

        json_decref(req);
    }

    free(pks);

    return 0;
}


static int
ddbm_delete_stale(ddbm_client_t *c, const ddbm_stale_t *stale, size_t n,
    size_t *removed)
{
    int      rc;
    size_t   i;
    json_t  *req, *ans;

    *removed = 0;

    for (i = 0; i < n; i++) {
        req = json_pack("{s:s, s:{s:{s:s}, s:{s:s}}, s:s,"
                        " s:{s:{s:s}, s:{s:s}}}",
                        "TableName", c->opts->table,
                        "Key", "pk", "S", stale[i].pk,
                        "sk", "S", DM_SK_USER,
                        "ConditionExpression",
                        "user_uuid = :u AND cognito_user_id = :s",
                        "ExpressionAttributeValues",
                        ":u", "S", stale[i].owner,
                        ":s", "S", stale[i].sub);
        if (req == NULL) {
            ddbm_error("out of memory");
            return -1;
        }

        rc = ddbm_ask(c, "DeleteItem", req, NULL, &ans,
                      "ConditionalCheckFailedException");
        json_decref(req);

        if (rc < 0) {
            return -1;
        }

        /* rc 1: the handle belongs to someone else now, so it stays */
        if (rc == 0) {
            json_decref(ans);
            (*removed)++;
        }
    }

    return 0;
}


static int
ddbm_write_users(ddbm_client_t *c, const ddbm_user_t *users, size_t n,
    size_t *removed)
{
    int                 rc;
    size_t              i, nstale;
    ddbm_stale_t       *stale;
    ddbm_item_t        *items;
    ddbm_user_items_t  *ui;

    ui = malloc((n ? n : 1) * sizeof(ddbm_user_items_t));
    items = malloc((n ? n : 1) * 2 * sizeof(ddbm_item_t));

    if (ui == NULL || items == NULL) {
        free(ui);
        free(items);
        ddbm_error("out of memory");
        return -1;
    }

    rc = 0;

    for (i = 0; i < n; i++) {
        if (ddbm_user_items(&users[i], &ui[i]) != 0) {
            ddbm_error("the core refused the keys of user %s", users[i].uuid);
            rc = -1;
            break;
        }

        items[2 * i].attrs = ui[i].by_sub;
        items[2 * i].nattrs = 6;
        items[2 * i + 1].attrs = ui[i].by_handle;
        items[2 * i + 1].nattrs = 6;
    }

    stale = NULL;

    if (rc == 0) {
        stale = malloc((n ? n : 1) * sizeof(ddbm_stale_t));
        if (stale == NULL) {
            ddbm_error("out of memory");
            rc = -1;
        }
    }

    if (rc == 0) {
        rc = ddbm_find_stale(c, users, n, stale, &nstale);
    }

    if (rc == 0) {
        rc = ddbm_batch_write(c, items, 2 * n, NULL, 0);
    }

    if (rc == 0) {
        rc = ddbm_delete_stale(c, stale, nstale, removed);
    }

    free(stale);
    free(ui);
    free(items);

    return rc;
}


int
ddbm_cmd_import_users(ddbm_options_t *opts, ddbm_args_t *args)
{
    int             rc;
    char           *data;
    size_t          len, k, removed;
    const char     *file;
    ddbm_client_t   c;
    ddbm_import_t   im;

    /* "-" is stdin */
    const ddbm_syntax_t  syntax = {
        "import-users", NULL, DDBM_ARGS_DASHDASH | DDBM_ARGS_STDIN, 1, 1,
        "wants one argument, the CSV file"
    };

    if (ddbm_args_parse(opts, args, &syntax, &file) != 0) {
        return DDBM_USAGE;
    }

    if (ddbm_read_file(file, &data, &len) != 0) {
        return DDBM_ERROR;
    }

    memset(&im, 0, sizeof(im));
    im.file = file;

    rc = DDBM_ERROR;

    /* everything is checked before anything is sent */
    if (ddbm_import_parse(&im, data, len) != 0) {
        goto done;
    }

    if (im.bad > 0) {
        ddbm_error("import-users: %zu bad row%s in %s; nothing written",
                   im.bad, im.bad == 1 ? "" : "s", im.file);
        goto done;
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        goto done;
    }

    removed = 0;

    if (im.n > 0 && ddbm_write_users(&c, im.users, im.n, &removed) != 0) {
        rc = DDBM_ERROR;

    } else {
        printf("imported %zu user%s into %s", im.n, im.n == 1 ? "" : "s",
               opts->table);

        if (removed > 0) {
            printf("; removed %zu item%s of handles given up", removed,
                   removed == 1 ? "" : "s");
        }

        printf("\n");
    }

    ddbm_client_close(&c);

done:

    for (k = 0; k < im.n; k++) {
        ddbm_csv_record_free(&im.recs[k]);
    }

    free(im.recs);
    free(im.users);
    free(im.lines);
    free(data);

    return rc;
}


int
ddbm_cmd_put_user(ddbm_options_t *opts, ddbm_args_t *args)
{
    int                 rc;
    char                token[DM_UUID_LEN + 1];
    size_t              nstale, removed;
    const char         *why;
    dm_buf_t            body;
    ddbm_stale_t        stale;
    ddbm_user_t         u;
    ddbm_client_t       c;
    ddbm_user_items_t   it;

    const ddbm_option_t  options[] = {
        { "--uuid", DDBM_OPT_VALUE | DDBM_OPT_REQUIRED, &u.uuid, NULL },
        { "--handle", DDBM_OPT_VALUE | DDBM_OPT_REQUIRED, &u.handle, NULL },
        { "--display-name", DDBM_OPT_VALUE | DDBM_OPT_REQUIRED,
          &u.display_name, NULL },
        { "--sub", DDBM_OPT_VALUE | DDBM_OPT_REQUIRED, &u.sub, NULL },
        ddbm_null_option
    };

    const ddbm_syntax_t  syntax = {
        "put-user", options, 0, 0, 0,
        "wants --uuid U --handle H --display-name D --sub S"
    };

    memset(&u, 0, sizeof(u));

    if (ddbm_args_parse(opts, args, &syntax, NULL) != 0) {
        return DDBM_USAGE;
    }

    why = ddbm_user_check(&u);
    if (why != NULL) {
        ddbm_usage_error("put-user: %s", why);
        return DDBM_USAGE;
    }

    if (ddbm_user_items(&u, &it) != 0 || dm_uuid_v4(token) != 0) {
        ddbm_error("put-user: the core refused the user's keys");
        return DDBM_ERROR;
    }

    dm_buf_init_malloc(&body);

    /*
     * Both items in one transaction, so the module never finds a user by
     * sub but not by handle; the token makes a retried call harmless.
     */
    dm_ddb_tx_begin(&body, token);
    dm_ddb_tx_put(&body, opts->table, it.by_sub, 6, NULL, NULL, 0);
    dm_ddb_tx_put(&body, opts->table, it.by_handle, 6, NULL, NULL, 0);
    dm_ddb_tx_end(&body);

    if (body.failed) {
        ddbm_error("put-user: cannot build the request");
        rc = DDBM_ERROR;
        goto done;
    }

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        goto done;
    }

    rc = DDBM_ERROR;

    if (ddbm_find_stale(&c, &u, 1, &stale, &nstale) != 0) {
        /* reported */

    } else if (ddbm_ask(&c, "TransactWriteItems", NULL, &body, NULL, NULL)
               != 0)
    {
        /* reported */

    } else if (ddbm_delete_stale(&c, &stale, nstale, &removed) == 0) {
        printf("user %s (%s) written to %s%s\n", u.handle, u.uuid,
               opts->table,
               removed ? "; removed the item of the handle given up" : "");
        rc = DDBM_OK;
    }

    ddbm_client_close(&c);

done:

    dm_buf_free_malloc(&body);

    return rc;
}


/*
 * The directory item under pk (a USER#SUB# or a USER#HANDLE# key), read
 * strongly consistent on a client of its own: DDBM_OK and the item (NULL:
 * no such user), to be released, else the exit status with the error
 * printed.  cmd is the command, for a message.
 */
int
ddbm_user_lookup(ddbm_options_t *opts, const char *cmd, const char *pk,
    json_t **item)
{
    int             rc;
    json_t         *ans;
    dm_buf_t        body;
    ddbm_client_t   c;

    *item = NULL;

    rc = ddbm_client_open(&c, opts);
    if (rc != DDBM_OK) {
        return rc;
    }

    dm_buf_init_malloc(&body);
    dm_ddb_get_item(&body, opts->table, pk, DM_SK_USER, 1);

    rc = DDBM_ERROR;

    if (body.failed) {
        ddbm_error("%s: cannot build the request", cmd);

    } else if (ddbm_ask(&c, "GetItem", NULL, &body, &ans, NULL) == 0) {
        *item = json_incref(json_object_get(ans, "Item"));
        json_decref(ans);
        rc = DDBM_OK;
    }

    dm_buf_free_malloc(&body);
    ddbm_client_close(&c);

    return rc;
}


/* the directory item of a handle or of a Cognito sub, as JSON */
int
ddbm_cmd_get_user(ddbm_options_t *opts, ddbm_args_t *args)
{
    int          rc;
    char         pk[DM_KEY_MAX];
    json_t      *item;
    const char  *who;

    const ddbm_syntax_t  syntax = {
        "get-user", ddbm_json_accepted, 0, 1, 1,
        "wants one argument: a handle or a Cognito sub"
    };

    if (ddbm_args_parse(opts, args, &syntax, &who) != 0) {
        return DDBM_USAGE;
    }

    if (dm_key_user_sub(pk, sizeof(pk), who, strlen(who)) == 0
        && dm_key_user_handle(pk, sizeof(pk), who, strlen(who)) == 0)
    {
        ddbm_usage_error("get-user: \"%s\" is neither a handle nor a "
                         "Cognito sub", who);
        return DDBM_USAGE;
    }

    rc = ddbm_user_lookup(opts, "get-user", pk, &item);
    if (rc != DDBM_OK) {
        return rc;
    }

    if (item == NULL) {
        ddbm_error("no directory item %s in %s", pk, opts->table);
        return DDBM_ERROR;
    }

    rc = ddbm_print_json(item) == 0 ? DDBM_OK : DDBM_ERROR;
    json_decref(item);

    return rc;
}
