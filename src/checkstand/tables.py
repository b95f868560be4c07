"""Imports every module's tables so ``Base.metadata`` knows them all (for Alembic and the tests)."""

from checkstand.accounts import models as accounts_models
from checkstand.api.http import idempotency
from checkstand.catalog import models as catalog_models
from checkstand.checkout import models as checkout_models
from checkstand.custom_fields import models as custom_fields_models
from checkstand.customers import models as customers_models
from checkstand.dashboard import models as dashboard_models
from checkstand.db import Base
from checkstand.discounts import models as discounts_models
from checkstand.events import models as events_models
from checkstand.heartbeats import models as heartbeats_models
from checkstand.invoices import models as invoices_models
from checkstand.payment_links import models as payment_links_models
from checkstand.payment_methods import models as payment_methods_models
from checkstand.payments import models as payments_models
from checkstand.processors import models as processors_models
from checkstand.receipts import models as receipts_models
from checkstand.secret_key import models as secret_key_models
from checkstand.subscriptions import models as subscriptions_models
from checkstand.test_clocks import models as test_clocks_models
from checkstand.usage import models as usage_models
from checkstand.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "accounts_models",
    "catalog_models",
    "checkout_models",
    "custom_fields_models",
    "customers_models",
    "dashboard_models",
    "discounts_models",
    "events_models",
    "heartbeats_models",
    "idempotency",
    "invoices_models",
    "payment_links_models",
    "payment_methods_models",
    "payments_models",
    "processors_models",
    "receipts_models",
    "secret_key_models",
    "subscriptions_models",
    "test_clocks_models",
    "usage_models",
    "webhooks_models",
]
