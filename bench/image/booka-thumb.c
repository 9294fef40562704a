/* booka-thumb.c: command-line thumbnailer over plugin/image, for benchmarks against vipsthumbnail and for trying files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "image/internal.h"

static void usage(void)
{
    fprintf(stderr, "usage: booka-thumb [--full-decode] IN OUT SIDE webp|jpeg Q\n"
                    "       booka-thumb --jpeg-modes IN SIDE Q   (sequential+optimised vs progressive JPEG: size and time)\n");
    exit(2);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* read_file: the whole file, malloc'd; exits on failure. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0 ||
        (buf = malloc(size ? (size_t)size : 1)) == NULL || fread(buf, 1, (size_t)size, fp) != (size_t)size) {
        perror(path);
        exit(1);
    }
    fclose(fp);
    *len = (size_t)size;
    return buf;
}

/* compare_jpeg_modes: renders once, then encodes the same pixels both ways, best of 20 runs each. */
static int compare_jpeg_modes(const char *in, uint32_t side, int quality)
{
    size_t len;
    uint8_t *src = read_file(in, &len);
    booka_image_params_t params = {side, BOOKA_IMAGE_OUTPUT_JPEG, quality, NULL, 0};
    booka_image_pixels_t pixels;
    booka_image_error_t err = booka_image_render(src, len, &params, &pixels);
    if (err != BOOKA_IMAGE_OK) {
        fprintf(stderr, "%s: %s\n", in, booka_image_strerror(err));
        return 1;
    }
    for (int progressive = 0; progressive <= 1; ++progressive) {
        double best = 1e9;
        size_t size = 0;
        for (int run = 0; run < 20; ++run) {
            booka_image_result_t result;
            double start = now_ms();
            if (booka_image_encode_jpeg(&pixels, quality, progressive, &result) != BOOKA_IMAGE_OK)
                return 1;
            double elapsed = now_ms() - start;
            best = elapsed < best ? elapsed : best;
            size = result.len;
            booka_image_result_dispose(&result);
        }
        printf("%s %u px q%d %-22s %7zu B %6.2f ms\n", in, side, quality, progressive ? "progressive" : "sequential+optimised",
               size, best);
    }
    booka_image_pixels_dispose(&pixels);
    free(src);
    return 0;
}

int main(int argc, char **argv)
{
    int full_decode = 0;
    if (argc == 5 && strcmp(argv[1], "--jpeg-modes") == 0)
        return compare_jpeg_modes(argv[2], (uint32_t)atoi(argv[3]), atoi(argv[4]));
    if (argc > 1 && strcmp(argv[1], "--full-decode") == 0) {
        full_decode = 1;
        ++argv;
        --argc;
    }
    if (argc != 6)
        usage();

    booka_image_params_t params = {(uint32_t)atoi(argv[3]), 0, atoi(argv[5]), NULL, full_decode};
    if (strcmp(argv[4], "webp") == 0)
        params.format = BOOKA_IMAGE_OUTPUT_WEBP;
    else if (strcmp(argv[4], "jpeg") == 0)
        params.format = BOOKA_IMAGE_OUTPUT_JPEG;
    else
        usage();

    size_t len;
    uint8_t *src = read_file(argv[1], &len);
    booka_image_result_t result;
    double start = now_ms();
    booka_image_error_t err = booka_image_thumbnail(src, len, &params, &result);
    double elapsed = now_ms() - start;
    free(src);
    if (err != BOOKA_IMAGE_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], booka_image_strerror(err));
        return 1;
    }
    FILE *fp = fopen(argv[2], "wb");
    if (fp == NULL || fwrite(result.bytes, 1, result.len, fp) != result.len || fclose(fp) != 0) {
        perror(argv[2]);
        return 1;
    }
    printf("%s -> %s: %ux%u %s, %zu bytes, %.1f ms\n", argv[1], argv[2], result.side, result.side, result.mime_type, result.len,
           elapsed);
    booka_image_result_dispose(&result);
    return 0;
}
