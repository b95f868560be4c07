"""The hosted pages' language (:mod:`checkstand.core.i18n`): their catalogs, the templates that speak them, and the
locale a request is answered in: the session's ``locale``, else the browser's ``Accept-Language``."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Final

from fastapi import Request
from jinja2 import Environment, FileSystemLoader

from checkstand.core import i18n

LOCALES: Final = Path(__file__).parent / "locales"
CATALOGS: Final = i18n.Catalogs(LOCALES)


def environment() -> Environment:
    """The pages' templates, with ``_``/``gettext``/``ngettext`` reading the current request's language."""
    templates = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True, auto_reload=False
    )
    i18n.install(templates)
    return templates


def locale_of(request: Request, requested: str | None = None) -> i18n.ResolvedLocale:
    """``requested`` (a session's ``locale``) if it names a language, else the browser's."""
    return i18n.resolve(requested, request.headers.get("accept-language"))


def speaking(resolved: i18n.ResolvedLocale) -> AbstractContextManager[None]:
    return CATALOGS.speaking(resolved.language)
