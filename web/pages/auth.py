"""Sign in (user name + password, or an API token) and sign out."""

from urllib.parse import unquote, urlsplit

from flask import current_app, g, redirect, render_template, request, url_for

from tally.errors import AuthenticationError, TooManyRequests
from tally.users import SignInLimits
from tally.users import sign_in as check_sign_in
from web.auth import session_user, sign_in, sign_out
from web.db import get_db
from web.pages import page_blueprint

bp = page_blueprint("auth_pages")


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, else the start page.

    Browsers drop tabs and newlines from a URL and read ``\\`` as ``/``, so ``/<TAB>/evil.example``
    or ``/\\evil.example`` would lead to another host: the checks run on the URL as a browser would
    read it, and on its percent-decoded form, never on the raw text alone.
    """
    home = url_for("consignment_pages.index")
    if not target or not _is_clean(target):
        return home
    path = target.split("?", 1)[0].split("#", 1)[0]
    for form in (target, unquote(path)):
        if not _is_clean(form):
            return home
        normalised = form.replace("\\", "/")
        parts = urlsplit(normalised)
        if not normalised.startswith("/") or normalised.startswith("//") or parts.scheme \
                or parts.netloc:
            return home
    return target


def _is_clean(text: str) -> bool:
    """No control characters and no white space (a query's %20 stays encoded, so it may pass)."""
    return all(c.isprintable() and not c.isspace() for c in text)


def _limits() -> SignInLimits:
    config = current_app.config
    return SignInLimits(per_name=int(config["SIGN_IN_FAILURES_PER_NAME"]),
                        per_address=int(config["SIGN_IN_FAILURES_PER_ADDRESS"]),
                        window=float(config["SIGN_IN_WINDOW"]))


@bp.route("/login", methods=["GET", "POST"])
def login():
    g.user = session_user()
    error, status, headers = None, 200, {}  # error: the TallyError refusing the sign-in
    form = {"name": "", "next": request.values.get("next", "")}
    if request.method == "POST":
        form["name"] = request.form.get("name", "").strip()
        token = request.form.get("token", "").strip()
        try:
            user = check_sign_in(get_db(), address=request.remote_addr or "", limits=_limits(),
                                 name=form["name"], password=request.form.get("password", ""),
                                 token=token or None)
        except TooManyRequests as exc:
            error, status = exc, 429
            headers["Retry-After"] = str(exc.extra["retry_after"])
        except AuthenticationError as exc:
            error, status = exc, 401
        else:
            sign_in(user)
            return redirect(_safe_next(form["next"]))
    return render_template("login.html", error=error, form=form), status, headers


@bp.post("/logout")
def logout():
    sign_out()
    return redirect(url_for("auth_pages.login"))
