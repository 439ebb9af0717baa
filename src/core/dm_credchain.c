/*
 * The AWS SDKs' default credential chain; see dm_credchain.h.
 *
 * Every source returns DM_CC_NEXT when it is not configured (the chain
 * goes on), 0 with the credentials, or -1 with a reason (the chain stops).
 * Answers and files that hold secrets are wiped before they are freed.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "dm_credchain.h"
#include "dm_credentials.h"


#define DM_CC_NEXT              1

#define DM_CC_TIMEOUT_MS        2000
#define DM_CC_IMDS_TIMEOUT_MS   1000

#define DM_CC_TOKEN_FILE_MAX    (64 * 1024)     /* a web identity JWT */
#define DM_CC_AUTH_MAX          (16 * 1024)     /* a container token */
#define DM_CC_IMDS_TOKEN_MAX    1024
#define DM_CC_ROLE_MAX          128
#define DM_CC_URL_MAX           2048
#define DM_CC_NAME_MAX          64              /* profile, session */

#define DM_CC_IMDS_DEFAULT      "http://169.254.169.254"
#define DM_CC_IMDS_CREDS        "/latest/meta-data/iam/security-credentials/"
#define DM_CC_CONTAINER_HOST    "http://169.254.170.2"


static void
dm_cc_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


static void
dm_cc_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(ap, fmt);
    (void) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


/* strerror(3) is not thread-safe, and the module calls us from threads */
static const char *
dm_cc_errno(int e)
{
    switch (e) {
    case EACCES:
        return "permission denied";
    case ENOENT:
        return "no such file";
    case ENOTDIR:
        return "not a directory";
    case EISDIR:
        return "is a directory";
    case EFBIG:
        return "file too large";
    case ENOMEM:
        return "out of memory";
    case EINVAL:
        return "invalid contents";
    case ELOOP:
        return "too many symbolic links";
    default:
        return "read error";
    }
}


static const char *
dm_cc_env(const dm_credchain_t *chain, const char *name)
{
    const char  *v;

    if (chain->getenv == NULL) {
        return NULL;
    }

    v = chain->getenv(chain->data, name);

    return (v != NULL && *v != '\0') ? v : NULL;
}


static int
dm_cc_has_ctl(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}


static void
dm_cc_buf_wipe(dm_buf_t *b)
{
    if (b->data != NULL) {
        OPENSSL_cleanse(b->data, b->cap);
    }

    dm_buf_free_malloc(b);
    b->failed = 0;
}


static void
dm_cc_free(char *s, size_t n)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, n);
        free(s);
    }
}


/*
 * The three strings into out, each checked: refused when empty (the key
 * and the secret), too long, or holding a control character (they end up
 * in HTTP headers); the key id is letters and digits.
 */
static int
dm_cc_fill(dm_creds_t *out, const char *id, size_t idn, const char *secret,
    size_t sn, const char *token, size_t tn, char *err, size_t errlen)
{
    size_t  i;

    if (idn == 0 || sn == 0) {
        dm_cc_err(err, errlen, "empty %s",
                  idn == 0 ? "access key id" : "secret access key");
        return -1;
    }

    if (idn > DM_CREDS_ID_MAX) {
        dm_cc_err(err, errlen, "access key id longer than %d bytes",
                  DM_CREDS_ID_MAX);
        return -1;
    }

    for (i = 0; i < idn; i++) {
        if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z')
              || (id[i] >= '0' && id[i] <= '9')))
        {
            dm_cc_err(err, errlen,
                      "access key id is not only letters and digits");
            return -1;
        }
    }

    if (sn > DM_CREDS_SECRET_MAX || dm_cc_has_ctl(secret, sn)) {
        dm_cc_err(err, errlen, "secret access key %s",
                  sn > DM_CREDS_SECRET_MAX ? "too long"
                                           : "holds a control character");
        return -1;
    }

    if (tn > DM_CREDS_TOKEN_MAX || dm_cc_has_ctl(token, tn)) {
        dm_cc_err(err, errlen, "session token %s",
                  tn > DM_CREDS_TOKEN_MAX ? "too long"
                                          : "holds a control character");
        return -1;
    }

    memcpy(out->access_key_id, id, idn);
    out->access_key_id[idn] = '\0';
    memcpy(out->secret_access_key, secret, sn);
    out->secret_access_key[sn] = '\0';

    if (tn) {
        memcpy(out->session_token, token, tn);
    }
    out->session_token[tn] = '\0';

    return 0;
}


static void
dm_cc_source(dm_creds_t *out, const char *source)
{
    (void) snprintf(out->source, sizeof(out->source), "%s", source);
}


/*
 * A whole small file, NUL-terminated, malloc'd (free with dm_cc_free and
 * *cap).  Returns 0, or -1 with errno.
 */
static int
dm_cc_read_file(const char *path, size_t max, char **out, size_t *len,
    size_t *cap)
{
    int          fd, e;
    char        *buf;
    size_t       n, size;
    ssize_t      r;
    struct stat  st;

    *out = NULL;
    *len = 0;
    *cap = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -1;
    }

    if (fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return -1;
    }

    size = max + 2;

    buf = malloc(size);
    if (buf == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }

    n = 0;
    r = 0;

    /* one byte over the limit tells a file that is too large */
    while (n < max + 1) {
        r = read(fd, buf + n, max + 1 - n);

        if (r == -1 && errno == EINTR) {
            continue;
        }

        if (r <= 0) {
            break;
        }

        n += (size_t) r;
    }

    e = (r == -1) ? errno : 0;
    close(fd);

    if (e == 0 && n > max) {
        e = EFBIG;
    }

    if (e == 0 && memchr(buf, '\0', n) != NULL) {
        e = EINVAL;
    }

    if (e != 0) {
        dm_cc_free(buf, size);
        errno = e;
        return -1;
    }

    buf[n] = '\0';
    *out = buf;
    *len = n;
    *cap = size;

    return 0;
}


/* tokens in files may end with a line break an editor added */
static size_t
dm_cc_rtrim(const char *s, size_t n)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '
                 || s[n - 1] == '\t'))
    {
        n--;
    }

    return n;
}


/*
 * One exchange through the caller's callback.  Returns 0 with *status, or
 * -1 with a reason in why.
 */
static int
dm_cc_http(const dm_credchain_t *chain, const dm_http_request_t *req,
    long *status, dm_buf_t *body, char *why, size_t whylen)
{
    dm_http_request_t  r;

    why[0] = '\0';
    *status = 0;

    if (chain->http == NULL) {
        dm_cc_err(why, whylen, "no HTTP client");
        return -1;
    }

    /*
     * the SDKs trust AWS_CA_BUNDLE for STS and the container endpoint
     * (a TLS-inspecting proxy, a private CA); from the chain's
     * environment, which in the module is the master's
     */
    r = *req;
    r.ca_bundle = dm_cc_env(chain, "AWS_CA_BUNDLE");

    if (chain->http(chain->data, &r, status, body, why, whylen) != 0) {
        if (why[0] == '\0') {
            dm_cc_err(why, whylen, "connection failed");
        }
        return -1;
    }

    if (body->failed) {
        dm_cc_err(why, whylen, "out of memory");
        return -1;
    }

    return 0;
}


int
dm_aws_region_valid(const char *r)
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


/* profile names go into messages: one printable line, not too long */
static int
dm_cc_profile_name(const dm_credchain_t *chain, const char **name,
    int *explicit, char *err, size_t errlen)
{
    const char  *p;

    p = chain->profile;

    if (p == NULL || *p == '\0') {
        p = dm_cc_env(chain, "AWS_PROFILE");
    }

    *explicit = (p != NULL);

    if (p == NULL) {
        p = "default";
    }

    if (strlen(p) > DM_CC_NAME_MAX || dm_cc_has_ctl(p, strlen(p))) {
        dm_cc_err(err, errlen, "profile: the profile name is invalid");
        return -1;
    }

    *name = p;

    return 0;
}


/*
 * The file's path: the variable (*named = 1), else $HOME/.aws/<file>;
 * 1: no path
 */
static int
dm_cc_file_path(const dm_credchain_t *chain, const char *var,
    const char *file, char *path, size_t size, int *named)
{
    int          n;
    const char  *v;

    v = dm_cc_env(chain, var);
    *named = (v != NULL);

    if (v != NULL) {
        n = snprintf(path, size, "%s", v);

    } else {
        v = dm_cc_env(chain, "HOME");
        if (v == NULL) {
            return 1;
        }

        n = snprintf(path, size, "%s/.aws/%s", v, file);
    }

    return (n < 0 || (size_t) n >= size) ? -1 : 0;
}


/*
 * One profile of one file.  A file that is missing or cannot be named
 * (no HOME) is not an error: 0 with sec->found = 0.  Nor is a default
 * file (under HOME) that cannot be read: workers running as another user
 * than the master cannot look into its HOME (/root), and the SDKs go on
 * to the next source; that one is noted.  A named file that exists but
 * cannot be read is an error: somebody chose it.
 */
static int
dm_cc_profile_file(const dm_credchain_t *chain, const char *var,
    const char *file, dm_aws_file_e kind, const char *profile,
    dm_aws_profile_t *sec, char *err, size_t errlen)
{
    int   rc, named, e;
    char  path[1024];

    memset(sec, 0, sizeof(dm_aws_profile_t));

    rc = dm_cc_file_path(chain, var, file, path, sizeof(path), &named);

    if (rc == 1) {
        return 0;
    }

    if (rc == -1) {
        dm_cc_err(err, errlen, "profile: the path of the %s file is too long",
                  file);
        return -1;
    }

    if (dm_aws_profile_read(path, kind, profile, sec) == 0) {
        return 0;
    }

    e = errno;
    dm_aws_profile_free(sec);
    memset(sec, 0, sizeof(dm_aws_profile_t));

    if (e == ENOENT || e == ENOTDIR) {
        return 0;
    }

    if (!named && e == EACCES) {
        if (chain->note != NULL && chain->note_len && chain->note[0] == '\0')
        {
            dm_cc_err(chain->note, chain->note_len, "the default shared %s "
                      "file %s cannot be read (%s): taken as absent", file,
                      path, dm_cc_errno(e));
        }
        return 0;
    }

    dm_cc_err(err, errlen, "profile: cannot read %s%s%s%s: %s", path,
              named ? " (named by " : "", named ? var : "",
              named ? ")" : "", dm_cc_errno(e));

    return -1;
}


/* STS's region: the chain's, the environment's, the profile's, us-east-1 */
static int
dm_cc_region(const dm_credchain_t *chain, char *region, size_t size,
    char *err, size_t errlen)
{
    int                explicit;
    const char        *r, *profile;
    dm_aws_profile_t   sec;

    memset(&sec, 0, sizeof(sec));

    r = chain->region;

    if (r == NULL || *r == '\0') {
        r = dm_cc_env(chain, "AWS_REGION");
    }

    if (r == NULL) {
        r = dm_cc_env(chain, "AWS_DEFAULT_REGION");
    }

    if (r == NULL) {
        if (dm_cc_profile_name(chain, &profile, &explicit, err, errlen) != 0
            || dm_cc_profile_file(chain, "AWS_CONFIG_FILE", "config",
                                  DM_AWS_CONFIG_FILE, profile, &sec, err,
                                  errlen)
               != 0)
        {
            return -1;
        }

        r = sec.region;
    }

    if (r == NULL || *r == '\0') {
        r = "us-east-1";
    }

    if (!dm_aws_region_valid(r) || strlen(r) >= size) {
        dm_cc_err(err, errlen, "the region is invalid");
        dm_aws_profile_free(&sec);
        return -1;
    }

    strcpy(region, r);
    dm_aws_profile_free(&sec);

    return 0;
}


/* ---- 1. the environment ------------------------------------------------ */

static int
dm_cc_environment(const dm_credchain_t *chain, dm_creds_t *out, char *err,
    size_t errlen)
{
    char        why[DM_CREDCHAIN_ERR_MAX];
    const char  *id, *secret, *token, *exp;

    /* an explicitly chosen profile negates the environment, as botocore */
    if (chain->profile != NULL && chain->profile[0] != '\0') {
        return DM_CC_NEXT;
    }

    id = dm_cc_env(chain, "AWS_ACCESS_KEY_ID");
    secret = dm_cc_env(chain, "AWS_SECRET_ACCESS_KEY");

    if (id == NULL || secret == NULL) {
        return DM_CC_NEXT;
    }

    token = dm_cc_env(chain, "AWS_SESSION_TOKEN");
    if (token == NULL) {
        token = "";
    }

    if (dm_cc_fill(out, id, strlen(id), secret, strlen(secret), token,
                   strlen(token), why, sizeof(why))
        != 0)
    {
        dm_cc_err(err, errlen, "environment: %s", why);
        return -1;
    }

    exp = dm_cc_env(chain, "AWS_CREDENTIAL_EXPIRATION");

    if (exp != NULL
        && dm_creds_parse_time(exp, strlen(exp), &out->expiration) != 0)
    {
        dm_cc_err(err, errlen, "environment: AWS_CREDENTIAL_EXPIRATION is "
                  "not an ISO 8601 time");
        return -1;
    }

    dm_cc_source(out, "environment");

    return 0;
}


/* ---- 2. web identity ---------------------------------------------------- */

static int
dm_cc_form(dm_buf_t *b, const char *name, const char *v, size_t n)
{
    char                  e[3];
    size_t                i;
    unsigned char         c;
    static const char     hex[] = "0123456789ABCDEF";

    if (b->len) {
        dm_buf_append(b, "&", 1);
    }

    dm_buf_append_str(b, name);
    dm_buf_append(b, "=", 1);

    for (i = 0; i < n; i++) {
        c = (unsigned char) v[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~')
        {
            dm_buf_append(b, &v[i], 1);

        } else {
            e[0] = '%';
            e[1] = hex[c >> 4];
            e[2] = hex[c & 0x0f];
            dm_buf_append(b, e, 3);
        }
    }

    return b->failed ? -1 : 0;
}


/* STS's rules for RoleSessionName: [\w+=,.@-]{2,64} */
static int
dm_cc_session_name_valid(const char *s)
{
    size_t  n;

    n = strlen(s);
    if (n < 2 || n > DM_CC_NAME_MAX) {
        return 0;
    }

    for ( /* void */ ; *s; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')
              || (*s >= '0' && *s <= '9') || strchr("_+=,.@-", *s) != NULL))
        {
            return 0;
        }
    }

    return 1;
}


static int
dm_cc_web_identity(const dm_credchain_t *chain, dm_creds_t *out, char *err,
    size_t errlen)
{
    int                 rc;
    long                status;
    char               *tok, url[DM_CC_URL_MAX], region[64], session[80];
    char                why[DM_CREDCHAIN_ERR_MAX];
    size_t              tlen, tcap;
    dm_buf_t            form, body;
    const char         *file, *arn, *name, *ep;
    dm_http_request_t   req;

    file = dm_cc_env(chain, "AWS_WEB_IDENTITY_TOKEN_FILE");
    arn = dm_cc_env(chain, "AWS_ROLE_ARN");

    if (file == NULL && arn == NULL) {
        return DM_CC_NEXT;
    }

    if (file == NULL || arn == NULL) {
        dm_cc_err(err, errlen, "web identity: %s is set but %s is not",
                  file ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
                  file ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE");
        return -1;
    }

    if (strlen(arn) > 2048 || dm_cc_has_ctl(arn, strlen(arn))) {
        dm_cc_err(err, errlen, "web identity: AWS_ROLE_ARN is invalid");
        return -1;
    }

    name = dm_cc_env(chain, "AWS_ROLE_SESSION_NAME");

    if (name == NULL) {
        (void) snprintf(session, sizeof(session), "ddbm-%lld",
                        (long long) time(NULL));
        name = session;
    }

    if (!dm_cc_session_name_valid(name)) {
        dm_cc_err(err, errlen, "web identity: AWS_ROLE_SESSION_NAME is not "
                  "2 to 64 of letters, digits and _+=,.@-");
        return -1;
    }

    ep = dm_cc_env(chain, "AWS_ENDPOINT_URL_STS");

    if (ep != NULL) {
        if ((strncasecmp(ep, "http://", 7) != 0
             && strncasecmp(ep, "https://", 8) != 0)
            || strlen(ep) >= sizeof(url) || dm_cc_has_ctl(ep, strlen(ep))
            || strchr(ep, ' ') != NULL)
        {
            dm_cc_err(err, errlen, "web identity: AWS_ENDPOINT_URL_STS is "
                      "not an http(s) URL");
            return -1;
        }

        strcpy(url, ep);

    } else {
        if (dm_cc_region(chain, region, sizeof(region), why, sizeof(why))
            != 0)
        {
            dm_cc_err(err, errlen, "web identity: %s", why);
            return -1;
        }

        (void) snprintf(url, sizeof(url), "https://sts.%s.amazonaws.com%s/",
                        region, strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    }

    /* read at each call: the orchestrator rotates the file */
    if (dm_cc_read_file(file, DM_CC_TOKEN_FILE_MAX, &tok, &tlen, &tcap)
        != 0)
    {
        dm_cc_err(err, errlen, "web identity: cannot read the token file "
                  "%s: %s", file, dm_cc_errno(errno));
        return -1;
    }

    tlen = dm_cc_rtrim(tok, tlen);

    if (tlen == 0) {
        dm_cc_free(tok, tcap);
        dm_cc_err(err, errlen, "web identity: the token file %s is empty",
                  file);
        return -1;
    }

    dm_buf_init_malloc(&form);
    dm_buf_init_malloc(&body);

    rc = dm_cc_form(&form, "Action", "AssumeRoleWithWebIdentity", 25);
    rc |= dm_cc_form(&form, "Version", "2011-06-15", 10);
    rc |= dm_cc_form(&form, "RoleArn", arn, strlen(arn));
    rc |= dm_cc_form(&form, "RoleSessionName", name, strlen(name));
    rc |= dm_cc_form(&form, "WebIdentityToken", tok, tlen);

    dm_cc_free(tok, tcap);

    if (rc != 0) {
        dm_cc_err(err, errlen, "web identity: out of memory");
        goto failed;
    }

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.headers[0] = "Content-Type: application/x-www-form-urlencoded; "
                     "charset=utf-8";
    req.headers[1] = "Accept: text/xml";
    req.body = (const char *) form.data;
    req.body_len = form.len;
    req.timeout_ms = chain->timeout_ms ? chain->timeout_ms : DM_CC_TIMEOUT_MS;

    if (dm_cc_http(chain, &req, &status, &body, why, sizeof(why)) != 0) {
        dm_cc_err(err, errlen, "web identity: STS: %s", why);
        goto failed;
    }

    if (dm_creds_parse_sts_xml((const char *) body.data, body.len, out, why,
                               sizeof(why))
        != 0)
    {
        dm_cc_err(err, errlen, "web identity: STS answered HTTP %ld: %s",
                  status, why);
        goto failed;
    }

    if (status != 200) {
        dm_cc_err(err, errlen, "web identity: STS answered HTTP %ld",
                  status);
        goto failed;
    }

    dm_cc_buf_wipe(&form);
    dm_cc_buf_wipe(&body);
    dm_cc_source(out, "web-identity");

    return 0;

failed:

    dm_cc_buf_wipe(&form);
    dm_cc_buf_wipe(&body);

    return -1;
}


/* ---- 3. the shared credentials and config files ------------------------ */

static int
dm_cc_profile_unsupported(const char *profile, const dm_aws_profile_t *sec,
    char *err, size_t errlen)
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

    dm_cc_err(err, errlen, "profile: \"%s\" uses %s, which is not "
              "implemented", profile, what);

    return -1;
}


static int
dm_cc_profile_keys(const char *profile, const dm_aws_profile_t *sec,
    dm_creds_t *out, char *err, size_t errlen)
{
    char        why[DM_CREDCHAIN_ERR_MAX];
    const char  *token;

    token = sec->session_token ? sec->session_token : "";

    if (dm_cc_fill(out, sec->access_key_id, strlen(sec->access_key_id),
                   sec->secret_access_key, strlen(sec->secret_access_key),
                   token, strlen(token), why, sizeof(why))
        != 0)
    {
        dm_cc_err(err, errlen, "profile: \"%s\": %s", profile, why);
        return -1;
    }

    dm_cc_source(out, "profile");

    return 0;
}


static int
dm_cc_profile(const dm_credchain_t *chain, dm_creds_t *out, char *err,
    size_t errlen)
{
    int                explicit, rc;
    const char        *profile;
    dm_aws_profile_t   cred, conf;

    if (dm_cc_profile_name(chain, &profile, &explicit, err, errlen) != 0) {
        return -1;
    }

    if (dm_cc_profile_file(chain, "AWS_SHARED_CREDENTIALS_FILE",
                           "credentials", DM_AWS_CREDENTIALS_FILE, profile,
                           &cred, err, errlen)
        != 0)
    {
        return -1;
    }

    if (dm_cc_profile_file(chain, "AWS_CONFIG_FILE", "config",
                           DM_AWS_CONFIG_FILE, profile, &conf, err, errlen)
        != 0)
    {
        dm_aws_profile_free(&cred);
        return -1;
    }

    if (cred.access_key_id != NULL && cred.secret_access_key != NULL) {
        rc = dm_cc_profile_keys(profile, &cred, out, err, errlen);

    } else if (conf.access_key_id != NULL && conf.secret_access_key != NULL)
    {
        /* the AWS CLI also takes keys written into the config file */
        rc = dm_cc_profile_keys(profile, &conf, out, err, errlen);

    } else if (cred.access_key_id != NULL || cred.secret_access_key != NULL
               || conf.access_key_id != NULL
               || conf.secret_access_key != NULL)
    {
        dm_cc_err(err, errlen, "profile: \"%s\" has only one of "
                  "aws_access_key_id and aws_secret_access_key", profile);
        rc = -1;

    } else if (dm_cc_profile_unsupported(profile, &cred, err, errlen) != 0
               || dm_cc_profile_unsupported(profile, &conf, err, errlen)
                  != 0)
    {
        rc = -1;

    } else if (explicit && !cred.found && !conf.found) {
        dm_cc_err(err, errlen, "profile: \"%s\" not found in the shared "
                  "credentials or config file", profile);
        rc = -1;

    } else {
        /* no profile, or one with only settings (region...): go on */
        rc = DM_CC_NEXT;
    }

    dm_aws_profile_free(&cred);
    dm_aws_profile_free(&conf);

    return rc;
}


/*
 * The credentials GET of the container endpoint and of instance metadata:
 * the same JSON, the same checks.  0, or -1 with err naming the source.
 */
static int
dm_cc_fetch_json(const dm_credchain_t *chain, const dm_http_request_t *req,
    dm_buf_t *body, const char *source, const char *what, dm_creds_t *out,
    char *err, size_t errlen)
{
    long  status;
    char  why[DM_CREDCHAIN_ERR_MAX];

    if (dm_cc_http(chain, req, &status, body, why, sizeof(why)) != 0) {
        dm_cc_err(err, errlen, "%s: %s", source, why);
        return -1;
    }

    if (status != 200) {
        dm_cc_err(err, errlen, "%s: the %s answered HTTP %ld", source, what,
                  status);
        return -1;
    }

    if (dm_creds_parse_json((const char *) body->data, body->len, out, why,
                            sizeof(why))
        != 0)
    {
        dm_cc_err(err, errlen, "%s: %s", source, why);
        return -1;
    }

    return 0;
}


/* ---- 4. container credentials ------------------------------------------ */

static int
dm_cc_port_ok(const char *p, const char *e)
{
    if (p == e) {
        return 1;
    }

    if (*p++ != ':' || p == e) {
        return 0;
    }

    for ( /* void */ ; p < e; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
    }

    return 1;
}


static int
dm_cc_is_loopback4(const char *p, size_t n)
{
    int     parts, digits;
    long    v;
    size_t  i;

    parts = 0;
    digits = 0;
    v = 0;

    for (i = 0; i <= n; i++) {
        if (i == n || p[i] == '.') {
            if (digits == 0 || v > 255) {
                return 0;
            }

            if (parts == 0 && v != 127) {
                return 0;
            }

            parts++;
            digits = 0;
            v = 0;
            continue;
        }

        if (p[i] < '0' || p[i] > '9' || ++digits > 3) {
            return 0;
        }

        v = v * 10 + (p[i] - '0');
    }

    return parts == 4;
}


static int
dm_cc_is(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && strncasecmp(p, s, n) == 0;
}


/*
 * What the SDKs allow in _FULL_URI: https anywhere; http only to the
 * loopback and to the ECS and EKS agents' link-local addresses (host
 * names other than localhost are not resolved here, so refused).
 */
static int
dm_cc_container_url_ok(const char *url)
{
    size_t       n;
    const char  *a, *e, *h, *he;

    n = strlen(url);

    if (n >= DM_CC_URL_MAX || dm_cc_has_ctl(url, n)
        || strchr(url, ' ') != NULL)
    {
        return 0;
    }

    if (strncasecmp(url, "https://", 8) == 0) {
        return url[8] != '\0' && url[8] != '/';
    }

    if (strncasecmp(url, "http://", 7) != 0) {
        return 0;
    }

    a = url + 7;
    e = a + strcspn(a, "/?#");

    if (memchr(a, '@', (size_t) (e - a)) != NULL) {
        return 0;
    }

    if (*a == '[') {
        h = a + 1;
        he = memchr(h, ']', (size_t) (e - h));
        if (he == NULL || !dm_cc_port_ok(he + 1, e)) {
            return 0;
        }

        return dm_cc_is(h, (size_t) (he - h), "::1")
               || dm_cc_is(h, (size_t) (he - h), "fd00:ec2::23");
    }

    h = a;
    he = memchr(h, ':', (size_t) (e - h));
    if (he == NULL) {
        he = e;
    }

    if (!dm_cc_port_ok(he, e)) {
        return 0;
    }

    n = (size_t) (he - h);

    return dm_cc_is(h, n, "localhost") || dm_cc_is(h, n, "169.254.170.2")
           || dm_cc_is(h, n, "169.254.170.23") || dm_cc_is_loopback4(h, n);
}


static int
dm_cc_container(const dm_credchain_t *chain, dm_creds_t *out, char *err,
    size_t errlen)
{
    char               *file_tok, *auth, url[DM_CC_URL_MAX];
    size_t              flen, fcap, tlen, acap;
    dm_buf_t            body;
    const char         *rel, *full, *tfile, *tok;
    dm_http_request_t   req;

    rel = dm_cc_env(chain, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    full = dm_cc_env(chain, "AWS_CONTAINER_CREDENTIALS_FULL_URI");

    if (rel == NULL && full == NULL) {
        return DM_CC_NEXT;
    }

    if (rel != NULL) {
        if (rel[0] != '/' || strlen(rel) + sizeof(DM_CC_CONTAINER_HOST)
                             > sizeof(url)
            || dm_cc_has_ctl(rel, strlen(rel)) || strchr(rel, ' ') != NULL)
        {
            dm_cc_err(err, errlen, "container: "
                      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is not a path");
            return -1;
        }

        (void) snprintf(url, sizeof(url), "%s%s", DM_CC_CONTAINER_HOST, rel);

    } else {
        if (!dm_cc_container_url_ok(full)) {
            dm_cc_err(err, errlen, "container: "
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI is not https, nor "
                      "http to the loopback or the ECS/EKS agent address");
            return -1;
        }

        strcpy(url, full);
    }

    file_tok = NULL;
    fcap = 0;
    tok = NULL;
    tlen = 0;

    /* the file is read at each call (EKS rotates it) and wins */
    tfile = dm_cc_env(chain, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");

    if (tfile != NULL) {
        if (dm_cc_read_file(tfile, DM_CC_AUTH_MAX, &file_tok, &flen, &fcap)
            != 0)
        {
            dm_cc_err(err, errlen, "container: cannot read the "
                      "authorization token file %s: %s", tfile,
                      dm_cc_errno(errno));
            return -1;
        }

        tok = file_tok;
        tlen = dm_cc_rtrim(file_tok, flen);

    } else {
        tok = dm_cc_env(chain, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        tlen = tok ? strlen(tok) : 0;
    }

    auth = NULL;
    acap = 0;

    if (tok != NULL) {
        /* a line break would smuggle headers into the request */
        if (tlen > DM_CC_AUTH_MAX || dm_cc_has_ctl(tok, tlen)) {
            dm_cc_free(file_tok, fcap);
            dm_cc_err(err, errlen, "container: the authorization token is "
                      "too long or holds a control character");
            return -1;
        }

        acap = sizeof("Authorization: ") + tlen;

        auth = malloc(acap);
        if (auth == NULL) {
            dm_cc_free(file_tok, fcap);
            dm_cc_err(err, errlen, "container: out of memory");
            return -1;
        }

        memcpy(auth, "Authorization: ", sizeof("Authorization: ") - 1);
        memcpy(auth + sizeof("Authorization: ") - 1, tok, tlen);
        auth[acap - 1] = '\0';
    }

    dm_cc_free(file_tok, fcap);

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.headers[0] = "Accept: application/json";
    req.headers[1] = auth;
    req.timeout_ms = chain->timeout_ms ? chain->timeout_ms : DM_CC_TIMEOUT_MS;

    dm_buf_init_malloc(&body);

    if (dm_cc_fetch_json(chain, &req, &body, "container",
                         "the credentials endpoint", out, err, errlen)
        != 0)
    {
        goto failed;
    }

    dm_cc_free(auth, acap);
    dm_cc_buf_wipe(&body);
    dm_cc_source(out, "container");

    return 0;

failed:

    dm_cc_free(auth, acap);
    dm_cc_buf_wipe(&body);

    return -1;
}


/* ---- 5. EC2 instance metadata ------------------------------------------ */

static int
dm_cc_role_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || strchr("_+=,.@-", c) != NULL;
}


static int
dm_cc_imds(const dm_credchain_t *chain, dm_creds_t *out, char *err,
    size_t errlen)
{
    long                status;
    char                base[256], url[512], role[DM_CC_ROLE_MAX + 1];
    char                thdr[DM_CC_IMDS_TOKEN_MAX + 32];
    char                why[DM_CREDCHAIN_ERR_MAX];
    size_t              n, i;
    dm_buf_t            body;
    const char         *v, *p;
    dm_http_request_t   req;

    v = dm_cc_env(chain, "AWS_EC2_METADATA_DISABLED");

    if (v != NULL && strcasecmp(v, "true") == 0) {
        return DM_CC_NEXT;
    }

    v = dm_cc_env(chain, "AWS_EC2_METADATA_SERVICE_ENDPOINT");

    if (v != NULL) {
        n = strlen(v);

        while (n && v[n - 1] == '/') {
            n--;
        }

        if ((strncasecmp(v, "http://", 7) != 0
             && strncasecmp(v, "https://", 8) != 0)
            || n >= sizeof(base) || dm_cc_has_ctl(v, n)
            || memchr(v, ' ', n) != NULL)
        {
            dm_cc_err(err, errlen, "instance metadata: "
                      "AWS_EC2_METADATA_SERVICE_ENDPOINT is not an http(s) "
                      "URL");
            return -1;
        }

        memcpy(base, v, n);
        base[n] = '\0';

    } else {
        strcpy(base, DM_CC_IMDS_DEFAULT);
    }

    dm_buf_init_malloc(&body);

    memset(&req, 0, sizeof(req));
    req.timeout_ms = chain->timeout_ms ? chain->timeout_ms
                                       : DM_CC_IMDS_TIMEOUT_MS;
    req.url = url;

    /* IMDSv2: a session token first */
    (void) snprintf(url, sizeof(url), "%s/latest/api/token", base);
    req.method = "PUT";
    req.headers[0] = "X-aws-ec2-metadata-token-ttl-seconds: 21600";
    req.body = "";
    req.body_len = 0;

    thdr[0] = '\0';

    if (dm_cc_http(chain, &req, &status, &body, why, sizeof(why)) != 0) {
        if (!chain->imds_v1_fallback) {
            /* no instance metadata here: as the SDKs, nothing found */
            dm_cc_err(err, errlen, DM_CREDCHAIN_ERR_NONE
                      "; instance metadata: %s", why);
            goto failed;
        }

    } else if (status != 200) {
        if (!chain->imds_v1_fallback) {
            dm_cc_err(err, errlen, "instance metadata: the token PUT "
                      "answered HTTP %ld", status);
            goto failed;
        }

    } else {
        n = dm_cc_rtrim((const char *) body.data, body.len);

        if (n == 0 || n > DM_CC_IMDS_TOKEN_MAX
            || dm_cc_has_ctl((const char *) body.data, n))
        {
            dm_cc_err(err, errlen, "instance metadata: the session token "
                      "is empty, too long or holds a control character");
            goto failed;
        }

        memcpy(thdr, "X-aws-ec2-metadata-token: ", 26);
        memcpy(thdr + 26, body.data, n);
        thdr[26 + n] = '\0';
    }

    dm_cc_buf_wipe(&body);

    /* the role attached to the instance */
    (void) snprintf(url, sizeof(url), "%s" DM_CC_IMDS_CREDS, base);
    req.method = "GET";
    req.headers[0] = thdr[0] ? thdr : NULL;
    req.body = NULL;

    if (dm_cc_http(chain, &req, &status, &body, why, sizeof(why)) != 0) {
        if (thdr[0] == '\0') {
            dm_cc_err(err, errlen, DM_CREDCHAIN_ERR_NONE
                      "; instance metadata: %s", why);
        } else {
            dm_cc_err(err, errlen, "instance metadata: %s", why);
        }
        goto failed;
    }

    if (status != 200) {
        dm_cc_err(err, errlen, "instance metadata: the role lookup answered "
                  "HTTP %ld%s", status,
                  status == 404 ? " (no role attached to the instance)" : "");
        goto failed;
    }

    p = (const char *) body.data;
    n = body.len;

    for (i = 0; i < n && p[i] != '\n'; i++) { /* void */ }

    n = i;

    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }

    n = dm_cc_rtrim(p, n);

    for (i = 0; i < n && dm_cc_role_char(p[i]); i++) { /* void */ }

    if (n == 0 || i < n || n > DM_CC_ROLE_MAX) {
        dm_cc_err(err, errlen, "instance metadata: the role name is empty "
                  "or invalid");
        goto failed;
    }

    memcpy(role, p, n);
    role[n] = '\0';

    dm_cc_buf_wipe(&body);

    /* the role's credentials */
    (void) snprintf(url, sizeof(url), "%s" DM_CC_IMDS_CREDS "%s", base, role);

    if (dm_cc_fetch_json(chain, &req, &body, "instance metadata",
                         "credentials GET", out, err, errlen)
        != 0)
    {
        goto failed;
    }

    OPENSSL_cleanse(thdr, sizeof(thdr));
    dm_cc_buf_wipe(&body);
    dm_cc_source(out, "imds");

    return 0;

failed:

    OPENSSL_cleanse(thdr, sizeof(thdr));
    dm_cc_buf_wipe(&body);

    return -1;
}


/* ---- the chain ---------------------------------------------------------- */

typedef int (*dm_cc_source_pt)(const dm_credchain_t *chain, dm_creds_t *out,
    char *err, size_t errlen);


int
dm_credchain_resolve(const dm_credchain_t *chain, dm_creds_t *out,
    char *err, size_t errlen)
{
    int                     rc;
    size_t                  i;
    static const dm_cc_source_pt  sources[] = {
        dm_cc_environment,
        dm_cc_web_identity,
        dm_cc_profile,
        dm_cc_container,
        dm_cc_imds
    };

    memset(out, 0, sizeof(dm_creds_t));

    if (err != NULL && errlen) {
        err[0] = '\0';
    }

    if (chain->note != NULL && chain->note_len) {
        chain->note[0] = '\0';
    }

    for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        rc = sources[i](chain, out, err, errlen);

        if (rc == 0) {
            return 0;
        }

        if (rc != DM_CC_NEXT) {
            dm_creds_wipe(out);
            if (err != NULL && errlen && err[0] == '\0') {
                dm_cc_err(err, errlen, "credentials: unknown error");
            }
            return -1;
        }

        /* a source that went on may have left part of a value */
        dm_creds_wipe(out);
    }

    dm_cc_err(err, errlen, "%s", DM_CREDCHAIN_ERR_NONE);

    return -1;
}


void
dm_creds_wipe(dm_creds_t *c)
{
    OPENSSL_cleanse(c, sizeof(dm_creds_t));
}


const char *
dm_getenv_process(void *data, const char *name)
{
    return getenv(name);
}


/* ---- the parsers -------------------------------------------------------- */

/* a short code from an answer, if it is safe to show: else "" */
static const char *
dm_cc_safe_code(const char *s, size_t n)
{
    size_t  i;

    if (n == 0 || n > 64) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_'
              || s[i] == '-' || s[i] == ':'))
        {
            return NULL;
        }
    }

    return s;
}


/* a secret held by jansson: wiped before json_decref frees it */
static void
dm_cc_json_wipe(json_t *v)
{
    if (json_is_string(v)) {
        OPENSSL_cleanse((char *) json_string_value(v), json_string_length(v));
    }
}


int
dm_creds_parse_json(const char *buf, size_t len, dm_creds_t *out,
    char *err, size_t errlen)
{
    int           rc;
    json_t       *root, *id, *secret, *token, *exp, *code;
    const char   *c, *t;
    json_error_t  jerr;

    memset(out, 0, sizeof(dm_creds_t));

    if (buf == NULL) {
        dm_cc_err(err, errlen, "empty answer");
        return -1;
    }

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

    /* jerr quotes the answer: never shown */
    OPENSSL_cleanse(&jerr, sizeof(jerr));

    if (root == NULL || !json_is_object(root)) {
        dm_cc_err(err, errlen, "the answer is not a JSON object");
        json_decref(root);
        return -1;
    }

    id = json_object_get(root, "AccessKeyId");
    secret = json_object_get(root, "SecretAccessKey");
    token = json_object_get(root, "Token");
    exp = json_object_get(root, "Expiration");
    code = json_object_get(root, "Code");

    rc = -1;

    if (code != NULL && (!json_is_string(code)
                         || strcmp(json_string_value(code), "Success") != 0))
    {
        c = json_is_string(code)
            ? dm_cc_safe_code(json_string_value(code),
                              json_string_length(code))
            : NULL;
        dm_cc_err(err, errlen, "Code is %s, not Success", c ? c : "other");
        goto done;
    }

    if (!json_is_string(id) || !json_is_string(secret)) {
        dm_cc_err(err, errlen, "no AccessKeyId or SecretAccessKey string");
        goto done;
    }

    if (token != NULL && !json_is_null(token) && !json_is_string(token)) {
        dm_cc_err(err, errlen, "Token is not a string");
        goto done;
    }

    if (exp != NULL && !json_is_null(exp) && !json_is_string(exp)) {
        dm_cc_err(err, errlen, "Expiration is not a string");
        goto done;
    }

    t = json_is_string(token) ? json_string_value(token) : "";

    if (dm_cc_fill(out, json_string_value(id), json_string_length(id),
                   json_string_value(secret), json_string_length(secret), t,
                   json_is_string(token) ? json_string_length(token) : 0,
                   err, errlen)
        != 0)
    {
        goto done;
    }

    if (json_is_string(exp)
        && dm_creds_parse_time(json_string_value(exp),
                               json_string_length(exp), &out->expiration)
           != 0)
    {
        dm_cc_err(err, errlen, "Expiration is not an ISO 8601 time");
        goto done;
    }

    rc = 0;

done:

    if (rc != 0) {
        dm_creds_wipe(out);
    }

    dm_cc_json_wipe(secret);
    dm_cc_json_wipe(token);
    json_decref(root);

    return rc;
}


/* s in p..e, or NULL (memmem(3) is a GNU extension) */
static const char *
dm_cc_find(const char *p, const char *e, const char *s)
{
    size_t  n;

    n = strlen(s);

    for ( /* void */ ; (size_t) (e - p) >= n; p++) {
        if (*p == *s && memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


/*
 * The text of <tag>...</tag> within p..e, entities decoded, into out
 * (at most max bytes).  Returns the length, or -1 when the element is
 * missing, too long, holds markup or an unknown entity.
 */
static long
dm_cc_xml_text(const char *p, const char *e, const char *tag, char *out,
    size_t max)
{
    char         open[40], close[40];
    size_t       n, k;
    const char  *v, *ve;
    static const struct {
        const char  *name;
        char         c;
    } ents[] = {
        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
        { "&quot;", '"' }, { "&apos;", '\'' }
    };

    (void) snprintf(open, sizeof(open), "<%s>", tag);
    (void) snprintf(close, sizeof(close), "</%s>", tag);

    v = dm_cc_find(p, e, open);
    if (v == NULL) {
        return -1;
    }

    v += strlen(open);

    ve = dm_cc_find(v, e, close);
    if (ve == NULL) {
        return -1;
    }

    n = 0;

    while (v < ve) {
        if (*v == '<') {
            return -1;
        }

        if (n == max) {
            return -1;
        }

        if (*v != '&') {
            out[n++] = *v++;
            continue;
        }

        for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
            if ((size_t) (ve - v) >= strlen(ents[k].name)
                && memcmp(v, ents[k].name, strlen(ents[k].name)) == 0)
            {
                break;
            }
        }

        if (k == sizeof(ents) / sizeof(ents[0])) {
            return -1;
        }

        out[n++] = ents[k].c;
        v += strlen(ents[k].name);
    }

    out[n] = '\0';

    return (long) n;
}


int
dm_creds_parse_sts_xml(const char *buf, size_t len, dm_creds_t *out,
    char *err, size_t errlen)
{
    int          rc;
    long         idn, sn, tn, en;
    char         code[65], exp[65];
    char         id[DM_CREDS_ID_MAX + 1], secret[DM_CREDS_SECRET_MAX + 1];
    char        *token;
    const char  *p, *e, *c;

    memset(out, 0, sizeof(dm_creds_t));

    if (buf == NULL || len == 0) {
        dm_cc_err(err, errlen, "empty answer");
        return -1;
    }

    e = buf + len;

    if (dm_cc_find(buf, e, "<ErrorResponse") != NULL) {
        en = dm_cc_xml_text(buf, e, "Code", code, sizeof(code) - 1);
        c = en > 0 ? dm_cc_safe_code(code, (size_t) en) : NULL;
        dm_cc_err(err, errlen, "STS error %s", c ? c : "(no code)");
        return -1;
    }

    p = dm_cc_find(buf, e, "<Credentials>");
    if (p == NULL) {
        dm_cc_err(err, errlen, "no <Credentials> in the answer");
        return -1;
    }

    e = dm_cc_find(p, e, "</Credentials>");
    if (e == NULL) {
        dm_cc_err(err, errlen, "no </Credentials> in the answer");
        return -1;
    }

    /* the longest value would not fit on the stack comfortably */
    token = malloc(DM_CREDS_TOKEN_MAX + 1);
    if (token == NULL) {
        dm_cc_err(err, errlen, "out of memory");
        return -1;
    }

    rc = -1;

    idn = dm_cc_xml_text(p, e, "AccessKeyId", id, DM_CREDS_ID_MAX);
    sn = dm_cc_xml_text(p, e, "SecretAccessKey", secret,
                        DM_CREDS_SECRET_MAX);
    tn = dm_cc_xml_text(p, e, "SessionToken", token, DM_CREDS_TOKEN_MAX);
    en = dm_cc_xml_text(p, e, "Expiration", exp, sizeof(exp) - 1);

    if (idn < 0 || sn < 0 || tn < 0 || en < 0) {
        dm_cc_err(err, errlen, "%s missing, too long or not plain text",
                  idn < 0 ? "AccessKeyId"
                  : sn < 0 ? "SecretAccessKey"
                  : tn < 0 ? "SessionToken" : "Expiration");
        goto done;
    }

    if (dm_cc_fill(out, id, (size_t) idn, secret, (size_t) sn, token,
                   (size_t) tn, err, errlen)
        != 0)
    {
        goto done;
    }

    if (tn == 0) {
        dm_cc_err(err, errlen, "empty SessionToken");
        goto done;
    }

    if (dm_creds_parse_time(exp, (size_t) en, &out->expiration) != 0) {
        dm_cc_err(err, errlen, "Expiration is not an ISO 8601 time");
        goto done;
    }

    rc = 0;

done:

    if (rc != 0) {
        dm_creds_wipe(out);
    }

    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(token, DM_CREDS_TOKEN_MAX + 1);
    free(token);

    return rc;
}


static int
dm_cc_digits(const char *s, size_t n, int *v)
{
    size_t  i;

    *v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        *v = *v * 10 + (s[i] - '0');
    }

    return 0;
}


/* days since 1970-01-01 of a proleptic Gregorian date */
static long long
dm_cc_days(int y, int m, int d)
{
    long long  era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


int
dm_creds_parse_time(const char *s, size_t len, time_t *t)
{
    int         y, mo, d, h, mi, sec, oh, om, sign, mdays;
    size_t      i;
    long long   v;
    static const int  days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    /* YYYY-MM-DDTHH:MM:SS */
    if (s == NULL || len < 20
        || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't')
        || s[13] != ':' || s[16] != ':'
        || dm_cc_digits(s, 4, &y) || dm_cc_digits(s + 5, 2, &mo)
        || dm_cc_digits(s + 8, 2, &d) || dm_cc_digits(s + 11, 2, &h)
        || dm_cc_digits(s + 14, 2, &mi) || dm_cc_digits(s + 17, 2, &sec))
    {
        return -1;
    }

    if (y < 1970 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60) {
        return -1;
    }

    mdays = days[mo - 1]
            + (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));

    if (d < 1 || d > mdays) {
        return -1;
    }

    i = 19;

    /* a fraction of a second, ignored */
    if (s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) { /* void */ }

        if (i == 20 || i == len) {
            return -1;
        }
    }

    oh = 0;
    om = 0;
    sign = 1;

    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        /* UTC */

    } else if ((s[i] == '+' || s[i] == '-')
               && ((len - i == 6 && s[i + 3] == ':'
                    && dm_cc_digits(s + i + 1, 2, &oh) == 0
                    && dm_cc_digits(s + i + 4, 2, &om) == 0)
                   || (len - i == 5
                       && dm_cc_digits(s + i + 1, 2, &oh) == 0
                       && dm_cc_digits(s + i + 3, 2, &om) == 0)))
    {
        if (oh > 23 || om > 59) {
            return -1;
        }

        sign = s[i] == '-' ? -1 : 1;

    } else {
        return -1;
    }

    v = dm_cc_days(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec
        - sign * (oh * 3600LL + om * 60LL);

    /* 0 means "never expires" to the callers */
    if (v <= 0 || (sizeof(time_t) < 8 && v > 0x7fffffffLL)) {
        return -1;
    }

    *t = (time_t) v;

    return 0;
}
