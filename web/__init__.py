"""The Flask application: ``create_app()`` wires configuration, the database and the blueprints."""

import datetime
import os
import secrets

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from werkzeug.routing import IntegerConverter

from tally import company
from tally import config as tally_config
from tally.fields import WHOLE_NUMBER
from tally.pg import is_url

SESSION_HOURS = 12  # a shift

def create_app(test_config: dict | None = None) -> Flask:
    """Create the app; configuration comes from TALLY_* environment variables or ``test_config``."""
    app = Flask(__name__)
    app.url_map.converters["int"] = RowNumber  # before any route is added
    app.config.from_mapping(tally_config.DEFAULTS)
    app.config.from_mapping(tally_config.from_env())
    if test_config is not None:
        app.config.from_mapping(test_config)
    tally_config.time_zone(app.config)  # an unknown TALLY_TIMEZONE stops the start, said clearly
    # So do site defaults the settings page would refuse (an account book of another customs).
    problems = company.site_problems(tally_config.site_settings(app.config))
    if problems:
        raise ValueError("; ".join(problems))
    # Uploads (manifests, camera frames) are bounded before Flask reads them.
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_IMAGE_BYTES"]) + 64 * 1024
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    if not app.config.get("SECRET_KEY"):
        if is_url(app.config["DATABASE"]):
            raise ValueError("TALLY_SECRET_KEY is required with PostgreSQL: every app server "
                             "sharing the database must sign sessions with the same key")
        app.config["SECRET_KEY"] = _secret_key(tally_config.var_dir(app.config))
    # The pages' session cookie (Flask defines these keys, so they are set, not defaulted): not
    # readable by scripts, not sent on other sites' requests, over HTTPS only when the site is
    # served over HTTPS. A session lasts a shift from signing in: the cookie is not renewed on
    # each request, and the database ends the session at the same time (tally/users.py).
    app.config.update(
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=SESSION_HOURS),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(app.config["SESSION_SECURE"]),
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.session_interface = _CookieSessions()

    from web import assets, db, errors, health, openapi
    from web.api import (
        clearance,
        codes,
        decode,
        inspections,
        labels,
        manifests,
        release_orders,
        scans,
        settings,
        users,
    )

    db.init_app(app)
    errors.init_app(app)
    assets.init_app(app)
    for module in (health, manifests, labels, scans, codes, decode, users, inspections, clearance,
                   release_orders, settings, openapi):
        app.register_blueprint(module.bp)
    from web.pages import register_pages

    register_pages(app)
    from web.front import Front

    app.wsgi_app = Front(app)  # every request passes the front door first
    return app


class RowNumber(IntegerConverter):
    """``<int:...>`` in paths: 1 to 19 ASCII digits within SQLite's integer range, else the path
    matches no route (404) rather than reaching the database with a number it cannot hold."""

    # The range in the pattern itself: werkzeug answers 405 rather than 404 when a converter
    # refuses a path that another method's route would take.
    regex = WHOLE_NUMBER

    def to_python(self, value: str) -> int:
        return int(value)


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the signer set-up on requests that carry no cookie:
    a scanner posting with a bearer token pays nothing for the pages' sessions."""

    def open_session(self, app, request):
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def _secret_key(folder: str) -> str:
    """The session signing key, kept in the service's folder (beside the SQLite file) so that
    every worker and every restart signs with the same one (TALLY_SECRET_KEY overrides)."""
    path = os.path.join(os.path.abspath(folder), "secret_key")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Written whole under another name, then linked into place: a worker starting at the
        # same moment reads a whole key or none, never a half-written file.
        draft = f"{path}.{os.getpid()}.draft"
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:  # another worker's key is in place first: that one counts
            pass
        finally:
            os.unlink(draft)
        return _secret_key(folder)
