/* lanczos_test.c: tests plugin/image/lanczos.c and resample.c: kernel, fixed-point weights, resampler invariants. */
#include <math.h>
#include <stdlib.h>
#include "unit.h"
#include "image/internal.h"

/* A filter configuration: source axis, window within it, output size. */
typedef struct filter_case {
    uint32_t src_size;
    double start, size;
    uint32_t out_size;
} filter_case_t;

static const filter_case_t filter_cases[] = {
    {100, 0, 100, 100},          {200, 0, 200, 100}, {300, 0, 300, 100}, {1200, 0, 1200, 512}, {4000, 500, 3000, 512},
    {1500, 0.5, 1499.5, 512},    {13, 0, 13, 1},     {7, 2.25, 3.5, 5},  {64, 0, 64, 128},     {2, 0, 2, 1},
    {1001, 0.375, 1000.25, 333}, {64, 8, 48, 7},
};

#define N_CASES (sizeof(filter_cases) / sizeof(filter_cases[0]))

static void test_kernel(void)
{
    CHECK(booka_image_lanczos3(0) == 1.0);
    for (int k = 1; k <= 3; ++k) {
        CHECK(fabs(booka_image_lanczos3(k)) < 1e-12);
        CHECK(fabs(booka_image_lanczos3(-k)) < 1e-12);
    }
    CHECK(booka_image_lanczos3(3.5) == 0.0);
    CHECK(booka_image_lanczos3(-100) == 0.0);
    CHECK(fabs(booka_image_lanczos3(0.5) - 0.607927) < 1e-5); /* 3 sin(pi/2) sin(pi/6) / (pi/2)^2 */
    CHECK(booka_image_lanczos3(1.5) < 0);                     /* first negative lobe */
    CHECK(booka_image_lanczos3(2.5) > 0);
    for (double x = 0.01; x < 3.2; x += 0.0731)
        CHECK(booka_image_lanczos3(x) == booka_image_lanczos3(-x));
}

/* Every output pixel's weights sum to exactly ONE, taps stay inside the source and the window's pixels, and the tap count
 * fits the stride. */
static void test_partition_of_unity(void)
{
    for (size_t c = 0; c < N_CASES; ++c) {
        const filter_case_t *fc = &filter_cases[c];
        booka_image_filter_t f;
        CHECK_INT_EQ(booka_image_filter_init(&f, fc->src_size, fc->start, fc->size, fc->out_size), BOOKA_IMAGE_OK);
        CHECK_INT_EQ(f.out_size, fc->out_size);
        int sums_exact = 1, taps_inside = 1;
        for (uint32_t i = 0; i < f.out_size; ++i) {
            int64_t sum = 0;
            for (uint32_t k = 0; k < f.count[i]; ++k)
                sum += f.weights[(size_t)i * f.stride + k];
            sums_exact &= sum == BOOKA_IMAGE_WEIGHT_ONE;
            taps_inside &= f.count[i] >= 1 && f.count[i] <= f.stride && f.first[i] >= (uint32_t)floor(fc->start) &&
                           f.first[i] + f.count[i] <= (uint32_t)ceil(fc->start + fc->size) &&
                           f.first[i] + f.count[i] <= fc->src_size;
        }
        CHECK(sums_exact);
        CHECK(taps_inside);
        booka_image_filter_dispose(&f);
    }
}

/* With an integer reduction over a whole axis, sample positions are exactly mirrored: output pixel i's weights are output
 * pixel n-1-i's reversed, and an interior pixel's weights read the same both ways. The kernel widens with the reduction. */
static void test_symmetry_and_support(void)
{
    static const uint32_t ratios[] = {1, 2, 3, 4, 5};
    for (size_t r = 0; r < sizeof(ratios) / sizeof(ratios[0]); ++r) {
        uint32_t n = 60, src = n * ratios[r];
        booka_image_filter_t f;
        CHECK_INT_EQ(booka_image_filter_init(&f, src, 0, src, n), BOOKA_IMAGE_OK);
        int mirrored = 1, palindromes = 1;
        for (uint32_t i = 0; i < n; ++i) {
            uint32_t j = n - 1 - i;
            const int32_t *wi = f.weights + (size_t)i * f.stride, *wj = f.weights + (size_t)j * f.stride;
            mirrored &= f.count[i] == f.count[j] && f.first[i] + f.count[i] == src - f.first[j];
            for (uint32_t k = 0; mirrored && k < f.count[i]; ++k)
                mirrored &= wi[k] == wj[f.count[j] - 1 - k];
            for (uint32_t k = 0; i >= 10 && i < n - 10 && k < f.count[i]; ++k)
                palindromes &= wi[k] == wi[f.count[i] - 1 - k];
        }
        CHECK(mirrored);
        CHECK(palindromes);
        /* interior taps span the widened support, 2 * 3 * ratio source pixels (less zero weights on pixel centres); at ratio 1
         * every tap but the centre one sits on a zero of the kernel */
        uint32_t interior = f.count[n / 2];
        if (ratios[r] == 1)
            CHECK_INT_EQ(interior, 1);
        else
            CHECK(interior >= 6 * ratios[r] - 1 && interior <= 6 * ratios[r]);
        booka_image_filter_dispose(&f);
    }
    booka_image_filter_t identity;
    CHECK_INT_EQ(booka_image_filter_init(&identity, 50, 0, 50, 50), BOOKA_IMAGE_OK);
    int single_taps = 1;
    for (uint32_t i = 0; i < 50; ++i)
        single_taps &= identity.count[i] == 1 && identity.first[i] == i &&
                       identity.weights[(size_t)i * identity.stride] == BOOKA_IMAGE_WEIGHT_ONE;
    CHECK(single_taps); /* scale 1 at integer positions: Lanczos is the identity, so a same-size resample is a copy */
    booka_image_filter_dispose(&identity);
}

static void test_filter_rejects_bad_windows(void)
{
    booka_image_filter_t f;
    CHECK_INT_EQ(booka_image_filter_init(&f, 10, 0, 10, 0), BOOKA_IMAGE_ERROR_BAD_PARAMS);
    CHECK_INT_EQ(booka_image_filter_init(&f, 10, 0, 0, 5), BOOKA_IMAGE_ERROR_BAD_PARAMS);
    CHECK_INT_EQ(booka_image_filter_init(&f, 10, 5, 6, 5), BOOKA_IMAGE_ERROR_BAD_PARAMS);
    CHECK_INT_EQ(booka_image_filter_init(&f, 10, -1, 5, 5), BOOKA_IMAGE_ERROR_BAD_PARAMS);
    CHECK(f.weights == NULL && f.first == NULL);
}

/* resample: pushes a width x height image with channels through the resampler; returns the error. */
static booka_image_error_t resample(const uint8_t *image, uint32_t width, uint32_t height, uint8_t channels,
                                    booka_image_window_t window, uint32_t out_w, uint32_t out_h, booka_image_pixels_t *out)
{
    booka_image_resampler_t *r;
    booka_image_error_t err = booka_image_resampler_new(&r, width, height, channels, &window, out_w, out_h);
    if (err != BOOKA_IMAGE_OK)
        return err;
    for (uint32_t y = 0; y < height; ++y)
        booka_image_resampler_push_row(r, image + (size_t)y * width * channels);
    err = booka_image_resampler_finish(r, out);
    booka_image_resampler_free(r);
    return err;
}

/* filled_image: a malloc'd width x height image of one pixel value. */
static uint8_t *filled_image(uint32_t width, uint32_t height, uint8_t channels, const uint8_t *value)
{
    uint8_t *image = malloc((size_t)width * height * channels);
    for (size_t i = 0; i < (size_t)width * height; ++i)
        memcpy(image + i * channels, value, channels);
    return image;
}

/* A constant image stays exactly constant at any size, scale and window, with and without alpha. */
static void test_constant_images(void)
{
    static const uint8_t rgb[] = {0, 128, 255}, rgba[] = {10, 200, 30, 77}, opaque_rgba[] = {255, 1, 254, 255};
    static const uint8_t *values[] = {rgb, rgba, opaque_rgba};
    static const uint8_t channels[] = {3, 4, 4};
    for (int v = 0; v < 3; ++v) {
        for (size_t c = 0; c < N_CASES; ++c) {
            const filter_case_t *fc = &filter_cases[c];
            uint32_t width = fc->src_size, height = fc->src_size < 40 ? fc->src_size : 40;
            booka_image_window_t window = {fc->start, 0, fc->size, height};
            uint8_t *image = filled_image(width, height, channels[v], values[v]);
            booka_image_pixels_t out;
            CHECK_INT_EQ(resample(image, width, height, channels[v], window, fc->out_size, 9, &out), BOOKA_IMAGE_OK);
            int constant = out.width == fc->out_size && out.height == 9 && out.channels == channels[v];
            for (size_t i = 0; constant && i < (size_t)out.width * out.height; ++i)
                constant = memcmp(out.data + i * out.channels, values[v], channels[v]) == 0;
            CHECK(constant);
            booka_image_pixels_dispose(&out);
            free(image);
        }
    }
}

/* pixel_row_value: red of pixel x on row 1 (all rows are alike in these tests). */
static int pixel_row_value(const booka_image_pixels_t *p, uint32_t x)
{
    return p->data[((size_t)p->width + x) * p->channels];
}

/* A black/white step rings with Lanczos-3 (over- and undershoot); the output must clamp, not wrap around. */
static void test_hard_edge_clamps(void)
{
    static const uint32_t widths[] = {64, 200, 999, 3000};
    static const uint32_t outs[] = {64, 37, 100, 512};
    for (int t = 0; t < 4; ++t) {
        uint32_t w = widths[t], h = 6;
        uint8_t *image = calloc((size_t)w * h, 3);
        for (uint32_t y = 0; y < h; ++y)
            memset(image + ((size_t)y * w + w / 2) * 3, 255, (size_t)(w - w / 2) * 3);
        booka_image_pixels_t out;
        CHECK_INT_EQ(resample(image, w, h, 3, (booka_image_window_t){0, 0, w, h}, outs[t], 3, &out), BOOKA_IMAGE_OK);
        uint32_t n = out.width, edge = n / 2;
        int dark_side_dark = 1, bright_side_bright = 1;
        for (uint32_t x = 0; x + 4 < edge; ++x)
            dark_side_dark &= pixel_row_value(&out, x) <= 12;
        for (uint32_t x = edge + 4; x < n; ++x)
            bright_side_bright &= pixel_row_value(&out, x) >= 243;
        CHECK(dark_side_dark);
        CHECK(bright_side_bright);
        CHECK(pixel_row_value(&out, 0) == 0 && pixel_row_value(&out, n - 1) == 255);
        booka_image_pixels_dispose(&out);
        free(image);
    }
    /* a single white column on black, reduced 10:1, reaches the undershoot on both sides */
    uint8_t *line = calloc(500 * 4, 3);
    for (uint32_t y = 0; y < 4; ++y)
        memset(line + ((size_t)y * 500 + 250) * 3, 255, 3);
    booka_image_pixels_t out;
    CHECK_INT_EQ(resample(line, 500, 4, 3, (booka_image_window_t){0, 0, 500, 4}, 50, 4, &out), BOOKA_IMAGE_OK);
    int small = 1;
    for (uint32_t x = 0; x < 50; ++x)
        small &= pixel_row_value(&out, x) < 64;
    CHECK(small);
    booka_image_pixels_dispose(&out);
    free(line);
}

/* Output dimensions follow the request, including non-square ones, and a same-size integer window copies exactly. */
static void test_dimensions_and_identity(void)
{
    uint32_t w = 37, h = 23;
    uint8_t *image = malloc((size_t)w * h * 4);
    srand(7);
    for (size_t i = 0; i < (size_t)w * h * 4; ++i)
        image[i] = (uint8_t)(i % 4 == 3 ? 1 + rand() % 255 : rand() % 256); /* alpha >= 1 keeps colour recoverable */
    booka_image_pixels_t out;
    CHECK_INT_EQ(resample(image, w, h, 4, (booka_image_window_t){0, 0, w, h}, w, h, &out), BOOKA_IMAGE_OK);
    CHECK(out.width == w && out.height == h && memcmp(out.data, image, (size_t)w * h * 4) == 0);
    booka_image_pixels_dispose(&out);
    CHECK_INT_EQ(resample(image, w, h, 4, (booka_image_window_t){3, 2, 20, 20}, 11, 5, &out), BOOKA_IMAGE_OK);
    CHECK(out.width == 11 && out.height == 5 && out.channels == 4);
    booka_image_pixels_dispose(&out);
    CHECK_INT_EQ(resample(image, w, h, 2, (booka_image_window_t){0, 0, w, h}, 5, 5, &out), BOOKA_IMAGE_ERROR_BAD_PARAMS);
    free(image);
}

/* Fewer rows than needed is reported, not filled in. */
static void test_missing_rows(void)
{
    static const uint8_t grey[] = {9, 9, 9};
    uint8_t *image = filled_image(30, 30, 3, grey);
    booka_image_resampler_t *r;
    booka_image_window_t window = {0, 0, 30, 30};
    CHECK_INT_EQ(booka_image_resampler_new(&r, 30, 30, 3, &window, 10, 10), BOOKA_IMAGE_OK);
    for (int y = 0; y < 20; ++y)
        booka_image_resampler_push_row(r, image);
    booka_image_pixels_t out;
    CHECK_INT_EQ(booka_image_resampler_finish(r, &out), BOOKA_IMAGE_ERROR_TRUNCATED);
    CHECK(out.data == NULL);
    booka_image_resampler_free(r);
    free(image);
}

int main(void)
{
    test_kernel();
    test_partition_of_unity();
    test_symmetry_and_support();
    test_filter_rejects_bad_windows();
    test_constant_images();
    test_hard_edge_clamps();
    test_dimensions_and_identity();
    test_missing_rows();
    return unit_report("image_lanczos");
}
