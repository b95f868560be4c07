"""The merchant's accent colour meets WCAG 2.1 AA contrast on the checkout page, whatever colour was picked."""

from __future__ import annotations

import colorsys
import math
import re
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.pages import theme
from checkstand.pages.theme import AA_TEXT, NEAR_BLACK, PAGE_BACKGROUND, WHITE, accent_theme, contrast_ratio
from tests.conftest import bearer
from tests.payments import flow
from tests.shop import Shop

STYLESHEET = Path(theme.__file__).parent / "static" / "checkout.css"
colors = st.integers(min_value=0, max_value=0xFFFFFF).map(lambda value: f"#{value:06x}")
# The page's own background, its white card, and a dark one (where the accent is lightened instead).
backgrounds = st.sampled_from([PAGE_BACKGROUND, WHITE, "#121212"])


def test_known_contrast_ratios() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.478, abs=0.001)
    assert contrast_ratio("#777777", "#ffffff") < AA_TEXT
    assert contrast_ratio("#0b57d0", "#0b57d0") == 1.0


def test_text_on_any_accent_reaches_aa_at_the_worst_accent() -> None:
    """The better of white and near-black is least where both are equal; that least must reach AA."""

    def worst_case(dark: str) -> float:
        return math.sqrt(1.05 / (theme.relative_luminance(dark) + 0.05))

    assert worst_case(NEAR_BLACK) >= AA_TEXT
    # A softer near-black would not do: some accent would read at 4.17:1 with either text colour.
    assert worst_case("#1a1a1a") < AA_TEXT


@settings(max_examples=1_000)
@given(accent=colors, background=backgrounds)
def test_every_accent_yields_aa_text_on_it_and_aa_accent_text_on_the_background(accent: str, background: str) -> None:
    derived = accent_theme(accent, background)

    assert derived.accent == accent
    assert contrast_ratio(derived.on_accent, accent) >= AA_TEXT
    assert contrast_ratio(derived.accent_text, background) >= AA_TEXT
    if contrast_ratio(accent, background) >= AA_TEXT:
        assert derived.accent_text == accent
    else:
        # Just enough: one 1/255 step at a time, the first shade that reaches AA is barely past it.
        assert contrast_ratio(derived.accent_text, background) < AA_TEXT * 1.05


def test_a_pale_accent_is_darkened_in_its_own_hue_just_enough() -> None:
    derived = accent_theme("#FFEE00")

    assert derived.accent == "#ffee00"
    assert derived.on_accent == NEAR_BLACK
    assert derived.accent_text == "#7a7200"
    assert contrast_ratio("#7b7300", PAGE_BACKGROUND) < AA_TEXT <= contrast_ratio("#7a7200", PAGE_BACKGROUND)
    hue = colorsys.rgb_to_hsv(*(channel / 255 for channel in theme.parse_hex("#ffee00")))[0]
    assert colorsys.rgb_to_hsv(*(channel / 255 for channel in theme.parse_hex("#7a7200")))[0] == pytest.approx(
        hue, abs=0.002
    )


def test_a_dark_accent_is_kept_and_takes_white_text() -> None:
    assert accent_theme("#123abc") == theme.AccentTheme(accent="#123abc", on_accent=WHITE, accent_text="#123abc")


def test_the_stylesheets_defaults_are_what_the_theme_derives_and_use_the_derived_colours() -> None:
    css = STYLESHEET.read_text()
    root = re.search(r":root \{([^}]*)\}", css)
    body = re.search(r"\bbody \{[^}]*background: (#[0-9a-f]{6});", css)
    assert root is not None
    assert body is not None
    defaults = dict(re.findall(r"--([\w-]+): (#[0-9a-f]{6});", root.group(1)))

    assert body.group(1) == PAGE_BACKGROUND
    derived = accent_theme(defaults["accent"])
    assert defaults == {"accent": derived.accent, "on-accent": derived.on_accent, "accent-text": derived.accent_text}
    assert contrast_ratio(defaults["accent-text"], PAGE_BACKGROUND) >= AA_TEXT
    assert contrast_ratio(defaults["on-accent"], defaults["accent"]) >= AA_TEXT
    # The raw accent is only ever a fill or a border, never a text colour or the focus ring.
    assert not re.search(r"(?<![-\w])color: var\(--accent\)", css)
    assert not re.search(r"outline: [^;]*var\(--accent\)", css)


async def test_the_theme_route_serves_the_adapted_colours_of_a_pale_accent_set_through_the_settings_api(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt])
    before = await client.get(f"/c/{opened.secure_token}/theme.css")
    assert before.status_code == 200
    assert before.text == ""

    updated = await client.patch(
        f"/api/accounts/{shop.account_id}/brand-settings", json={"accent_color": "#FFEE00"}, headers=bearer(shop.secret)
    )
    assert updated.status_code == 200
    served = await client.get(f"/c/{opened.secure_token}/theme.css")

    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/css")
    assert served.text == ":root { --accent: #ffee00; --on-accent: #050505; --accent-text: #7a7200; }\n"
