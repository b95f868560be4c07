"""SecretBox seals with its first key and opens with any of them; reseal moves a secret to the first key."""

from __future__ import annotations

import pytest

from checkstand.core.crypto import SecretBox, key_check_value

OLD = "old-key-" + "o" * 32
NEW = "new-key-" + "n" * 32


def test_a_rotation_box_opens_both_and_reseals_with_the_new_key() -> None:
    sealed_with_old = SecretBox(OLD).seal("whsec_abc")
    rotating = SecretBox(NEW, OLD)
    assert rotating.open(sealed_with_old) == "whsec_abc"
    resealed = rotating.reseal(sealed_with_old)
    assert SecretBox(NEW).open(resealed) == "whsec_abc"
    with pytest.raises(ValueError, match="CHECKSTAND_SECRET_KEY"):
        SecretBox(OLD).open(resealed)
    with pytest.raises(ValueError, match="CHECKSTAND_SECRET_KEY"):
        SecretBox(NEW).reseal(sealed_with_old)


def test_the_check_value_tells_keys_apart_without_showing_them() -> None:
    assert key_check_value(OLD) == key_check_value(OLD)
    assert key_check_value(OLD) != key_check_value(NEW)
    assert OLD not in key_check_value(OLD)
