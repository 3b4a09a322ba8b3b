/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one-writer lock of a spool (store/lock.h) between real processes:
 * a forked child is refused while the parent holds it and is told the
 * parent's PID; closing another descriptor of the lock file does not drop
 * it (as it would a POSIX record lock); kill -9 of the holder frees it at
 * once; release frees it; sa_spool_lock_covers() recognises the lock file
 * however the spool path is spelled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/lock.h"
#include "tests/tempdir.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
    char dir[512];
    char spool[600];
    char lock_path[620];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    if (!sa_test_mkdtemp(f->dir, sizeof f->dir, "sa_lock_")) {
        free(f);
        return -1;
    }
    snprintf(f->spool, sizeof f->spool, "%s/spool.db", f->dir);
    snprintf(f->lock_path, sizeof f->lock_path, "%s/spool.db-lock", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->lock_path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Exit codes of a child that tries the lock once. */
enum { CHILD_TOOK = 10, CHILD_BUSY_PARENT = 11, CHILD_BUSY_OTHER = 12, CHILD_ERR = 13 };

/* Fork a child that tries the lock and reports by its exit status whether
 * it was refused in the name of expected_holder. */
static int try_in_child(const char *spool, pid_t expected_holder)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        struct sa_spool_lock *lock = NULL;
        struct sa_err err = {0};
        long holder = -1;
        char want[64];
        int rc = sa_spool_lock_acquire(&lock, spool, &holder, &err);
        snprintf(want, sizeof want, "(pid %ld)", (long)expected_holder);
        if (rc == SA_OK)
            _exit(CHILD_TOOK);
        if (rc == SA_EBUSY && holder == (long)expected_holder &&
            strstr(err.msg, want) && strstr(err.msg, spool))
            _exit(CHILD_BUSY_PARENT);
        _exit(rc == SA_EBUSY ? CHILD_BUSY_OTHER : CHILD_ERR);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static long file_pid(const char *path)
{
    FILE *fp = fopen(path, "r");
    long pid = 0;

    if (!fp)
        return -1;
    if (fscanf(fp, "%ld", &pid) != 1)
        pid = 0;
    fclose(fp);
    return pid;
}

static void test_second_process_refused_with_pid(void **state)
{
    struct fixture *f = *state;
    struct sa_spool_lock *lock = NULL;
    struct sa_err err = {0};

    assert_int_equal(sa_spool_lock_acquire(&lock, f->spool, NULL, &err), SA_OK);
    assert_string_equal(sa_spool_lock_path(lock), f->lock_path);
    assert_int_equal(file_pid(f->lock_path), (long)getpid());
    assert_int_equal(try_in_child(f->spool, getpid()), CHILD_BUSY_PARENT);

    sa_spool_lock_release(lock);
    assert_int_equal(file_pid(f->lock_path), 0);
    assert_int_equal(try_in_child(f->spool, getpid()), CHILD_TOOK);
}

/* The same process opening and closing the lock file (as a second open of
 * the spool directory might) keeps its lock: a POSIX record lock would be
 * gone after that close(). */
static void test_other_descriptor_close_keeps_lock(void **state)
{
    struct fixture *f = *state;
    struct sa_spool_lock *lock = NULL;
    struct sa_err err = {0};
    int fd;

    assert_int_equal(sa_spool_lock_acquire(&lock, f->spool, NULL, &err), SA_OK);
    fd = open(f->lock_path, O_RDWR);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(try_in_child(f->spool, getpid()), CHILD_BUSY_PARENT);
    sa_spool_lock_release(lock);
}

/* A second handle in the same process is refused too (lock.h: callers ask
 * sa_spool_lock_covers() first). */
static void test_same_process_second_handle_refused(void **state)
{
    struct fixture *f = *state;
    struct sa_spool_lock *lock = NULL, *again = NULL;
    struct sa_err err = {0};
    long holder = 0;

    assert_int_equal(sa_spool_lock_acquire(&lock, f->spool, NULL, &err), SA_OK);
    assert_int_equal(sa_spool_lock_acquire(&again, f->spool, &holder, &err), SA_EBUSY);
    assert_null(again);
    assert_int_equal(holder, (long)getpid());
    /* The refused attempt closed its own descriptor: the lock is still held. */
    assert_int_equal(try_in_child(f->spool, getpid()), CHILD_BUSY_PARENT);
    sa_spool_lock_release(lock);
}

/* kill -9 of the holder: the next writer takes the lock at once. */
static void test_kill9_frees_lock(void **state)
{
    struct fixture *f = *state;
    struct sa_spool_lock *lock = NULL;
    struct sa_err err = {0};
    long holder = 0;
    int ready[2], status;
    char byte = 0;
    pid_t child;

    assert_int_equal(pipe(ready), 0);
    child = fork();
    if (child == 0) {
        struct sa_spool_lock *held = NULL;
        struct sa_err cerr = {0};
        close(ready[0]);
        if (sa_spool_lock_acquire(&held, f->spool, NULL, &cerr) != SA_OK)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    assert_true(child > 0);
    close(ready[1]);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);

    assert_int_equal(sa_spool_lock_acquire(&lock, f->spool, &holder, &err), SA_EBUSY);
    assert_int_equal(holder, (long)child);

    assert_int_equal(kill(child, SIGKILL), 0);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    /* The dead holder's PID is still in the file; the lock is not. */
    assert_int_equal(file_pid(f->lock_path), (long)child);
    assert_int_equal(sa_spool_lock_acquire(&lock, f->spool, NULL, &err), SA_OK);
    assert_int_equal(file_pid(f->lock_path), (long)getpid());
    sa_spool_lock_release(lock);
}

static void test_covers(void **state)
{
    struct fixture *f = *state;
    struct sa_spool_lock *lock = NULL;
    struct sa_err err = {0};
    char spelled[700], other[700];

    assert_int_equal(sa_spool_lock_acquire(&lock, f->spool, NULL, &err), SA_OK);
    snprintf(spelled, sizeof spelled, "%s/./spool.db", f->dir);
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    assert_true(sa_spool_lock_covers(lock, f->spool));
    assert_true(sa_spool_lock_covers(lock, spelled));
    assert_false(sa_spool_lock_covers(lock, other));
    assert_false(sa_spool_lock_covers(NULL, f->spool));
    sa_spool_lock_release(lock);
    sa_spool_lock_release(NULL);
}

static void test_missing_directory_is_eio(void **state)
{
    struct fixture *f = *state;
    struct sa_spool_lock *lock = NULL;
    struct sa_err err = {0};
    char spool[700];

    snprintf(spool, sizeof spool, "%s/missing/spool.db", f->dir);
    assert_int_equal(sa_spool_lock_acquire(&lock, spool, NULL, &err), SA_EIO);
    assert_null(lock);
    assert_non_null(strstr(err.msg, "missing/spool.db-lock"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_process_refused_with_pid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_descriptor_close_keeps_lock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_same_process_second_handle_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kill9_frees_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_covers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory_is_eio, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
