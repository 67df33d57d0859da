#!/usr/bin/python3
"""Independent check of `binscan locate`'s outputs against the photos themselves (Pillow's EXIF)
and geometry written here from the textbook formulas, for tests/cli/locate_e2e_test.cpp.

  locate_check.py GEOJSON CSV DISTANCE_M DECLINATION_DEG PHOTO_COUNT [DOM_FILE]

Checks that every photo is one sighting whose line starts at its EXIF GPS position, whose true
bearing is the EXIF GPSImgDirection (plus the declination when the reference is magnetic) and
whose field of view follows from its EXIF 35 mm focal length and displayed size; that
each bin is where its method says (projected: the mean of points DISTANCE_M ahead; triangulated:
the least-squares crossing of the viewing rays; camera: the cameras' mean); that the CSV has the
same bins; and, given the DOM dumped by headless Chromium, that the map's script ran to the end
and drew every bin. Prints "ok N" (N bins) or exits 1 with the first difference.
"""

import csv
import json
import math
import sys

import numpy as np
from PIL import Image

R = 6371008.8
DEFAULT_FOV = 60.0  # binscan locate's --fov default, for photos without a 35 mm focal length


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def exif(path):
    with Image.open(path) as im:
        tags = im.getexif()
        gps = tags.get_ifd(0x8825)
        focal = tags.get_ifd(0x8769).get(0xA405)  # FocalLengthIn35mmFilm
        w, h = im.size
        if tags.get(0x0112, 1) in (5, 6, 7, 8):  # shown rotated a quarter turn
            w, h = h, w
    fov = None
    if focal:
        across = math.hypot(36, 24) * w / math.hypot(w, h)  # the 35 mm frame, the photo's aspect
        fov = math.degrees(2 * math.atan(across / (2 * float(focal))))

    def deg(v, ref):
        d = float(v[0]) + float(v[1]) / 60 + float(v[2]) / 3600
        return -d if ref in ("S", "W") else d

    lat = deg(gps[2], gps.get(1, "N")) if 2 in gps else None
    lon = deg(gps[4], gps.get(3, "E")) if 4 in gps else None
    bearing = float(gps[17]) if 17 in gps else None
    return lat, lon, bearing, gps.get(16), fov


def ahead(lat, lon, bearing, d):
    """The spherical direct problem."""
    p1, l1, t, dd = math.radians(lat), math.radians(lon), math.radians(bearing), d / R
    p2 = math.asin(math.sin(p1) * math.cos(dd) + math.cos(p1) * math.sin(dd) * math.cos(t))
    l2 = l1 + math.atan2(math.sin(t) * math.sin(dd) * math.cos(p1),
                         math.cos(dd) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


def metres(a, b):
    """Haversine distance between (lat, lon) pairs."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    return 2 * R * math.asin(math.sqrt(h))


def crossing(rays):
    """Least-squares point nearest to the rays [(lat, lon, bearing)], in a plane about the first."""
    lat0, lon0 = rays[0][0], rays[0][1]
    k = math.radians(1) * R
    A, b = np.zeros((2, 2)), np.zeros(2)
    for lat, lon, bearing in rays:
        p = np.array([(lon - lon0) * k * math.cos(math.radians(lat0)), (lat - lat0) * k])
        d = np.array([math.sin(math.radians(bearing)), math.cos(math.radians(bearing))])
        M = np.eye(2) - np.outer(d, d)
        A += M
        b += M @ p
    x = np.linalg.solve(A, b)
    return lat0 + x[1] / k, lon0 + x[0] / (k * math.cos(math.radians(lat0)))


def main():
    geo_path, csv_path, distance, declination, photo_count = sys.argv[1:6]
    distance, declination, photo_count = float(distance), float(declination), int(photo_count)
    geo = json.load(open(geo_path))
    bins = {f["properties"]["id"]: f for f in geo["features"] if f["properties"]["kind"] == "bin"}
    sightings = [f for f in geo["features"] if f["properties"]["kind"] == "sighting"]
    if len(sightings) != photo_count:
        fail("%d sightings, expected %d" % (len(sightings), photo_count))
    if len({s["properties"]["path"] for s in sightings}) != photo_count:
        fail("a photo is sighted twice")
    by_bin = {}
    for s in sightings:
        p = s["properties"]
        lat, lon, bearing, ref, fov = exif(p["path"])
        if abs(p["fov_deg"] - (fov if fov is not None else DEFAULT_FOV)) > 1e-9:
            fail("%s: field of view %r, EXIF gives %r" % (p["path"], p["fov_deg"], fov))
        start, end = s["geometry"]["coordinates"]
        if abs(start[0] - lon) > 1e-9 or abs(start[1] - lat) > 1e-9:
            fail("%s: sighting starts at %r, EXIF GPS is (%r, %r)" % (p["path"], start, lat, lon))
        true = (bearing + (declination if ref == "M" else 0)) % 360
        if abs(p["bearing_true"] - true) > 1e-9:
            fail("%s: true bearing %r, EXIF gives %r (%s)" % (p["path"], p["bearing_true"], true, ref))
        b = bins[p["bin"]]
        if end != b["geometry"]["coordinates"]:
            fail("%s: sighting ends at %r, not at bin %d" % (p["path"], end, p["bin"]))
        by_bin.setdefault(p["bin"], []).append((lat, lon, true))
    for bid, f in bins.items():
        lon, lat = f["geometry"]["coordinates"]
        rays = by_bin.get(bid, [])
        if f["properties"]["photos"] != len(rays):
            fail("bin %d: %d photos, %d sightings" % (bid, f["properties"]["photos"], len(rays)))
        method = f["properties"]["method"]
        if method == "projected":
            pts = [ahead(la, lo, br, distance) for la, lo, br in rays]
            want = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
        elif method == "triangulated":
            want = crossing(rays)
        else:
            want = (sum(r[0] for r in rays) / len(rays), sum(r[1] for r in rays) / len(rays))
        if metres((lat, lon), want) > 0.01:
            fail("bin %d (%s) at %r, expected %r (%.3f m away)" % (bid, method, (lat, lon), want,
                                                                   metres((lat, lon), want)))
    rows = list(csv.DictReader(open(csv_path, newline="")))
    if len(rows) != len(bins):
        fail("CSV has %d bins, GeoJSON %d" % (len(rows), len(bins)))
    for r in rows:
        lon, lat = bins[int(r["id"])]["geometry"]["coordinates"]
        if float(r["lat"]) != lat or float(r["lon"]) != lon or r["method"] != bins[int(r["id"])]["properties"]["method"]:
            fail("CSV bin %s differs from the GeoJSON" % r["id"])
    if len(sys.argv) > 6:
        dom = open(sys.argv[6]).read()
        if 'data-ready="1"' not in dom:
            fail("the map's script did not finish")
        if 'data-rendered-bins="%d"' % len(bins) not in dom:
            fail("the map does not draw %d bins" % len(bins))
        if '<div id="errors"></div>' not in dom:
            fail("the map reports a script error")
    print("ok %d" % len(bins))


if __name__ == "__main__":
    main()
