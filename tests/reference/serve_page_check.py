#!/usr/bin/python3
"""Drives the page of `binscan serve` in headless Chromium (Debian's chromium + chromium-driver,
through python3-selenium), as a person would: reaches the file picker with the keyboard, picks
photos, waits for every result, and reads what the page shows.

  serve_page_check.py URL [--token TOKEN] [--screenshot PNG] [--label TEXT]... [--template T]
                     PHOTO...
(--screenshot PNG: the page at a phone's width; PNG with -wide before the extension: at 1280 px;
--label: typed, one per line, into the candidate-labels box for the CLIP models, which must be
shown; --template: typed into the template box)

Checks (exit 1 with the first failure on stderr):
  - the file picker is reachable with Tab, and the token field is there when the server wants one;
  - every photo ends "done" (except those named undecodable*, which must show the server's
    message that they are not images), every model shows its top-k as meters with values, a verdict, and
    the picture the model sees; every image has alt text; the status line says they are done;
  - no error in the browser console;
  - at a phone's width (390 px) nothing is wider than the screen.
Prints one JSON object: {photo file name: {model: {"predictions": [{"label", "score"}], "verdict":
text, "view": bool, "bins": [the labels marked as bin labels]}}}, the scores as the page holds
them (data-score).
"""

import argparse
import json
import os
import sys
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

import headless_chromium


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("photos", nargs="+")
    ap.add_argument("--token")
    ap.add_argument("--screenshot")
    ap.add_argument("--label", action="append", default=[])
    ap.add_argument("--template")
    args = ap.parse_args()

    driver = headless_chromium.start()
    try:
        driver.get(args.url)
        if not args.token and driver.find_element(By.ID, "token").is_displayed():
            fail("the page asks for a token the server does not want")
        if args.token:
            token = driver.find_element(By.ID, "token")
            if not token.is_displayed():
                fail("the server wants a token but the page shows no token field")
            token.send_keys(args.token)
            token.send_keys(Keys.TAB)
        if args.label or args.template:
            # A person's way: the box is shown for a CLIP model; select what is there, type over.
            for box, text in (("labels", "\n".join(args.label)), ("template", args.template)):
                if text is None:
                    continue
                field = driver.find_element(By.ID, box)
                if not field.is_displayed():
                    fail(f"the {box} box is not shown (no CLIP model served?)")
                field.click()
                field.send_keys(Keys.CONTROL, "a")
                field.send_keys(Keys.DELETE)
                field.send_keys(text)
                if field.get_property("value") != text:
                    fail(f"the {box} box holds {field.get_property('value')!r}, typed {text!r}")
        # Keyboard: Tab from the top of the page reaches the file picker.
        driver.find_element(By.TAG_NAME, "body").click()
        driver.execute_script("document.activeElement.blur()")
        reached = False
        for _ in range(12):
            driver.switch_to.active_element.send_keys(Keys.TAB)
            if driver.execute_script("return document.activeElement.id") == "files":
                reached = True
                break
        if not reached:
            fail("the file picker cannot be reached with the Tab key")

        # ChromeDriver takes canonical paths only.
        driver.find_element(By.ID, "files").send_keys(
            "\n".join(os.path.realpath(p) for p in args.photos))
        deadline = time.time() + 300
        while True:
            states = driver.execute_script(
                "return [...document.querySelectorAll('article.photo')].map(a => a.dataset.state)")
            if len(states) == len(args.photos) and all(s != "working" for s in states):
                break
            if time.time() > deadline:
                fail(f"results did not arrive: {states}")
            time.sleep(0.2)

        shown = driver.execute_script("""
          const out = {};
          for (const a of document.querySelectorAll('article.photo')) {
            const models = {};
            for (const s of a.querySelectorAll('section.model')) {
              models[s.dataset.model] = {
                predictions: [...s.querySelectorAll('ol.top li')].map(li => ({
                  label: li.querySelector('.label').textContent,
                  score: li.dataset.score,
                  meter: li.querySelector('[role=meter]')?.getAttribute('aria-valuenow') ?? null,
                  bin: li.classList.contains('bin')})),
                verdict: s.querySelector('.verdict')?.textContent ?? null,
                view: !!s.querySelector('.view img[src^="data:image/png"]'),
                error: s.querySelector('.error')?.textContent ?? null,
              };
            }
            out[a.dataset.name] = {state: a.dataset.state, models,
                                   caption: a.querySelector('figcaption').textContent};
          }
          return out;""")
        result = {}
        for name, photo in shown.items():
            if name.startswith("undecodable"):
                # A file that is not an image: a clear message where its results would be.
                if photo["state"] != "error" or "not a JPEG, PNG or WebP" not in photo["caption"]:
                    fail(f"{name}: expected a clear error, got {photo['state']}: {photo['caption']!r}")
                result[name] = {"error": photo["caption"]}
                continue
            if photo["state"] != "done":
                fail(f"{name}: {photo['state']}: {photo['caption']}")
            if not photo["models"]:
                fail(f"{name}: no model results shown")
            result[name] = {}
            for model, m in photo["models"].items():
                if m["error"]:
                    fail(f"{name}: {model}: {m['error']}")
                if not m["predictions"] or any(p["meter"] is None for p in m["predictions"]):
                    fail(f"{name}: {model}: top labels missing or without meter values")
                if not m["verdict"]:
                    fail(f"{name}: {model}: no verdict")
                if not m["view"]:
                    fail(f"{name}: {model}: the model's view of the photo is missing")
                result[name][model] = {
                    "predictions": [{"label": p["label"], "score": float(p["score"])}
                                    for p in m["predictions"]],
                    "verdict": m["verdict"], "view": m["view"],
                    "bins": [p["label"] for p in m["predictions"] if p["bin"]]}
        missing_alt = driver.execute_script(
            "return [...document.images].filter(i => !i.alt).length")
        if missing_alt:
            fail(f"{missing_alt} images without alt text")
        status = driver.find_element(By.ID, "status").text
        if "photos classified" not in status and "photo classified" not in status:
            fail(f"status line says {status!r}")

        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if any(os.path.basename(p).startswith("undecodable") for p in args.photos):
            # Chromium logs the 400 for a file that is not an image; the page shows it as text.
            errors = [e for e in errors
                      if "/binscan/analyze" not in e["message"] or "status of 400" not in e["message"]]
        if errors:
            fail("console errors: " + "; ".join(e["message"] for e in errors))

        if args.screenshot:
            root, ext = os.path.splitext(args.screenshot)
            driver.save_screenshot(root + "-wide" + ext)
        driver.set_window_size(390, 844)
        time.sleep(0.3)
        wide = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        if wide > 1:
            fail(f"at 390 px the page is {wide} px wider than the screen")
        if args.screenshot:
            driver.save_screenshot(args.screenshot)
        print(json.dumps(result))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
