/*
 * The region and the credentials, found the way the AWS CLI and boto3 find
 * them: the environment, then the shared credentials and config files for
 * the profile.  Roles, SSO and credential_process are not implemented: a
 * profile that needs them is refused with a hint instead of being skipped
 * silently.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ddbm.h"
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


static int
ddbm_region_valid(const char *r)
{
    size_t  n;

    n = strlen(r);
    if (n == 0 || n > 63) {
        return 0;
    }

    for ( /* void */ ; *r; r++) {
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9')
              || *r == '-'))
        {
            return 0;
        }
    }

    return 1;
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

    if (!ddbm_region_valid(r) || strlen(r) >= size) {
        ddbm_usage_error("invalid region \"%s\"", r);
        dm_aws_profile_free(&sec);
        return -1;
    }

    strcpy(out, r);
    dm_aws_profile_free(&sec);

    return 0;
}


static int
ddbm_creds_set(ddbm_credentials_t *creds, const char *id, const char *secret,
    const char *token, const char *source)
{
    creds->access_key_id = strdup(id);
    creds->secret_access_key = strdup(secret);
    creds->session_token = (token != NULL && *token != '\0')
                           ? strdup(token) : NULL;
    creds->source = source;

    if (creds->access_key_id == NULL || creds->secret_access_key == NULL
        || (token != NULL && *token != '\0' && creds->session_token == NULL))
    {
        ddbm_credentials_free(creds);
        ddbm_error("out of memory");
        return -1;
    }

    return 0;
}


/* a profile that exists but holds no keys: say why we cannot use it */
static int
ddbm_profile_unsupported(const char *profile, dm_aws_profile_t *sec)
{
    const char  *what;

    if (sec->role_arn != NULL) {
        what = "role_arn (assume role)";

    } else if (sec->sso != NULL) {
        what = "SSO";

    } else if (sec->credential_process != NULL) {
        what = "credential_process";

    } else {
        return 0;
    }

    ddbm_error("profile \"%s\" uses %s, which ddbm does not implement; "
               "export static credentials instead, e.g. "
               "eval \"$(aws configure export-credentials --profile %s "
               "--format env)\"", profile, what, profile);

    return -1;
}


int
ddbm_resolve_credentials(const ddbm_options_t *opts, int allow_dummy,
    ddbm_credentials_t *creds)
{
    int                  explicit, rc;
    char                 path[1024];
    const char          *id, *secret, *profile;
    dm_aws_profile_t   cred_sec, conf_sec;

    memset(creds, 0, sizeof(*creds));

    /* an explicit --profile wins over the environment's keys */
    if (opts->profile == NULL) {
        id = getenv("AWS_ACCESS_KEY_ID");
        secret = getenv("AWS_SECRET_ACCESS_KEY");

        if (id != NULL && *id != '\0' && secret != NULL && *secret != '\0') {
            return ddbm_creds_set(creds, id, secret,
                                  getenv("AWS_SESSION_TOKEN"),
                                  "environment");
        }
    }

    profile = ddbm_profile(opts, &explicit);

    memset(&cred_sec, 0, sizeof(cred_sec));
    memset(&conf_sec, 0, sizeof(conf_sec));

    if (ddbm_home_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", path,
                       sizeof(path))
        == 0)
    {
        if (ddbm_ini_read(path, DM_AWS_CREDENTIALS_FILE, profile, &cred_sec)
            != 0)
        {
            return -1;
        }
    }

    if (ddbm_config_section(profile, &conf_sec) != 0) {
        dm_aws_profile_free(&cred_sec);
        return -1;
    }

    rc = -1;

    if (cred_sec.access_key_id != NULL
        && cred_sec.secret_access_key != NULL)
    {
        rc = ddbm_creds_set(creds, cred_sec.access_key_id,
                            cred_sec.secret_access_key,
                            cred_sec.session_token,
                            "shared credentials file");

    } else if (conf_sec.access_key_id != NULL
               && conf_sec.secret_access_key != NULL)
    {
        /* the AWS CLI also takes keys written into the config file */
        rc = ddbm_creds_set(creds, conf_sec.access_key_id,
                            conf_sec.secret_access_key,
                            conf_sec.session_token,
                            "config file");

    } else if (ddbm_profile_unsupported(profile, &cred_sec) != 0
               || ddbm_profile_unsupported(profile, &conf_sec) != 0)
    {
        rc = -1;

    } else if (explicit && !cred_sec.found && !conf_sec.found) {
        ddbm_error("profile \"%s\" not found in the shared credentials "
                   "or config file", profile);

    } else if (allow_dummy) {
        /* DynamoDB Local accepts any signature */
        rc = ddbm_creds_set(creds, "local", "local", NULL,
                            "dummy credentials for a local endpoint");

    } else {
        ddbm_error("no AWS credentials: set AWS_ACCESS_KEY_ID and "
                   "AWS_SECRET_ACCESS_KEY, or add profile \"%s\" to the "
                   "shared credentials file", profile);
    }

    dm_aws_profile_free(&cred_sec);
    dm_aws_profile_free(&conf_sec);

    return rc;
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
