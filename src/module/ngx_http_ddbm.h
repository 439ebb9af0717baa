/*
 * ngx_http_ddbm_module: the direct-messaging API answered from DynamoDB.
 *
 * Layout:
 *   ngx_http_ddbm_module.c     directives and their configuration
 *   ngx_http_ddbm_request.c    the request loop: handler, body, start,
 *                              wake, resume, and each DynamoDB call's
 *                              life (signed subrequest, answer, retry)
 *   ngx_http_ddbm_answers.c    answers to the client: JSON, errors, CORS
 *   ngx_http_ddbm_dynamodb.c   pool memory for the core, the oversized
 *                              answer filter, the $ddbm_* variables
 *   ngx_http_ddbm_cache.c      the shared memory cache (ddbm_cache)
 *   ngx_http_ddbm_credentials.c  ddbm_credentials auto: keys from the AWS
 *                              chain, in shared memory, refreshed by one
 *                              worker at a time in a thread pool
 *   ngx_http_ddbm_users.c      the user directory (caller, receiver)
 *   ngx_http_ddbm_groups.c     conversations: members, rows, revision
 *   ngx_http_ddbm_write.c      the message transaction shared by the posts
 *   ngx_http_ddbm_pattern_*.c  one access pattern per file
 *
 * The request lifetime rule, followed by every function that can answer
 * the client or issue a DynamoDB call:
 *
 *   NGX_DONE      the client has been answered: the request is finalized
 *                 and may already be freed.  Return NGX_DONE at once and
 *                 touch nothing: not r, not ctx, not a call.
 *   NGX_AGAIN     DynamoDB calls are under way: the driver waits for all
 *                 of them, then runs the pattern's resume step.
 *   NGX_OK        done, go on.
 *   NGX_DECLINED  absent (no such header, argument or item): go on.
 *   NGX_ERROR     failed without answering: the driver answers 500.
 *
 * Only the answers (ngx_http_ddbm_answers.c) finalize the request, and
 * each of them returns NGX_DONE.
 */


#ifndef NGX_HTTP_DDBM_H
#define NGX_HTTP_DDBM_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "dm_buf.h"
#include "dm_keys.h"
#include "dm_sigv4.h"
#include "dm_ddb.h"
#include "dm_api.h"


#define NGX_HTTP_DDBM_MAX_CALLS      8         /* at once, per round */
/* DynamoDB requests one client request may make, retries included */
#define NGX_HTTP_DDBM_MAX_ATTEMPTS   100
/* the AWS SDKs' standard mode: a bucket of 500, 5 a retry, 1 back a win */
#define NGX_HTTP_DDBM_RETRY_QUOTA    500
#define NGX_HTTP_DDBM_RETRY_COST     5
#define NGX_HTTP_DDBM_WRITE_RETRIES_MAX  32
/* rounds in a row the cache may answer without a call: a loop guard */
#define NGX_HTTP_DDBM_MAX_ROUNDS     8
#define NGX_HTTP_DDBM_MESSAGE_MAX    1024      /* characters */
#define NGX_HTTP_DDBM_IDEM_KEY_MAX   255
#define NGX_HTTP_DDBM_IDEM_TTL       86400
#define NGX_HTTP_DDBM_UNPROCESSABLE  422


typedef struct ngx_http_ddbm_ctx_s      ngx_http_ddbm_ctx_t;
typedef struct ngx_http_ddbm_call_s     ngx_http_ddbm_call_t;
typedef struct ngx_http_ddbm_pattern_s  ngx_http_ddbm_pattern_t;


typedef struct ngx_http_ddbm_auto_s     ngx_http_ddbm_auto_t;


/* AWS credentials and the per-worker signing key cache */
typedef struct {
    dm_aws_credentials_t        creds;         /* fixed keys */
    ngx_http_ddbm_auto_t       *autoc;         /* or the chain's, shared */
    dm_sigv4_key_cache_t        cache;
    ngx_str_t                   source;        /* for the log: "env" ... */
} ngx_http_ddbm_credentials_t;


typedef struct {
    ngx_http_ddbm_auto_t       *autoc;         /* ddbm_credentials auto */
    ngx_array_t                *cache_zones;   /* ngx_shm_zone_t *, for
                                                  ddbm_status */
    /* declared routes (ngx_http_ddbm_route.h) */
    ngx_array_t                *types;         /* dm_rtype_t * (ddbm_type) */
    ngx_array_t                *schemas;       /* ngx_http_ddbm_schema_t * */
    ngx_array_t                *routes;        /* ngx_http_ddbm_route_t * */
} ngx_http_ddbm_main_conf_t;


typedef struct {
    ngx_shm_zone_t             *zone;
    time_t                      user_ttl;
    time_t                      negative_ttl;
    time_t                      group_ttl;
} ngx_http_ddbm_cache_conf_t;


typedef struct ngx_http_ddbm_status_slot_s  ngx_http_ddbm_status_slot_t;


typedef struct {
    ngx_str_t                   table;
    ngx_str_t                   region;
    ngx_str_t                   host;          /* signed and sent */
    ngx_array_t                *allowed_regions; /* ngx_str_t; NULL: any */
    ngx_str_t                   backend;       /* internal location */
    ngx_http_ddbm_credentials_t *credentials;

    ngx_http_ddbm_pattern_t    *pattern;
    ngx_http_complex_value_t   *identity;      /* the caller's sub */

    size_t                      body_max;
    ngx_uint_t                  retries;       /* throttling, 5xx */
    ngx_msec_t                  retry_base;
    ngx_msec_t                  retry_cap;     /* the longest pause */
    ngx_msec_t                  request_timeout; /* no retry past it */
    ngx_uint_t                  write_retries; /* transaction conflicts */

    ngx_array_t                *cors_origins;  /* ngx_str_t; "*" for any */
    ngx_http_ddbm_cache_conf_t *cache;         /* NULL: no cache */
    time_t                      health_interval; /* ddbm_health_interval */
    /* this table's shared status, found on first use by each worker */
    ngx_http_ddbm_status_slot_t *status;
} ngx_http_ddbm_loc_conf_t;


/* the caller or another user, as the directory holds them */
typedef struct {
    ngx_str_t                   uuid;
    ngx_str_t                   handle;
    ngx_str_t                   display_name;
    ngx_flag_t                  found;
    ngx_flag_t                  cached;        /* known without a call */
} ngx_http_ddbm_user_t;


typedef enum {
    NGX_HTTP_DDBM_CALL_OK = 0,      /* 200, answer in call->answer */
    NGX_HTTP_DDBM_CALL_CANCELED,    /* TransactionCanceledException */
    NGX_HTTP_DDBM_CALL_FAILED       /* anything else: already mapped */
} ngx_http_ddbm_call_result_e;


struct ngx_http_ddbm_call_s {
    ngx_http_ddbm_ctx_t        *ctx;
    ngx_uint_t                  tag;           /* the pattern's own id */
    const char                 *operation;     /* "Query" */
    ngx_str_t                   body;          /* request JSON */

    /* what the internal location sends, through the $ddbm_* variables */
    char                        amz_date[DM_SIGV4_AMZ_DATE_LEN + 1];
    char                        authorization[DM_SIGV4_AUTHZ_MAX];
    ngx_str_t                   target;
    ngx_str_t                   session_token; /* the one signed with */

    ngx_http_request_t         *sr;
    ngx_msec_t                  start;         /* of the attempt */
    ngx_uint_t                  attempts;
    ngx_int_t                   rc;
    ngx_uint_t                  status;        /* DynamoDB's HTTP status */
    ngx_str_t                   answer;
    ngx_str_t                   cache_key;     /* where its item is kept */

    ngx_http_ddbm_call_result_e result;
    dm_ddb_answer_t             error;         /* when not OK */
    ngx_uint_t                  http_status;   /* to answer on failure */
    const char                 *failure;       /* the answer's error code */

    ngx_event_t                 retry_timer;
    off_t                       received;      /* answer bytes so far */
    ngx_msec_t                  retry_after;   /* x-amz-retry-after, ms */

    unsigned                    in_flight:1;
    unsigned                    done:1;
    unsigned                    classified:1;
    unsigned                    too_large:1;   /* over the buffer: dropped */
    unsigned                    incomplete:1;  /* less than Content-Length */
    unsigned                    timed_out:1;
    /* some attempt may have been applied: no answer, 5xx, unreadable */
    unsigned                    ambiguous:1;
    unsigned                    no_quota:1;    /* retries not from quota */
    unsigned                    background:1;  /* nobody waits for it */
    /* a transaction cancelled only by a busy database is retried */
    unsigned                    retry_busy:1;
};


struct ngx_http_ddbm_ctx_s {
    ngx_http_request_t         *request;
    ngx_http_ddbm_loc_conf_t   *conf;
    ngx_http_ddbm_pattern_t    *pattern;
    ngx_uint_t                  step;          /* the pattern's own state */

    ngx_str_t                   sub;           /* the caller's identity */
    ngx_http_ddbm_user_t        caller;

    dm_api_post_t               post;          /* the body, checked */
    ngx_str_t                   raw_body;
    off_t                       body_received; /* by the body filter */
    ngx_str_t                   idempotency_key;

    ngx_http_ddbm_call_t       *calls[NGX_HTTP_DDBM_MAX_CALLS];
    ngx_uint_t                  ncalls;
    ngx_uint_t                  pending;

    void                       *data;          /* the pattern's own state */
    ngx_uint_t                  attempts;      /* DynamoDB requests made */
    ngx_uint_t                  cache_hits;
    ngx_uint_t                  cache_misses;
    ngx_uint_t                  retries;
    ngx_msec_t                  deadline;      /* ddbm_request_timeout */
    ngx_msec_t                  wait_start;    /* calls under way since */
    ngx_msec_t                  ddb_time;      /* spent waiting on them */
    const char                 *error;         /* the code answered */
    ngx_str_t                   request_ids;   /* DynamoDB's, comma joined */

    unsigned                    waiting:1;     /* for calls, to resume */
    unsigned                    answered:1;    /* finalize is under way */
    unsigned                    cleanup_added:1;
    unsigned                    body_too_large:1;
    unsigned                    generation_known:1;
    ngx_uint_t                  generation;    /* of the table, for cache */
};


struct ngx_http_ddbm_pattern_s {
    ngx_str_t                   name;
    ngx_uint_t                  methods;       /* NGX_HTTP_GET ... */
    unsigned                    reads_body:1;
    unsigned                    needs_identity:1;
    /* validate and issue the first calls (NGX_AGAIN), or answer */
    ngx_int_t                 (*start)(ngx_http_ddbm_ctx_t *ctx);
    /* every call issued so far has its answer: more calls, or answer */
    ngx_int_t                 (*resume)(ngx_http_ddbm_ctx_t *ctx);
    /* a declared route's plan (ngx_http_ddbm_route_t), NULL for C */
    void                       *route;
};


extern ngx_module_t             ngx_http_ddbm_module;
/* every pattern, NULL-terminated */
extern ngx_http_ddbm_pattern_t *ngx_http_ddbm_patterns[];

extern ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_health;
extern ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_post_message;
extern ngx_http_ddbm_pattern_t  ngx_http_ddbm_pattern_start_conversation;


/*
 * A location with declared routes for several methods: the one for the
 * request's method, or the first one with *allow listing every method
 * the location takes (for 405)
 */
ngx_http_ddbm_pattern_t *ngx_http_ddbm_route_for(ngx_http_request_t *r,
    ngx_http_ddbm_pattern_t *pattern, ngx_str_t *allow);


/* ---- ngx_http_ddbm_request.c ------------------------------------------- */

ngx_int_t ngx_http_ddbm_handler(ngx_http_request_t *r);
/* refuses a chunked body at ddbm_body_max */
ngx_int_t ngx_http_ddbm_request_body_filter_init(ngx_conf_t *cf);

/* the call with this tag in this round, NULL if none */
ngx_http_ddbm_call_t *ngx_http_ddbm_find_call(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag);
/* a new call with its body already built in b; NULL on error */
ngx_http_ddbm_call_t *ngx_http_ddbm_call(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, const char *operation, dm_buf_t *b);
/* the same, issued after a delay (a pause before a new round) */
ngx_http_ddbm_call_t *ngx_http_ddbm_call_after(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, const char *operation, dm_buf_t *b, ngx_msec_t delay);
/* a call nobody waits for, never retried; NULL if not sent */
ngx_http_ddbm_call_t *ngx_http_ddbm_call_background(ngx_http_ddbm_ctx_t *ctx,
    const char *operation, dm_buf_t *b);
/* forget every answered call before the next round */
void ngx_http_ddbm_reset_calls(ngx_http_ddbm_ctx_t *ctx);
/* no retry timer may issue a call once the request is answered */
void ngx_http_ddbm_stop_timers(ngx_http_ddbm_ctx_t *ctx);
/*
 * The answer of the call with this tag, which succeeded: NGX_OK with
 * *callp set.  A failed call is answered (NGX_DONE); no call: NGX_ERROR.
 */
ngx_int_t ngx_http_ddbm_call_answer(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, ngx_http_ddbm_call_t **callp);
/* the same, read by the streaming reader (h may be NULL) */
ngx_int_t ngx_http_ddbm_read_answer(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, dm_item_handler_t *h, dm_ddb_answer_t *answer);
/*
 * A cancelled transaction that no condition refused, cancelled because
 * DynamoDB throttled an action or because another transaction held an
 * item: "ThrottlingException" or "TransactionConflictException", the
 * error it is answered as; else NULL (the request is in conflict)
 */
const char *ngx_http_ddbm_tx_busy(dm_ddb_answer_t *error);
/*
 * whether the call may be made again after delay: within the request's
 * deadline, and a token of the shared retry quota taken; 1, or 0 (said)
 */
ngx_uint_t ngx_http_ddbm_retry_allowed(ngx_http_ddbm_call_t *call,
    ngx_msec_t delay);
/* full jitter, capped: the pause before retry number n (1, 2, ...) */
ngx_msec_t ngx_http_ddbm_backoff(ngx_msec_t base, ngx_msec_t cap,
    ngx_uint_t n);
/* the call one of our subrequests carries; NULL for any other request */
ngx_http_ddbm_call_t *ngx_http_ddbm_subrequest_call(ngx_http_request_t *r);


/* ---- ngx_http_ddbm_dynamodb.c ------------------------------------------ */

/* a dm_buf_t whose memory comes from the request pool */
void ngx_http_ddbm_buf_init(dm_buf_t *b, ngx_pool_t *pool);
/* yajl's memory from the request pool */
void ngx_http_ddbm_allocator(dm_allocator_t *a, ngx_pool_t *pool);

ngx_int_t ngx_http_ddbm_variables_add(ngx_conf_t *cf);
/* registers a table of variables ending with ngx_http_null_variable */
ngx_int_t ngx_http_ddbm_add_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);
/* the body filter that keeps an oversized answer from failing the client */
ngx_int_t ngx_http_ddbm_answer_filter_init(ngx_conf_t *cf);


/* ---- ngx_http_ddbm_answers.c ------------------------------------------- */

/* each answer finalizes the request and returns NGX_DONE */
ngx_int_t ngx_http_ddbm_respond(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t status, const u_char *body, size_t len);
/* a JSON answer with the location's CORS headers */
ngx_int_t ngx_http_ddbm_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const u_char *body, size_t len);
ngx_int_t ngx_http_ddbm_respond_error(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t status, const char *code, const char *message);
/* 422 with a JSON array of codes */
ngx_int_t ngx_http_ddbm_respond_codes(ngx_http_ddbm_ctx_t *ctx,
    const char **codes, ngx_uint_t n);
/* 503 with Retry-After */
ngx_int_t ngx_http_ddbm_respond_unavailable(ngx_http_ddbm_ctx_t *ctx,
    const char *code, const char *message);
/* the answer for a call that did not succeed */
ngx_int_t ngx_http_ddbm_respond_call_failure(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_call_t *call);
/* 502 dynamodb_answer_unreadable, logged with the reason */
ngx_int_t ngx_http_ddbm_respond_unreadable(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_call_t *call, const char *why);

/* OPTIONS: the CORS preflight's answer (a phase handler's return code) */
ngx_int_t ngx_http_ddbm_preflight(ngx_http_request_t *r,
    ngx_http_ddbm_loc_conf_t *dlcf);
/* a real CORS preflight: OPTIONS with Origin and the method it asks for */
ngx_uint_t ngx_http_ddbm_is_preflight(ngx_http_request_t *r);
/* CORS headers for a configured Origin (ddbm_cors_origin) */
ngx_int_t ngx_http_ddbm_cors(ngx_http_request_t *r,
    ngx_http_ddbm_loc_conf_t *dlcf, ngx_uint_t preflight);
/* the header filter that adds Vary: Origin where CORS is configured */
ngx_int_t ngx_http_ddbm_vary_filter_init(ngx_conf_t *cf);

/* a query argument, unescaped; NGX_DECLINED when absent */
ngx_int_t ngx_http_ddbm_query_arg(ngx_http_ddbm_ctx_t *ctx,
    const char *name, size_t len, ngx_str_t *value);
char *ngx_http_ddbm_cstr(ngx_pool_t *pool, ngx_str_t *s);
ngx_table_elt_t *ngx_http_ddbm_find_header(ngx_http_request_t *r,
    const char *name, size_t len);
ngx_int_t ngx_http_ddbm_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);


/* ---- ngx_http_ddbm_cache.c -------------------------------------------- */

char *ngx_http_ddbm_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* NGX_OK with *n values (0: known absent), or NGX_DECLINED (not kept) */
ngx_int_t ngx_http_ddbm_cache_get(ngx_http_ddbm_ctx_t *ctx, ngx_str_t *key,
    ngx_str_t *values, ngx_uint_t max, ngx_uint_t *n);
/* ttl in seconds, 0: until evicted; n 0: known absent */
void ngx_http_ddbm_cache_put(ngx_http_ddbm_ctx_t *ctx, ngx_str_t *key,
    ngx_str_t *values, ngx_uint_t n, time_t ttl);
void ngx_http_ddbm_cache_delete(ngx_http_ddbm_ctx_t *ctx, ngx_str_t *key);

/* why entries were freed: the names are ngx_http_ddbm_cache_causes[] */
#define NGX_HTTP_DDBM_CACHE_EXPIRED     0
#define NGX_HTTP_DDBM_CACHE_EVICTED     1
#define NGX_HTTP_DDBM_CACHE_GENERATION  2      /* the table made again */
#define NGX_HTTP_DDBM_CACHE_REPLACED    3
#define NGX_HTTP_DDBM_CACHE_DELETED     4
#define NGX_HTTP_DDBM_CACHE_CAUSES      5

extern const char  *ngx_http_ddbm_cache_causes[NGX_HTTP_DDBM_CACHE_CAUSES];

/* a zone's figures; [0] the positive list, [1] the negative one */
typedef struct {
    ngx_uint_t                  entries[2];
    size_t                      bytes[2];      /* of the entries */
    ngx_uint_t                  freed[2][NGX_HTTP_DDBM_CACHE_CAUSES];
} ngx_http_ddbm_cache_stats_t;

/* NGX_OK with the zone's figures as they are now, or NGX_DECLINED */
ngx_int_t ngx_http_ddbm_cache_stats(ngx_shm_zone_t *zone,
    ngx_http_ddbm_cache_stats_t *st);
/* kind ('S' sub, 'H' handle, 'G' group, 'D' a declared route's read)
 * and id, then the table and the endpoint, in the request pool */
ngx_int_t ngx_http_ddbm_cache_key(ngx_http_ddbm_ctx_t *ctx, u_char kind,
    ngx_str_t *id, ngx_str_t *key);


/* ---- ngx_http_ddbm_pattern_health.c: the shared table status ---------- */

/* the shared zone of the tables' status, made once whoever asks first */
ngx_int_t ngx_http_ddbm_status_zone(ngx_conf_t *cf);
/*
 * A DescribeTable nobody waits for, when the status of this location's
 * table is due and this worker wins the lease to refresh it
 */
void ngx_http_ddbm_status_refresh(ngx_http_ddbm_ctx_t *ctx);
/* a background DescribeTable's answer: into the shared status */
void ngx_http_ddbm_status_done(ngx_http_ddbm_call_t *call);
/*
 * The table's generation: a number that changes whenever DescribeTable
 * shows another table (re-created) under the name; 0 if no status
 */
ngx_uint_t ngx_http_ddbm_status_generation(ngx_http_ddbm_ctx_t *ctx);


/* ---- ngx_http_ddbm_credentials.c -------------------------------------- */

typedef struct {
    ngx_str_t                   source;        /* "imds", "container" ... */
    u_char                      source_buf[32];
    time_t                      expiration;    /* 0: none or never */
    ngx_atomic_uint_t           refresh_ok;
    ngx_atomic_uint_t           refresh_failed;
    ngx_atomic_uint_t           unavailable;   /* calls refused: no keys */
} ngx_http_ddbm_credentials_stats_t;

/* "auto [profile=NAME] [imds_v1=on|off]": args[0] is "auto" */
char *ngx_http_ddbm_credentials_auto(ngx_conf_t *cf,
    ngx_http_ddbm_credentials_t *c, ngx_str_t *args, ngx_uint_t nargs);
ngx_int_t ngx_http_ddbm_credentials_init_process(ngx_cycle_t *cycle);
void ngx_http_ddbm_credentials_exit_process(ngx_cycle_t *cycle);
/* NGX_OK with the keys to sign with now, or NGX_DECLINED: none valid */
ngx_int_t ngx_http_ddbm_credentials_current(ngx_http_ddbm_credentials_t *c,
    ngx_log_t *log, dm_aws_credentials_t *out);
void ngx_http_ddbm_credentials_stats(ngx_http_ddbm_credentials_t *c,
    ngx_http_ddbm_credentials_stats_t *st);


/* ---- ngx_http_ddbm_metrics.c ------------------------------------------ */

/* the shared zone of the counters, made once whoever asks first */
ngx_int_t ngx_http_ddbm_metrics_zone(ngx_conf_t *cf);
/*
 * a route counted by this name, listed from the start (ddbm_pattern and
 * the declared routes register theirs when the configuration is read)
 */
ngx_int_t ngx_http_ddbm_metrics_route(ngx_conf_t *cf, ngx_str_t *name);
char *ngx_http_ddbm_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
void ngx_http_ddbm_metrics_attempt(ngx_http_ddbm_call_t *call,
    ngx_msec_t ms);
void ngx_http_ddbm_metrics_error(ngx_http_ddbm_call_t *call,
    const char *kind, ngx_uint_t throttled, ngx_uint_t retried);
void ngx_http_ddbm_metrics_cache(ngx_uint_t hit);
char *ngx_http_ddbm_retry_quota(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* a retry's tokens from the shared quota: 1 taken, 0 refused */
ngx_uint_t ngx_http_ddbm_retry_quota_take(ngx_http_ddbm_call_t *call,
    ngx_uint_t cost);
void ngx_http_ddbm_retry_quota_give(ngx_uint_t n);
/* a refused token: a dm_jwt_rc_e, or negative when there was none */
void ngx_http_ddbm_metrics_jwt(ngx_int_t rc);
/* the log phase handler: routes' status classes and latency */
ngx_int_t ngx_http_ddbm_metrics_log(ngx_http_request_t *r);


/* ---- ngx_http_ddbm_users.c --------------------------------------------- */

/* GetItem of USER#SUB#<sub> (the caller), unless the cache knows it */
ngx_int_t ngx_http_ddbm_lookup_caller(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag);
/* GetItem of USER#HANDLE#<handle> (or the cache, into user); NGX_DECLINED
 * for a handle no user can have */
ngx_int_t ngx_http_ddbm_lookup_handle(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, ngx_str_t *handle, ngx_http_ddbm_user_t *user);
/*
 * The user out of a GetItem answer, or as the cache had it: NGX_OK, or
 * answered (NGX_DONE)
 */
ngx_int_t ngx_http_ddbm_read_user(ngx_http_ddbm_ctx_t *ctx, ngx_uint_t tag,
    ngx_http_ddbm_user_t *user);
/* the caller, known to the directory: NGX_OK, or answered (401, 5xx) */
ngx_int_t ngx_http_ddbm_check_caller(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag);


/* ---- ngx_http_ddbm_groups.c -------------------------------------------- */

/*
 * A conversation as the module knows it: from its GRPMETA# item (written
 * by the module, read strongly consistent), or, for a conversation only
 * the reference's tools have written, from its two GRP# rows found through
 * the message-group-sk-index.
 */
typedef struct {
    ngx_str_t                   group;
    ngx_flag_t                  has_meta;
    ngx_str_t                   rev;           /* meta revision, a number */
    ngx_str_t                   last_sk;       /* newest known time */
    ngx_http_ddbm_user_t        member[2];
    ngx_str_t                   member_sk[2];  /* each one's GRP# row sk */
    ngx_uint_t                  nmembers;
    ngx_int_t                   caller;        /* member index, or -1 */
    ngx_flag_t                  cached;        /* known without a call */
} ngx_http_ddbm_group_t;

/*
 * The conversation g->group: from the cache unless fresh, else a GetItem
 * of GRPMETA#<group> after delay ms (0: now), read by read_group_meta
 */
ngx_int_t ngx_http_ddbm_lookup_group_meta(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, ngx_http_ddbm_group_t *g, ngx_msec_t delay,
    ngx_uint_t fresh);
/* keeps what is known of a conversation (two members) in the cache */
void ngx_http_ddbm_group_keep(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_group_t *g);
void ngx_http_ddbm_group_forget(ngx_http_ddbm_ctx_t *ctx, ngx_str_t *group);
/* the conversation's GRP# rows through the index, after delay ms */
ngx_int_t ngx_http_ddbm_lookup_group_rows(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, ngx_str_t *group, ngx_msec_t delay);
/* NGX_OK: g filled (g->nmembers 0 if unknown); or answered (NGX_DONE) */
ngx_int_t ngx_http_ddbm_read_group_meta(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, ngx_http_ddbm_group_t *g);
ngx_int_t ngx_http_ddbm_read_group_rows(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, ngx_http_ddbm_group_t *g);
/*
 * Where each member's row stands as the index shows it, into g (whose
 * members are known, or are taken from the rows): NGX_OK, or answered
 */
ngx_int_t ngx_http_ddbm_locate_group_rows(ngx_http_ddbm_ctx_t *ctx,
    ngx_uint_t tag, ngx_http_ddbm_group_t *g);
/* the caller must be a member: NGX_OK, or answered 403/404 (NGX_DONE) */
ngx_int_t ngx_http_ddbm_check_member(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_group_t *g);


/* ---- ngx_http_ddbm_write.c --------------------------------------------- */

/* the calls of the write itself, beside each pattern's own tags */
#define NGX_HTTP_DDBM_TAG_WRITE          100
#define NGX_HTTP_DDBM_TAG_REPLAY         101

/* a lost race's pause, ms: full jitter from this base up to the cap */
#define NGX_HTTP_DDBM_RACE_BACKOFF       10
#define NGX_HTTP_DDBM_RACE_BACKOFF_CAP   1000

/* a receipt without Idempotency-Key outlives any retry of its request */
#define NGX_HTTP_DDBM_RECEIPT_TTL        3600

/* message, 2 x (row Delete, row Put), record, receipt */
#define NGX_HTTP_DDBM_WRITE_ACTIONS      7

/* what each action of the message transaction is */
typedef enum {
    NGX_HTTP_DDBM_ACT_MESSAGE = 0,
    NGX_HTTP_DDBM_ACT_ROW_DELETE,
    NGX_HTTP_DDBM_ACT_ROW_PUT,
    NGX_HTTP_DDBM_ACT_RECORD,
    NGX_HTTP_DDBM_ACT_RECEIPT
} ngx_http_ddbm_action_e;

typedef struct {
    ngx_http_ddbm_group_t       g;             /* members, sks, revision */
    ngx_http_ddbm_user_t        receiver;      /* a new conversation's */
    ngx_flag_t                  new_group;
    ngx_str_t                   message;
    char                        message_uuid[DM_UUID_LEN + 1];
    char                        sk[DM_TIME_LEN + 1];
    int64_t                     floor;         /* a time found taken */
    ngx_uint_t                  attempts;
    ngx_msec_t                  pause;         /* before the next attempt */
    u_char                      action[NGX_HTTP_DDBM_WRITE_ACTIONS];
    ngx_uint_t                  nactions;
    ngx_str_t                   response;      /* the answer on success */
    ngx_str_t                   next_rev;      /* the record's, if done */
    /* the answer to give if the receipt shows nothing was stored */
    ngx_http_ddbm_call_t       *failed;
    const char                 *give_up;       /* or this 503's code */
    unsigned                    replaying:1;   /* the stored answer */
    unsigned                    resolving:1;   /* the receipt decides */
    unsigned                    ambiguous:1;   /* an attempt may have applied */
    unsigned                    find_rows:1;   /* a row was not in place */
    unsigned                    reread:1;      /* the record has changed */
} ngx_http_ddbm_write_t;

/* the Idempotency-Key header: NGX_OK, NGX_DECLINED (none), answered 400 */
ngx_int_t ngx_http_ddbm_idempotency_key(ngx_http_ddbm_ctx_t *ctx);
/* the message transaction, sent after delay ms */
ngx_int_t ngx_http_ddbm_write_message(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w, ngx_msec_t delay);
/*
 * The transaction's answer: answered (NGX_DONE), or the receipt of the
 * request (its own earlier attempt's, or a racing twin's with the same
 * Idempotency-Key) being fetched (NGX_AGAIN), or a lost race or a
 * collision (NGX_DECLINED): plan the write again after w->pause, reading
 * the record first when w->reread, and the rows' places too when
 * w->find_rows.
 */
ngx_int_t ngx_http_ddbm_write_resume(ngx_http_ddbm_ctx_t *ctx,
    ngx_http_ddbm_write_t *w);

#endif /* NGX_HTTP_DDBM_H */
