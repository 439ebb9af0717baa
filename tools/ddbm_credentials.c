/*
 * The region and the credentials, found the way the AWS CLI and boto3 find
 * them: the environment, then the shared credentials and config files for
 * the profile.  Roles, SSO and credential_process are not implemented: a
 * profile that needs them is refused with a hint instead of being skipped
 * silently.
 */

#include <strings.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ddbm.h"


#define DDBM_INI_LINE  4096

/* the keys of a profile section we look at */
enum {
    DDBM_INI_ACCESS_KEY = 0,
    DDBM_INI_SECRET_KEY,
    DDBM_INI_SESSION_TOKEN,
    DDBM_INI_REGION,
    DDBM_INI_ROLE_ARN,
    DDBM_INI_SSO,
    DDBM_INI_PROCESS,
    DDBM_INI_NKEYS
};

static const char  *ddbm_ini_keys[DDBM_INI_NKEYS] = {
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "region",
    "role_arn",
    "sso_start_url",
    "credential_process"
};

typedef struct {
    int     found;                  /* the section exists */
    char   *value[DDBM_INI_NKEYS];
} ddbm_ini_section_t;


static char *
ddbm_trim(char *s)
{
    char  *e;

    while (*s == ' ' || *s == '\t') {
        s++;
    }

    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'
                     || e[-1] == '\n'))
    {
        *--e = '\0';
    }

    return s;
}


static void
ddbm_ini_free(ddbm_ini_section_t *sec)
{
    int  k;

    for (k = 0; k < DDBM_INI_NKEYS; k++) {
        if (sec->value[k] != NULL) {
            OPENSSL_cleanse(sec->value[k], strlen(sec->value[k]));
            free(sec->value[k]);
            sec->value[k] = NULL;
        }
    }
}


/*
 * Reads the keys of one section ("[name]"; name2 is an alternative
 * spelling or NULL).  A missing file is not an error: 0 with found = 0.
 */
static int
ddbm_ini_read(const char *path, const char *name, const char *name2,
    ddbm_ini_section_t *sec)
{
    int    k, in_section;
    FILE  *f;
    char   line[DDBM_INI_LINE], *p, *e, *key, *val;

    memset(sec, 0, sizeof(*sec));

    f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return 0;
        }

        ddbm_error("cannot read %s: %s", path, strerror(errno));
        return -1;
    }

    in_section = 0;

    while (fgets(line, sizeof(line), f) != NULL) {

        /* indented lines continue a nested value (s3 = ...): not ours */
        if (line[0] == ' ' || line[0] == '\t') {
            continue;
        }

        p = ddbm_trim(line);

        if (*p == '\0' || *p == '#' || *p == ';') {
            continue;
        }

        if (*p == '[') {
            e = strchr(p, ']');
            if (e == NULL) {
                in_section = 0;
                continue;
            }

            *e = '\0';
            p = ddbm_trim(p + 1);

            in_section = (strcmp(p, name) == 0
                          || (name2 != NULL && strcmp(p, name2) == 0));
            if (in_section) {
                sec->found = 1;
            }

            continue;
        }

        if (!in_section) {
            continue;
        }

        e = strchr(p, '=');
        if (e == NULL) {
            continue;
        }

        *e = '\0';
        key = ddbm_trim(p);
        val = ddbm_trim(e + 1);

        for (k = 0; k < DDBM_INI_NKEYS; k++) {
            if (strcasecmp(key, ddbm_ini_keys[k]) == 0) {
                break;
            }
        }

        /* any sso_* key (sso_session, sso_account_id...) means SSO */
        if (k == DDBM_INI_NKEYS && strncasecmp(key, "sso_", 4) == 0) {
            k = DDBM_INI_SSO;
        }

        if (k == DDBM_INI_NKEYS) {
            continue;
        }

        free(sec->value[k]);
        sec->value[k] = strdup(val);
        if (sec->value[k] == NULL) {
            fclose(f);
            OPENSSL_cleanse(line, sizeof(line));
            ddbm_ini_free(sec);
            ddbm_error("out of memory");
            return -1;
        }
    }

    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);

    return 0;
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
ddbm_config_section(const char *profile, ddbm_ini_section_t *sec)
{
    char  path[1024], name[300];

    memset(sec, 0, sizeof(*sec));

    if (ddbm_home_path("AWS_CONFIG_FILE", "config", path, sizeof(path))
        != 0)
    {
        return 0;
    }

    snprintf(name, sizeof(name), "profile %s", profile);

    return ddbm_ini_read(path, name,
                         strcmp(profile, "default") == 0 ? "default" : NULL,
                         sec);
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
    ddbm_ini_section_t   sec;

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

        r = sec.value[DDBM_INI_REGION];
    }

    if (r == NULL || *r == '\0') {
        r = DDBM_DEFAULT_REGION;
    }

    if (!ddbm_region_valid(r) || strlen(r) >= size) {
        ddbm_usage_error("invalid region \"%s\"", r);
        ddbm_ini_free(&sec);
        return -1;
    }

    strcpy(out, r);
    ddbm_ini_free(&sec);

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
ddbm_profile_unsupported(const char *profile, ddbm_ini_section_t *sec)
{
    const char  *what;

    if (sec->value[DDBM_INI_ROLE_ARN] != NULL) {
        what = "role_arn (assume role)";

    } else if (sec->value[DDBM_INI_SSO] != NULL) {
        what = "SSO";

    } else if (sec->value[DDBM_INI_PROCESS] != NULL) {
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
    ddbm_ini_section_t   cred_sec, conf_sec;

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
        if (ddbm_ini_read(path, profile, NULL, &cred_sec) != 0) {
            return -1;
        }
    }

    if (ddbm_config_section(profile, &conf_sec) != 0) {
        ddbm_ini_free(&cred_sec);
        return -1;
    }

    rc = -1;

    if (cred_sec.value[DDBM_INI_ACCESS_KEY] != NULL
        && cred_sec.value[DDBM_INI_SECRET_KEY] != NULL)
    {
        rc = ddbm_creds_set(creds, cred_sec.value[DDBM_INI_ACCESS_KEY],
                            cred_sec.value[DDBM_INI_SECRET_KEY],
                            cred_sec.value[DDBM_INI_SESSION_TOKEN],
                            "shared credentials file");

    } else if (conf_sec.value[DDBM_INI_ACCESS_KEY] != NULL
               && conf_sec.value[DDBM_INI_SECRET_KEY] != NULL)
    {
        /* the AWS CLI also takes keys written into the config file */
        rc = ddbm_creds_set(creds, conf_sec.value[DDBM_INI_ACCESS_KEY],
                            conf_sec.value[DDBM_INI_SECRET_KEY],
                            conf_sec.value[DDBM_INI_SESSION_TOKEN],
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

    ddbm_ini_free(&cred_sec);
    ddbm_ini_free(&conf_sec);

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
