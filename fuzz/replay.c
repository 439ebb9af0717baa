/*
 * Replays corpus files through one harness without libFuzzer, so that
 * make test needs neither clang nor a fuzzing run: each argument is a file
 * or a directory of files; one TAP line per file.  A crash aborts the run
 * (the sanitizers exit non-zero), which the harness counts as a failure.
 */

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"


static int  replay_n;


__attribute__((weak)) int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}


static int
replay_file(const char *path)
{
    FILE           *f;
    long            size;
    unsigned char  *data;

    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        printf("not ok %d - %s: cannot read\n", ++replay_n, path);
        if (f) {
            fclose(f);
        }
        return -1;
    }

    /* an exact-size heap copy, so a read past the end is caught */
    data = malloc(size ? (size_t) size : 1);
    if (data == NULL || fread(data, 1, (size_t) size, f) != (size_t) size) {
        printf("not ok %d - %s: cannot read\n", ++replay_n, path);
        free(data);
        fclose(f);
        return -1;
    }

    fclose(f);
    fflush(stdout);

    LLVMFuzzerTestOneInput(data, (size_t) size);
    free(data);

    printf("ok %d - %s\n", ++replay_n, path);
    return 0;
}


static int
replay_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


static int
replay_path(const char *path)
{
    int             rc;
    char          **names, buf[4096];
    size_t          n, i;
    DIR            *d;
    struct stat     st;
    struct dirent  *e;

    if (stat(path, &st) != 0) {
        printf("not ok %d - %s: missing\n", ++replay_n, path);
        return -1;
    }

    if (!S_ISDIR(st.st_mode)) {
        return replay_file(path);
    }

    d = opendir(path);
    if (d == NULL) {
        printf("not ok %d - %s: cannot open\n", ++replay_n, path);
        return -1;
    }

    names = NULL;
    n = 0;

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        names = realloc(names, (n + 1) * sizeof(char *));
        if (names == NULL || (names[n] = strdup(e->d_name)) == NULL) {
            abort();
        }
        n++;
    }

    closedir(d);

    /* the same order every run */
    if (n) {
        qsort(names, n, sizeof(char *), replay_cmp);
    }

    rc = 0;

    for (i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "%s/%s", path, names[i]);
        if (replay_path(buf) != 0) {
            rc = -1;
        }
        free(names[i]);
    }

    free(names);

    return rc;
}


int
main(int argc, char **argv)
{
    int  i, rc;

    LLVMFuzzerInitialize(&argc, &argv);

    rc = 0;

    for (i = 1; i < argc; i++) {
        if (replay_path(argv[i]) != 0) {
            rc = 1;
        }
    }

    if (replay_n == 0) {
        printf("not ok 1 - no corpus files\n");
        replay_n = 1;
        rc = 1;
    }

    printf("1..%d\n", replay_n);

    return rc;
}
