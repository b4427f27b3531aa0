"""pydantic's validation errors as the bridge's messages: the place, what is wrong, the value.

The configuration file (:mod:`.config`) and device profiles (:mod:`.profiles`) are
checked by pydantic models; this module turns each error pydantic reports into one line
a person can act on, in the same words for both::

    poll.interval: must be a number, got 'fast'
    quantities.current.unit: must be one of A, dA, cA, mA, got 'Amp'
    quantities.volts: unknown field; known: active_power, current, ...
    quantities: missing required quantity 'voltage'

The choices, ranges and known fields in the messages are read from the models
themselves, so a message cannot drift from the rule it reports.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

Loc = tuple[int | str, ...]


def _refuse_bool(value: Any) -> Any:
    # YAML's true/false are ints to Python (True == 1); a choice of numbers wants numbers.
    if isinstance(value, bool):
        raise PydanticCustomError("literal_error", "a number is wanted, not true or false")
    return value


def choice(*options: int) -> Any:
    """A field that must be one of the integer ``options`` (booleans are refused)."""
    return Annotated[Literal[options], BeforeValidator(_refuse_bool)]  # type: ignore[valid-type]


def where(loc: Loc) -> str:
    """A location as a path into the file: ``meters[2].id``, ``quantities.voltage``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def shown(value: Any) -> str:
    """A value as the file might have held it, kept short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _inner(annotation: Any, want_model: bool = False) -> Any:
    """The type inside ``X | None``, ``Annotated[X, ...]`` (and, with an index, ``list[X]``)."""
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = origin in (typing.Union, types.UnionType) and len(args) == 1
        item = want_model and origin in (list, tuple, Sequence) and bool(args)
        if not (origin is Annotated or optional or item):
            return annotation
        annotation = args[0]


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that holds the last field of ``loc`` (None when not a model)."""
    current: Any = root
    for part in loc[:-1]:
        current = _inner(current, want_model=isinstance(part, int))
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    current = _inner(current, want_model=bool(loc) and isinstance(loc[-1], int))
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_at(root: type[BaseModel], loc: Loc) -> FieldInfo | None:
    model = _model_at(root, loc)
    if model is None or not loc or not isinstance(loc[-1], str):
        return None
    return model.model_fields.get(loc[-1])


def _rules(field: FieldInfo | None) -> list[Any]:
    """The constraints on a field, also those inside ``Annotated[...] | None``."""
    if field is None:
        return []
    rules, annotation = list(field.metadata), field.annotation
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin is Annotated:
            rules += args[1:]
        elif not (origin in (typing.Union, types.UnionType) and len(args) == 1):
            break
        annotation = args[0]
    # Field(ge=...) inside Annotated arrives as a FieldInfo carrying its own rules.
    return [r for rule in rules for r in (rule.metadata if isinstance(rule, FieldInfo)
                                          else [rule])]


def _bounds(field: FieldInfo | None) -> tuple[Any, Any]:
    low = high = None
    for rule in _rules(field):
        if isinstance(rule, annotated_types.Ge):
            low = rule.ge
        elif isinstance(rule, annotated_types.Le):
            high = rule.le
    return low, high


def _options(field: FieldInfo | None) -> tuple[Any, ...]:
    annotation = _inner(field.annotation) if field is not None else None
    return typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()


def _numbers(field: FieldInfo | None, value: Any, kind: str) -> str:
    """"must be an integer from 0 to 65535, got -4" and the like, from the field's range."""
    low, high = _bounds(field)
    if low is not None and high is not None:
        return f"must be {kind} from {low} to {high}, got {shown(value)}"
    if low is not None:
        return f"must be {kind} >= {low}, got {shown(value)}"
    if high is not None:
        return f"must be {kind} <= {high}, got {shown(value)}"
    return f"must be {kind}, got {shown(value)}"


def describe(error: ErrorDetails, root: type[BaseModel]) -> tuple[Loc, str]:
    """Where one error is (the place to name) and what to say about it."""
    loc, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    field = _field_at(root, loc)
    if kind == "missing":
        holder = _model_at(root, loc)
        noun = getattr(holder, "noun", "field")
        return loc[:-1], f"missing required {noun} {loc[-1]!r}"
    if kind == "extra_forbidden":
        holder = _model_at(root, loc)
        known = ", ".join(sorted(holder.model_fields)) if holder is not None else ""
        return loc, f"unknown field; known: {known}" if known else "unknown field"
    if kind == "value_error":
        return loc, str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        options = ", ".join(str(o) for o in _options(field))
        return loc, f"must be one of {options}, got {shown(value)}"
    if kind.startswith(("int_", "float_", "greater_than", "less_than")):
        integer = kind.startswith("int_") or (field is not None and
                                              _inner(field.annotation) is int)
        return loc, _numbers(field, value, "an integer" if integer else "a number")
    if kind == "bool_type":
        return loc, f"must be true or false, got {shown(value)}"
    if kind == "string_type":
        return loc, f"must be a string, got {shown(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"must be a mapping of name: value, got {shown(value)}"
    if kind in ("list_type", "tuple_type"):
        return loc, f"must be a list, got {shown(value)}"
    message = error["msg"][:1].lower() + error["msg"][1:]
    return loc, f"{message}, got {shown(value)}"
