/* probe.c: format sniffing and header reading (no pixel decoding), limits, output side, error messages. */
#include <math.h>
#include <string.h>
#include <webp/decode.h>
#include "internal.h"

const booka_image_limits_t booka_image_default_limits = {
    BOOKA_IMAGE_DEFAULT_MAX_SOURCE_BYTES, BOOKA_IMAGE_DEFAULT_MAX_SOURCE_PIXELS, BOOKA_IMAGE_DEFAULT_MAX_SOURCE_SIDE,
    BOOKA_IMAGE_DEFAULT_MAX_OUTPUT_SIDE,  BOOKA_IMAGE_DEFAULT_MAX_DECODE_BYTES,
};

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const uint8_t jpeg_signature[3] = {0xff, 0xd8, 0xff};

#define PNG_IHDR_END 33 /* signature, IHDR length and type, 13 bytes of IHDR, CRC */
#define WEBP_HEADER_SIZE 12

const char *booka_image_strerror(booka_image_error_t err)
{
    switch (err) {
    case BOOKA_IMAGE_OK:
        return "ok";
    case BOOKA_IMAGE_ERROR_NOT_IMAGE:
        return "not a JPEG, PNG or WebP image";
    case BOOKA_IMAGE_ERROR_UNSUPPORTED:
        return "unsupported image variant";
    case BOOKA_IMAGE_ERROR_TRUNCATED:
        return "truncated image";
    case BOOKA_IMAGE_ERROR_CORRUPT:
        return "corrupt image";
    case BOOKA_IMAGE_ERROR_TOO_MANY_BYTES:
        return "image over the size limit";
    case BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS:
        return "image over the pixel limit";
    case BOOKA_IMAGE_ERROR_BAD_DATA_URL:
        return "malformed data URL";
    case BOOKA_IMAGE_ERROR_BAD_PARAMS:
        return "invalid thumbnail parameters";
    case BOOKA_IMAGE_ERROR_NO_MEMORY:
        return "out of memory";
    case BOOKA_IMAGE_ERROR_ENCODE:
        return "encoder failed";
    }
    return "unknown image error";
}

int booka_image_error_is_source_fault(booka_image_error_t err)
{
    switch (err) {
    case BOOKA_IMAGE_ERROR_NOT_IMAGE:
    case BOOKA_IMAGE_ERROR_UNSUPPORTED:
    case BOOKA_IMAGE_ERROR_TRUNCATED:
    case BOOKA_IMAGE_ERROR_CORRUPT:
    case BOOKA_IMAGE_ERROR_TOO_MANY_BYTES:
    case BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS:
    case BOOKA_IMAGE_ERROR_BAD_DATA_URL:
        return 1;
    default:
        return 0;
    }
}

uint32_t booka_image_output_side(double css_width, double dpr, uint32_t source_short_side, uint32_t max_side)
{
    if (!(css_width > 0) || !(dpr > 0) || source_short_side == 0 || max_side == 0)
        return 0;
    double wanted = floor(css_width * dpr + 0.5 + 1e-9);
    uint32_t limit = source_short_side < max_side ? source_short_side : max_side;
    if (wanted >= limit)
        return limit;
    return wanted < 1 ? 1 : (uint32_t)wanted;
}

/* read_be16, read_be32: big-endian integers at p; the caller has checked the bounds. */
static uint32_t read_be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* jpeg_coefficient_bytes: what libjpeg's whole-image coefficient buffer takes for this frame (jdcoefct.c: per component,
 * ceil(size * sampling / (max sampling * 8)) blocks across and down, each rounded up to the sampling factor, of 64
 * two-byte coefficients). A component whose specification is missing or out of range (libjpeg refuses the file before
 * allocating) counts as full resolution. */
static uint64_t jpeg_coefficient_bytes(const uint8_t *seg, size_t size, uint32_t width, uint32_t height, uint32_t components)
{
    uint32_t h[4], v[4], h_max = 1, v_max = 1;
    uint64_t bytes = 0;

    for (uint32_t i = 0; i < components; ++i) {
        uint8_t factors = size >= 6 + 3 * (i + 1) ? seg[6 + 3 * i + 1] : 0x11;
        h[i] = factors >> 4;
        v[i] = factors & 15;
        if (h[i] < 1 || h[i] > 4 || v[i] < 1 || v[i] > 4)
            h[i] = v[i] = 1;
        if (h[i] > h_max)
            h_max = h[i];
        if (v[i] > v_max)
            v_max = v[i];
    }
    for (uint32_t i = 0; i < components; ++i) {
        uint64_t across = ((uint64_t)width * h[i] + 8 * h_max - 1) / (8 * h_max),
                 down = ((uint64_t)height * v[i] + 8 * v_max - 1) / (8 * v_max);
        across = (across + h[i] - 1) / h[i] * h[i];
        down = (down + v[i] - 1) / v[i] * v[i];
        bytes += across * down * 64 * 2;
    }
    return bytes;
}

/* parse_jpeg_frame_header: reads an SOFn segment's payload. Baseline, extended, progressive and their arithmetic-coded
 * variants of 8-bit greyscale, YCbCr/RGB or CMYK/YCCK are supported; lossless, hierarchical, 12-bit, and height-from-DNL
 * frames are UNSUPPORTED. Sets whole_image_bytes to the coefficient buffer when the frame is progressive (the caller
 * decides for the other frames once it has seen the first scan). */
static booka_image_error_t parse_jpeg_frame_header(uint8_t marker, const uint8_t *seg, size_t size, booka_image_info_t *out,
                                                   uint32_t *num_components, uint64_t *coefficient_bytes)
{
    if (size < 6)
        return BOOKA_IMAGE_ERROR_CORRUPT;
    if (!(marker == 0xc0 || marker == 0xc1 || marker == 0xc2 || marker == 0xc9 || marker == 0xca))
        return BOOKA_IMAGE_ERROR_UNSUPPORTED;
    uint32_t precision = seg[0], height = read_be16(seg + 1), width = read_be16(seg + 3), components = seg[5];
    if (precision != 8 || height == 0 || !(components == 1 || components == 3 || components == 4))
        return BOOKA_IMAGE_ERROR_UNSUPPORTED;
    if (width == 0)
        return BOOKA_IMAGE_ERROR_CORRUPT;
    out->format = BOOKA_IMAGE_FORMAT_JPEG;
    out->width = width;
    out->height = height;
    *num_components = components;
    *coefficient_bytes = jpeg_coefficient_bytes(seg, size, width, height, components);
    if (marker == 0xc2 || marker == 0xca)
        out->whole_image_bytes = *coefficient_bytes;
    return BOOKA_IMAGE_OK;
}

/* is_frame_marker: SOF0..SOF15, which exclude DHT (C4), JPG (C8) and DAC (CC). */
static int is_frame_marker(uint8_t marker)
{
    return marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
}

/* probe_jpeg: walks the marker segments from SOI to the frame header, reading the first EXIF APP1's orientation on the
 * way, then on to the first scan header: libjpeg keeps the whole image's coefficients when that scan does not hold every
 * component (jdinput.c, has_multiple_scans), as it does for any progressive frame. Junk between segments is skipped, as
 * libjpeg does (with a warning). Fails with TRUNCATED when the data ends before the frame header, CORRUPT when scan data
 * or EOI come first; once the frame header is read, whatever follows only decides whole_image_bytes (a file that ends
 * before its first scan counts as scanned in several). */
static booka_image_error_t probe_jpeg(const uint8_t *buf, size_t len, booka_image_info_t *out)
{
    size_t pos = 2;
    int saw_exif = 0, saw_frame = 0;
    uint32_t components = 0;
    uint64_t coefficient_bytes = 0;
    out->orientation = 1;
    for (;;) {
        while (pos < len && buf[pos] != 0xff)
            ++pos;
        while (pos < len && buf[pos] == 0xff)
            ++pos;
        if (pos >= len)
            break;
        uint8_t marker = buf[pos++];
        if (marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7))
            continue; /* standalone markers: SOI, TEM, RSTn */
        if (marker == 0x00 || marker == 0xd9 || (marker == 0xda && !saw_frame)) {
            if (saw_frame)
                break;
            return BOOKA_IMAGE_ERROR_CORRUPT;
        }
        if (len - pos < 2)
            break;
        size_t segment = read_be16(buf + pos);
        if (segment < 2 && saw_frame)
            break;
        if (segment < 2)
            return BOOKA_IMAGE_ERROR_CORRUPT;
        if (len - pos < segment)
            break;
        const uint8_t *payload = buf + pos + 2;
        size_t payload_size = segment - 2;
        if (marker == 0xda) { /* the first scan; its first byte is the number of components it holds */
            if (payload_size < 1 || payload[0] < components)
                out->whole_image_bytes = coefficient_bytes;
            return BOOKA_IMAGE_OK;
        }
        if (is_frame_marker(marker)) {
            if (saw_frame)
                break; /* a second frame header before any scan: libjpeg refuses the file */
            booka_image_error_t err = parse_jpeg_frame_header(marker, payload, payload_size, out, &components, &coefficient_bytes);
            if (err != BOOKA_IMAGE_OK)
                return err;
            saw_frame = 1;
        } else if (marker == 0xe1 && !saw_exif && payload_size >= 6 && memcmp(payload, "Exif\0\0", 6) == 0) {
            out->orientation = booka_image_exif_orientation(payload + 6, payload_size - 6);
            saw_exif = 1;
        }
        pos += segment;
    }
    if (!saw_frame)
        return BOOKA_IMAGE_ERROR_TRUNCATED;
    out->whole_image_bytes = coefficient_bytes; /* no first scan header to go by: the costly case */
    return BOOKA_IMAGE_OK;
}

/* valid_png_depth: the bit depths the PNG spec allows for a colour type. */
static int valid_png_depth(uint8_t colour_type, uint8_t depth)
{
    switch (colour_type) {
    case 0:
        return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3:
        return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2:
    case 4:
    case 6:
        return depth == 8 || depth == 16;
    default:
        return 0;
    }
}

/* png_has_trns_before_idat: scans chunk headers after IHDR for tRNS, stopping at IDAT or the end of the data. */
static int png_has_trns_before_idat(const uint8_t *buf, size_t len)
{
    size_t pos = PNG_IHDR_END;
    while (len - pos >= 8) {
        uint32_t length = read_be32(buf + pos);
        if (memcmp(buf + pos + 4, "tRNS", 4) == 0)
            return 1;
        if (memcmp(buf + pos + 4, "IDAT", 4) == 0 || length > len - pos - 8 || len - pos - 8 - length < 4)
            return 0;
        pos += 12 + (size_t)length;
    }
    return 0;
}

/* probe_png: reads IHDR, which the PNG spec requires first. Fails with TRUNCATED or CORRUPT (wrong first chunk, zero or
 * over-2^31 dimensions, invalid depth, compression, filter or interlace method). */
static booka_image_error_t probe_png(const uint8_t *buf, size_t len, booka_image_info_t *out)
{
    if (len < PNG_IHDR_END)
        return BOOKA_IMAGE_ERROR_TRUNCATED;
    const uint8_t *ihdr = buf + 16;
    if (read_be32(buf + 8) != 13 || memcmp(buf + 12, "IHDR", 4) != 0)
        return BOOKA_IMAGE_ERROR_CORRUPT;
    uint32_t width = read_be32(ihdr), height = read_be32(ihdr + 4);
    uint8_t depth = ihdr[8], colour_type = ihdr[9];
    if (width == 0 || height == 0 || width > INT32_MAX || height > INT32_MAX || !valid_png_depth(colour_type, depth) ||
        ihdr[10] != 0 || ihdr[11] != 0 || ihdr[12] > 1)
        return BOOKA_IMAGE_ERROR_CORRUPT;
    out->format = BOOKA_IMAGE_FORMAT_PNG;
    out->width = width;
    out->height = height;
    out->orientation = 1;
    out->has_alpha = colour_type == 4 || colour_type == 6 || png_has_trns_before_idat(buf, len);
    if (ihdr[12] == 1) /* Adam7: png.c reads the whole image (8-bit RGB or RGBA) and a row pointer per row */
        out->whole_image_bytes = (uint64_t)width * height * (out->has_alpha ? 4 : 3) + (uint64_t)height * sizeof(void *);
    return BOOKA_IMAGE_OK;
}

/* probe_webp: libwebp's header parser (no pixel decoding). Fails with TRUNCATED, UNSUPPORTED or CORRUPT. */
static booka_image_error_t probe_webp(const uint8_t *buf, size_t len, booka_image_info_t *out)
{
    WebPBitstreamFeatures features;
    switch (WebPGetFeatures(buf, len, &features)) {
    case VP8_STATUS_OK:
        break;
    case VP8_STATUS_NOT_ENOUGH_DATA:
        return BOOKA_IMAGE_ERROR_TRUNCATED;
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return BOOKA_IMAGE_ERROR_UNSUPPORTED;
    default:
        return BOOKA_IMAGE_ERROR_CORRUPT;
    }
    if (features.width <= 0 || features.height <= 0)
        return BOOKA_IMAGE_ERROR_CORRUPT;
    out->format = BOOKA_IMAGE_FORMAT_WEBP;
    out->width = (uint32_t)features.width;
    out->height = (uint32_t)features.height;
    out->orientation = 1;
    out->has_alpha = features.has_alpha != 0;
    out->is_animated = features.has_animation != 0;
    uint64_t pixels = (uint64_t)out->width * out->height;
    if (out->is_animated) /* WebPAnimDecoder's two RGBA canvases, and a frame decoded as a lossless one (below) */
        out->whole_image_bytes = pixels * 4 * 3;
    else if (features.format == 2) /* VP8L decodes every pixel as 32 bits before any row comes out */
        out->whole_image_bytes = pixels * 4;
    else if (out->has_alpha) /* the alpha plane, and VP8L's 32-bit pixels when it is compressed without a palette */
        out->whole_image_bytes = pixels * 5;
    return BOOKA_IMAGE_OK;
}

/* signature_match: 1 when buf starts with sig, -1 when buf is a non-empty proper prefix of sig (a truncated file), else 0.
 * A '?' in a WebP signature matches any byte (the RIFF size). */
static int signature_match(const uint8_t *buf, size_t len, const uint8_t *sig, size_t sig_len, int wildcards)
{
    size_t n = len < sig_len ? len : sig_len;
    for (size_t i = 0; i < n; ++i)
        if (buf[i] != sig[i] && !(wildcards && sig[i] == '?'))
            return 0;
    return len >= sig_len ? 1 : len > 0 ? -1 : 0;
}

booka_image_error_t booka_image_probe(const uint8_t *buf, size_t len, booka_image_info_t *out)
{
    static const uint8_t webp_signature[WEBP_HEADER_SIZE] = {'R', 'I', 'F', 'F', '?', '?', '?', '?', 'W', 'E', 'B', 'P'};
    int jpeg, png, webp;
    *out = (booka_image_info_t){0};

    if ((jpeg = signature_match(buf, len, jpeg_signature, sizeof(jpeg_signature), 0)) == 1)
        return probe_jpeg(buf, len, out);
    if ((png = signature_match(buf, len, png_signature, sizeof(png_signature), 0)) == 1)
        return probe_png(buf, len, out);
    if ((webp = signature_match(buf, len, webp_signature, sizeof(webp_signature), 1)) == 1)
        return probe_webp(buf, len, out);
    return jpeg == -1 || png == -1 || webp == -1 ? BOOKA_IMAGE_ERROR_TRUNCATED : BOOKA_IMAGE_ERROR_NOT_IMAGE;
}

uint64_t booka_image_memory_estimate(const booka_image_info_t *info, size_t len, uint32_t side)
{
    uint32_t short_side = info->width < info->height ? info->width : info->height;
    uint64_t channels = info->has_alpha ? 4 : 3, total = len + info->whole_image_bytes;

    /* the decoders' rows and state (libjpeg's MCU rows of up to 4 components, libpng's two rows and zlib's window,
     * libwebp's macroblock rows, VP8L's row caches) and the resampler's row buffers: a few hundred bytes per column */
    total += (uint64_t)info->width * 256 + ((uint64_t)2 << 20);
    if (info->format == BOOKA_IMAGE_FORMAT_WEBP && !info->is_animated) { /* libwebp's output: the crop, scaled (webp.c) */
        uint64_t out_side = short_side / booka_image_shrink_factor(short_side, side, UINT32_MAX) + 2;
        total += out_side * out_side * channels;
    }
    /* the thumbnail's pixels, and the encoder's (WebP: YUV planes, and the alpha plane compressed losslessly) */
    total += (uint64_t)side * side * (info->has_alpha ? 16 : 8);
    return total;
}

booka_image_error_t booka_image_check_limits(const booka_image_info_t *info, size_t len, const booka_image_limits_t *limits)
{
    if (limits == NULL)
        limits = &booka_image_default_limits;
    if (len > limits->max_source_bytes)
        return BOOKA_IMAGE_ERROR_TOO_MANY_BYTES;
    if ((uint64_t)info->width * info->height > limits->max_source_pixels || info->width > limits->max_source_side ||
        info->height > limits->max_source_side)
        return BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS;
    /* libjpeg would refuse it once started (jpeg.c sets max_memory_to_use): say so before anything is allocated */
    if (info->format == BOOKA_IMAGE_FORMAT_JPEG && limits->max_decode_bytes != 0 &&
        info->whole_image_bytes > limits->max_decode_bytes)
        return BOOKA_IMAGE_ERROR_TOO_MANY_PIXELS;
    return BOOKA_IMAGE_OK;
}
