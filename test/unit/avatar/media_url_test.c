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
    CHECK(url_is("caf%C3%A9.jpg", "https://media.example.com/static/caf%C3%A9.jpg"));
    CHECK(
        url_is("a-b_c~d.e+f=g,h!i$j&k'l(m)n*o:p@q.jpg", "https://media.example.com/static/a-b_c~d.e+f=g,h!i$j&k'l(m)n*o:p@q.jpg"));
    static const char *const refused[] = {"", "/x.jpg", "a//b.jpg", "a/", "./x.jpg", "../x.jpg", "a/../../x.jpg", "a/..",
                                          "%2e%2e/x.jpg", "%2E./x.jpg", ".%2e/x.jpg", "%2e/x.jpg", "a%2fb.jpg", "..%2F..%2Fetc",
                                          "a\\\\..\\\\b", "a b.jpg", "a\tb.jpg", "x\x7f.jpg",
                                          /* path parameters: Tomcat and Spring drop ";..." from a component */
                                          "..;/x.jpg", "a/..;x=1/b.jpg", "x.jpg;jsessionid=1",
                                          /* encoded backslash, NUL and other controls, which a server may decode */
                                          "a%5cb.jpg", "..%5C..%5Cetc", "x.jpg%00.png", "x%0d%0aSet-Cookie:a.jpg", "x%7f.jpg",
                                          /* a double-encoded dot or slash, for a server that decodes twice */
                                          "%252e%252e/x.jpg", "a%252fb.jpg",
                                          /* malformed escapes, and overlong UTF-8 for '.' and '/' */
                                          "x%zz.jpg", "x%2", "x%", "%c0%ae%c0%ae/x.jpg", "a%C0%AFb.jpg"};
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i)
        CHECK(url_is(refused[i], NULL));
    return unit_report("media_url");
}
