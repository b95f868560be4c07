"""Imports every module's tables so ``Base.metadata`` knows them all (for Alembic and the tests)."""

from checkstand.accounts import models as accounts_models
from checkstand.core import idempotency
from checkstand.db import Base

__all__ = ["Base", "accounts_models", "idempotency"]
