"""A customer's data sharing (seed 001, contract ``access``): its shared data (resources:
hash addresses on the channel, owner and description in customerData), its DACTs (who may
ask, with which device, for what, until when), who obtained tokens and accessed what.

The customer's own identity signs every write (its transaction is its consent). The DACT
table with its salt stays off the channel: the page hands it to the customer to give the
requester, who presents it to get a token. Nested in the customer blueprint:
``/customer/sharing/``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from gridledger.clients.access import new_dact
from gridledger.formats.utc import format_utc

from ..mirror import queries, queries_access
from .common import as_me, flash_write, mirror, services
from .forms import DactForm, ProfileForm, ResourceForm, RevokeDactForm, choice
from .ledger import LedgerWriteError

bp = Blueprint("sharing", __name__, url_prefix="/sharing")


def _me() -> str:
    return g.user.customer_id


def _page(status: int = 200, **forms):
    with mirror() as s:
        resources = queries_access.resources_of(s, _me())
        dacts = queries_access.dacts_of(s, _me())
        meters = queries.meter_ids_of(s, _me())
    profile = forms.get("profile") or ProfileForm(prefix="f")
    profile.meter_id.choices = [choice(m, m) for m in meters]
    if not profile.resource_id.data:
        profile.resource_id.data = "R-" + uuid.uuid4().hex[:8]
    dact = forms.get("dact") or DactForm(prefix="d")
    if not dact.dact_id.data:
        dact.dact_id.data = "D-" + uuid.uuid4().hex[:8]
    if not dact.resources.data and resources:
        dact.resources.data = ", ".join(r["resourceId"] for r in resources)
    node = services().config.links.get("service_node")
    return render_template("customer/sharing.html", resources=resources, dacts=dacts,
                           resource_form=forms.get("resource") or ResourceForm(prefix="r"),
                           profile_form=profile, dact_form=dact, revoke_form=RevokeDactForm(),
                           service_node=node), status


@bp.get("/")
def index():
    return _page()


@bp.post("/resources")
def register_resource():
    form = ResourceForm(prefix="r")
    if not form.validate_on_submit():
        return _page(400, resource=form)
    resource = {"resourceId": form.resource_id.data, "hashAddress": form.hash_address.data,
                "mediaType": form.media_type.data, "size": form.size.data,
                "description": form.description.data}
    try:
        as_me("registering the resource", lambda p: p.register_resource(resource))
    except LedgerWriteError as exc:
        flash_write(exc)
        return _page(exc.status, resource=form)
    flash(f"resource {resource['resourceId']} registered", "info")
    return redirect(url_for("customer.sharing.index"))


@bp.post("/profile")
def produce_profile():
    """Have the Utility's service node produce the meter's consumption profile from the
    ledger, then register its hash address (both signed by the customer)."""
    form = ProfileForm(prefix="f")
    with mirror() as s:
        form.meter_id.choices = [choice(m, m) for m in queries.meter_ids_of(s, _me())]
    if not form.validate_on_submit():
        return _page(400, profile=form)
    node = services().config.links.get("service_node")
    if not node:
        abort(409, description="this portal knows no service node to produce a profile")
    from gridledger.clients.access_service import ServiceNodeClient

    svc = services()
    account = svc.accounts.get(g.user.account_id)
    from .access import passphrase

    identity, signer = svc.accounts.credentials(account, passphrase())
    try:
        with ServiceNodeClient(node, identity, signer) as client:
            made = client.produce_profile(form.meter_id.data)
        resource = {"resourceId": form.resource_id.data, "hashAddress": made["hashAddress"],
                    "mediaType": made["mediaType"], "size": made["size"],
                    "description": f"consumption profile of {form.meter_id.data}"}
        as_me("registering the profile", lambda p: p.register_resource(resource))
    except LedgerWriteError as exc:
        flash_write(exc)
        return _page(exc.status, profile=form)
    except Exception as exc:  # the service node's answer, said as it is
        flash(f"the service node could not produce the profile: {exc}", "error")
        return _page(502, profile=form)
    flash(f"profile stored at the service node as {made['hashAddress'][:16]}… and "
          f"registered as {resource['resourceId']}", "info")
    return redirect(url_for("customer.sharing.index"))


@bp.post("/dacts")
def register_dact():
    form = DactForm(prefix="d")
    if not form.validate_on_submit():
        return _page(400, dact=form)
    with mirror() as s:
        mine = {r["resourceId"] for r in queries_access.resources_of(s, _me())}
    asked = form.ids(form.resources.data)
    foreign = [r for r in asked if r not in mine]
    if foreign:
        form.resources.errors.append(f"not your resources: {', '.join(foreign)}")
        return _page(403, dact=form)
    until = format_utc(dt.datetime.now(dt.UTC) + dt.timedelta(days=form.days.data))
    table = new_dact(devices=form.ids(form.devices.data), resources=asked,
                     requester={"kind": form.requester_kind.data,
                                "mspId": form.requester_msp.data},
                     purpose=form.purpose.data, not_after=until,
                     owner_info=form.owner_info.data, dact_id=form.dact_id.data)
    try:
        as_me("registering the DACT", lambda p: p.register_dact(table))
    except LedgerWriteError as exc:
        flash_write(exc)
        return _page(exc.status, dact=form)
    flash(f"DACT {table['dactId']} registered: give its table to the requester", "info")
    return redirect(url_for("customer.sharing.index"))


def _own_dact(dact_id: str) -> dict:
    with mirror() as s:
        dact = queries_access.dact_of(s, _me(), dact_id)
    if dact is None:
        abort(404, description=f"no DACT {dact_id!r} of yours")
    return dact


@bp.post("/dacts/<dact_id>/revoke")
def revoke_dact(dact_id: str):
    _own_dact(dact_id)
    form = RevokeDactForm()
    if not form.validate_on_submit():
        flash("give a reason (at most 200 characters)", "error")
        return redirect(url_for("customer.sharing.index")), 303
    try:
        as_me(f"revoking DACT {dact_id}", lambda p: p.revoke_dact(dact_id, form.reason.data))
    except LedgerWriteError as exc:
        flash_write(exc)
        return redirect(url_for("customer.sharing.index")), 303
    flash(f"DACT {dact_id} revoked: its tokens no longer work", "info")
    return redirect(url_for("customer.sharing.index"))


@bp.get("/dacts/<dact_id>/table.json")
def dact_table(dact_id: str):
    """The table (with its salt) for the requester: it presents exactly this to certify."""
    dact = _own_dact(dact_id)
    headers = {"Content-Type": "application/json"}
    if request.args.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="{dact_id}.json"'
    return json.dumps(dact["table"], indent=2, sort_keys=True), 200, headers
