from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.shapes import ShapeError, check_shape
from tests.accounts_support import fake_key_set

FIELDS = ("api_key", "secret_key", "passphrase")


@pytest.mark.parametrize("field", FIELDS)
def test_a_typical_value_passes_unchanged(field):
    value = fake_key_set(1)[field]
    assert check_shape(field, value).value == value


def test_the_usual_okx_shapes_pass_without_notes():
    assert check_shape("api_key", "3f2a1b4c-0d9e-4f11-8a7b-123456789abc").notes == ()
    assert check_shape("secret_key", "0123456789ABCDEF0123456789ABCDEF").notes == ()


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("wrapper", [" {} ", "\n{}\n", "\t{}"])
def test_surrounding_whitespace_is_stripped_and_reported(field, wrapper):
    value = fake_key_set(1)[field]
    checked = check_shape(field, wrapper.format(value))
    assert checked.value == value
    assert any("surrounding whitespace was removed" in note for note in checked.notes)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("api_key", "FAKE0000-TEST KEY0-SET0-000000000001", "whitespace inside"),
        ("secret_key", "FAKE0000000000000000\x0000000001", "control characters"),
        ("passphrase", "short", "5 characters long"),
        ("passphrase", "x" * 33, "33 characters long"),
        ("secret_key", "A" * 500, "500 characters long"),
        ("api_key", "FAKE0000-TEST-KEY0-SET0-00000000000é", "printable ASCII"),
        ("passphrase", "   ", "is empty"),
    ],
)
def test_what_cannot_be_a_credential_is_refused_with_a_reason(field, value, problem):
    with pytest.raises(ShapeError, match=problem):
        check_shape(field, value)


@given(field=st.sampled_from(FIELDS), value=st.text(min_size=1, max_size=200))
def test_a_refusal_never_repeats_the_value(field, value):
    try:
        checked = check_shape(field, value)
    except ShapeError as error:
        if len(value.strip()) >= 12:  # shorter text could be a word of the message itself
            assert value.strip() not in str(error)
    else:
        assert checked.value == value.strip()
        assert all(value.strip() not in note for note in checked.notes)
