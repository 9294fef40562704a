/* reject_test.c: tests that bad input fails with the right error and nothing else: truncation, garbage, bombs, limits,
 * unsupported variants, bad parameters, and randomly damaged files (no crash, no leak under ASan). */
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include "unit.h"
#include "fixtures.h"

static const char *const fixtures[] = {"baseline.jpg",   "progressive.jpg", "rgb.png",
                                       "interlaced.png", "lossy.webp",      "lossless.webp"};

/* make_fixtures: a 96x64 photo-like source in each format. */
static int make_fixtures(void)
{
    return fixture_sh("convert -size 96x64 -seed 3 plasma:fractal -blur 0x1 PNG24:source.png") &&
           fixture_sh("convert source.png -quality 90 baseline.jpg") &&
           fixture_sh("convert source.png -quality 90 -interlace Plane progressive.jpg") && fixture_sh("cp source.png rgb.png") &&
           fixture_sh("convert source.png -interlace PNG PNG24:interlaced.png") &&
           fixture_sh("convert source.png -quality 80 lossy.webp") &&
           fixture_sh("convert source.png -define webp:lossless=true lossless.webp");
}

/* render: booka_image_render() at side 32 with the given limits; checks that a failure leaves *out empty. */
static booka_image_error_t render(const uint8_t *buf, size_t len, const booka_image_limits_t *limits)
{
    booka_image_params_t params = {32, BOOKA_IMAGE_OUTPUT_JPEG, 80, limits, 0};
    booka_image_pixels_t out;
    booka_image_error_t err = booka_image_render(buf, len, &params, &out);
    if (err != BOOKA_IMAGE_OK)
        CHECK(out.data == NULL && out.width == 0);
    else
        CHECK(out.width == 32 && out.height == 32);
    booka_image_pixels_dispose(&out);
    return err;
}

static void test_not_images(void)
{
    uint8_t noise[4096];
    booka_image_info_t info;
    srand(11);
    for (size_t i = 0; i < sizeof(noise); ++i)
        noise[i] = (uint8_t)rand();
    noise[0] = 0x42; /* whatever rand() gives, no signature starts with this byte */
    CHECK_INT_EQ(render(noise, 0, NULL), BOOKA_IMAGE_ERROR_NOT_IMAGE);
    CHECK_INT_EQ(render(NULL, 0, NULL), BOOKA_IMAGE_ERROR_NOT_IMAGE);
    CHECK_INT_EQ(render(noise, sizeof(noise), NULL), BOOKA_IMAGE_ERROR_NOT_IMAGE);
    CHECK_INT_EQ(render((const uint8_t *)"GIF89a", 6, NULL), BOOKA_IMAGE_ERROR_NOT_IMAGE);
    CHECK_INT_EQ(render((const uint8_t *)"<html>", 6, NULL), BOOKA_IMAGE_ERROR_NOT_IMAGE);
    CHECK_INT_EQ(booka_image_probe((const uint8_t *)"\x89PN", 3, &info), BOOKA_IMAGE_ERROR_TRUNCATED);
    CHECK_INT_EQ(booka_image_probe((const uint8_t *)"RIFF", 4, &info), BOOKA_IMAGE_ERROR_TRUNCATED);
    CHECK_INT_EQ(booka_image_probe((const uint8_t *)"\xff\xd8", 2, &info), BOOKA_IMAGE_ERROR_TRUNCATED);
    CHECK_INT_EQ(booka_image_probe((const uint8_t *)"RIFF\x10\0\0\0WAVEfmt ", 16, &info), BOOKA_IMAGE_ERROR_NOT_IMAGE);
    CHECK_INT_EQ(info.format, BOOKA_IMAGE_FORMAT_UNKNOWN);
}

/* Every cut of a file, from inside the header to just before its end, is an error, never a partly grey picture. */
static void test_truncated(void)
{
    static const double cuts[] = {0.02, 0.1, 0.3, 0.6, 0.9, 0.99};
    for (size_t f = 0; f < sizeof(fixtures) / sizeof(fixtures[0]); ++f) {
        size_t len = 0;
        uint8_t *buf = fixture_read(fixtures[f], &len);
        CHECK_INT_EQ(render(buf, len, NULL), BOOKA_IMAGE_OK);
        for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); ++c) {
            size_t cut = (size_t)(len * cuts[c]);
            booka_image_error_t err = render(buf, cut, NULL);
            if (err != BOOKA_IMAGE_ERROR_TRUNCATED)
                fprintf(stderr, "%s cut at %zu of %zu: %s\n", fixtures[f], cut, len, booka_image_strerror(err));
            CHECK_INT_EQ(err, BOOKA_IMAGE_ERROR_TRUNCATED);
        }
        CHECK_INT_EQ(render(buf, len - 1, NULL), BOOKA_IMAGE_ERROR_TRUNCATED); /* JPEG: EOI cut; PNG: IEND cut; WebP: RIFF short */
        free(buf);
    }
}

/* put_be32: a big-endian field, as PNG uses. */
static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* put_png_chunk: appends a chunk with its CRC at buf + *n. */
static void put_png_chunk(uint8_t *buf, size_t *n, const char *type, const uint8_t *data, uint32_t len)
{
    put_be32(buf + *n, len);
    memcpy(buf + *n + 4, type, 4);
    if (len > 0)
        memcpy(buf + *n + 8, data, len);
    put_be32(buf + *n + 8 + len, (uint32_t)crc32(0, buf + *n + 4, len + 4));
    *n += 12 + len;
}

/* start_png: the signature and an 8-bit IHDR of width x height in `colour_type` (2 RGB, 6 RGBA); returns the length. */
static size_t start_png(uint8_t *png, uint32_t width, uint32_t height, uint8_t colour_type)
{
    uint8_t ihdr[13] = {0};
    size_t n = 8;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = 8;
    ihdr[9] = colour_type;
    put_png_chunk(png, &n, "IHDR", ihdr, 13);
    return n;
}

/* bomb_png: a PNG whose IHDR claims width x height RGBA pixels, followed by a tiny valid zlib stream and IEND. */
static size_t bomb_png(uint8_t *png, uint32_t width, uint32_t height)
{
    uint8_t idat[16];
    size_t n = start_png(png, width, height, 6);
    uLongf idat_len = sizeof(idat);
    const uint8_t zero = 0;
    CHECK_INT_EQ(compress(idat, &idat_len, &zero, 1), Z_OK);
    put_png_chunk(png, &n, "IDAT", idat, (uint32_t)idat_len);
    put_png_chunk(png, &n, "IEND", NULL, 0);
    return n;
}

/* A 30000x30000 RGBA PNG header (3.6 GB of pixels), and a 1 x 39M one (within 40 MP, but 2 s of libpng rows): rejected from
 * IHDR in microseconds without allocating (measured with mallinfo2 where ASan does not replace malloc). */
static void test_png_bomb_headers(void)
{
    static const uint32_t sizes[][2] = {{30000, 30000}, {1, 39000000}};
    for (int i = 0; i < 2; ++i) {
        uint8_t png[128];
        size_t n = bomb_png(png, sizes[i][0], sizes[i][1]);
        booka_image_info_t info;
        CHECK_INT_EQ(booka_image_probe(png, n, &info), BOOKA_IMAGE_OK);
        CHECK(info.width == sizes[i][0] && info.height == sizes[i][1] && info.has_alpha);
        booka_image_params_t params = {1, BOOKA_IMAGE_OUTPUT_WEBP, 85, NULL, 0};
        booka_image_result_t result;
#if !defined(__SANITIZE_ADDRESS__)
        struct mallinfo2 before = mallinfo2();
#endif
        double start = now_ms();
        CHECK_INT_EQ(booka_image_thumbnail(png, n, &params, &result), BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS);
        double elapsed = now_ms() - start;
#if !defined(__SANITIZE_ADDRESS__)
        struct mallinfo2 after = mallinfo2();
        CHECK(after.uordblks == before.uordblks && after.hblkhd == before.hblkhd);
#endif
        printf("%ux%u PNG header rejected in %.3f ms\n", sizes[i][0], sizes[i][1], elapsed);
        CHECK(elapsed < 5);
        CHECK(result.bytes == NULL);
    }
}

/* vm_kb: a "Vm...:" line of this process's status, in KiB (VmPeak counts address space, so it shows an allocation
 * whether or not its pages were used). */
static long vm_kb(const char *field)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, field, strlen(field)) == 0)
            kb = atol(line + strlen(field));
    if (fp != NULL)
        fclose(fp);
    return kb;
}

/* render_in_child: render(buf, len, NULL) in a child process; returns its error (-1 when the child could not report)
 * with how far the child's peak virtual size grew during the render and the headroom VmPeak had over VmSize before it
 * (KiB, -1 unknown). VmPeak comes from the parent: growth shows only if the peak was near the size when the render began
 * (main runs these tests first for that reason), which the headroom lets the caller check. */
static long render_in_child(const uint8_t *buf, size_t len, long *growth_kb, long *headroom_kb)
{
    int fds[2], status = 0;
    long report[3] = {-1, -1, -1}; /* the error, the growth of VmPeak, the headroom */
    if (pipe(fds) != 0) {
        *growth_kb = *headroom_kb = -1;
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        long before = vm_kb("VmPeak:");
        report[2] = before - vm_kb("VmSize:");
        report[0] = render(buf, len, NULL);
        report[1] = vm_kb("VmPeak:") - before;
        _exit(write(fds[1], report, sizeof(report)) == sizeof(report) ? 0 : 1);
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], report, sizeof(report)) != sizeof(report))
        report[0] = report[1] = report[2] = -1;
    close(fds[0]);
    if (pid > 0 && (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
        report[0] = -1;
    *growth_kb = report[1];
    *headroom_kb = report[2];
    return report[0];
}

/* A chunk header that claims 1.9 GB in a file of 57 bytes. libpng 1.6 treats a chunk over its malloc limit as a benign
 * error, which a reader only warns about, and then allocates the declared length before reading it (the image fuzzer
 * found this: libFuzzer's malloc limit stopped it). The decoder must say TRUNCATED without reserving that memory: each
 * case renders in a child process, whose peak virtual size must not grow by the claim. */
static void test_png_chunk_longer_than_the_file(void)
{
    static const char *const types[] = {"tEXt", "zTXt", "iCCP", "eXIf", "caNv", "IDAT"};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); ++t) {
        uint8_t png[128], some[16] = {'k', 'e', 'y', 0, 'v', 'a', 'l'};
        size_t n = start_png(png, 64, 64, 2);
        put_be32(png + n, 0x74000025u);
        memcpy(png + n + 4, types[t], 4);
        memcpy(png + n + 8, some, sizeof(some));
        n += 8 + sizeof(some);

        long growth, headroom, err = render_in_child(png, n, &growth, &headroom);
        if (err != BOOKA_IMAGE_ERROR_TRUNCATED || growth > 64 * 1024)
            fprintf(stderr, "%s claiming 1.9 GB: error %ld, VmPeak grew %ld KiB\n", types[t], err, growth);
        CHECK_INT_EQ(err, BOOKA_IMAGE_ERROR_TRUNCATED);
        CHECK(headroom >= 0 && headroom < 64 * 1024);
        CHECK(growth >= 0 && growth < 64 * 1024);
    }
}

/* Compressed text chunks that each inflate to almost libpng's per-chunk limit: libpng inflates every zTXt (and iTXt) it
 * reads and keeps the text in its info struct until the decode ends (up to its chunk cache of 1000: ~8 GB from an 8 MB
 * file within max-source-bytes). The decoder never uses them: it must read past them without keeping or inflating them,
 * and still decode the image. */
static void test_png_text_bombs(void)
{
    enum { CHUNKS = 48, TEXT = 7 * 1024 * 1024 };
    uLongf chunk_len = compressBound(TEXT), idat_len = 512;
    uint8_t *text = malloc(TEXT), *chunk = malloc(3 + chunk_len), *png = NULL;
    uint8_t rows[64 * (1 + 64 * 3)] = {0}, idat[512];
    size_t n;
    if (text != NULL && chunk != NULL) {
        memset(text, 'a', TEXT);   /* not NULs: libpng keeps a text up to its first NUL */
        memcpy(chunk, "k\0\0", 3); /* keyword "k", compression method 0, then the zlib stream */
        CHECK_INT_EQ(compress2(chunk + 3, &chunk_len, text, TEXT, 9), Z_OK);
        png = malloc(1024 + CHUNKS * (12 + 3 + chunk_len));
    }
    free(text);
    if (png == NULL) {
        CHECK(!"memory for the test's PNG");
        free(chunk);
        return;
    }
    n = start_png(png, 64, 64, 2);
    for (int i = 0; i < CHUNKS; ++i)
        put_png_chunk(png, &n, "zTXt", chunk, (uint32_t)(3 + chunk_len));
    CHECK_INT_EQ(compress(idat, &idat_len, rows, sizeof(rows)), Z_OK);
    put_png_chunk(png, &n, "IDAT", idat, (uint32_t)idat_len);
    put_png_chunk(png, &n, "IEND", NULL, 0);
    free(chunk);

    long growth, headroom, err = render_in_child(png, n, &growth, &headroom);
    printf("%d text chunks of %d MiB each in a %zu-byte PNG: VmPeak grew %ld KiB\n", CHUNKS, TEXT >> 20, n, growth);
    CHECK_INT_EQ(err, BOOKA_IMAGE_OK);
    CHECK(headroom >= 0 && headroom < 64 * 1024);
    CHECK(growth >= 0 && growth < 64 * 1024);
    free(png);
}

/* find_jpeg_frame: the offset of a JPEG's SOF0..SOF2 marker, or 0. */
static size_t find_jpeg_frame(const uint8_t *buf, size_t len)
{
    for (size_t i = 2; i + 9 < len; ++i)
        if (buf[i] == 0xff && buf[i + 1] >= 0xc0 && buf[i + 1] <= 0xc2)
            return i;
    return 0;
}

static void test_jpeg_headers(void)
{
    size_t len = 0;
    uint8_t *buf = fixture_read("baseline.jpg", &len);
    size_t sof = find_jpeg_frame(buf, len);
    CHECK(sof != 0);
    uint8_t *copy = malloc(len);

    memcpy(copy, buf, len);
    copy[sof + 5] = copy[sof + 7] = 0xfd; /* 65000 x 65000 */
    copy[sof + 6] = copy[sof + 8] = 0xe8;
    double start = now_ms();
    CHECK_INT_EQ(render(copy, len, NULL), BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS);
    CHECK(now_ms() - start < 5);

    memcpy(copy, buf, len);
    copy[sof + 4] = 12; /* 12-bit samples */
    CHECK_INT_EQ(render(copy, len, NULL), BOOKA_IMAGE_ERROR_UNSUPPORTED);
    memcpy(copy, buf, len);
    copy[sof + 1] = 0xc3; /* lossless */
    CHECK_INT_EQ(render(copy, len, NULL), BOOKA_IMAGE_ERROR_UNSUPPORTED);
    memcpy(copy, buf, len);
    copy[sof + 5] = copy[sof + 6] = 0; /* height from a DNL marker */
    CHECK_INT_EQ(render(copy, len, NULL), BOOKA_IMAGE_ERROR_UNSUPPORTED);
    memcpy(copy, buf, len);
    copy[sof + 9] = 2; /* two components */
    CHECK_INT_EQ(render(copy, len, NULL), BOOKA_IMAGE_ERROR_UNSUPPORTED);
    memcpy(copy, buf, len);
    copy[sof + 7] = copy[sof + 8] = 0; /* width 0 */
    CHECK_INT_EQ(render(copy, len, NULL), BOOKA_IMAGE_ERROR_CORRUPT);
    free(copy);
    free(buf);
}

static void test_limits(void)
{
    size_t len = 0;
    uint8_t *buf = fixture_read("rgb.png", &len);
    booka_image_limits_t limits = booka_image_default_limits;
    limits.max_source_bytes = len - 1;
    CHECK_INT_EQ(render(buf, len, &limits), BOOKA_IMAGE_ERROR_TOO_MANY_BYTES);
    limits.max_source_bytes = len;
    CHECK_INT_EQ(render(buf, len, &limits), BOOKA_IMAGE_OK);
    limits.max_source_pixels = 96 * 64 - 1;
    CHECK_INT_EQ(render(buf, len, &limits), BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS);
    limits.max_source_pixels = 96 * 64;
    CHECK_INT_EQ(render(buf, len, &limits), BOOKA_IMAGE_OK);
    limits.max_source_side = 95;
    CHECK_INT_EQ(render(buf, len, &limits), BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS);
    limits.max_source_side = 96;
    CHECK_INT_EQ(render(buf, len, &limits), BOOKA_IMAGE_OK);
    limits.max_output_side = 31;
    CHECK_INT_EQ(render(buf, len, &limits), BOOKA_IMAGE_ERROR_BAD_PARAMS);

    booka_image_info_t info;
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_OK);
    CHECK_INT_EQ(booka_image_check_limits(&info, len, NULL), BOOKA_IMAGE_OK);
    CHECK_INT_EQ(booka_image_check_limits(&info, BOOKA_IMAGE_DEFAULT_MAX_SOURCE_BYTES + 1, NULL), BOOKA_IMAGE_ERROR_TOO_MANY_BYTES);
    free(buf);
}

static void test_bad_params(void)
{
    size_t len = 0;
    uint8_t *buf = fixture_read("rgb.png", &len);
    booka_image_result_t result;
    const booka_image_params_t bad[] = {
        {0, BOOKA_IMAGE_OUTPUT_WEBP, 80, NULL, 0},         {65, BOOKA_IMAGE_OUTPUT_WEBP, 80, NULL, 0}, /* short side is 64 */
        {32, BOOKA_IMAGE_OUTPUT_WEBP, 0, NULL, 0},         {32, BOOKA_IMAGE_OUTPUT_WEBP, 101, NULL, 0},
        {32, (booka_image_output_format_t)0, 80, NULL, 0}, {32, (booka_image_output_format_t)9, 80, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        CHECK_INT_EQ(booka_image_thumbnail(buf, len, &bad[i], &result), BOOKA_IMAGE_ERROR_BAD_PARAMS);
        CHECK(result.bytes == NULL);
    }
    const booka_image_params_t good = {64, BOOKA_IMAGE_OUTPUT_JPEG, 100, NULL, 0};
    CHECK_INT_EQ(booka_image_thumbnail(buf, len, &good, &result), BOOKA_IMAGE_OK);
    booka_image_result_dispose(&result);
    booka_image_pixels_t empty = {0};
    CHECK_INT_EQ(booka_image_encode(&empty, BOOKA_IMAGE_OUTPUT_JPEG, 80, &result), BOOKA_IMAGE_ERROR_BAD_PARAMS);
    free(buf);
}

/* A bit flipped in compressed PNG data fails its CRC: CORRUPT. */
static void test_png_crc(void)
{
    size_t len = 0;
    uint8_t *buf = fixture_read("rgb.png", &len);
    uint8_t *idat = memmem(buf, len, "IDAT", 4);
    CHECK(idat != NULL);
    idat[20] ^= 0x10;
    CHECK_INT_EQ(render(buf, len, NULL), BOOKA_IMAGE_ERROR_CORRUPT);
    free(buf);
}

/* Random damage anywhere in every fixture: whatever the outcome, the library returns (ASan checks memory, LeakSanitizer
 * leaks). Damaged entropy-coded data often still decodes, so success is allowed. */
static void test_random_damage(void)
{
    srand(1234);
    int failures = 0, successes = 0;
    for (size_t f = 0; f < sizeof(fixtures) / sizeof(fixtures[0]); ++f) {
        size_t len = 0;
        uint8_t *buf = fixture_read(fixtures[f], &len), *copy = malloc(len);
        for (int round = 0; round < 150; ++round) {
            memcpy(copy, buf, len);
            for (int hits = 1 + rand() % 4; hits > 0; --hits)
                copy[(size_t)rand() % (round % 3 == 0 ? (len < 200 ? len : 200) : len)] = (uint8_t)rand();
            booka_image_error_t err = render(copy, len, NULL);
            err == BOOKA_IMAGE_OK ? ++successes : ++failures;
            CHECK(err == BOOKA_IMAGE_OK || booka_image_error_is_source_fault(err));
        }
        free(copy);
        free(buf);
    }
    printf("random damage: %d decoded anyway, %d rejected\n", successes, failures);
}

static void test_messages(void)
{
    for (int e = BOOKA_IMAGE_OK; e <= BOOKA_IMAGE_ERROR_ENCODE; ++e)
        CHECK(booka_image_strerror((booka_image_error_t)e)[0] != '\0');
    CHECK(booka_image_error_is_source_fault(BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS));
    CHECK(booka_image_error_is_source_fault(BOOKA_IMAGE_ERROR_BAD_DATA_URL));
    CHECK(!booka_image_error_is_source_fault(BOOKA_IMAGE_ERROR_NO_MEMORY));
    CHECK(!booka_image_error_is_source_fault(BOOKA_IMAGE_ERROR_BAD_PARAMS));
    CHECK(!booka_image_error_is_source_fault(BOOKA_IMAGE_OK));
}

/* test_progressive_memory: a progressive JPEG keeps every coefficient of the image in libjpeg until its last scan (a
 * 6320x6320 one took 120 MB and 0.4 s); max_decode_bytes refuses it before decoding, while a baseline file of the same
 * size, decoded a row of blocks at a time, stays within the same limit. */
static void test_progressive_memory(void)
{
    size_t prog_len = 0, base_len = 0;
    uint8_t *prog, *base;
    booka_image_limits_t limits = booka_image_default_limits;

    CHECK(fixture_sh("convert -size 3000x3000 gradient:red-blue -quality 60 -interlace Plane big-progressive.jpg"));
    CHECK(fixture_sh("convert -size 3000x3000 gradient:red-blue -quality 60 big-baseline.jpg"));
    prog = fixture_read("big-progressive.jpg", &prog_len);
    base = fixture_read("big-baseline.jpg", &base_len);
    CHECK_INT_EQ(render(prog, prog_len, &limits), BOOKA_IMAGE_OK); /* the default (64 MiB) takes 9 MP */
    limits.max_decode_bytes = 8 * 1024 * 1024;
    CHECK_INT_EQ(render(prog, prog_len, &limits), BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS);
    CHECK_INT_EQ(render(base, base_len, &limits), BOOKA_IMAGE_OK);
    free(prog);
    free(base);
}

/* adam7_png: a width x height RGBA PNG of one colour, interlaced (Adam7) or not, made here with zlib: an interlaced file
 * stores each of the 7 passes' sub-images one after the other, each row a filter byte and its pixels. Returns the file
 * (malloc'd) and its length in *len. */
static uint8_t *adam7_png(uint32_t width, uint32_t height, int interlaced, size_t *len)
{
    static const uint32_t x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1}, dx[7] = {8, 8, 4, 4, 2, 2, 1},
                          dy[7] = {8, 8, 8, 4, 4, 2, 2};
    size_t cap = 1 << 20, n = 8;
    uint8_t ihdr[13] = {0}, *row = malloc((size_t)width * 4 + 1), *idat = malloc(cap), *png;
    z_stream z = {0};

    CHECK_INT_EQ(deflateInit(&z, 9), Z_OK);
    z.next_out = idat;
    z.avail_out = (uInt)cap;
    row[0] = 0; /* filter: none */
    for (uint32_t x = 0; x < width; ++x)
        memcpy(row + 1 + x * 4, "\x20\x80\xc0\xff", 4);
    for (int pass = 0; pass < (interlaced ? 7 : 1); ++pass) {
        uint32_t pw = interlaced ? (width - x0[pass] + dx[pass] - 1) / dx[pass] : width,
                 ph = interlaced ? (height - y0[pass] + dy[pass] - 1) / dy[pass] : height;
        for (uint32_t y = 0; pw != 0 && y < ph; ++y) {
            z.next_in = row;
            z.avail_in = pw * 4 + 1;
            CHECK_INT_EQ(deflate(&z, Z_NO_FLUSH), Z_OK);
            CHECK(z.avail_in == 0 && z.avail_out != 0); /* one colour compresses ~1000:1: `cap` is plenty */
        }
    }
    CHECK_INT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    png = malloc(z.total_out + 64);
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = 8;           /* bit depth */
    ihdr[9] = 6;           /* RGBA */
    ihdr[12] = interlaced; /* 1: Adam7 */
    put_png_chunk(png, &n, "IHDR", ihdr, 13);
    put_png_chunk(png, &n, "IDAT", idat, (uint32_t)z.total_out);
    put_png_chunk(png, &n, "IEND", NULL, 0);
    deflateEnd(&z);
    free(row);
    free(idat);
    *len = n;
    return png;
}

/* test_interlaced_png_memory: an interlaced PNG's rows are final only after the last pass, so it is decoded whole: a 176 KB
 * 6324x6324 RGBA file took 160 MB and 1.6 s. max_decode_bytes refuses it before decoding; a non-interlaced file of the
 * same size streams a row at a time and stays within the limit. */
static void test_interlaced_png_memory(void)
{
    booka_image_limits_t limits = booka_image_default_limits;
    size_t len;
    uint8_t *png = adam7_png(6324, 6324, 1, &len);

    CHECK(len < 256 * 1024);
    CHECK_INT_EQ(render(png, len, &limits), BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS); /* 160 MB > the default 64 MiB */
    free(png);
    png = adam7_png(1600, 1600, 1, &len); /* 10 MB whole */
    CHECK_INT_EQ(render(png, len, &limits), BOOKA_IMAGE_OK);
    limits.max_decode_bytes = 8 * 1024 * 1024;
    CHECK_INT_EQ(render(png, len, &limits), BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS);
    limits.max_decode_bytes = 0; /* no limit */
    CHECK_INT_EQ(render(png, len, &limits), BOOKA_IMAGE_OK);
    free(png);
    limits.max_decode_bytes = 8 * 1024 * 1024;
    png = adam7_png(1600, 1600, 0, &len);
    CHECK_INT_EQ(render(png, len, &limits), BOOKA_IMAGE_OK);
    free(png);
}

int main(void)
{
    if (!make_fixtures())
        return 2;
    test_png_chunk_longer_than_the_file(); /* these two first: they measure VmPeak, which earlier tests would raise */
    test_png_text_bombs();
    test_not_images();
    test_truncated();
    test_png_bomb_headers();
    test_jpeg_headers();
    test_limits();
    test_progressive_memory();
    test_interlaced_png_memory();
    test_bad_params();
    test_png_crc();
    test_random_damage();
    test_messages();
    return unit_report("image_reject");
}
