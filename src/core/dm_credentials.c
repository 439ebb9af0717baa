/*
 * The AWS shared credentials and config files; see dm_credentials.h.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <openssl/crypto.h>

#include "dm_credentials.h"


enum {
    DM_KEY_ACCESS_KEY = 0,
    DM_KEY_SECRET_KEY,
    DM_KEY_SESSION_TOKEN,
    DM_KEY_SECURITY_TOKEN,
    DM_KEY_REGION,
    DM_KEY_ROLE_ARN,
    DM_KEY_SSO,
    DM_KEY_PROCESS,
    DM_KEY_N
};


static const char  *dm_cred_keys[DM_KEY_N] = {
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",
    "region",
    "role_arn",
    NULL,                       /* any sso_* key */
    "credential_process"
};


static int
dm_cred_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}


/* p..e without blanks at either end */
static void
dm_cred_trim(const char **p, const char **e)
{
    while (*p < *e && dm_cred_blank(**p)) {
        (*p)++;
    }

    while (*e > *p && dm_cred_blank((*e)[-1])) {
        (*e)--;
    }
}


static int
dm_cred_is(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && strncasecmp(p, s, n) == 0;
}


/* does the section name p..e (trimmed) name the profile? */
static int
dm_cred_section(const char *p, const char *e, dm_aws_file_e kind,
    const char *profile)
{
    size_t  n;

    n = strlen(profile);

    if (kind == DM_AWS_CONFIG_FILE) {
        if ((size_t) (e - p) > 7 && strncmp(p, "profile", 7) == 0
            && (p[7] == ' ' || p[7] == '\t'))
        {
            for (p += 7; p < e && (*p == ' ' || *p == '\t'); p++) {
                /* void */
            }

        } else if (strcmp(profile, "default") != 0) {
            /* only the default profile may go without "profile " */
            return 0;
        }
    }

    return (size_t) (e - p) == n && memcmp(p, profile, n) == 0;
}


static int
dm_cred_set(char **slot, const char *p, const char *e)
{
    char    *s;
    size_t   n;

    n = (size_t) (e - p);

    s = malloc(n + 1);
    if (s == NULL) {
        errno = ENOMEM;
        return -1;
    }

    memcpy(s, p, n);
    s[n] = '\0';

    if (*slot != NULL) {
        OPENSSL_cleanse(*slot, strlen(*slot));
        free(*slot);
    }

    *slot = s;

    return 0;
}


static void
dm_cred_free(char **slot)
{
    if (*slot != NULL) {
        OPENSSL_cleanse(*slot, strlen(*slot));
        free(*slot);
        *slot = NULL;
    }
}


int
dm_aws_profile_parse(const char *buf, size_t len, dm_aws_file_e kind,
    const char *profile, dm_aws_profile_t *out)
{
    int          k, in_section, had_key;
    char        *v[DM_KEY_N];
    size_t       i;
    const char  *p, *end, *line, *eol, *e, *kp, *ke, *vp, *ve;

    memset(out, 0, sizeof(dm_aws_profile_t));
    memset(v, 0, sizeof(v));

    if (profile == NULL || (buf == NULL && len != 0)) {
        errno = EINVAL;
        return -1;
    }

    /* a NUL would cut a value short without a word */
    if (len && memchr(buf, '\0', len) != NULL) {
        errno = EINVAL;
        return -1;
    }

    p = buf;
    end = buf + len;

    /* a UTF-8 byte order mark, as some editors write */
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        p += 3;
    }

    in_section = 0;
    had_key = 0;

    for (line = p; line < end; line = eol + 1) {
        eol = memchr(line, '\n', (size_t) (end - line));
        if (eol == NULL) {
            eol = end;
        }

        /* indented after a key: a nested value's line (s3 = ...) */
        if ((*line == ' ' || *line == '\t') && had_key) {
            continue;
        }

        p = line;
        e = eol;
        dm_cred_trim(&p, &e);

        if (p == e || *p == '#' || *p == ';') {
            continue;
        }

        if (*p == '[') {
            had_key = 0;

            /* the name runs to the last ']', as Python's configparser */
            for (ke = e; ke > p + 1 && ke[-1] != ']'; ke--) { /* void */ }

            if (ke == p + 1) {
                in_section = 0;
                continue;
            }

            kp = p + 1;
            ke--;
            dm_cred_trim(&kp, &ke);

            in_section = dm_cred_section(kp, ke, kind, profile);
            out->found |= in_section;
            continue;
        }

        had_key = 1;

        if (!in_section) {
            continue;
        }

        for (vp = p; vp < e && *vp != '=' && *vp != ':'; vp++) {
            /* void */
        }

        if (vp == e) {
            continue;
        }

        kp = p;
        ke = vp;
        dm_cred_trim(&kp, &ke);

        vp++;
        ve = e;
        dm_cred_trim(&vp, &ve);

        for (k = 0; k < DM_KEY_N; k++) {
            if (dm_cred_keys[k] != NULL
                && dm_cred_is(kp, (size_t) (ke - kp), dm_cred_keys[k]))
            {
                break;
            }
        }

        if (k == DM_KEY_N && ke - kp > 4 && strncasecmp(kp, "sso_", 4) == 0) {
            k = DM_KEY_SSO;
        }

        if (k == DM_KEY_N) {
            continue;
        }

        if (dm_cred_set(&v[k], vp, ve) != 0) {
            for (i = 0; i < DM_KEY_N; i++) {
                dm_cred_free(&v[i]);
            }
            return -1;
        }
    }

    /* botocore reads the older name only when the newer one is absent */
    if (v[DM_KEY_SESSION_TOKEN] == NULL) {
        v[DM_KEY_SESSION_TOKEN] = v[DM_KEY_SECURITY_TOKEN];
        v[DM_KEY_SECURITY_TOKEN] = NULL;
    }

    dm_cred_free(&v[DM_KEY_SECURITY_TOKEN]);

    out->access_key_id = v[DM_KEY_ACCESS_KEY];
    out->secret_access_key = v[DM_KEY_SECRET_KEY];
    out->session_token = v[DM_KEY_SESSION_TOKEN];
    out->region = v[DM_KEY_REGION];
    out->role_arn = v[DM_KEY_ROLE_ARN];
    out->sso = v[DM_KEY_SSO];
    out->credential_process = v[DM_KEY_PROCESS];

    return 0;
}


int
dm_aws_profile_read(const char *path, dm_aws_file_e kind,
    const char *profile, dm_aws_profile_t *out)
{
    int           rc, err;
    FILE         *f;
    char         *buf;
    size_t        n, cap;
    struct stat   st;

    memset(out, 0, sizeof(dm_aws_profile_t));

    f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }

    if (fstat(fileno(f), &st) != 0) {
        err = errno;
        fclose(f);
        errno = err;
        return -1;
    }

    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        errno = EISDIR;
        return -1;
    }

    /* the size may change under us: read to EOF, within the limit */
    cap = st.st_size > 0 && st.st_size < DM_AWS_FILE_MAX
          ? (size_t) st.st_size + 1 : 4096;

    buf = malloc(cap);
    if (buf == NULL) {
        fclose(f);
        errno = ENOMEM;
        return -1;
    }

    n = 0;
    rc = 0;

    for ( ;; ) {
        n += fread(buf + n, 1, cap - n, f);

        if (n < cap) {
            break;
        }

        if (cap > DM_AWS_FILE_MAX) {
            rc = EFBIG;
            break;
        }

        {
            char  *nb;

            /* grow by copying, so that no stale copy is left unwiped */
            nb = malloc(cap * 2);
            if (nb == NULL) {
                rc = ENOMEM;
                break;
            }

            memcpy(nb, buf, n);
            OPENSSL_cleanse(buf, cap);
            free(buf);
            buf = nb;
            cap *= 2;
        }
    }

    if (rc == 0 && ferror(f)) {
        rc = EIO;
    }

    fclose(f);

    if (rc == 0) {
        if (dm_aws_profile_parse(buf, n, kind, profile, out) != 0) {
            rc = errno;
        }
    }

    OPENSSL_cleanse(buf, cap);
    free(buf);

    if (rc != 0) {
        errno = rc;
        return -1;
    }

    return 0;
}


void
dm_aws_profile_free(dm_aws_profile_t *out)
{
    dm_cred_free(&out->access_key_id);
    dm_cred_free(&out->secret_access_key);
    dm_cred_free(&out->session_token);
    dm_cred_free(&out->region);
    dm_cred_free(&out->role_arn);
    dm_cred_free(&out->sso);
    dm_cred_free(&out->credential_process);
}
