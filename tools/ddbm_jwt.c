/*
 * Development tokens: dev-keys (an RS256 key pair and its JWKS, what a
 * Cognito user pool publishes) and mint-token (a Cognito-shaped access
 * token for a user of the directory, signed with that key), so that the
 * module's real verification path can be exercised without a user pool.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ddbm.h"
#include "dm_jwt.h"


#define DDBM_JWT_PATH_MAX  4096
#define DDBM_JWT_OMIT_MAX  8


static int
ddbm_jwt_path(char *out, const char *dir, const char *file)
{
    int  n;

    n = snprintf(out, DDBM_JWT_PATH_MAX, "%s/%s", dir, file);
    if (n < 0 || n >= DDBM_JWT_PATH_MAX) {
        ddbm_usage_error("--dir is too long");
        return -1;
    }

    return 0;
}


/* writes data to path, created with mode (and forced to it) */
static int
ddbm_jwt_write(const char *path, const void *data, size_t len, mode_t mode)
{
    int      fd;
    ssize_t  n;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        ddbm_error("cannot create %s: %s", path, strerror(errno));
        return -1;
    }

    /* an existing file (--force) keeps its old mode otherwise */
    if (fchmod(fd, mode) != 0) {
        ddbm_error("cannot chmod %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }

    n = write(fd, data, len);

    if (n != (ssize_t) len || close(fd) != 0) {
        ddbm_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }

    return 0;
}


static int
ddbm_jwt_read(const char *path, dm_buf_t *b, size_t max)
{
    int      rc;
    char     tmp[8192];
    FILE    *f;
    size_t   n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }

    rc = 0;

    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (b->len + n > max || dm_buf_append(b, tmp, n) != 0) {
            rc = -1;
            break;
        }
    }

    if (ferror(f)) {
        rc = -1;
    }

    fclose(f);

    return rc;
}


static int
ddbm_jwt_pem(EVP_PKEY *key, int private, dm_buf_t *out)
{
    int       rc;
    long      len;
    BIO      *bio;
    char     *p;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return -1;
    }

    rc = private ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL,
                                            NULL)
                 : PEM_write_bio_PUBKEY(bio, key);

    if (rc == 1) {
        len = BIO_get_mem_data(bio, &p);
        rc = dm_buf_append(out, p, (size_t) len);
    } else {
        rc = -1;
    }

    BIO_free(bio);

    return rc;
}


int
ddbm_cmd_dev_keys(ddbm_options_t *opts, ddbm_args_t *args)
{
    int          rc, force;
    char         priv_path[DDBM_JWT_PATH_MAX], pub_path[DDBM_JWT_PATH_MAX];
    char         jwks_path[DDBM_JWT_PATH_MAX];
    char         thumb[DM_JWK_THUMBPRINT_LEN + 1];
    const char  *dir, *kid;
    dm_buf_t     priv, pub, jwks;
    EVP_PKEY    *key;
    struct stat  st;

    const ddbm_option_t  options[] = {
        { "--force", DDBM_OPT_FLAG, &force, NULL },
        { "--dir", DDBM_OPT_VALUE, &dir, NULL },
        { "--kid", DDBM_OPT_VALUE, &kid, NULL },
        ddbm_null_option
    };

    const ddbm_syntax_t  syntax = {
        "dev-keys", options, DDBM_ARGS_NO_WORDS, 0, 0, NULL
    };

    dir = NULL;
    kid = NULL;
    force = 0;

    if (ddbm_args_parse(opts, args, &syntax, NULL) != 0) {
        return DDBM_USAGE;
    }

    if (dir == NULL || *dir == '\0') {
        ddbm_usage_error("dev-keys needs --dir DIR");
        return DDBM_USAGE;
    }

    if (kid != NULL && (*kid == '\0' || strlen(kid) > DM_JWT_KID_MAX
                        || !ddbm_utf8_text_valid(kid, strlen(kid))))
    {
        ddbm_usage_error("dev-keys: --kid must be 1 to %d printable "
                         "characters", DM_JWT_KID_MAX);
        return DDBM_USAGE;
    }

    if (ddbm_jwt_path(priv_path, dir, "private.pem") != 0
        || ddbm_jwt_path(pub_path, dir, "public.pem") != 0
        || ddbm_jwt_path(jwks_path, dir, "jwks.json") != 0)
    {
        return DDBM_USAGE;
    }

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        ddbm_error("cannot create %s: %s", dir, strerror(errno));
        return DDBM_ERROR;
    }

    if (!force && (stat(priv_path, &st) == 0 || stat(jwks_path, &st) == 0)) {
        ddbm_error("%s already holds a key pair; --force replaces it (tokens "
                   "signed with the old key stop verifying)", dir);
        return DDBM_ERROR;
    }

    key = EVP_RSA_gen(2048);
    if (key == NULL) {
        ddbm_error("cannot generate an RSA key");
        return DDBM_ERROR;
    }

    if (kid == NULL) {
        if (dm_jwk_thumbprint(key, thumb) != 0) {
            ddbm_error("cannot compute the key's thumbprint");
            EVP_PKEY_free(key);
            return DDBM_ERROR;
        }
        kid = thumb;
    }

    dm_buf_init_malloc(&priv);
    dm_buf_init_malloc(&pub);
    dm_buf_init_malloc(&jwks);

    dm_buf_append_str(&jwks, "{\"keys\":[");
    rc = DDBM_ERROR;

    if (ddbm_jwt_pem(key, 1, &priv) != 0 || ddbm_jwt_pem(key, 0, &pub) != 0
        || dm_jwk_public_json(key, kid, &jwks) != 0
        || dm_buf_append_str(&jwks, "]}\n") != 0)
    {
        ddbm_error("cannot encode the key pair");

    } else if (ddbm_jwt_write(priv_path, priv.data, priv.len, 0600) == 0
               && ddbm_jwt_write(pub_path, pub.data, pub.len, 0644) == 0
               && ddbm_jwt_write(jwks_path, jwks.data, jwks.len, 0644) == 0)
    {
        printf("kid %s\n", kid);
        printf("private key %s (mode 0600)\n", priv_path);
        printf("public key  %s\n", pub_path);
        printf("JWKS        %s (ddbm_jwt_jwks)\n", jwks_path);
        rc = DDBM_OK;
    }

    /* the private key's PEM text lived in this buffer */
    if (priv.data) {
        OPENSSL_cleanse(priv.data, priv.cap);
    }

    dm_buf_free_malloc(&priv);
    dm_buf_free_malloc(&pub);
    dm_buf_free_malloc(&jwks);
    EVP_PKEY_free(key);
    ERR_clear_error();

    return rc;
}


/* ---- mint-token -------------------------------------------------------- */

/* "1795000000" (absolute), "+60" or "-60" (from now) */
static int
ddbm_jwt_time_arg(const char *name, const char *s, long long now,
    long long *t)
{
    char       *end;
    long long   v;

    errno = 0;
    v = strtoll(s, &end, 10);

    if (*s == '\0' || *end != '\0' || errno != 0) {
        ddbm_usage_error("mint-token: %s takes seconds since the epoch, or "
                         "+N / -N seconds from now", name);
        return -1;
    }

    *t = (*s == '+' || *s == '-') ? now + v : v;

    return 0;
}


/* the key's kid as jwks.json beside it names it, else its thumbprint */
static int
ddbm_jwt_find_kid(const char *dir, EVP_PKEY *key, char *kid, size_t size)
{
    int          rc;
    char         path[DDBM_JWT_PATH_MAX];
    size_t       i;
    json_t      *root, *k, *v;
    dm_buf_t     file, me;
    const char  *n;
    json_error_t err;

    dm_buf_init_malloc(&me);
    dm_buf_init_malloc(&file);

    if (dm_jwk_public_json(key, "", &me) != 0) {
        dm_buf_free_malloc(&me);
        return -1;
    }

    rc = 1;

    if (ddbm_jwt_path(path, dir, "jwks.json") == 0
        && ddbm_jwt_read(path, &file, DM_JWKS_FILE_MAX) == 0
        && (root = json_loadb((const char *) file.data, file.len, 0, &err)))
    {
        /* our own JWK's "n" to compare with */
        n = strstr(dm_buf_cstr(&me), "\"n\":\"");

        json_array_foreach(json_object_get(root, "keys"), i, k) {
            v = json_object_get(k, "n");

            if (n != NULL && json_is_string(v)
                && strncmp(n + 5, json_string_value(v),
                           json_string_length(v)) == 0
                && n[5 + json_string_length(v)] == '"'
                && json_is_string(json_object_get(k, "kid"))
                && json_string_length(json_object_get(k, "kid")) < size)
            {
                strcpy(kid, json_string_value(json_object_get(k, "kid")));
                rc = 0;
                break;
            }
        }

        json_decref(root);
    }

    dm_buf_free_malloc(&me);
    dm_buf_free_malloc(&file);

    if (rc != 0) {
        rc = (size > DM_JWK_THUMBPRINT_LEN && dm_jwk_thumbprint(key, kid) == 0)
             ? 0 : -1;
    }

    return rc;
}


/* the Cognito sub of a handle, from the USER#HANDLE# directory item */
static int
ddbm_jwt_sub_of_handle(ddbm_options_t *opts, const char *handle, char *sub)
{
    int          rc;
    char         pk[DM_KEY_MAX];
    json_t      *item, *v;
    const char  *s;

    if (dm_key_user_handle(pk, sizeof(pk), handle, strlen(handle)) == 0) {
        ddbm_usage_error("mint-token: \"%s\" is not a valid handle", handle);
        return DDBM_USAGE;
    }

    rc = ddbm_user_lookup(opts, "mint-token", pk, &item);
    if (rc != DDBM_OK) {
        return rc;
    }

    v = json_object_get(item, "cognito_user_id");
    s = json_string_value(json_object_get(v, "S"));

    rc = DDBM_ERROR;

    if (item == NULL) {
        ddbm_error("no user with handle \"%s\" in the user directory of %s "
                   "(run seed, import-users or put-user)", handle,
                   opts->table);

    } else if (s == NULL || !dm_uuid_valid(s, strlen(s))) {
        ddbm_error("the directory item %s has no valid cognito_user_id", pk);

    } else {
        memcpy(sub, s, DM_UUID_LEN + 1);
        rc = DDBM_OK;
    }

    json_decref(item);

    return rc;
}


/* --omit CLAIM, up to DDBM_JWT_OMIT_MAX of them; more are unknown */
typedef struct {
    const char     *claim[DDBM_JWT_OMIT_MAX];
    int             n;
} ddbm_jwt_omit_t;


static int
ddbm_jwt_take_omit(const char *command, void *dest, const char *v)
{
    ddbm_jwt_omit_t  *omit = dest;

    if (omit->n == DDBM_JWT_OMIT_MAX) {
        return 0;
    }

    omit->claim[omit->n++] = v;

    return 1;
}


/* what follows "mint-token" in its usage errors */
static const char  ddbm_jwt_mint_usage[] =
    "--dir DIR (--sub SUB | --handle H) [--issuer URL] "
    "[--client-id ID] [--ttl SECONDS] [--token-use access|id] "
    "[--username U]";


int
ddbm_cmd_mint_token(ddbm_options_t *opts, ddbm_args_t *args)
{
    int               i, rc;
    char              kid_buf[DM_JWT_KID_MAX + 1], sub_buf[DM_UUID_LEN + 1];
    char              path[DDBM_JWT_PATH_MAX];
    char              jti[DM_UUID_LEN + 1], origin[DM_UUID_LEN + 1];
    char              event[DM_UUID_LEN + 1];
    char             *header_text, *claims_text;
    long long         now, iat, exp, nbf, ttl;
    const char       *dir, *sub, *handle, *issuer, *client_id, *ttl_s;
    const char       *token_use, *username, *kid, *exp_s, *iat_s, *nbf_s;
    json_t           *header, *claims;
    dm_buf_t          pem, token;
    BIO              *bio;
    EVP_PKEY         *key;
    ddbm_jwt_omit_t   omit;

    const ddbm_option_t  options[] = {
        { "--dir", DDBM_OPT_VALUE, &dir, NULL },
        { "--sub", DDBM_OPT_VALUE, &sub, NULL },
        { "--handle", DDBM_OPT_VALUE, &handle, NULL },
        { "--issuer", DDBM_OPT_VALUE, &issuer, NULL },
        { "--client-id", DDBM_OPT_VALUE, &client_id, NULL },
        { "--ttl", DDBM_OPT_VALUE, &ttl_s, NULL },
        { "--token-use", DDBM_OPT_VALUE, &token_use, NULL },
        { "--username", DDBM_OPT_VALUE, &username, NULL },
        /* for tests: times, another kid, claims left out */
        { "--exp", DDBM_OPT_VALUE, &exp_s, NULL },
        { "--iat", DDBM_OPT_VALUE, &iat_s, NULL },
        { "--nbf", DDBM_OPT_VALUE, &nbf_s, NULL },
        { "--kid", DDBM_OPT_VALUE, &kid, NULL },
        { "--omit", DDBM_OPT_VALUE, &omit, ddbm_jwt_take_omit },
        ddbm_null_option
    };

    const ddbm_syntax_t  syntax = {
        "mint-token", options, DDBM_ARGS_NO_WORDS | DDBM_ARGS_HINT, 0, 0,
        ddbm_jwt_mint_usage
    };

    dir = sub = handle = username = kid = NULL;
    exp_s = iat_s = nbf_s = ttl_s = NULL;
    issuer = DDBM_JWT_DEV_ISSUER;
    client_id = DDBM_JWT_DEV_CLIENT_ID;
    token_use = "access";
    omit.n = 0;

    if (ddbm_args_parse(opts, args, &syntax, NULL) != 0) {
        return DDBM_USAGE;
    }

    if (dir == NULL || (sub == NULL) == (handle == NULL)) {
        ddbm_args_usage(&syntax);
        return DDBM_USAGE;
    }

    if (strcmp(token_use, "access") != 0 && strcmp(token_use, "id") != 0) {
        ddbm_usage_error("mint-token: --token-use is access or id");
        return DDBM_USAGE;
    }

    now = (long long) time(NULL);
    ttl = 3600;

    if (ttl_s != NULL
        && (ddbm_jwt_time_arg("--ttl", ttl_s, 0, &ttl) != 0 || ttl <= 0))
    {
        ddbm_usage_error("mint-token: --ttl takes a positive number of "
                         "seconds");
        return DDBM_USAGE;
    }

    iat = now;
    exp = now + ttl;
    nbf = 0;

    if ((iat_s && ddbm_jwt_time_arg("--iat", iat_s, now, &iat) != 0)
        || (exp_s && ddbm_jwt_time_arg("--exp", exp_s, now, &exp) != 0)
        || (nbf_s && ddbm_jwt_time_arg("--nbf", nbf_s, now, &nbf) != 0))
    {
        return DDBM_USAGE;
    }

    if (sub != NULL && (*sub == '\0' || strlen(sub) > DM_JWT_CLAIM_MAX)) {
        ddbm_usage_error("mint-token: --sub must be 1 to %d characters",
                         DM_JWT_CLAIM_MAX);
        return DDBM_USAGE;
    }

    /* the key first: no DynamoDB call for a token that cannot be signed */
    dm_buf_init_malloc(&pem);

    if (ddbm_jwt_path(path, dir, "private.pem") != 0) {
        return DDBM_USAGE;
    }

    if (ddbm_jwt_read(path, &pem, 64 * 1024) != 0) {
        ddbm_error("cannot read %s (make one with `ddbm dev-keys --dir %s`)",
                   path, dir);
        dm_buf_free_malloc(&pem);
        return DDBM_ERROR;
    }

    bio = BIO_new_mem_buf(pem.data, (int) pem.len);
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    OPENSSL_cleanse(pem.data, pem.cap);
    dm_buf_free_malloc(&pem);
    ERR_clear_error();

    if (key == NULL || !EVP_PKEY_is_a(key, "RSA")) {
        ddbm_error("%s is not an RSA private key in PEM", path);
        EVP_PKEY_free(key);
        return DDBM_ERROR;
    }

    if (kid == NULL) {
        if (ddbm_jwt_find_kid(dir, key, kid_buf, sizeof(kid_buf)) != 0) {
            ddbm_error("cannot tell the key's kid");
            EVP_PKEY_free(key);
            return DDBM_ERROR;
        }
        kid = kid_buf;
    }

    if (handle != NULL) {
        rc = ddbm_jwt_sub_of_handle(opts, handle, sub_buf);
        if (rc != DDBM_OK) {
            EVP_PKEY_free(key);
            return rc;
        }
        sub = sub_buf;
    }

    if (username == NULL) {
        username = handle ? handle : sub;
    }

    if (dm_uuid_v4(jti) != 0 || dm_uuid_v4(origin) != 0
        || dm_uuid_v4(event) != 0)
    {
        ddbm_error("cannot make random ids");
        EVP_PKEY_free(key);
        return DDBM_ERROR;
    }

    /* the members in Cognito's order */
    header = json_pack("{s:s, s:s}", "kid", kid, "alg", "RS256");

    if (strcmp(token_use, "access") == 0) {
        claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I,"
                           " s:I, s:s, s:s}",
                           "sub", sub, "iss", issuer, "client_id", client_id,
                           "origin_jti", origin, "event_id", event,
                           "token_use", token_use,
                           "scope", "aws.cognito.signin.user.admin",
                           "auth_time", (json_int_t) iat,
                           "exp", (json_int_t) exp, "iat", (json_int_t) iat,
                           "jti", jti, "username", username);
    } else {
        /* an ID token: the same pool and client, for the wrong purpose */
        claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I,"
                           " s:I, s:s}",
                           "sub", sub, "iss", issuer, "cognito:username",
                           username, "origin_jti", origin, "aud", client_id,
                           "event_id", event, "token_use", token_use,
                           "auth_time", (json_int_t) iat,
                           "exp", (json_int_t) exp, "iat", (json_int_t) iat,
                           "jti", jti);
    }

    if (claims != NULL && nbf_s != NULL) {
        json_object_set_new(claims, "nbf", json_integer((json_int_t) nbf));
    }

    for (i = 0; claims != NULL && i < omit.n; i++) {
        json_object_del(claims, omit.claim[i]);
    }

    header_text = header ? json_dumps(header, JSON_COMPACT
                                              | JSON_PRESERVE_ORDER) : NULL;
    claims_text = claims ? json_dumps(claims, JSON_COMPACT
                                              | JSON_PRESERVE_ORDER) : NULL;

    dm_buf_init_malloc(&token);
    rc = DDBM_ERROR;

    if (header_text == NULL || claims_text == NULL) {
        ddbm_error("cannot encode the token");

    } else if (dm_jwt_sign_rs256(key, header_text, strlen(header_text),
                                 claims_text, strlen(claims_text), &token)
               != 0)
    {
        ddbm_error("cannot sign the token");

    } else {
        printf("%s\n", dm_buf_cstr(&token));
        rc = DDBM_OK;
    }

    free(header_text);
    free(claims_text);
    json_decref(header);
    json_decref(claims);
    dm_buf_free_malloc(&token);
    EVP_PKEY_free(key);
    ERR_clear_error();

    return rc;
}
