#!/usr/bin/python3
"""Pillow references for binscan's image decoding (tests/image/*).

What transformers' load_image does to a file is PIL.Image.open -> ImageOps.exif_transpose ->
convert("RGB"); this script does exactly that with Debian's Pillow and writes the pixels as raw
RGB bytes, plus what Pillow's getexif() reports, so the C++ tests can compare byte for byte.

  pil_images.py decode OUT_DIR FILE...    references for existing files
  pil_images.py metadata OUT_DIR FILE...  the same without pixels (sizes and EXIF only)
  pil_images.py generate OUT_DIR GROUP    first writes test images of GROUP into OUT_DIR
                                          (png, jpeg, orientation, sizes, webp, exif_malformed,
                                          png_metadata), then their references

OUT_DIR/manifest.json lists one object per file:
  {"path", "ok", "error", "width", "height", "raw", "format", "stored_width", "stored_height",
   "orientation", "exif_error", "exif": {...}}
"""
import io
import json
import os
import struct
import sys
import zlib

import warnings

import numpy as np
from PIL import Image, ImageOps

Image.MAX_IMAGE_PIXELS = 89478485  # Pillow's default; bombs are errors above twice this


# ----------------------------------------------------------------------------- references


def rational(v):
    return float(v)


def dms_to_degrees(v):
    d = rational(v[0])
    if len(v) > 1:
        d = d + rational(v[1]) / 60.0
    if len(v) > 2:
        d = d + rational(v[2]) / 3600.0
    return d


def exif_fields(im):
    """What binscan exposes, computed from Pillow's getexif() the way a Python user would."""
    exif = im.getexif()
    o = exif.get(0x0112)
    out = {"orientation": o if isinstance(o, int) else None, "orientation_raw": repr(o)}
    for key, tag in (("make", 0x010F), ("model", 0x0110)):
        v = exif.get(tag)
        out[key] = v.rstrip("\0 ") if isinstance(v, str) else None
    sub = exif.get_ifd(0x8769)
    dto = sub.get(0x9003)
    out["taken_at"] = (dto[:4] + "-" + dto[5:7] + "-" + dto[8:10] + "T" + dto[11:19]) if dto else None
    out["focal_length_35mm"] = sub.get(0xA405)
    gps = exif.get_ifd(0x8825)
    lat, lon = gps.get(2), gps.get(4)
    if lat is not None and lon is not None:
        la, lo = dms_to_degrees(lat), dms_to_degrees(lon)
        out["latitude"] = -la if gps.get(1) == "S" else la
        out["longitude"] = -lo if gps.get(3) == "W" else lo
        alt = gps.get(6)
        if alt is not None:
            a = rational(alt)
            out["altitude_m"] = -a if gps.get(5) in (b"\x01", 1) else a
        else:
            out["altitude_m"] = None
    else:
        out["latitude"] = out["longitude"] = out["altitude_m"] = None
    d = gps.get(17)
    out["bearing_deg"] = rational(d) if d is not None else None
    out["bearing_ref"] = gps.get(16) if d is not None else None
    date, time = gps.get(29), gps.get(7)
    if date and time:
        h, m, s = (int(rational(x)) for x in time)
        out["gps_time_utc"] = "%s-%s-%sT%02d:%02d:%02dZ" % (date[:4], date[5:7], date[8:10], h, m, s)
    else:
        out["gps_time_utc"] = None
    return out


def reference(path, out_dir, index, pixels=True):
    entry = {"path": path, "ok": False, "error": None}
    try:
        im = Image.open(path)
        entry["format"] = im.format
        entry["stored_width"], entry["stored_height"] = im.size
        im.load()
        try:
            transposed = ImageOps.exif_transpose(im)
            entry["exif_error"] = None
        except Exception as e:  # Pillow gives up on some broken EXIF; binscan ignores it instead
            transposed = im
            entry["exif_error"] = "%s: %s" % (type(e).__name__, e)
        try:
            entry["exif"] = exif_fields(im)
        except Exception as e:
            entry["exif"] = None
            entry["exif_fields_error"] = "%s: %s" % (type(e).__name__, e)
        entry["orientation"] = entry["exif"]["orientation"] if entry["exif"] else None
        if not pixels:
            entry.update(ok=True, width=transposed.size[0], height=transposed.size[1], raw=None)
            return entry
        im = transposed
        rgb = im.convert("RGB")
        raw = "%d.rgb" % index
        with open(os.path.join(out_dir, raw), "wb") as f:
            f.write(rgb.tobytes())
        entry.update(ok=True, width=rgb.size[0], height=rgb.size[1], raw=raw)
    except Exception as e:
        entry["error"] = "%s: %s" % (type(e).__name__, e)
    return entry


def decode(out_dir, paths, pixels=True):
    os.makedirs(out_dir, exist_ok=True)
    manifest = [reference(p, out_dir, i, pixels) for i, p in enumerate(paths)]
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


# ----------------------------------------------------------------------------- PNG writer
# Pillow cannot write every colour type / bit depth (no 2/4-bit gray, no 16-bit RGB(A) or gray
# with alpha, no Adam7), so PNGs are assembled here from their chunks; Pillow then reads them.


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def pack_rows(samples, bit_depth):
    """samples: (h, w, c) ints -> list of packed row bytes (without filter byte)."""
    h = samples.shape[0]
    rows = []
    for y in range(h):
        row = samples[y].reshape(-1)
        if bit_depth == 16:
            rows.append(row.astype(">u2").tobytes())
        elif bit_depth == 8:
            rows.append(row.astype(np.uint8).tobytes())
        else:
            per = 8 // bit_depth
            padded = np.zeros(((len(row) + per - 1) // per) * per, dtype=np.uint8)
            padded[: len(row)] = row
            padded = padded.reshape(-1, per)
            b = np.zeros(len(padded), dtype=np.uint8)
            for i in range(per):
                b |= (padded[:, i] << (8 - bit_depth * (i + 1))).astype(np.uint8)
            rows.append(b.tobytes())
    return rows


def make_png(samples, bit_depth, color_type, palette=None, trns=None, interlace=False,
             before=(), after=()):
    h, w = samples.shape[:2]
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += b"".join(b"\0" + r for r in pack_rows(sub, bit_depth))
    else:
        raw = b"".join(b"\0" + r for r in pack_rows(samples, bit_depth))
    out = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0))
    for c in before:
        out += c
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    data = zlib.compress(raw)
    out += chunk(b"IDAT", data[: len(data) // 2]) + chunk(b"IDAT", data[len(data) // 2:])
    for c in after:
        out += c
    return out + chunk(b"IEND", b"")


def random_samples(rng, h, w, c, bit_depth):
    return rng.integers(0, 1 << bit_depth, size=(h, w, c), dtype=np.int64)


def gen_png(d, rng):
    files = []
    for color_type, depths in ((0, (1, 2, 4, 8, 16)), (2, (8, 16)), (3, (1, 2, 4, 8)),
                               (4, (8, 16)), (6, (8, 16))):
        for bd in depths:
            for interlace in (False, True):
                w, h = 19, 11
                c = CHANNELS[color_type]
                s = random_samples(rng, h, w, c, bd)
                if color_type == 0 and bd == 16:
                    # i2rgb clips at 255: make a good share of the values small enough to matter
                    s[: h // 2] = rng.integers(0, 300, size=(h // 2, w, 1))
                palette = None
                if color_type == 3:
                    palette = rng.integers(0, 256, size=3 * (1 << bd), dtype=np.int64).astype(np.uint8)
                name = "ct%d_bd%d%s.png" % (color_type, bd, "_adam7" if interlace else "")
                write(d, name, make_png(s, bd, color_type, palette, interlace=interlace))
                files.append(name)
    # palette + tRNS (alpha per entry), short palette with indices beyond it, gray/RGB + tRNS
    s = random_samples(rng, 9, 13, 1, 8) % 16
    pal = rng.integers(0, 256, size=3 * 16, dtype=np.int64).astype(np.uint8)
    write(d, "palette_trns.png", make_png(s, 8, 3, pal, trns=bytes(range(0, 160, 10))))
    write(d, "palette_trns_simple.png", make_png(s, 8, 3, pal, trns=b"\xff\xff\x00"))
    s2 = random_samples(rng, 9, 13, 1, 8)
    write(d, "palette_short.png", make_png(s2, 8, 3, pal[:12]))
    g = random_samples(rng, 9, 13, 1, 8)
    write(d, "gray_trns.png", make_png(g, 8, 0, trns=struct.pack(">H", int(g[0, 0, 0]))))
    rgb = random_samples(rng, 9, 13, 3, 8)
    write(d, "rgb_trns.png", make_png(rgb, 8, 2, trns=struct.pack(">HHH", *map(int, rgb[0, 0]))))
    # gAMA / iCCP-like ancillary chunks must not change anything (Pillow ignores them)
    write(d, "rgb_gama.png", make_png(rgb, 8, 2, before=[chunk(b"gAMA", struct.pack(">I", 100000))]))
    files += ["palette_trns.png", "palette_trns_simple.png", "palette_short.png", "gray_trns.png",
              "rgb_trns.png", "rgb_gama.png"]
    # Pillow-written files (its own filters/compression): P with transparency, LA, RGBA, I;16
    arr = rng.integers(0, 256, size=(21, 17, 4), dtype=np.int64).astype(np.uint8)
    for mode in ("RGBA", "LA", "P", "L", "1", "RGB"):
        im = Image.fromarray(arr, "RGBA").convert(mode)
        kw = {"transparency": 3} if mode == "P" else {}
        name = "pil_%s.png" % mode
        im.save(os.path.join(d, name), **kw)
        files.append(name)
    return files


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ----------------------------------------------------------------------------- other groups


def test_pattern(rng, w, h):
    """Smooth gradients plus noise: exercises chroma upsampling without being pure noise."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(w + h - 2, 1)], -1)
    noise = rng.integers(-40, 41, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def exif_with(orientation=None, extra=None):
    e = Image.Exif()
    if orientation is not None:
        e[0x0112] = orientation
    for k, v in (extra or {}).items():
        e[k] = v
    return e


def gen_jpeg(d, rng):
    files = []
    img = Image.fromarray(test_pattern(rng, 37, 23))
    for sub in (0, 1, 2):  # 4:4:4, 4:2:2, 4:2:0
        for prog in (False, True):
            name = "rgb_sub%d%s.jpg" % (sub, "_prog" if prog else "")
            img.save(os.path.join(d, name), quality=90, subsampling=sub, progressive=prog)
            files.append(name)
    img.save(os.path.join(d, "rgb_q20_restart.jpg"), quality=20, restart_marker_blocks=2)
    files.append("rgb_q20_restart.jpg")
    img.convert("L").save(os.path.join(d, "gray.jpg"), quality=85)
    img.convert("L").save(os.path.join(d, "gray_prog.jpg"), quality=85, progressive=True)
    # Pillow writes CMYK JPEGs inverted with an Adobe marker (transform 0)
    cmyk = Image.fromarray(rng.integers(0, 256, size=(23, 37, 4), dtype=np.int64).astype(np.uint8), "CMYK")
    cmyk.save(os.path.join(d, "cmyk_adobe.jpg"), quality=90)
    files += ["gray.jpg", "gray_prog.jpg", "cmyk_adobe.jpg"]
    return files


def oriented_images(rng):
    """A 17x5 image whose every transpose is distinct."""
    return Image.fromarray(test_pattern(rng, 17, 5))


def gen_orientation(d, rng):
    files = []
    img = oriented_images(rng)
    for o in range(0, 10):  # 0 and 9 are invalid: no transform
        name = "orient%d.jpg" % o
        img.save(os.path.join(d, name), quality=95, exif=exif_with(o).tobytes())
        files.append(name)
        name = "orient%d.png" % o
        img.save(os.path.join(d, name), exif=exif_with(o).tobytes())
        files.append(name)
        if 1 <= o <= 8:
            name = "orient%d.webp" % o
            img.save(os.path.join(d, name), lossless=True, exif=exif_with(o).tobytes())
            files.append(name)
    # big-endian EXIF
    be = big_endian_tiff({0x0112: (3, [6])})
    img.save(os.path.join(d, "orient6_motorola.jpg"), quality=95, exif=b"Exif\0\0" + be)
    files.append("orient6_motorola.jpg")
    return files


def gen_sizes(d, rng):
    files = []
    for w, h in ((1, 1), (1, 9), (9, 1), (17, 5), (2, 3), (16, 16), (33, 1)):
        img = Image.fromarray(test_pattern(rng, w, h))
        for sub in (0, 2):
            name = "s%dx%d_sub%d.jpg" % (w, h, sub)
            img.save(os.path.join(d, name), quality=90, subsampling=sub)
            files.append(name)
        name = "s%dx%d.png" % (w, h)
        img.save(os.path.join(d, name))
        files.append(name)
        name = "s%dx%d_gray2_adam7.png" % (w, h)
        write(d, name, make_png(random_samples(rng, h, w, 1, 2), 2, 0, interlace=True))
        files.append(name)
        name = "s%dx%d.webp" % (w, h)
        img.save(os.path.join(d, name), quality=80)
        files.append(name)
    return files


def gen_webp(d, rng):
    files = []
    img = Image.fromarray(test_pattern(rng, 41, 27))
    img.save(os.path.join(d, "lossless.webp"), lossless=True)
    img.save(os.path.join(d, "lossy.webp"), quality=75)
    rgba = img.convert("RGBA")
    a = np.asarray(rgba).copy()
    a[..., 3] = rng.integers(0, 256, size=a.shape[:2])
    rgba = Image.fromarray(a, "RGBA")
    rgba.save(os.path.join(d, "lossy_alpha.webp"), quality=75)
    rgba.save(os.path.join(d, "lossless_alpha.webp"), lossless=True, exact=True)
    frames = [img, img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(os.path.join(d, "animated.webp"), save_all=True, append_images=frames[1:],
                   duration=100, lossless=True)
    files += ["lossless.webp", "lossy.webp", "lossy_alpha.webp", "lossless_alpha.webp",
              "animated.webp"]
    return files


# ---- hand-made TIFF blocks for malformed EXIF


def big_endian_tiff(tags):
    """{tag: (type, [values])} with SHORT/LONG values only, big-endian, IFD0 at 8."""
    n = len(tags)
    out = b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", n)
    for tag, (typ, vals) in sorted(tags.items()):
        if typ == 3:
            data = b"".join(struct.pack(">H", v) for v in vals).ljust(4, b"\0")
        else:
            data = struct.pack(">I", vals[0])
        out += struct.pack(">HHI", tag, typ, len(vals)) + data
    return out + struct.pack(">I", 0)


def le_ifd(entries, next_ifd=0):
    """entries: list of raw (tag, type, count, 4-byte value field)."""
    out = struct.pack("<H", len(entries))
    for tag, typ, count, field in entries:
        out += struct.pack("<HHI", tag, typ, count) + field
    return out + struct.pack("<I", next_ifd)


def u32(v):
    return struct.pack("<I", v)


def short(v):
    return struct.pack("<HH", v, 0)


def malformed_blocks():
    """name -> TIFF bytes (little-endian); each keeps Orientation 6 somewhere readable or not."""
    H = b"II*\0" + u32(8)
    blocks = {}
    # IFD entry count claims 30 entries but the block ends after two
    ifd = le_ifd([(0x010F, 2, 4, b"Abc\0"), (0x0112, 3, 1, short(6))])
    blocks["truncated_ifd"] = H + struct.pack("<H", 30) + ifd[2:2 + 24]
    # Make's value points far outside; Pillow stops reading IFD0 there (Orientation is lost)
    blocks["offset_out_of_range"] = H + le_ifd([(0x010F, 2, 40, u32(100000)), (0x0112, 3, 1, short(6))])
    # Orientation first, then an out-of-range entry: orientation survives
    blocks["offset_out_of_range_after"] = H + le_ifd([(0x0112, 3, 1, short(6)), (0x0110, 2, 40, u32(0xFFFFFFF0))])
    # GPS IFD and Exif IFD pointing back at IFD0 (a loop) and at themselves
    blocks["loop"] = H + le_ifd([(0x0112, 3, 1, short(8)), (0x8769, 4, 1, u32(8)), (0x8825, 4, 1, u32(8))], next_ifd=8)
    # IFD0 offset beyond the block
    blocks["ifd0_out_of_range"] = b"II*\0" + u32(5000) + b"\0" * 16
    # huge count whose size overflows 32 bits
    blocks["huge_count"] = H + le_ifd([(0x0112, 3, 1, short(3)), (0x8825, 5, 0x40000000, u32(16)), (0x8769, 4, 1, u32(7777))])
    # Orientation stored with an invalid value, as BYTE type, and with count 2
    blocks["orientation_9"] = H + le_ifd([(0x0112, 3, 1, short(9))])
    blocks["orientation_byte"] = H + le_ifd([(0x0112, 1, 1, b"\x06\0\0\0")])
    blocks["orientation_count2"] = H + le_ifd([(0x0112, 3, 2, struct.pack("<HH", 6, 6))])
    # zero denominators in GPS
    gps_at = 8 + 2 + 12 * 2 + 4
    # (latitude and longitude share the rationals; the minutes have a zero denominator)
    rationals = struct.pack("<IIIIII", 51, 1, 30, 0, 10, 1)
    gps = le_ifd([(2, 5, 3, u32(gps_at + 2 + 24 + 4)), (4, 5, 3, u32(gps_at + 2 + 24 + 4))])
    blocks["gps_zero_denominator"] = H + le_ifd([(0x0112, 3, 1, short(6)), (0x8825, 4, 1, u32(gps_at))]) + gps + rationals
    blocks["not_tiff"] = b"XX*\0" + u32(8) + b"\0" * 8
    blocks["empty"] = b""
    blocks["header_only"] = b"II*\0"
    return blocks


def jpeg_with_app1(img, payload):
    b = io.BytesIO()
    img.save(b, "JPEG", quality=95)
    data = b.getvalue()
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + seg + data[2:]


def gen_exif_malformed(d, rng):
    files = []
    img = oriented_images(rng)
    for name, block in malformed_blocks().items():
        fname = "exif_%s.jpg" % name
        write(d, fname, jpeg_with_app1(img, b"Exif\0\0" + block))
        files.append(fname)
    return files


def gen_png_metadata(d, rng):
    files = []
    s = test_pattern(rng, 17, 5).astype(np.int64)
    e6 = exif_with(6).tobytes()  # starts with "Exif\0\0"
    write(d, "exif_after_idat.png", make_png(s, 8, 2, after=[chunk(b"eXIf", e6[6:])]))
    write(d, "exif_before_idat.png", make_png(s, 8, 2, before=[chunk(b"eXIf", exif_with(3).tobytes()[6:])]))
    hexdata = e6.hex()
    raw_profile = "\nexif\n%8d\n" % len(e6) + "\n".join(hexdata[i:i + 72] for i in range(0, len(hexdata), 72)) + "\n"
    z = b"Raw profile type exif\0\0" + zlib.compress(raw_profile.encode())
    write(d, "raw_profile_exif.png", make_png(s, 8, 2, before=[chunk(b"zTXt", z)]))
    xmp = '<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>'
    it = b"XML:com.adobe.xmp\0\0\0\0\0" + xmp.encode()
    write(d, "xmp_orientation.png", make_png(s, 8, 2, before=[chunk(b"iTXt", it)]))
    xmp2 = "<x:xmpmeta><tiff:Orientation>5</tiff:Orientation></x:xmpmeta>"
    it2 = b"XML:com.adobe.xmp\0\1\0\0\0" + zlib.compress(xmp2.encode())
    write(d, "xmp_orientation_compressed.png", make_png(s, 8, 2, after=[chunk(b"iTXt", it2)]))
    # EXIF orientation wins over XMP
    write(d, "exif_and_xmp.png", make_png(s, 8, 2, before=[chunk(b"eXIf", e6[6:]), chunk(b"iTXt", it)]))
    files += ["exif_after_idat.png", "exif_before_idat.png", "raw_profile_exif.png",
              "xmp_orientation.png", "xmp_orientation_compressed.png", "exif_and_xmp.png"]
    return files


def gen_bad_input(d, rng):
    """Files Pillow (and binscan) must refuse. Name prefixes tell the C++ test the error kind."""
    img = Image.fromarray(test_pattern(rng, 64, 48))
    files = {}
    b = io.BytesIO()
    img.save(b, "JPEG", quality=90)
    jpeg = b.getvalue()
    b = io.BytesIO()
    img.save(b, "JPEG", quality=90, progressive=True)
    pjpeg = b.getvalue()
    b = io.BytesIO()
    img.save(b, "PNG")
    png = b.getvalue()
    b = io.BytesIO()
    img.save(b, "WEBP", quality=80)
    webp = b.getvalue()
    files["format_empty.jpg"] = b""
    files["format_random.jpg"] = rng.integers(0, 256, size=4096, dtype=np.int64).astype(np.uint8).tobytes()
    files["format_text.jpg"] = b"This is not a photo, just some text named like one.\n" * 20
    files["format_truncated_half.jpg"] = jpeg[: len(jpeg) // 2]
    files["format_truncated_progressive.jpg"] = pjpeg[: len(pjpeg) * 2 // 3]
    files["format_truncated_header.jpg"] = jpeg[:100]
    files["format_truncated_half.png"] = png[: len(png) // 2]
    files["format_truncated_header.png"] = png[:20]
    files["format_truncated_half.webp"] = webp[: len(webp) // 2]
    files["format_jpeg_garbage.jpg"] = b"\xff\xd8\xff" + rng.integers(0, 256, size=2000, dtype=np.int64).astype(np.uint8).tobytes()
    files["format_png_bad_crc.png"] = png[:30] + bytes([png[30] ^ 0xFF]) + png[31:]
    # decompression bombs: headers claiming far more pixels than the limit
    bomb_png = make_png(np.zeros((1, 1, 1), dtype=np.int64), 8, 0)
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
    files["toolarge_100000x100000.png"] = bomb_png[:8] + chunk(b"IHDR", ihdr) + bomb_png[33:]
    sof = jpeg.find(b"\xff\xc0")
    files["toolarge_60000x60000.jpg"] = jpeg[: sof + 5] + struct.pack(">HH", 60000, 60000) + jpeg[sof + 9:]
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (16383 - 1).to_bytes(3, "little") * 2
    files["toolarge_16383x16383.webp"] = b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x
    files["unsupported.gif"] = b"GIF89a" + b"\0" * 64
    for name, data in files.items():
        write(d, name, data)
    return list(files)


GROUPS = {
    "bad_input": gen_bad_input,
    "png": gen_png,
    "jpeg": gen_jpeg,
    "orientation": gen_orientation,
    "sizes": gen_sizes,
    "webp": gen_webp,
    "exif_malformed": gen_exif_malformed,
    "png_metadata": gen_png_metadata,
}


def main():
    warnings.simplefilter("ignore")  # Pillow's UserWarnings on broken files are expected here
    cmd, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    if cmd == "decode":
        decode(out_dir, sys.argv[3:])
    elif cmd == "metadata":
        decode(out_dir, sys.argv[3:], pixels=False)
    elif cmd == "generate":
        group = sys.argv[3]
        rng = np.random.default_rng(sum(map(ord, group)))
        files = GROUPS[group](out_dir, rng)
        decode(os.path.join(out_dir, "ref"), [os.path.join(out_dir, f) for f in files])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
