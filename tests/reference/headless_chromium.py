"""Debian's chromium, headless, driven through its chromium-driver by Selenium, with the browser
console's messages kept (driver.get_log("browser")): for the Selenium checks of binscan's pages."""

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def start(*flags):
    """A 1280x1000 headless Chromium with `flags` added to its command line."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000") + flags:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
