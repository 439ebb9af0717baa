/*
 * ddbm plan: a configuration explained.  NGINX parses it (nginx -t, with
 * the module that compiles the declared routes); the module writes the
 * plan, each route's DynamoDB requests and the IAM policy they need, to
 * the file DDBM_PLAN names.  Nothing here reads nginx.conf.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ddbm.h"


static const char  ddbm_plan_usage[] =
    "[--account ID] [--policy-only] [-p PREFIX] [-g DIRECTIVES] CONF";


/*
 * conf's absolute path (nginx would read a relative -c from the prefix,
 * not from where the user stands), and its directory with a trailing
 * '/': nginx's default prefix
 */
static int
ddbm_plan_paths(const char *conf, char *path, char *dir, size_t size)
{
    char  *slash;

    /* PATH_MAX bytes: what realpath() may write */
    if (realpath(conf, path) == NULL) {
        ddbm_error("plan: %s: %s", conf, strerror(errno));
        return -1;
    }

    if ((size_t) snprintf(dir, size, "%s", path) >= size) {
        ddbm_error("plan: %s: path too long", conf);
        return -1;
    }

    slash = strrchr(dir, '/');
    slash[1] = '\0';

    return 0;
}


static int
ddbm_plan_print(const char *file)
{
    char     buf[8192];
    FILE    *f;
    size_t   n;

    f = fopen(file, "r");
    if (f == NULL) {
        return -1;
    }

    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        fwrite(buf, 1, n, stdout);
    }

    fclose(f);

    return 0;
}


int
ddbm_cmd_plan(ddbm_options_t *opts, ddbm_args_t *args)
{
    int                  rc, status, policy_only;
    char                 dir[] = "/tmp/ddbm-plan.XXXXXX";
    char                 file[sizeof(dir) + 8], prefix[PATH_MAX];
    char                 path[PATH_MAX];
    pid_t                pid;
    const char          *conf, *account, *pfx, *globals, *nginx, *argv[12];
    const ddbm_option_t  options[] = {
        { "--account",     DDBM_OPT_VALUE, &account,     NULL },
        { "--policy-only", DDBM_OPT_FLAG,  &policy_only, NULL },
        { "-p",            DDBM_OPT_VALUE, &pfx,         NULL },
        { "-g",            DDBM_OPT_VALUE, &globals,     NULL },
        ddbm_null_option
    };
    const ddbm_syntax_t  syntax = {
        "plan", options, DDBM_ARGS_HINT, 1, 1, ddbm_plan_usage
    };

    account = pfx = globals = NULL;
    policy_only = 0;

    if (ddbm_args_parse(opts, args, &syntax, &conf) != 0) {
        return DDBM_USAGE;
    }

    if (ddbm_plan_paths(conf, path, prefix, sizeof(prefix)) != 0) {
        return DDBM_ERROR;
    }

    if (pfx == NULL) {
        pfx = prefix;
    }

    nginx = getenv("NGINX");
    if (nginx == NULL || *nginx == '\0') {
        nginx = "nginx";
    }

    /* a fresh file: if the module did not write it, it does not exist */
    if (mkdtemp(dir) == NULL) {
        ddbm_error("plan: mkdtemp: %s", strerror(errno));
        return DDBM_ERROR;
    }

    snprintf(file, sizeof(file), "%s/plan", dir);

    fflush(stdout);

    pid = fork();

    if (pid < 0) {
        ddbm_error("plan: fork: %s", strerror(errno));
        rmdir(dir);
        return DDBM_ERROR;
    }

    if (pid == 0) {
        /* nginx reads $NGINX as inherited listening sockets */
        unsetenv("NGINX");
        setenv("DDBM_PLAN", file, 1);

        if (account) {
            setenv("DDBM_PLAN_ACCOUNT", account, 1);
        }

        if (policy_only) {
            setenv("DDBM_PLAN_POLICY", "only", 1);
        }

        rc = 0;
        argv[rc++] = nginx;
        argv[rc++] = "-t";
        argv[rc++] = "-q";
        argv[rc++] = "-e";
        argv[rc++] = "stderr";
        argv[rc++] = "-p";
        argv[rc++] = pfx;
        argv[rc++] = "-c";
        argv[rc++] = path;

        if (globals) {
            argv[rc++] = "-g";
            argv[rc++] = globals;
        }

        argv[rc] = NULL;

        /* nginx writes its own messages to stderr; stdout stays ours */
        if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
            _exit(127);
        }

        execvp(nginx, (char *const *) argv);
        fprintf(stderr, "ddbm: plan: %s: %s\n", nginx, strerror(errno));
        _exit(127);
    }

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            ddbm_error("plan: waitpid: %s", strerror(errno));
            status = -1;
            break;
        }
    }

    rc = DDBM_OK;

    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ddbm_error("plan: %s -t refused %s (see above)", nginx, conf);
        rc = DDBM_ERROR;

    } else if (ddbm_plan_print(file) != 0) {
        ddbm_error("plan: no plan was written: does %s load "
                   "ngx_http_ddbm_module (load_module, relative to the "
                   "prefix %s)?", conf, pfx);
        rc = DDBM_ERROR;
    }

    unlink(file);
    rmdir(dir);

    return rc;
}
