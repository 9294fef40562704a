/* fixtures.h: image test helpers: a temp dir of ImageMagick-made fixtures, file and PAM reading, pixel comparison. */
#ifndef BOOKA_IMAGE_FIXTURES_H
#define BOOKA_IMAGE_FIXTURES_H

#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "image/image.h"

static char fixture_dir_path[64];

/* fixture_remove_entry, fixture_remove_dir: rm -rf of the fixture dir, at exit. */
static inline int fixture_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static inline void fixture_remove_dir(void)
{
    if (fixture_dir_path[0] != '\0')
        nftw(fixture_dir_path, fixture_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* fixture_dir: a fresh temp dir, created on first use and removed at exit; aborts the test if it cannot be made. */
static inline const char *fixture_dir(void)
{
    if (fixture_dir_path[0] == '\0') {
        strcpy(fixture_dir_path, "/tmp/booka-image-test-XXXXXX");
        if (mkdtemp(fixture_dir_path) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(fixture_remove_dir);
    }
    return fixture_dir_path;
}

/* fixture_path: "<dir>/<name>" in a static ring of buffers, so a few can be held at once. */
static inline const char *fixture_path(const char *name)
{
    static char paths[8][256];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof(paths[0]), "%s/%s", fixture_dir(), name);
    return path;
}

/* fixture_sh: runs the printf-formatted shell command in the fixture dir. Returns 1 on exit status 0, else prints the
 * command and returns 0. */
static inline int fixture_sh(const char *fmt, ...)
{
    char command[4096];
    int n = snprintf(command, sizeof(command), "cd %s && ", fixture_dir());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(command + n, sizeof(command) - n, fmt, ap);
    va_end(ap);
    if (system(command) != 0) {
        fprintf(stderr, "fixture command failed: %s\n", command);
        return 0;
    }
    return 1;
}

/* fixture_read: the file's bytes, malloc'd (never NULL on success; a zero-length file gives a 1-byte allocation). Returns
 * NULL when the file cannot be read. */
static inline uint8_t *fixture_read(const char *name, size_t *len)
{
    FILE *fp = fopen(fixture_path(name), "rb");
    uint8_t *buf = NULL;
    long size;
    *len = 0;
    if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0 ||
        (buf = malloc(size ? (size_t)size : 1)) == NULL || fread(buf, 1, (size_t)size, fp) != (size_t)size) {
        free(buf);
        buf = NULL;
    } else {
        *len = (size_t)size;
    }
    if (fp != NULL)
        fclose(fp);
    return buf;
}

/* fixture_write: writes len bytes to the named fixture; returns 1 on success. */
static inline int fixture_write(const char *name, const uint8_t *buf, size_t len)
{
    FILE *fp = fopen(fixture_path(name), "wb");
    int ok = fp != NULL && fwrite(buf, 1, len, fp) == len;
    if (fp != NULL && fclose(fp) != 0)
        ok = 0;
    return ok;
}

/* fixture_read_pam: reads a P7 PAM (RGB or RGB_ALPHA, maxval 255) as ImageMagick writes it. Returns 1 on success. */
static inline int fixture_read_pam(const char *name, booka_image_pixels_t *out)
{
    size_t len;
    uint8_t *buf = fixture_read(name, &len);
    unsigned width = 0, height = 0, depth = 0, maxval = 0;
    *out = (booka_image_pixels_t){0};
    if (buf == NULL)
        return 0;
    const char *end = memmem(buf, len, "ENDHDR\n", 7);
    if (end == NULL || memcmp(buf, "P7\n", 3) != 0)
        goto Error;
    for (const char *line = (const char *)buf; line < end; line = strchr(line, '\n') + 1) {
        sscanf(line, "WIDTH %u", &width);
        sscanf(line, "HEIGHT %u", &height);
        sscanf(line, "DEPTH %u", &depth);
        sscanf(line, "MAXVAL %u", &maxval);
    }
    size_t offset = (size_t)(end + 7 - (const char *)buf), size = (size_t)width * height * depth;
    if (maxval != 255 || (depth != 3 && depth != 4) || len - offset < size || (out->data = malloc(size)) == NULL)
        goto Error;
    memcpy(out->data, buf + offset, size);
    out->width = width;
    out->height = height;
    out->channels = (uint8_t)depth;
    free(buf);
    return 1;

Error:
    free(buf);
    return 0;
}

/* pixel: a pointer to pixel (x, y). */
static inline const uint8_t *pixel(const booka_image_pixels_t *p, uint32_t x, uint32_t y)
{
    return p->data + ((size_t)y * p->width + x) * p->channels;
}

/* pixels_psnr: PSNR in dB over the RGB channels of two equally sized images (alpha ignored, colour compared where both are
 * opaque enough to mean something: alpha >= 16 when either has alpha); 99 for identical, -1 for mismatched sizes. */
static inline double pixels_psnr(const booka_image_pixels_t *a, const booka_image_pixels_t *b)
{
    if (a->width != b->width || a->height != b->height)
        return -1;
    double sum = 0;
    size_t count = 0;
    for (uint32_t y = 0; y < a->height; ++y) {
        for (uint32_t x = 0; x < a->width; ++x) {
            const uint8_t *pa = pixel(a, x, y), *pb = pixel(b, x, y);
            if ((a->channels == 4 && pa[3] < 16) || (b->channels == 4 && pb[3] < 16))
                continue;
            for (int c = 0; c < 3; ++c) {
                double d = (double)pa[c] - pb[c];
                sum += d * d;
                ++count;
            }
        }
    }
    if (count == 0 || sum == 0)
        return 99;
    return 10 * log10(255.0 * 255.0 / (sum / count));
}

/* pixels_max_diff: the largest absolute difference of any channel both images have (alpha too when both have it); colour
 * is not compared where either alpha is 0, since a fully transparent pixel's colour means nothing. */
static inline int pixels_max_diff(const booka_image_pixels_t *a, const booka_image_pixels_t *b)
{
    if (a->width != b->width || a->height != b->height)
        return 256;
    int channels = a->channels < b->channels ? a->channels : b->channels, worst = 0;
    for (uint32_t y = 0; y < a->height; ++y) {
        for (uint32_t x = 0; x < a->width; ++x) {
            const uint8_t *pa = pixel(a, x, y), *pb = pixel(b, x, y);
            int invisible = (a->channels == 4 && pa[3] == 0) || (b->channels == 4 && pb[3] == 0);
            for (int c = invisible ? 3 : 0; c < channels; ++c) {
                int d = abs((int)pa[c] - pb[c]);
                if (d > worst)
                    worst = d;
            }
        }
    }
    return worst;
}

/* render_file: booka_image_render() on a fixture file. */
static inline booka_image_error_t render_file(const char *name, uint32_t side, int full_decode, booka_image_pixels_t *out)
{
    size_t len = 0;
    uint8_t *buf = fixture_read(name, &len);
    booka_image_params_t params = {side, BOOKA_IMAGE_OUTPUT_WEBP, 90, NULL, full_decode};
    booka_image_error_t err = buf == NULL ? BOOKA_IMAGE_ERROR_NOT_IMAGE : booka_image_render(buf, len, &params, out);
    free(buf);
    return err;
}

/* now_ms: monotonic milliseconds. */
static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#endif
