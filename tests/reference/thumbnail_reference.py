#!/usr/bin/python3
"""Reference for image/thumbnail: the photo turned upright as Pillow does (ImageOps.exif_transpose),
shrunk to WIDTHxHEIGHT with a box filter, written as raw RGB bytes.

  thumbnail_reference.py PHOTO WIDTH HEIGHT OUT.rgb
"""
import sys

from PIL import Image, ImageOps

photo, w, h, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with Image.open(photo) as im:
    upright = ImageOps.exif_transpose(im).convert("RGB")
    print(upright.size[0], upright.size[1])
    upright.resize((w, h), Image.Resampling.BOX).save(out, format="PPM")
