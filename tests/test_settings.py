"""The settings object never shows a secret it holds: a Settings logged or printed by mistake leaks nothing."""

from __future__ import annotations

from checkstand.settings import Settings


def test_the_settings_repr_shows_no_secret() -> None:
    secrets = {
        "secret_key": "k" * 43 + "=",
        "previous_secret_key": "p" * 43 + "=",
        "metrics_token": "metrics-token-0123456789",
        "smtp_url": "smtp://mailer:hunter2-smtp-password@mail.example:587",
    }
    settings = Settings(**secrets, smtp_from="shop@example.com")  # type: ignore[arg-type]

    shown = repr(settings) + str(settings)
    assert [name for name, value in secrets.items() if value in shown or value[:20] in shown] == []
    assert "hunter2" not in shown
