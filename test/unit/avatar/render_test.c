/* render_test.c: plugin/avatar/render.c: source forms, media paths that cannot leave the root, and the worker's render of
 * a data URL and a media file (sizes capped by the source and by max-side; errors as statuses). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "avatar/internal.h"

static char root[64], outside[64];

static avatar_source_kind_t classify(const char *url, char *path, size_t cap)
{
    h2o_iovec_t p = {NULL, 0};
    avatar_source_kind_t kind = avatar_classify_source(url, strlen(url), &p);
    snprintf(path, cap, "%.*s", (int)p.len, p.base != NULL ? p.base : "");
    return kind;
}

static void test_classify(void)
{
    char path[256];

    CHECK(classify("data:image/png;base64,AAAA", path, sizeof(path)) == AVATAR_SOURCE_DATA_URL);
    CHECK(classify("DATA:image/png;base64,AAAA", path, sizeof(path)) == AVATAR_SOURCE_DATA_URL);
    CHECK(classify("http://cdn.example.com/a.png", path, sizeof(path)) == AVATAR_SOURCE_HTTP);
    CHECK(classify("HTTPS://cdn.example.com/a.png", path, sizeof(path)) == AVATAR_SOURCE_HTTP);
    CHECK(classify("/static/profile_pics/x.jpg", path, sizeof(path)) == AVATAR_SOURCE_MEDIA);
    CHECK_STR_EQ(path, "profile_pics/x.jpg");
    CHECK(classify("/static/profile_pics/x.jpg?v=2#top", path, sizeof(path)) == AVATAR_SOURCE_MEDIA);
    CHECK_STR_EQ(path, "profile_pics/x.jpg");
    CHECK(classify("/static/", path, sizeof(path)) == AVATAR_SOURCE_NONE);
    CHECK(classify("", path, sizeof(path)) == AVATAR_SOURCE_NONE);
    CHECK(classify("ftp://x/y.jpg", path, sizeof(path)) == AVATAR_SOURCE_NONE);
    CHECK(classify("profile_pics/x.jpg", path, sizeof(path)) == AVATAR_SOURCE_NONE);
    CHECK(classify("/media/x.jpg", path, sizeof(path)) == AVATAR_SOURCE_NONE);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    fwrite(data, 1, len, fp);
    fclose(fp);
}

static int media_open(int root_fd, const char *path)
{
    int fd = avatar_media_open(root_fd, path, strlen(path));
    if (fd != -1)
        close(fd);
    return fd != -1;
}

static void test_media_open(void)
{
    char path[256];
    int root_fd;

    snprintf(path, sizeof(path), "%s/profile_pics", root);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/profile_pics/a.jpg", root);
    write_file(path, "x", 1);
    snprintf(path, sizeof(path), "%s/secret", outside);
    write_file(path, "s", 1);
    snprintf(path, sizeof(path), "%s/profile_pics/escape.jpg", root);
    symlink("../../outside/secret", path); /* points outside the root */
    snprintf(path, sizeof(path), "%s/profile_pics/inside.jpg", root);
    symlink("a.jpg", path);
    snprintf(path, sizeof(path), "%s/linkdir", root);
    symlink("../outside", path);
    snprintf(path, sizeof(path), "%s/fifo", root);
    mkfifo(path, 0644);

    root_fd = open(root, O_PATH | O_DIRECTORY);
    CHECK(root_fd != -1);
    CHECK(media_open(root_fd, "profile_pics/a.jpg"));
    CHECK(!media_open(root_fd, "profile_pics/missing.jpg"));
    CHECK(!media_open(root_fd, "profile_pics"));            /* a directory */
    CHECK(!media_open(root_fd, "fifo"));                    /* not a regular file, and opening does not block */
    CHECK(!media_open(root_fd, "profile_pics/escape.jpg")); /* symbolic links are refused, wherever they point */
    CHECK(!media_open(root_fd, "profile_pics/inside.jpg"));
    CHECK(!media_open(root_fd, "linkdir/secret"));
    CHECK(!media_open(root_fd, "../outside/secret"));
    CHECK(!media_open(root_fd, "profile_pics/../profile_pics/a.jpg"));
    CHECK(!media_open(root_fd, "./profile_pics/a.jpg"));
    CHECK(!media_open(root_fd, "/etc/passwd"));
    CHECK(!media_open(root_fd, "profile_pics//a.jpg"));
    CHECK(!media_open(root_fd, "profile_pics/a.jpg/"));
    CHECK(!media_open(root_fd, ""));
    CHECK(avatar_media_open(root_fd, "profile_pics/a.jpg\0x", 20) == -1); /* an embedded NUL */
    CHECK(avatar_media_open(-1, "profile_pics/a.jpg", 18) == -1);         /* no media root configured */
    close(root_fd);
}

/* A 4x2 PNG (RGB): red on the left half, blue on the right, made with ImageMagick. */
static const char png_4x2[] =
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAACCAIAAADwyuo0AAAAGUlEQVQI12P8z8DAwMDAyPCfgYGBiQEJAAAqNwIDa82LvQAAAABJRU5ErkJggg==";

static avatar_pool_t *unbudgeted; /* a pool without a memory budget, whose threads never start: jobs run here */

static avatar_render_job_t *run_job_in(avatar_pool_t *pool, avatar_source_kind_t kind, const char *text,
                                       const avatar_config_t *conf, uint32_t side, booka_image_output_format_t format)
{
    avatar_render_job_t *job = calloc(1, sizeof(*job));
    job->pool = pool;
    job->kind = kind;
    job->text = strdup(text);
    job->text_len = strlen(text);
    job->conf = conf;
    job->side = side;
    job->format = format;
    job->quality = 80;
    avatar_render(&job->super);
    return job;
}

static avatar_render_job_t *run_job(avatar_source_kind_t kind, const char *text, const avatar_config_t *conf, uint32_t side,
                                    booka_image_output_format_t format)
{
    return run_job_in(unbudgeted, kind, text, conf, side, format);
}

/* test_memory_budget: a render reserves its estimated peak before decoding and gives it back after: 503 while the other
 * running renders leave too little, 422 when the whole budget is too little, and the budget whole again afterwards. */
static void test_memory_budget(void)
{
    const uint64_t budget = 64 << 20;
    avatar_config_t conf = {.media_root_fd = -1, .limits = booka_image_default_limits};
    avatar_pool_t *pool = avatar_pool_create(1, 0, budget), *tiny = avatar_pool_create(1, 0, 1024);
    avatar_render_job_t *job;
    uint64_t decodes = atomic_load(&avatar_stat_decodes);

    CHECK_INT_EQ(avatar_pool_reserve(pool, budget - (1 << 20)), 0); /* another render holds all but 1 MiB */
    job = run_job_in(pool, AVATAR_SOURCE_DATA_URL, png_4x2, &conf, 64, BOOKA_IMAGE_OUTPUT_JPEG);
    CHECK_INT_EQ(job->status, 503);
    CHECK(job->text == NULL); /* the data URL's text is let go once decoded */
    avatar_render_job_free(job);
    CHECK_INT_EQ(atomic_load(&avatar_stat_decodes), decodes); /* refused before decoding */
    avatar_pool_release(pool, budget - (1 << 20));

    job = run_job_in(pool, AVATAR_SOURCE_DATA_URL, png_4x2, &conf, 64, BOOKA_IMAGE_OUTPUT_JPEG);
    CHECK_INT_EQ(job->status, 200);
    avatar_render_job_free(job);
    CHECK_INT_EQ(avatar_pool_reserve(pool, budget), 0); /* the render gave back what it reserved */
    CHECK_INT_EQ(avatar_pool_reserve(pool, 1), -1);
    avatar_pool_release(pool, budget);

    job = run_job_in(tiny, AVATAR_SOURCE_DATA_URL, png_4x2, &conf, 64, BOOKA_IMAGE_OUTPUT_JPEG);
    CHECK_INT_EQ(job->status, 422); /* no budget of 1 KiB could ever cover it */
    avatar_render_job_free(job);
    CHECK_INT_EQ(avatar_pool_reserve(tiny, 1025), -2);
    CHECK_INT_EQ(avatar_pool_reserve(tiny, 1024), 0);
    avatar_pool_release(tiny, 1024);
}

#if !defined(__SANITIZE_ADDRESS__)
/* vm_size: this process's mapped address space, in bytes. */
static size_t vm_size(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;

    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "VmSize:", 7) == 0)
            kb = (size_t)atol(line + 7);
    if (fp != NULL)
        fclose(fp);
    return kb * 1024;
}
#endif

/* test_out_of_memory: a data URL whose decoded bytes cannot be had (the address space capped just above what the child
 * holds) is the graceful 503 of an input-sized allocation (http/json.h), not a 500. In a child with RLIMIT_AS, which
 * ASan's shadow memory does not survive: the release build runs it. */
static void test_out_of_memory(void)
{
#if defined(__SANITIZE_ADDRESS__)
    fprintf(stderr, "test_out_of_memory: skipped under ASan\n");
#else
    const size_t payload = 48 << 20; /* base64: 36 MiB decoded */
    pid_t pid = fork();
    int wstatus = 0;

    if (pid == 0) {
        avatar_config_t conf = {.media_root_fd = -1, .limits = booka_image_default_limits};
        avatar_render_job_t *job = calloc(1, sizeof(*job));
        char *text = malloc(payload + 32);
        size_t prefix = (size_t)sprintf(text, "data:image/png;base64,");
        struct rlimit cap;

        memset(text + prefix, 'A', payload);
        text[prefix + payload] = '\0';
        conf.limits.max_source_bytes = 64 << 20;
        *job = (avatar_render_job_t){.pool = unbudgeted,
                                     .kind = AVATAR_SOURCE_DATA_URL,
                                     .text = text,
                                     .text_len = prefix + payload,
                                     .conf = &conf,
                                     .side = 64,
                                     .format = BOOKA_IMAGE_OUTPUT_JPEG,
                                     .quality = 80};
        cap.rlim_cur = cap.rlim_max = vm_size() + (8 << 20);
        if (setrlimit(RLIMIT_AS, &cap) != 0)
            _exit(2);
        avatar_render(&job->super);
        _exit(job->status == 503 && strcmp(job->message, BOOKA_OUT_OF_MEMORY) == 0 ? 0 : 10 + job->status % 100);
    }
    CHECK(pid > 0);
    CHECK(waitpid(pid, &wstatus, 0) == pid);
    CHECK(WIFEXITED(wstatus));
    CHECK_INT_EQ(WEXITSTATUS(wstatus), 0);
#endif
}

static void test_render(void)
{
    avatar_config_t conf = {.media_root_fd = open(root, O_PATH | O_DIRECTORY), .limits = booka_image_default_limits};
    avatar_render_job_t *job;
    booka_image_info_t info;
    char path[256];

    job = run_job(AVATAR_SOURCE_DATA_URL, png_4x2, &conf, 256, BOOKA_IMAGE_OUTPUT_JPEG);
    CHECK_INT_EQ(job->status, 200);
    CHECK(job->result.len != 0 && strcmp(job->result.mime_type, "image/jpeg") == 0);
    CHECK(booka_image_probe(job->result.bytes, job->result.len, &info) == BOOKA_IMAGE_OK);
    CHECK(info.width == 2 && info.height == 2); /* capped by the short side */
    avatar_render_job_free(job);

    job = run_job(AVATAR_SOURCE_DATA_URL, "data:image/png;base64,%%%", &conf, 16, BOOKA_IMAGE_OUTPUT_WEBP);
    CHECK_INT_EQ(job->status, 422);
    avatar_render_job_free(job);
    job = run_job(AVATAR_SOURCE_DATA_URL, "data:text/plain;base64,aGVsbG8=", &conf, 16, BOOKA_IMAGE_OUTPUT_WEBP);
    CHECK_INT_EQ(job->status, 422);
    avatar_render_job_free(job);

    /* a media file: the PNG's bytes written below the root */
    {
        uint8_t *bytes;
        size_t len;
        CHECK(booka_image_decode_data_url(png_4x2, strlen(png_4x2), &bytes, &len, 1 << 20) == BOOKA_IMAGE_OK);
        snprintf(path, sizeof(path), "%s/profile_pics/p.png", root);
        write_file(path, bytes, len);
        free(bytes);
    }
    job = run_job(AVATAR_SOURCE_MEDIA, "profile_pics/p.png", &conf, 1, BOOKA_IMAGE_OUTPUT_WEBP);
    CHECK_INT_EQ(job->status, 200);
    CHECK(strcmp(job->result.mime_type, "image/webp") == 0);
    CHECK(booka_image_probe(job->result.bytes, job->result.len, &info) == BOOKA_IMAGE_OK && info.width == 1);
    avatar_render_job_free(job);
    job = run_job(AVATAR_SOURCE_MEDIA, "profile_pics/a.jpg", &conf, 16, BOOKA_IMAGE_OUTPUT_WEBP);
    CHECK_INT_EQ(job->status, 422); /* one byte: not an image */
    avatar_render_job_free(job);
    job = run_job(AVATAR_SOURCE_MEDIA, "profile_pics/none.png", &conf, 16, BOOKA_IMAGE_OUTPUT_WEBP);
    CHECK_INT_EQ(job->status, 404);
    avatar_render_job_free(job);
    job = run_job(AVATAR_SOURCE_MEDIA, "profile_pics/escape.jpg", &conf, 16, BOOKA_IMAGE_OUTPUT_WEBP);
    CHECK_INT_EQ(job->status, 404);
    avatar_render_job_free(job);

    /* over the byte limit, from a file and from a data URL; over the pixel limit */
    conf.limits.max_source_bytes = 50;
    job = run_job(AVATAR_SOURCE_MEDIA, "profile_pics/p.png", &conf, 16, BOOKA_IMAGE_OUTPUT_WEBP);
    CHECK_INT_EQ(job->status, 422);
    avatar_render_job_free(job);
    job = run_job(AVATAR_SOURCE_DATA_URL, png_4x2, &conf, 16, BOOKA_IMAGE_OUTPUT_WEBP);
    CHECK_INT_EQ(job->status, 422);
    avatar_render_job_free(job);
    conf.limits = booka_image_default_limits;
    conf.limits.max_source_pixels = 7;
    job = run_job(AVATAR_SOURCE_DATA_URL, png_4x2, &conf, 16, BOOKA_IMAGE_OUTPUT_WEBP);
    CHECK_INT_EQ(job->status, 422);
    avatar_render_job_free(job);
    close(conf.media_root_fd);
}

int main(void)
{
    char base[] = "/tmp/avatar-render-test.XXXXXX", cmd[128];

    if (mkdtemp(base) == NULL)
        return 2;
    snprintf(root, sizeof(root), "%s/root", base);
    snprintf(outside, sizeof(outside), "%s/outside", base);
    mkdir(root, 0755);
    mkdir(outside, 0755);
    test_classify();
    test_media_open();
    unbudgeted = avatar_pool_create(1, 0, 0);
    test_render();
    test_memory_budget();
    test_out_of_memory();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", base);
    return unit_report("avatar_render");
}
