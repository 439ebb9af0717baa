/*
 * The checks a route's compiler makes on parsed expressions: the shape of
 * a key condition against the key it queries, and the placeholders bound
 * against those used.
 */

#include <string.h>

#include "dm_route.h"


/* the node's operands, at most max; returns how many there are */
static int
dm_rkids(const dm_rexpr_t *e, int n, int *kid, int max)
{
    int  k, count;

    count = 0;

    for (k = e->node[n].kid; k >= 0; k = e->node[k].next) {
        if (count < max) {
            kid[count] = k;
        }
        count++;
    }

    return count;
}


/* the attribute a simple path names, its #alias resolved */
static int
dm_rkey_attr(const dm_rexpr_t *e, const dm_rnode_t *path,
    const dm_rname_t *names, size_t nnames, dm_rstr_t *attr, dm_rerr_t *err)
{
    size_t       i;
    const char  *s;

    s = e->text.data + path->pos;

    if (path->kind != DM_RN_PATH || !path->simple) {
        return dm_rerr(err, path->pos, "key condition: a key "
                       "attribute, one name, is expected at %u",
                       path->pos);
    }

    if (s[0] != '#') {
        attr->data = s;
        attr->len = path->len;
        return 0;
    }

    for (i = 0; i < nnames; i++) {
        if (names[i].alias.len == path->len
            && memcmp(names[i].alias.data, s, path->len) == 0)
        {
            *attr = names[i].attr;
            return 0;
        }
    }

    return dm_rerr(err, path->pos, "key condition: \"%.*s\" is not "
                   "bound", (int) path->len,
                   s);
}


int
dm_rexpr_check_key(const dm_rexpr_t *e, const char *pk, const char *sk,
    const dm_rname_t *names, size_t nnames, dm_rerr_t *err)
{
    int                i, j, nparts, nk, part[2], kid[3], on_pk, seen_pk;
    int                seen_sk;
    dm_rstr_t          attr;
    const dm_rnode_t  *n;

    if (e->kind != DM_REXPR_KEY || e->root < 0) {
        return dm_rerr(err, DM_RERR_NOPOS, "not a parsed key condition");
    }

    if (e->node[e->root].kind == DM_RN_AND) {
        nparts = dm_rkids(e, e->root, part, 2);
        if (nparts > 2) {
            return dm_rerr(err, 0, "key condition: at most the "
                           "partition key AND one sort key condition");
        }

    } else {
        nparts = 1;
        part[0] = e->root;
    }

    seen_pk = 0;
    attr.data = NULL;
    attr.len = 0;
    seen_sk = 0;

    for (i = 0; i < nparts; i++) {
        n = &e->node[part[i]];

        if (n->kind == DM_RN_CMP || n->kind == DM_RN_BETWEEN
            || (n->kind == DM_RN_FUNC && n->op == DM_RFN_BEGINS_WITH))
        {
            nk = dm_rkids(e, part[i], kid, 3);

        } else {
            return dm_rerr(err, n->pos, "key condition: only =, <, "
                           "<=, >, >=, BETWEEN and begins_with, joined by "
                           "one AND, at %u", n->pos);
        }

        for (j = 1; j < nk && j < 3; j++) {
            if (e->node[kid[j]].kind != DM_RN_VALUE) {
                return dm_rerr(err, e->node[kid[j]].pos, "key condition: "
                               "a key is compared with a :value, at %u",
                               e->node[kid[j]].pos);
            }
        }

        if (dm_rkey_attr(e, &e->node[kid[0]], names, nnames, &attr, err)
            != 0)
        {
            return -1;
        }

        on_pk = (attr.len == strlen(pk) && memcmp(attr.data, pk, attr.len)
                 == 0);

        if (on_pk) {
            if (n->kind != DM_RN_CMP || n->op != DM_RCMP_EQ) {
                return dm_rerr(err, n->pos, "key condition: the "
                               "partition key \"%s\" is matched with '=' "
                               "only", pk);
            }
            if (seen_pk++) {
                return dm_rerr(err, n->pos, "key condition: the "
                               "partition key twice");
            }
            continue;
        }

        if (sk == NULL || attr.len != strlen(sk)
            || memcmp(attr.data, sk, attr.len) != 0)
        {
            return dm_rerr(err, n->pos, "key condition: \"%.*s\" is not a "
                           "key attribute (partition key \"%s\", sort key "
                           "\"%s\")", (int) attr.len, attr.data, pk,
                           sk ? sk : "none");
        }

        if (n->kind == DM_RN_CMP && n->op == DM_RCMP_NE) {
            return dm_rerr(err, n->pos, "key condition: '<>' is "
                           "not a key condition");
        }

        if (seen_sk++) {
            return dm_rerr(err, n->pos, "key condition: the sort "
                           "key twice");
        }
    }

    if (!seen_pk) {
        return dm_rerr(err, 0, "key condition: the partition key "
                       "\"%s\" must be matched with '='", pk);
    }

    return 0;
}


static int
dm_rstr_in(const dm_rstr_t *s, const dm_rstr_t *set, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (set[i].len == s->len && memcmp(set[i].data, s->data, s->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* does e use ref (":x" among its values, "#x" among its names)? */
static int
dm_rexpr_uses(const dm_rexpr_t *e, const dm_rstr_t *ref)
{
    size_t            i, n;
    const dm_rref_t  *refs;

    refs = (ref->len && ref->data[0] == ':') ? e->value : e->name;
    n = (ref->len && ref->data[0] == ':') ? e->nvalues : e->nnames;

    for (i = 0; i < n; i++) {
        if (refs[i].name.len == ref->len
            && memcmp(refs[i].name.data, ref->data, ref->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


int
dm_rexpr_check_bindings(const dm_rexpr_t *const *exprs, size_t nexprs,
    const dm_rstr_t *bound_values, size_t nbound_values,
    const dm_rstr_t *bound_names, size_t nbound_names, dm_rerr_t *err)
{
    size_t            i, j;
    const dm_rref_t  *r;
    const dm_rstr_t  *b;

    for (i = 0; i < nexprs; i++) {
        for (j = 0; j < exprs[i]->nvalues; j++) {
            r = &exprs[i]->value[j];
            if (!dm_rstr_in(&r->name, bound_values, nbound_values)) {
                goto unbound;
            }
        }

        for (j = 0; j < exprs[i]->nnames; j++) {
            r = &exprs[i]->name[j];
            if (!dm_rstr_in(&r->name, bound_names, nbound_names)) {
                goto unbound;
            }
        }
    }

    for (j = 0; j < nbound_values + nbound_names; j++) {
        b = (j < nbound_values) ? &bound_values[j]
                                : &bound_names[j - nbound_values];

        for (i = 0; i < nexprs; i++) {
            if (dm_rexpr_uses(exprs[i], b)) {
                break;
            }
        }

        if (i == nexprs) {
            return dm_rerr(err, DM_RERR_NOPOS, "\"%.*s\" is bound but no "
                           "expression uses it", (int) b->len, b->data);
        }
    }

    return 0;

unbound:

    return dm_rerr(err, r->pos, "\"%.*s\" is used but not bound (at %zu in "
                   "\"%.*s\")", (int) r->name.len, r->name.data, r->pos,
                   (int) exprs[i]->text.len, exprs[i]->text.data);
}
