/*
 * A clock for the tests (LD_PRELOAD, in nginx only): gettimeofday() in
 * whole seconds, so that every write planned within one second asks for
 * the same microsecond, as two writers in the same microsecond would.
 *
 *   DDBM_TEST_CLOCK=seconds            always
 *   DDBM_TEST_CLOCK_FILE=/path         only while that file exists
 *
 * Built by the suites that use it (cc -shared -fPIC ... -ldl).  Other
 * programs that inherit LD_PRELOAD (perl, wrk) keep the real clock.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>


typedef int (*gtod_fn)(struct timeval *, void *);

static gtod_fn      real_gettimeofday;
static int          mode = -1;            /* 0 off, 1 always, 2 file */
/*
 * A copy: nginx's setproctitle overwrites the original environment's
 * strings (with NULs) once it has moved them, so a pointer from getenv()
 * taken before that reads "" afterwards.
 */
static char         flag_file[4096];
static time_t       flag_checked;         /* real second of the last look */
static int          flag_on;


static void
ddbm_clock_init(void)
{
    const char  *v;

    real_gettimeofday = (gtod_fn) dlsym(RTLD_NEXT, "gettimeofday");
    mode = 0;

    if (strcmp(program_invocation_short_name, "nginx") != 0) {
        return;
    }

    v = getenv("DDBM_TEST_CLOCK");
    if (v != NULL && strcmp(v, "seconds") == 0) {
        mode = 1;
        return;
    }

    v = getenv("DDBM_TEST_CLOCK_FILE");
    if (v != NULL && v[0] != '\0' && strlen(v) < sizeof(flag_file)) {
        memcpy(flag_file, v, strlen(v) + 1);
        mode = 2;
    }
}


int
gettimeofday(struct timeval *tv, void *tz)
{
    int          rc, saved;
    struct stat  st;

    if (mode < 0) {
        ddbm_clock_init();
    }

    rc = real_gettimeofday(tv, tz);
    if (rc != 0 || mode == 0) {
        return rc;
    }

    if (mode == 2 && tv->tv_sec != flag_checked) {
        /* one look a second is enough to switch the clock on and off */
        saved = errno;
        flag_on = (stat(flag_file, &st) == 0);
        errno = saved;
        flag_checked = tv->tv_sec;
    }

    if (mode == 1 || flag_on) {
        tv->tv_usec = 0;
    }

    return rc;
}
