"""Brand settings: what the hosted page shows of the merchant. Checked here, so the API and the dashboard refuse the
same input with the same words, at the field they name.

A logo or icon is a web address, or an image uploaded to Checkstand: kept in the database (:class:`BrandImage`) and
served from :data:`IMAGE_PATH`, so the hosted page shows it under its own ``img-src 'self'``. An image is taken by
what its bytes are (PNG, JPEG, WebP or GIF), never by its name or declared type; SVG is refused, as it can carry
script. An image no slot uses any more is deleted with the change that let it go.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts.models import Account, BrandImage
from checkstand.core.errors import FieldProblem, InvalidFields
from checkstand.core.urls import UrlProblem, parse_web_url

IMAGE_PATH: Final = "/brand-images/"
IMAGE_SLOTS: Final = ("logo", "icon")
URL_FIELDS: Final = ("logo", "icon", "privacy_policy_url", "terms_of_service_url")
COLOR_FIELDS: Final = ("brand_color", "accent_color")
# The longest text each free-text field takes; a name can't be empty, as the page shows it in place of the account's.
TEXT_LIMITS: Final = {"name": 100, "legal_name": 200}
MAX_URL_LENGTH: Final = 2048
FIELDS: Final = (*TEXT_LIMITS, *COLOR_FIELDS, *URL_FIELDS)
COLOR_PATTERN: Final = r"^#[0-9a-fA-F]{6}$"
_COLOR: Final = re.compile(COLOR_PATTERN)
_ID_PREFIX: Final = "bimg_"
# What an image's first bytes are, by format: the only types served (WebP's RIFF header is checked apart).
_SIGNATURES: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
IMAGE_TYPES: Final = "PNG, JPEG, WebP or GIF"
_DATA_URLS: Final = tuple(f"data:image/{kind};base64," for kind in ("png", "jpeg", "gif", "webp"))
# CHECKSTAND_BRAND_IMAGE_MAX_BYTES's default: a logo shown 2.5rem high needs far less.
DEFAULT_MAX_IMAGE_BYTES: Final = 512 * 1024


def image_type(data: bytes) -> str | None:
    """The media type the bytes' own signature names, or ``None`` for anything not served (SVG, text, ...)."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check(
    changes: Mapping[str, str | None], images: Mapping[str, bytes], *, max_image_bytes: int
) -> list[FieldProblem]:
    """Every problem of an update at once, each at its field; an empty list when it can be applied."""
    problems: list[FieldProblem] = []
    for field, value in changes.items():
        if field not in FIELDS:
            problems.append(FieldProblem((field,), "is not a brand setting", "extra_forbidden"))
        elif value is None:
            continue
        elif field in TEXT_LIMITS:
            if field == "name" and not value:
                problems.append(FieldProblem((field,), "can't be empty; give the name customers see"))
            elif len(value) > TEXT_LIMITS[field]:
                problems.append(FieldProblem((field,), f"must be at most {TEXT_LIMITS[field]} characters"))
        elif field in COLOR_FIELDS:
            if not _COLOR.fullmatch(value):
                problems.append(FieldProblem((field,), "must be a colour as # and six hex digits, like #4f46e5"))
        elif len(value) > MAX_URL_LENGTH:
            problems.append(FieldProblem((field,), f"must be at most {MAX_URL_LENGTH} characters"))
        else:
            try:
                parse_web_url(value)
            except UrlProblem as problem:
                problems.append(FieldProblem((field,), problem.message, problem.type))
    for slot, data in images.items():
        if slot not in IMAGE_SLOTS:
            problems.append(FieldProblem((slot,), "is not an image Checkstand keeps", "extra_forbidden"))
        elif slot in changes:
            problems.append(FieldProblem((slot,), "give either a URL or an uploaded image, not both"))
        elif not data:
            problems.append(FieldProblem((slot,), "is an empty file", "image_empty"))
        elif len(data) > max_image_bytes:
            limit = f"{max_image_bytes // 1024} KiB" if max_image_bytes % 1024 == 0 else f"{max_image_bytes} bytes"
            problems.append(FieldProblem((slot,), f"is larger than {limit}", "image_too_large"))
        elif image_type(data) is None:
            problems.append(
                FieldProblem((slot,), f"must be a {IMAGE_TYPES} image (SVG is not taken)", "image_type_not_allowed")
            )
    return problems


async def update_brand_settings(
    session: AsyncSession,
    account: Account,
    changes: Mapping[str, str | None],
    images: Mapping[str, bytes] | None = None,
    *,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
) -> Account:
    """Apply what was given, and only that; refused as a whole (nothing changed) when any field is wrong. A field
    given as ``None`` is cleared; an image replaces its slot's URL and a URL its slot's image."""
    uploads = images or {}
    problems = check(changes, uploads, max_image_bytes=max_image_bytes)
    if problems:
        raise InvalidFields(problems)
    held = {account.brand_settings.get(_image_key(slot)) for slot in IMAGE_SLOTS} - {None}
    brand = _changed(account.brand_settings, changes)
    for slot, data in uploads.items():
        brand[_image_key(slot)] = await _keep(session, account.id, data)
        brand.pop(slot, None)
    account.brand_settings = brand
    unused = held - {brand.get(_image_key(slot)) for slot in IMAGE_SLOTS}
    if unused:
        await session.execute(
            delete(BrandImage).where(BrandImage.account_id == account.id, BrandImage.id.in_(sorted(unused)))
        )
    await session.flush()
    return account


def preview(brand: Mapping[str, Any], changes: Mapping[str, str | None], images: Mapping[str, bytes]) -> dict[str, Any]:
    """The settings as saving a checked update would leave them, an image not stored yet as a ``data:`` URL: what a
    preview of the page shows, with nothing written."""
    previewed = _changed(brand, changes)
    for slot, data in images.items():
        previewed.pop(_image_key(slot), None)
        previewed[slot] = data_url(data)
    return previewed


def _changed(brand: Mapping[str, Any], changes: Mapping[str, str | None]) -> dict[str, Any]:
    """``brand`` with checked changes applied: a URL stored normalised, ``None`` clearing a field, a slot's URL
    taking the place of its uploaded image."""
    changed = dict(brand)
    for field, value in changes.items():
        if value is None:
            changed.pop(field, None)
        else:
            changed[field] = parse_web_url(value).text if field in URL_FIELDS else value
        if field in IMAGE_SLOTS:
            changed.pop(_image_key(field), None)
    return changed


def image_url(brand: Mapping[str, Any], slot: str, base: str) -> str | None:
    """Where a slot's image is: its uploaded image under ``base`` (the public URL; ``""`` for a path on this host),
    else the URL given, else ``None``."""
    image_id = brand.get(_image_key(slot))
    if isinstance(image_id, str):
        return f"{base}{IMAGE_PATH}{image_id}"
    value = brand.get(slot)
    return value if isinstance(value, str) else None


def page_logo(brand: Mapping[str, Any]) -> str | None:
    """The logo a page shows: an uploaded one from this host, one given as an https URL (never plain http, which a
    page served over https would block or show as insecure), or an image not uploaded yet as a ``data:`` URL (only
    a preview holds one: no stored setting can, and the hosted page's policy would block it)."""
    logo = image_url(brand, "logo", "")
    return logo if logo is not None and logo.startswith((IMAGE_PATH, "https://", *_DATA_URLS)) else None


def data_url(data: bytes) -> str | None:
    """An image not stored yet as a ``data:`` URL of the type its bytes are; ``None`` for anything else."""
    media_type = image_type(data)
    return None if media_type is None else f"data:{media_type};base64,{base64.b64encode(data).decode()}"


async def find_image(session: AsyncSession, image_id: str) -> BrandImage | None:
    """An image by its id alone: whoever was shown the URL may fetch it (the customers of the hosted page)."""
    if not image_id.startswith(_ID_PREFIX) or len(image_id) > 80:
        return None
    return await session.get(BrandImage, image_id)


async def _keep(session: AsyncSession, account_id: str, data: bytes) -> str:
    """The image's id, stored now unless this account uploaded the very same bytes before."""
    image_id = _ID_PREFIX + hashlib.sha256(account_id.encode() + b"\x00" + data).hexdigest()
    if await session.get(BrandImage, image_id) is None:
        content_type = image_type(data)
        assert content_type is not None  # checked before anything is written
        session.add(BrandImage(id=image_id, account_id=account_id, content_type=content_type, data=data))
    return image_id


def _image_key(slot: str) -> str:
    return f"{slot}_image"
