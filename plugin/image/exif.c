/* exif.c: reads the Orientation tag (0x0112) from the TIFF structure of a JPEG's EXIF APP1 segment. */
#include "internal.h"

#define TIFF_HEADER_SIZE 8
#define IFD_ENTRY_SIZE 12
#define TAG_ORIENTATION 0x0112
#define TYPE_SHORT 3

/* read_u16, read_u32: the integer at p in the TIFF byte order; the caller has checked the bounds. */
static uint32_t read_u16(const uint8_t *p, int big_endian)
{
    return big_endian ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t read_u32(const uint8_t *p, int big_endian)
{
    return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                      : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* booka_image_exif_orientation: tiff points just past "Exif\0\0" (the TIFF header, "II*\0" or "MM\0*"). Returns the
 * orientation 1..8 found in IFD0, or 1 when the structure is malformed, truncated, or has no valid orientation: a broken
 * EXIF block never makes an image undecodable, as in browsers. Every read is bounds-checked against len. */
uint8_t booka_image_exif_orientation(const uint8_t *tiff, size_t len)
{
    if (len < TIFF_HEADER_SIZE)
        return 1;
    int big_endian;
    if (tiff[0] == 'I' && tiff[1] == 'I')
        big_endian = 0;
    else if (tiff[0] == 'M' && tiff[1] == 'M')
        big_endian = 1;
    else
        return 1;
    if (read_u16(tiff + 2, big_endian) != 42)
        return 1;

    uint32_t ifd = read_u32(tiff + 4, big_endian);
    if (ifd > len || len - ifd < 2)
        return 1;
    uint32_t entries = read_u16(tiff + ifd, big_endian);
    if ((len - ifd - 2) / IFD_ENTRY_SIZE < entries)
        return 1;
    for (uint32_t i = 0; i < entries; ++i) {
        const uint8_t *entry = tiff + ifd + 2 + (size_t)i * IFD_ENTRY_SIZE;
        if (read_u16(entry, big_endian) != TAG_ORIENTATION)
            continue;
        if (read_u16(entry + 2, big_endian) != TYPE_SHORT || read_u32(entry + 4, big_endian) != 1)
            return 1;
        uint32_t value = read_u16(entry + 8, big_endian); /* a single SHORT sits left-justified in the value field */
        return value >= 1 && value <= 8 ? (uint8_t)value : 1;
    }
    return 1;
}
