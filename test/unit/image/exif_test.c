/* exif_test.c: tests plugin/image/exif.c and the orientation pipeline: EXIF parsing, then orientations 1..8 on real JPEGs
 * (corner markers, and ImageMagick's -auto-orient as a reference). */
#include "unit.h"
#include "fixtures.h"
#include "image/internal.h"

/* put16, put32: integers in the TIFF block's byte order. */
static uint8_t *put16(uint8_t *p, int big_endian, uint16_t v)
{
    p[big_endian ? 0 : 1] = (uint8_t)(v >> 8);
    p[big_endian ? 1 : 0] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, int big_endian, uint32_t v)
{
    put16(p + (big_endian ? 0 : 2), big_endian, (uint16_t)(v >> 16));
    put16(p + (big_endian ? 2 : 0), big_endian, (uint16_t)v);
    return p + 4;
}

/* tiff_with_orientation: a TIFF block (as it follows "Exif\0\0") whose IFD0 holds ImageWidth = 60 then Orientation = value,
 * in either byte order; returns its length, 38. The orientation entry spans bytes 22..33, its value 30..31. */
static size_t tiff_with_orientation(uint8_t *tiff, int big_endian, uint16_t value)
{
    uint8_t *p = tiff;
    *p++ = big_endian ? 'M' : 'I';
    *p++ = big_endian ? 'M' : 'I';
    p = put16(p, big_endian, 42);
    p = put32(p, big_endian, 8); /* IFD0 right after the header */
    p = put16(p, big_endian, 2); /* entries */
    p = put16(p, big_endian, 0x0100);
    p = put16(p, big_endian, 4); /* LONG */
    p = put32(p, big_endian, 1);
    p = put32(p, big_endian, 60);
    p = put16(p, big_endian, 0x0112);
    p = put16(p, big_endian, 3); /* SHORT */
    p = put32(p, big_endian, 1);
    p = put16(p, big_endian, value);
    p = put16(p, big_endian, 0);
    p = put32(p, big_endian, 0); /* no next IFD */
    return (size_t)(p - tiff);
}

static void test_parse_orientation(void)
{
    uint8_t tiff[64];
    for (int big_endian = 0; big_endian <= 1; ++big_endian) {
        for (uint16_t v = 1; v <= 8; ++v) {
            size_t len = tiff_with_orientation(tiff, big_endian, v);
            CHECK_INT_EQ(booka_image_exif_orientation(tiff, len), v);
        }
        size_t len = tiff_with_orientation(tiff, big_endian, 0);
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, len), 1);
        tiff_with_orientation(tiff, big_endian, 9);
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, len), 1);
        tiff_with_orientation(tiff, big_endian, 6);
        CHECK_INT_EQ(len, 38);
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, len - 4), 6); /* next-IFD pointer missing: entries still whole */
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, 33), 1);      /* orientation entry cut */
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, 7), 1);       /* header cut */
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, 0), 1);
        tiff[big_endian ? 25 : 24] = 4; /* orientation as LONG: not the spec's SHORT */
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, len), 1);
        tiff_with_orientation(tiff, big_endian, 6);
        tiff[big_endian ? 9 : 8] = 0xff; /* 255 entries claimed */
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, len), 1);
        tiff_with_orientation(tiff, big_endian, 6);
        tiff[big_endian ? 7 : 4] = 200; /* IFD0 beyond the block */
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, len), 1);
        tiff_with_orientation(tiff, big_endian, 6);
        tiff[big_endian ? 3 : 2] = 43; /* not TIFF's 42 */
        CHECK_INT_EQ(booka_image_exif_orientation(tiff, len), 1);
    }
    memcpy(tiff, "IM", 2);
    CHECK_INT_EQ(booka_image_exif_orientation(tiff, 30), 1);
}

/* write_oriented_jpeg: base.jpg with an EXIF APP1 (orientation, byte order alternating) inserted after SOI, as oN.jpg. */
static int write_oriented_jpeg(const uint8_t *base, size_t base_len, uint8_t orientation)
{
    uint8_t tiff[64], *out = malloc(base_len + 64);
    size_t tiff_len = tiff_with_orientation(tiff, orientation % 2, orientation), segment = 2 + 6 + tiff_len, n = 0;
    char name[16];
    out[n++] = 0xff;
    out[n++] = 0xd8;
    out[n++] = 0xff;
    out[n++] = 0xe1;
    out[n++] = (uint8_t)(segment >> 8);
    out[n++] = (uint8_t)segment;
    memcpy(out + n, "Exif\0\0", 6);
    n += 6;
    memcpy(out + n, tiff, tiff_len);
    n += tiff_len;
    memcpy(out + n, base + 2, base_len - 2);
    n += base_len - 2;
    snprintf(name, sizeof(name), "o%d.jpg", orientation);
    int ok = fixture_write(name, out, n);
    free(out);
    return ok;
}

/* Where the stored top-left (red) and top-right (green) markers must appear once displayed, per EXIF orientation: 0 = top
 * left, 1 = top right, 2 = bottom right, 3 = bottom left. */
static const int red_corner[9] = {0, 0, 1, 2, 3, 0, 1, 2, 3};
static const int green_corner[9] = {0, 1, 0, 3, 2, 3, 2, 1, 0};

/* corner_pixel: the pixel `inset` pixels in from corner c. */
static const uint8_t *corner_pixel(const booka_image_pixels_t *p, int corner, uint32_t inset)
{
    uint32_t right = p->width - 1 - inset, bottom = p->height - 1 - inset;
    uint32_t x = corner == 1 || corner == 2 ? right : inset, y = corner >= 2 ? bottom : inset;
    return pixel(p, x, y);
}

/* is_red, is_green: the marker colours, allowing for JPEG error. */
static int is_red(const uint8_t *px)
{
    return px[0] > 200 && px[1] < 70 && px[2] < 70;
}

static int is_green(const uint8_t *px)
{
    return px[0] < 70 && px[1] > 200 && px[2] < 70;
}

/* A 60x40 grey JPEG with a red block at stored (10..19, 0..9) and a green one at (40..49, 0..9): both survive the centre
 * crop in either displayed orientation and mark the crop's top corners when stored upright. */
static void test_orientations_on_jpeg(void)
{
    size_t base_len = 0;
    uint8_t *base;
    if (!fixture_sh("convert -size 60x40 xc:gray50 -fill red -draw 'rectangle 10,0 19,9' -fill lime -draw 'rectangle 40,0 49,9' "
                    "-type TrueColor -quality 95 -sampling-factor 1x1 base.jpg") ||
        (base = fixture_read("base.jpg", &base_len)) == NULL) {
        CHECK(!"fixture");
        return;
    }
    for (uint8_t o = 1; o <= 8; ++o) {
        char name[16], reference[24];
        size_t len = 0;
        CHECK(write_oriented_jpeg(base, base_len, o));
        snprintf(name, sizeof(name), "o%d.jpg", o);
        uint8_t *jpeg = fixture_read(name, &len);
        booka_image_info_t info;
        CHECK_INT_EQ(booka_image_probe(jpeg, len, &info), BOOKA_IMAGE_OK);
        CHECK_INT_EQ(info.orientation, o);
        CHECK(info.width == 60 && info.height == 40);
        free(jpeg);

        booka_image_pixels_t full, half, magick;
        CHECK_INT_EQ(render_file(name, 40, 0, &full), BOOKA_IMAGE_OK);
        CHECK_INT_EQ(render_file(name, 20, 0, &half), BOOKA_IMAGE_OK);
        CHECK(is_red(corner_pixel(&full, red_corner[o], 4)) && is_green(corner_pixel(&full, green_corner[o], 4)));
        CHECK(is_red(corner_pixel(&half, red_corner[o], 1)) && is_green(corner_pixel(&half, green_corner[o], 1)));

        snprintf(reference, sizeof(reference), "o%d.pam", o);
        CHECK(fixture_sh("convert %s -auto-orient +repage -gravity center -crop 40x40+0+0 +repage %s", name, reference));
        CHECK(fixture_read_pam(reference, &magick));
        CHECK(pixels_max_diff(&full, &magick) <= 1);
        booka_image_pixels_dispose(&full);
        booka_image_pixels_dispose(&half);
        booka_image_pixels_dispose(&magick);
    }
    free(base);
}

/* The same through shrink-on-load: an 801x600 photo-like JPEG (odd excess, so a mirrored long axis moves the crop by one
 * pixel) reduced to 64 px decodes at 1/4 scale; each orientation must match ImageMagick's -auto-orient, crop, Lanczos. */
static void test_orientations_with_shrink_on_load(void)
{
    size_t base_len = 0;
    uint8_t *base;
    if (!fixture_sh("convert -size 801x600 -seed 4 plasma:fractal -blur 0x2 -quality 95 photo.jpg") ||
        (base = fixture_read("photo.jpg", &base_len)) == NULL) {
        CHECK(!"fixture");
        return;
    }
    for (uint8_t o = 1; o <= 8; ++o) {
        char name[16], reference[24];
        booka_image_pixels_t ours = {0}, magick = {0};
        CHECK(write_oriented_jpeg(base, base_len, o));
        snprintf(name, sizeof(name), "o%d.jpg", o);
        snprintf(reference, sizeof(reference), "shrunk%d.pam", o);
        CHECK_INT_EQ(render_file(name, 64, 0, &ours), BOOKA_IMAGE_OK);
        CHECK(fixture_sh("convert %s -auto-orient +repage -gravity center -crop 600x600+0+0 +repage -filter Lanczos -resize 64x64 "
                         "-depth 8 -type TrueColor %s",
                         name, reference));
        CHECK(fixture_read_pam(reference, &magick));
        double psnr = pixels_psnr(&ours, &magick);
        printf("orientation %d through shrink-on-load (1/4 DCT scale) to 64 px: %.1f dB against ImageMagick\n", o, psnr);
        CHECK(psnr >= 40);
        booka_image_pixels_dispose(&ours);
        booka_image_pixels_dispose(&magick);
    }
    free(base);
}

int main(void)
{
    test_parse_orientation();
    test_orientations_on_jpeg();
    test_orientations_with_shrink_on_load();
    return unit_report("image_exif");
}
