"""The Flask app factory: settings, the shared services (stores, embedder) built once, and the blueprints."""

from __future__ import annotations

import importlib.util
from typing import Any

from flask import Flask

from indexer.settings import SETTINGS_BY_NAME, load_settings
from webapp import api, auth, headers, limits, request_input, write_api
from webapp.services import Services, bind


def create_app(test_config: dict[str, Any] | None = None, settings: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults → config/isnad.toml → ISNAD_* → `test_config`.

    `test_config` may mix Isnad settings ("data.dir": …) and Flask config keys (TESTING: True).
    `settings`, when given, is an already loaded settings dict (the CLI loads it with --config and
    --data-dir) and is used as is, with `test_config` settings on top.
    """
    test_config = dict(test_config or {})
    overrides = {k: v for k, v in test_config.items() if k in SETTINGS_BY_NAME}
    flask_config = {k: v for k, v in test_config.items() if k not in SETTINGS_BY_NAME}
    if settings is None:
        settings = load_settings(overrides=overrides)
    else:
        settings = {**settings, **overrides}

    app = Flask(__name__)
    # A question with its history is a few kilobytes; a megabyte bounds what one request can make us read.
    app.config.update(JSON_AS_ASCII=False, MAX_CONTENT_LENGTH=1024 * 1024)
    app.config.update(flask_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Arabic stays readable in responses
    app.config["ISNAD_SETTINGS"] = settings

    bind(app, Services.open(settings))

    request_input.init_app(app)
    limits.init_app(app)  # before the key check: guessing keys is limited too
    auth.init_app(app)
    api.init_app(app)
    write_api.init_app(app)
    # The HTML pages are optional: the API works without them (and without their templates).
    static_folder = None
    if importlib.util.find_spec("webapp.pages") is not None:
        from webapp import pages

        app.register_blueprint(pages.bp)
        static_folder = pages.bp.static_folder
    headers.init_app(app, static_folder)
    return app
