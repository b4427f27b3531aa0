"""The application factory: configuration in, a Flask app with its own services out."""


from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import Undefined
from werkzeug.exceptions import HTTPException

from .access import enforce
from .config import PortalConfig
from .security import ServerSessionInterface
from .services import Services, build_services


def create_app(config: PortalConfig | Mapping[str, Any],
               services: Services | None = None) -> Flask:
    """A portal application; ``services`` defaults to :func:`build_services(config)`."""
    if not isinstance(config, PortalConfig):
        config = PortalConfig.from_mapping(config)
    services = services or build_services(config)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=services.secret,
        TESTING=config.testing,
        MAX_CONTENT_LENGTH=config.max_form_bytes,
        SESSION_COOKIE_NAME="gridledger_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.tls,
        PREFERRED_URL_SCHEME="https" if config.tls else "http",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        WTF_CSRF_SSL_STRICT=config.tls,
    )
    app.extensions["portal"] = services
    app.session_interface = ServerSessionInterface(services.sessions)
    CSRFProtect(app)
    app.before_request(enforce)

    from . import (
        aggregator,
        api,
        auth,
        customer,
        explorer,
        home,
        integrity_views,
        regulator,
        utility,
    )
    for module in (home, auth, customer, utility, regulator, aggregator, explorer,
                   integrity_views, api):
        app.register_blueprint(module.bp)

    _errors(app)
    _template_helpers(app, services)

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'; form-action 'self'")
        if config.tls:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    return app


def _wants_json() -> bool:
    return request.path.startswith("/api/") or \
        request.accept_mimetypes.best == "application/json"


def _errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        message = f"the form's security token is missing or wrong ({exc.description}); " \
                  "reload the page and try again"
        if _wants_json():
            return jsonify({"error": message}), 400
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 413:
            message = (f"the request is larger than this portal accepts "
                       f"({app.config['MAX_CONTENT_LENGTH'] // 1024} KiB)")
        if _wants_json():
            response = jsonify({"error": message})
        else:
            response = app.response_class(render_template(
                "error.html", status=exc.code, message=message))
        response.status_code = exc.code or 500
        if exc.code == 429 and getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response


def _template_helpers(app: Flask, services: Services) -> None:
    cfg = services.config

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"portal": cfg, "user": g.get("user"),
                "mirror_status": services.mirror_status(),
                "live_poll_ms": int(cfg.live_poll_seconds * 1000)}

    @app.template_filter("money")
    def _money(value: Any) -> str:
        if value is None or isinstance(value, Undefined):
            return "—"
        try:
            return f"{int(value):,}".replace(",", "\u202f")
        except (TypeError, ValueError):
            return str(value)

    @app.template_filter("kwh")
    def _kwh(wh: Any) -> str:
        if wh is None or isinstance(wh, Undefined):
            return "—"
        return f"{int(wh) / 1000:,.3f}"

    @app.template_filter("short")
    def _short(text: Any, n: int = 12) -> str:
        text = "" if text is None else str(text)
        return text if len(text) <= n + 1 else text[:n] + "…"

    @app.template_filter("when")
    def _when(value: Any) -> str:
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return "" if value is None else str(value).replace("T", " ")
