/* geometry_test.c: tests plugin/image/orient.c and the output side: crop squares, orientation transforms, shrink factors. */
#include <stdlib.h>
#include "unit.h"
#include "image/internal.h"

static void test_output_side(void)
{
    CHECK_INT_EQ(booka_image_output_side(256, 1, 1000, 2048), 256);
    CHECK_INT_EQ(booka_image_output_side(256, 2, 1000, 2048), 512);
    CHECK_INT_EQ(booka_image_output_side(128, 2, 1000, 2048), 256);   /* same variant as w=256 */
    CHECK_INT_EQ(booka_image_output_side(255, 1.5, 1000, 2048), 383); /* 382.5 rounds up */
    CHECK_INT_EQ(booka_image_output_side(10, 1.15, 1000, 2048), 12);  /* 11.5 in decimal, 11.4999... in binary */
    CHECK_INT_EQ(booka_image_output_side(100, 1.333, 1000, 2048), 133);
    CHECK_INT_EQ(booka_image_output_side(16, 1, 1000, 2048), 16);
    CHECK_INT_EQ(booka_image_output_side(1024, 4, 5000, 2048), 2048); /* max side */
    CHECK_INT_EQ(booka_image_output_side(1024, 3, 5000, 2048), 2048);
    CHECK_INT_EQ(booka_image_output_side(256, 2, 300, 2048), 300); /* never larger than the source's short side */
    CHECK_INT_EQ(booka_image_output_side(256, 1, 0, 2048), 0);
    CHECK_INT_EQ(booka_image_output_side(0, 1, 100, 2048), 0);
    CHECK_INT_EQ(booka_image_output_side(256, -1, 100, 2048), 0);
    CHECK_INT_EQ(booka_image_output_side(256, 0.0 / 0.0, 100, 2048), 0);
}

/* check_crop: booka_image_plan_crop() gives the wanted stored square. */
static void check_crop(uint32_t w, uint32_t h, uint8_t orientation, uint32_t want_x, uint32_t want_y, uint32_t want_side)
{
    uint32_t x, y, side;
    booka_image_plan_crop(w, h, orientation, &x, &y, &side);
    CHECK_INT_EQ(x, want_x);
    CHECK_INT_EQ(y, want_y);
    CHECK_INT_EQ(side, want_side);
}

static void test_crop_squares(void)
{
    check_crop(100, 60, 1, 20, 0, 60); /* landscape */
    check_crop(101, 60, 1, 20, 0, 60); /* odd difference: floor(41 / 2) */
    check_crop(60, 100, 1, 0, 20, 60); /* portrait */
    check_crop(60, 101, 1, 0, 20, 60);
    check_crop(64, 64, 1, 0, 0, 64); /* square */
    check_crop(3, 2, 1, 0, 0, 2);
    check_crop(1, 1, 1, 0, 0, 1);
    check_crop(101, 60, 2, 21, 0, 60); /* mirrored: floor offset counted from the displayed left, the stored right */
    check_crop(101, 60, 4, 20, 0, 60); /* top-bottom mirror leaves the long axis alone */
    check_crop(101, 60, 0, 20, 0, 60); /* invalid orientation acts as 1 */
}

/* letters_image: a w x h single-channel-looking RGB image whose pixel (x, y) has red = 'A' + y * w + x. */
static booka_image_pixels_t letters_image(uint32_t w, uint32_t h)
{
    booka_image_pixels_t p = {malloc((size_t)w * h * 3), w, h, 3};
    for (uint32_t i = 0; i < w * h; ++i) {
        p.data[i * 3] = (uint8_t)('A' + i);
        p.data[i * 3 + 1] = p.data[i * 3 + 2] = 0;
    }
    return p;
}

/* check_orientation: orienting the 3x2 letters image gives the wanted size and letters. */
static void check_orientation(uint8_t orientation, uint32_t want_w, uint32_t want_h, const char *want)
{
    booka_image_pixels_t p = letters_image(3, 2);
    char got[7] = {0};
    CHECK_INT_EQ(booka_image_apply_orientation(&p, orientation), BOOKA_IMAGE_OK);
    CHECK_INT_EQ(p.width, want_w);
    CHECK_INT_EQ(p.height, want_h);
    for (int i = 0; i < 6; ++i)
        got[i] = (char)p.data[i * 3];
    CHECK_STR_EQ(got, want);
    booka_image_pixels_dispose(&p);
}

/* Stored "ABC/DEF" displayed per the EXIF definitions of orientations 1..8 (rows concatenated). */
static void test_orientations(void)
{
    check_orientation(1, 3, 2, "ABCDEF");
    check_orientation(2, 3, 2, "CBAFED");
    check_orientation(3, 3, 2, "FEDCBA");
    check_orientation(4, 3, 2, "DEFABC");
    check_orientation(5, 2, 3, "ADBECF");
    check_orientation(6, 2, 3, "DAEBFC");
    check_orientation(7, 2, 3, "FCEBDA");
    check_orientation(8, 2, 3, "CFBEAD");
    check_orientation(9, 3, 2, "ABCDEF");
}

/* crop_copy: the square (x, y, side) of p, copied. */
static booka_image_pixels_t crop_copy(const booka_image_pixels_t *p, uint32_t x, uint32_t y, uint32_t side)
{
    booka_image_pixels_t out = {malloc((size_t)side * side * 3), side, side, 3};
    for (uint32_t row = 0; row < side; ++row)
        memcpy(out.data + (size_t)row * side * 3, p->data + ((size_t)(y + row) * p->width + x) * 3, (size_t)side * 3);
    return out;
}

/* Cropping the planned stored square and then orienting gives the same pixels as orienting the whole image and cropping its
 * centre square with the floor offset, for every orientation and odd or even differences. */
static void test_crop_then_orient_equals_orient_then_crop(void)
{
    static const uint32_t sizes[][2] = {{7, 4}, {8, 5}, {4, 7}, {5, 9}, {6, 6}, {10, 3}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); ++s) {
        for (uint8_t o = 1; o <= 8; ++o) {
            booka_image_pixels_t whole = letters_image(sizes[s][0], sizes[s][1]);
            uint32_t x, y, side;
            booka_image_plan_crop(whole.width, whole.height, o, &x, &y, &side);
            booka_image_pixels_t planned = crop_copy(&whole, x, y, side);
            CHECK_INT_EQ(booka_image_apply_orientation(&planned, o), BOOKA_IMAGE_OK);

            CHECK_INT_EQ(booka_image_apply_orientation(&whole, o), BOOKA_IMAGE_OK);
            uint32_t excess_x = whole.width - side, excess_y = whole.height - side;
            booka_image_pixels_t reference = crop_copy(&whole, excess_x / 2, excess_y / 2, side);
            CHECK(memcmp(planned.data, reference.data, (size_t)side * side * 3) == 0);
            booka_image_pixels_dispose(&planned);
            booka_image_pixels_dispose(&reference);
            booka_image_pixels_dispose(&whole);
        }
    }
}

static void test_shrink_factor(void)
{
    CHECK_INT_EQ(booka_image_shrink_factor(3000, 512, 8), 2); /* 3000 / 1024 */
    CHECK_INT_EQ(booka_image_shrink_factor(3000, 256, 8), 5);
    CHECK_INT_EQ(booka_image_shrink_factor(3000, 100, 8), 8); /* capped */
    CHECK_INT_EQ(booka_image_shrink_factor(3000, 100, UINT32_MAX), 15);
    CHECK_INT_EQ(booka_image_shrink_factor(1200, 512, 8), 1);
    CHECK_INT_EQ(booka_image_shrink_factor(1024, 512, 8), 1);
    CHECK_INT_EQ(booka_image_shrink_factor(2048, 512, 8), 2); /* exactly 2x left */
    CHECK_INT_EQ(booka_image_shrink_factor(100, 100, 8), 1);
    CHECK_INT_EQ(booka_image_shrink_factor(100, 0, 8), 1);
}

/* test_scaled_length: the size a scaling decoder (libwebp) is asked for: the smallest that keeps >= 2x the side across the
 * crop, rounded up, for the crop and for spans wider than it (the even-aligned crop libwebp gets). */
static void test_scaled_length(void)
{
    CHECK_INT_EQ(booka_image_scaled_length(1500, 1500, 256), 512);
    CHECK_INT_EQ(booka_image_scaled_length(1500, 1500, 512), 1024); /* 1.46:1, which no integer factor gives */
    CHECK_INT_EQ(booka_image_scaled_length(1501, 1500, 512), 1025); /* ceil(1501 * 1024 / 1500) */
    CHECK_INT_EQ(booka_image_scaled_length(1200, 1200, 100), 200);
    CHECK_INT_EQ(booka_image_scaled_length(1200, 1200, 599), 1198);
    CHECK_INT_EQ(booka_image_scaled_length(1200, 1200, 600), 1200); /* exactly 2x already: no scaling */
    CHECK_INT_EQ(booka_image_scaled_length(1200, 1200, 1024), 1200);
    CHECK_INT_EQ(booka_image_scaled_length(1200, 1200, 0), 1200);
    CHECK_INT_EQ(booka_image_scaled_length(16383, 16383, 1), 2);
    for (uint32_t side = 1; side < 700; side += 37) /* the crop always keeps at least 2x */
        CHECK(booka_image_scaled_length(1399, 1399, side) >= (2 * side < 1399 ? 2 * side : 1399));
}

int main(void)
{
    test_output_side();
    test_crop_squares();
    test_orientations();
    test_crop_then_orient_equals_orient_then_crop();
    test_shrink_factor();
    test_scaled_length();
    return unit_report("image_geometry");
}
