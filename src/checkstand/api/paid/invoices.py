"""Paid's ``Invoice``, as its invoice webhooks carry it: an invoice as its event recorded it (the domain's snapshot,
in PaymentKit's field names), in Paid's words. Its amounts are numbers in the currency's major unit (19.99), as an
order's are; a payment's, which Paid types as integers, stay in cents. Checkstand computes no tax, so tax is 0
and not applicable."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from checkstand.api.paid.ids import row_order_id
from checkstand.api.paid.wire import PaidModel, major_amount

# Checkstand's invoice states in Paid's two axes: the document's status and its payment's.
_STATUS: Final = {"draft": "draft", "void": "voided"}
_PAYMENT_STATUS: Final = {
    "paid": "paid",
    "partially_paid": "partiallyPaid",
    "past_due": "overdue",
    "uncollectible": "overdue",
}
MANUAL: Final = "manual"


class PaidInvoiceOut(PaidModel):
    """The SDK's ``Invoice``."""

    id: str
    display_number: str
    order_id: str | None
    customer_id: str
    status: str
    payment_status: str
    source: str
    start_date: datetime
    end_date: datetime | None
    issue_date: datetime
    posted_date: datetime | None
    due_date: datetime | None
    currency: str
    tax_amount: float
    tax_rate: int
    tax_status: str
    invoice_total_excluding_tax: float
    invoice_total: float
    amount_due: float
    amount_paid: float
    amount_remaining: float
    credit_notes_total: int
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    payment_link: None = None
    dispute_link: None = None
    public_url_token: None = None
    tax_exempt: bool = False
    billing_contact_id: None = None
    purchase_order_reference: None = None

    @classmethod
    def of_snapshot(cls, invoice: dict[str, Any]) -> PaidInvoiceOut:
        status = _STATUS.get(invoice["status"], "posted")
        order_row_id = invoice.get("subscription_id") or invoice.get("checkout_session_id")
        currency = invoice["currency"]
        return cls(
            id=invoice["id"],
            display_number=f"INV-{invoice['invoice_number']:04d}",
            order_id=row_order_id(order_row_id) if order_row_id else None,
            customer_id=invoice["customer_id"],
            status=status,
            payment_status=_PAYMENT_STATUS.get(invoice["status"], "pending"),
            source=MANUAL if invoice.get("billing_reason") == MANUAL else "order_based",
            start_date=invoice.get("period_start") or invoice["issued_at"],
            end_date=invoice.get("period_end"),
            issue_date=invoice["issued_at"],
            posted_date=invoice["issued_at"] if status != "draft" else None,
            due_date=invoice.get("due_date"),
            currency=currency.upper(),
            tax_amount=major_amount(invoice["tax_amount_atom"], currency),
            tax_rate=0,
            tax_status="not_applicable",
            invoice_total_excluding_tax=major_amount(
                invoice["total_amount_atom"] - invoice["tax_amount_atom"], currency
            ),
            invoice_total=major_amount(invoice["total_amount_atom"], currency),
            amount_due=major_amount(invoice["due_amount_atom"], currency),
            amount_paid=major_amount(invoice["paid_amount_atom"], currency),
            amount_remaining=major_amount(invoice["remaining_amount_atom"], currency),
            credit_notes_total=0,
            metadata=invoice.get("metadata") or {},
            created_at=invoice["created_at"],
            updated_at=invoice["updated_at"],
        )
