#!/usr/bin/env bash
# Seeds for fuzz_exif (see fuzz/CMakeLists.txt): small generated files, never committed.
exec /usr/bin/python3 "$(dirname "$0")/image_seeds.py" exif "$1"
