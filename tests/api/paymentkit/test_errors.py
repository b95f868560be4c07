"""A service names a refused field in the domain's words; the PaymentKit dialect says where its wire carries it."""

from __future__ import annotations

from checkstand.api.paymentkit.errors import wire_loc


def test_a_reads_fields_are_in_its_query_and_a_writes_in_its_body() -> None:
    assert wire_loc(("filter",), "GET") == ("query", "filter")
    assert wire_loc(("state",), "HEAD") == ("query", "state")
    assert wire_loc(("customer", "name"), "POST") == ("body", "customer", "name")
    assert wire_loc(("confirm_field_key",), "DELETE") == ("body", "confirm_field_key")


def test_a_field_the_wire_names_otherwise_is_renamed_keeping_the_rest_of_its_path() -> None:
    assert wire_loc(("sort_by",), "GET") == ("query", "sortBy")
    assert wire_loc(("cascade_tiers", 1, "line_items", 0, "price_id"), "POST") == (
        "body",
        "cascade_line_items",
        1,
        "line_items",
        0,
        "price_id",
    )
    assert wire_loc(("subscription_custom_fields", "seats"), "POST") == (
        "body",
        "params_for_sub",
        "custom_fields",
        "seats",
    )
    assert wire_loc(("minimum_amount_currency",), "POST") == ("body", "restrictions", "minimum_amount_currency")
    assert wire_loc(("percent_off_bp",), "PUT") == ("body", "percent_off")
