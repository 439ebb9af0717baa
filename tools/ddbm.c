/*
 * ddbm: main, global options and the argument helpers the commands share.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddbm.h"


typedef int (*ddbm_cmd_pt)(ddbm_options_t *opts, ddbm_args_t *args);

typedef struct {
    const char     *name;
    ddbm_cmd_pt     handler;
} ddbm_command_t;


static const ddbm_command_t  ddbm_commands[] = {
    { "schema-load",        ddbm_cmd_schema_load },
    { "create-table",       ddbm_cmd_create_table },
    { "drop",               ddbm_cmd_drop },
    { "list-tables",        ddbm_cmd_list_tables },
    { "describe",           ddbm_cmd_describe },
    { "seed",               ddbm_cmd_seed },
    { "import-users",       ddbm_cmd_import_users },
    { "put-user",           ddbm_cmd_put_user },
    { "get-user",           ddbm_cmd_get_user },
    { "list-conversations", ddbm_cmd_list_conversations },
    { "get-conversation",   ddbm_cmd_get_conversation },
    { "dev-keys",           ddbm_cmd_dev_keys },
    { "mint-token",         ddbm_cmd_mint_token },
    { "plan",               ddbm_cmd_plan },
    { NULL, NULL }
};


static const char  ddbm_usage_text[] =
"usage: ddbm [global options] <command> [args] [prod]\n"
"\n"
"global options (also accepted after the command):\n"
"  --endpoint URL   DynamoDB endpoint; default $DDBM_ENDPOINT or\n"
"                   " DDBM_DEFAULT_ENDPOINT " (DynamoDB Local)\n"
"  --prod           real AWS: https://dynamodb.<region>.amazonaws.com\n"
"                   unless --endpoint is given; a trailing `prod`\n"
"                   argument means the same\n"
"  --region R       default $AWS_REGION, $AWS_DEFAULT_REGION, the\n"
"                   profile's region in ~/.aws/config, else "
                    DDBM_DEFAULT_REGION "\n"
"  --profile P      default $AWS_PROFILE or \"default\"\n"
"  --table NAME     default $DDBM_TABLE or " DDBM_DEFAULT_TABLE "\n"
"  --yes            no confirmation prompts\n"
"  -h, --help       this text\n"
"\n"
"commands:\n"
"  schema-load [--provisioned] [--deletion-protection] [--tag K=V]...\n"
"                   create the table and its index, wait until ACTIVE\n"
"  create-table FILE.json\n"
"                   a table from a CreateTable input (the --cli-input-json\n"
"                   of aws dynamodb create-table), wait until ACTIVE\n"
"  drop [TABLE]     delete the table (asks on prod unless --yes)\n"
"  list-tables [--json]\n"
"  describe         the table's description (DescribeTable), as JSON\n"
"  seed [--time ISO8601]\n"
"                   the demo users and the demo conversation\n"
"  import-users FILE.csv\n"
"                   user directory from a CSV with the columns uuid,\n"
"                   handle, display_name, cognito_user_id\n"
"  put-user --uuid U --handle H --display-name D --sub S\n"
"  get-user <handle | cognito sub>\n"
"                   the user's directory item, as JSON\n"
"  list-conversations <handle | user uuid> [--limit N] [--json]\n"
"  get-conversation <message_group_uuid> [--limit N] [--json]\n"
"  dev-keys --dir DIR [--kid KID] [--force]\n"
"                   a development RS256 key pair: DIR/private.pem (0600),\n"
"                   DIR/public.pem and DIR/jwks.json (for ddbm_jwt_jwks);\n"
"                   the kid defaults to the key's RFC 7638 thumbprint\n"
"  mint-token --dir DIR (--sub SUB | --handle H) [--issuer URL]\n"
"             [--client-id ID] [--ttl SECONDS] [--token-use access|id]\n"
"             [--username U]\n"
"                   prints a Cognito-shaped access token signed with\n"
"                   DIR/private.pem; --handle finds the sub in the user\n"
"                   directory; defaults: --issuer\n"
"                   " DDBM_JWT_DEV_ISSUER "\n"
"                   --client-id " DDBM_JWT_DEV_CLIENT_ID ", --ttl 3600\n"
"                   (for tests: --exp/--iat/--nbf T|+N|-N, --kid K,\n"
"                   --omit CLAIM)\n"
"  plan [--account ID] [--policy-only] [-p PREFIX] [-g DIRECTIVES] CONF\n"
"                   runs `nginx -t` on CONF ($NGINX, else nginx on the\n"
"                   PATH; the prefix defaults to CONF's directory) and\n"
"                   prints what the module compiled: each declared\n"
"                   route's DynamoDB requests and the least-privilege IAM\n"
"                   policy of the configuration (account: ACCOUNT_ID\n"
"                   unless --account); --policy-only: the policy alone\n"
"\n"
"credentials: the AWS SDKs' default chain: the environment\n"
"(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN), web\n"
"identity (STS), the profile (--profile) in the shared files, container\n"
"credentials, instance metadata (IMDSv2); a local endpoint without\n"
"credentials gets dummy ones.  AWS_CA_BUNDLE: CA certificates for https.\n"
"\n"
"exit status: 0 ok, 1 DynamoDB or I/O error, 2 usage error\n";


static void
ddbm_vprint(const char *fmt, va_list ap)
{
    char  msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);

    /* what reaches the terminal never carries control characters */
    ddbm_sanitize(msg);

    fprintf(stderr, "ddbm: %s\n", msg);
}


void
ddbm_error(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    ddbm_vprint(fmt, ap);
    va_end(ap);
}


void
ddbm_usage_error(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    ddbm_vprint(fmt, ap);
    va_end(ap);

    fprintf(stderr, "Try 'ddbm --help'.\n");
}


void
ddbm_sanitize(char *s)
{
    unsigned char  *p;

    for (p = (unsigned char *) s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *p = ' ';
        }
    }
}


/* for the commands whose output is JSON anyway */
const ddbm_option_t  ddbm_json_accepted[] = {
    { "--json", DDBM_OPT_FLAG, NULL, NULL },
    ddbm_null_option
};


/*
 * "--name VALUE" or "--name=VALUE" at argv[*i]: 1 and the value (and *i
 * moved past it), 0 when argv[*i] is something else, -1 (reported) when
 * the value is missing.
 */
static int
ddbm_arg_value(ddbm_args_t *args, int *i, const char *name,
    const char **value)
{
    size_t       n;
    const char  *a;

    a = args->argv[*i];
    n = strlen(name);

    if (strncmp(a, name, n) != 0) {
        return 0;
    }

    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }

    if (a[n] != '\0') {
        return 0;
    }

    if (*i + 1 >= args->argc) {
        ddbm_usage_error("option %s needs a value", name);
        return -1;
    }

    (*i)++;
    *value = args->argv[*i];

    return 1;
}


/*
 * argv[*i] against a table of options: 1 taken (and *i moved past a
 * separate value), 0 none of them (*i moved past the value a taker
 * refused), -1 a usage error, reported.
 */
static int
ddbm_option(const char *command, ddbm_args_t *args, int *i,
    const ddbm_option_t *o)
{
    int          rc;
    const char  *v;

    for ( /* void */ ; o != NULL && o->name != NULL; o++) {

        if (!(o->kind & DDBM_OPT_VALUE)) {
            if (strcmp(args->argv[*i], o->name) != 0) {
                continue;
            }

            if (o->dest != NULL) {
                *(int *) o->dest = 1;
            }

            return 1;
        }

        rc = ddbm_arg_value(args, i, o->name, &v);

        if (rc < 0) {
            return -1;
        }

        if (rc == 0) {
            continue;
        }

        if (o->take != NULL) {
            return o->take(command, o->dest, v);
        }

        *(const char **) o->dest = v;

        return 1;
    }

    return 0;
}


void
ddbm_args_usage(const ddbm_syntax_t *syn)
{
    ddbm_usage_error("%s %s", syn->command, syn->usage);
}


static void
ddbm_args_unknown(const ddbm_syntax_t *syn, const char *a)
{
    const char  *what;

    what = (syn->flags & DDBM_ARGS_NO_WORDS) ? "argument" : "option";

    if (syn->flags & DDBM_ARGS_HINT) {
        ddbm_usage_error("%s: unknown %s %s (%s %s)", syn->command, what, a,
                         syn->command, syn->usage);

    } else {
        ddbm_usage_error("%s: unknown %s %s", syn->command, what, a);
    }
}


/*
 * A command's arguments against its syntax: the options are stored where
 * its table says, the positional arguments in pos (syn->max of them, NULL
 * where not given).  0, or -1 with the usage error reported.
 */
int
ddbm_args_parse(ddbm_options_t *opts, ddbm_args_t *args,
    const ddbm_syntax_t *syn, const char **pos)
{
    int                    i, n, rc, options;
    const char            *a, *last;
    const ddbm_option_t   *o;

    for (n = 0; n < syn->max; n++) {
        pos[n] = NULL;
    }

    n = 0;
    last = NULL;
    options = 1;

    for (i = 0; i < args->argc; i++) {
        a = args->argv[i];

        if (options) {
            if ((syn->flags & DDBM_ARGS_DASHDASH) && strcmp(a, "--") == 0) {
                options = 0;
                continue;
            }

            rc = ddbm_option(syn->command, args, &i, syn->options);
            if (rc < 0) {
                return -1;
            }

            if (rc > 0) {
                continue;
            }

            /* after a value its taker refused, that value is the unknown */
            a = args->argv[i];

            if ((syn->flags & DDBM_ARGS_NO_WORDS)
                || (a[0] == '-'
                    && !((syn->flags & DDBM_ARGS_STDIN) && a[1] == '\0')))
            {
                ddbm_args_unknown(syn, a);
                return -1;
            }
        }

        if (n < syn->max) {
            pos[n] = a;
        }

        n++;
        last = a;
    }

    /*
     * The reference's scripts take "prod" as their last argument.  It counts
     * only beyond a command's required arguments, so that a user whose handle
     * happens to be "prod" can still be listed.
     */
    if (n > syn->min && strcmp(last, "prod") == 0) {
        opts->prod = 1;
        n--;

        if (n < syn->max) {
            pos[n] = NULL;
        }
    }

    if (n < syn->min || n > syn->max) {
        ddbm_args_usage(syn);
        return -1;
    }

    for (o = syn->options; o != NULL && o->name != NULL; o++) {
        if ((o->kind & DDBM_OPT_REQUIRED) && *(const char **) o->dest == NULL)
        {
            ddbm_args_usage(syn);
            return -1;
        }
    }

    return 0;
}


int
ddbm_parse_limit(const char *s, unsigned *limit)
{
    char           *end;
    unsigned long   v;

    if (*s < '0' || *s > '9') {
        return -1;
    }

    v = strtoul(s, &end, 10);

    if (*end != '\0' || v < 1 || v > 100000) {
        return -1;
    }

    *limit = (unsigned) v;

    return 0;
}


static int
ddbm_table_name_valid(const char *s)
{
    size_t  n;

    /* DynamoDB's rule; checked here so a typo is a usage error */
    n = strlen(s);
    if (n < 3 || n > 255) {
        return 0;
    }

    for ( /* void */ ; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'
              || *s == '.'))
        {
            return 0;
        }
    }

    return 1;
}


int
main(int argc, char **argv)
{
    int                    i, rc, n, dashdash;
    char                 **rest;
    const char            *env;
    ddbm_args_t            all, cmd;
    ddbm_options_t         opts;
    const ddbm_command_t  *c;
    const ddbm_option_t    global[] = {
        { "--prod",     DDBM_OPT_FLAG,  &opts.prod,     NULL },
        { "--yes",      DDBM_OPT_FLAG,  &opts.yes,      NULL },
        { "--endpoint", DDBM_OPT_VALUE, &opts.endpoint, NULL },
        { "--region",   DDBM_OPT_VALUE, &opts.region,   NULL },
        { "--profile",  DDBM_OPT_VALUE, &opts.profile,  NULL },
        { "--table",    DDBM_OPT_VALUE, &opts.table,    NULL },
        ddbm_null_option
    };

    memset(&opts, 0, sizeof(opts));

    env = getenv("DDBM_TABLE");
    opts.table = (env != NULL && *env != '\0') ? env : DDBM_DEFAULT_TABLE;

    rest = calloc(argc + 1, sizeof(char *));
    if (rest == NULL) {
        ddbm_error("out of memory");
        return DDBM_ERROR;
    }

    all.argc = argc;
    all.argv = argv;
    n = 0;
    dashdash = 0;

    /* global options may stand anywhere: take them out, keep the rest */
    for (i = 1; i < argc; i++) {

        if (!dashdash) {
            if (strcmp(argv[i], "--") == 0) {
                dashdash = 1;
                rest[n++] = argv[i];
                continue;
            }

            if (strcmp(argv[i], "-h") == 0
                || strcmp(argv[i], "--help") == 0)
            {
                fputs(ddbm_usage_text, stdout);
                free(rest);
                return DDBM_OK;
            }

            rc = ddbm_option(NULL, &all, &i, global);
            if (rc < 0) {
                free(rest);
                return DDBM_USAGE;
            }

            if (rc > 0) {
                continue;
            }
        }

        rest[n++] = argv[i];
    }

    if (n == 0) {
        ddbm_usage_error("no command given");
        free(rest);
        return DDBM_USAGE;
    }

    if (!ddbm_table_name_valid(opts.table)) {
        ddbm_usage_error("invalid table name \"%s\" (3 to 255 of "
                         "[A-Za-z0-9_.-])", opts.table);
        free(rest);
        return DDBM_USAGE;
    }

    for (c = ddbm_commands; c->name != NULL; c++) {
        if (strcmp(c->name, rest[0]) == 0) {
            break;
        }
    }

    if (c->name == NULL) {
        ddbm_usage_error("unknown command \"%s\"", rest[0]);
        free(rest);
        return DDBM_USAGE;
    }

    cmd.argc = n - 1;
    cmd.argv = rest + 1;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ddbm_error("cannot initialise libcurl");
        free(rest);
        return DDBM_ERROR;
    }

    rc = c->handler(&opts, &cmd);

    curl_global_cleanup();
    free(rest);

    fflush(stdout);
    if (ferror(stdout)) {
        ddbm_error("cannot write the output");
        return DDBM_ERROR;
    }

    return rc;
}
