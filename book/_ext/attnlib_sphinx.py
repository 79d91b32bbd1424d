"""Sphinx fixes for the book's pages (loaded by _config.yml's ``local_extensions``):
a page must open without a console error (tests/test_book.py checks every page).

* sphinx-thebe adds its inline configuration (``const THEBE_JS_URL = ...``) once per
  ``env-before-read-docs`` event, which Jupyter Book fires twice: the second ``const``
  is a SyntaxError in every page. Identical scripts are kept once.
* sphinx-book-theme leaves pydata-sphinx-theme's ``default_mode`` empty, so the theme's
  script logs "Got invalid theme mode" on every page: ``auto`` is its documented default.
* Launch buttons (Binder, Colab) come from one setting, ``repository.url`` in
  _config.yml: while it is empty they are left out (sphinx-book-theme would fail on them).
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _script_key(script: Any) -> tuple[str, ...]:
    """A script's identity whatever its priority (the same inline script, added twice by
    two events, can carry two priorities and a filename of None or "")."""
    filename = getattr(script, "filename", script) or ""  # an inline script: None or ""
    attributes = getattr(script, "attributes", {}) or {}
    return (str(filename), *(f"{k}={v}" for k, v in sorted(attributes.items())))


def keep_each_script_once(app: Sphinx, pagename: str, templatename: str,
                          context: dict[str, Any], doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, ...]] = set()
    unique = []
    # in priority order (stable, as Sphinx sorts them next): of two copies, the one that
    # loads first stays where it was
    for script in sorted(scripts, key=lambda s: getattr(s, "priority", 500)):
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: it is the builder's own list, which others append to


def default_theme_mode(app: Sphinx, pagename: str, templatename: str,
                       context: dict[str, Any], doctree: Any) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def launch_buttons_need_a_repository(app: Sphinx, config: Any) -> None:
    options = dict(config.html_theme_options or {})
    if not options.get("repository_url"):
        options["launch_buttons"] = {}
        options["use_repository_button"] = False
    config.html_theme_options = options


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", launch_buttons_need_a_repository)
    app.connect("html-page-context", default_theme_mode)
    app.connect("html-page-context", keep_each_script_once, priority=990)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
