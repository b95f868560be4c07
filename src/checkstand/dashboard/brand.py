"""Brand settings in the dashboard (issue 15): what the hosted page shows of the merchant, with a preview of that
page beside the form.

Saving goes through the very service call the API's ``PATCH brand-settings`` makes (same checks, same messages,
shown next to the field each names); the form only turns its text into the service's input, a blank field clearing
its setting. "Preview" posts the same form into the frame beside it: the hosted page rendered by the page's own code
(:func:`checkstand.pages.checkout.render_preview`) for a sample session with the settings as typed, a logo not
uploaded yet shown from its bytes. The sample is made in a transaction that is rolled back, so a preview writes
nothing; the frame's page can't submit anything or run a script."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile

from checkstand.accounts import branding
from checkstand.accounts import service as accounts
from checkstand.api.http.unit_of_work import Session
from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutSession
from checkstand.core.errors import InvalidFields
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, database, redirect, render
from checkstand.pages import checkout as hosted_page
from checkstand.pages.theme import accent_theme

router = APIRouter(prefix=f"{PREFIX}/branding", include_in_schema=False)

PREVIEW_PATH: Final = f"{router.prefix}/preview"
THEME_PATH: Final = f"{router.prefix}/theme.css"
# The form's text fields, in the order shown: each a brand setting of the same name.
TEXT_FIELDS: Final = (
    "name",
    "legal_name",
    "accent_color",
    "brand_color",
    "terms_of_service_url",
    "privacy_policy_url",
)
REMOVE_LOGO: Final = "remove_logo"
_COLOR: Final = re.compile(branding.COLOR_PATTERN)
# The dashboard's own policy, plus the preview's frame.
_PAGE_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# The preview in its frame: the hosted page's styles and images (a logo not uploaded yet is a data: URL), framed by
# the dashboard only, and inert: no script, no form submits anywhere.
_PREVIEW_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data: https:; form-action 'none'; "
        "frame-ancestors 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass
class BrandForm:
    """The form as typed (shown again after a refusal) and the service's problems, by field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str:
        return self.values.get(name, "")


@router.get("")
async def brand_page(request: Request, user: SignedInUser, session: Session) -> Response:
    account = await accounts.get_account(session, user.account_id)
    brand = account.brand_settings
    values = {name: str(brand.get(name) or "") for name in TEXT_FIELDS}
    saved = request.query_params.get("saved") == "1"
    return _page(request, user, BrandForm(values), account.brand_settings, saved=saved, status_code=200)


@router.post("")
async def save(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    limit: int = request.app.state.settings.brand_image_max_bytes
    typed, changes, images = await _read(form, limit)
    account = await accounts.get_account(session, user.account_id)
    try:
        await accounts.update_brand_settings(session, account, changes, images, max_image_bytes=limit)
    except InvalidFields as refused:
        for problem in refused.problems:
            typed.errors.setdefault(str(problem.path[0]), problem.msg)
        return _page(request, user, typed, account.brand_settings, saved=False, status_code=422)
    return redirect(f"{router.prefix}?saved=1")


@router.get("/preview")
async def saved_preview(request: Request, user: SignedInUser) -> Response:
    """The page as the saved settings show it: the frame's first content."""
    return await _preview(request, user, {}, {})


@router.post("/preview")
async def preview(request: Request, user: SignedInUser, form: CheckedForm) -> Response:
    _typed, changes, images = await _read(form, request.app.state.settings.brand_image_max_bytes)
    return await _preview(request, user, changes, images)


@router.get("/theme.css")
async def theme(user: SignedInUser, accent_color: str = "") -> Response:
    """The preview's accent colour as the hosted page's stylesheet would give it (no inline style is allowed)."""
    css = accent_theme(accent_color).css() if _COLOR.fullmatch(accent_color) else ""
    return Response(css, media_type="text/css", headers=dict(_PREVIEW_HEADERS))


async def _preview(
    request: Request, user: SignedInUser, changes: dict[str, str | None], images: dict[str, bytes]
) -> Response:
    limit: int = request.app.state.settings.brand_image_max_bytes
    problems = branding.check(changes, images, max_image_bytes=limit)
    if problems:
        html = render(request, "brand_preview_refused.html", user=user, status_code=422, problems=problems)
        html.headers.update(_PREVIEW_HEADERS)
        return html
    async with database(request).writing() as scratch:
        account = await accounts.get_account(scratch, user.account_id)
        brand = branding.preview(account.brand_settings, changes, images)
        accent = brand.get("accent_color")
        theme_url = THEME_PATH + (f"?accent_color=%23{accent[1:]}" if isinstance(accent, str) else "")
        sample = await _sample_session(scratch, user.account_id)
        page = await hosted_page.render_preview(
            request, scratch, sample, hosted_page.BrandPreview(brand=brand, theme_url=theme_url)
        )
        # The sample was never meant to exist: nothing of it is kept.
        await scratch.rollback()
    page.headers.update(_PREVIEW_HEADERS)
    return page


async def _sample_session(scratch: AsyncSession, account_id: str) -> CheckoutSession:
    """An open session of sample items, made by the services as a real one is, in a transaction the caller rolls
    back."""
    plan = await catalog.create_product(scratch, account_id, name="Pro plan (sample)")
    monthly = await catalog.create_price(
        scratch, account_id, product_id=plan.id, currency="usd", unit_amount_atom=2400, recurring_interval="month"
    )
    setup = await catalog.create_product(scratch, account_id, name="Setup (sample)")
    once = await catalog.create_price(scratch, account_id, product_id=setup.id, currency="usd", unit_amount_atom=1000)
    return await checkout_service.create_session(
        scratch,
        account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.example/thanks",
            return_url="https://shop.example/cart",
            line_items=[
                checkout_service.LineItemSpec(price_id=monthly.id),
                checkout_service.LineItemSpec(price_id=once.id),
            ],
        ),
    )


async def _read(form: FormData, limit: int) -> tuple[BrandForm, dict[str, str | None], dict[str, bytes]]:
    """The form as typed, and the service's input: every text field (blank clears it), the logo when one was
    chosen (a file input left empty sends an empty part without a name; a file is read one byte past ``limit``,
    enough to refuse it), or its removal."""
    typed = BrandForm({name: _text(form.get(name)) for name in TEXT_FIELDS})
    changes: dict[str, str | None] = {name: value.strip() or None for name, value in typed.values.items()}
    images: dict[str, bytes] = {}
    logo = form.get("logo")
    if form.get(REMOVE_LOGO) == "1":
        changes["logo"] = None
    elif isinstance(logo, UploadFile) and (logo.filename or logo.size):
        images["logo"] = await logo.read(limit + 1)
    return typed, changes, images


def _page(
    request: Request,
    user: SignedInUser,
    form: BrandForm,
    brand: dict[str, object],
    *,
    saved: bool,
    status_code: int,
) -> Response:
    page = render(
        request,
        "brand.html",
        user=user,
        status_code=status_code,
        form=form,
        fields=TEXT_FIELDS,
        logo=branding.image_url(brand, "logo", ""),
        saved=saved,
        image_types=branding.IMAGE_TYPES,
        preview_path=PREVIEW_PATH,
        remove_logo=REMOVE_LOGO,
    )
    page.headers["Content-Security-Policy"] = _PAGE_POLICY
    return page


def _text(value: object) -> str:
    return value[: branding.MAX_URL_LENGTH] if isinstance(value, str) else ""
