#!/usr/bin/python3
"""Independent checks of binscan's survey outputs, straight from the SQLite file (Python's sqlite3)
and the photos (Pillow), for tests/cli/scan_*_test.cpp.

  survey_check.py counts DB MODEL_A MODEL_B
      prints JSON {"both", "only_a", "only_b", "neither", "incomplete", "failed", "photos",
      "found_a", "found_b"} from the stored verdicts (models given as model_id).
  survey_check.py report DB MODEL_A MODEL_B DOM_FILE
      checks that the report's DOM (as dumped by headless Chromium) shows those counts, ran its
      script to the end (data-ready) without errors, and renders every photo row.
  survey_check.py export DB CSV JSONL GEOJSON
      checks that the three exports parse and agree with the database row by row, and that every
      GeoJSON point is at the photo's EXIF GPS position as Pillow reads it ([lon, lat]).
Prints "ok" or exits 1 with the first difference.
"""

import csv
import json
import math
import re
import sqlite3
import sys

from PIL import Image

REQUIRED = "path,sha256,model,top1_label,top1_score,bin_score,bin_rank,verdict,lat,lon,bearing,taken_at".split(",")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def counts(db_path, a, b):
    db = sqlite3.connect(db_path)
    photos = db.execute("SELECT sha256, error FROM photos").fetchall()
    verdict = {}
    for sha, model, v in db.execute("SELECT sha256, model_id, verdict FROM results"):
        verdict[(sha, model)] = bool(v)
    c = dict(both=0, only_a=0, only_b=0, neither=0, incomplete=0, failed=0, photos=len(photos),
             found_a=0, found_b=0)
    for sha, error in photos:
        va, vb = verdict.get((sha, a)), verdict.get((sha, b))
        c["found_a"] += bool(va)
        c["found_b"] += bool(vb)
        if error is not None:
            c["failed"] += 1
        elif va is None or vb is None:
            c["incomplete"] += 1
        elif va and vb:
            c["both"] += 1
        elif va:
            c["only_a"] += 1
        elif vb:
            c["only_b"] += 1
        else:
            c["neither"] += 1
    return c


def check_report(db_path, a, b, dom_path):
    c = counts(db_path, a, b)
    dom = open(dom_path, encoding="utf-8").read()
    if 'data-ready="1"' not in dom:
        fail("the report's script did not run to the end")
    errors = re.search(r'<div id="errors">(.*?)</div>', dom, re.S)
    if errors is None or errors.group(1).strip():
        fail("script errors shown in the report: %r" % (errors.group(1) if errors else None))
    for key in ("both", "only_a", "only_b", "neither", "incomplete", "failed"):
        m = re.search(r'id="count-%s" data-count="(\d+)"' % key, dom)
        if not m or int(m.group(1)) != c[key]:
            fail("count %s: report %s, database %d" % (key, m.group(1) if m else None, c[key]))
        s = re.search(r'id="group-%s"[^>]*data-rows="(\d+)"[^>]*data-rendered-rows="(\d+)"' % key, dom)
        if not s or int(s.group(1)) != c[key] or int(s.group(2)) != c[key]:
            fail("group %s rows: %s, database %d" % (key, s.groups() if s else None, c[key]))
    m = re.search(r'data-rendered-photos="(\d+)"', dom)
    if not m or int(m.group(1)) != c["photos"]:
        fail("rendered photos %s, database %d" % (m.group(1) if m else None, c["photos"]))
    if dom.count("data:image/jpeg;base64,") < c["photos"] - c["failed"]:
        fail("missing thumbnails")


def exif_gps(path):
    """(lat, lon) from the EXIF GPS IFD as Pillow reads it, or None."""
    with Image.open(path) as im:
        gps = im.getexif().get_ifd(0x8825)
    if 2 not in gps or 4 not in gps:
        return None

    def deg(v, ref):
        d = float(v[0]) + float(v[1]) / 60 + float(v[2]) / 3600
        return -d if ref in ("S", "W") else d

    return deg(gps[2], gps.get(1, "N")), deg(gps[4], gps.get(3, "E"))


def num(text):
    return None if text == "" else float(text)


def check_export(db_path, csv_path, jsonl_path, geojson_path):
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    expected = {}
    for r in db.execute(
            "SELECT p.path, p.sha256, r.model_id, r.top1_label, r.top1_score, r.bin_score, r.bin_rank,"
            " r.verdict, p.lat, p.lon, p.bearing, p.taken_at, p.error FROM photos p"
            " LEFT JOIN results r ON r.sha256 = p.sha256"):
        expected[(r["sha256"], r["model_id"] or "")] = dict(r)
    rows = list(csv.DictReader(open(csv_path, newline="", encoding="utf-8")))
    lines = [json.loads(l) for l in open(jsonl_path, encoding="utf-8")]
    geo = json.load(open(geojson_path, encoding="utf-8"))
    if not rows or list(rows[0].keys())[: len(REQUIRED)] != REQUIRED:
        fail("CSV columns %s" % (list(rows[0].keys()) if rows else None))
    if len(rows) != len(expected) or len(lines) != len(expected):
        fail("rows: csv %d, jsonl %d, database %d" % (len(rows), len(lines), len(expected)))
    for r, l in zip(rows, lines):
        key = (r["sha256"], r["model"])
        e = expected.get(key)
        if e is None:
            fail("row %s not in the database" % (key,))
        if r["path"] != e["path"] or l["path"] != e["path"]:
            fail("path of %s" % (key,))
        if l["sha256"] != r["sha256"] or (l["model"] or "") != r["model"]:
            fail("csv and jsonl rows differ at %s" % (key,))
        for col in ("top1_score", "bin_score", "lat", "lon", "bearing"):
            if num(r[col]) != e[col] or l[col] != e[col]:
                fail("%s of %s: csv %r, jsonl %r, database %r" % (col, key, r[col], l[col], e[col]))
        rank = None if r["bin_rank"] == "" else int(r["bin_rank"])
        if rank != e["bin_rank"] or l["bin_rank"] != e["bin_rank"]:
            fail("bin_rank of %s" % (key,))
        if e["model_id"] is not None:
            if r["verdict"] != ("true" if e["verdict"] else "false") or l["verdict"] != bool(e["verdict"]):
                fail("verdict of %s" % (key,))
            if r["top1_label"] != e["top1_label"] or l["top1_label"] != e["top1_label"]:
                fail("top1_label of %s" % (key,))
        if (r["taken_at"] or None) != e["taken_at"] or l["taken_at"] != e["taken_at"]:
            fail("taken_at of %s" % (key,))
    # Positions against the photos themselves: GPS exactly when Pillow finds it in the EXIF.
    truth_of = {}
    for l in lines:
        if l["path"] not in truth_of:
            truth_of[l["path"]] = exif_gps(l["path"])
        truth = truth_of[l["path"]]
        if (truth is None) != (l["lat"] is None):
            fail("%s: GPS %r in the export, EXIF says %r" % (l["path"], (l["lat"], l["lon"]), truth))
    with_gps = [l for l in lines if l["lat"] is not None]
    if geo.get("type") != "FeatureCollection" or len(geo["features"]) != len(with_gps):
        fail("GeoJSON features %d, rows with GPS %d" % (len(geo.get("features", [])), len(with_gps)))
    checked = 0
    for f in geo["features"]:
        lon, lat = f["geometry"]["coordinates"]
        p = f["properties"]
        truth = exif_gps(p["path"])
        if truth is None:
            fail("%s has no EXIF GPS but is a feature" % p["path"])
        if abs(lat - truth[0]) > 1e-9 or abs(lon - truth[1]) > 1e-9:
            fail("%s at [%r, %r], EXIF says lat %r lon %r" % (p["path"], lon, lat, truth[0], truth[1]))
        checked += 1
    return checked


def main():
    cmd = sys.argv[1]
    if cmd == "counts":
        print(json.dumps(counts(*sys.argv[2:5])))
    elif cmd == "report":
        check_report(*sys.argv[2:6])
        print("ok")
    elif cmd == "export":
        n = check_export(*sys.argv[2:6])
        print("ok %d" % n)
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
