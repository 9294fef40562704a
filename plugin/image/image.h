/* image.h: avatar thumbnails from memory buffers: probe, decode (JPEG/PNG/WebP), crop, Lanczos-3, encode (WebP/JPEG). */
#ifndef BOOKA_IMAGE_H
#define BOOKA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* All functions are reentrant: no global state, no threads of their own, no I/O; call them from any worker thread.
 *
 * Every function returns one of these; booka_image_strerror() gives a short static message fit for a log line. */
typedef enum booka_image_error {
    BOOKA_IMAGE_OK = 0,
    BOOKA_IMAGE_ERROR_NOT_IMAGE,       /* starts with no JPEG, PNG or WebP signature (includes empty input) */
    BOOKA_IMAGE_ERROR_UNSUPPORTED,     /* a known format using a feature we do not decode (12-bit JPEG, lossless JPEG, ...) */
    BOOKA_IMAGE_ERROR_TRUNCATED,       /* the data ends before the image does */
    BOOKA_IMAGE_ERROR_CORRUPT,         /* the decoder rejected the data */
    BOOKA_IMAGE_ERROR_TOO_MANY_BYTES,  /* over limits.max_source_bytes (or the data URL's max_bytes) */
    BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS, /* header's width x height or a side over the limits; nothing was decoded */
    BOOKA_IMAGE_ERROR_BAD_DATA_URL,    /* not a data:image/...;base64, URL, or its payload is not base64 */
    BOOKA_IMAGE_ERROR_BAD_PARAMS,      /* side out of range for this source, quality not 1..100, unknown format */
    BOOKA_IMAGE_ERROR_NO_MEMORY,
    BOOKA_IMAGE_ERROR_ENCODE, /* the encoder failed on valid pixels */
} booka_image_error_t;

typedef enum booka_image_format {
    BOOKA_IMAGE_FORMAT_UNKNOWN = 0,
    BOOKA_IMAGE_FORMAT_JPEG,
    BOOKA_IMAGE_FORMAT_PNG,
    BOOKA_IMAGE_FORMAT_WEBP,
} booka_image_format_t;

/* What the header says, read without decoding any pixel. */
typedef struct booka_image_info {
    booka_image_format_t format;
    uint32_t width, height;     /* as stored, before EXIF orientation; for animated WebP the canvas */
    uint8_t orientation;        /* EXIF orientation 1..8 (JPEG only); 1 when absent or invalid */
    uint8_t has_alpha;          /* the format may carry transparency (PNG alpha/tRNS, WebP alpha flag) */
    uint8_t is_animated;        /* animated WebP: thumbnails show its first frame */
    uint64_t whole_image_bytes; /* what the decoder must hold for the whole image at once, whatever the output side: a JPEG
                                 * decoded in several scans (progressive, or components scanned apart) keeps every DCT
                                 * coefficient, an interlaced PNG every row, a lossless WebP every pixel as 32 bits, a
                                 * lossy WebP with alpha its alpha plane, an animated WebP its canvases; 0 when the decoder
                                 * streams rows */
} booka_image_info_t;

/* Bounds applied before any pixel is decoded. */
typedef struct booka_image_limits {
    size_t max_source_bytes;    /* encoded input size */
    uint64_t max_source_pixels; /* width * height from the header */
    uint32_t max_source_side;   /* width and height from the header: a 1 x 39M PNG is within 40 MP but costs 2 s of rows */
    uint32_t max_output_side;   /* largest thumbnail side */
    size_t max_decode_bytes;    /* memory one decode may hold for a whole image: libjpeg's buffers (a progressive JPEG keeps
                                 * every coefficient: 6320x6320 takes ~120 MB), an interlaced PNG's pixels (6324x6324 RGBA:
                                 * 160 MB); over it the source is TOO_MANY_PIXELS; 0: no limit */
} booka_image_limits_t;

#define BOOKA_IMAGE_DEFAULT_MAX_SOURCE_BYTES ((size_t)20 * 1024 * 1024)
#define BOOKA_IMAGE_DEFAULT_MAX_SOURCE_PIXELS ((uint64_t)40 * 1000 * 1000)
#define BOOKA_IMAGE_DEFAULT_MAX_SOURCE_SIDE 16384 /* WebP's own maximum is 16383 */
#define BOOKA_IMAGE_DEFAULT_MAX_OUTPUT_SIDE 2048
#define BOOKA_IMAGE_DEFAULT_MAX_DECODE_BYTES ((size_t)64 * 1024 * 1024) /* a 12 MP progressive photo needs ~36 MB */

extern const booka_image_limits_t booka_image_default_limits;

typedef enum booka_image_output_format {
    BOOKA_IMAGE_OUTPUT_WEBP = 1,
    BOOKA_IMAGE_OUTPUT_JPEG,
} booka_image_output_format_t;

typedef struct booka_image_params {
    uint32_t side;                      /* output square side, from booka_image_output_side() */
    booka_image_output_format_t format; /* ignored by booka_image_render() */
    int quality;                        /* 1..100; ignored by booka_image_render() */
    const booka_image_limits_t *limits; /* NULL means booka_image_default_limits */
    int full_decode;                    /* 1 turns shrink-on-load off (benchmarks and resampler tests); 0 in production */
} booka_image_params_t;

/* Decoded pixels: rows of width * channels bytes, no padding; channels 3 = RGB, 4 = RGBA with straight (not premultiplied)
 * alpha. All sRGB, 8 bits per sample. */
typedef struct booka_image_pixels {
    uint8_t *data; /* malloc'd */
    uint32_t width, height;
    uint8_t channels;
} booka_image_pixels_t;

typedef struct booka_image_result {
    uint8_t *bytes; /* malloc'd encoded image; release with free() or booka_image_result_dispose() */
    size_t len;
    const char *mime_type; /* static: "image/webp" or "image/jpeg" */
    uint32_t side;
} booka_image_result_t;

/* booka_image_strerror: a short static message for err; never NULL. */
const char *booka_image_strerror(booka_image_error_t err);

/* booka_image_error_is_source_fault: 1 when err blames the source picture or URL (answer 422), 0 when it is ours or the
 * caller's (NO_MEMORY, ENCODE, BAD_PARAMS). */
int booka_image_error_is_source_fault(booka_image_error_t err);

/* booka_image_output_side: the thumbnail side for a CSS width and device pixel ratio: floor(css_width * dpr + 0.5), then
 * clamped to min(source_short_side, max_side). dpr is the client's decimal parsed with strtod; the product is nudged by 1e-9
 * so that decimal halves (10 * 1.15 = 11.5) round up as they do in decimal. Returns 0 when any input is 0 or negative. */
uint32_t booka_image_output_side(double css_width, double dpr, uint32_t source_short_side, uint32_t max_side);

/* booka_image_probe: sniffs the format from its signature and reads the header (and the JPEG EXIF orientation) without
 * decoding pixels or allocating. Fails with NOT_IMAGE, UNSUPPORTED, TRUNCATED or CORRUPT; *out is zeroed first. */
booka_image_error_t booka_image_probe(const uint8_t *buf, size_t len, booka_image_info_t *out);

/* booka_image_check_limits: TOO_MANY_BYTES when len is over the byte limit, TOO_MANY_PIXELS when the header's pixel count
 * or one of its sides is, or when a JPEG's whole-image coefficients are over max_decode_bytes, else OK. limits NULL means
 * the defaults. */
booka_image_error_t booka_image_check_limits(const booka_image_info_t *info, size_t len, const booka_image_limits_t *limits);

/* booka_image_memory_estimate: an upper bound on the memory booka_image_thumbnail() holds at its peak for a source of
 * `len` encoded bytes (counted too: the caller holds them meanwhile) with header `info`, within the limits
 * (booka_image_check_limits passed), at output side `side` (after the caller's capping): the whole-image buffers above, the
 * decoders' rows and state, libwebp's cropped and scaled output, the resampler and the encoder. Measured against the decoders in
 * test/unit/image/memory_test.c; made for a memory budget shared by worker threads, so it errs on the high side. */
uint64_t booka_image_memory_estimate(const booka_image_info_t *info, size_t len, uint32_t side);

/* booka_image_render: probe, limits, decode with shrink-on-load, centre square crop, Lanczos-3 to params->side, EXIF
 * orientation. params->side must be 1..min(short side, max_output_side) (BAD_PARAMS otherwise). On success *out holds
 * side x side pixels (RGB, or RGBA when the source has alpha) to release with booka_image_pixels_dispose(); on error *out is
 * empty and nothing is allocated. */
booka_image_error_t booka_image_render(const uint8_t *src, size_t len, const booka_image_params_t *params,
                                       booka_image_pixels_t *out);

/* booka_image_encode: encodes pixels as WebP (alpha kept) or JPEG (alpha flattened onto white) at quality 1..100. On error
 * *out is empty. */
booka_image_error_t booka_image_encode(const booka_image_pixels_t *pixels, booka_image_output_format_t format, int quality,
                                       booka_image_result_t *out);

/* booka_image_thumbnail: booka_image_render() then booka_image_encode(); the whole pipeline for one request. */
booka_image_error_t booka_image_thumbnail(const uint8_t *src, size_t len, const booka_image_params_t *params,
                                          booka_image_result_t *out);

void booka_image_pixels_dispose(booka_image_pixels_t *pixels);
void booka_image_result_dispose(booka_image_result_t *result);

/* booka_image_decode_data_url: decodes `data:image/<type>[;param]*;base64,<payload>` into a malloc'd buffer. The payload may
 * contain ASCII whitespace and may omit its '=' padding; any other character outside the base64 alphabet is an error.
 * Fails with BAD_DATA_URL, TOO_MANY_BYTES (decoded size over max_bytes, found before allocating) or NO_MEMORY; *out is then
 * NULL. */
booka_image_error_t booka_image_decode_data_url(const char *url, size_t len, uint8_t **out, size_t *out_len, size_t max_bytes);

#endif
