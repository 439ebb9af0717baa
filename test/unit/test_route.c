/*
 * Unit tests: the declared routes' compiler pieces (dm_route.h): value
 * types and binding, key templates, DynamoDB expressions, transactions.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "tap.h"
#include "dm_keys.h"
#include "dm_route.h"

#define U  "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"


static dm_rtype_t  handle_t, limit_t, order_t, message_t, word_t, hashy_t;


/* "a b c" as ddbm_type's arguments (after the name) */
static int
compile(dm_rtype_t *t, const char *name, const char *line, dm_rerr_t *err)
{
    size_t      n;
    dm_rstr_t   args[8], nm;
    const char *p, *sp;

    n = 0;
    p = line;

    while (*p && n < 8) {
        sp = strchr(p, ' ');
        args[n].data = p;
        args[n].len = sp ? (size_t) (sp - p) : strlen(p);
        n++;
        p = sp ? sp + 1 : p + strlen(p);
    }

    nm.data = name;
    nm.len = strlen(name);

    return dm_rtype_compile(t, nm, args, n, err);
}


static const dm_rtype_t *
find_type(void *data, const char *name, size_t len)
{
    size_t              i;
    dm_rtype_t *const  *types = data;

    for (i = 0; types[i]; i++) {
        if (strlen(types[i]->name) == len
            && memcmp(types[i]->name, name, len) == 0)
        {
            return types[i];
        }
    }

    return NULL;
}


static int
refuses(const char *why, int rc, const dm_rerr_t *err, const char *want)
{
    int  c;

    c = (rc != 0 && strstr(err->msg, want) != NULL);
    ok(c, "refused: %s", why);
    if (!c) {
        diag("rc %d, message: %s", rc, rc ? err->msg : "(none)");
    }

    return c;
}


static dm_rbind_e
bind(const dm_rtype_t *t, const char *v, char *buf, size_t size,
    dm_rval_t *out)
{
    return dm_rtype_bind(t, v, v ? strlen(v) : 0, buf, size, out);
}


static void
test_types(void)
{
    char        buf[256];
    dm_rval_t   v;
    dm_rerr_t   err;
    dm_rtype_t  t;

    ok(compile(&handle_t, "handle", "string chars=1..64 "
               "charset=A-Za-z0-9_.- lower", &err) == 0, "handle type");
    ok(compile(&limit_t, "limit", "int range=1..100", &err) == 0,
       "limit type");
    ok(compile(&order_t, "order", "enum values=asc|desc lower", &err) == 0,
       "order type");
    ok(compile(&message_t, "message", "string chars=1..5", &err) == 0,
       "message type");
    ok(compile(&word_t, "word", "string chars=0..10 regex=^[a-z]*$", &err)
       == 0, "word type with a regex, empty allowed");
    ok(compile(&hashy_t, "hashy", "string chars=1..10 charset=a-z#", &err)
       == 0, "a charset with '#'");

    refuses("unknown base", compile(&t, "x", "float", &err), &err,
            "unknown base type");
    refuses("range on a string", compile(&t, "x", "string range=1..2", &err),
            &err, "does not apply");
    refuses("bad range", compile(&t, "x", "int range=5..1", &err), &err,
            "MIN <= MAX");
    refuses("bad regex", compile(&t, "x", "string regex=a(", &err), &err,
            "regex");
    refuses("enum without values", compile(&t, "x", "enum", &err), &err,
            "values=");
    refuses("repeated enum value", compile(&t, "x", "enum values=a|b|a",
            &err), &err, "twice");
    refuses("empty enum value", compile(&t, "x", "enum values=a||b", &err),
            &err, "empty enum value");
    refuses("option twice", compile(&t, "x", "string lower lower", &err),
            &err, "twice");
    refuses("unknown option", compile(&t, "x", "string upper", &err), &err,
            "unknown option");
    refuses("lower with an upper-case enum value",
            compile(&t, "x", "enum values=A|b lower", &err), &err, "lower");
    /* found by fuzz_route_decl: both compiled, and "A" never matched */
    refuses("lower before an upper-case enum value",
            compile(&t, "x", "enum lower values=a|B", &err), &err,
            "upper-case value \"B\"");
    refuses("an enum value that is not UTF-8",
            compile(&t, "x", "enum values=a#\xe2|c", &err), &err,
            "enum value 1 is not valid UTF-8");
    refuses("bad type name", compile(&t, "X-y", "uuid", &err), &err,
            "type name");

    /*
     * regex= that would make regcomp() exhaust memory (found by
     * fuzz_route_decl: nginx -t was killed at 2 GB) is refused first
     */
    refuses("nested repetitions",
            compile(&t, "x", "string regex=((a{1,255}){1,255}){1,255}",
                    &err), &err, "over 1024 atoms");
    refuses("a long bounded repetition",
            compile(&t, "x", "string regex=^.{0,5000}$", &err), &err,
            "use chars=");
    refuses("a repetition of a repetition",
            compile(&t, "x", "string regex=e+++++", &err), &err,
            "repetition of a repetition");
    refuses("a bound on a bound", compile(&t, "x", "string regex=a{2}{3}",
            &err), &err, "repetition of a repetition");
    refuses("a back-reference", compile(&t, "x", "string regex=(a*)*b\\1",
            &err), &err, "back-reference");
    refuses("groups nested too deep",
            compile(&t, "x",
                    "string regex=((((((((((((((((((a))))))))))))))))))",
                    &err), &err, "nested too deep");
    {
        static const char  *fine[] = {
            "string regex=^[a-z0-9_-]{1,64}$",
            "string regex=^(ab|cd){2,4}[[:alpha:]]+$",
            "string regex=^[]{}]+a{,3}b{2,}$",
            "string regex=^[^]x]*\\{3}\\+\\*$",
            "string regex=(a+)+b?",
            "string regex=^.{0,1000}$",
        };
        size_t  i;

        for (i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
            err.msg[0] = '\0';
            ok(compile(&t, "x", fine[i], &err) == 0, "%s: compiles (%s)",
               fine[i], err.msg);
            dm_rtype_free(&t);
        }
    }

    /* '#' in key segments: decided from the type alone */
    ok(!dm_rtype_may_hold_hash(dm_rtype_builtin("uuid", 4)), "uuid: no '#'");
    ok(!dm_rtype_may_hold_hash(dm_rtype_builtin("time", 4)), "time: no '#'");
    ok(!dm_rtype_may_hold_hash(&handle_t), "charset without '#'");
    ok(dm_rtype_may_hold_hash(&hashy_t), "charset with '#'");
    ok(dm_rtype_may_hold_hash(&message_t), "a string without a charset");
    ok(dm_rtype_may_hold_hash(&word_t), "a regex proves nothing");

    /* uuid */
    ok(bind(dm_rtype_builtin("uuid", 4), U, buf, sizeof(buf), &v)
       == DM_RBIND_OK && v.state == DM_RVAL_SET && v.len == 36
       && v.ddb == 'S', "uuid binds");
    ok(bind(dm_rtype_builtin("uuid", 4), NULL, buf, sizeof(buf), &v)
       == DM_RBIND_MISSING && v.state == DM_RVAL_MISSING, "missing uuid");
    ok(bind(dm_rtype_builtin("uuid", 4), "", buf, sizeof(buf), &v)
       == DM_RBIND_EMPTY, "empty uuid: empty, not missing");
    ok(bind(dm_rtype_builtin("uuid", 4), U "#", buf, sizeof(buf), &v)
       == DM_RBIND_INVALID, "uuid with '#' smuggled");

    /* time: normalised */
    ok(bind(dm_rtype_builtin("time", 4), "2026-11-25T19:55:39Z", buf,
            sizeof(buf), &v) == DM_RBIND_OK, "time binds");
    is_str(v.data, "2026-11-25T19:55:39.000000+00:00", "time normalised");
    ok(bind(dm_rtype_builtin("time", 4), "yesterday", buf, sizeof(buf), &v)
       == DM_RBIND_INVALID, "not a time");

    /* int */
    ok(bind(&limit_t, "20", buf, sizeof(buf), &v) == DM_RBIND_OK
       && v.num == 20 && v.ddb == 'N', "int in range");
    ok(bind(&limit_t, "0", buf, sizeof(buf), &v) == DM_RBIND_RANGE,
       "int below range");
    ok(bind(&limit_t, "101", buf, sizeof(buf), &v) == DM_RBIND_RANGE,
       "int above range");
    ok(bind(&limit_t, "99999999999999999999", buf, sizeof(buf), &v)
       == DM_RBIND_RANGE, "int beyond int64: out of range");
    ok(bind(&limit_t, "020", buf, sizeof(buf), &v) == DM_RBIND_INVALID,
       "leading zero");
    ok(bind(&limit_t, "2x", buf, sizeof(buf), &v) == DM_RBIND_INVALID,
       "not a number");
    ok(bind(dm_rtype_builtin("int", 3), "-9223372036854775808", buf,
            sizeof(buf), &v) == DM_RBIND_OK && v.num == INT64_MIN,
       "INT64_MIN");

    /* enum, folded */
    ok(bind(&order_t, "DESC", buf, sizeof(buf), &v) == DM_RBIND_OK, "enum");
    is_str(v.data, "desc", "enum folded");
    ok(bind(&order_t, "up", buf, sizeof(buf), &v) == DM_RBIND_NOT_ALLOWED,
       "enum value not declared");

    /* strings: characters, not bytes; folding; charset; regex */
    ok(bind(&message_t, "h\xc3\xa9llo", buf, sizeof(buf), &v)
       == DM_RBIND_OK, "5 characters in 6 bytes");
    ok(bind(&message_t, "h\xc3\xa9llo!", buf, sizeof(buf), &v)
       == DM_RBIND_TOO_LONG, "6 characters");
    ok(bind(&message_t, "ab\xc3", buf, sizeof(buf), &v) == DM_RBIND_UTF8,
       "a cut UTF-8 sequence");
    ok(bind(&message_t, "\xc0\xaf", buf, sizeof(buf), &v) == DM_RBIND_UTF8,
       "an overlong sequence");
    ok(bind(&message_t, "\xed\xa0\x80", buf, sizeof(buf), &v)
       == DM_RBIND_UTF8, "a surrogate");
    ok(bind(&message_t, "", buf, sizeof(buf), &v) == DM_RBIND_EMPTY,
       "empty, chars=1..");
    ok(bind(&message_t, NULL, buf, sizeof(buf), &v) == DM_RBIND_MISSING,
       "missing string");
    ok(bind(&word_t, "", buf, sizeof(buf), &v) == DM_RBIND_OK
       && v.state == DM_RVAL_EMPTY, "empty allowed by chars=0..: EMPTY, "
       "not MISSING");
    ok(bind(&word_t, "abc", buf, sizeof(buf), &v) == DM_RBIND_OK,
       "regex matches");
    ok(bind(&word_t, "abC", buf, sizeof(buf), &v) == DM_RBIND_NOT_ALLOWED,
       "regex refuses");
    ok(bind(&handle_t, "AndrewBrown", buf, sizeof(buf), &v) == DM_RBIND_OK,
       "handle");
    is_str(v.data, "andrewbrown", "handle folded to lower case");
    ok(bind(&handle_t, "a#b", buf, sizeof(buf), &v) == DM_RBIND_NOT_ALLOWED,
       "'#' outside the charset");
    ok(bind(&handle_t, "a\xc3\xa9", buf, sizeof(buf), &v)
       == DM_RBIND_NOT_ALLOWED, "non-ASCII outside the charset");
    ok(bind(&handle_t, "abcdef", buf, 4, &v) == DM_RBIND_NO_ROOM,
       "too small a buffer");

    ok(dm_rutf8_chars((const unsigned char *) "\xf0\x9f\x98\x80x", 5) == 2,
       "a 4-byte character counts once");
    ok(dm_rutf8_chars((const unsigned char *) "\xf4\x90\x80\x80", 4)
       == (size_t) -1, "past U+10FFFF");
    is_str(dm_rbind_name(DM_RBIND_TOO_LONG), "too_long", "bind code name");
}


static void
test_templates(void)
{
    char                    out[DM_KEY_MAX], ref[DM_KEY_MAX], buf[4][64];
    dm_rval_t               v[4];
    dm_rstr_t               raw[2];
    dm_rerr_t               err;
    dm_rtmpl_t              t;
    dm_rtypes_t             types;
    dm_rtype_t             *list[] = { &handle_t, &message_t, &hashy_t,
                                       &order_t, NULL };
    const dm_rtmpl_part_t  *slot;

    types.find = find_type;
    types.data = list;

    ok(dm_rtmpl_parse(&t, "MSG#{group:uuid}", 16, &types, &err) == 0
       && t.nparts == 2 && t.nslots == 1, "MSG#{group:uuid}");
    slot = dm_rtmpl_slot(&t, 0);
    ok(slot && strcmp(slot->name, "group") == 0
       && slot->type == dm_rtype_builtin("uuid", 4), "slot name and type");

    bind(dm_rtype_builtin("uuid", 4), U, buf[0], sizeof(buf[0]), &v[0]);
    ok(dm_rtmpl_render(&t, v, 1, out, sizeof(out)) == 40, "render");
    dm_key_msg(ref, sizeof(ref), U, 36);
    is_str(out, ref, "the same key as the C builder's");

    ok(dm_rtmpl_render(&t, v, 1, out, 20) == 0, "no room: no key");
    bind(dm_rtype_builtin("uuid", 4), NULL, buf[0], sizeof(buf[0]), &v[0]);
    ok(dm_rtmpl_render(&t, v, 1, out, sizeof(out)) == 0, "missing: no key");

    /* a value that passed another type does not reach the slot */
    bind(&handle_t, "5ae290ed", buf[0], sizeof(buf[0]), &v[0]);
    ok(dm_rtmpl_render(&t, v, 1, out, sizeof(out)) == 0,
       "a value of another type: no key");

    ok(dm_rtmpl_parse(&t, "USER#HANDLE#{h:handle}", 22, &types, &err) == 0,
       "a declared type in a slot");
    bind(&handle_t, "AndrewBrown", buf[0], sizeof(buf[0]), &v[0]);
    ok(dm_rtmpl_render(&t, v, 1, out, sizeof(out)) > 0, "render handle key");
    dm_key_user_handle(ref, sizeof(ref), "AndrewBrown", 11);
    is_str(out, ref, "the same handle key as the C builder's");

    ok(dm_rtmpl_parse(&t, "META", 4, &types, &err) == 0 && t.nslots == 0,
       "a literal template");
    ok(dm_rtmpl_render(&t, v, 0, out, sizeof(out)) == 4, "render literal");

    ok(dm_rtmpl_parse(&t, "IDEM#{u:uuid}#{k:handle}", 24, &types, &err)
       == 0 && t.nslots == 2, "two slots with '#' between");
    bind(dm_rtype_builtin("uuid", 4), U, buf[0], sizeof(buf[0]), &v[0]);
    bind(&handle_t, "K1", buf[1], sizeof(buf[1]), &v[1]);
    ok(dm_rtmpl_render(&t, v, 2, out, sizeof(out)) > 0
       && strcmp(out, "IDEM#" U "#k1") == 0, "render two slots");
    ok(dm_rtmpl_render(&t, v, 1, out, sizeof(out)) == 0,
       "one value short: no key");

    ok(dm_rtmpl_match(&t, "IDEM#" U "#k1", 44, raw, 2) == 0
       && raw[0].len == 36 && memcmp(raw[0].data, U, 36) == 0
       && raw[1].len == 2 && memcmp(raw[1].data, "k1", 2) == 0,
       "a key splits back into its two values");
    ok(dm_rtmpl_match(&t, "IDEM#" U, 41, raw, 2) != 0,
       "a key short of a slot does not match");
    ok(dm_rtmpl_match(&t, "IDEM#" U "#k#1", 45, raw, 2) != 0,
       "a '#' inside a value does not match");
    ok(dm_rtmpl_match(&t, "IDEM##k1", 8, raw, 2) != 0,
       "an empty value does not match");

    ok(dm_rtmpl_parse(&t, "GRP#{owner:uuid}", 16, &types, &err) == 0
       && dm_rtmpl_match(&t, "GRP#" U, 40, raw, 1) == 0 && raw[0].len == 36,
       "the owner out of GRP#<owner>");
    ok(dm_rtmpl_match(&t, "GRPMETA#" U, 44, raw, 1) != 0,
       "GRPMETA# is not GRP#");

    ok(dm_rtmpl_parse(&t, "X#{a:uuid}END", 13, &types, &err) == 0
       && dm_rtmpl_match(&t, "X#abcEND", 8, raw, 1) == 0 && raw[0].len == 3,
       "a literal after the last slot");
    ok(dm_rtmpl_match(&t, "X#ab#cEND", 9, raw, 1) != 0
       && dm_rtmpl_match(&t, "X#END", 5, raw, 1) != 0
       && dm_rtmpl_match(&t, "X#abcEN", 7, raw, 1) != 0,
       "... and keys that are not of it");

    ok(dm_rtmpl_parse(&t, "{at:time}", 9, &types, &err) == 0,
       "a template that is one slot");

    refuses("unknown type", dm_rtmpl_parse(&t, "X#{a:float}", 11, &types,
            &err), &err, "unknown type \"float\"");
    refuses("unclosed brace", dm_rtmpl_parse(&t, "X#{a:uuid", 9, &types,
            &err), &err, "unbalanced braces");
    refuses("a brace inside a slot", dm_rtmpl_parse(&t, "X#{a{b:uuid}", 12,
            &types, &err), &err, "unbalanced braces");
    refuses("a lone '}'", dm_rtmpl_parse(&t, "X#}", 3, &types, &err), &err,
            "unbalanced braces");
    refuses("a type that can hold '#'", dm_rtmpl_parse(&t, "X#{m:message}",
            13, &types, &err), &err, "can hold '#'");
    refuses("a charset with '#'", dm_rtmpl_parse(&t, "X#{m:hashy}", 11,
            &types, &err), &err, "can hold '#'");
    refuses("adjacent slots", dm_rtmpl_parse(&t, "X#{a:uuid}{b:uuid}", 18,
            &types, &err), &err, "without a '#' separator");
    refuses("slots split by '-' only", dm_rtmpl_parse(&t,
            "X#{a:uuid}-{b:uuid}", 19, &types, &err), &err,
            "without a '#' separator");
    refuses("a slot without a type", dm_rtmpl_parse(&t, "X#{a}", 5, &types,
            &err), &err, "{name:type}");
    refuses("one slot name twice", dm_rtmpl_parse(&t, "X#{a:uuid}#{a:uuid}",
            19, &types, &err), &err, "twice");
    refuses("empty", dm_rtmpl_parse(&t, "", 0, &types, &err), &err,
            "empty");
}


static int
parses(dm_rexpr_kind_e kind, const char *s)
{
    dm_rerr_t   err;
    dm_rexpr_t  e;
    int         rc;

    rc = dm_rexpr_parse(&e, kind, s, strlen(s), &err);
    ok(rc == 0, "parses: %s", s);
    if (rc != 0) {
        diag("%s", err.msg);
    }

    return rc == 0;
}


static void
expr_refuses(dm_rexpr_kind_e kind, const char *s, const char *want,
    size_t pos)
{
    int         rc;
    dm_rerr_t   err;
    dm_rexpr_t  e;

    rc = dm_rexpr_parse(&e, kind, s, strlen(s), &err);
    ok(rc != 0 && strstr(err.msg, want) != NULL
       && (pos == DM_RERR_NOPOS || err.pos == pos),
       "refused: %s", s);
    if (!(rc != 0 && strstr(err.msg, want) != NULL
          && (pos == DM_RERR_NOPOS || err.pos == pos)))
    {
        diag("rc %d, pos %zu, message: %s", rc, rc ? err.pos : 0,
             rc ? err.msg : "(none)");
    }
}


static int
key_check(const char *s, const char *sk, const char *want)
{
    int         rc;
    dm_rerr_t   err;
    dm_rexpr_t  e;
    dm_rname_t  names[2] = {
        { { "#k", 2 }, { "pk", 2 } },
        { { "#s", 2 }, { "sk", 2 } }
    };

    rc = dm_rexpr_parse(&e, DM_REXPR_KEY, s, strlen(s), &err);
    if (rc == 0) {
        rc = dm_rexpr_check_key(&e, "pk", sk, names, 2, &err);
    }

    if (want == NULL) {
        ok(rc == 0, "key condition: %s", s);
        if (rc) {
            diag("%s", err.msg);
        }
        return rc;
    }

    ok(rc != 0 && strstr(err.msg, want) != NULL, "key condition refused: "
       "%s", s);
    if (!(rc != 0 && strstr(err.msg, want) != NULL)) {
        diag("rc %d: %s", rc, rc ? err.msg : "(none)");
    }

    return rc;
}


static void
test_expressions(void)
{
    size_t             i, n;
    char               in[512];
    dm_rerr_t          err;
    dm_rexpr_t         e, e2;
    dm_rstr_t          vals[3], names[2];
    const char        *s;
    const char *const *words;
    const dm_rexpr_t  *both[2];

    /* conditions */
    parses(DM_REXPR_CONDITION, "attribute_not_exists(pk)");
    parses(DM_REXPR_CONDITION, "attribute_not_exists(pk) OR "
           "message_group_uuid = :g");
    parses(DM_REXPR_CONDITION, "#rev = :rev AND last_sk = :last");
    parses(DM_REXPR_CONDITION, "NOT (a < :x OR b >= :y) and c <> :z");
    parses(DM_REXPR_CONDITION, "a BETWEEN :lo AND :hi AND b IN (:p, :q)");
    parses(DM_REXPR_CONDITION, "size(#l) > :n AND contains(tags, :t)");
    parses(DM_REXPR_CONDITION, "attribute_type(a.b[2].c, :s)");
    parses(DM_REXPR_CONDITION, "begins_with(#s, :p)");
    parses(DM_REXPR_FILTER, "contains(a, b)");

    expr_refuses(DM_REXPR_CONDITION, "a = :x AND", "expected an attribute "
                 "name at 10, found the end", 10);
    expr_refuses(DM_REXPR_CONDITION, "a = :x)", "expected AND, OR or the end",
                 6);
    expr_refuses(DM_REXPR_CONDITION, "(a = :x", "expected ')'", 7);
    expr_refuses(DM_REXPR_CONDITION, "a = 5", "expected an attribute name",
                 4);
    expr_refuses(DM_REXPR_CONDITION, "a = :x = :y", "do not chain", 7);
    expr_refuses(DM_REXPR_CONDITION, "a == :x", "expected an attribute name",
                 3);
    expr_refuses(DM_REXPR_CONDITION, "a", "expected a comparator", 1);
    expr_refuses(DM_REXPR_CONDITION, "size(a)", "expected a comparator", 7);
    expr_refuses(DM_REXPR_CONDITION, "a BETWEEN :x OR :y", "expected AND",
                 13);
    expr_refuses(DM_REXPR_CONDITION, "a IN :x", "expected '('", 5);
    expr_refuses(DM_REXPR_CONDITION, "exists(a)", "unknown function", 0);
    expr_refuses(DM_REXPR_CONDITION, "Attribute_exists(a)",
                 "unknown function", 0);
    expr_refuses(DM_REXPR_CONDITION, "if_not_exists(a, :v) = :v",
                 "for SET only", 0);
    expr_refuses(DM_REXPR_CONDITION, "attribute_exists(a) = :t",
                 "not compared", 20);
    expr_refuses(DM_REXPR_CONDITION, "attribute_type(a, b)",
                 "attribute_type takes a :value", 18);
    expr_refuses(DM_REXPR_CONDITION, "a = :", "without a name", 4);
    expr_refuses(DM_REXPR_CONDITION, "a = :x; drop", "unexpected character",
                 6);
    expr_refuses(DM_REXPR_CONDITION, "_a = :x", "must be a #name", 0);
    expr_refuses(DM_REXPR_CONDITION, "a.b[x] = :v", "expected a list index",
                 4);
    expr_refuses(DM_REXPR_CONDITION, "", "empty", 0);

    /* reserved words: bare, in any case, anywhere in a path */
    expr_refuses(DM_REXPR_CONDITION, "status = :s", "reserved word: use "
                 "#name", 0);
    expr_refuses(DM_REXPR_CONDITION, "a.Name = :s", "\"Name\" at 2 is a "
                 "DynamoDB reserved word", 2);
    expr_refuses(DM_REXPR_PROJECTION, "uuid, handle", "reserved", 0);
    parses(DM_REXPR_CONDITION, "#status = :s");
    parses(DM_REXPR_PROJECTION, "message_uuid, user_handle, #sk");
    ok(dm_ddb_reserved("TTL", 3) && dm_ddb_reserved("ttl", 3)
       && dm_ddb_reserved("zone", 4) && dm_ddb_reserved("ABORT", 5),
       "reserved words, first and last, any case");
    ok(!dm_ddb_reserved("pk", 2) && !dm_ddb_reserved("message", 7)
       && !dm_ddb_reserved("user_handle", 11) && !dm_ddb_reserved("zones", 5),
       "ordinary names are not reserved");

    n = dm_ddb_reserved_count(&words);
    for (i = 1; i < n; i++) {
        if (strcmp(words[i - 1], words[i]) >= 0) {
            break;
        }
    }
    ok(n == 573 && i == n, "573 reserved words, in order (%zu)", n);

    /* depth and size limits */
    memset(in, '(', 40);
    strcpy(in + 40, "a = :x");
    expr_refuses(DM_REXPR_CONDITION, in, "nested more than", DM_RERR_NOPOS);
    n = 0;
    in[0] = '\0';
    strcat(in, "a IN (:v0");
    for (i = 1; i <= 100; i++) {
        n = strlen(in);
        snprintf(in + n, sizeof(in) - n, ",:v");
    }
    strcat(in, ")");
    expr_refuses(DM_REXPR_CONDITION, in, "more than 100 operands",
                 DM_RERR_NOPOS);

    /* updates */
    parses(DM_REXPR_UPDATE, "SET a = :a, #b = if_not_exists(#b, :zero) + :one "
           "REMOVE c, d[1] ADD n :inc DELETE s :gone");
    parses(DM_REXPR_UPDATE, "set l = list_append(if_not_exists(l, :e), :new)");
    parses(DM_REXPR_UPDATE, "SET a = b - :x");
    expr_refuses(DM_REXPR_UPDATE, "SET a = :a SET b = :b",
                 "only once", 11);
    expr_refuses(DM_REXPR_UPDATE, "SET a = :a, a = :b", "overlap",
                 DM_RERR_NOPOS);
    expr_refuses(DM_REXPR_UPDATE, "SET a.b = :a REMOVE a", "overlap",
                 DM_RERR_NOPOS);
    expr_refuses(DM_REXPR_UPDATE, "SET a = :x + :y + :z", "one '+'",
                 DM_RERR_NOPOS);
    expr_refuses(DM_REXPR_UPDATE, "SET a = size(b)", "only if_not_exists",
                 8);
    expr_refuses(DM_REXPR_UPDATE, "ADD n 1", "take a :value", 6);
    expr_refuses(DM_REXPR_UPDATE, "PUT a = :a", "expected SET", 0);
    expr_refuses(DM_REXPR_UPDATE, "SET a :a", "expected '='", 6);

    /* projections */
    parses(DM_REXPR_PROJECTION, "a, b.c, d[0], #e");
    expr_refuses(DM_REXPR_PROJECTION, "a, a.b", "overlap", DM_RERR_NOPOS);
    expr_refuses(DM_REXPR_PROJECTION, "a b", "expected ','", 2);
    parses(DM_REXPR_PROJECTION, "ab, a");

    /* what an expression uses */
    s = "#r = :rev AND (#r < :x OR attribute_not_exists(#p))";
    ok(dm_rexpr_parse(&e, DM_REXPR_CONDITION, s, strlen(s), &err) == 0
       && e.nvalues == 2 && e.nnames == 2, "placeholders recorded once each");
    ok(e.value[0].name.len == 4 && memcmp(e.value[0].name.data, ":rev", 4)
       == 0 && e.value[0].pos == 5, "a placeholder's name and position");

    ok(dm_rexpr_parse(&e2, DM_REXPR_UPDATE, "SET #q = :q", 11, &err) == 0,
       "an update for the bindings");
    both[0] = &e;
    both[1] = &e2;
    vals[0].data = ":rev"; vals[0].len = 4;
    vals[1].data = ":x"; vals[1].len = 2;
    vals[2].data = ":q"; vals[2].len = 2;
    names[0].data = "#r"; names[0].len = 2;
    names[1].data = "#p"; names[1].len = 2;
    refuses("#q used, not bound", dm_rexpr_check_bindings(both, 2, vals, 3,
            names, 2, &err), &err, "\"#q\" is used but not bound (at 4 in "
            "\"SET #q = :q\")");
    ok(dm_rexpr_check_bindings(both, 1, vals, 2, names, 2, &err) == 0,
       "all bound, all used");
    refuses(":q bound, unused", dm_rexpr_check_bindings(both, 1, vals, 3,
            names, 2, &err), &err, "\":q\" is bound but no expression uses");
    refuses(":x used, not bound", dm_rexpr_check_bindings(both, 1, vals, 1,
            names, 2, &err), &err, "\":x\" is used");

    /* key conditions */
    key_check("pk = :k", "sk", NULL);
    key_check("#k = :k AND #s < :cursor", "sk", NULL);
    key_check("(pk = :k) AND (sk BETWEEN :a AND :b)", "sk", NULL);
    key_check("begins_with(sk, :p) AND #k = :k", "sk", NULL);
    key_check("sk = :s", "sk", "partition key \"pk\" must be matched");
    key_check("pk < :k", "sk", "'=' only");
    key_check("begins_with(pk, :k)", "sk", "'=' only");
    key_check("pk = :k AND sk <> :s", "sk", "'<>'");
    key_check("pk = :k OR sk = :s", "sk", "only =, <");
    key_check("pk = :k AND sk IN (:a, :b)", "sk", "only =, <");
    key_check("pk = :k AND contains(sk, :a)", "sk", "only =, <");
    key_check("NOT pk = :k", "sk", "only =, <");
    key_check("pk = :k AND sk > :a AND sk < :b", "sk", "at most");
    key_check("pk = :k AND extra = :a", "sk", "not a key attribute");
    key_check("pk = :k AND sk = :a", NULL, "sort key \"none\"");
    key_check("pk = :k AND pk = :j", "sk", "partition key twice");
    key_check("pk = sk", "sk", "with a :value");
    key_check("pk.x = :k", "sk", "one name");
    key_check("#z = :k", "sk", "\"#z\" is not bound");
}


static void
test_transactions(void)
{
    size_t            i;
    dm_rerr_t         err;
    dm_rtmpl_t        msg, grp, meta, sk;
    dm_rstr_t         src_a[1], src_b[1], src_c[1];
    dm_rtx_action_t   a[101];

    dm_rtmpl_parse(&msg, "MSG#{g:uuid}", 12, NULL, &err);
    dm_rtmpl_parse(&grp, "GRP#{u:uuid}", 12, NULL, &err);
    dm_rtmpl_parse(&meta, "GRPMETA#{group:uuid}", 20, NULL, &err);
    dm_rtmpl_parse(&sk, "{at:time}", 9, NULL, &err);

    src_a[0].data = "body.message_group_uuid";
    src_a[0].len = strlen(src_a[0].data);
    src_b[0].data = "claim.sub";
    src_b[0].len = 9;
    src_c[0].data = "step.meta.other_uuid";
    src_c[0].len = strlen(src_c[0].data);

    memset(a, 0, sizeof(a));
    for (i = 0; i < 101; i++) {
        a[i].table.data = "t";
        a[i].table.len = 1;
        a[i].pk = &msg;
        a[i].sk = &sk;
        a[i].sources = src_a;
        a[i].nsources = 1;
    }

    a[1].pk = &grp;
    a[1].sources = src_b;
    a[2].pk = &grp;
    a[2].sources = src_c;
    a[3].pk = &meta;

    ok(dm_rtx_check(a, 4, &err) == 0, "four actions on four items");
    refuses("101 actions", dm_rtx_check(a, 101, &err), &err,
            "101 actions in one transaction");
    refuses("no actions", dm_rtx_check(a, 0, &err), &err, "without actions");

    a[2].sources = src_b;
    refuses("the same template with the same values",
            dm_rtx_check(a, 4, &err), &err, "actions 2 and 3");

    /* another slot name, the same key: still one item */
    dm_rtmpl_parse(&meta, "GRP#{other:uuid}", 16, NULL, &err);
    a[2].pk = &meta;
    refuses("a renamed slot, the same values", dm_rtx_check(a, 4, &err),
            &err, "actions 2 and 3");

    a[2].table.data = "u";
    ok(dm_rtx_check(a, 4, &err) == 0, "another table: another item");
}


int
main(void)
{
    test_types();
    test_templates();
    test_expressions();
    test_transactions();

    dm_rtype_free(&handle_t);
    dm_rtype_free(&limit_t);
    dm_rtype_free(&order_t);
    dm_rtype_free(&message_t);
    dm_rtype_free(&word_t);
    dm_rtype_free(&hashy_t);

    return done_testing();
}
