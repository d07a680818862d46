"""The Flask application: ``create_app()`` wires configuration, the database and the blueprints."""

from flask import Flask

from tally import config as tally_config


def create_app(test_config: dict | None = None) -> Flask:
    """Create the app; configuration comes from TALLY_* environment variables or ``test_config``."""
    app = Flask(__name__)
    app.config.from_mapping(tally_config.DEFAULTS)
    app.config.from_mapping(tally_config.from_env())
    if test_config is not None:
        app.config.from_mapping(test_config)
    # Uploads (manifests, camera frames) are bounded before Flask reads them.
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_IMAGE_BYTES"]) + 64 * 1024
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    from web import db, errors, health
    from web.api import (
        clearance,
        decode,
        inspections,
        labels,
        manifests,
        release_orders,
        scans,
        users,
    )

    db.init_app(app)
    errors.init_app(app)
    for module in (health, manifests, labels, scans, decode, users, inspections, clearance,
                   release_orders):
        app.register_blueprint(module.bp)
    return app
