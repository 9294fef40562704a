/* decode_test.c: tests plugin/image/jpeg.c, png.c and webp.c on ImageMagick-made fixtures of every supported variant:
 * dimensions, channels, quadrant colours, and every pixel against ImageMagick's own decode. */
#include "unit.h"
#include "fixtures.h"

/* The sources: 64x48 in four 32x24 quadrants, red / lime over blue / white; with alpha, lime is half transparent and white
 * fully transparent. */
#define OPAQUE_SOURCE "quad.png"
#define ALPHA_SOURCE "alpha.png"

typedef struct decode_case {
    const char *name;    /* fixture file */
    const char *command; /* convert arguments making it from a source */
    booka_image_format_t format;
    uint8_t channels; /* what the decoder must deliver */
    uint8_t top_right_alpha;
    int tolerance; /* max difference from ImageMagick's decode: 0 where both run the same library on the same data */
} decode_case_t;

static const decode_case_t cases[] = {
    {"baseline.jpg", OPAQUE_SOURCE " -quality 92 baseline.jpg", BOOKA_IMAGE_FORMAT_JPEG, 3, 255, 0},
    {"baseline444.jpg", OPAQUE_SOURCE " -quality 92 -sampling-factor 1x1 baseline444.jpg", BOOKA_IMAGE_FORMAT_JPEG, 3, 255, 0},
    {"progressive.jpg", OPAQUE_SOURCE " -quality 92 -interlace Plane progressive.jpg", BOOKA_IMAGE_FORMAT_JPEG, 3, 255, 0},
    {"grey.jpg", OPAQUE_SOURCE " -colorspace Gray -quality 92 grey.jpg", BOOKA_IMAGE_FORMAT_JPEG, 3, 255, 0},
    {"cmyk.jpg", OPAQUE_SOURCE " -colorspace CMYK -quality 92 cmyk.jpg", BOOKA_IMAGE_FORMAT_JPEG, 3, 255, 3},
    {"arithmetic.jpg", OPAQUE_SOURCE " -quality 92 -define jpeg:arithmetic-coding=true arithmetic.jpg", BOOKA_IMAGE_FORMAT_JPEG, 3,
     255, 0},
    {"rgb.png", OPAQUE_SOURCE " PNG24:rgb.png", BOOKA_IMAGE_FORMAT_PNG, 3, 255, 0},
    {"palette.png", OPAQUE_SOURCE " PNG8:palette.png", BOOKA_IMAGE_FORMAT_PNG, 3, 255, 0},
    {"palette_trns.png", ALPHA_SOURCE " -channel A -threshold 40% +channel PNG8:palette_trns.png", BOOKA_IMAGE_FORMAT_PNG, 4, 255,
     0},
    {"grey.png", OPAQUE_SOURCE " -colorspace Gray -define png:color-type=0 grey.png", BOOKA_IMAGE_FORMAT_PNG, 3, 255, 0},
    {"grey1.png", OPAQUE_SOURCE " -colorspace Gray -threshold 50% -define png:bit-depth=1 -define png:color-type=0 grey1.png",
     BOOKA_IMAGE_FORMAT_PNG, 3, 255, 0},
    {"grey_alpha.png", ALPHA_SOURCE " -colorspace Gray -define png:color-type=4 grey_alpha.png", BOOKA_IMAGE_FORMAT_PNG, 4, 128, 0},
    {"rgb16.png", OPAQUE_SOURCE " PNG48:rgb16.png", BOOKA_IMAGE_FORMAT_PNG, 3, 255, 0},
    {"rgba.png", ALPHA_SOURCE " PNG32:rgba.png", BOOKA_IMAGE_FORMAT_PNG, 4, 128, 0},
    {"rgba16.png", ALPHA_SOURCE " PNG64:rgba16.png", BOOKA_IMAGE_FORMAT_PNG, 4, 128, 0},
    {"interlaced.png", OPAQUE_SOURCE " -interlace PNG PNG24:interlaced.png", BOOKA_IMAGE_FORMAT_PNG, 3, 255, 0},
    {"interlaced_rgba16.png", ALPHA_SOURCE " -interlace PNG PNG64:interlaced_rgba16.png", BOOKA_IMAGE_FORMAT_PNG, 4, 128, 0},
    {"lossy.webp", OPAQUE_SOURCE " -quality 90 lossy.webp", BOOKA_IMAGE_FORMAT_WEBP, 3, 255, 2},
    {"lossless.webp", OPAQUE_SOURCE " -define webp:lossless=true lossless.webp", BOOKA_IMAGE_FORMAT_WEBP, 3, 255, 0},
    {"lossy_alpha.webp", ALPHA_SOURCE " -quality 90 lossy_alpha.webp", BOOKA_IMAGE_FORMAT_WEBP, 4, 128, 2},
    {"lossless_alpha.webp", ALPHA_SOURCE " -define webp:lossless=true lossless_alpha.webp", BOOKA_IMAGE_FORMAT_WEBP, 4, 128, 0},
};

/* near: every channel of px within tolerance of want (alpha only when px has one). */
static int near(const uint8_t *px, uint8_t channels, const uint8_t *want, int tolerance)
{
    for (int c = 0; c < (channels == 4 ? 4 : 3); ++c)
        if (abs((int)px[c] - want[c]) > tolerance)
            return 0;
    return 1;
}

/* check_quadrants: the centre 48x48 crop keeps 24x24 of each quadrant; probe 4 px in from each corner. */
static void check_quadrants(const decode_case_t *dc, const booka_image_pixels_t *p)
{
    static const uint8_t red[] = {255, 0, 0, 255}, blue[] = {0, 0, 255, 255}, white[] = {255, 255, 255, 255};
    const uint8_t lime[] = {0, 255, 0, dc->top_right_alpha};
    int grey = strstr(dc->name, "grey") != NULL, tolerance = dc->tolerance + 6;
    if (grey) {
        /* ImageMagick's Gray is Rec. 709 luma of red, lime and blue; the 1-bit fixture thresholds them to 0, 255, 0 */
        int one_bit = strstr(dc->name, "grey1") != NULL;
        uint8_t r = one_bit ? 0 : 54, g = one_bit ? 255 : 182, b = one_bit ? 0 : 18;
        CHECK(abs(pixel(p, 4, 4)[0] - r) <= tolerance + 2 && pixel(p, 4, 4)[0] == pixel(p, 4, 4)[2]);
        CHECK(abs(pixel(p, 43, 4)[0] - g) <= tolerance + 2);
        CHECK(abs(pixel(p, 4, 43)[0] - b) <= tolerance + 2);
        return;
    }
    CHECK(near(pixel(p, 4, 4), p->channels, red, tolerance));
    CHECK(near(pixel(p, 43, 4), p->channels, lime, tolerance));
    CHECK(near(pixel(p, 4, 43), p->channels, blue, tolerance));
    if (p->channels == 4)
        CHECK_INT_EQ(pixel(p, 43, 43)[3], 0);
    else
        CHECK(near(pixel(p, 43, 43), 3, white, tolerance));
}

/* test_decode_case: makes the fixture, probes it, renders its centre square at full size (a copy: no resampling) and
 * compares with ImageMagick decoding the same file. */
static void test_decode_case(const decode_case_t *dc)
{
    size_t len = 0;
    uint8_t *buf = NULL;
    booka_image_info_t info;
    booka_image_pixels_t ours = {0}, magick = {0};
    char reference[64];

    CHECK(fixture_sh("convert %s", dc->command));
    CHECK((buf = fixture_read(dc->name, &len)) != NULL);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_OK);
    CHECK_INT_EQ(info.format, dc->format);
    CHECK(info.width == 64 && info.height == 48);
    CHECK_INT_EQ(info.has_alpha, dc->channels == 4);

    CHECK_INT_EQ(render_file(dc->name, 48, 1, &ours), BOOKA_IMAGE_OK);
    CHECK(ours.width == 48 && ours.height == 48);
    CHECK_INT_EQ(ours.channels, dc->channels);
    if (ours.data != NULL)
        check_quadrants(dc, &ours);

    snprintf(reference, sizeof(reference), "%s.pam", dc->name);
    CHECK(fixture_sh("convert %s -gravity center -crop 48x48+0+0 +repage -depth 8 -type %s %s", dc->name,
                     dc->channels == 4 ? "TrueColorAlpha" : "TrueColor", reference));
    CHECK(fixture_read_pam(reference, &magick));
    int diff = pixels_max_diff(&ours, &magick);
    if (diff > dc->tolerance)
        fprintf(stderr, "%s: differs from ImageMagick's decode by up to %d\n", dc->name, diff);
    CHECK(diff <= dc->tolerance);
    booka_image_pixels_dispose(&ours);
    booka_image_pixels_dispose(&magick);
    free(buf);
}

/* put_le24: a 24-bit little-endian field, as the WebP container uses. */
static void put_le24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
}

/* put_chunk: appends a RIFF chunk (fourcc, little-endian size, payload, pad byte to an even size) at buf + *n. */
static void put_chunk(uint8_t *buf, size_t *n, const char *fourcc, const uint8_t *payload, size_t size)
{
    memcpy(buf + *n, fourcc, 4);
    buf[*n + 4] = (uint8_t)size;
    put_le24(buf + *n + 5, (uint32_t)(size >> 8));
    memcpy(buf + *n + 8, payload, size);
    *n += 8 + size;
    if (size % 2)
        buf[(*n)++] = 0;
}

/* vp8l_chunk: the VP8L chunk (header included) of a simple-format lossless WebP fixture, or NULL. */
static const uint8_t *vp8l_chunk(const uint8_t *webp, size_t len, size_t *chunk_len)
{
    if (len < 20 || memcmp(webp + 12, "VP8L", 4) != 0)
        return NULL;
    size_t size = webp[16] | (size_t)webp[17] << 8 | (size_t)webp[18] << 16 | (size_t)webp[19] << 24;
    *chunk_len = 8 + size + size % 2;
    return *chunk_len <= len - 12 ? webp + 12 : NULL;
}

/* write_animation: an animated WebP (VP8X, ANIM, one full-canvas ANMF per frame) from two lossless stills; ImageMagick 6
 * here cannot write one (it concatenates stills). Returns 1 on success. */
static int write_animation(const char *first, const char *second, uint32_t width, uint32_t height, const char *name)
{
    const char *stills[2] = {first, second};
    uint8_t *files[2] = {NULL, NULL}, *out = NULL, vp8x[10] = {0x12}, anim[6] = {0xff, 0xff, 0xff, 0xff, 0, 0};
    size_t lens[2] = {0, 0}, n = 12;
    int ok = 0;
    put_le24(vp8x + 4, width - 1);
    put_le24(vp8x + 7, height - 1);
    for (int i = 0; i < 2; ++i)
        if ((files[i] = fixture_read(stills[i], &lens[i])) == NULL)
            goto Exit;
    out = malloc(lens[0] + lens[1] + 256);
    memcpy(out, "RIFF\0\0\0\0WEBP", 12);
    put_chunk(out, &n, "VP8X", vp8x, sizeof(vp8x));
    put_chunk(out, &n, "ANIM", anim, sizeof(anim));
    for (int i = 0; i < 2; ++i) {
        size_t frame_len;
        const uint8_t *frame = vp8l_chunk(files[i], lens[i], &frame_len);
        uint8_t anmf[16 + 4096] = {0};
        if (frame == NULL || frame_len > 4096)
            goto Exit;
        put_le24(anmf + 6, width - 1);
        put_le24(anmf + 9, height - 1);
        put_le24(anmf + 12, 100);
        memcpy(anmf + 16, frame, frame_len);
        put_chunk(out, &n, "ANMF", anmf, 16 + frame_len);
    }
    out[4] = (uint8_t)(n - 8);
    put_le24(out + 5, (uint32_t)((n - 8) >> 8));
    ok = fixture_write(name, out, n);

Exit:
    free(files[0]);
    free(files[1]);
    free(out);
    return ok;
}

/* The first frame of an animated WebP: frame 1 is the opaque source, frame 2 the transparent one. */
static void test_animated_webp_first_frame(void)
{
    size_t len = 0;
    booka_image_info_t info;
    booka_image_pixels_t ours = {0}, still = {0};
    CHECK(write_animation("lossless.webp", "lossless_alpha.webp", 64, 48, "animated.webp"));
    uint8_t *buf = fixture_read("animated.webp", &len);
    CHECK_INT_EQ(booka_image_probe(buf, len, &info), BOOKA_IMAGE_OK);
    CHECK(info.is_animated && info.width == 64 && info.height == 48);
    CHECK_INT_EQ(render_file("animated.webp", 48, 1, &ours), BOOKA_IMAGE_OK);
    CHECK_INT_EQ(render_file("rgb.png", 48, 1, &still), BOOKA_IMAGE_OK);
    CHECK_INT_EQ(ours.channels, 4);
    CHECK_INT_EQ(pixels_max_diff(&ours, &still), 0);
    booka_image_pixels_dispose(&ours);
    booka_image_pixels_dispose(&still);
    free(buf);
}

/* Shrink-on-load keeps the geometry: a 1/8 DCT-scaled JPEG decode and a 1/N libwebp-scaled decode land on the same picture
 * as a full decode (the quality test measures how close; here the quadrant colours must still sit in their corners). */
static void test_shrink_on_load_geometry(void)
{
    static const char *names[] = {"big.jpg", "big.webp", "big.png"};
    CHECK(fixture_sh("convert " OPAQUE_SOURCE " -filter point -resize 1600x1200! -quality 95 -sampling-factor 1x1 big.jpg"));
    CHECK(fixture_sh("convert " OPAQUE_SOURCE " -filter point -resize 1600x1200! -quality 95 big.webp"));
    CHECK(fixture_sh("convert " OPAQUE_SOURCE " -filter point -resize 1600x1200! PNG24:big.png"));
    for (int i = 0; i < 3; ++i) {
        booka_image_pixels_t shrunk = {0}, full = {0};
        static const decode_case_t opaque = {"big", "", BOOKA_IMAGE_FORMAT_UNKNOWN, 3, 0};
        CHECK_INT_EQ(render_file(names[i], 48, 0, &shrunk), BOOKA_IMAGE_OK);
        CHECK_INT_EQ(render_file(names[i], 48, 1, &full), BOOKA_IMAGE_OK);
        if (shrunk.data != NULL && full.data != NULL) {
            check_quadrants(&opaque, &shrunk);
            double psnr = pixels_psnr(&shrunk, &full);
            printf("%s to 48 px: shrink-on-load vs full decode PSNR %.1f dB\n", names[i], psnr);
            CHECK(psnr >= 30);
        }
        booka_image_pixels_dispose(&shrunk);
        booka_image_pixels_dispose(&full);
    }
}

/* A WebP is scaled while decoding whenever its crop exceeds twice the side, not only by integer factors: a 1200 px crop to
 * 500 px is decoded at 1000 px (before, 1200 / 1000 gave factor 1: a full decode), so it is not the full decode's picture,
 * yet close to it. */
static void test_webp_scales_by_any_ratio(void)
{
    booka_image_pixels_t shrunk = {0}, full = {0};
    CHECK(fixture_sh("convert -size 1600x1200 -seed 3 plasma:fractal -blur 0x1 -quality 92 ratio.webp"));
    CHECK_INT_EQ(render_file("ratio.webp", 500, 0, &shrunk), BOOKA_IMAGE_OK);
    CHECK_INT_EQ(render_file("ratio.webp", 500, 1, &full), BOOKA_IMAGE_OK);
    if (shrunk.data != NULL && full.data != NULL) {
        double psnr = pixels_psnr(&shrunk, &full);
        printf("ratio.webp 1200 px crop to 500 px: scaled decode vs full decode PSNR %.1f dB\n", psnr);
        CHECK(psnr < 99); /* 99: identical, i.e. not scaled */
        CHECK(psnr >= 40);
    }
    booka_image_pixels_dispose(&shrunk);
    booka_image_pixels_dispose(&full);
}

/* Colour hidden under transparent pixels must not leak into the picture: a lime disc whose transparent surroundings keep
 * their red (webp:exact) is, at 100 px, what the full decode and our alpha-weighted Lanczos make of it. libwebp's scaler
 * weighs colour by alpha for lossless bitstreams only: a lossy one with alpha scaled by it showed up to 33/255 of red in
 * the disc's opaque edge pixels. */
static void test_webp_hidden_colour_stays_hidden(void)
{
    static const char *names[] = {"hidden_lossy.webp", "hidden_lossless.webp"};
    CHECK(fixture_sh("convert -size 1200x1000 xc:red -fill lime -draw 'circle 600,500 600,100' '(' -size 1200x1000 xc:black "
                     "-fill white -draw 'circle 600,500 600,100' ')' -alpha off -compose CopyOpacity -composite "
                     "-define webp:exact=true -quality 95 hidden_lossy.webp"));
    CHECK(fixture_sh("convert hidden_lossy.webp -define webp:exact=true -define webp:lossless=true hidden_lossless.webp"));
    for (int i = 0; i < 2; ++i) {
        booka_image_pixels_t shrunk = {0}, full = {0};
        int worst = 0;
        CHECK_INT_EQ(render_file(names[i], 100, 0, &shrunk), BOOKA_IMAGE_OK);
        CHECK_INT_EQ(render_file(names[i], 100, 1, &full), BOOKA_IMAGE_OK);
        if (shrunk.data == NULL || full.data == NULL || shrunk.channels != 4 || full.channels != 4) {
            CHECK(!"rendered with alpha");
        } else {
            for (uint32_t y = 0; y < 100; ++y)
                for (uint32_t x = 0; x < 100; ++x)
                    if (pixel(&full, x, y)[3] >= 128)
                        for (int c = 0; c < 3; ++c) {
                            int d = abs((int)pixel(&shrunk, x, y)[c] - pixel(&full, x, y)[c]);
                            worst = d > worst ? d : worst;
                        }
            printf("%s to 100 px: largest colour difference from the full decode where opaque: %d\n", names[i], worst);
            CHECK(worst <= 8);
        }
        booka_image_pixels_dispose(&shrunk);
        booka_image_pixels_dispose(&full);
    }
}

int main(void)
{
    if (!fixture_sh(
            "convert -size 32x24 xc:red -size 32x24 xc:lime +append '(' -size 32x24 xc:blue -size 32x24 xc:white +append ')' "
            "-append +repage PNG24:" OPAQUE_SOURCE) ||
        !fixture_sh("convert -size 32x24 xc:red -size 32x24 xc:'rgba(0,255,0,0.5)' +append '(' -size 32x24 xc:blue -size 32x24 "
                    "xc:none +append ')' -append +repage PNG32:" ALPHA_SOURCE))
        return 2;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i)
        test_decode_case(&cases[i]);
    test_animated_webp_first_frame();
    test_shrink_on_load_geometry();
    test_webp_scales_by_any_ratio();
    test_webp_hidden_colour_stays_hidden();
    return unit_report("image_decode");
}
