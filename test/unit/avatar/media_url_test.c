/* media_url_test.c: plugin/avatar/gate.c avatar_media_url: a stored media path below media-base-url, and the paths it
 * refuses (nothing may climb out of the base, even spelled so that the storage server decodes it). */
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "avatar/internal.h"

static int url_is(const char *path, const char *want)
{
    size_t len = 0;
    char *url = avatar_media_url("https://media.example.com/static/", path, strlen(path), &len);
    int ok = want == NULL ? url == NULL : url != NULL && strcmp(url, want) == 0 && len == strlen(want);
    if (!ok)
        fprintf(stderr, "%s -> %s\n", path, url != NULL ? url : "(refused)");
    free(url);
    return ok;
}

int main(void)
{
    CHECK(url_is("profile_pics/x.jpg", "https://media.example.com/static/profile_pics/x.jpg"));
    CHECK(url_is("a%20b/..jpg", "https://media.example.com/static/a%20b/..jpg"));
    CHECK(url_is("...", "https://media.example.com/static/..."));
    static const char *const refused[] = {"",
                                          "/x.jpg",
                                          "a//b.jpg",
                                          "a/",
                                          "./x.jpg",
                                          "../x.jpg",
                                          "a/../../x.jpg",
                                          "a/..",
                                          "%2e%2e/x.jpg",
                                          "%2E./x.jpg",
                                          ".%2e/x.jpg",
                                          "%2e/x.jpg",
                                          "a%2fb.jpg",
                                          "..%2F..%2Fetc",
                                          "a\\\\..\\\\b",
                                          "a b.jpg",
                                          "a\tb.jpg",
                                          "x\x7f.jpg"};
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i)
        CHECK(url_is(refused[i], NULL));
    return unit_report("media_url");
}
