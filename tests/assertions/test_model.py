from __future__ import annotations

import pydantic
import pytest

from pytest_llm._errors import ConfigError
from pytest_llm.assertions import JSONNotFoundError, ModelAssertionError, assert_model


class Item(pydantic.BaseModel):
    sku: str
    price: float = pydantic.Field(ge=0)


class Order(pydantic.BaseModel):
    customer: str
    items: list[Item]


def test_returns_the_instance_from_text() -> None:
    order = assert_model(
        '```json\n{"customer": "ada", "items": [{"sku": "A", "price": 1}]}\n```', Order
    )
    assert isinstance(order, Order)
    assert order.items[0].price == 1.0


def test_returns_the_instance_from_data() -> None:
    assert assert_model({"customer": "ada", "items": []}, Order) == Order(customer="ada", items=[])


def test_every_error_with_path_and_value() -> None:
    text = 'Sure: {"items": [{"sku": 1, "price": -5}, {"sku": "B", "price": "x"}]}'
    with pytest.raises(ModelAssertionError) as excinfo:
        assert_model(text, Order)
    assert str(excinfo.value).splitlines() == [
        "assert_model: 4 validation errors for Order (JSON from the prose, chars 6..70)",
        "  $.customer: Field required",
        "  $.items[0].sku: Input should be a valid string (got 1)",
        "  $.items[0].price: Input should be greater than or equal to 0 (got -5)",
        "  $.items[1].price: Input should be a valid number, unable to parse string as a number (got 'x')",
    ]
    assert isinstance(excinfo.value, AssertionError)
    assert excinfo.value.errors[0]["loc"] == ("customer",)


def test_type_adapter_types() -> None:
    assert assert_model("[1, 2]", list[int]) == [1, 2]
    with pytest.raises(ModelAssertionError) as excinfo:
        assert_model([1, "x"], list[int])
    assert str(excinfo.value).splitlines()[0] == "assert_model: 1 validation error for list[int]"


def test_repair_is_passed_on() -> None:
    with pytest.raises(JSONNotFoundError):
        assert_model('{"customer": "ada", "items": [', Order)
    assert assert_model('{"customer": "ada", "items": [', Order, repair=True).items == []


def test_not_a_model() -> None:
    with pytest.raises(ConfigError) as excinfo:
        assert_model({}, 5)  # type: ignore[arg-type]
    assert str(excinfo.value) == (
        "assert_model expects a pydantic model class (or a type pydantic can validate), "
        "got int: 5; pass a BaseModel subclass"
    )


def test_missing_pydantic_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pydantic", None)
    with pytest.raises(ConfigError, match="assert_model needs the pydantic package"):
        assert_model({}, Order)
