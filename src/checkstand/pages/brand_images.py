"""A merchant's uploaded logo or icon, served by Checkstand so the hosted page shows it under ``img-src 'self'``.

Public, as the page's customers fetch it, and keyed by the image's id alone: a digest of the account and the bytes,
so the URL can't be guessed and never names another image, and the response is cached for good. Served only as
the image type its own bytes were found to be when it was uploaded, never sniffed, and under a policy that lets it
run nothing, should a browser be shown it as a document.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter
from fastapi.responses import Response

from checkstand.accounts import branding
from checkstand.api.http.unit_of_work import Session

router = APIRouter(prefix=branding.IMAGE_PATH.rstrip("/"), tags=["brand images"], include_in_schema=False)

_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "X-Content-Type-Options": "nosniff",
}
# A year, and never revalidated: an id is its bytes' digest, so what it names never changes.
_CACHED: Final = "public, max-age=31536000, immutable"


@router.get("/{image_id}")
async def brand_image(image_id: str, session: Session) -> Response:
    image = await branding.find_image(session, image_id)
    if image is None:
        return Response("Not found", status_code=404, media_type="text/plain", headers=_HEADERS)
    return Response(image.data, media_type=image.content_type, headers={**_HEADERS, "Cache-Control": _CACHED})
