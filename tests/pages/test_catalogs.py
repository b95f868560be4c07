"""The hosted pages' and the receipts' message catalogs: the committed ``messages.pot`` is what the code and the
templates say today (re-extracted with Babel, as README's "adding a language" does), and every language has every
message translated, none fuzzy, with the placeholders its source has. No database: nothing here reads one."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

import checkstand
from checkstand.core import i18n

PACKAGE = Path(checkstand.__file__).parent
MODULES = [PACKAGE / "pages", PACKAGE / "receipts"]
TRANSLATED = [language for language in i18n.LANGUAGES if language != i18n.SOURCE_LANGUAGE]
MessageId = str | tuple[str, ...]


def extracted(module: Path) -> set[MessageId]:
    with (module / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: set[MessageId] = set()
    for _, _, message, _, _ in extract_from_dir(module, method_map, options_map):
        found.add(message)
    return found


def committed(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source)


def ids(catalog: Catalog) -> set[MessageId]:
    return {message.id for message in catalog if message.id}


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_the_committed_template_is_what_the_code_and_templates_say(module: Path) -> None:
    template = committed(module / "locales" / "messages.pot")

    in_code = extracted(module)

    assert in_code, "nothing was extracted: the babel.cfg mapping reads no file"
    assert in_code - ids(template) == set(), "new messages: run pybabel extract and update the catalogs"
    assert ids(template) - in_code == set(), "messages no longer used: run pybabel extract and update the catalogs"


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_every_message_is_translated_without_fuzzy_entries_and_with_its_placeholders(
    module: Path, language: str
) -> None:
    template = committed(module / "locales" / "messages.pot")
    catalog = committed(module / "locales" / language / "LC_MESSAGES" / "messages.po")

    missing = [
        message.id
        for message in template
        if message.id
        and (
            (found := catalog.get(message.id)) is None
            or found.fuzzy
            or not all(isinstance(form, str) and form for form in _forms(found.string))
        )
    ]
    problems = [(message.id, [str(error) for error in errors]) for message, errors in catalog.check()]

    assert missing == []
    assert problems == []
    assert ids(catalog) - ids(template) == set(), "obsolete entries: run pybabel update"


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_the_catalogs_compile_and_speak_their_language(module: Path) -> None:
    catalogs = i18n.Catalogs(module / "locales")

    with catalogs.speaking("de"):
        german = i18n.gettext("Total")
    with catalogs.speaking("ja"):
        japanese = i18n.gettext("Total")

    assert (german, japanese, i18n.gettext("Total")) == ("Gesamt", "合計", "Total")


def _forms(string: object) -> tuple[object, ...]:
    return string if isinstance(string, tuple) else (string,)
