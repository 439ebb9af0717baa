/*
 * ddbm: the command-line tool that creates, seeds, inspects and drops the
 * cruddur-messages table (the reference's bin/ddb scripts in C).
 *
 * Shared declarations of the CLI's files:
 *   ddbm.c              main, global options, argument helpers
 *   ddbm_credentials.c  region and the AWS credential chain (the core's)
 *   ddbm_http.c         libcurl client, SigV4 signing, retries, errors
 *   ddbm_table.c        schema-load, create-table, drop, list-tables,
 *                       describe
 *   ddbm_batch.c        BatchWriteItem with unprocessed-item retries
 *   ddbm_csv.c          an RFC 4180 CSV reader (psql's \copy ... csv)
 *   ddbm_users.c        the user directory: import-users, put-user,
 *                       get-user
 *   ddbm_messages.c     seed, list-conversations, get-conversation
 *   ddbm_jwt.c          dev-keys, mint-token (development access tokens)
 */

#ifndef DDBM_H
#define DDBM_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "dm_buf.h"
#include "dm_keys.h"
#include "dm_sigv4.h"
#include "dm_ddb.h"


#define DDBM_OK               0
#define DDBM_ERROR            1      /* DynamoDB, network, file */
#define DDBM_USAGE            2

#define DDBM_DEFAULT_ENDPOINT "http://127.0.0.1:8000"
#define DDBM_DEFAULT_TABLE    "cruddur-messages"
#define DDBM_DEFAULT_REGION   "us-east-1"
#define DDBM_GSI_NAME         "message-group-sk-index"
#define DDBM_DEMO_GROUP       "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"

/* what `make run` configures the module with (ddbm_jwt_issuer, _client_id) */
#define DDBM_JWT_DEV_ISSUER   \
    "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_DevPool1"
#define DDBM_JWT_DEV_CLIENT_ID "ddbmdevclient"

#define DDBM_DISPLAY_NAME_MAX 256
#define DDBM_BATCH_MAX        25     /* BatchWriteItem's limit */


/* global options, as given (before the client resolves them) */
typedef struct {
    const char     *endpoint;        /* --endpoint, NULL: default */
    const char     *region;          /* --region, NULL: chain */
    const char     *profile;         /* --profile, NULL: chain */
    const char     *table;
    int             prod;            /* --prod or trailing "prod" */
    int             yes;
} ddbm_options_t;


/* what the credential chain found; the strings are owned here */
typedef struct {
    char           *access_key_id;
    char           *secret_access_key;
    char           *session_token;
    char            source[48];      /* for messages: never the secret */
} ddbm_credentials_t;


typedef struct {
    ddbm_options_t        *opts;
    char                   url[512];     /* scheme://authority/ */
    char                   host[256];    /* Host header, as signed */
    char                   region[64];
    int                    prod;         /* real AWS (prompts, no dummy) */
    ddbm_credentials_t     creds;
    dm_sigv4_key_cache_t   key_cache;
    CURL                  *curl;
    char                   curl_error[CURL_ERROR_SIZE];
} ddbm_client_t;


/* a command's arguments once the global options are taken out */
typedef struct {
    int             argc;
    char          **argv;
} ddbm_args_t;


/*
 * A command's syntax, which ddbm_args_parse() checks its arguments
 * against: the options it accepts, how many positional arguments it takes
 * and what it says when they do not fit.
 */
#define DDBM_OPT_FLAG         0x00   /* sets *(int *) dest (NULL: ignored) */
#define DDBM_OPT_VALUE        0x01   /* "--name V" or "--name=V" */
#define DDBM_OPT_REQUIRED     0x02   /* a value that must be given */

/* a value's own check: 1 taken, 0 refused (unknown), -1 said why */
typedef int (*ddbm_take_pt)(const char *command, void *dest,
    const char *value);

typedef struct {
    const char     *name;            /* NULL ends a table */
    unsigned        kind;
    void           *dest;            /* int * or const char ** ... */
    ddbm_take_pt    take;            /* ... unless take stores the value */
} ddbm_option_t;

#define ddbm_null_option      { NULL, 0, NULL, NULL }

#define DDBM_ARGS_DASHDASH    0x01   /* "--" ends the options */
#define DDBM_ARGS_STDIN       0x02   /* a lone "-" is an argument */
#define DDBM_ARGS_NO_WORDS    0x04   /* options only: others are unknown */
#define DDBM_ARGS_HINT        0x08   /* "unknown argument" adds the usage */

typedef struct {
    const char            *command;
    const ddbm_option_t   *options;  /* NULL: none */
    unsigned               flags;
    int                    min;      /* positional arguments */
    int                    max;
    const char            *usage;    /* after the command's name */
} ddbm_syntax_t;


/* ddbm.c */
extern const ddbm_option_t  ddbm_json_accepted[];

int ddbm_args_parse(ddbm_options_t *opts, ddbm_args_t *args,
    const ddbm_syntax_t *syn, const char **pos);
void ddbm_args_usage(const ddbm_syntax_t *syn);
int ddbm_parse_limit(const char *s, unsigned *limit);
void ddbm_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void ddbm_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ddbm_sanitize(char *s);

/* ddbm_credentials.c */
int ddbm_resolve_region(const ddbm_options_t *opts, char *out, size_t size);
int ddbm_resolve_credentials(const ddbm_options_t *opts, const char *region,
    int allow_dummy, ddbm_credentials_t *creds);
void ddbm_credentials_free(ddbm_credentials_t *creds);

/* ddbm_http.c */
int ddbm_client_open(ddbm_client_t *c, ddbm_options_t *opts);
void ddbm_client_close(ddbm_client_t *c);
int ddbm_ask(ddbm_client_t *c, const char *operation, json_t *req,
    const dm_buf_t *body, json_t **answer, const char *expected);
int ddbm_ask_raw(ddbm_client_t *c, const char *operation,
    const dm_buf_t *body, dm_buf_t *answer, const char *expected);
void ddbm_sleep_ms(unsigned ms);
unsigned ddbm_backoff_ms(unsigned attempt);

/* ddbm_table.c */
int ddbm_cmd_schema_load(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_cmd_create_table(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_cmd_drop(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_cmd_list_tables(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_cmd_describe(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_print_json(json_t *j);
int ddbm_print_raw_json(const unsigned char *body, size_t len);

/* ddbm_users.c */
typedef struct {
    const char     *uuid;
    const char     *handle;
    const char     *display_name;
    const char     *sub;
} ddbm_user_t;

/* the two directory items of a user: by Cognito sub and by handle */
typedef struct {
    char            pk_sub[DM_KEY_MAX];
    char            pk_handle[DM_KEY_MAX];
    dm_attr_t       by_sub[6];
    dm_attr_t       by_handle[6];
} ddbm_user_items_t;

const char *ddbm_user_check(const ddbm_user_t *u);
int ddbm_user_items(const ddbm_user_t *u, ddbm_user_items_t *it);
int ddbm_user_lookup(ddbm_options_t *opts, const char *cmd, const char *pk,
    json_t **item);
void ddbm_attr_set(dm_attr_t *a, const char *name, const char *value);
int ddbm_utf8_text_valid(const char *s, size_t len);
int ddbm_cmd_import_users(ddbm_options_t *opts, ddbm_args_t *args);

/* ddbm_plan.c */
int ddbm_cmd_plan(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_cmd_put_user(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_cmd_get_user(ddbm_options_t *opts, ddbm_args_t *args);

/*
 * BatchWriteItem of items described as dm_attr_t arrays (the same
 * descriptions the core's PutItem builder takes); unprocessed items are
 * resent with backoff.  Keys in deletes are (pk, sk) pairs.
 */
typedef struct {
    const dm_attr_t  *attrs;
    size_t            nattrs;
} ddbm_item_t;

typedef struct {
    const char       *pk;
    const char       *sk;
} ddbm_key_t;

int ddbm_batch_write(ddbm_client_t *c, const ddbm_item_t *puts,
    size_t nputs, const ddbm_key_t *deletes, size_t ndeletes);

/* ddbm_csv.c */
typedef struct {
    char          **field;
    size_t         *len;
    size_t          n;
    size_t          line;           /* where the record starts */
    char           *data;           /* the decoded fields, NUL-separated */
} ddbm_csv_record_t;

typedef struct {
    const char     *p;
    const char     *end;
    size_t          line;
    const char     *error;          /* why ddbm_csv_next returned -1 */
} ddbm_csv_t;

void ddbm_csv_init(ddbm_csv_t *csv, const char *data, size_t len);
/* 1: a record, 0: end of input, -1: malformed (csv->error, rec->line) */
int ddbm_csv_next(ddbm_csv_t *csv, ddbm_csv_record_t *rec);
void ddbm_csv_record_free(ddbm_csv_record_t *rec);

/* ddbm_messages.c */
int ddbm_cmd_seed(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_cmd_list_conversations(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_cmd_get_conversation(ddbm_options_t *opts, ddbm_args_t *args);

/* ddbm_jwt.c */
int ddbm_cmd_dev_keys(ddbm_options_t *opts, ddbm_args_t *args);
int ddbm_cmd_mint_token(ddbm_options_t *opts, ddbm_args_t *args);

/* "2026-11-25 07:55 PM" in the local time zone; out gets 32 bytes */
int ddbm_local_time(const char *iso, size_t len, char *out, size_t size);

#endif /* DDBM_H */
