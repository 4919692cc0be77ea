"""Strict, typed parsing of configuration dataclasses from YAML files, dicts and ``KEY=VALUE`` strings.

Every field's annotation is its type: ``int``, ``float`` (an int is accepted), ``bool`` (only
real booleans: a quoted ``"no"`` is a string), ``str``, ``Literal[...]`` choices, ``list``/``tuple``
of those, ``X | None`` and nested dataclasses. A wrong type, an unknown key or malformed YAML is
an :class:`~subgrid.core.errors.InputError` with one line naming the key, the expected type and
the given value, e.g. ``train.yaml: epochs: expected int, got str 'lots'``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Union

import yaml

from subgrid.core.errors import InputError

#: Annotations a YAML list fills (``tuple`` ones become tuples).
_SEQUENCES = (list, tuple, Sequence)


class ConfigError(InputError):
    """A config value is wrong: ``where`` (the file, or the config's name) and the ``detail`` naming the key."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.where, self.detail = where, detail

    def at(self, where: str) -> ConfigError:
        """The same error, reported at ``where`` (e.g. the YAML file it came from)."""
        return ConfigError(where, self.detail)


class _Mismatch(Exception):
    """A value does not have its annotated type (``path``: the key, e.g. ``model_options.width``)."""

    def __init__(self, path: str, expected: str, value: object) -> None:
        super().__init__(f"{path}: expected {expected}, got {describe_value(value)}")


def describe_value(value: object) -> str:
    """``str 'lots'``, ``float 16.7``, ``None``: a given value with its type, short enough for one line."""
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def type_name(annotation: Any) -> str:
    """How an annotation reads in messages: ``int``, ``float or None``, ``one of 'sgd', 'adamw'``, ``list of str``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in _SEQUENCES:
        element = [a for a in args if a is not Ellipsis]
        if origin is tuple and element and args[-1] is not Ellipsis:
            return f"list of {len(args)} {' and '.join(dict.fromkeys(type_name(a) for a in element))}"
        kind = "list" if origin is list else "sequence"
        return f"{kind} of {' and '.join(dict.fromkeys(type_name(a) for a in element))}" if element else kind
    if origin is dict or annotation is dict:
        return "mapping"
    if dataclasses.is_dataclass(annotation):
        return f"mapping of {annotation.__name__} settings"
    return getattr(annotation, "__name__", str(annotation))


def parse_value(annotation: Any, value: object, path: str) -> object:
    """``value`` checked against ``annotation`` (ints become floats where a float is expected, YAML lists
    tuples where a tuple is); raises :class:`_Mismatch` naming ``path``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or annotation is object:
        return value
    if annotation is type(None):
        if value is None:
            return None
    elif origin is Literal:
        # 1 == True in Python: compare types too, so `true` is not the choice 1.
        if any(value == a and type(value) is type(a) for a in args):
            return value
    elif origin in (Union, types.UnionType):
        errors = {}
        for arm in args:
            try:
                return parse_value(arm, value, path)
            except _Mismatch as error:
                errors[arm] = error
        # A list for `list[int] | None`: the list's own error names the bad element.
        shaped = [arm for arm in args if _container_kind(arm) is not None and _container_kind(arm) == _container_kind(value)]
        if len(shaped) == 1 and not isinstance(errors[shaped[0]], _Unknown):
            raise errors[shaped[0]]
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif annotation is Path:
        if isinstance(value, str | Path):
            return Path(value)
    elif origin in _SEQUENCES:
        if isinstance(value, list | tuple):
            return _parse_sequence(origin, args, value, path, annotation)
    elif origin is dict or annotation is dict:
        if isinstance(value, Mapping):
            if not args:
                return dict(value)
            return {parse_value(args[0], k, f"{path} key"): parse_value(args[1], v, f"{path}.{k}") for k, v in value.items()}
    elif dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if isinstance(value, Mapping):
            return parse_dataclass(annotation, value, prefix=f"{path}.")
    else:
        raise TypeError(f"{path}: annotation {annotation!r} is not one parse_value knows")
    raise _Mismatch(path, type_name(annotation), value)


def _container_kind(annotation_or_value: Any) -> str | None:
    """"sequence", "mapping" or None: the YAML shape an annotation takes, or a value has."""
    if isinstance(annotation_or_value, list | tuple) or typing.get_origin(annotation_or_value) in _SEQUENCES:
        return "sequence"
    if (isinstance(annotation_or_value, Mapping) or annotation_or_value is dict or typing.get_origin(annotation_or_value) is dict
            or (isinstance(annotation_or_value, type) and dataclasses.is_dataclass(annotation_or_value))):
        return "mapping"
    return None


def _parse_sequence(origin: Any, args: tuple, value: list | tuple, path: str, annotation: Any) -> list | tuple:
    if origin is tuple and args and args[-1] is not Ellipsis:  # fixed length: tuple[int, int]
        if len(value) != len(args):
            raise _Mismatch(path, type_name(annotation), value)
        return tuple(parse_value(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    element = args[0] if args else Any
    items = [parse_value(element, v, f"{path}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of the init fields of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def parse_dataclass(cls: type, values: Mapping, prefix: str = "") -> object:
    """An instance of dataclass ``cls`` from ``values``, each checked against its field's annotation.

    An unknown key is an error (a typo is never silently ignored); ``prefix`` starts each key
    in messages (``"model_options."``). Raises :class:`_Mismatch`.
    """
    if not isinstance(values, Mapping):
        raise _Mismatch(prefix.rstrip(".") or "settings", f"a mapping of {cls.__name__} settings", values)
    known = field_types(cls)
    unknown = [str(key) for key in values if key not in known]
    if unknown:
        raise _Unknown(prefix, unknown, known)
    return cls(**{key: parse_value(known[key], value, f"{prefix}{key}") for key, value in values.items()})


class _Unknown(_Mismatch):
    def __init__(self, prefix: str, unknown: list[str], known: Iterable[str]) -> None:
        Exception.__init__(self, f"unknown key(s) {', '.join(prefix + k for k in sorted(unknown))}; "
                                 f"known: {', '.join(known)}")  # fmt: skip


def parse_options(cls: type, values: Mapping, where: str, prefix: str = "") -> object:
    """:func:`parse_dataclass`, with errors as one-line :class:`ConfigError` reported at ``where``."""
    try:
        return parse_dataclass(cls, values, prefix)
    except _Mismatch as error:
        raise ConfigError(where, str(error)) from None


def parse_strings(cls: type, pairs: Iterable[str], where: str, prefix: str = "") -> dict:
    """``["width=32", "norm=batch"]`` -> ``{"width": 32, "norm": "batch"}``: command-line ``KEY=VALUE``
    settings of dataclass ``cls``, each value read as its field's type (YAML syntax: ``window=[8,16]``,
    ``lora_alpha=null``; a ``str`` field keeps the text as written unless quoted)."""
    known = field_types(cls)
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(where, f"expected KEY=VALUE, got {pair!r}")
        if key not in known:
            raise ConfigError(where, str(_Unknown(prefix, [key], known)))
        as_text = _takes_text(known[key]) and text not in ("null", "~") and not text.startswith(("'", '"'))
        values[key] = text if as_text else _yaml_scalar(text, where)
    parse_options(cls, values, where, prefix)  # wrong types fail here, naming the key
    return values


def _takes_text(annotation: Any) -> bool:
    arms = typing.get_args(annotation) if typing.get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    return str in arms or any(typing.get_origin(a) is Literal and all(isinstance(c, str) for c in typing.get_args(a))
                              for a in arms)  # fmt: skip


def _yaml_scalar(text: str, where: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(where, f"{text!r} is not a YAML value") from None


def read_yaml(path: str | Path) -> object:
    """The content of YAML file ``path``; a missing file or malformed YAML is a one-line :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such config file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join(str(p) for p in (getattr(error, "context", None), getattr(error, "problem", None)) if p)
        raise InputError(f"{path}: {where}not valid YAML ({problem or type(error).__name__})") from None


def plain(value: object) -> object:
    """``value`` with tuples as lists, recursively: what ``yaml.safe_dump`` and JSON write."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class StrictConfig:
    """Mixin of frozen config dataclasses: typed strict parsing (:func:`parse_value`) and validation messages.

    ``from_dict``/``from_yaml`` check every value against its field's annotation; an unknown key
    (a typo) is an error, never silently ignored. Subclasses validate ranges in ``__post_init__``
    with :meth:`_require`.
    """

    config_name: ClassVar[str] = "config"

    def _require(self, checks: dict[str, bool]) -> None:
        """Raise naming every field whose check is False, with its value."""
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(self.config_name, f"invalid {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")

    def to_dict(self) -> dict:
        return plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: Mapping, *, source: str | Path | None = None):
        """The config of ``values`` (keys: field names), type-checked; errors name ``source`` (a file) if given."""
        where = str(source) if source is not None else cls.config_name
        if not isinstance(values, Mapping):
            raise ConfigError(where, f"expected a mapping of settings, got {describe_value(values)}")
        try:
            return parse_dataclass(cls, values)
        except _Mismatch as error:
            raise ConfigError(where, str(error)) from None
        except ConfigError as error:  # from __post_init__, reported at the config's name
            raise error.at(where) from None

    @classmethod
    def from_yaml(cls, path: str | Path):
        return cls.from_dict(read_yaml(path) or {}, source=path)

    @classmethod
    def default(cls, name: str) -> object:
        """The default of field ``name`` (for command-line help that shows it)."""
        field = {f.name: f for f in dataclasses.fields(cls)}[name]
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        return field.default
