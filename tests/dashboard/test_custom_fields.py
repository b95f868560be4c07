"""Custom field definitions in the dashboard: created, edited and deleted through the API's service (its checks and
messages next to their fields, nothing changed on a refusal), the key asked again before a delete, every form
refused without its CSRF token, and nothing of another account."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.custom_fields.models import CustomFieldDefinition
from tests.conftest import bearer
from tests.dashboard.helpers import make_user, page_csrf, sign_in

NEW = "/dashboard/custom-fields/new"
LIST = "/dashboard/custom-fields"


async def _create(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    data = {"entity_type": "checkout_session", "data_type": "text", "display_name": "Company", **fields}
    return await client.post(NEW, data={"csrf_token": await page_csrf(client, NEW), **data})


async def _created(client: httpx.AsyncClient, **fields: str) -> str:
    """The new definition's page."""
    made = await _create(client, **fields)
    assert made.status_code == 303, made.text
    return made.headers["location"].split("?")[0]


async def _definitions(session: AsyncSession, account_id: str) -> list[CustomFieldDefinition]:
    """As stored now, the read ended so the app's next writer doesn't wait on it (SQLite)."""
    session.expire_all()
    rows = list(
        await session.scalars(select(CustomFieldDefinition).where(CustomFieldDefinition.account_id == account_id))
    )
    await session.commit()
    return rows


async def test_fields_are_created_listed_filtered_and_edited(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    assert (await client.get(NEW)).status_code == 200
    company = await _created(client, field_key="company", display_name="Company", max_length="80", required="yes")
    size = await _created(
        client,
        field_key="company_size",
        entity_type="customer",
        data_type="select",
        display_name="Company size",
        options="1-10\r\n11-50\r\n\r\n51+",
    )
    stored = {d.field_key: d for d in await _definitions(session, user.account_id)}
    assert stored["company"].constraints == {"required": True, "max_length": 80}
    assert stored["company_size"].constraints == {"required": False, "options": ["1-10", "11-50", "51+"]}
    api = await client.get(f"/api/{user.account_id}/custom-field-definitions/", headers=bearer(user.secret))
    assert {d["field_key"] for d in api.json()} == {"company", "company_size"}

    detail = await client.get(f"{company}?done=created")
    assert "Custom field created." in detail.text
    assert 'value="Company"' in detail.text
    listed = await client.get(LIST)
    assert f'href="{company}"' in listed.text
    assert f'href="{size}"' in listed.text
    assert "select: 1-10, 11-50, 51+" in listed.text
    only_customers = await client.get(LIST, params={"entity_type": "customer"})
    assert f'href="{size}"' in only_customers.text
    assert f'href="{company}"' not in only_customers.text

    saved = await client.post(
        size,
        data={
            "csrf_token": await page_csrf(client, size),
            "display_name": "Team size",
            "description": "Asked once",
            "options": "1-10\n11+",
            "required": "yes",
        },
    )
    assert saved.status_code == 303
    assert "Custom field saved." in (await client.get(saved.headers["location"])).text
    edited = {d.field_key: d for d in await _definitions(session, user.account_id)}["company_size"]
    assert edited.display_name == "Team size"
    assert edited.description == "Asked once"
    assert edited.constraints == {"required": True, "options": ["1-10", "11+"]}


async def test_refusals_show_the_services_messages_and_change_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    api = await client.post(
        f"/api/{user.account_id}/custom-field-definitions/",
        json={"field_key": "plan", "entity_type": "customer", "data_type": "select", "display_name": "Plan"},
        headers=bearer(user.secret),
    )
    assert api.status_code == 422
    options_message = api.json()["detail"][0]["msg"]

    no_options = await _create(client, field_key="plan", data_type="select", display_name="Plan")
    assert no_options.status_code == 422
    assert 'aria-describedby="options-error"' in no_options.text
    assert options_message in no_options.text
    bounds = await _create(client, field_key="seats", data_type="number", min="10", max="2.5")
    assert bounds.status_code == 422
    assert 'id="max-error">must not be less than min' in bounds.text
    malformed = await _create(client, field_key="Bad Key", display_name=" ", data_type="colour")
    assert malformed.status_code == 422
    for name in ("field_key", "display_name", "data_type"):
        assert f'id="{name}-error"' in malformed.text, name
    assert await _definitions(session, user.account_id) == []

    page = await _created(client, field_key="vat_id", display_name="VAT number")
    taken = await _create(client, field_key="vat_id", display_name="VAT again")
    assert taken.status_code == 409
    assert 'id="field_key-error">A custom field with key &#39;vat_id&#39; is already defined' in taken.text

    too_long = await client.post(
        page, data={"csrf_token": await page_csrf(client, page), "display_name": "VAT", "max_length": "501"}
    )
    assert too_long.status_code == 422
    assert 'id="max_length-error">must be an integer from 1 to 500' in too_long.text
    [kept] = await _definitions(session, user.account_id)
    assert kept.display_name == "VAT number"
    assert kept.constraints == {"required": False}


async def test_a_field_is_deleted_only_with_its_key_typed_again(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    page = await _created(client, field_key="po_number", display_name="PO number")
    wrong = await client.post(
        f"{page}/delete", data={"csrf_token": await page_csrf(client, page), "confirm_field_key": "po"}
    )
    assert wrong.status_code == 422
    assert 'id="confirm_field_key-error">must be the definition&#39;s field_key, &#39;po_number&#39;' in wrong.text
    assert len(await _definitions(session, user.account_id)) == 1
    deleted = await client.post(
        f"{page}/delete", data={"csrf_token": await page_csrf(client, page), "confirm_field_key": "po_number"}
    )
    assert deleted.status_code == 303
    assert "Custom field <code>po_number</code> deleted" in (await client.get(deleted.headers["location"])).text
    assert await _definitions(session, user.account_id) == []
    assert (await client.get(page)).status_code == 404


async def test_every_form_is_refused_without_its_csrf_token(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    page = await _created(client, field_key="company", display_name="Company")
    for path, data in (
        (NEW, {"field_key": "forged", "entity_type": "customer", "data_type": "text", "display_name": "F"}),
        (page, {"display_name": "Forged"}),
        (f"{page}/delete", {"confirm_field_key": "company"}),
    ):
        for token in ({}, {"csrf_token": "forged"}):
            assert (await client.post(path, data={**data, **token})).status_code == 403, path
    [kept] = await _definitions(session, user.account_id)
    assert kept.display_name == "Company"


async def test_another_accounts_field_is_not_found(client: httpx.AsyncClient, session: AsyncSession) -> None:
    theirs = await make_user(session, email="other@elsewhere.example", name="Elsewhere")
    await sign_in(client, theirs.email)
    page = await _created(client, field_key="theirs", display_name="Theirs")
    await client.post("/dashboard/sign-out", data={"csrf_token": await page_csrf(client)})
    await make_user(session)
    await sign_in(client, "owner@shop.example")
    assert (await client.get(page)).status_code == 404
    csrf = await page_csrf(client, LIST)
    assert (await client.post(page, data={"csrf_token": csrf, "display_name": "Mine"})).status_code == 404
    deleted = await client.post(f"{page}/delete", data={"csrf_token": csrf, "confirm_field_key": "theirs"})
    assert deleted.status_code == 404
    assert "theirs" not in (await client.get(LIST)).text
    [kept] = await _definitions(session, theirs.account_id)
    assert kept.display_name == "Theirs"
    count = await session.scalar(select(func.count()).select_from(CustomFieldDefinition))
    await session.commit()
    assert count == 1
