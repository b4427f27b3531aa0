"""The Aggregator's side of data sharing (seed 001): its devices (IDoTs) and the tokens
it holds. With a DACT table a data owner gave it, an operator asks for a token (Certify:
the device signs a challenge bound to the transaction; the token is valid only with the
endorsements of 2 of the 3 organisations, the threshold) and runs the contract with it
(Access), which answers the hash addresses of the shared data; the service node then
serves them. Signed by the operator's own identity; the device's key is held by this
portal (``<data dir>/devices/<id>.pem``, 0600). Nested: ``/aggregator/access/``.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Blueprint, flash, g, redirect, render_template, url_for

from gridledger.clients.access import device_signer
from gridledger.formats.access import certificate_fingerprint
from gridledger.network.layout import write_private

from ..mirror import queries_access
from .common import as_me, flash_write, mirror, services
from .forms import DeviceForm, TokenForm, choice
from .ledger import LedgerWriteError

bp = Blueprint("access", __name__, url_prefix="/access")


def _key_dir() -> Path:
    return services().config.data_dir / "devices"


def _keys() -> dict[str, Path]:
    d = _key_dir()
    return {p.stem: p for p in sorted(d.glob("*.pem"))} if d.is_dir() else {}


def _my_fingerprint() -> str:
    """The signed-in operator's certificate fingerprint ("" if its identity is gone)."""
    svc = services()
    try:
        return certificate_fingerprint(svc.accounts.certificate(svc.accounts.get(
            g.user.account_id)))
    except OSError:
        return ""


def _page(status: int = 200, result: dict | None = None, **forms):
    svc = services()
    with mirror() as s:
        devices = queries_access.devices_of(s, svc.config.msp_id)
        tokens = queries_access.tokens_held(s, _my_fingerprint())
    held = _keys()
    token_form = forms.get("token") or TokenForm(prefix="k")
    token_form.device_id.choices = [choice(d["deviceId"], d["deviceId"]) for d in devices
                                    if d["deviceId"] in held]
    return render_template("aggregator/access.html", devices=devices, held=held,
                           tokens=tokens, device_form=forms.get("device") or DeviceForm(
                               prefix="v"), token_form=token_form, result=result), status


@bp.get("/")
def index():
    return _page()


@bp.post("/devices")
def register_device():
    form = DeviceForm(prefix="v")
    if not form.validate_on_submit():
        return _page(400, device=form)
    path = _key_dir() / f"{form.device_id.data}.pem"
    if path.exists():
        form.device_id.errors.append("this portal holds a device of that id already")
        return _page(409, device=form)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    device = {"deviceId": form.device_id.data, "kind": form.kind.data,
              "publicKeyPem": pem.decode()}
    try:
        as_me(f"registering device {form.device_id.data}", lambda p: p.register_device(device))
    except LedgerWriteError as exc:
        flash_write(exc)
        return _page(exc.status, device=form)
    _key_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    flash(f"device {form.device_id.data} registered; its key stays in this portal", "info")
    return redirect(url_for("aggregator.access.index"))


@bp.post("/tokens")
def request_token():
    form = TokenForm(prefix="k")
    held = _keys()
    with mirror() as s:
        ours = {d["deviceId"] for d in queries_access.devices_of(s, services().config.msp_id)}
    form.device_id.choices = [choice(d, d) for d in sorted(ours) if d in held]
    if not form.validate_on_submit():
        return _page(400, token=form)
    table = json.loads(form.table.data)
    key = serialization.load_pem_private_key(held[form.device_id.data].read_bytes(), None)
    try:
        result = as_me(f"the token for DACT {table['dactId']}",
                       lambda p: p.certify_and_access(table, form.device_id.data,
                                                      device_signer(key)))
    except LedgerWriteError as exc:
        flash_write(exc)
        return _page(exc.status, token=form)
    flash(f"token {result.get('tokenId', '')} obtained: "
          f"{len(result.get('resources', []))} hash address(es)", "info")
    return _page(200, result=result)
