/* Benchmark kernel: table-driven CRC-32 (IEEE 802.3, reflected) over a 64 KiB buffer.
 * Exercises byte loads, table lookups and shifts: the shape of checksum and codec loops. */
#include "kernel.h"

#define BUF_BYTES 65536

static uint8_t buf[BUF_BYTES];
static uint32_t table[256];

static uint32_t crc32(uint32_t crc, const uint8_t *p, uint32_t len)
{
    crc = ~crc;
    for (uint32_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint32_t kernel(uint32_t n)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t seed = 0xc0ffee11;
    for (uint32_t i = 0; i < BUF_BYTES; i++)
        buf[i] = (uint8_t)bk_rand(&seed);
    uint32_t crc = 0;
    for (uint32_t it = 0; it < n; it++) {
        crc = crc32(crc, buf, BUF_BYTES);
        buf[it % BUF_BYTES] ^= (uint8_t)crc;
    }
    return crc;
}

BK_DEFINE(2000, 60)
