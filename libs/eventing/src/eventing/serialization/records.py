"""Typed event records (the generated classes of ``event_contracts``) <-> Avro data.

A record class is a frozen dataclass whose fields are the fields of one Avro record, in
schema order, with the Python types fastavro reads them as (``uuid`` -> :class:`uuid.UUID`,
``timestamp-micros`` -> aware :class:`~datetime.datetime` in UTC, ``long`` -> ``int``,
``["null", X]`` -> ``X | None``). ``python -m eventing.codegen`` generates them from the
``.avsc`` files, so decoded data converts with ``cls(**data)`` and back with one attribute
read per field: no validation, no copies.

:class:`RecordBuilder` builds a record from any object (a model instance) or mapping (a
CDC row) by field name, with per-type conversions and explicit overrides, so a field
present on both sides needs no mapping code.
"""

from __future__ import annotations

import dataclasses
import keyword
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    #: A generated record class instance (any dataclass).
    Record = DataclassInstance
else:
    Record = Any

R = TypeVar("R", bound="DataclassInstance")


def is_record(value: object) -> bool:
    """Whether ``value`` is a record instance (a dataclass instance, not a class)."""
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


_NAMES: dict[type[Any], tuple[str, ...]] = {}
_TO_AVRO: dict[type[Any], Callable[[Any], dict[str, Any]]] = {}


def field_names(cls: type[Any]) -> tuple[str, ...]:
    """The record's field names, in schema order."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _compile(name: str, args: str, body: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    """A function compiled from source, as :mod:`dataclasses` builds ``__init__``.

    Only field names (Avro names: ``[A-Za-z_][A-Za-z0-9_]*``, checked) enter the source, so
    a call is one expression: no loop, no per-field lookup of how to read it.
    """
    source = f"def {name}({args}):\n    return {body}\n"
    exec(source, namespace)  # noqa: S102  # the source is built from identifiers only
    fn: Callable[..., Any] = namespace[name]
    return fn


def _identifiers(cls: type[Any]) -> tuple[str, ...]:
    names = field_names(cls)
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise TypeError(f"{cls.__qualname__}: field {name!r} is not a Python identifier")
    return names


def as_avro(data: Mapping[str, Any] | Record) -> Mapping[str, Any]:
    """The Avro datum of ``data``: a mapping as given, a record as ``{field: value}``."""
    cls = type(data)
    to_avro = _TO_AVRO.get(cls)
    if to_avro is not None:
        return to_avro(data)
    if isinstance(data, Mapping):
        return data
    if not dataclasses.is_dataclass(data):
        raise TypeError(f"Event data must be a mapping or a record, not {cls.__qualname__}")
    body = "{" + ", ".join(f"{n!r}: record.{n}" for n in _identifiers(cls)) + "}"
    compiled: Callable[[Any], dict[str, Any]] = _compile("to_avro", "record", body, {})
    _TO_AVRO[cls] = compiled
    return compiled(data)


def from_avro(cls: type[R], data: Mapping[str, Any]) -> R:
    """The record of a datum decoded with the record's own schema (the reader schema)."""
    return cls(**data)


def _plain_type(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of a field annotation like ``X`` or ``X | None``."""
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _nullable(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else fn(value)


class RecordBuilder(Generic[R]):
    """Builds records of ``cls`` from objects or mappings, by field name.

    ``given`` names the fields every call passes explicitly (e.g. ``version``); every other
    field is read from the source under its own name. ``convert`` maps a field type to a
    function applied to the source value of every field of that type (``X | None`` fields:
    to values that are not None), e.g. parsing the text a CDC row carries into
    :class:`uuid.UUID`. Both readers are compiled once, here, into one expression, so a
    call costs the reads, the conversions and the dataclass constructor.
    """

    def __init__(
        self,
        cls: type[R],
        *,
        given: Sequence[str] = (),
        convert: Mapping[type[Any], Callable[[Any], Any]] | None = None,
    ) -> None:
        self.cls = cls
        names = _identifiers(cls)
        if any(n.startswith("_rb_") for n in names):
            raise TypeError(f"{cls.__qualname__}: field names starting with _rb_ are reserved")
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise TypeError(f"{cls.__qualname__} has no fields {unknown}")
        hints = typing.get_type_hints(cls)
        namespace: dict[str, Any] = {"_rb_cls": cls}
        parts: dict[str, tuple[str, str]] = {}  # field -> (from an object, from a mapping)
        for index, name in enumerate(names):
            if name in given:
                parts[name] = (name, name)
                continue
            by_attribute, by_key = f"_rb_source.{name}", f"_rb_source[{name!r}]"
            plain, nullable = _plain_type(hints[name])
            fn = (convert or {}).get(plain)
            if fn is not None:
                namespace[f"_rb_c{index}"] = _nullable(fn) if nullable else fn
                by_attribute, by_key = f"_rb_c{index}({by_attribute})", f"_rb_c{index}({by_key})"
            parts[name] = (by_attribute, by_key)
        args = "_rb_source, /, *, " + ", ".join(given) if given else "_rb_source, /"
        for attribute, method in ((0, "from_object"), (1, "from_mapping")):
            body = "_rb_cls(" + ", ".join(f"{n}={parts[n][attribute]}" for n in names) + ")"
            setattr(self, method, _compile(method, args, body, dict(namespace)))

    if TYPE_CHECKING:

        def from_object(self, source: object, /, **given: Any) -> R:
            """The record of ``source``'s attributes (a model instance) and the ``given`` fields."""

        def from_mapping(self, source: Mapping[str, Any], /, **given: Any) -> R:
            """The record of ``source``'s items (e.g. a CDC row) and the ``given`` fields."""
