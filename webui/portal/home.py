"""The front door: where each role lands, the vendored browser libraries, health."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, g, jsonify, redirect, send_file, url_for

bp = Blueprint("home", __name__)

# Browser libraries installed at set-up (`make`: npm ci in webui/), never in the repository.
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
VENDOR = {"chart.umd.min.js": "chart.js/dist/chart.umd.min.js"}
LANDING = {"customer": "customer.dashboard", "utility": "utility.dashboard",
           "regulator": "regulator.dashboard", "aggregator": "aggregator.dashboard"}


@bp.get("/")
def index():
    if g.user is None:
        return redirect(url_for("auth.signin"))
    return redirect(url_for(LANDING[g.user.role]))


@bp.get("/vendor/<name>")
def vendor(name: str):
    """A library from webui/node_modules (404 with the fix when set-up did not run)."""
    rel = VENDOR.get(name)
    if rel is None:
        abort(404)
    path = NODE_MODULES / rel
    if not path.is_file():
        abort(404, description=f"{name} is not installed: run `make run` (or `npm ci` in "
                               "webui/) to install the portal's browser libraries")
    return send_file(path, mimetype="text/javascript", max_age=3600)


@bp.get("/healthz")
def health():
    services = current_app.extensions["portal"]
    return jsonify({"ok": True, "org": services.config.org,
                    "mirror": services.mirror_status() or {}})
