/*
 * The AWS shared credentials and config files (~/.aws/credentials,
 * ~/.aws/config): one INI parser for the module and the CLI.
 *
 * Lines of any length (a session token is over 1000 bytes), LF or CRLF;
 * "[section]" headers; "key = value" (or "key: value"); whole-line
 * comments starting with '#' or ';'; blanks around keys, values and
 * section names ignored; key names case-insensitive; indented lines after
 * a key continue a nested value (s3 = ...) and are skipped; the last of
 * repeated keys wins.  The credentials file names a profile "[name]", the
 * config file "[profile name]" (and "[default]").
 */

#ifndef DM_CREDENTIALS_H
#define DM_CREDENTIALS_H

#include <stddef.h>


#define DM_AWS_FILE_MAX  (1024 * 1024)


typedef enum {
    DM_AWS_CREDENTIALS_FILE = 0,    /* [name] */
    DM_AWS_CONFIG_FILE              /* [profile name], [default] */
} dm_aws_file_e;


/* every string is NUL-terminated and malloc'd, NULL when absent */
typedef struct {
    int     found;                  /* the profile's section exists */
    char   *access_key_id;
    char   *secret_access_key;
    char   *session_token;          /* or the older aws_security_token */
    char   *region;
    /* what would need more than static keys: role_arn, any sso_* key, and
     * credential_process; a caller can say why it cannot use a profile */
    char   *role_arn;
    char   *sso;
    char   *credential_process;
} dm_aws_profile_t;


/*
 * The keys of one profile from a file's contents.  Returns 0 (found says
 * whether the section exists), or -1 with errno ENOMEM, or EINVAL for a
 * NUL byte in the buffer.  Free out with dm_aws_profile_free either way.
 */
int dm_aws_profile_parse(const char *buf, size_t len, dm_aws_file_e kind,
    const char *profile, dm_aws_profile_t *out);

/*
 * The same from a file; path is used as given (a relative one is resolved
 * against the process's working directory: resolving it is the caller's
 * job).  Returns 0, or -1 with errno (ENOENT for a missing file, EFBIG
 * over DM_AWS_FILE_MAX).  The file's contents are wiped from memory.
 */
int dm_aws_profile_read(const char *path, dm_aws_file_e kind,
    const char *profile, dm_aws_profile_t *out);

/* wipes and frees the strings; out may then be reused */
void dm_aws_profile_free(dm_aws_profile_t *out);

#endif /* DM_CREDENTIALS_H */
