/*
 * Key templates ("MSG#{group:uuid}") and the transaction rules of
 * declared routes.
 */

#include <string.h>

#include "dm_route.h"


static size_t dm_rtmpl_ident(const char *s, size_t len, size_t i);
static int dm_rtmpl_same(const dm_rtmpl_t *a, const dm_rtmpl_t *b);


/* [a-z_][a-z0-9_]* from s[i]: the index past it */
static size_t
dm_rtmpl_ident(const char *s, size_t len, size_t i)
{
    size_t  start;

    start = i;

    while (i < len
           && (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z')
               || (i > start && s[i] >= '0' && s[i] <= '9')))
    {
        i++;
    }

    return i;
}


int
dm_rtmpl_parse(dm_rtmpl_t *t, const char *text, size_t len,
    const dm_rtypes_t *types, dm_rerr_t *err)
{
    size_t              i, start, name_end, type_end;
    const dm_rtype_t   *type;
    dm_rtmpl_part_t    *p, *prev;

    memset(t, 0, sizeof(dm_rtmpl_t));
    t->text.data = text;
    t->text.len = len;

    if (len == 0) {
        return dm_rerr(err, 0, "empty key template");
    }

    i = 0;

    while (i < len) {

        if (t->nparts == DM_RTMPL_PARTS_MAX) {
            return dm_rerr(err, i, "key template \"%.*s\": more than %d "
                           "parts", (int) len, text, DM_RTMPL_PARTS_MAX);
        }

        p = &t->part[t->nparts];
        p->pos = i;

        if (text[i] == '}') {
            return dm_rerr(err, i, "key template \"%.*s\": unbalanced "
                           "braces: '}' without '{' at %zu", (int) len, text,
                           i);
        }

        if (text[i] != '{') {
            start = i;
            while (i < len && text[i] != '{' && text[i] != '}') {
                if ((unsigned char) text[i] < 0x20) {
                    return dm_rerr(err, i, "key template: a control "
                                   "character at %zu", i);
                }
                i++;
            }
            p->lit.data = text + start;
            p->lit.len = i - start;
            t->nparts++;
            continue;
        }

        /* {name:type} */
        start = ++i;
        name_end = dm_rtmpl_ident(text, len, start);
        type_end = (name_end < len && text[name_end] == ':')
                   ? dm_rtmpl_ident(text, len, name_end + 1) : name_end;

        if (type_end >= len || memchr(text + start, '}', len - start) == NULL
            || memchr(text + start, '{', type_end - start + 1) != NULL)
        {
            return dm_rerr(err, start - 1, "key template \"%.*s\": "
                           "unbalanced braces: '{' at %zu is not closed",
                           (int) len, text, start - 1);
        }

        if (name_end == start || name_end - start >= DM_ROUTE_NAME_MAX
            || text[name_end] != ':' || type_end == name_end + 1
            || text[type_end] != '}')
        {
            return dm_rerr(err, start, "key template \"%.*s\": a slot is "
                           "{name:type} with names [a-z_][a-z0-9_]*, at %zu",
                           (int) len, text, start);
        }

        type = NULL;
        if (types) {
            type = types->find(types->data, text + name_end + 1,
                               type_end - name_end - 1);
        }
        if (type == NULL) {
            type = dm_rtype_builtin(text + name_end + 1,
                                    type_end - name_end - 1);
        }

        if (type == NULL) {
            return dm_rerr(err, name_end + 1, "key template \"%.*s\": "
                           "unknown type \"%.*s\"", (int) len, text,
                           (int) (type_end - name_end - 1),
                           text + name_end + 1);
        }

        if (dm_rtype_may_hold_hash(type)) {
            return dm_rerr(err, name_end + 1, "key template \"%.*s\": type "
                           "\"%s\" can hold '#', the key separator (give it "
                           "a charset= without '#')", (int) len, text,
                           type->name);
        }

        /* a key must split back into its values: '#' between slots */
        prev = t->nparts ? &t->part[t->nparts - 1] : NULL;

        if (prev
            && (prev->slot
                || (t->nparts >= 2 && t->part[t->nparts - 2].slot
                    && memchr(prev->lit.data, '#', prev->lit.len) == NULL)))
        {
            return dm_rerr(err, start - 1, "key template \"%.*s\": two "
                           "slots without a '#' separator between them",
                           (int) len, text);
        }

        p->slot = 1;
        p->type = type;
        memcpy(p->name, text + start, name_end - start);
        p->name[name_end - start] = '\0';

        for (i = 0; i < t->nparts; i++) {
            if (t->part[i].slot && strcmp(t->part[i].name, p->name) == 0) {
                return dm_rerr(err, start, "key template \"%.*s\": slot "
                               "\"%s\" twice", (int) len, text, p->name);
            }
        }

        t->nparts++;
        t->nslots++;
        i = type_end + 1;
    }

    return 0;
}


const dm_rtmpl_part_t *
dm_rtmpl_slot(const dm_rtmpl_t *t, size_t n)
{
    size_t  i;

    for (i = 0; i < t->nparts; i++) {
        if (t->part[i].slot && n-- == 0) {
            return &t->part[i];
        }
    }

    return NULL;
}


size_t
dm_rtmpl_render(const dm_rtmpl_t *t, const dm_rval_t *vals, size_t nvals,
    char *out, size_t size)
{
    size_t                  i, k, n, len;
    const char             *data;
    const dm_rtmpl_part_t  *p;

    if (nvals != t->nslots || size == 0) {
        return 0;
    }

    n = 0;
    k = 0;

    for (i = 0; i < t->nparts; i++) {
        p = &t->part[i];

        if (p->slot) {
            /* only a value that passed this very type reaches the key */
            if (vals[k].type != p->type || vals[k].state != DM_RVAL_SET
                || vals[k].len == 0 || memchr(vals[k].data, '#', vals[k].len))
            {
                return 0;
            }
            data = vals[k].data;
            len = vals[k].len;
            k++;

        } else {
            data = p->lit.data;
            len = p->lit.len;
        }

        if (size - n <= len) {
            return 0;
        }

        memcpy(out + n, data, len);
        n += len;
    }

    out[n] = '\0';

    return n;
}


int
dm_rtmpl_match(const dm_rtmpl_t *t, const char *key, size_t len,
    dm_rstr_t *vals, size_t nvals)
{
    size_t             i, k, pos, end;
    const char        *hash, *lhash;
    const dm_rstr_t   *next;

    if (nvals != t->nslots) {
        return -1;
    }

    pos = 0;
    k = 0;

    for (i = 0; i < t->nparts; i++) {

        if (!t->part[i].slot) {
            if (len - pos < t->part[i].lit.len
                || memcmp(key + pos, t->part[i].lit.data, t->part[i].lit.len)
                   != 0)
            {
                return -1;
            }
            pos += t->part[i].lit.len;
            continue;
        }

        /*
         * A value holds no '#': it ends where the next literal's first '#'
         * meets the key's next '#', or the next literal is the key's end.
         */
        next = (i + 1 < t->nparts) ? &t->part[i + 1].lit : NULL;
        hash = memchr(key + pos, '#', len - pos);
        lhash = next ? memchr(next->data, '#', next->len) : NULL;

        if (lhash) {
            if (hash == NULL
                || (size_t) (hash - key) - pos < (size_t) (lhash - next->data))
            {
                return -1;
            }
            end = (size_t) (hash - key) - (size_t) (lhash - next->data);

        } else {
            end = len - (next ? next->len : 0);
            if (end < pos || (hash && (size_t) (hash - key) < end)) {
                return -1;
            }
        }

        if (end == pos) {
            return -1;
        }

        vals[k].data = key + pos;
        vals[k].len = end - pos;
        k++;
        pos = end;
    }

    return pos == len ? 0 : -1;
}


/* the same literals and the same slot types: the same key for the same
 * values, whatever the slots are called */
static int
dm_rtmpl_same(const dm_rtmpl_t *a, const dm_rtmpl_t *b)
{
    size_t  i;

    if (a == NULL || b == NULL) {
        return a == b;
    }

    if (a->nparts != b->nparts) {
        return 0;
    }

    for (i = 0; i < a->nparts; i++) {
        if (a->part[i].slot != b->part[i].slot) {
            return 0;
        }

        if (a->part[i].slot) {
            if (a->part[i].type != b->part[i].type) {
                return 0;
            }

        } else if (a->part[i].lit.len != b->part[i].lit.len
                   || memcmp(a->part[i].lit.data, b->part[i].lit.data,
                             a->part[i].lit.len) != 0)
        {
            return 0;
        }
    }

    return 1;
}


int
dm_rtx_check(const dm_rtx_action_t *a, size_t n, dm_rerr_t *err)
{
    size_t  i, j, k;

    if (n == 0) {
        return dm_rerr(err, DM_RERR_NOPOS, "a transaction without actions");
    }

    if (n > DM_RTX_ACTIONS_MAX) {
        return dm_rerr(err, DM_RERR_NOPOS, "%zu actions in one transaction: "
                       "DynamoDB takes at most %d", n, DM_RTX_ACTIONS_MAX);
    }

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {

            if (a[i].table.len != a[j].table.len
                || memcmp(a[i].table.data, a[j].table.data, a[i].table.len)
                   != 0
                || !dm_rtmpl_same(a[i].pk, a[j].pk)
                || !dm_rtmpl_same(a[i].sk, a[j].sk)
                || a[i].nsources != a[j].nsources)
            {
                continue;
            }

            for (k = 0; k < a[i].nsources; k++) {
                if (a[i].sources[k].len != a[j].sources[k].len
                    || memcmp(a[i].sources[k].data, a[j].sources[k].data,
                              a[i].sources[k].len) != 0)
                {
                    break;
                }
            }

            if (k == a[i].nsources) {
                return dm_rerr(err, DM_RERR_NOPOS, "actions %zu and %zu of "
                               "the transaction are on one item (the same "
                               "key templates with the same values): "
                               "DynamoDB refuses that", i + 1, j + 1);
            }
        }
    }

    return 0;
}
