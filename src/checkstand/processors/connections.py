"""Processor connections: the built-in ``simulator`` and ``stripe`` accounts, one row each per account.

Stripe's keys are sealed with the at-rest key (:class:`~checkstand.core.crypto.SecretBox`, passed in by the caller)
before they reach the session, so no plaintext credential is ever bound into SQL, an event or a response;
:func:`open_credentials` is the one way back. Deleting a connection keeps its row for the payment attempts that name
it, but forgets its credentials; it is refused while a processor route names the processor. The check locks the
processor row (``FOR UPDATE`` on PostgreSQL; SQLite runs one writer at a time), and a route being stored locks its
processors shared first (:mod:`checkstand.processors.routes`), so the two can't both succeed.

A Stripe connection's ``api_base`` is where Checkstand sends the secret key and reads payment results from, so a
merchant could otherwise point it at this machine or its network (SSRF). Unless the operator allows it
(``CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS``, for localstripe), it is refused when stored if it is not https or
names a private address or ``localhost`` (:func:`checkstand.webhooks.egress.url_refusal`), and a name is checked
again on every request once it is resolved (:class:`checkstand.processors.stripe.StripeProcessor`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import Conflict, FieldPath, FieldProblem, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.money import is_currency
from checkstand.core.pagination import Page, paginate
from checkstand.core.urls import UrlProblem, WebUrl, parse_web_url
from checkstand.events.service import record_event, snapshot
from checkstand.processors.models import Processor, ProcessorRouteEntry
from checkstand.webhooks.egress import url_refusal

SIMULATOR: Final = "simulator"
STRIPE: Final = "stripe"
PROCESSOR_TYPES: Final = (SIMULATOR, STRIPE)
# Enough currencies for a simulator to take any test payment, including zero- and three-decimal ones.
SIMULATOR_DEFAULT_CURRENCIES: Final = ("usd", "eur", "gbp", "jpy", "kwd")
MAX_CURRENCIES: Final = 200
DEMO_SIMULATOR_NAME: Final = "Simulator"

# Stripe's secret and restricted keys, and its webhook signing secrets.
SECRET_KEY_PATTERN: Final = re.compile(r"^(?:sk|rk)_(?:test|live)_[0-9A-Za-z]{8,240}$")
WEBHOOK_SECRET_PATTERN: Final = re.compile(r"^whsec_[0-9A-Za-z+/=_-]{8,240}$")
# Stripe's publishable key: no secret (Stripe.js sends it from every customer's browser), so it is stored plain.
PUBLISHABLE_KEY_PATTERN: Final = re.compile(r"^pk_(?:test|live)_[0-9A-Za-z]{8,240}$")
CREDENTIAL_FIELDS: Final = ("secret_key", "webhook_secret")
STRIPE_ONLY_FIELDS: Final = (*CREDENTIAL_FIELDS, "api_base", "publishable_key")
# Named in every refusal of an api_base, when it is stored and when it is connected to.
ALLOW_PRIVATE_SETTING: Final = "CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS=true"
MAX_API_BASE_LENGTH: Final = 2048  # the column's


@dataclass(frozen=True)
class StripeCredentials:
    """A Stripe connection's secrets, decrypted: they exist only in memory, and never in a repr or a log line."""

    secret_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)

    def sealed(self, box: SecretBox) -> str:
        return box.seal(json.dumps({"secret_key": self.secret_key, "webhook_secret": self.webhook_secret}))


PROCESSOR_LIST: Final = ListSpec(
    filterable={"type": Processor.type, "is_active": Processor.is_active, "name": Processor.name},
    sortable={"created_at": Processor.created_at, "updated_at": Processor.updated_at, "name": Processor.name},
    searchable=(Processor.name,),
    created_at=Processor.created_at,
    tiebreak=Processor.id,
)


async def create_processor(
    session: AsyncSession,
    account_id: str,
    box: SecretBox,
    *,
    name: str,
    type: str,
    currencies: Sequence[str] | None = None,
    is_available: bool | None = None,
    is_active: bool = True,
    secret_key: str | None = None,
    webhook_secret: str | None = None,
    api_base: str | None = None,
    publishable_key: str | None = None,
    metadata: Mapping[str, str] | None = None,
    allow_private_urls: bool = False,
) -> Processor:
    """Connect a processor. A simulator takes no credentials and defaults to a handful of currencies; a Stripe
    connection needs its secret key, webhook secret and currencies, and its publishable key for the hosted page to
    show Stripe's card form (without one it is charged through the API only). Every problem is reported at once.
    ``allow_private_urls`` is the operator's ``CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS`` (see the module)."""
    if type not in PROCESSOR_TYPES:
        raise InvalidFields.one(("type",), "must be simulator or stripe", "enum")
    sent = {
        "secret_key": secret_key,
        "webhook_secret": webhook_secret,
        "api_base": api_base,
        "publishable_key": publishable_key,
    }
    problems: list[FieldProblem] = []
    if type == SIMULATOR:
        problems += _simulator_only(setting for setting, value in sent.items() if value is not None)
        currencies = SIMULATOR_DEFAULT_CURRENCIES if currencies is None else currencies
    else:
        problems += [
            FieldProblem((setting,), f"a stripe processor needs its {setting}", "missing")
            for setting in CREDENTIAL_FIELDS
            if sent[setting] is None
        ]
        if currencies is None:
            problems.append(FieldProblem(("currencies",), "a stripe processor needs its currencies", "missing"))
        if is_available is False:
            problems.append(_availability_problem())
        api_base, api_base_problems = _checked_api_base(api_base, allow_private=allow_private_urls)
        problems += api_base_problems
    checked_currencies: list[str] = []
    if currencies is not None:
        checked_currencies, currency_problems = _checked_currencies(currencies)
        problems += currency_problems
    problems += _credential_problems(secret_key, webhook_secret)
    problems += _publishable_key_problems(publishable_key, livemode=None if secret_key is None else _live(secret_key))
    if problems:
        raise InvalidFields(problems)
    processor = Processor(
        id=new_id("proc"),
        account_id=account_id,
        name=name,
        type=type,
        currencies=checked_currencies,
        is_available=True if is_available is None else is_available,
        is_active=is_active,
        api_base=api_base,
        publishable_key=publishable_key,
        processor_metadata=dict(metadata or {}),
    )
    if secret_key is not None and webhook_secret is not None:
        _store_credentials(processor, box, StripeCredentials(secret_key, webhook_secret))
    return await _add_processor(session, processor)


async def connect_simulator(session: AsyncSession, account_id: str, *, name: str = DEMO_SIMULATOR_NAME) -> Processor:
    """A simulator with the default currencies: what a new demo account starts with, so a test payment needs no
    set-up. It has no credentials, so no key is needed."""
    processor = Processor(
        id=new_id("proc"),
        account_id=account_id,
        name=name,
        type=SIMULATOR,
        currencies=list(SIMULATOR_DEFAULT_CURRENCIES),
        is_available=True,
        is_active=True,
        processor_metadata={},
    )
    return await _add_processor(session, processor)


async def _add_processor(session: AsyncSession, processor: Processor) -> Processor:
    session.add(processor)
    await session.flush()
    await record_event(session, account_id=processor.account_id, type="processor.created", obj=processor)
    return processor


async def get_processor(
    session: AsyncSession, account_id: str, processor_id: str, *, for_update: bool = False
) -> Processor:
    """A connected (not deleted) processor of the account."""
    query = select(Processor).where(
        Processor.id == processor_id, Processor.account_id == account_id, Processor.deleted_at.is_(None)
    )
    if for_update:
        query = locked(query)
    return await one_or_not_found(session, query, "processor", processor_id)


async def list_processors(session: AsyncSession, account_id: str, params: ListParams) -> Page[Processor]:
    """The account's connected processors, newest first unless sorted otherwise."""
    query = select(Processor).where(Processor.account_id == account_id, Processor.deleted_at.is_(None))
    return await paginate(session, apply_list_params(query, PROCESSOR_LIST, params), params.page)


async def update_processor(
    session: AsyncSession,
    account_id: str,
    processor_id: str,
    changes: Mapping[str, Any],
    box: SecretBox,
    *,
    allow_private_urls: bool = False,
) -> Processor:
    """Change ``name``, ``currencies``, ``is_available``, ``is_active``, ``metadata`` (merged; a key set to ""
    is removed) and, for Stripe, ``secret_key``, ``webhook_secret`` (each replaced on its own), ``api_base`` (checked
    as :func:`create_processor` does) and ``publishable_key`` (None clears either). The row is locked, so two
    credential changes can't each undo the other."""
    processor = await get_processor(session, account_id, processor_id, for_update=True)
    problems: list[FieldProblem] = []
    api_base: str | None = None
    if processor.type == SIMULATOR:
        problems += _simulator_only(setting for setting in STRIPE_ONLY_FIELDS if setting in changes)
    else:
        problems += [
            FieldProblem((setting,), "can't be null; send a new value to replace it", "missing")
            for setting in CREDENTIAL_FIELDS
            if setting in changes and changes[setting] is None
        ]
        if changes.get("is_available") is False:
            problems.append(_availability_problem())
        api_base, api_base_problems = _checked_api_base(changes.get("api_base"), allow_private=allow_private_urls)
        problems += api_base_problems
    currencies: list[str] = []
    if "currencies" in changes:
        currencies, currency_problems = _checked_currencies(changes["currencies"])
        problems += currency_problems
    problems += _credential_problems(changes.get("secret_key"), changes.get("webhook_secret"))
    new_secret = changes.get("secret_key")
    livemode = processor.livemode if new_secret is None else _live(new_secret)
    publishable_key = changes.get("publishable_key", processor.publishable_key)
    if "publishable_key" in changes or new_secret is not None:
        problems += _publishable_key_problems(publishable_key, livemode=livemode)
    if problems:
        raise InvalidFields(problems)

    before = snapshot(processor)
    if "name" in changes:
        processor.name = changes["name"]
    if "currencies" in changes:
        processor.currencies = currencies
    for flag in ("is_available", "is_active"):
        if flag in changes:
            setattr(processor, flag, bool(changes[flag]))
    if "api_base" in changes:
        processor.api_base = api_base
    if "publishable_key" in changes:
        processor.publishable_key = changes["publishable_key"]
    if "metadata" in changes:
        # Merged key by key as Stripe does: "" removes a key, null removes them all.
        merged = {**processor.processor_metadata, **changes["metadata"]} if changes["metadata"] is not None else {}
        processor.processor_metadata = {key: value for key, value in merged.items() if value != ""}
    if any(changes.get(name) is not None for name in CREDENTIAL_FIELDS):
        current = open_credentials(box, processor)
        assert current is not None  # a connected Stripe processor always has both secrets
        _store_credentials(
            processor,
            box,
            StripeCredentials(
                secret_key=changes.get("secret_key") or current.secret_key,
                webhook_secret=changes.get("webhook_secret") or current.webhook_secret,
            ),
        )
    await session.flush()
    await record_event(session, account_id=account_id, type="processor.updated", obj=processor, before=before)
    return processor


async def delete_processor(session: AsyncSession, account_id: str, processor_id: str) -> Processor:
    """Disconnect a processor no route names: it leaves every list and forgets its credentials, but its row stays
    for the payment attempts that name it."""
    processor = await get_processor(session, account_id, processor_id, for_update=True)
    route_ids = (
        await session.scalars(
            select(ProcessorRouteEntry.route_id)
            .distinct()
            .where(ProcessorRouteEntry.account_id == account_id, ProcessorRouteEntry.processor_id == processor.id)
            .order_by(ProcessorRouteEntry.route_id)
        )
    ).all()
    if route_ids:
        raise Conflict(
            f"Processor {processor.id!r} is used by processor route(s) {', '.join(route_ids)}; "
            "take it out of them first.",
            code="processor_in_use",
        )
    processor.is_active = False
    processor.deleted_at = clock.now()
    processor.sealed_credentials = None
    processor.secret_key_last4 = None
    await session.flush()
    await record_event(session, account_id=account_id, type="processor.deleted", obj=processor)
    return processor


def open_credentials(box: SecretBox, processor: Processor) -> StripeCredentials | None:
    """The processor's secrets, decrypted for a call to Stripe; None for a processor that has none."""
    if processor.sealed_credentials is None:
        return None
    stored = json.loads(box.open(processor.sealed_credentials))
    return StripeCredentials(secret_key=stored["secret_key"], webhook_secret=stored["webhook_secret"])


async def reseal_credentials(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every connection's credentials with the box's current key (a key rotation); returns how many."""
    sealed_rows = await session.execute(
        select(Processor.id, Processor.sealed_credentials)
        .where(Processor.sealed_credentials.is_not(None))
        .with_for_update()  # a connection edited meanwhile waits, rather than losing its edit to this one
    )
    rows = [(processor_id, sealed) for processor_id, sealed in sealed_rows if sealed is not None]
    for processor_id, sealed in rows:
        await session.execute(
            update(Processor)
            .where(Processor.id == processor_id)
            # Re-encrypting is not an edit by the merchant: updated_at stays.
            .values(sealed_credentials=box.reseal(sealed), updated_at=Processor.updated_at)
            .execution_options(synchronize_session=False)
        )
    return len(rows)


def _store_credentials(processor: Processor, box: SecretBox, credentials: StripeCredentials) -> None:
    processor.sealed_credentials = credentials.sealed(box)
    processor.secret_key_last4 = credentials.secret_key[-4:]
    processor.livemode = _live(credentials.secret_key)


def _live(key: str) -> bool:
    return "_live_" in key


def _simulator_only(settings: Iterable[str]) -> list[FieldProblem]:
    return [
        FieldProblem((setting,), "a simulator processor has no such setting", "extra_forbidden") for setting in settings
    ]


def _availability_problem() -> FieldProblem:
    return FieldProblem(
        ("is_available",),
        "only a simulator can be switched unavailable; deactivate a stripe processor with is_active",
    )


def _checked_currencies(raw: Sequence[str]) -> tuple[list[str], list[FieldProblem]]:
    """Lower-case ISO 4217 codes in use, each once, 1 to MAX_CURRENCIES of them."""
    problems: list[FieldProblem] = []
    if not 0 < len(raw) <= MAX_CURRENCIES:
        problems.append(FieldProblem(("currencies",), f"must list 1 to {MAX_CURRENCIES} currencies"))
    codes: list[str] = []
    for index, code in enumerate(raw):
        path: FieldPath = ("currencies", index)
        if not is_currency(code):
            problems.append(FieldProblem(path, "must be an ISO 4217 currency code in use, e.g. 'usd'"))
        elif code.lower() in codes:
            problems.append(FieldProblem(path, f"{code.lower()!r} is listed twice"))
        else:
            codes.append(code.lower())
    return codes, problems


def _checked_api_base(api_base: str | None, *, allow_private: bool) -> tuple[str | None, list[FieldProblem]]:
    """The api_base as stored (normalised by :mod:`checkstand.core.urls`; None for Stripe's own), or why it is refused.
    The messages never quote it: its userinfo could hold a password."""
    if api_base is None:
        return None, []
    try:
        parsed = None if len(api_base) > MAX_API_BASE_LENGTH else parse_web_url(api_base)
    except UrlProblem as problem:
        return None, [FieldProblem(("api_base",), problem.message, problem.type)]
    if parsed is None or len(parsed.text) > MAX_API_BASE_LENGTH:
        return None, [FieldProblem(("api_base",), f"must be at most {MAX_API_BASE_LENGTH} characters")]
    refused = _api_base_refusal(parsed, allow_private=allow_private)
    return parsed.text, [] if refused is None else [FieldProblem(("api_base",), *refused)]


def _api_base_refusal(url: WebUrl, *, allow_private: bool) -> tuple[str, str] | None:
    """Why Checkstand won't send a secret key to ``url``, as ``(message, type)``: a query or a fragment (Stripe's
    library appends its paths to the base, so one would swallow them), and unless the operator allows it, an address
    of this machine or its network, or plain http (the key would cross the network in the clear)."""
    if "?" in url.text or "#" in url.text:
        return "must not have a query or a fragment: Stripe's paths are appended to it", "url_query"
    if allow_private:
        return None
    refused = url_refusal(url, ALLOW_PRIVATE_SETTING)
    if refused is not None:
        return refused, "url_not_public"
    if url.scheme != "https":
        return f"must be https (the operator may allow http: {ALLOW_PRIVATE_SETTING})", "url_scheme"
    return None


def _credential_problems(secret_key: str | None, webhook_secret: str | None) -> list[FieldProblem]:
    # The messages never quote the value: a mistyped secret is still a secret.
    problems: list[FieldProblem] = []
    if secret_key is not None and not SECRET_KEY_PATTERN.match(secret_key):
        problems.append(
            FieldProblem(("secret_key",), "must be a Stripe secret or restricted key (sk_test_..., rk_live_...)")
        )
    if webhook_secret is not None and not WEBHOOK_SECRET_PATTERN.match(webhook_secret):
        problems.append(FieldProblem(("webhook_secret",), "must be a Stripe webhook signing secret (whsec_...)"))
    return problems


def _publishable_key_problems(publishable_key: str | None, *, livemode: bool | None) -> list[FieldProblem]:
    """A publishable key of Stripe's shape, in the secret key's mode: Stripe.js with a test key can't confirm what a
    live key charged."""
    if publishable_key is None:
        return []
    if not PUBLISHABLE_KEY_PATTERN.match(publishable_key):
        return [FieldProblem(("publishable_key",), "must be a Stripe publishable key (pk_test_..., pk_live_...)")]
    if livemode is not None and _live(publishable_key) != livemode:
        mode = "live" if livemode else "test"
        return [FieldProblem(("publishable_key",), f"must be a {mode} key, as the secret key is")]
    return []
