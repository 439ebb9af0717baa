/*
 * The region and the credentials, found the way the AWS CLI and boto3 find
 * them.  The region: --region, the environment, the profile's.  The
 * credentials: the SDKs' default chain in the shared core (environment,
 * web identity, profile, container, instance metadata; dm_credchain.h).
 * Roles, SSO and credential_process profiles are not implemented: a
 * profile that needs them is refused with a hint instead of being skipped
 * silently.  With nothing found, a local endpoint gets dummy keys.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "ddbm.h"
#include "dm_credchain.h"
#include "dm_credentials.h"


/*
 * Reads one profile of a file (src/core/dm_credentials.c, the parser the
 * module uses too).  A missing file is not an error: 0 with found = 0.
 */
static int
ddbm_ini_read(const char *path, dm_aws_file_e kind, const char *profile,
    dm_aws_profile_t *sec)
{
    if (dm_aws_profile_read(path, kind, profile, sec) == 0) {
        return 0;
    }

    if (errno == ENOENT || errno == ENOTDIR) {
        memset(sec, 0, sizeof(*sec));
        return 0;
    }

    ddbm_error("cannot read %s: %s", path, strerror(errno));
    dm_aws_profile_free(sec);

    return -1;
}


static const char *
ddbm_profile(const ddbm_options_t *opts, int *explicit)
{
    const char  *p;

    if (opts->profile != NULL) {
        *explicit = 1;
        return opts->profile;
    }

    p = getenv("AWS_PROFILE");
    if (p != NULL && *p != '\0') {
        *explicit = 1;
        return p;
    }

    *explicit = 0;
    return "default";
}


static int
ddbm_home_path(const char *env, const char *file, char *out, size_t size)
{
    const char  *v;

    v = getenv(env);
    if (v != NULL && *v != '\0') {
        return snprintf(out, size, "%s", v) < (int) size ? 0 : -1;
    }

    v = getenv("HOME");
    if (v == NULL || *v == '\0') {
        return -1;
    }

    return snprintf(out, size, "%s/.aws/%s", v, file) < (int) size ? 0 : -1;
}


/* the config file names profiles "[profile P]", except "[default]" */
static int
ddbm_config_section(const char *profile, dm_aws_profile_t *sec)
{
    char  path[1024];

    memset(sec, 0, sizeof(*sec));

    if (ddbm_home_path("AWS_CONFIG_FILE", "config", path, sizeof(path))
        != 0)
    {
        return 0;
    }

    return ddbm_ini_read(path, DM_AWS_CONFIG_FILE, profile, sec);
}


int
ddbm_resolve_region(const ddbm_options_t *opts, char *out, size_t size)
{
    int                  explicit;
    const char          *r, *profile;
    dm_aws_profile_t   sec;

    r = opts->region;

    if (r == NULL || *r == '\0') {
        r = getenv("AWS_REGION");
    }

    if (r == NULL || *r == '\0') {
        r = getenv("AWS_DEFAULT_REGION");
    }

    memset(&sec, 0, sizeof(sec));

    if (r == NULL || *r == '\0') {
        profile = ddbm_profile(opts, &explicit);

        if (ddbm_config_section(profile, &sec) != 0) {
            return -1;
        }

        r = sec.region;
    }

    if (r == NULL || *r == '\0') {
        r = DDBM_DEFAULT_REGION;
    }

    if (!dm_aws_region_valid(r) || strlen(r) >= size) {
        ddbm_usage_error("invalid region \"%s\"", r);
        dm_aws_profile_free(&sec);
        return -1;
    }

    strcpy(out, r);
    dm_aws_profile_free(&sec);

    return 0;
}


/*
 * The environment as the chain sees it: the process's, except that for a
 * local endpoint the instance metadata service is never asked (it could
 * only add a second of timeouts before the dummy keys).
 */
static const char *
ddbm_getenv(void *data, const char *name)
{
    int  *no_imds;

    no_imds = data;

    if (*no_imds && strcmp(name, "AWS_EC2_METADATA_DISABLED") == 0) {
        return "true";
    }

    return dm_getenv_process(NULL, name);
}


static int
ddbm_creds_set(ddbm_credentials_t *creds, const char *id, const char *secret,
    const char *token, const char *source)
{
    creds->access_key_id = strdup(id);
    creds->secret_access_key = strdup(secret);
    creds->session_token = (token != NULL && *token != '\0')
                           ? strdup(token) : NULL;
    (void) snprintf(creds->source, sizeof(creds->source), "%s", source);

    if (creds->access_key_id == NULL || creds->secret_access_key == NULL
        || (token != NULL && *token != '\0' && creds->session_token == NULL))
    {
        ddbm_credentials_free(creds);
        ddbm_error("out of memory");
        return -1;
    }

    return 0;
}


int
ddbm_resolve_credentials(const ddbm_options_t *opts, const char *region,
    int allow_dummy, ddbm_credentials_t *creds)
{
    int               rc, explicit, no_imds;
    char              err[DM_CREDCHAIN_ERR_MAX];
    const char       *profile, *v1;
    dm_creds_t        found;
    dm_credchain_t    chain;

    memset(creds, 0, sizeof(*creds));

    no_imds = allow_dummy;

    /* IMDSv1 after a refused token PUT, as the AWS CLI, unless disabled */
    v1 = getenv("AWS_EC2_METADATA_V1_DISABLED");

    memset(&chain, 0, sizeof(chain));
    chain.http = dm_http_curl_exchange;
    chain.getenv = ddbm_getenv;
    chain.data = &no_imds;
    chain.profile = opts->profile;
    chain.region = region;
    chain.imds_v1_fallback = (v1 == NULL || strcasecmp(v1, "true") != 0);

    if (dm_credchain_resolve(&chain, &found, err, sizeof(err)) == 0) {
        rc = ddbm_creds_set(creds, found.access_key_id,
                            found.secret_access_key, found.session_token,
                            found.source);
        dm_creds_wipe(&found);
        return rc;
    }

    if (strcmp(err, DM_CREDCHAIN_ERR_NONE) != 0) {
        if (strncmp(err, DM_CREDCHAIN_ERR_NONE,
                    sizeof(DM_CREDCHAIN_ERR_NONE) - 1)
            == 0)
        {
            ddbm_error("%s", err);

        } else {
            ddbm_error("no AWS credentials: %s", err);
        }

        if (strstr(err, "which is not implemented") != NULL) {
            profile = ddbm_profile(opts, &explicit);
            ddbm_error("export static credentials instead, e.g. "
                       "eval \"$(aws configure export-credentials "
                       "--profile %s --format env)\"", profile);
        }

        return -1;
    }

    if (allow_dummy) {
        /* DynamoDB Local accepts any signature */
        return ddbm_creds_set(creds, "local", "local", NULL,
                              "dummy credentials for a local endpoint");
    }

    profile = ddbm_profile(opts, &explicit);

    ddbm_error("no AWS credentials: set AWS_ACCESS_KEY_ID and "
               "AWS_SECRET_ACCESS_KEY, or add profile \"%s\" to the "
               "shared credentials file", profile);

    return -1;
}


void
ddbm_credentials_free(ddbm_credentials_t *creds)
{
    char  **s[3];
    int     i;

    s[0] = &creds->access_key_id;
    s[1] = &creds->secret_access_key;
    s[2] = &creds->session_token;

    for (i = 0; i < 3; i++) {
        if (*s[i] != NULL) {
            OPENSSL_cleanse(*s[i], strlen(*s[i]));
            free(*s[i]);
            *s[i] = NULL;
        }
    }
}
