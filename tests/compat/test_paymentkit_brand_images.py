"""The ``payment-kit`` SDK's ``update_brand_settings`` file upload against a real server: the logo it sends is served
back by Checkstand, byte for byte; a file that is no image is refused at its field and the old logo kept."""

from __future__ import annotations

import httpx
import pytest
from payment_kit import PaymentKit
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError

from tests.images import SVG, png


def test_the_sdks_logo_upload_is_served_back(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    logo = png(rgb=(10, 20, 30))

    updated = client.accounts.update_brand_settings(
        account_id, name="Acme", accent_color="#0055aa", logo=("logo.png", logo, "image/png")
    )

    assert updated.brand_settings is not None
    assert updated.brand_settings.name == "Acme"
    url = updated.brand_settings.logo
    assert url is not None
    assert client.accounts.get_brand_settings(account_id).logo == url
    served = httpx.get(url)
    assert served.status_code == 200
    assert served.content == logo
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in served.headers["cache-control"]
    assert served.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    ("name", "content"), [("logo.svg", SVG), ("logo.png", b"not an image at all\n"), ("big.png", png(padding=600_000))]
)
def test_a_file_that_is_no_image_or_too_large_is_refused_and_the_old_logo_kept(
    paymentkit: tuple[PaymentKit, str], name: str, content: bytes
) -> None:
    client, account_id = paymentkit
    kept = client.accounts.update_brand_settings(account_id, logo=("logo.png", png(), "image/png")).brand_settings
    assert kept is not None

    with pytest.raises(UnprocessableEntityError) as refused:
        client.accounts.update_brand_settings(account_id, name="Changed", logo=(name, content, "image/png"))

    detail = refused.value.body.detail
    assert detail is not None
    assert [problem.loc[-1] for problem in detail] == ["logo"]
    after = client.accounts.get_brand_settings(account_id)
    assert (after.logo, after.name) == (kept.logo, None)
    assert httpx.get(kept.logo or "").content == png()
