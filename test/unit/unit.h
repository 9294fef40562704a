/* unit.h: the smallest test harness that does the job; each *_test.c is one executable. */
#ifndef BOOKA_UNIT_H
#define BOOKA_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

/* CHECK(cond): records one assertion; a failure prints where and what, and the run goes on. */
#define CHECK(cond)                                                                                                                \
    do {                                                                                                                           \
        if (cond) {                                                                                                                \
            ++unit_passed;                                                                                                         \
        } else {                                                                                                                   \
            ++unit_failed;                                                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                               \
        }                                                                                                                          \
    } while (0)

#define CHECK_STR_EQ(got, want)                                                                                                    \
    do {                                                                                                                           \
        const char *got_ = (got), *want_ = (want);                                                                                 \
        if (got_ != NULL && want_ != NULL && strcmp(got_, want_) == 0) {                                                           \
            ++unit_passed;                                                                                                         \
        } else {                                                                                                                   \
            ++unit_failed;                                                                                                         \
            fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, want_ ? want_ : "(null)",                  \
                    got_ ? got_ : "(null)");                                                                                       \
        }                                                                                                                          \
    } while (0)

#define CHECK_INT_EQ(got, want)                                                                                                    \
    do {                                                                                                                           \
        long long got_ = (long long)(got), want_ = (long long)(want);                                                              \
        if (got_ == want_) {                                                                                                       \
            ++unit_passed;                                                                                                         \
        } else {                                                                                                                   \
            ++unit_failed;                                                                                                         \
            fprintf(stderr, "%s:%d: %s: expected %lld, got %lld\n", __FILE__, __LINE__, #got, want_, got_);                        \
        }                                                                                                                          \
    } while (0)

/* unit_report: prints the closing line and returns the process exit status. */
static inline int unit_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
    return unit_failed == 0 ? 0 : 1;
}

#endif
