#!/usr/bin/python3
"""Opens the bins' map (`binscan locate --html`, or `binscan serve`'s /survey/map) in headless
Chromium through Selenium, with every host name resolving nowhere: the OpenStreetMap tiles are
refused, as on a machine offline, whatever this machine's network.

  map_page_check.py URL --bins N [--inside LAT,LON]... [--outside LAT,LON]... [--screenshot PNG]
(--screenshot PNG: the opening view; with -popup / -phone before the extension: the first bin's
popup, and the page at a phone's width)

Checks (exit 1 with the first failure on stderr):
  - the script ran (data-ready) and drew N bins, with no script error on the page and no console
    error other than the refused tiles;
  - the tiles were refused and the plain background shows (most of the map's pixels are it);
  - the view it opens on contains every --inside point and none of the --outside points, and
    "All photos" (when there are other areas) then shows them all;
  - every bin can be clicked (brought into view at street zoom, then a real mouse click) and opens
    its popup, listing its photos, with their sight lines drawn; Enter on a focused bin does too;
  - every layer of the layer control toggles: its things leave the map and come back;
  - at a phone's width the layer control is folded into its icon and the map fits the screen.
Prints "ok N".
"""

import argparse
import io
import os
import sys
import time

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

import headless_chromium

TILE_HOST = "tile.openstreetmap.org"
BACKGROUND = (251, 251, 248)  # #fbfbf8, the map's plain background


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def point(text):
    lat, lon = text.split(",")
    return [float(lat), float(lon)]


def wait(driver, script, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    fail("timed out waiting for " + what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--bins", type=int, required=True)
    ap.add_argument("--inside", type=point, action="append", default=[])
    ap.add_argument("--outside", type=point, action="append", default=[])
    ap.add_argument("--screenshot")
    args = ap.parse_args()

    # No host but this one resolves: the tiles are refused.
    driver = headless_chromium.start(
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1")
    try:
        driver.get(args.url)
        wait(driver, "return document.body.getAttribute('data-ready') === '1'", "the map's script")
        errors = driver.find_element(By.ID, "errors").text
        if errors:
            fail("the page shows: " + errors)
        drawn = int(driver.execute_script("return document.body.getAttribute('data-rendered-bins')"))
        if drawn != args.bins:
            fail(f"{drawn} bins drawn, expected {args.bins}")

        # Offline: the tiles fail, nothing of them shows, the plain background does.
        tiles = wait(driver, """const s = document.body.getAttribute('data-tiles');
                                return s === 'failed' || s === 'none' ? s : null;""",
                     "the tiles to be refused")
        if driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-tile-loaded"):
            fail("a tile loaded although every host is unreachable")
        if tiles == "failed" and not driver.find_element(By.CSS_SELECTOR, ".tilestate").text:
            fail("the map does not say that its base map is unavailable")
        area = driver.find_element(By.ID, "map")
        shot = Image.open(io.BytesIO(area.screenshot_as_png)).convert("RGB")
        pixels = list(shot.getdata())
        plain = sum(1 for p in pixels if max(abs(a - b) for a, b in zip(p, BACKGROUND)) <= 2)
        if plain < 0.5 * len(pixels):
            fail(f"only {plain} of {len(pixels)} map pixels are the plain background")

        # The view it opens on: the busy area, not everything.
        def in_view(p):
            return driver.execute_script(
                "return window.binscanMap.map.getBounds().contains(arguments[0])", p)

        for p in args.inside:
            if not in_view(p):
                fail(f"{p} is not in the opening view")
        for p in args.outside:
            if in_view(p):
                fail(f"{p} is in the opening view, which should show the main area only")
        zoom = driver.execute_script("return window.binscanMap.map.getZoom()")
        if args.outside:
            driver.find_element(By.CSS_SELECTOR, "button.fit-all").click()
            for p in args.inside + args.outside:
                if not in_view(p):
                    fail(f"{p} is not in view after 'All photos'")
            driver.find_element(By.CSS_SELECTOR, "button.fit-main").click()
            if driver.execute_script("return window.binscanMap.map.getZoom()") != zoom:
                fail("'Main area' does not return to the opening view")
        if args.screenshot:
            driver.save_screenshot(args.screenshot)

        # Every bin opens its popup on a click.
        ids = driver.execute_script("return Object.keys(window.binscanMap.bins)")
        if len(ids) != args.bins:
            fail(f"{len(ids)} bins in the map's data, expected {args.bins}")
        for bin_id in ids:
            driver.execute_script("""const m = window.binscanMap;
                m.map.closePopup();
                m.map.setView(m.bins[arguments[0]].marker.getLatLng(), 19, {animate: false});""",
                                  bin_id)
            marker = driver.find_element(By.CSS_SELECTOR, f'#map .binicon[data-bin="{bin_id}"]')
            marker.click()
            popup = wait(driver, f"""return document.querySelector(
                '.leaflet-popup-content .pop[data-bin="{bin_id}"]')""", f"bin {bin_id}'s popup")
            photos = len(popup.find_elements(By.CSS_SELECTOR, "li"))
            if photos == 0:
                fail(f"bin {bin_id}'s popup lists no photo")
            text = popup.get_attribute("textContent")  # .text is empty while it fades in
            if "bin score" not in text:
                fail(f"bin {bin_id}'s popup shows no score: {text!r}")
            rays = len(driver.find_elements(By.CSS_SELECTOR, "#map path.ray.focus"))
            if rays != photos:
                fail(f"bin {bin_id}: {photos} photos but {rays} sight lines drawn")
        # ... and on Enter, from the keyboard.
        if ids:
            driver.execute_script("window.binscanMap.map.closePopup()")
            driver.find_element(By.CSS_SELECTOR, "button.fit-main").click()
            marker = driver.find_element(By.CSS_SELECTOR, f'#map .binicon[data-bin="{ids[0]}"]')
            driver.execute_script("arguments[0].focus()", marker)
            driver.switch_to.active_element.send_keys(Keys.ENTER)
            wait(driver, f"""return document.querySelector(
                '.leaflet-popup-content .pop[data-bin="{ids[0]}"]')""", "the popup on Enter")
            if args.screenshot:  # the first bin's popup, its sight lines drawn
                root, ext = os.path.splitext(args.screenshot)
                time.sleep(0.4)  # the popup fades in
                driver.save_screenshot(root + "-popup" + ext)
            driver.execute_script("window.binscanMap.map.closePopup()")

        # Every layer toggles.
        driver.execute_script("window.binscanMap.map.fitBounds(window.binscanMap.map.getBounds())")
        count = """return document.querySelectorAll(
            '#map .leaflet-overlay-pane path, #map .leaflet-marker-pane > *, #map .leaflet-tile').length"""
        labels = driver.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays label")
        if len(labels) < 5:
            fail(f"the layer control has {len(labels)} layers")
        for label in labels:
            name = label.text.strip()
            box = label.find_element(By.TAG_NAME, "input")
            was_on = box.is_selected()
            before = driver.execute_script(count)
            box.click()
            after = driver.execute_script(count)
            box.click()
            again = driver.execute_script(count)
            if box.is_selected() != was_on:
                fail(f"layer {name!r} does not come back")
            if "base map" in name:
                continue  # its refused tiles are requested again: their number varies
            if again != before:
                fail(f"layer {name!r} does not come back ({before} things, then {again})")
            empty = driver.execute_script(
                """const l = window.binscanMap.overlays[arguments[0]];
                   return !l.getLayers || l.getLayers().length === 0""", name)
            if not empty and (after >= before if was_on else after <= before):
                fail(f"layer {name!r} does not toggle ({before} things, then {after})")

        # On a phone: the layer control folds into its icon, and the map fits the screen.
        driver.set_window_size(390, 844)
        driver.get(args.url)
        wait(driver, "return document.body.getAttribute('data-ready') === '1'", "the map on a phone")
        toggle = driver.find_element(By.CSS_SELECTOR, ".leaflet-control-layers-toggle")
        if driver.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-expanded"):
            fail("on a phone the layer control covers the map")
        if not toggle.is_displayed() or "data:image/svg" not in toggle.value_of_css_property(
                "background-image"):
            fail("on a phone the layer control has no visible icon")
        if driver.execute_script(
                "return document.getElementById('map').getBoundingClientRect().right") > 390:
            fail("on a phone the map is wider than the screen")
        if args.screenshot:
            root, ext = os.path.splitext(args.screenshot)
            driver.save_screenshot(root + "-phone" + ext)

        refused = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
                   and not (TILE_HOST in e["message"] and "ERR_NAME_NOT_RESOLVED" in e["message"])]
        if refused:
            fail("console errors: " + "; ".join(e["message"] for e in refused))
        print(f"ok {len(ids)}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
