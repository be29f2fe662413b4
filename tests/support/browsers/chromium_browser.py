"""A BROWSER for tests that drives Debian's real headless Chromium through selenium.

    BROWSER=<shim that runs this> integray-auth add ...      or      python chromium_browser.py URL

Same contract as http_browser.py (settings and result file: browser_common.py). It fills
#id_username / #id_password, clicks #login-submit, waits for the consent page, clicks
Authorize (or Cancel) and waits until Chromium is on the callback page, whose text becomes
callback_body.

OAUTH_TEST_PRELUDE and OAUTH_TEST_NO_CALLBACK are not supported (the result says so): they
need the callback held back, and Chromium cannot do that under WebDriver. Network.setBlockedURLs
does not block a top-level navigation, and a navigation paused with Fetch.enable blocks every
later WebDriver command. Use http_browser for those tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import urllib.parse

from browser_common import (
    Result,
    Settings,
    detach_unless_worker,
    redirect_uri_in,
    run_worker,
    same_endpoint,
)

if __name__ == "__main__":
    # webbrowser waits for this launcher: detach the worker before importing selenium.
    detach_unless_worker(__file__)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"
# The real binary: Debian's /usr/bin/chromium wrapper script prints shell noise on start.
CHROMIUM = (
    "/usr/lib/chromium/chromium" if os.path.exists("/usr/lib/chromium/chromium") else "/usr/bin/chromium"
)
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--password-store=basic",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
]


def start_chromium(profile: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # The performance log carries Network.responseReceived: the only way to learn the
    # HTTP status of the callback page, which WebDriver does not expose.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # An explicit chromedriver: without it selenium runs Selenium Manager, which goes online.
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def response_status(driver: webdriver.Chrome, url: str) -> int | None:
    """The status of the last response Chromium received for url (None if none seen)."""
    status = None
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived":
            response = message["params"]["response"]
            if response["url"] == url:
                status = response["status"]
    return status


# DOT's consent template shows a refused request as <h2>Error: ...</h2>, without redirecting.
ERROR_HEADING = "//h2[starts-with(normalize-space(.), 'Error:')]"


def drive(driver: webdriver.Chrome, settings: Settings, result: Result) -> None:
    wait = WebDriverWait(driver, settings.timeout)
    driver.get(settings.url)
    redirect_uri = redirect_uri_in(driver.current_url)
    if redirect_uri is None and "/interaction/" in driver.current_url:
        # oidc-provider moved on to its own login page at once: the callback is the
        # listener's (the one-time URL's origin), at integray-auth's redirect path.
        parts = urllib.parse.urlsplit(settings.url)
        redirect_uri = f"{parts.scheme}://{parts.netloc}/callback"
    if redirect_uri is None:
        raise RuntimeError(f"no authorization request behind {settings.url} (landed on {driver.current_url})")

    def on_callback() -> bool:
        return same_endpoint(driver.current_url, redirect_uri)

    def wait_for(selector: str) -> bool:
        """Wait for an element, or for the callback (the server may redirect an error there
        straight away); True when on the callback."""
        wait.until(
            lambda d: on_callback()
            or d.find_elements(By.CSS_SELECTOR, selector)
            or d.find_elements(By.XPATH, ERROR_HEADING)
        )
        if not on_callback() and driver.find_elements(By.XPATH, ERROR_HEADING):
            raise RuntimeError(f"the server refused: {page_text(driver)}")
        return on_callback()

    if not wait_for("#id_username, #authorizationForm, input[name=login]") and driver.find_elements(By.NAME, "login"):
        # panva's oidc-provider's own login and consent pages (its devInteractions feature).
        drive_oidc_provider(driver, settings, on_callback, wait_for)
    elif not on_callback() and driver.find_elements(By.ID, "id_username"):
        driver.find_element(By.ID, "id_username").send_keys(settings.user)
        driver.find_element(By.ID, "id_password").send_keys(settings.password)
        driver.find_element(By.ID, "login-submit").click()
        if not wait_for("#authorizationForm, #login-error") and driver.find_elements(By.ID, "login-error"):
            raise RuntimeError(f"login as {settings.user!r} failed")

    if not on_callback() and driver.find_elements(By.ID, "authorizationForm"):
        if settings.screenshot:
            driver.save_screenshot(settings.screenshot)
        form = driver.find_element(By.ID, "authorizationForm")
        if settings.grant_scopes:
            scope = form.find_element(By.NAME, "scope")
            driver.execute_script("arguments[0].value = arguments[1];", scope, settings.grant_scopes)
        button = "input[name=allow]" if settings.approve else "input[type=submit]:not([name])"
        form.find_element(By.CSS_SELECTOR, button).click()
        wait.until(EC.staleness_of(form))

    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    if not on_callback():
        raise RuntimeError(f"ended on {driver.current_url}, not the callback: {page_text(driver)}")
    result.callback_url = driver.current_url
    result.callback_status = response_status(driver, result.callback_url)
    result.callback_body = page_text(driver)


def drive_oidc_provider(driver: webdriver.Chrome, settings: Settings, on_callback, wait_for) -> None:
    """Sign in (any login) and press Continue on each consent page until the callback."""
    login = driver.find_element(By.NAME, "login")
    login.send_keys(settings.user)
    driver.find_element(By.NAME, "password").send_keys(settings.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, settings.timeout).until(EC.staleness_of(login))
    for _ in range(3):  # a consent page or two (scopes, resource), at most
        if wait_for("input[name=prompt][value=consent]"):
            return
        prompt = driver.find_element(By.CSS_SELECTOR, "input[name=prompt][value=consent]")
        if settings.approve:
            prompt.find_element(By.XPATH, "./ancestor::form//button[@type='submit']").click()
        else:
            driver.find_element(By.CSS_SELECTOR, "a[href*='abort']").click()
        WebDriverWait(driver, settings.timeout).until(EC.staleness_of(prompt))


def page_text(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def run(settings: Settings) -> Result:
    result = Result()
    if settings.prelude or settings.no_callback:
        result.error = (
            "chromium_browser cannot hold the callback back: use http_browser for a prelude or no_callback"
        )
        return result
    profile = tempfile.mkdtemp(prefix="oauth-test-chromium-")
    try:
        driver = start_chromium(profile)
        try:
            drive(driver, settings, result)
        finally:
            driver.quit()
        result.ok = True
    except Exception as exc:  # reported in the result file, the only channel back to the test
        result.error = f"{type(exc).__name__}: {exc}".strip()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return result


if __name__ == "__main__":
    # A fixture ends a stuck worker with SIGTERM; unwinding runs the finally blocks above,
    # so Chromium is told to quit and its profile is removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run_worker(run)
