"""The portal on the real network: mirrors that follow their organisation's peer and hold
only what it may hold, and a person's journey in real headless Chromium.

Two portals run as their own processes (``gridledger portal run``), as in production:
the Utility's and the Aggregator's. The browser (Debian's chromium and chromium-driver,
driven by Selenium) signs an operator in, who issues a sign-up code; a customer signs up
with it, opens its prepaid account, sees its readings arrive while the test submits them,
gets a bill, pays by top-up and transfers; then the test edits the mirror's SQLite file
behind the portal's back, the operator sees the alert naming block, transaction and
customer, and repairs it from the ledger. Each mirror follows both channels (energy and
market): the Aggregator creates a VPP on the market channel and sees it in its portal and
explorer. Screenshots of the main pages are kept in ``tests/artifacts/portal/``
(git-ignored).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.errors import GatewayError
from gridledger.clients.metering import Metering
from gridledger.formats.reading import encode_reading, sign

from .customers import open_prepaid_account, register_customer

ARTEFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "portal"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PASSWORD = "operator password 1"
# An account of the tests' own: the demo (test_meter_bridge) provisions "operator" in the
# same portal data directories, with a generated password.
OPERATOR = "test-operator-" + uuid.uuid4().hex[:6]
PRIVATE_KINDS = {"meterinfo", "meterhead", "custmeter", "reading", "usage", "alarm", "bill",
                 "wcacct", "wccust", "wchist", "wcptd", "wcmint", "custbills"}


@dataclass
class Portal:
    org: str
    url: str
    data_dir: Path
    process: subprocess.Popen

    @property
    def sqlite(self) -> Path:
        return self.data_dir / "mirror.sqlite"

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.sqlite, timeout=30)

    def height(self, channel: str = "energy") -> int:
        """The highest block of ``channel`` in the mirror (-1: none yet)."""
        with self.db() as conn:
            (top,) = conn.execute("SELECT max(number) FROM blocks WHERE channel = ?",
                                  (channel,)).fetchone()
        return -1 if top is None else top

    def market_record(self, key: str) -> tuple[str, int] | None:
        """(channel, block) of a market record's state row, once mirrored."""
        with self.db() as conn:
            return conn.execute("SELECT channel, block_number FROM state WHERE key = ?",
                                (key,)).fetchone()


def _wait(what: str, check: Callable[[], object], timeout: float = 60.0,
          every: float = 0.5) -> object:
    end = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def _listening(url: str) -> bool:
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


@pytest.fixture(scope="module")
def node(consortium, tmp_path_factory):
    """The Utility's shared-data service node (issue 13's), a process of its own."""
    from .access_world import service_node

    store = tmp_path_factory.mktemp("portal-node") / "store"
    store.mkdir()
    with service_node(consortium, store) as n:
        yield n


@pytest.fixture(scope="module")
def portals(consortium, node) -> Iterator[dict[str, Portal]]:
    """The Utility's and the Aggregator's portals, each with an ``operator`` account; the
    Utility's knows the service node."""
    from gridledger.webui.portal.provision import config_for, ensure_operator
    from gridledger.webui.portal.services import build_services

    state = consortium.layout.root
    started: dict[str, Portal] = {}
    try:
        for org in ("utility", "aggregator"):
            config = config_for(state, org)
            services = build_services(config)
            try:
                assert ensure_operator(services, OPERATOR, PASSWORD)
            finally:
                services.mirror.close()
            url = f"http://{config.host}:{config.port}"
            assert not _listening(url), f"{url} is taken by another process (a demo portal?)"
            log = open(consortium.layout.log(f"test-portal-{org}"), "ab")  # noqa: SIM115
            extra = ["--service-node", node.url] if org == "utility" else []
            proc = subprocess.Popen(
                [sys.executable, "-m", "gridledger", "portal", "run", "--org", org,
                 "--state-dir", str(state), "--integrity-interval", "3600", *extra],
                stdout=log, stderr=subprocess.STDOUT)
            portal = Portal(org, url, config.data_dir, proc)
            started[org] = portal
            _wait(f"the {org} portal listens", lambda p=portal: _listening(p.url) or
                  p.process.poll() is not None, 60)
            assert proc.poll() is None, consortium.layout.log(f"test-portal-{org}").read_text()
        yield started
    finally:
        for portal in started.values():
            portal.process.terminate()
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        for org in started:  # the network's state goes at the end of the session: keep logs
            log = consortium.layout.log(f"test-portal-{org}")
            if log.exists():
                shutil.copy(log, ARTEFACTS / log.name)
        for portal in started.values():
            try:
                portal.process.wait(20)
            except subprocess.TimeoutExpired:
                portal.process.kill()
                portal.process.wait(5)


class Meter:
    """A meter of a new customer, with its own key, registered by the Utility's admin."""

    def __init__(self, utility, tariff_id: str) -> None:
        self.id = "WEB-" + uuid.uuid4().hex[:8]
        self.customer_id = "C-WEB-" + uuid.uuid4().hex[:6]
        self.key = ec.generate_private_key(ec.SECP256R1())
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.metering = Metering(utility.network("energy"))
        self.metering.register_meter({
            "meterId": self.id, "publicKeyPem": pem.decode(), "curve": "P-256",
            "customerId": self.customer_id, "tariffId": tariff_id,
            "deviceProfile": "EPM5500P", "location": "HCMC, District 1",
            "installDate": "2026-01-01"})
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        self.base = now - dt.timedelta(hours=3)
        self.seq = 0
        self.register = 0

    def submit(self, n: int, wh: int = 4000) -> None:
        batch = []
        for _ in range(n):
            self.seq += 1
            self.register += wh
            r = {"meterId": self.id, "seq": self.seq,
                 "intervalEnd": (self.base + dt.timedelta(minutes=5 * self.seq))
                 .strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "importWh": self.register, "exportWh": 0, "voltageDv": 2301,
                 "currentMa": 4800, "powerW": 1100}
            batch.append({"reading": r, "signature": sign(self.key, encode_reading(r))})
        out = self.metering.submit_readings(batch)
        assert out["accepted"] == n, out


@pytest.fixture(scope="module")
def meter(utility, tariff) -> Meter:
    return Meter(utility, tariff["tariffId"])


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Real headless Chromium (Debian's) through chromedriver, with a fresh profile."""
    # selenium is a test dependency (pyproject's [test]): missing, this fails loudly.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert os.path.exists(path), f"{path} is missing: `make test` installs Debian's " \
                                     "chromium and chromium-driver"
    profile = tempfile.mkdtemp(prefix="gridledger-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1100",
                 f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _shot(driver, name: str) -> None:
    driver.save_screenshot(str(ARTEFACTS / f"{name}.png"))


def _find(driver, css: str, by: str = "css selector"):
    """The element, or an AssertionError that keeps the page (source and screenshot)."""
    from selenium.common.exceptions import NoSuchElementException

    try:
        return driver.find_element(by, css)
    except NoSuchElementException:
        name = "failed-" + uuid.uuid4().hex[:6]
        _shot(driver, name)
        (ARTEFACTS / f"{name}.html").write_text(driver.page_source)
        raise AssertionError(f"no {css!r} on {driver.current_url}; page kept as "
                             f"{ARTEFACTS / name}.html") from None


def _by():
    from selenium.webdriver.common.by import By

    return By


def _submit(driver, css: str) -> None:
    """Click a form's button and wait until the next page has replaced this one."""
    from selenium.common.exceptions import WebDriverException

    old = driver.find_element("tag name", "html")
    _find(driver, css).click()

    def replaced() -> bool:
        try:
            old.tag_name  # noqa: B018 - touching it says whether it is still there
        except WebDriverException:
            # Stale, or (mid-navigation) Chromium's "Node with given id does not belong
            # to the document": either way the old page is gone.
            return driver.execute_script("return document.readyState") == "complete"
        return False

    _wait(f"the page after {css}", replaced, 90, every=0.1)


def _sign_in(driver, portal: Portal, username: str, password: str) -> None:
    driver.delete_all_cookies()
    driver.get(portal.url + "/signin")
    _find(driver, "username", "name").send_keys(username)
    _find(driver, "password", "name").send_keys(password)
    _submit(driver, "#signin-form button")
    _wait("signed in", lambda: "/signin" not in driver.current_url, 30)


def _sign_out(driver) -> None:
    _submit(driver, "form.who button")


def _page_until(driver, url: str, check: Callable[[str], bool], what: str,
                timeout: float = 60) -> str:
    """Load ``url`` again until its page source passes ``check``."""
    def ok():
        driver.get(url)
        return check(driver.page_source)
    _wait(what, ok, timeout, every=1.0)
    return driver.page_source


# -- the mirrors -----------------------------------------------------------------------------


def test_the_mirrors_follow_the_ledger_and_hold_only_what_their_organisation_may(
        portals, meter, utility):
    meter.submit(2)
    info = utility.network("energy").contract("qscc").evaluate("GetChainInfo", "energy")
    from fabric_protos.common import ledger_pb2

    height = ledger_pb2.BlockchainInfo.FromString(info).height
    for portal in portals.values():
        _wait(f"the {portal.org} mirror reaches block {height - 1}",
              lambda p=portal: p.height() >= height - 1, 120)
    with portals["utility"].db() as conn:
        kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM state")}
        assert {"reading", "usage", "meterinfo", "meterhead", "custmeter"} <= kinds
        (owner,) = conn.execute("SELECT customer_id FROM state WHERE key = ?",
                                (f"reading~{meter.id}~000000000001",)).fetchone()
        assert owner == meter.customer_id
        # The salts that protect private values' hashes stay on the ledger.
        private = [json.loads(v) for (v,) in conn.execute(
            "SELECT value FROM writes WHERE collection != ''") if v.startswith("{")]
        assert private and not [v for v in private if "salt" in v]
    with portals["aggregator"].db() as conn:
        kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM state")}
        assert kinds & PRIVATE_KINDS == set(), kinds
        assert conn.execute("SELECT count(*) FROM writes WHERE collection != '' OR "
                            "customer_id IS NOT NULL").fetchone() == (0,)
        (readings_blocks,) = conn.execute(
            "SELECT count(*) FROM transactions WHERE function LIKE '%SubmitReadings'"
        ).fetchone()
        assert readings_blocks > 0  # it sees that readings happened, not what they were
    # A full integrity check on the real ledger finds nothing (chain, seals, the peer's
    # blocks row by row, every meter's VerifyMeterChain).
    out = subprocess.run([sys.executable, "-m", "gridledger", "portal", "check", "--org",
                          "utility", "--state-dir", str(portals["utility"].data_dir.parents[1]),
                          "--full"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "meters" in out.stdout and "problems 0" in out.stdout


def test_the_mirrors_follow_the_market_channel_and_the_market_page_reads_it(
        portals, aggregator, tariff, browser):
    from gridledger.clients.market import Market

    # The Aggregator sets up a market and a VPP: transactions of the market channel only.
    market = Market(aggregator)
    market_id = "web" + uuid.uuid4().hex[:8]
    vpp_id = "vpp-" + uuid.uuid4().hex[:8]
    market.configure(market_id, 900, 300, tariff["tariffId"])
    market.create_vpp(vpp_id, market_id, "Portal roofs " + vpp_id[-4:], 500)
    for portal in portals.values():
        where = _wait(f"the {portal.org} mirror has the VPP",
                      lambda p=portal: p.market_record(f"mktvpp~{vpp_id}"), 120)
        channel, block = where
        assert channel == "market"
        assert portal.height("market") >= block
    agg = portals["aggregator"]
    _sign_in(browser, agg, OPERATOR, PASSWORD)
    _page_until(browser, agg.url + "/aggregator/market",
                lambda h: vpp_id in h and "Portal roofs" in h, "the VPP on the market page")
    _shot(browser, "aggregator-market")
    # The explorer shows the market channel's block, not the energy block of that number.
    browser.get(agg.url + f"/explorer/blocks/{block}?channel=market")
    assert "CreateVpp" in browser.page_source and "of market" in browser.page_source
    _shot(browser, "explorer-market-block")
    browser.get(agg.url + "/explorer/?channel=market")
    assert _find(browser, 'table.blocks[data-channel="market"]')
    _sign_out(browser)
    # A full integrity check holds both channels against the ledger.
    out = subprocess.run([sys.executable, "-m", "gridledger", "portal", "check", "--org",
                          "aggregator", "--state-dir", str(agg.data_dir.parents[1]),
                          "--full"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


# -- a customer's journey in the browser -------------------------------------------------


@pytest.fixture(scope="module")
def signed_up() -> dict[str, str]:
    """The customer the sign-up test made (username, password, Wattcoin address); the
    tamper and DACT tests go on with them."""
    return {}


def _customer(signed_up: dict[str, str]) -> dict[str, str]:
    if not signed_up:
        pytest.fail("the sign-up test did not make its customer (see its failure above)")
    return signed_up


def test_sign_up_readings_bill_top_up_and_transfer_in_chromium(portals, meter, browser,
                                                               consortium, signed_up):
    utility = portals["utility"]
    # The operator issues the customer a sign-up code.
    _sign_in(browser, utility, OPERATOR, PASSWORD)
    _shot(browser, "utility-dashboard")
    browser.get(utility.url + "/utility/customers")
    _shot(browser, "utility-customers")
    _find(browser, "customer_id", "name").send_keys(meter.customer_id)
    _submit(browser, "#code-form button")
    flash = _find(browser, ".flash.code").text
    code = flash.split(": ", 1)[1].split(" ", 1)[0]
    _sign_out(browser)

    # The customer signs up: the Utility's CA registers and enrolls its identity.
    username = "web" + uuid.uuid4().hex[:6]
    password = "my own long password"
    browser.get(utility.url + "/signup")
    for name, value in (("customer_id", meter.customer_id), ("code", code),
                        ("username", username), ("password", password),
                        ("confirm", password)):
        _find(browser, name, "name").send_keys(value)
    _shot(browser, "signup")
    _submit(browser, "#signup-form button")
    _wait("sign-up done", lambda: "/signin" in browser.current_url, 60)
    _sign_in(browser, utility, username, password)

    # It opens its own prepaid account (signed with its own identity).
    browser.get(utility.url + "/customer/wallet")
    _submit(browser, "#open-form button")
    assert "is open and pays for your energy" in browser.page_source, browser.page_source
    _page_until(browser, utility.url + "/customer/wallet",
                lambda html: "pays for your energy</small>" in html, "the account in the mirror")

    # Readings arrive while the dashboard is open (live updates, no reload).
    browser.get(utility.url + "/customer/")
    def newest_row() -> str:
        return _find(browser, "table.latest tbody tr").text

    assert newest_row().startswith(f"{meter.seq} ")
    meter.submit(3, wh=6000)
    _wait("the new readings on the open dashboard (no reload)",
          lambda: newest_row().startswith(f"{meter.seq} "), 60)
    _shot(browser, "customer-dashboard")
    browser.get(utility.url + f"/customer/meters/{meter.id}?view=day&date="
                + meter.base.strftime("%Y-%m-%d"))
    assert browser.execute_script("return typeof window.Chart") == "function"
    _shot(browser, "customer-meter-chart")

    # The balance was 0: the readings' charges are arrears.
    html = _page_until(browser, utility.url + "/customer/wallet",
                       lambda h: 'class="arrears">0<' not in h, "arrears in the wallet")
    _shot(browser, "customer-wallet-arrears")
    address = _find(browser, "section.account").get_attribute(
        "data-address")
    arrears = int(_find(browser, "b.arrears").text
                  .replace("\u202f", ""))
    assert arrears > 0, html
    _sign_out(browser)

    # The operator issues the bill of the hours the readings cover.
    _sign_in(browser, utility, OPERATOR, PASSWORD)
    browser.get(utility.url + f"/utility/customers/{meter.customer_id}")
    start = meter.base.strftime("%Y-%m-%dT%H:00:00Z")
    end = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:00:00Z")
    _find(browser, "period_start", "name").send_keys(start)
    _find(browser, "period_end", "name").send_keys(end)
    _submit(browser, "#bill-form button")
    assert "bill issued" in browser.page_source, browser.page_source
    _shot(browser, "utility-customer")
    _sign_out(browser)

    # The customer sees the bill with its tiers, and pays by top-up: arrears first.
    _sign_in(browser, utility, username, password)
    _page_until(browser, utility.url + "/customer/bills", lambda h: "details" in h,
                "the bill in the mirror")
    old = browser.current_url
    _find(browser, "details", "link text").click()
    _wait("the bill page", lambda: browser.current_url != old, 30)
    assert "1\u202f984" in browser.page_source and "VAT" in browser.page_source
    _shot(browser, "customer-bill")
    browser.get(utility.url + "/customer/wallet")
    # The bill's true-up also charged the hours read before the account paid: top up well
    # beyond the arrears seen before it.
    _find(browser, "u-amount", "name").send_keys(str(arrears + 200_000))
    _submit(browser, "#topup-form button")
    assert "tokens minted" in browser.page_source, browser.page_source
    _page_until(browser, utility.url + "/customer/wallet",
                lambda h: 'class="arrears">0<' in h, "arrears paid in the mirror")
    balance = int(_find(browser, "b.balance").text
                  .replace("\u202f", ""))
    assert balance > 0

    # A transfer to a neighbour's account, signed by the customer.
    neighbour = open_prepaid_account(consortium, register_customer(consortium))
    _find(browser, "t-target", "name").send_keys(neighbour)
    _find(browser, "t-amount", "name").send_keys("1500")
    _submit(browser, "#transfer-form button")
    assert "transferred 1500" in browser.page_source, browser.page_source
    _page_until(browser, utility.url + "/customer/wallet",
                lambda h: f">{balance - 1500:,}<".replace(",", "\u202f") in h,
                "the transfer in the mirror")
    _shot(browser, "customer-wallet")
    # A wrong transfer is refused by the chaincode, with its reason.
    _find(browser, "t-target", "name").send_keys(neighbour)
    _find(browser, "t-amount", "name").send_keys("999999999999")
    _submit(browser, "#transfer-form button")
    assert "insufficient balance" in browser.page_source
    signed_up.update(username=username, password=password, address=address)


def test_an_operator_sees_a_tamper_alert_in_chromium_and_repairs_it(portals, meter, browser,
                                                                    signed_up):
    By = _by()
    utility = portals["utility"]
    customer = _customer(signed_up)
    key = f"reading~{meter.id}~000000000002"
    with utility.db() as conn:  # behind the portal's back
        (before,) = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        conn.execute("UPDATE state SET value = ? WHERE key = ?",
                     (before.replace('"importDeltaWh":4000', '"importDeltaWh":40'), key))
        (block, tx) = conn.execute("SELECT block_number, tx_index FROM state WHERE key = ?",
                                   (key,)).fetchone()
        (tx_id,) = conn.execute("SELECT tx_id FROM transactions WHERE channel = 'energy' AND "
                                "block_number = ? AND tx_index = ?", (block, tx)).fetchone()
    assert json.loads(before)["importDeltaWh"] == 4000
    _sign_in(browser, utility, OPERATOR, PASSWORD)
    browser.get(utility.url + "/integrity/")
    _submit(browser, "#check-form button")
    table = _find(browser, "#open-alerts table").text
    assert str(block) in table and tx_id[:16] in table and meter.customer_id in table, table
    assert key in table
    _shot(browser, "integrity-alert")
    browser.get(utility.url + "/explorer/blocks/" + str(block))
    _shot(browser, "explorer-block")
    _sign_out(browser)

    # The affected customer sees it too.
    _sign_in(browser, utility, customer["username"], customer["password"])
    browser.get(utility.url + "/customer/")
    panel = _find(browser, "#tamper-alerts").text
    assert str(block) in panel and key in panel
    _shot(browser, "customer-tamper-alert")
    _sign_out(browser)

    # The operator repairs it from the ledger.
    _sign_in(browser, utility, OPERATOR, PASSWORD)
    browser.get(utility.url + "/integrity/")
    _submit(browser, "#repair-form button")
    assert browser.find_elements(By.ID, "no-open-alerts"), browser.page_source
    assert f"rebuilt block(s) {block}" in browser.page_source
    _shot(browser, "integrity-repaired")
    with utility.db() as conn:
        (after,) = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    assert after == before


def test_the_aggregators_portal_shows_devices_but_no_customer(portals, meter, browser):
    agg = portals["aggregator"]
    _sign_in(browser, agg, OPERATOR, PASSWORD)
    browser.get(agg.url + "/aggregator/devices")
    assert meter.id in browser.page_source and meter.customer_id not in browser.page_source
    _shot(browser, "aggregator-devices")
    browser.get(agg.url + "/aggregator/")
    assert "customers: 0" in browser.page_source
    _shot(browser, "aggregator-dashboard")
    browser.get(agg.url + f"/explorer/search?q={meter.customer_id}&go=0")
    assert "Nothing in the mirror matches" in browser.page_source


def test_a_dact_grant_and_an_aggregator_retrieving_hash_addresses_in_chromium(
        portals, meter, browser, signed_up):
    utility, agg = portals["utility"], portals["aggregator"]
    customer = _customer(signed_up)
    device = "AGG-GW-" + uuid.uuid4().hex[:6]
    # The Aggregator's operator registers its forecasting gateway (an IDoT); the portal
    # makes and keeps the device's key.
    _sign_in(browser, agg, OPERATOR, PASSWORD)
    browser.get(agg.url + "/aggregator/access/")
    _find(browser, "v-device_id", "name").send_keys(device)
    _submit(browser, "#device-form button")
    assert f"device {device} registered" in browser.page_source, browser.page_source
    _sign_out(browser)

    # The customer has the Utility's service node produce its consumption profile,
    # registers its hash address, and grants the Aggregator access with a DACT.
    _sign_in(browser, utility, customer["username"], customer["password"])
    browser.get(utility.url + "/customer/sharing/")
    _submit(browser, "#profile-form button")
    assert "registered as" in browser.page_source, browser.page_source
    html = _page_until(browser, utility.url + "/customer/sharing/",
                       lambda h: "consumption profile of" in h, "the resource in the mirror")
    resource_id = _find(browser, "#resources tbody tr td").text
    hash_address = _find(browser, "#resources tbody tr td.mono").text
    assert len(hash_address) == 64, html
    dact_field = _find(browser, "d-dact_id", "name")
    dact_id = dact_field.get_attribute("value")
    _find(browser, "d-devices", "name").send_keys(device)
    _submit(browser, "#dact-form button")
    assert f"DACT {dact_id} registered" in browser.page_source, browser.page_source
    _page_until(browser, utility.url + "/customer/sharing/",
                lambda h: f'data-dact="{dact_id}"' in h, "the DACT in the mirror")
    _shot(browser, "customer-sharing")
    # The table (with its salt) goes to the requester, off the ledger.
    browser.get(utility.url + f"/customer/sharing/dacts/{dact_id}/table.json")
    table = json.loads(browser.find_element("tag name", "body").text)
    assert table["dactId"] == dact_id and table["resources"] == [resource_id]
    _sign_out_at(browser, utility)

    # The Aggregator certifies with its device (2 of 3 organisations endorse: the
    # threshold) and runs the contract: the hash address of the shared data.
    _sign_in(browser, agg, OPERATOR, PASSWORD)
    _page_until(browser, agg.url + "/aggregator/access/",
                lambda h: f'<option value="{device}"' in h, "the device in the mirror")
    _find(browser, "k-table", "name").send_keys(json.dumps(table))
    _submit(browser, "#token-form button")
    result = _find(browser, "#token-result").text
    assert hash_address in result, browser.page_source
    _shot(browser, "aggregator-token")
    _page_until(browser, agg.url + "/aggregator/access/",
                lambda h: dact_id in h and "tok-" in h, "the token in the mirror")
    _shot(browser, "aggregator-access")
    _sign_out(browser)

    # The customer sees who obtained a token and when it was used.
    _sign_in(browser, utility, customer["username"], customer["password"])
    html = _page_until(browser, utility.url + "/customer/sharing/",
                       lambda h: "tok-" in h and "contract" in h, "the access in the log")
    assert "AggregatorMSP" in html and device in html
    _shot(browser, "customer-access-log")


def _sign_out_at(driver, portal: Portal) -> None:
    """Sign out from a page without the header (a JSON document): go to one first."""
    driver.get(portal.url + "/")
    _sign_out(driver)


# -- a peer down ---------------------------------------------------------------------------


def test_with_its_peer_down_the_portal_reads_from_the_mirror_and_a_write_says_why(
        portals, meter, browser, consortium, signed_up):
    from gridledger.network.health import wait_healthy

    utility = portals["utility"]
    customer = _customer(signed_up)
    peer = next(p for p in consortium.processes() if p.kind == "peer" and p.org == "utility")
    sup = consortium.supervisor
    _sign_in(browser, utility, customer["username"], customer["password"])
    before = utility.height()
    sup.stop_process(peer.name)
    try:
        # Reads come from the mirror: every page still answers with its data.
        for path, mark in (("/customer/", meter.id), ("/customer/bills", "details"),
                           ("/customer/wallet", customer["address"])):
            browser.get(utility.url + path)
            assert mark in browser.page_source, path
        _shot(browser, "customer-wallet-peer-down")
        # A write says it was not sent, and why.
        _find(browser, "u-amount", "name").send_keys("1000")
        _submit(browser, "#topup-form button")
        page = browser.page_source
        assert "was not sent" in page and "unreachable" in page, page
    finally:
        sup.start_process(peer.name)
        wait_healthy(peer.name, consortium.topology.org(peer.org).host, peer.ports[-1],
                     lambda: sup.info(peer.name)["statename"] in ("RUNNING", "STARTING"))
    # The restarted peer's Gateway learns the other organisations' peers again from
    # discovery (gossip) before it can endorse: until then FAILED_PRECONDITION. Ask for
    # every organisation's endorsement, so the next modules' combinations (Utility and
    # Regulator for readings, Aggregator and Utility for the market) all work.
    health = meter.metering.contract.network.contract("health")

    def endorses() -> bool:
        try:
            health.submit("Put", "portal-peer-back", uuid.uuid4().hex,
                          endorsing_organizations=("UtilityMSP", "RegulatorMSP",
                                                   "AggregatorMSP"))
        except GatewayError as exc:
            assert exc.retryable or exc.code.name == "FAILED_PRECONDITION", exc
            return False
        return True

    _wait("the restarted peer endorses", endorses, 120, every=2.0)
    # The mirror reconnects and carries on from its checkpoint: a new reading arrives.
    meter.submit(1)
    _wait("the mirror follows the restarted peer", lambda: utility.height() > before, 120)
    _page_until(browser, utility.url + f"/customer/meters/{meter.id}",
                lambda h: f"head #{meter.seq} " in h,
                "the new reading on the meter page")
    _sign_out(browser)
