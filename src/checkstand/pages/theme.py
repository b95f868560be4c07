"""The merchant's accent colour, adapted so the checkout page meets WCAG 2.1 AA contrast whatever was picked.

As Stripe does, any colour is accepted: the merchant's own fills the pay button, and the page derives what must be
read against it. Text on the accent is white or :data:`NEAR_BLACK`, whichever contrasts more. Contrast with white
falls and contrast with near-black rises as the accent's luminance ``L`` grows, so the better of the two is least
where they are equal, ``(L + 0.05)² = 1.05 * (L_nb + 0.05)``: ``sqrt(1.05 / (L_nb + 0.05))``, 4.51 for
``#050505``. No accent can bring it under 4.5:1 (a dark grey such as ``#1a1a1a`` would: 4.17).

Where the accent is text (links, the secondary button, the focus ring) on the page's background, the merchant's
colour is kept if it reaches 4.5:1 there, else the same hue is darkened (lightened on a dark background) by the
fewest 1/255 steps that reach it. Black or white, the last step, always does: their two contrasts with any
background multiply to 21, so the better one is at least sqrt(21) ≈ 4.58.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

RGB = tuple[int, int, int]

AA_TEXT: Final = 4.5
WHITE: Final = "#ffffff"
BLACK: Final = "#000000"
NEAR_BLACK: Final = "#050505"
# ``body`` in checkout.css. The card on it is white, lighter still, so dark text that reaches 4.5:1 here does there.
PAGE_BACKGROUND: Final = "#f4f5f7"


@dataclass(frozen=True)
class AccentTheme:
    """The page's theme variables, as ``#rrggbb``."""

    accent: str
    on_accent: str
    accent_text: str

    def css(self) -> str:
        return (
            f":root {{ --accent: {self.accent}; --on-accent: {self.on_accent}; --accent-text: {self.accent_text}; }}\n"
        )


@lru_cache(maxsize=1024)
def accent_theme(accent: str, background: str = PAGE_BACKGROUND) -> AccentTheme:
    """The theme for a merchant's ``#rrggbb`` accent on ``background``."""
    accent = accent.lower()
    on_accent = max((WHITE, NEAR_BLACK), key=lambda text: contrast_ratio(text, accent))
    return AccentTheme(accent=accent, on_accent=on_accent, accent_text=readable_on(accent, background))


def readable_on(color: str, background: str) -> str:
    """``color`` if it reaches AA on ``background``, else its hue shaded away from the background just enough."""
    if contrast_ratio(color, background) >= AA_TEXT:
        return color
    darken = contrast_ratio(BLACK, background) >= contrast_ratio(WHITE, background)
    rgb = parse_hex(color)
    shades = (_hex(_toward_black(rgb, keep) if darken else _toward_white(rgb, keep)) for keep in range(254, -1, -1))
    return next(shade for shade in shades if contrast_ratio(shade, background) >= AA_TEXT)


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.1 contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def relative_luminance(color: str) -> float:
    """WCAG 2.1 relative luminance of a ``#rrggbb`` colour: 0 for black, 1 for white."""
    red, green, blue = (_linear(channel) for channel in parse_hex(color))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def parse_hex(color: str) -> RGB:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _linear(channel: int) -> float:
    # WCAG's threshold (0.03928) and sRGB's (0.04045) agree on every 8-bit value: none lies between them.
    value = channel / 255
    return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4


def _toward_black(rgb: RGB, keep: int) -> RGB:
    """Each channel scaled by ``keep / 255``: the ratios between channels, hence the hue, stay."""
    red, green, blue = ((channel * keep + 127) // 255 for channel in rgb)
    return red, green, blue


def _toward_white(rgb: RGB, keep: int) -> RGB:
    """Each channel's distance to 255 scaled by ``keep / 255``: the hue stays."""
    red, green, blue = (255 - ((255 - channel) * keep + 127) // 255 for channel in rgb)
    return red, green, blue


def _hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)
