"""The customer's language: which of the languages Checkstand speaks a page or an email is in, and its words.

A session asks for a language (``locale``: ``auto`` or one of :data:`LANGUAGES`, a region form such as ``de-CH``
too); ``auto`` is the browser's ``Accept-Language`` negotiated against :data:`LANGUAGES` (Babel), else English.
Words come from gettext catalogs (``<dir>/<language>/LC_MESSAGES/messages.po``), compiled in memory when a module
loads them: no binary ``.mo`` is kept and nothing needs a build step. Numbers and dates follow the same locale, with
its region when one was asked for (``de-CH``: Swiss number format).

The translations in use are the current context's (:func:`speaking`), not a global's: one Jinja environment serves
concurrent requests, each in its own language.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path
from typing import Final

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment

SOURCE_LANGUAGE: Final = "en"
# English first: the source, and what a browser asking for none of them gets.
LANGUAGES: Final = (SOURCE_LANGUAGE, "de", "fr", "es", "ja")
AUTO: Final = "auto"
DOMAIN: Final = "messages"
# A locale as a merchant may write it: a language, optionally a region ("de", "de-CH", "de_CH").
MAX_LOCALE_LENGTH: Final = 16
_NONE: Final = NullTranslations()

# The language spoken in the current context, and its translations.
_active: ContextVar[tuple[str, NullTranslations]] = ContextVar(
    "checkstand_translations", default=(SOURCE_LANGUAGE, _NONE)
)


@dataclass(frozen=True)
class ResolvedLocale:
    """``language`` picks the words (one of :data:`LANGUAGES`); ``formatting`` is the Babel locale numbers and
    dates are written in (``de``, ``de_CH``)."""

    language: str
    formatting: str


ENGLISH: Final = ResolvedLocale(SOURCE_LANGUAGE, "en_US")


def parse_locale(value: str) -> str | None:
    """A merchant's ``locale`` as stored (``auto``, ``de``, ``de-CH``); ``None`` when it isn't ``auto`` nor one
    of :data:`LANGUAGES`, with or without a region."""
    if value == AUTO:
        return AUTO
    parsed = _parse(value)
    if parsed is None or parsed.language not in LANGUAGES:
        return None
    return parsed.language if parsed.territory is None else f"{parsed.language}-{parsed.territory}"


def resolve(requested: str | None, accept_language: str | None) -> ResolvedLocale:
    """The session's ``locale`` if it names a language, else the browser's (``auto``)."""
    if requested is not None and requested != AUTO:
        parsed = _parse(requested)
        if parsed is not None and parsed.language in LANGUAGES:
            return ResolvedLocale(parsed.language, str(parsed))
    return negotiate(accept_language)


def negotiate(accept_language: str | None) -> ResolvedLocale:
    """The first language the browser prefers (by ``q``) that Checkstand speaks, with the region it asked for;
    English when it asks for none of them."""
    for tag in _preferred(accept_language or ""):
        negotiated = Locale.negotiate([tag], LANGUAGES, sep="-")
        if negotiated is None:
            continue
        language = str(negotiated)
        parsed = _parse(tag)
        formatting = str(parsed) if parsed is not None and parsed.language == language else language
        return ResolvedLocale(language, "en_US" if formatting == SOURCE_LANGUAGE else formatting)
    return ENGLISH


def _preferred(header: str) -> list[str]:
    """``Accept-Language``'s tags, most preferred first (a stable sort keeps the header's order on ties)."""
    weighted: list[tuple[float, str]] = []
    for entry in header.split(",")[:20]:
        tag, _, params = entry.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((quality, tag.strip()))
    return [tag for _, tag in sorted(weighted, key=lambda entry: -entry[0])]


def _parse(tag: str) -> Locale | None:
    if not tag or len(tag) > MAX_LOCALE_LENGTH:
        return None
    try:
        return Locale.parse(tag.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None


class Catalogs:
    """A module's translations, one per language but English (its words are the source), compiled from the
    ``.po`` files under ``directory``. A message a catalog lacks (or marks fuzzy) reads in English."""

    def __init__(self, directory: Path) -> None:
        self._by_language: dict[str, NullTranslations] = {
            language: _compile(directory / language / "LC_MESSAGES" / f"{DOMAIN}.po")
            for language in LANGUAGES
            if language != SOURCE_LANGUAGE
        }

    def of(self, language: str) -> NullTranslations:
        return self._by_language.get(language, _NONE)

    @contextmanager
    def speaking(self, language: str) -> Iterator[None]:
        """Within the block, :func:`gettext` and the templates speak ``language``."""
        reset = _active.set((language if language in LANGUAGES else SOURCE_LANGUAGE, self.of(language)))
        try:
            yield
        finally:
            _active.reset(reset)


def _compile(po_file: Path) -> NullTranslations:
    with po_file.open("rb") as source:
        catalog = read_po(source)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def current_language() -> str:
    """The language :meth:`Catalogs.speaking` set for this context (English outside one): a page's ``lang``."""
    return _active.get()[0]


def translate(message: str) -> str:
    """``message`` in the current language, as is (Jinja's new-style gettext fills its placeholders)."""
    return _active.get()[1].gettext(message)


def translate_plural(singular: str, plural: str, count: int) -> str:
    return _active.get()[1].ngettext(singular, plural, count)


def gettext(message: str, **variables: object) -> str:
    """``message`` in the current language, its ``%(name)s`` placeholders filled from ``variables``."""
    return translate(message) % variables


def ngettext(singular: str, plural: str, number: int, **variables: object) -> str:
    """The singular or plural form for ``number``, as the current language counts; ``%(num)s`` is ``number``."""
    return translate_plural(singular, plural, number) % {"num": number, **variables}


def N_(message: str) -> str:
    """Marks ``message`` for extraction; :func:`gettext` translates it where it is shown."""
    return message


def install(environment: Environment) -> None:
    """Jinja's i18n extension on ``environment``, reading the current context's translations."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        translate, translate_plural, newstyle=True
    )
