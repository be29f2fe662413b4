"""The person on the other device: approves (or denies) an RFC 8628 user code on the test
server's verification page, in real headless Chromium or with plain requests.

    python device_approver.py [--chromium] [--deny] VERIFICATION_URL USER_CODE

The device flow never starts a browser itself (integray-auth prints the URL and the code on
stderr), so the tests read those from the command's stderr and run this, as a user would
open the page on their phone. Exit 0 when the server shows the grant as decided, with one
JSON line on stdout: {"ok": true, "final_url": ..., "status_text": ...}.

django-oauth-toolkit's pages: login (#id_username, #id_password, #login-submit), then
/device/ with the user_code field (pre-filled from ?user_code=) and a "Verify" button,
then /device-confirm/... with buttons action=accept / action=deny.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.parse

DEFAULT_USER, DEFAULT_PASSWORD = "alice", "alice-pw"


def approve_with_requests(url: str, user_code: str, approve: bool = True, user: str = DEFAULT_USER,
                          password: str = DEFAULT_PASSWORD, timeout: float = 30.0) -> dict:
    import requests

    session = requests.Session()
    parts = urllib.parse.urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    device_path = parts.path or "/device/"
    login = f"{base}/accounts/login/?next={urllib.parse.quote(device_path)}"
    page = session.get(login, timeout=timeout)
    page = session.post(login, data={"csrfmiddlewaretoken": _csrf(page.text), "username": user,
                                     "password": password, "next": device_path}, timeout=timeout)
    if "id_user_code" not in page.text:
        raise RuntimeError(f"login as {user!r} failed or no code form at {page.url}")
    page = session.post(f"{base}{device_path}", data={"csrfmiddlewaretoken": _csrf(page.text), "user_code": user_code},
                        timeout=timeout)
    if "device-confirm" not in page.url:
        raise RuntimeError(f"the server did not take the code {user_code!r}: {page.url}")
    page = session.post(page.url, data={"csrfmiddlewaretoken": _csrf(page.text),
                                        "action": "accept" if approve else "deny"}, timeout=timeout)
    page.raise_for_status()
    return {"ok": True, "final_url": page.url, "status_text": re.sub(r"<[^>]+>|\s+", " ", page.text)[:500]}


def approve_with_chromium(url: str, user_code: str, approve: bool = True, user: str = DEFAULT_USER,
                          password: str = DEFAULT_PASSWORD, timeout: float = 60.0) -> dict:
    import shutil
    import tempfile

    from chromium_browser import start_chromium
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    profile = tempfile.mkdtemp(prefix="oauth-test-device-")
    try:
        driver = start_chromium(profile)
        try:
            wait = WebDriverWait(driver, timeout)
            driver.get(url)
            wait.until(lambda d: d.find_elements(By.ID, "id_username") or d.find_elements(By.ID, "id_user_code"))
            if driver.find_elements(By.ID, "id_username"):
                driver.find_element(By.ID, "id_username").send_keys(user)
                driver.find_element(By.ID, "id_password").send_keys(password)
                driver.find_element(By.ID, "login-submit").click()
                wait.until(lambda d: d.find_elements(By.ID, "id_user_code") or d.find_elements(By.ID, "login-error"))
                if driver.find_elements(By.ID, "login-error"):
                    raise RuntimeError(f"login as {user!r} failed")
            field = driver.find_element(By.ID, "id_user_code")
            if field.get_attribute("value") != user_code:
                field.clear()
                field.send_keys(user_code)
            driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            button = f"button[name=action][value={'accept' if approve else 'deny'}]"
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, button))
            driver.find_element(By.CSS_SELECTOR, button).click()
            wait.until(lambda d: "device-grant-status" in d.current_url)
            return {"ok": True, "final_url": driver.current_url,
                    "status_text": driver.find_element(By.TAG_NAME, "body").text[:500]}
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    approve = "--deny" not in argv
    run = approve_with_chromium if "--chromium" in argv else approve_with_requests
    try:
        result = run(args[0], args[1], approve=approve)
    except Exception as exc:  # the test reads the JSON line and asserts on it
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
