"""Sign in (user name + password, or an API token) and sign out."""

from flask import g, redirect, render_template, request, session, url_for

from tally.errors import AuthenticationError
from tally.users import authenticate, authenticate_password
from web.auth import session_user, sign_in
from web.db import get_db
from web.pages import page_blueprint

bp = page_blueprint("auth_pages")


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an open redirect to another host.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("consignment_pages.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    g.user = session_user()
    error = None
    form = {"name": "", "next": request.values.get("next", "")}
    if request.method == "POST":
        form["name"] = request.form.get("name", "").strip()
        token = request.form.get("token", "").strip()
        try:
            if token:
                user = authenticate(get_db(), token)
            else:
                user = authenticate_password(get_db(), form["name"],
                                             request.form.get("password", ""))
        except AuthenticationError as exc:
            error = exc.message
        else:
            sign_in(user)
            return redirect(_safe_next(form["next"]))
    return render_template("login.html", error=error, form=form), 401 if error else 200


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth_pages.login"))
