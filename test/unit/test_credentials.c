/* Unit tests: the AWS shared credentials and config file parser. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "dm_credentials.h"


static dm_aws_profile_t  p;


static int
parse(const char *s, dm_aws_file_e kind, const char *profile)
{
    dm_aws_profile_free(&p);
    return dm_aws_profile_parse(s, strlen(s), kind, profile, &p);
}


int
main(void)
{
    int     fd, rc;
    char   *token, *file, path[] = "/tmp/dm-credentials-XXXXXX";
    size_t  i, n;

    ok(parse("[default]\naws_access_key_id = AKID\n"
             "aws_secret_access_key=SECRET\n", DM_AWS_CREDENTIALS_FILE,
             "default") == 0 && p.found, "default profile");
    is_str(p.access_key_id, "AKID", "access key id");
    is_str(p.secret_access_key, "SECRET", "secret without blanks");
    ok(p.session_token == NULL && p.region == NULL, "absent keys are NULL");

    ok(parse("# comment\n; comment\n\n[other]\naws_access_key_id = A1\n"
             "[ dev ]  \r\n  \r\nAWS_Access_Key_ID\t=\tA2 \r\n"
             "aws_secret_access_key = S2\r\naws_session_token = T2\r\n"
             "[third]\naws_access_key_id = A3\n",
             DM_AWS_CREDENTIALS_FILE, "dev") == 0 && p.found,
       "CRLF, blanks, comments, case-insensitive keys");
    is_str(p.access_key_id, "A2", "the profile's own key, not another's");
    is_str(p.secret_access_key, "S2", "no CR left in the value");
    is_str(p.session_token, "T2", "session token");

    ok(parse("[default]\naws_access_key_id = A\n", DM_AWS_CREDENTIALS_FILE,
             "dev") == 0 && !p.found && p.access_key_id == NULL,
       "a missing profile is not found");

    ok(parse("[dev]\naws_access_key_id = A\naws_access_key_id = B\n"
             "[dev2]\n[dev]\naws_secret_access_key: S\n",
             DM_AWS_CREDENTIALS_FILE, "dev") == 0, "repeats");
    is_str(p.access_key_id, "B", "the last of repeated keys wins");
    is_str(p.secret_access_key, "S", "a repeated section adds; ':' too");

    ok(parse("[dev]\naws_secret_access_key = a=b==\n"
             "aws_security_token = OLD\n", DM_AWS_CREDENTIALS_FILE, "dev")
       == 0, "values with '='");
    is_str(p.secret_access_key, "a=b==", "split at the first '='");
    is_str(p.session_token, "OLD", "aws_security_token, the older name");

    ok(parse("[dev]\naws_security_token = OLD\naws_session_token = NEW\n",
             DM_AWS_CREDENTIALS_FILE, "dev") == 0, "both token names");
    is_str(p.session_token, "NEW", "aws_session_token wins");

    ok(parse("[dev]\ns3 =\n  max_concurrent_requests = 20\n"
             "  aws_access_key_id = NESTED\naws_secret_access_key = S\n",
             DM_AWS_CREDENTIALS_FILE, "dev") == 0
       && p.access_key_id == NULL, "nested values are skipped");
    is_str(p.secret_access_key, "S", "keys after a nested value");

    ok(parse("[dev]\n  aws_access_key_id = INDENTED\n",
             DM_AWS_CREDENTIALS_FILE, "dev") == 0, "indented first key");
    is_str(p.access_key_id, "INDENTED", "an indented first key is a key");

    ok(parse("\xef\xbb\xbf[dev]\naws_access_key_id = BOM",
             DM_AWS_CREDENTIALS_FILE, "dev") == 0, "byte order mark");
    is_str(p.access_key_id, "BOM", "and no final newline");

    ok(parse("[dev\naws_access_key_id = X\n[dev] ; c\nregion = r\n",
             DM_AWS_CREDENTIALS_FILE, "dev") == 0, "broken header");
    ok(p.access_key_id == NULL, "a broken header leaves the section");
    is_str(p.region, "r", "text after ']' is ignored");

    dm_aws_profile_free(&p);
    ok(dm_aws_profile_parse("[dev]\naws_access_key_id = A\0B\n", 30,
                            DM_AWS_CREDENTIALS_FILE, "dev", &p) == -1
       && errno == EINVAL, "a NUL byte is refused");
    dm_aws_profile_free(&p);

    /* the config file */
    ok(parse("[dev]\nregion = wrong\n[profile dev]\nregion = eu-west-1\n"
             "[default]\nregion = us-east-1\n", DM_AWS_CONFIG_FILE, "dev")
       == 0 && p.found, "config: [profile dev]");
    is_str(p.region, "eu-west-1", "config: not [dev]");
    ok(parse("[default]\nregion = us-east-1\n", DM_AWS_CONFIG_FILE,
             "default") == 0, "config: [default]");
    is_str(p.region, "us-east-1", "config: default region");
    ok(parse("[profile  default]\nregion = ap-south-1\n",
             DM_AWS_CONFIG_FILE, "default") == 0, "config: [profile default]");
    is_str(p.region, "ap-south-1", "config: [profile default] region");
    ok(parse("[profile dev]\nrole_arn = arn:aws:iam::1:role/x\n"
             "sso_session = s\ncredential_process = /bin/x\n",
             DM_AWS_CONFIG_FILE, "dev") == 0
       && p.role_arn && p.sso && p.credential_process,
       "config: role_arn, sso_*, credential_process reported");
    is_str(p.role_arn, "arn:aws:iam::1:role/x", "config: ':' in a value");

    /* a 4000-byte session token, from a file: never cut */
    n = 4000;
    token = malloc(n + 1);
    for (i = 0; i < n; i++) {
        token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789+/"[i % 64];
    }
    token[n] = '\0';

    file = malloc(n + 256);
    snprintf(file, n + 256, "[default]\r\naws_access_key_id = AKID\r\n"
             "aws_session_token = %s\r\naws_secret_access_key = SECRET\r\n",
             token);

    fd = mkstemp(path);
    rc = fd >= 0 && write(fd, file, strlen(file)) == (ssize_t) strlen(file);
    close(fd);
    ok(rc, "credentials file written");

    dm_aws_profile_free(&p);
    ok(dm_aws_profile_read(path, DM_AWS_CREDENTIALS_FILE, "default", &p)
       == 0 && p.found, "read from a file");
    ok(p.session_token && strlen(p.session_token) == 4000
       && strcmp(p.session_token, token) == 0,
       "a 4000-byte session token whole");
    is_str(p.secret_access_key, "SECRET", "the key after the long line");
    dm_aws_profile_free(&p);
    unlink(path);

    ok(dm_aws_profile_read(path, DM_AWS_CREDENTIALS_FILE, "default", &p)
       == -1 && errno == ENOENT, "a missing file: ENOENT");
    ok(dm_aws_profile_read("/tmp", DM_AWS_CREDENTIALS_FILE, "default", &p)
       == -1 && errno == EISDIR, "a directory: EISDIR");

    free(token);
    free(file);
    dm_aws_profile_free(&p);

    return done_testing();
}
