"""Contract terms: a recurring price with ``contract_term_multiple: N`` commits its customer for N billing periods
(a term), still billed every period. Terms are counted from the subscription's billing anchor, as its periods are
(:func:`checkstand.subscriptions.periods.term_end`), so nothing but the prices and the anchor says where a term ends.

At a term's end the contract renews for another term, unless a price says ``auto_renew: false`` or the merchant set
``cancel_at_period_end``: then the subscription ends instead of billing its next period, by the very path that ends
a subscription at its period's end (:func:`ends_at_renewal`, which the renewal, the next action and a change at the
period's end all read). While a term binds beyond the current period, a contract is served out: cancelling at once
is refused (``cancel_at_period_end`` ends it at the term's end), and a plan change may not end the commitment
sooner (:func:`require_term_kept`). A trial precedes the contract (its first period starts at the trial's end), so
neither rule holds during one, nor once the customer stops paying (past due, unpaid).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from checkstand.catalog.models import Price
from checkstand.core.errors import BusinessRuleViolation, Conflict
from checkstand.subscriptions.lifecycle import converts_trial
from checkstand.subscriptions.models import ACTIVE, PAUSED, Subscription
from checkstand.subscriptions.periods import term_end

# Why a subscription ends with its current period (the codes a refused manual renewal answers with).
CANCEL_AT_PERIOD_END: Final = "cancel_at_period_end"
CONTRACT_TERM_END: Final = "contract_term_end"
ENDING: Final = {
    CANCEL_AT_PERIOD_END: "is set to cancel at its period's end",
    CONTRACT_TERM_END: "ends with its contract term, which does not renew",
}
# Where a contract binds: a subscription being paid for.
BOUND: Final = frozenset({ACTIVE, PAUSED})


def ends_at_renewal(subscription: Subscription) -> str | None:
    """Why the subscription ends when its current period does instead of renewing (a key of :data:`ENDING`), or
    None when it renews. Within a term it always renews: ``cancel_at_period_end`` then means the term's end. A
    trial's end bills the first period rather than renewing, so only ``cancel_at_period_end`` ends a trial."""
    if converts_trial(subscription):
        return CANCEL_AT_PERIOD_END if subscription.cancel_at_period_end else None
    if subscription.current_period_end < subscription.term_end():
        return None
    if subscription.cancel_at_period_end:
        return CANCEL_AT_PERIOD_END
    if not subscription.renews_contract():
        return CONTRACT_TERM_END
    return None


def committed_until(subscription: Subscription) -> datetime | None:
    """The term's end while the contract binds beyond the current period, else None."""
    if subscription.status not in BOUND:
        return None
    end = subscription.term_end()
    return end if end > subscription.current_period_end else None


def require_cancellable_now(subscription: Subscription) -> None:
    """An immediate cancel would break a commitment still running: a 409 pointing at ``cancel_at_period_end``."""
    if (until := committed_until(subscription)) is not None:
        raise Conflict(
            f"Subscription {subscription.id} is committed to its contract term until {until.isoformat()}; set "
            "cancel_at_period_end to end it then.",
            code="contract_term_commitment",
        )


def require_term_kept(
    subscription: Subscription,
    prices: Iterable[Price],
    *,
    anchor: datetime,
    period_start: datetime,
    interval: tuple[str, int],
) -> None:
    """A plan change must not end a commitment sooner: the term the new ``prices`` would run in, its periods
    counted from ``anchor`` (a change of interval starts a new calendar at the change) and the new plan starting
    with the period at ``period_start``, must end no earlier than the current one. A change that keeps or extends it
    passes; one that would cut it short is a 422 ``contract_term_shortened``."""
    until = committed_until(subscription)
    if until is None:
        return
    periods = max((price.contract_term_multiple or 1 for price in prices), default=1)
    new_end = term_end(anchor, period_start, *interval, periods)
    if new_end < until:
        raise BusinessRuleViolation(
            f"Subscription {subscription.id} is committed until {until.isoformat()}; with the new plan its contract "
            f"term would end on {new_end.isoformat()}. Choose prices whose term reaches the commitment, or change "
            "the plan once the term has ended.",
            code="contract_term_shortened",
        )
