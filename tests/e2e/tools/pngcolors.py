#!/usr/bin/env python3
"""pngcolors.py PNG HEX...: counts the pixels of an 8-bit RGB or RGBA PNG (what Chromium's
--screenshot writes) within 40 of each colour (per channel), and the pixels that are not
near-white; prints "HEX COUNT" lines and "nonwhite COUNT". Standard library only (zlib)."""
import struct
import sys
import zlib


def pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), "want 8-bit RGB or RGBA"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw, stride = zlib.decompress(idat), width * bpp
    prev, at = bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        yield from (tuple(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line


def main():
    want = [tuple(int(h.lstrip("#")[k:k + 2], 16) for k in (0, 2, 4)) for h in sys.argv[2:]]
    counts, nonwhite = [0] * len(want), 0
    for px in pixels(sys.argv[1]):
        if min(px) < 235:
            nonwhite += 1
        for k, w in enumerate(want):
            if all(abs(px[i] - w[i]) <= 40 for i in range(3)):
                counts[k] += 1
    for h, n in zip(sys.argv[2:], counts):
        print(h, n)
    print("nonwhite", nonwhite)


main()
