"""The operations console in headless Chromium, against a real `citybrain serve` and a real paced twin.

An engineer sees plans but no approve, push or roll-back control; an operator approves another
user's checked version, pushes it into the running twin, sees the light's status, timing and audit
line change, and rolls it back; a viewer sees the map and the audit, no action control, and a
request forged from the page's session with the viewer's token is refused by the API (403).
Screenshots go to ``$CITYBRAIN_TEST_ARTIFACTS/console/`` (default: the test's tmp folder).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from citybrain.app.service.auth import create_token
from citybrain.app.service.db import connect
from citybrain.network import graph_from_sumo_net
from citybrain.network.geometry import link_geometry
from citybrain.plans import plans_from_network
from citybrain.traffic_state import link_states, state_geojson

from .test_end_to_end import _free_port
from .test_service import NET, ROOT, Server
from ...simulation.test_live import DEMO, optimised  # noqa: F401 - the fixture is used by name

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip(f"headless Chromium needs {CHROMIUM} and {CHROMEDRIVER} (OS packages chromium, chromium-driver)",
                allow_module_level=True)
from selenium import webdriver  # noqa: E402 - the test extra's; only the OS packages may be missing
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException, StaleElementReferenceException, TimeoutException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.sumo

LIGHT = "J3"
#: Requests the tests provoke on purpose; Chromium logs each refused one as a network error.
EXPECTED_REFUSALS = ("/me - Failed to load resource: the server responded with a status of 401",
                     "/plans - Failed to load resource: the server responded with a status of 422",
                     "/plans/1/push - Failed to load resource: the server responded with a status of 502",
                     "/plans/1/push - Failed to load resource: the server responded with a status of 422",
                     "/plans/1/approve - Failed to load resource: the server responded with a status of 403",
                     "/lights/J3/rollback - Failed to load resource: the server responded with a status of 403")


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    base = os.environ.get("CITYBRAIN_TEST_ARTIFACTS")
    folder = Path(base) / "console" if base else tmp_path_factory.mktemp("console")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def stack(optimised, tmp_path_factory):  # noqa: F811
    """A paced twin, the service (with a traffic state) and plan 1: version 1 running, version 2 checked."""
    tmp = tmp_path_factory.mktemp("stack")
    port = _free_port()
    twin = subprocess.Popen([sys.executable, "-m", "citybrain.app.cli", "simulate", str(DEMO), "--seed", "0",
                             "--serve", str(port), "--realtime", "20"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    network = graph_from_sumo_net(NET)
    states = link_states(network, np.full(len(network.movements), 100.0), plans_from_network(network).periods[0].by_tls)
    state_file = tmp / "state.geojson"
    state_file.write_text(json.dumps(state_geojson(states, link_geometry(NET), at="2026-12-04T18:00:00Z")))
    db = f"sqlite:///{tmp / 'plans.db'}"
    engine = connect(db)
    tokens = {n: create_token(engine, n, r)[1] for n, r in
              [("vera", "viewer"), ("erin", "engineer"), ("olga", "operator"), ("oscar", "operator")]}
    engine.dispose()
    server = Server(db, tmp / "export", "--traffic-state", str(state_file)).start()
    clients = {n: httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {t}"}, timeout=30)
               for n, t in tokens.items()}
    target = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # the twin's endpoint comes up once SUMO has started
            try:
                httpx.get(target + "/status", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        eng = clients["erin"]
        pid = eng.post("/plans", json=optimised).json()["id"]
        assert eng.post(f"/plans/{pid}/check").json()["safe"]
        assert clients["oscar"].post(f"/plans/{pid}/approve").status_code == 200
        first = clients["oscar"].post(f"/plans/{pid}/push", json={"target": target})
        assert first.status_code == 200, first.text
        v2 = copy.deepcopy(optimised)
        for p in v2["periods"][0]["plans"]:
            if p["tls"] == LIGHT:
                for ph in p["phases"]:
                    if ph["green_s"] > 0:
                        ph["green_s"] += 2.0
                        p["cycle_s"] += 2.0
        assert eng.post(f"/plans/{pid}/versions", json=v2).json()["version"] == 2
        assert eng.post(f"/plans/{pid}/check").json()["status"] == "checked"
        yield {"url": server.url, "tokens": tokens, "target": target, "v1": optimised, "v2": v2, "api": clients,
               "twin": twin}
    finally:
        for c in clients.values():
            c.close()
        server.stop()
        twin.terminate()
        twin.wait(30)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    _viewport(driver, 1280, 800)
    yield driver
    driver.quit()


def _viewport(driver, width: int, height: int) -> None:
    """Make the page's viewport exactly ``width`` x ``height`` CSS pixels (the screenshots' size)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def _wait(driver, predicate, what: str, timeout_s: float = 30.0):
    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(lambda d: predicate(d))
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what}; the page says: {driver.find_element(By.TAG_NAME, 'body').text[:2000]}") from None


def _text(driver, css: str) -> str:
    """The shown text of the first element matching ``css`` ("" if none; blanks collapsed), read in one step."""
    return " ".join(driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css).split())


def _sign_in(driver, url: str, token: str, name: str, role: str) -> None:
    width, height = driver.execute_script("return [innerWidth, innerHeight]")
    old = driver.current_window_handle
    driver.switch_to.new_window("tab")  # a fresh tab: its own session storage, as a new user has
    driver.switch_to.window(old)
    driver.close()
    driver.switch_to.window(driver.window_handles[-1])
    _viewport(driver, width, height)
    driver.get(url + "/")
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    field.send_keys(Keys.ENTER)
    _wait(driver, lambda d: _text(d, "#who-role") == role, f"{name} signed in as {role}")
    assert _text(driver, "#who-name") == name
    assert token not in driver.current_url
    assert driver.execute_script("return sessionStorage.getItem('citybrain.token')") == token
    assert driver.execute_script("return localStorage.length") == 0
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"#map .light[data-tls='{LIGHT}']").get_attribute("data-status"),
          "the light markers coloured")


def _status(driver, tls: str = LIGHT) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"#map .light[data-tls='{tls}']").get_attribute("data-status") or ""


def _open_light_by_keyboard(driver, tls: str = LIGHT) -> None:
    driver.find_element(By.ID, "tab-map").click()
    marker = driver.find_element(By.CSS_SELECTOR, f"#map .light[data-tls='{tls}']")
    driver.execute_script("arguments[0].focus()", marker)
    assert driver.switch_to.active_element == marker
    webdriver.ActionChains(driver).send_keys(Keys.ENTER).perform()
    _wait(driver, lambda d: _text(d, "#panel h2").startswith(f"Light {tls}"), f"the panel of {tls}")


def _open_plan(driver, plan_id: int = 1, *, every: bool = False) -> None:
    driver.find_element(By.ID, "tab-plans").click()
    if every and not driver.find_element(By.ID, "plans-all").is_selected():
        driver.find_element(By.ID, "plans-all").click()

    def click(d) -> bool:
        try:
            d.find_element(By.CSS_SELECTOR, f"button[data-plan='{plan_id}']").click()
            return True
        except (NoSuchElementException, StaleElementReferenceException):  # the list is being redrawn
            return False

    _wait(driver, click, f"plan {plan_id} in the plans list")
    _wait(driver, lambda d: _text(d, "#plan-detail h2").startswith(f"Plan {plan_id}"), f"plan {plan_id}")


def _forged(driver, method: str, path: str) -> dict:
    """A request made from the page's session with its stored token, as a script on the page could make it."""
    return driver.execute_async_script("""
        const [method, path, done] = arguments;
        fetch(path, {method, headers: {Authorization: 'Bearer ' + sessionStorage.getItem('citybrain.token'),
                                       'Content-Type': 'application/json'}, body: '{}'})
          .then(async r => done({status: r.status, body: await r.json()}));""", method, path)


def _exported_csv(driver) -> str:
    """Press Export CSV and return the file the page hands to the browser (the blob behind its download link)."""
    driver.execute_script("""
        const make = URL.createObjectURL.bind(URL);
        window.exported = null;
        URL.createObjectURL = (blob) => { window.exported = blob; return make(blob); };""")
    driver.find_element(By.ID, "audit-csv").click()
    return driver.execute_async_script("""
        const done = arguments[0];
        const wait = () => (window.exported ? window.exported.text().then(done) : setTimeout(wait, 50));
        wait();""")


def _layout_fits(driver) -> None:
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= driver.execute_script("return window.innerWidth"), "the page scrolls sideways"
    unlabelled = driver.execute_script("""
        return [...document.querySelectorAll('input, select')].filter(e => e.offsetParent !== null)
          .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`)) && !e.closest('label')
                       && !e.getAttribute('aria-label')).map(e => e.id || e.outerHTML);""")
    assert unlabelled == [], f"inputs without a label: {unlabelled}"


def _phase_greens(driver) -> list[float]:
    return [float(x) for x in driver.execute_script(
        "return [...document.querySelectorAll('#panel .phase-table tbody tr')].map(r => r.cells[1].innerText);")]


def _greens(body: dict, tls: str = LIGHT) -> list[float]:
    return [round(ph["green_s"], 1) for p in body["periods"][0]["plans"] if p["tls"] == tls for ph in p["phases"]]


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and not any(ok in e["message"] for ok in EXPECTED_REFUSALS)]


def test_an_engineer_sees_plans_and_checks_but_no_approve_push_or_rollback(stack, browser, artefacts, tmp_path):
    browser.get(stack["url"] + "/")
    browser.find_element(By.ID, "token").send_keys("cb_not-a-token", Keys.ENTER)
    _wait(browser, lambda d: d.find_element(By.ID, "error").is_displayed(), "the 401 shown")
    assert _text(browser, "#error-text") == "HTTP 401: unknown or revoked token"
    assert browser.find_element(By.ID, "signin").is_displayed() and not browser.find_element(By.ID, "app").is_displayed()
    assert browser.execute_script("return sessionStorage.length") == 0

    _sign_in(browser, stack["url"], stack["tokens"]["erin"], "erin", "engineer")
    assert browser.execute_script("return [innerWidth, innerHeight]") == [1280, 800]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#map .light")) == 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "#map .link")) == len(graph_from_sumo_net(NET).edges)
    _wait(browser, lambda d: _status(d) == "pending-approval", "J3 pending approval (version 2 is checked)")
    _open_plan(browser)
    assert _text(browser, "#plan-status") == "checked"
    assert "Safe" in _text(browser, "#check-result")
    diff = _text(browser, "#plan-diff")
    g1, g2 = _greens(stack["v1"]), _greens(stack["v2"])
    assert "green_s" in diff and f"{g1[0]:g}" in diff and f"{g2[0]:g}" in diff, diff
    assert browser.find_elements(By.ID, "check-button")  # engineers may run the check
    for control in ("approve-button", "push-button", "push-target"):
        assert not browser.find_elements(By.ID, control), control
    assert browser.find_element(By.ID, "upload-form").is_displayed()
    _layout_fits(browser)
    browser.save_screenshot(str(artefacts / "1-engineer-plans-1280x800.png"))

    # an unsafe plan uploaded: the API's 422 with every violation, and nothing stored
    unsafe = copy.deepcopy(stack["v1"])
    for ph in unsafe["periods"][0]["plans"][0]["phases"]:
        ph["yellow_s"] = ph["all_red_s"] = 0.0
    (tmp_path / "unsafe.json").write_text(json.dumps(unsafe))
    browser.find_element(By.ID, "upload-file").send_keys(str(tmp_path / "unsafe.json"))
    browser.find_element(By.ID, "upload-button").click()
    _wait(browser, lambda d: _text(d, "#error-text").startswith("HTTP 422:"), "the unsafe plan refused")
    problems = browser.find_elements(By.CSS_SELECTOR, "#error-problems li")
    assert len(problems) >= 2 and "yellow" in _text(browser, "#error-problems")
    assert "HTTP 422" in _text(browser, "#upload-result")
    assert [p["id"] for p in stack["api"]["erin"].get("/plans").json()["plans"]] == [1]
    browser.save_screenshot(str(artefacts / "1b-engineer-unsafe-upload-1280x800.png"))

    _open_light_by_keyboard(browser)
    assert not browser.find_elements(By.ID, "rollback-button")
    refused = _forged(browser, "POST", "/plans/1/approve")
    assert refused["status"] == 403 and "operator" in refused["body"]["detail"]
    assert _severe(browser) == []


def test_an_operator_approves_pushes_sees_the_light_change_and_rolls_back(stack, browser, artefacts):
    _sign_in(browser, stack["url"], stack["tokens"]["olga"], "olga", "operator")
    _open_light_by_keyboard(browser)  # before: J3 runs version 1 and waits for version 2's approval
    _wait(browser, lambda d: _text(d, "#panel-active") == "plan 1 version 1", "J3 on version 1")
    assert _status(browser) == "pending-approval" and _phase_greens(browser) == _greens(stack["v1"])
    _open_plan(browser)
    browser.find_element(By.ID, "approve-button").click()
    _wait(browser, lambda d: _text(d, "#plan-status") == "approved", "version 2 approved")
    assert "approved by olga" in _text(browser, "#plan-result")

    # a target outside the export folder: the API's 422 is shown as it came
    target = browser.find_element(By.ID, "push-target")
    assert target.get_attribute("value") == stack["target"]  # the lights' target, offered
    target.clear()
    target.send_keys("file:///etc/plan.json")
    browser.find_element(By.ID, "push-button").click()
    _wait(browser, lambda d: d.find_element(By.ID, "error").is_displayed(), "the refusal shown")
    assert _text(browser, "#error-text").startswith("HTTP 422:"), _text(browser, "#error-text")
    assert "export" in _text(browser, "#error-problems") or "export" in _text(browser, "#error-text")

    target = browser.find_element(By.ID, "push-target")
    target.clear()
    target.send_keys(stack["target"])
    browser.find_element(By.ID, "push-button").click()
    _wait(browser, lambda d: "acknowledged" in _text(d, "#push-outcome"), "the push acknowledged")
    assert _text(browser, "#plan-status") == "active"
    browser.save_screenshot(str(artefacts / "2-operator-pushed-1280x800.png"))

    _open_light_by_keyboard(browser)
    _wait(browser, lambda d: _text(d, "#panel-active") == "plan 1 version 2", "J3 on version 2")
    assert _phase_greens(browser) == _greens(stack["v2"])
    assert _status(browser) == "active" and _text(browser, "#panel-status") == "active plan"
    _wait(browser, lambda d: "(the active plan)" in _text(d, "#panel-reported"), "the twin reporting version 2", 60)
    audit = _text(browser, "#panel-audit")
    assert "olga push acknowledged" in audit and "olga approve ok" in audit, audit
    cycle = next(p["cycle_s"] for p in stack["v2"]["periods"][0]["plans"] if p["tls"] == LIGHT)
    assert f"cycle {cycle:g} s" in _text(browser, "#panel .timing h3")
    browser.save_screenshot(str(artefacts / "3-operator-light-panel-1280x800.png"))

    browser.find_element(By.ID, "rollback-button").click()
    _wait(browser, lambda d: "rolled back" in _text(d, "#rollback-result") or _text(d, "#panel-active") == "plan 1 version 1",
          "the rollback")
    _wait(browser, lambda d: _text(d, "#panel-active") == "plan 1 version 1", "J3 back on version 1")
    assert _phase_greens(browser) == _greens(stack["v1"])
    _wait(browser, lambda d: "(the active plan)" in _text(d, "#panel-reported"), "the twin reporting version 1", 60)
    assert "olga rollback acknowledged" in _text(browser, "#panel-audit")
    assert stack["api"]["erin"].get(f"/lights/{LIGHT}").json()["active"]["version"] == 1

    # the audit view: filtered, and exported as CSV
    browser.find_element(By.ID, "tab-audit").click()
    browser.find_element(By.ID, "audit-user").send_keys("olga")
    Select(browser.find_element(By.ID, "audit-action")).select_by_visible_text("rollback")
    browser.find_element(By.ID, "audit-apply").click()
    _wait(browser, lambda d: _text(d, "#audit-count") == "2 line(s)", "olga's rollback lines (started, acknowledged)")
    rows = browser.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")
    assert all("olga" in r.text and "rollback" in r.text for r in rows)
    text = _exported_csv(browser)
    (artefacts / "audit-olga-rollback.csv").write_text(text)
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [(x["user"], x["action"], x["result"]) for x in lines] == [("olga", "rollback", "started"),
                                                                      ("olga", "rollback", "acknowledged")]
    assert all(x["lights"] == LIGHT and x["at"] and x["sha256"] for x in lines)
    # by light and time: nothing from the future, J3's lines up to now
    Select(browser.find_element(By.ID, "audit-action")).select_by_visible_text("any")
    browser.find_element(By.ID, "audit-user").clear()
    Select(browser.find_element(By.ID, "audit-light")).select_by_visible_text("J1")
    browser.execute_script("document.getElementById('audit-since').value = '2999-01-01T00:00:00'")
    browser.find_element(By.ID, "audit-apply").click()
    _wait(browser, lambda d: _text(d, "#audit-count") == "0 line(s)", "no line from the future")
    browser.execute_script("document.getElementById('audit-since').value = ''")
    browser.find_element(By.ID, "audit-apply").click()
    j1 = len(stack["api"]["erin"].get("/audit", params={"tls": "J1"}).json()["entries"])
    _wait(browser, lambda d: _text(d, "#audit-count") == f"{j1} line(s)", "J1's lines")
    assert "rollback" not in _text(browser, "#audit-table tbody")  # J3 alone was rolled back
    browser.save_screenshot(str(artefacts / "4-operator-audit-1280x800.png"))

    _open_plan(browser, every=True)
    browser.find_element(By.ID, "signout").click()  # nothing of olga's stays: no token, no control
    assert browser.execute_script("return sessionStorage.length") == 0
    assert browser.find_element(By.ID, "signin").is_displayed()
    for control in ("push-button", "rollback-button", "approve-button", "check-button"):
        assert not browser.find_elements(By.ID, control), control
    assert _severe(browser) == []


def test_a_viewer_sees_map_and_audit_no_action_and_a_forged_request_is_refused(stack, browser, artefacts):
    _viewport(browser, 1920, 1080)
    _sign_in(browser, stack["url"], stack["tokens"]["vera"], "vera", "viewer")
    browser.find_element(By.ID, "layer-traffic").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#map .link.lv-free, #map .link.lv-slow, "
                                             "#map .link.lv-congested, #map .link.lv-jammed"), "the traffic layer")
    assert "2026-12-04T18:00:00Z" in _text(browser, "#traffic-note")
    _open_light_by_keyboard(browser)
    _wait(browser, lambda d: _text(d, "#panel-active") == "plan 1 version 1", "the panel")
    assert browser.execute_script("return [innerWidth, innerHeight]") == [1920, 1080]
    _layout_fits(browser)
    browser.save_screenshot(str(artefacts / "5-viewer-map-1920x1080.png"))
    browser.execute_script("document.getElementById('tab-map').focus()")
    webdriver.ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()  # the tabs answer the arrow keys
    _wait(browser, lambda d: d.find_element(By.ID, "view-plans").is_displayed(), "the plans view by keyboard")
    assert browser.switch_to.active_element == browser.find_element(By.ID, "tab-plans")
    _open_plan(browser, every=True)  # plan 1 is active now: not a draft or pending
    browser.find_element(By.ID, "tab-audit").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr"), "the audit lines")
    browser.save_screenshot(str(artefacts / "6-viewer-audit-1920x1080.png"))
    controls = ("check-button", "approve-button", "push-button", "rollback-button", "upload-form")
    assert [c for c in controls if any(e.is_displayed() for e in browser.find_elements(By.ID, c))] == []
    # the CSV's cells: RFC 4180 quoting, and no cell a spreadsheet would run as a formula
    cells = browser.execute_script("return [csvCell('=HYPERLINK(\"x\")'), csvCell('a,\"b\"'), csvCell(['J1', 'J2']), csvCell(null)]")
    assert cells == ['"\'=HYPERLINK(""x"")"', '"a,""b"""', "J1 J2", ""]
    refused = _forged(browser, "POST", f"/lights/{LIGHT}/rollback")
    assert refused["status"] == 403 and "operator" in refused["body"]["detail"], refused
    assert stack["api"]["erin"].get(f"/lights/{LIGHT}").json()["active"]["version"] == 1
    assert _severe(browser) == []


def test_a_dead_twin_shows_out_of_contact_and_a_push_to_it_fails(stack, browser, artefacts):
    _viewport(browser, 1280, 800)
    _sign_in(browser, stack["url"], stack["tokens"]["oscar"], "oscar", "operator")
    stack["twin"].terminate()
    stack["twin"].wait(30)
    _wait(browser, lambda d: _status(d) == "out-of-contact", "J3 out of contact")
    _open_light_by_keyboard(browser)
    assert "out of contact" in _text(browser, "#panel-reported")
    _open_plan(browser, every=True)  # version 2 runs on J1, J2, J4, J5: push it to J3 again, into the dead twin
    Select(browser.find_element(By.ID, "version-select")).select_by_visible_text("version 2 (active)")
    _wait(browser, lambda d: d.find_elements(By.ID, "push-lights"), "the push form of version 2")
    browser.find_element(By.ID, "push-lights").send_keys(LIGHT)
    browser.find_element(By.ID, "push-button").click()
    _wait(browser, lambda d: _text(d, "#error-text").startswith("HTTP 502:"), "the failed push shown")
    browser.find_element(By.ID, "tab-map").click()
    _wait(browser, lambda d: _status(d) == "push-failed", "J3 push failed")
    assert stack["api"]["erin"].get(f"/lights/{LIGHT}").json()["active"]["version"] == 1  # the previous plan stays
    browser.save_screenshot(str(artefacts / "7-operator-twin-gone-1280x800.png"))
    assert _severe(browser) == []
