/*
 * A cmocka test's checks run in a forked child (test_core, test_fork), for
 * what must not touch the test process: resource limits, signal settings,
 * a context used across fork().  fn(arg) returns the child's exit status:
 * 0 when every check passed, IN_CHILD_SKIP when there is nothing to check
 * on this machine (skip_why is printed), else the number of the check that
 * failed.  A child killed by a signal (an alarm against a hang, say) fails
 * the test with the signal's name.
 */
#ifndef PK_TESTS_IN_CHILD_H
#define PK_TESTS_IN_CHILD_H

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define IN_CHILD_SKIP 10

static void in_child(int (*fn)(void *), void *arg, const char *skip_why) {
  int status;
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0)
    _exit(fn(arg));
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status))
    fail_msg("the child died of signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  if (WEXITSTATUS(status) == IN_CHILD_SKIP && skip_why != NULL)
    print_message("%s: nothing to check\n", skip_why);
  else if (WEXITSTATUS(status) != 0)
    fail_msg("check %d failed in the child", WEXITSTATUS(status));
}

#endif /* PK_TESTS_IN_CHILD_H */
