/* render.c: the worker's side of a variant: the source's bytes (data URL decoding, media files opened without leaving
 * the media root), then the image library's probe, limits, decode, crop, Lanczos-3 and encode. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "avatar/internal.h"

_Atomic uint64_t avatar_stat_decodes, avatar_stat_queue_full, avatar_stat_fetches;

#define MEDIA_PREFIX "/static/"
#define MEDIA_MAX_DEPTH 16

avatar_source_kind_t avatar_classify_source(const char *url, size_t len, h2o_iovec_t *path)
{
    if (len >= 5 && strncasecmp(url, "data:", 5) == 0)
        return AVATAR_SOURCE_DATA_URL;
    if ((len >= 7 && strncasecmp(url, "http://", 7) == 0) || (len >= 8 && strncasecmp(url, "https://", 8) == 0))
        return AVATAR_SOURCE_HTTP;
    if (len > sizeof(MEDIA_PREFIX) - 1 && memcmp(url, MEDIA_PREFIX, sizeof(MEDIA_PREFIX) - 1) == 0) {
        size_t start = sizeof(MEDIA_PREFIX) - 1, end = start;
        while (end < len && url[end] != '?' && url[end] != '#')
            ++end;
        *path = h2o_iovec_init(url + start, end - start);
        return AVATAR_SOURCE_MEDIA;
    }
    return AVATAR_SOURCE_NONE;
}

int avatar_media_open(int root_fd, const char *path, size_t len)
{
    char name[NAME_MAX + 1];
    int dir = root_fd, fd = -1, depth = 0;
    struct stat st;

    if (root_fd < 0 || len == 0 || memchr(path, '\0', len) != NULL)
        goto Invalid;
    for (size_t start = 0; start <= len;) {
        const char *slash = memchr(path + start, '/', len - start);
        size_t end = slash != NULL ? (size_t)(slash - path) : len, n = end - start;
        int last = slash == NULL;
        if (n == 0 || n > NAME_MAX || (n == 1 && path[start] == '.') || (n == 2 && path[start] == '.' && path[start + 1] == '.') ||
            ++depth > MEDIA_MAX_DEPTH)
            goto Invalid;
        memcpy(name, path + start, n);
        name[n] = '\0';
        fd = openat(dir, name,
                    last ? O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir != root_fd)
            close(dir);
        if (fd == -1)
            return -1;
        if (last)
            break;
        dir = fd;
        start = end + 1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    return fd;
Invalid:
    if (dir != root_fd)
        close(dir);
    errno = EINVAL;
    return -1;
}

/* read_media: the whole file at job->text below the media root, into job->bytes. Returns 0, or an HTTP status with
 * job->message set. */
static int read_media(avatar_render_job_t *job)
{
    int fd = avatar_media_open(job->conf->media_root_fd, job->text, job->text_len);
    struct stat st;
    size_t cap, len = 0;
    int status = 0;

    if (fd == -1) {
        job->message = "the picture file was not found";
        return 404;
    }
    if (fstat(fd, &st) != 0) {
        job->message = "the picture file cannot be read";
        status = 404;
        goto Exit;
    }
    if ((uint64_t)st.st_size > job->conf->limits.max_source_bytes) {
        job->message = booka_image_strerror(BOOKA_IMAGE_ERROR_TOO_MANY_BYTES);
        status = 422;
        goto Exit;
    }
    cap = (size_t)st.st_size + 1;             /* one more, to see a file that grew meanwhile */
    if ((job->bytes = malloc(cap)) == NULL) { /* the file's size (at most max-source-bytes) */
        job->message = msg_out_of_memory;
        status = 503;
        goto Exit;
    }
    for (;;) {
        ssize_t n = read(fd, job->bytes + len, cap - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            job->message = "the picture file cannot be read";
            status = 404;
            goto Exit;
        }
        if (n == 0)
            break;
        if ((len += (size_t)n) == cap) {
            job->message = booka_image_strerror(BOOKA_IMAGE_ERROR_TOO_MANY_BYTES);
            status = 422;
            goto Exit;
        }
    }
    job->len = len;
Exit:
    close(fd);
    return status;
}

/* source_bytes: makes job->bytes hold the encoded picture. Returns 0, or an HTTP status with job->message set. */
static int source_bytes(avatar_render_job_t *job)
{
    booka_image_error_t err;

    switch (job->kind) {
    case AVATAR_SOURCE_DATA_URL:
        err = booka_image_decode_data_url(job->text, job->text_len, &job->bytes, &job->len, job->conf->limits.max_source_bytes);
        if (err != BOOKA_IMAGE_OK) {
            job->message = avatar_image_error_message(err);
            return avatar_image_error_status(err);
        }
        return 0;
    case AVATAR_SOURCE_MEDIA:
        return read_media(job);
    default:
        return 0; /* fetched: the bytes are there */
    }
}

void avatar_render(avatar_job_t *_job)
{
    avatar_render_job_t *job = (avatar_render_job_t *)_job;
    booka_image_params_t params = {.format = job->format, .quality = job->quality, .limits = &job->conf->limits};
    booka_image_info_t info;
    booka_image_error_t err;
    uint64_t need;
    int status;

    if ((status = source_bytes(job)) != 0) {
        job->status = status;
        return;
    }
    free(job->text); /* a data URL is decoded by now: its text (up to 4/3 of the bytes) need not wait for the render */
    job->text = NULL;
    if ((err = booka_image_probe(job->bytes, job->len, &info)) != BOOKA_IMAGE_OK ||
        (err = booka_image_check_limits(&info, job->len, &job->conf->limits)) != BOOKA_IMAGE_OK)
        goto Error;
    params.side = job->side;
    if (params.side > info.width)
        params.side = info.width;
    if (params.side > info.height)
        params.side = info.height;
    /* the memory budget: the render's estimated peak, the source's bytes included, or a 503 like a full pool's (or a 422
     * when no budget could ever cover it); never a wait on a worker, which would hold the thread and the bytes */
    need = booka_image_memory_estimate(&info, job->len, params.side);
    switch (avatar_pool_reserve(job->pool, need)) {
    case 0:
        break;
    case -1:
        job->message = "the image workers are busy, try again";
        job->status = 503;
        return;
    default:
        job->message = "image over the worker memory budget";
        job->status = 422;
        return;
    }
    atomic_fetch_add(&avatar_stat_decodes, 1);
    err = booka_image_thumbnail(job->bytes, job->len, &params, &job->result);
    avatar_pool_release(job->pool, need);
    if (err != BOOKA_IMAGE_OK)
        goto Error;
    job->status = 200;
    return;
Error:
    job->message = avatar_image_error_message(err);
    job->status = avatar_image_error_status(err);
}

void avatar_render_job_free(avatar_render_job_t *job)
{
    free(job->text);
    free(job->bytes);
    booka_image_result_dispose(&job->result);
    free(job);
}
