/*
 * Declared routes' DynamoDB expressions: the first byte picks the kind
 * (condition, filter, key condition, update, projection), the rest is the
 * text.  What a parse accepts must be self-consistent: placeholders found
 * where recorded, node links within the tree, all recorded uses bound.
 */

#include <string.h>

#include "fuzz.h"
#include "dm_route.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc, rc2, k, steps;
    char              *s;
    size_t             i, len;
    dm_rerr_t          err;
    dm_rstr_t          vals[DM_REXPR_REFS_MAX], names[DM_REXPR_REFS_MAX];
    dm_rname_t         keys[2];
    dm_rexpr_kind_e    kind;
    const dm_rexpr_t  *list[1];

    static dm_rexpr_t  e, e2;

    if (size == 0) {
        return 0;
    }

    kind = (dm_rexpr_kind_e) (data[0] % 5);
    len = size - 1;

    /* an exact-size copy: a read past len is a heap overflow */
    s = malloc(len ? len : 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data + 1, len);

    rc = dm_rexpr_parse(&e, kind, s, len, &err);

    if (rc != 0) {
        fuzz_assert(rc == -1);
        fuzz_assert(err.msg[0] != '\0');
        fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        fuzz_assert(err.pos == DM_RERR_NOPOS || err.pos <= len);
        free(s);
        return 0;
    }

    fuzz_assert(len > 0 && len <= DM_REXPR_MAX);
    fuzz_assert(e.nnodes <= DM_REXPR_NODES_MAX);

    if (kind <= DM_REXPR_KEY) {
        fuzz_assert(e.root >= 0 && (size_t) e.root < e.nnodes);
    }

    for (i = 0; i < e.nnodes; i++) {
        fuzz_assert(e.node[i].pos + e.node[i].len <= len);
        fuzz_assert(e.node[i].kid < (int) e.nnodes);
        fuzz_assert(e.node[i].next < (int) e.nnodes);

        /* every operand chain ends */
        steps = 0;
        for (k = e.node[i].kid; k >= 0; k = e.node[k].next) {
            fuzz_assert(++steps <= (int) e.nnodes);
        }
    }

    for (i = 0; i < e.nvalues; i++) {
        fuzz_assert(e.value[i].name.len >= 2
                    && e.value[i].name.data[0] == ':');
        fuzz_assert(e.value[i].name.data == s + e.value[i].pos);
        vals[i] = e.value[i].name;
    }

    for (i = 0; i < e.nnames; i++) {
        fuzz_assert(e.name[i].name.len >= 2
                    && e.name[i].name.data[0] == '#');
        fuzz_assert(e.name[i].name.data == s + e.name[i].pos);
        names[i] = e.name[i].name;
    }

    /* what the parse recorded, bound exactly: nothing missing or unused */
    list[0] = &e;
    fuzz_assert(dm_rexpr_check_bindings(list, 1, vals, e.nvalues, names,
                                        e.nnames, &err) == 0);

    if (e.nvalues) {
        rc2 = dm_rexpr_check_bindings(list, 1, vals + 1, e.nvalues - 1,
                                      names, e.nnames, &err);
        fuzz_assert(rc2 == -1);
    }

    if (kind == DM_REXPR_KEY) {
        keys[0].alias.data = "#k";
        keys[0].alias.len = 2;
        keys[0].attr.data = "pk";
        keys[0].attr.len = 2;
        keys[1].alias.data = "#s";
        keys[1].alias.len = 2;
        keys[1].attr.data = "sk";
        keys[1].attr.len = 2;
        rc2 = dm_rexpr_check_key(&e, "pk", "sk", keys, 2, &err);
        fuzz_assert(rc2 == 0 || rc2 == -1);
        if (rc2 == 0) {
            /* pk = :v, or two parts joined by one AND */
            fuzz_assert(e.node[e.root].kind == DM_RN_CMP
                        || e.node[e.root].kind == DM_RN_AND);
        }
    }

    /* the same text, the same parse */
    fuzz_assert(dm_rexpr_parse(&e2, kind, s, len, &err) == 0);
    fuzz_assert(e2.nnodes == e.nnodes && e2.nvalues == e.nvalues
                && e2.nnames == e.nnames && e2.root == e.root);

    free(s);

    return 0;
}
