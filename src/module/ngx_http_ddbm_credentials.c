/*
 * ddbm_credentials auto: the AWS SDKs' default chain (src/core
 * dm_credchain.c, the code the CLI uses), for keys that expire.
 *
 * - The keys live in a shared memory zone: every worker signs with the
 *   same ones, and a reload keeps them.
 * - One worker at a time refreshes them: it takes a lease in the zone;
 *   the others go on signing with the current keys.  A worker that exits
 *   gives its lease back (exit_process); a lease whose holder is dead
 *   (killed mid-fetch) is taken over at once, and any lease older than
 *   NGX_HTTP_DDBM_CREDS_LEASE too.
 * - Keys are published only if the chain's configuration is still the
 *   one they were fetched under (chain_gen): a worker of an older
 *   configuration finishing its fetch after a reload drops them.
 * - The fetch (libcurl, blocking) runs in an NGINX thread pool task: a
 *   worker's event loop never waits on the network, and neither does
 *   startup: until the first keys arrive, calls are refused and the
 *   client gets 503 with Retry-After.
 * - A refresh starts when less than min(5 min, half the keys' lifetime)
 *   is left; a failed one is logged and tried again with backoff (1 s,
 *   2 s, 4 s ... 30 s, but never past half the time the old keys have
 *   left) while the old keys stay in use; with no valid keys left, every
 *   2 s.
 *
 * The chain reads the environment the master had when it loaded the
 * configuration (every AWS_* variable and HOME, copied then): workers
 * lose their environment, and no "env" line is needed.
 */

#include "ngx_http_ddbm.h"

#include <curl/curl.h>

#include "dm_credchain.h"

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif


#define NGX_HTTP_DDBM_CREDS_ZONE_SIZE  (64 * 1024)
#define NGX_HTTP_DDBM_CREDS_LEASE      30      /* s: a fetch's longest */
#define NGX_HTTP_DDBM_CREDS_WINDOW     300     /* s: refresh this early */
#define NGX_HTTP_DDBM_CREDS_BACKOFF    30      /* s: the longest pause */
#define NGX_HTTP_DDBM_CREDS_TICK       1000    /* ms: the worker's check */
#define NGX_HTTP_DDBM_CREDS_MARGIN     5000    /* ms: not signed with after */


/* in the shared zone */
typedef struct {
    ngx_atomic_t                generation;    /* 0: no keys yet */
    ngx_atomic_t                refresher;     /* its pid; 0: nobody */
    time_t                      lease_start;
    time_t                      next_attempt;  /* backoff after failures */
    ngx_uint_t                  failures;      /* in a row */
    uint32_t                    chain_hash;    /* what the keys came from */
    ngx_uint_t                  chain_gen;     /* +1 when chain_hash changes */
    uint32_t                    note_hash;     /* the chain's note logged */

    time_t                      fetched_at;
    dm_creds_t                  creds;

    ngx_atomic_t                refresh_ok;
    ngx_atomic_t                refresh_failed;
    ngx_atomic_t                unavailable;
} ngx_http_ddbm_creds_sh_t;


struct ngx_http_ddbm_auto_s {
    ngx_shm_zone_t             *zone;
    ngx_slab_pool_t            *shpool;
    ngx_http_ddbm_creds_sh_t   *sh;

    ngx_array_t                 env;           /* ngx_keyval_t, C strings */
    ngx_str_t                   profile;       /* C string, or empty */
    ngx_flag_t                  imds_v1;
    uint32_t                    chain_hash;
    ngx_uint_t                  chain_gen;     /* sh->chain_gen at load */

#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
#endif
};


/* what one fetch hands back from its thread */
typedef struct {
    ngx_http_ddbm_auto_t       *autoc;
    ngx_uint_t                  chain_gen;     /* the fetch was started under */
    int                         rc;
    dm_creds_t                  creds;
    char                        err[DM_CREDCHAIN_ERR_MAX];
    char                        note[DM_CREDCHAIN_ERR_MAX];
} ngx_http_ddbm_fetch_t;


/* this worker's view: a copy of the shared keys and its timer */
typedef struct {
    ngx_http_ddbm_auto_t       *autoc;
    ngx_atomic_uint_t           generation;
    dm_creds_t                  creds;
    time_t                      fetched_at;
    ngx_event_t                 tick;
#if (NGX_THREADS)
    ngx_thread_task_t          *task;
#endif
    unsigned                    fetching:1;
    unsigned                    outage_logged:1;
} ngx_http_ddbm_worker_creds_t;


static ngx_int_t ngx_http_ddbm_creds_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_ddbm_creds_local(ngx_http_ddbm_auto_t *autoc);
static void ngx_http_ddbm_creds_tick(ngx_event_t *ev);
static void ngx_http_ddbm_creds_check(ngx_http_ddbm_worker_creds_t *w);
static time_t ngx_http_ddbm_creds_due(ngx_http_ddbm_creds_sh_t *sh);
static ngx_uint_t ngx_http_ddbm_creds_expiring(
    ngx_http_ddbm_worker_creds_t *w);
#if (NGX_THREADS)
static void ngx_http_ddbm_creds_fetch(void *data, ngx_log_t *log);
static void ngx_http_ddbm_creds_fetched(ngx_event_t *ev);
static const char *ngx_http_ddbm_creds_getenv(void *data, const char *name);
static int ngx_http_ddbm_creds_no_network(void *data,
    const dm_http_request_t *req, long *status, dm_buf_t *body, char *err,
    size_t errlen);
#endif


static ngx_http_ddbm_worker_creds_t  *ngx_http_ddbm_worker_creds;

extern char  **environ;


/* ---- configuration ----------------------------------------------------- */

char *
ngx_http_ddbm_credentials_auto(ngx_conf_t *cf, ngx_http_ddbm_credentials_t *c,
    ngx_str_t *args, ngx_uint_t nargs)
{
#if (NGX_THREADS)
    char                       **e, *eq;
    size_t                       len;
    uint32_t                     hash;
    ngx_str_t                    name, profile;
    ngx_uint_t                   i;
    ngx_flag_t                   imds_v1;
    ngx_keyval_t                *kv;
    ngx_http_ddbm_auto_t        *autoc;
    ngx_http_ddbm_main_conf_t   *dmcf;

    ngx_str_null(&profile);
    imds_v1 = 0;

    for (i = 1; i < nargs; i++) {
        if (ngx_strncmp(args[i].data, "profile=", 8) == 0
            && args[i].len > 8)
        {
            profile.data = args[i].data + 8;
            profile.len = args[i].len - 8;
            continue;
        }

        if (ngx_strcmp(args[i].data, "imds_v1=on") == 0) {
            imds_v1 = 1;
            continue;
        }

        if (ngx_strcmp(args[i].data, "imds_v1=off") == 0) {
            imds_v1 = 0;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ddbm_credentials auto: unknown parameter \"%V\" "
                           "(profile=NAME, imds_v1=on|off)", &args[i]);
        return NGX_CONF_ERROR;
    }

    /* what the keys come from: a reload that changes it drops the keys */
    ngx_crc32_init(hash);
    ngx_crc32_update(&hash, profile.data, profile.len);
    ngx_crc32_update(&hash, (u_char *) (imds_v1 ? "1" : "0"), 1);

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ddbm_module);

    if (dmcf->autoc != NULL) {
        /* one chain per configuration, whichever level names it */
        autoc = dmcf->autoc;

        if (autoc->profile.len != profile.len
            || ngx_strncmp(autoc->profile.data, profile.data, profile.len)
               != 0
            || autoc->imds_v1 != imds_v1)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ddbm_credentials auto is already set with "
                               "other parameters: one chain per "
                               "configuration");
            return NGX_CONF_ERROR;
        }

        c->autoc = autoc;
        return NGX_CONF_OK;
    }

    autoc = ngx_pcalloc(cf->pool, sizeof(ngx_http_ddbm_auto_t));
    if (autoc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (profile.len) {
        autoc->profile.data = (u_char *) ngx_http_ddbm_cstr(cf->pool,
                                                            &profile);
        if (autoc->profile.data == NULL) {
            return NGX_CONF_ERROR;
        }
        autoc->profile.len = profile.len;
    }

    autoc->imds_v1 = imds_v1;

    if (ngx_array_init(&autoc->env, cf->pool, 16, sizeof(ngx_keyval_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the master's environment, as it is now: see the top of the file */
    for (e = environ; e != NULL && *e != NULL; e++) {
        if (ngx_strncmp(*e, "AWS_", 4) != 0
            && ngx_strncmp(*e, "HOME=", 5) != 0)
        {
            continue;
        }

        eq = ngx_strchr(*e, '=');
        if (eq == NULL) {
            continue;
        }

        kv = ngx_array_push(&autoc->env);
        if (kv == NULL) {
            return NGX_CONF_ERROR;
        }

        name.data = (u_char *) *e;
        name.len = eq - *e;
        kv->key.data = (u_char *) ngx_http_ddbm_cstr(cf->pool, &name);
        kv->key.len = name.len;

        len = ngx_strlen(eq + 1);
        name.data = (u_char *) eq + 1;
        name.len = len;
        kv->value.data = (u_char *) ngx_http_ddbm_cstr(cf->pool, &name);
        kv->value.len = len;

        if (kv->key.data == NULL || kv->value.data == NULL) {
            return NGX_CONF_ERROR;
        }

        /* the variables that pick the source, not the keys themselves */
        if (ngx_strncmp(kv->key.data, "AWS_SECRET", 10) != 0
            && ngx_strncmp(kv->key.data, "AWS_SESSION", 11) != 0
            && ngx_strncmp(kv->key.data, "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                           33) != 0)
        {
            ngx_crc32_update(&hash, kv->key.data, kv->key.len + 1);
            ngx_crc32_update(&hash, kv->value.data, kv->value.len + 1);
        }
    }

    ngx_crc32_final(hash);
    autoc->chain_hash = hash;

    ngx_str_set(&name, "ddbm_credentials");
    autoc->zone = ngx_shared_memory_add(cf, &name,
                                        NGX_HTTP_DDBM_CREDS_ZONE_SIZE,
                                        &ngx_http_ddbm_module);
    if (autoc->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    autoc->zone->init = ngx_http_ddbm_creds_init_zone;
    autoc->zone->data = autoc;

    /* NGINX's "default" pool, as "aio threads" uses it */
    autoc->thread_pool = ngx_thread_pool_add(cf, NULL);
    if (autoc->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    dmcf->autoc = autoc;
    c->autoc = autoc;

    return NGX_CONF_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ddbm_credentials auto needs NGINX built with "
                       "--with-threads: its fetches run in a thread pool");
    return NGX_CONF_ERROR;

#endif
}


static ngx_int_t
ngx_http_ddbm_creds_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ddbm_auto_t  *oautoc = data;

    ngx_slab_pool_t       *shpool;
    ngx_http_ddbm_auto_t  *autoc;

    autoc = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    autoc->shpool = shpool;

    if (oautoc != NULL) {
        /* a reload: keep the keys if they come from the same chain */
        autoc->sh = oautoc->sh;

        if (autoc->sh->chain_hash != autoc->chain_hash) {
            ngx_shmtx_lock(&shpool->mutex);
            dm_creds_wipe(&autoc->sh->creds);
            autoc->sh->fetched_at = 0;
            autoc->sh->next_attempt = 0;
            autoc->sh->failures = 0;
            autoc->sh->chain_hash = autoc->chain_hash;
            /* what an old worker still fetches is dropped when it ends */
            autoc->sh->chain_gen++;
            autoc->sh->refresher = 0;
            autoc->sh->note_hash = 0;
            /* a new generation with no keys: workers drop their copy */
            autoc->sh->generation++;
            ngx_http_ddbm_creds_local(autoc);
            ngx_shmtx_unlock(&shpool->mutex);
        }

        autoc->chain_gen = autoc->sh->chain_gen;

        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        autoc->sh = shpool->data;
        autoc->chain_gen = autoc->sh->chain_gen;
        return NGX_OK;
    }

    autoc->sh = ngx_slab_calloc(shpool, sizeof(ngx_http_ddbm_creds_sh_t));
    if (autoc->sh == NULL) {
        return NGX_ERROR;
    }

    autoc->sh->chain_hash = autoc->chain_hash;
    autoc->sh->chain_gen = 1;
    autoc->chain_gen = 1;
    shpool->data = autoc->sh;

    ngx_http_ddbm_creds_local(autoc);

    return NGX_OK;
}


/*
 * Keys that need no network (the environment, a profile's static keys)
 * are there before the first request: the chain runs once in the master,
 * with an HTTP exchange that always fails.  What needs the network is
 * left to the workers' first fetch.
 */
static void
ngx_http_ddbm_creds_local(ngx_http_ddbm_auto_t *autoc)
{
#if (NGX_THREADS)
    dm_creds_t       creds;
    dm_credchain_t   chain;
    char             err[DM_CREDCHAIN_ERR_MAX];

    ngx_memzero(&chain, sizeof(dm_credchain_t));

    chain.http = ngx_http_ddbm_creds_no_network;
    chain.getenv = ngx_http_ddbm_creds_getenv;
    chain.data = autoc;
    chain.profile = autoc->profile.len
                    ? (const char *) autoc->profile.data : NULL;

    if (dm_credchain_resolve(&chain, &creds, err, sizeof(err)) != 0) {
        return;
    }

    if (creds.expiration == 0 || creds.expiration > ngx_time()) {
        autoc->sh->creds = creds;
        autoc->sh->fetched_at = ngx_time();
        autoc->sh->generation++;
    }

    dm_creds_wipe(&creds);
#endif
}


#if (NGX_THREADS)

static int
ngx_http_ddbm_creds_no_network(void *data, const dm_http_request_t *req,
    long *status, dm_buf_t *body, char *err, size_t errlen)
{
    ngx_cpystrn((u_char *) err, (u_char *) "left to the workers", errlen);
    return -1;
}

#endif


/* ---- a worker ---------------------------------------------------------- */

ngx_int_t
ngx_http_ddbm_credentials_init_process(ngx_cycle_t *cycle)
{
#if (NGX_THREADS)
    ngx_http_ddbm_fetch_t         *f;
    ngx_http_ddbm_main_conf_t     *dmcf;
    ngx_http_ddbm_worker_creds_t  *w;

    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ddbm_module);

    if (dmcf == NULL || dmcf->autoc == NULL) {
        return NGX_OK;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "ddbm: curl_global_init() failed");
        return NGX_ERROR;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_http_ddbm_worker_creds_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->autoc = dmcf->autoc;

    w->task = ngx_thread_task_alloc(cycle->pool,
                                    sizeof(ngx_http_ddbm_fetch_t));
    if (w->task == NULL) {
        return NGX_ERROR;
    }

    f = w->task->ctx;
    f->autoc = dmcf->autoc;

    w->task->handler = ngx_http_ddbm_creds_fetch;
    w->task->event.handler = ngx_http_ddbm_creds_fetched;
    w->task->event.data = w;
    w->task->event.log = cycle->log;

    w->tick.handler = ngx_http_ddbm_creds_tick;
    w->tick.data = w;
    w->tick.log = cycle->log;
    /* a shutting down worker does not wait for it */
    w->tick.cancelable = 1;

    ngx_http_ddbm_worker_creds = w;

    /* the first fetch starts now, without holding up startup */
    ngx_add_timer(&w->tick, 1);

    return NGX_OK;

#else
    return NGX_OK;
#endif
}


void
ngx_http_ddbm_credentials_exit_process(ngx_cycle_t *cycle)
{
#if (NGX_THREADS)
    ngx_http_ddbm_fetch_t         *f;
#endif
    ngx_http_ddbm_auto_t          *autoc;
    ngx_http_ddbm_worker_creds_t  *w;

    w = ngx_http_ddbm_worker_creds;

    if (w == NULL) {
        return;
    }

    /*
     * A fetch of ours may have ended without its completion handler (a
     * worker leaving on a reload): give the lease back, or every other
     * worker would wait NGX_HTTP_DDBM_CREDS_LEASE for it.
     */
    autoc = w->autoc;

    if (autoc->sh != NULL) {
        ngx_shmtx_lock(&autoc->shpool->mutex);

        if (autoc->sh->refresher == (ngx_atomic_uint_t) ngx_pid) {
            autoc->sh->refresher = 0;
            autoc->sh->next_attempt = 0;
        }

        ngx_shmtx_unlock(&autoc->shpool->mutex);
    }

#if (NGX_THREADS)
    f = w->task->ctx;
    dm_creds_wipe(&f->creds);
#endif

    dm_creds_wipe(&w->creds);
    ngx_http_ddbm_worker_creds = NULL;

    /* the thread pool (a core module) has joined its threads by now */
    curl_global_cleanup();
}


static void
ngx_http_ddbm_creds_tick(ngx_event_t *ev)
{
    ngx_http_ddbm_worker_creds_t  *w = ev->data;

    ngx_http_ddbm_creds_check(w);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, NGX_HTTP_DDBM_CREDS_TICK);
    }
}


/* when the keys must be replaced: 0 now, or the time */
static time_t
ngx_http_ddbm_creds_due(ngx_http_ddbm_creds_sh_t *sh)
{
    time_t  lifetime, window;

    if (sh->creds.access_key_id[0] == '\0') {
        return 0;
    }

    if (sh->creds.expiration == 0) {
        /* keys that do not expire (the environment, a profile) */
        return NGX_MAX_TIME_T_VALUE;
    }

    lifetime = sh->creds.expiration - sh->fetched_at;
    window = ngx_min(NGX_HTTP_DDBM_CREDS_WINDOW, lifetime / 2);

    return sh->creds.expiration - window;
}


/*
 * The lease's holder is gone (killed mid-fetch: no exit_process ran).
 * kill(pid, 0) answers ESRCH only for a pid that no longer exists; EPERM
 * (another user's process) or a pid reused since count as alive, and the
 * lease's age still bounds the wait.
 */
static ngx_uint_t
ngx_http_ddbm_creds_holder_dead(ngx_atomic_uint_t pid)
{
    if (pid == 0 || pid == (ngx_atomic_uint_t) ngx_pid) {
        return 0;
    }

    return kill((ngx_pid_t) pid, 0) == -1 && ngx_errno == NGX_ESRCH;
}


/* starts a fetch if the keys are due and nobody else is fetching */
static void
ngx_http_ddbm_creds_check(ngx_http_ddbm_worker_creds_t *w)
{
#if (NGX_THREADS)
    time_t                     now;
    ngx_uint_t                 start;
    ngx_http_ddbm_auto_t      *autoc;
    ngx_http_ddbm_creds_sh_t  *sh;

    if (w->fetching) {
        return;
    }

    autoc = w->autoc;
    sh = autoc->sh;
    now = ngx_time();
    start = 0;

    ngx_shmtx_lock(&autoc->shpool->mutex);

    if (now >= ngx_http_ddbm_creds_due(sh)
        && now >= sh->next_attempt
        && (sh->refresher == 0
            || now - sh->lease_start > NGX_HTTP_DDBM_CREDS_LEASE
            || ngx_http_ddbm_creds_holder_dead(sh->refresher)))
    {
        sh->refresher = ngx_pid;
        sh->lease_start = now;
        start = 1;
    }

    ngx_shmtx_unlock(&autoc->shpool->mutex);

    if (!start) {
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, w->tick.log, 0,
                   "ddbm: fetching AWS credentials");

    w->fetching = 1;
    ((ngx_http_ddbm_fetch_t *) w->task->ctx)->chain_gen = autoc->chain_gen;

    if (ngx_thread_task_post(autoc->thread_pool, w->task) != NGX_OK) {
        w->fetching = 0;

        ngx_shmtx_lock(&autoc->shpool->mutex);
        if (sh->refresher == (ngx_atomic_uint_t) ngx_pid) {
            sh->refresher = 0;
        }
        sh->next_attempt = now + 1;
        ngx_shmtx_unlock(&autoc->shpool->mutex);
    }
#endif
}


#if (NGX_THREADS)

/* in a thread of the pool: nothing of NGINX's but the data it was given */
static void
ngx_http_ddbm_creds_fetch(void *data, ngx_log_t *log)
{
    ngx_http_ddbm_fetch_t  *f = data;

    dm_credchain_t  chain;

    ngx_memzero(&chain, sizeof(dm_credchain_t));

    chain.http = dm_http_curl_exchange;
    chain.getenv = ngx_http_ddbm_creds_getenv;
    chain.data = f->autoc;
    chain.profile = f->autoc->profile.len
                    ? (const char *) f->autoc->profile.data : NULL;
    chain.imds_v1_fallback = f->autoc->imds_v1;
    chain.note = f->note;
    chain.note_len = sizeof(f->note);

    f->err[0] = '\0';
    f->rc = dm_credchain_resolve(&chain, &f->creds, f->err, sizeof(f->err));
}


/* the copy of the master's environment (read only: safe in a thread) */
static const char *
ngx_http_ddbm_creds_getenv(void *data, const char *name)
{
    ngx_http_ddbm_auto_t  *autoc = data;

    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    kv = autoc->env.elts;

    for (i = 0; i < autoc->env.nelts; i++) {
        if (ngx_strcmp(kv[i].key.data, name) == 0) {
            return (const char *) kv[i].value.data;
        }
    }

    return NULL;
}


/* back on the event loop: publish the keys, or count the failure */
static void
ngx_http_ddbm_creds_fetched(ngx_event_t *ev)
{
    ngx_http_ddbm_worker_creds_t  *w = ev->data;

    time_t                     now, left, pause;
    uint32_t                   note_hash;
    ngx_uint_t                 fresh, log_note;
    ngx_http_ddbm_fetch_t     *f;
    ngx_http_ddbm_auto_t      *autoc;
    ngx_http_ddbm_creds_sh_t  *sh;

    f = w->task->ctx;
    autoc = w->autoc;
    sh = autoc->sh;
    now = ngx_time();
    fresh = 0;
    pause = 0;
    left = 0;
    log_note = 0;
    note_hash = 0;

    w->fetching = 0;

    if (f->note[0] != '\0') {
        note_hash = ngx_crc32_short((u_char *) f->note,
                                    ngx_strlen(f->note));
    }

    if (f->rc == 0 && f->creds.expiration != 0 && f->creds.expiration <= now)
    {
        f->rc = -1;
        ngx_cpystrn((u_char *) f->err,
                    (u_char *) "the keys handed out have already expired",
                    sizeof(f->err));
    }

    ngx_shmtx_lock(&autoc->shpool->mutex);

    if (f->chain_gen != sh->chain_gen) {
        /*
         * Fetched under a chain configuration that a reload has replaced
         * since: the keys may come from a source or profile no longer
         * configured.  Dropped; the lease, if still ours, is given back.
         */
        if (sh->refresher == (ngx_atomic_uint_t) ngx_pid) {
            sh->refresher = 0;
        }

        ngx_shmtx_unlock(&autoc->shpool->mutex);

        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "ddbm: AWS credentials fetched under an earlier "
                      "configuration dropped");

        dm_creds_wipe(&f->creds);
        return;
    }

    /* a default shared file skipped: said once, not at every refresh */
    if (note_hash != 0 && note_hash != sh->note_hash) {
        sh->note_hash = note_hash;
        log_note = 1;
    }

    if (f->rc == 0) {
        if (sh->creds.access_key_id[0] != '\0'
            && ngx_strcmp(sh->creds.access_key_id, f->creds.access_key_id)
               == 0
            && sh->creds.expiration == f->creds.expiration)
        {
            /*
             * The same keys again (instance metadata hands them out until
             * shortly before they expire): ask again later, not at once.
             */
            left = sh->creds.expiration - now;
            pause = ngx_max(1, ngx_min(NGX_HTTP_DDBM_CREDS_BACKOFF, left / 4));
            sh->next_attempt = now + pause;

        } else {
            sh->creds = f->creds;
            sh->fetched_at = now;
            sh->generation++;
            sh->next_attempt = 0;
            fresh = 1;
        }

        sh->failures = 0;
        sh->refresh_ok++;

    } else {
        sh->failures++;
        sh->refresh_failed++;

        pause = (time_t) 1 << ngx_min(sh->failures - 1, 5);

        if (sh->creds.expiration) {
            left = sh->creds.expiration - now;
        }

        if (left > 0) {
            /* the old keys still sign: try again before they run out */
            pause = ngx_min(pause, NGX_HTTP_DDBM_CREDS_BACKOFF);
            pause = ngx_min(pause, ngx_max(1, left / 2));

        } else {
            /* clients are being refused: keep trying, every 2 s at most */
            pause = ngx_min(pause, 2);
        }

        sh->next_attempt = now + pause;
    }

    if (sh->refresher == (ngx_atomic_uint_t) ngx_pid) {
        sh->refresher = 0;
    }

    ngx_shmtx_unlock(&autoc->shpool->mutex);

    if (log_note) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0, "ddbm: AWS credentials: %s",
                      f->note);
    }

    if (f->rc == 0) {
        if (fresh) {
            ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                          "ddbm: AWS credentials from %s, valid for %T s",
                          f->creds.source,
                          f->creds.expiration
                          ? f->creds.expiration - now : (time_t) -1);
        } else {
            ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                          "ddbm: %s handed out the same AWS credentials, "
                          "asking again in %T s", f->creds.source, pause);
        }

    } else if (left > 0) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "ddbm: cannot refresh AWS credentials: %s; the "
                      "current ones are valid for %T s more, next attempt "
                      "in %T s", f->err, left, pause);

    } else {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "ddbm: cannot get AWS credentials: %s; next attempt "
                      "in %T s", f->err, pause);
    }

    dm_creds_wipe(&f->creds);
}

#endif


/* ---- signing ----------------------------------------------------------- */

ngx_int_t
ngx_http_ddbm_credentials_current(ngx_http_ddbm_credentials_t *c,
    ngx_log_t *log, dm_aws_credentials_t *out)
{
    ngx_http_ddbm_auto_t          *autoc;
    ngx_http_ddbm_creds_sh_t      *sh;
    ngx_http_ddbm_worker_creds_t  *w;

    if (c->autoc == NULL) {
        *out = c->creds;
        return NGX_OK;
    }

    w = ngx_http_ddbm_worker_creds;
    autoc = c->autoc;
    sh = autoc->sh;

    if (w == NULL) {
        return NGX_DECLINED;
    }

    if (w->generation != sh->generation) {
        ngx_shmtx_lock(&autoc->shpool->mutex);
        w->creds = sh->creds;
        w->fetched_at = sh->fetched_at;
        w->generation = sh->generation;
        ngx_shmtx_unlock(&autoc->shpool->mutex);
    }

    if (w->creds.access_key_id[0] == '\0'
        || ngx_http_ddbm_creds_expiring(w))
    {
        (void) ngx_atomic_fetch_add(&sh->unavailable, 1);

        if (!w->outage_logged) {
            w->outage_logged = 1;
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "ddbm: no valid AWS credentials (%s): answering "
                          "503 until a refresh succeeds",
                          w->creds.access_key_id[0] == '\0'
                          ? "none fetched yet" : "expired");
        }

        /* maybe this worker can fetch now rather than at its next tick */
        ngx_http_ddbm_creds_check(w);

        return NGX_DECLINED;
    }

    w->outage_logged = 0;

    out->access_key_id = w->creds.access_key_id;
    out->secret_access_key = w->creds.secret_access_key;
    out->session_token = w->creds.session_token[0]
                         ? w->creds.session_token : NULL;

    return NGX_OK;
}


/*
 * Keys are not signed with in their last moments: a call signed now
 * reaches DynamoDB a little later, and one that arrives after the expiry
 * is refused (ExpiredTokenException), a 502 where a 503 is due.  The margin
 * is a tenth of the keys' lifetime, at most NGX_HTTP_DDBM_CREDS_MARGIN ms,
 * well inside the refresh window (half the lifetime, at most 5 min).
 */
static ngx_uint_t
ngx_http_ddbm_creds_expiring(ngx_http_ddbm_worker_creds_t *w)
{
    int64_t      now, expiry, margin;
    ngx_time_t  *tp;

    if (w->creds.expiration == 0) {
        return 0;
    }

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;
    expiry = (int64_t) w->creds.expiration * 1000;
    margin = ((int64_t) w->creds.expiration - w->fetched_at) * 100;
    margin = ngx_max(0, ngx_min(margin, NGX_HTTP_DDBM_CREDS_MARGIN));

    return now + margin >= expiry;
}


void
ngx_http_ddbm_credentials_stats(ngx_http_ddbm_credentials_t *c,
    ngx_http_ddbm_credentials_stats_t *st)
{
    ngx_http_ddbm_auto_t      *autoc;
    ngx_http_ddbm_creds_sh_t  *sh;

    ngx_memzero(st, sizeof(ngx_http_ddbm_credentials_stats_t));

    if (c == NULL) {
        ngx_str_set(&st->source, "none");
        return;
    }

    st->source = c->source;

    if (c->autoc == NULL || c->autoc->sh == NULL) {
        return;
    }

    autoc = c->autoc;
    sh = autoc->sh;

    ngx_shmtx_lock(&autoc->shpool->mutex);

    if (sh->creds.access_key_id[0] != '\0') {
        st->expiration = sh->creds.expiration;
        st->source.data = st->source_buf;
        st->source.len = ngx_cpystrn(st->source_buf,
                                     (u_char *) sh->creds.source,
                                     sizeof(st->source_buf))
                         - st->source_buf;
    }

    st->refresh_ok = sh->refresh_ok;
    st->refresh_failed = sh->refresh_failed;
    st->unavailable = sh->unavailable;

    ngx_shmtx_unlock(&autoc->shpool->mutex);
}
