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
import types
import typing
from collections.abc import Callable, Mapping
from operator import attrgetter
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
_GETTERS: dict[type[Any], Callable[[Any], Any]] = {}


def field_names(cls: type[Any]) -> tuple[str, ...]:
    """The record's field names, in schema order."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _getter(cls: type[Any]) -> Callable[[Any], Any]:
    """A function returning the record's field values as a tuple (one C call)."""
    getter = _GETTERS.get(cls)
    if getter is None:
        names = field_names(cls)
        getter = (
            attrgetter(*names)
            if len(names) > 1
            else (lambda record: tuple(getattr(record, n) for n in names))
        )
        _GETTERS[cls] = getter
    return getter


def as_avro(data: Mapping[str, Any] | Record) -> Mapping[str, Any]:
    """The Avro datum of ``data``: a mapping as given, a record as ``{field: value}``."""
    if isinstance(data, Mapping):
        return data
    cls = type(data)
    return dict(zip(field_names(cls), _getter(cls)(data), strict=True))


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


class RecordBuilder(Generic[R]):
    """Builds records of ``cls`` from objects or mappings, by field name.

    ``convert`` maps a field type to a function applied to the source value of every field
    of that type (``X | None`` fields: to values that are not None), e.g. parsing the text
    a CDC row carries into :class:`uuid.UUID`. Types are resolved once, here, so a call
    costs a dict build and the dataclass constructor. Overrides given to a call win over
    the source (e.g. ``version``).
    """

    def __init__(
        self, cls: type[R], *, convert: Mapping[type[Any], Callable[[Any], Any]] | None = None
    ) -> None:
        self.cls = cls
        self.names = field_names(cls)
        hints = typing.get_type_hints(cls)
        converters: dict[str, tuple[Callable[[Any], Any], bool]] = {}
        for name in self.names:
            plain, nullable = _plain_type(hints[name])
            fn = (convert or {}).get(plain)
            if fn is not None:
                converters[name] = (fn, nullable)
        self._converters = converters

    def _convert(self, values: dict[str, Any]) -> None:
        for name, (fn, nullable) in self._converters.items():
            if name in values:
                value = values[name]
                if not (nullable and value is None):
                    values[name] = fn(value)

    def from_object(self, source: object, /, **overrides: Any) -> R:
        """The record of ``source``'s attributes (a model instance), ``overrides`` winning."""
        values = {name: getattr(source, name) for name in self.names if name not in overrides}
        self._convert(values)
        values.update(overrides)
        return self.cls(**values)

    def from_mapping(self, source: Mapping[str, Any], /, **overrides: Any) -> R:
        """The record of ``source``'s items (e.g. a CDC row), ``overrides`` winning."""
        values = {name: source[name] for name in self.names if name not in overrides}
        self._convert(values)
        values.update(overrides)
        return self.cls(**values)
