/* memory_test.c: booka_image_memory_estimate (probe.c) against what the decoders really take: for every kind of source the
 * pipeline decodes differently (rows streamed, or the whole image held: progressive and multi-scan JPEG, interlaced PNG,
 * lossless, alpha and animated WebP) and several output sides, a child process renders the thumbnail and reports how much
 * its resident memory grew (VmHWM); the estimate must cover it. Also the probe's whole-image facts, exactly. */
#include <stdio.h>
#include <sys/wait.h>
#include <jpeglib.h>
#include "unit.h"
#include "fixtures.h"

/* vm_hwm_kb: this process's peak resident set, in KiB. */
static long vm_hwm_kb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (fp != NULL)
        fclose(fp);
    return kb;
}

struct measure {
    int err;
    long grown_kb;     /* VmHWM after the render minus before (the source already read) */
    uint64_t estimate; /* booka_image_memory_estimate without the source's bytes (held before the first reading) */
    booka_image_info_t info;
};

/* measure: renders `name` to `side` (capped by the short side) in a child process, so the peak is this render's alone. */
static struct measure measure(const char *name, uint32_t side)
{
    struct measure m = {.err = -1};
    int fds[2];
    pid_t pid;

    if (pipe(fds) != 0 || (pid = fork()) < 0)
        return m;
    if (pid == 0) {
        size_t len;
        uint8_t *src = fixture_read(name, &len);
        booka_image_limits_t limits = booka_image_default_limits;
        booka_image_result_t result;
        close(fds[0]);
        limits.max_decode_bytes = 0;
        if (src != NULL && (m.err = booka_image_probe(src, len, &m.info)) == BOOKA_IMAGE_OK) {
            booka_image_params_t params = {.format = BOOKA_IMAGE_OUTPUT_WEBP, .quality = 80, .limits = &limits};
            uint32_t short_side = m.info.width < m.info.height ? m.info.width : m.info.height;
            params.side = side < short_side ? side : short_side;
            m.estimate = booka_image_memory_estimate(&m.info, 0, params.side);
            long before = vm_hwm_kb();
            m.err = booka_image_thumbnail(src, len, &params, &result);
            m.grown_kb = vm_hwm_kb() - before;
        }
        if (write(fds[1], &m, sizeof(m)) != sizeof(m))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &m, sizeof(m)) != sizeof(m))
        m.err = -1;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return m;
}

/* write_multiscan_jpeg: a baseline (sequential) JPEG whose three components come in three scans, which libjpeg can only
 * decode by keeping every coefficient, like a progressive one; ImageMagick cannot make one. */
static int write_multiscan_jpeg(const char *name, uint32_t width, uint32_t height)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr errors;
    jpeg_scan_info scans[3];
    unsigned char *out = NULL;
    unsigned long out_len = 0;
    uint8_t *row = malloc((size_t)width * 3);
    int ok;

    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &out, &out_len);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    for (int i = 0; i != 3; ++i)
        scans[i] = (jpeg_scan_info){.comps_in_scan = 1, .component_index = {i}, .Ss = 0, .Se = 63, .Ah = 0, .Al = 0};
    cinfo.scan_info = scans;
    cinfo.num_scans = 3;
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < height) {
        for (uint32_t x = 0; x != width; ++x) {
            row[x * 3] = (uint8_t)(x * 7 + cinfo.next_scanline);
            row[x * 3 + 1] = (uint8_t)(x ^ cinfo.next_scanline);
            row[x * 3 + 2] = (uint8_t)(cinfo.next_scanline * 3);
        }
        JSAMPROW rows[1] = {row};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    ok = fixture_write(name, out, out_len);
    free(out);
    free(row);
    return ok;
}

static const struct {
    const char *name, *command; /* command NULL: made by write_multiscan_jpeg */
    int whole_image; /* 0: the probe must say the decoder streams; 1: that it holds the whole image, which this file makes it
                      * do; 2: the probe's bound, which this benign file stays well under (a hostile one need not) */
} sources[] = {
    {"base.jpg", "convert -size 1500x1200 -seed 1 plasma:fractal -quality 90 -sampling-factor 2x2 base.jpg", 0},
    {"prog420.jpg", "convert base.jpg -quality 90 -interlace Plane -sampling-factor 2x2 prog420.jpg", 1},
    {"prog444.jpg", "convert base.jpg -quality 90 -interlace Plane -sampling-factor 1x1 prog444.jpg", 1},
    {"grey.jpg", "convert base.jpg -colorspace Gray -interlace Plane grey.jpg", 1},
    {"cmyk.jpg", "convert base.jpg -colorspace CMYK -interlace Plane cmyk.jpg", 1},
    {"multiscan.jpg", NULL, 1},
    {"rgb.png", "convert base.jpg PNG24:rgb.png", 0},
    {"rgba.png", "convert base.jpg -alpha set -channel A -evaluate set 50% PNG32:rgba.png", 0},
    {"adam7.png", "convert rgba.png -interlace PNG PNG32:adam7.png", 1},
    {"lossy.webp", "cwebp -quiet -q 80 rgb.png -o lossy.webp", 0},
    /* its alpha plane comes compressed with a palette, decoded a byte per pixel; without one, VP8L takes 4 more */
    {"alpha.webp", "cwebp -quiet -q 80 rgba.png -o alpha.webp", 2},
    {"lossless.webp", "cwebp -quiet -lossless -z 1 rgb.png -o lossless.webp", 1},
    {"anim.webp", "convert base.jpg -flop PNG24:rot.png && img2webp -lossy -q 50 rgb.png rot.png -o anim.webp >/dev/null 2>&1", 1},
};

/* Under AddressSanitizer the resident set says little about the decoders (shadow memory, freed blocks held in
 * quarantine): there only the probe's facts are checked; the release build's run measures. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
static const int measuring = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
static const int measuring = 0;
#else
static const int measuring = 1;
#endif
#else
static const int measuring = 1;
#endif

/* test_estimate_covers_the_peak: every source, at a small, a middle and the largest side. */
static void test_estimate_covers_the_peak(void)
{
    static const uint32_t sides[] = {64, 512, 2048};

    for (size_t i = 0; i != sizeof(sources) / sizeof(sources[0]); ++i) {
        for (size_t s = 0; s != sizeof(sides) / sizeof(sides[0]); ++s) {
            struct measure m = measure(sources[i].name, sides[s]);
            long estimate_kb = (long)(m.estimate / 1024);
            CHECK_INT_EQ(m.err, BOOKA_IMAGE_OK);
            CHECK_INT_EQ(m.info.whole_image_bytes != 0, sources[i].whole_image != 0);
            if (!measuring)
                continue;
            if (m.grown_kb > estimate_kb)
                fprintf(stderr, "%s at %u: grew %ld KiB, estimated %ld KiB\n", sources[i].name, sides[s], m.grown_kb, estimate_kb);
            CHECK(m.grown_kb <= estimate_kb);
            if (sources[i].whole_image == 1) /* the whole-image buffer is real: the decode takes most of it */
                CHECK(m.grown_kb * 1024 >= (long)(m.info.whole_image_bytes / 2));
        }
    }
}

/* test_whole_image_bytes: libjpeg's coefficient arrays to the byte (4:2:0: 188 x 150 luma blocks, 187.5 rounded up to
 * the sampling factor, and 94 x 75 for each chroma component; 128 bytes a block), an interlaced PNG's rows and row pointers, a
 * lossless WebP's 32-bit pixels; a baseline JPEG and a non-interlaced PNG hold none. */
static void test_whole_image_bytes(void)
{
    static const struct {
        const char *name;
        uint64_t bytes;
    } expected[] = {
        {"prog420.jpg", (188 * 150 + 2 * 94 * 75) * 128},
        {"prog444.jpg", 3 * 188 * 150 * 128},
        {"grey.jpg", 188 * 150 * 128},
        {"multiscan.jpg", (188 * 150 + 2 * 94 * 75) * 128},
        {"adam7.png", 1500 * 1200 * 4 + 1200 * sizeof(void *)},
        {"lossless.webp", 1500 * 1200 * 4},
        {"base.jpg", 0},
        {"rgb.png", 0},
    };

    for (size_t i = 0; i != sizeof(expected) / sizeof(expected[0]); ++i) {
        size_t len;
        uint8_t *src = fixture_read(expected[i].name, &len);
        booka_image_info_t info;
        CHECK(src != NULL && booka_image_probe(src, len, &info) == BOOKA_IMAGE_OK);
        if (info.whole_image_bytes != expected[i].bytes)
            fprintf(stderr, "%s: whole_image_bytes %llu, expected %llu\n", expected[i].name,
                    (unsigned long long)info.whole_image_bytes, (unsigned long long)expected[i].bytes);
        CHECK(info.whole_image_bytes == expected[i].bytes);
        free(src);
    }
}

/* test_check_limits_refuses_big_coefficients: a JPEG whose coefficients are over max_decode_bytes is refused from its
 * header, before libjpeg allocates anything; a baseline one of the same size is not. */
static void test_check_limits_refuses_big_coefficients(void)
{
    booka_image_limits_t limits = booka_image_default_limits;
    size_t prog_len, base_len;
    uint8_t *prog = fixture_read("prog444.jpg", &prog_len), *base = fixture_read("base.jpg", &base_len);
    booka_image_info_t prog_info, base_info;

    CHECK(booka_image_probe(prog, prog_len, &prog_info) == BOOKA_IMAGE_OK);
    CHECK(booka_image_probe(base, base_len, &base_info) == BOOKA_IMAGE_OK);
    limits.max_decode_bytes = prog_info.whole_image_bytes;
    CHECK_INT_EQ(booka_image_check_limits(&prog_info, prog_len, &limits), BOOKA_IMAGE_OK);
    limits.max_decode_bytes = prog_info.whole_image_bytes - 1;
    CHECK_INT_EQ(booka_image_check_limits(&prog_info, prog_len, &limits), BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS);
    CHECK_INT_EQ(booka_image_check_limits(&base_info, base_len, &limits), BOOKA_IMAGE_OK);
    limits.max_decode_bytes = 0; /* no limit */
    CHECK_INT_EQ(booka_image_check_limits(&prog_info, prog_len, &limits), BOOKA_IMAGE_OK);
    free(prog);
    free(base);
}

int main(void)
{
    for (size_t i = 0; i != sizeof(sources) / sizeof(sources[0]); ++i) {
        int made =
            sources[i].command != NULL ? fixture_sh("%s", sources[i].command) : write_multiscan_jpeg(sources[i].name, 1500, 1200);
        if (!made)
            return 2;
    }
    test_whole_image_bytes();
    test_check_limits_refuses_big_coefficients();
    test_estimate_covers_the_peak();
    if (!measuring)
        printf("image_memory: built with a sanitizer, peaks not measured (the release build measures them)\n");
    return unit_report("image_memory");
}
