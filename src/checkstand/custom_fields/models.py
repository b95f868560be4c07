"""Custom field definitions. A definition says what it is in an event (``snapshot``, in PaymentKit's field
names)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.db import Base, TimestampedMixin


class CustomFieldDefinition(TimestampedMixin, Base):
    """A merchant-defined field that objects of one entity type may carry in their ``custom_fields``.

    ``field_key`` is unique per account and entity type: it is the key values are stored under, so two
    definitions sharing it would make a stored value ambiguous."""

    __tablename__ = "custom_field_definitions"
    __table_args__ = (
        UniqueConstraint("account_id", "entity_type", "field_key"),
        Index("ix_custom_field_definitions_account_created", "account_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(32))
    field_key: Mapped[str] = mapped_column(String(64))
    data_type: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    constraints: Mapped[dict[str, Any]] = mapped_column(default=dict)

    aggregate_type: ClassVar[str] = "custom_field_definition"

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "field_key": self.field_key,
            "entity_type": self.entity_type,
            "data_type": self.data_type,
            "display_name": self.display_name,
            "description": self.description,
            "constraints": self.constraints,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
