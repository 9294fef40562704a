/* probe_test.c: tests plugin/image/probe.c: format sniffing and header fields without decoding, on every prefix. */
#include "unit.h"
#include "fixtures.h"

typedef struct probe_case {
    const char *name, *command;
    booka_image_format_t format;
    uint32_t width, height;
    uint8_t has_alpha;
} probe_case_t;

static const probe_case_t cases[] = {
    {"a.jpg", "convert -size 97x41 gradient: -quality 80 a.jpg", BOOKA_IMAGE_FORMAT_JPEG, 97, 41, 0},
    {"p.jpg", "convert -size 41x97 gradient: -interlace Plane p.jpg", BOOKA_IMAGE_FORMAT_JPEG, 41, 97, 0},
    {"a.png", "convert -size 97x41 gradient: PNG24:a.png", BOOKA_IMAGE_FORMAT_PNG, 97, 41, 0},
    {"t.png", "convert -size 97x41 xc:none -fill red -draw 'point 3,3' PNG8:t.png", BOOKA_IMAGE_FORMAT_PNG, 97, 41, 1},
    {"ga.png", "convert -size 97x41 xc:none -define png:color-type=4 ga.png", BOOKA_IMAGE_FORMAT_PNG, 97, 41, 1},
    {"a.webp", "convert -size 97x41 gradient: a.webp", BOOKA_IMAGE_FORMAT_WEBP, 97, 41, 0},
    {"l.webp", "convert -size 97x41 gradient: -define webp:lossless=true l.webp", BOOKA_IMAGE_FORMAT_WEBP, 97, 41, 0},
    {"x.webp", "convert -size 97x41 xc:none -fill red -draw 'point 3,3' x.webp", BOOKA_IMAGE_FORMAT_WEBP, 97, 41, 1},
};

/* Each fixture probes right; every prefix probes as TRUNCATED until the header is complete, then as the full file does. The
 * prefixes are exact-size heap copies, so ASan catches any read past the end. */
static void test_fixtures_and_prefixes(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        const probe_case_t *pc = &cases[i];
        size_t len = 0;
        booka_image_info_t info;
        CHECK(fixture_sh("%s", pc->command));
        uint8_t *buf = fixture_read(pc->name, &len);
        CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_OK);
        CHECK_INT_EQ(info.format, pc->format);
        CHECK_INT_EQ(info.width, pc->width);
        CHECK_INT_EQ(info.height, pc->height);
        CHECK_INT_EQ(info.has_alpha, pc->has_alpha);
        CHECK_INT_EQ(info.orientation, 1);
        CHECK_INT_EQ(info.is_animated, 0);
        int consistent = 1, seen_ok = 0;
        for (size_t cut = 0; cut < len && cut < 400; ++cut) {
            uint8_t *prefix = malloc(cut ? cut : 1);
            memcpy(prefix, buf, cut);
            booka_image_info_t partial;
            booka_image_error_t err = booka_image_probe(prefix, cut, &partial);
            if (err == BOOKA_IMAGE_OK) {
                seen_ok = 1;
                consistent &= partial.width == info.width && partial.height == info.height;
            } else {
                consistent &= !seen_ok && (err == BOOKA_IMAGE_ERROR_TRUNCATED || (cut == 0 && err == BOOKA_IMAGE_ERROR_NOT_IMAGE));
            }
            free(prefix);
        }
        if (!consistent)
            fprintf(stderr, "%s: prefixes probe inconsistently\n", pc->name);
        CHECK(consistent);
        free(buf);
    }
}

/* A hand-made JPEG header: SOI, optional segments, SOF0 with the given size. */
static size_t jpeg_header(uint8_t *buf, const uint8_t *middle, size_t middle_len, uint16_t width, uint16_t height)
{
    static const uint8_t soi[] = {0xff, 0xd8};
    uint8_t sof[] = {0xff,           0xc0, 0, 11,   8, (uint8_t)(height >> 8), (uint8_t)height, (uint8_t)(width >> 8),
                     (uint8_t)width, 1,    1, 0x11, 0};
    memcpy(buf, soi, 2);
    memcpy(buf + 2, middle, middle_len);
    memcpy(buf + 2 + middle_len, sof, sizeof(sof));
    return 2 + middle_len + sizeof(sof);
}

static void test_jpeg_marker_walk(void)
{
    uint8_t buf[256];
    booka_image_info_t info;
    static const uint8_t app0[] = {0xff, 0xe0, 0, 4, 'J', 'F'};
    size_t len = jpeg_header(buf, app0, sizeof(app0), 300, 200);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_OK);
    CHECK(info.width == 300 && info.height == 200 && info.format == BOOKA_IMAGE_FORMAT_JPEG);

    static const uint8_t junk_and_fill[] = {0xff, 0xe0, 0, 2, 0x12, 0x34, 0xff, 0xff, 0xff, 0xe1, 0, 2};
    len = jpeg_header(buf, junk_and_fill, sizeof(junk_and_fill), 300, 200);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_OK); /* stray bytes and fill bytes, as libjpeg tolerates */

    static const uint8_t overlong[] = {0xff, 0xe0, 0x10, 0x00, 'J', 'F'};
    len = jpeg_header(buf, overlong, sizeof(overlong), 300, 200);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_TRUNCATED);

    static const uint8_t short_length[] = {0xff, 0xe0, 0, 1};
    len = jpeg_header(buf, short_length, sizeof(short_length), 300, 200);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_CORRUPT);

    static const uint8_t eoi[] = {0xff, 0xd9};
    len = jpeg_header(buf, eoi, sizeof(eoi), 300, 200);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_CORRUPT);

    static const uint8_t sos[] = {0xff, 0xda, 0, 2};
    len = jpeg_header(buf, sos, sizeof(sos), 300, 200);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_CORRUPT);

    static const uint8_t exif_big_endian_6[] = {0xff, 0xe1, 0, 46, 'E',  'x',  'i', 'f', 0, 0, 'M', 'M', 0,   42,  0,   0,
                                                0,    8,    0, 2,  0x01, 0x0f, 0,   2,   0, 0, 0,   4,   'A', 'B', 'C', 0,
                                                0x01, 0x12, 0, 3,  0,    0,    0,   1,   0, 6, 0,   0,   0,   0,   0,   0};
    len = jpeg_header(buf, exif_big_endian_6, sizeof(exif_big_endian_6), 300, 200);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_OK);
    CHECK_INT_EQ(info.orientation, 6);
    CHECK(info.width == 300 && info.height == 200); /* stored size; the caller's short side is the same either way */
}

/* A hand-made PNG signature + IHDR (no CRC check at probe time; libpng checks it when decoding). */
static size_t png_header(uint8_t *buf, uint32_t length, uint32_t width, uint32_t height, uint8_t depth, uint8_t colour_type)
{
    static const uint8_t signature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t fields[] = {(uint8_t)(length >> 24),
                        (uint8_t)(length >> 16),
                        (uint8_t)(length >> 8),
                        (uint8_t)length,
                        'I',
                        'H',
                        'D',
                        'R',
                        (uint8_t)(width >> 24),
                        (uint8_t)(width >> 16),
                        (uint8_t)(width >> 8),
                        (uint8_t)width,
                        (uint8_t)(height >> 24),
                        (uint8_t)(height >> 16),
                        (uint8_t)(height >> 8),
                        (uint8_t)height,
                        depth,
                        colour_type,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0};
    memcpy(buf, signature, 8);
    memcpy(buf + 8, fields, sizeof(fields));
    return 8 + sizeof(fields);
}

static void test_png_header(void)
{
    uint8_t buf[64];
    booka_image_info_t info;
    size_t len = png_header(buf, 13, 640, 480, 8, 2);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_OK);
    CHECK(info.format == BOOKA_IMAGE_FORMAT_PNG && info.width == 640 && info.height == 480 && !info.has_alpha);
    len = png_header(buf, 13, 640, 480, 16, 6);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_OK);
    CHECK(info.has_alpha);
    CHECK_INT_EQ(booka_image_probe(buf, len - 1, &info), BOOKA_IMAGE_ERROR_TRUNCATED);
    len = png_header(buf, 14, 640, 480, 8, 2);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_CORRUPT);
    len = png_header(buf, 13, 0, 480, 8, 2);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_CORRUPT);
    len = png_header(buf, 13, 0x80000000u, 480, 8, 2);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_CORRUPT);
    len = png_header(buf, 13, 640, 480, 4, 2); /* RGB needs 8 or 16 bits */
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_CORRUPT);
    len = png_header(buf, 13, 640, 480, 8, 5);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_CORRUPT);
    len = png_header(buf, 13, 640, 480, 8, 3);
    buf[len - 5] = 2; /* interlace method 2 */
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_ERROR_CORRUPT);
}

int main(void)
{
    test_fixtures_and_prefixes();
    test_jpeg_marker_walk();
    test_png_header();
    return unit_report("image_probe");
}
