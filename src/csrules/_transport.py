"""How `evaluate_many`'s worker processes send a chunk's results to the parent: one pickle per
chunk, in which each pydantic record travels as its class and its values.

The parent rebuilds each record the way evaluation built it (trace.recorder: the four slots
every pydantic instance has, no validation), not through pydantic's own pickling (a Python
`__setstate__` per record) nor by validating JSON again (~50 nested records per traced
decision, JsonValue checked value by value): docs/performance.md measures the three.

INVARIANT: only the parent's own worker processes (spawned by it, the Engine rebuilt from the
same policy files and checked against the parent's digest) produce what `unpack` reads; it is
never given data from anywhere else. The records are the worker's own, already validated.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from pydantic import BaseModel

__all__ = ["pack", "unpack"]

# The slots every pydantic model instance has (`BaseModel.__slots__`), set through their descriptors.
_SET_DICT, _SET_FIELDS, _SET_EXTRA, _SET_PRIVATE = (
    BaseModel.__dict__[name].__set__
    for name in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
)

_every_field: dict[type[BaseModel], set[str]] = {}  # per class, shared like trace.recorder's


def _rebuild(cls: type[BaseModel], values: dict[str, Any], fields_set: set[str] | None) -> BaseModel:
    """A record from its class, values and fields set (None: every field, the common case)."""
    instance = cls.__new__(cls)
    _SET_DICT(instance, values)
    if fields_set is None:
        fields_set = _every_field.get(cls)
        if fields_set is None:
            fields_set = _every_field[cls] = set(cls.model_fields)
    _SET_FIELDS(instance, fields_set)
    _SET_EXTRA(instance, None)
    _SET_PRIVATE(instance, None)
    return instance


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # Called for each object that is not a plain str, int, float, list, tuple or dict (those
        # stay in the C pickler): records are reduced to (class, values, fields set).
        if isinstance(obj, BaseModel) and obj.__pydantic_extra__ is None and obj.__pydantic_private__ is None:
            cls = type(obj)
            fields_set = obj.__pydantic_fields_set__
            return _rebuild, (cls, obj.__dict__, None if len(fields_set) == len(cls.model_fields) else fields_set)
        return NotImplemented


def pack(results: list[Any]) -> bytes:
    """A worker's results for one chunk as bytes; records shared within the chunk stay shared."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(results)
    return buffer.getvalue()


def unpack(data: bytes) -> list[Any]:
    """`pack`'s results again. Only for bytes `pack` made in a worker process of this one."""
    results: list[Any] = pickle.loads(data)  # noqa: S301 - our own worker's output (module docstring)
    return results
