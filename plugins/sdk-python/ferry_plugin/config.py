"""Typed configuration: the operator's JSON parsed into the plugin's
dataclass, once per distinct text (every call carries the text)."""

import dataclasses
import json
import typing

from .schema import InvalidConfig

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


def _unwrap(tp):
    """(base type, optional?) of an annotation."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])[0], True
        return None, True
    if origin in (list, dict):
        return origin, False
    return tp, False


def _fits(value, base) -> bool:
    if base is None or base is typing.Any:
        return True
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(base, type):
        return isinstance(value, base)
    return True


def parse_config(config_type, text: str):
    """`text` (JSON; empty means `{}`) parsed into `config_type`, a dataclass
    (unknown keys refused, types checked, defaults applied), or `None` for a
    plugin that takes no configuration (then any key is refused).
    `__post_init__` may raise `ValueError`/`InvalidConfig` for checks of its own."""
    text = text if text.strip() else "{}"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidConfig(f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(obj, dict):
        raise InvalidConfig(f"the configuration must be a JSON object, got {type(obj).__name__}")
    if config_type is None:
        if obj:
            raise InvalidConfig(f"this plugin takes no configuration; unknown key {next(iter(obj))!r}")
        return None
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    hints = typing.get_type_hints(config_type)
    for key in obj:
        if key not in fields:
            raise InvalidConfig(f"unknown key {key!r}; expected one of: {', '.join(fields)}")
    for name, f in fields.items():
        if name not in obj:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InvalidConfig(f"missing key {name!r}")
            continue
        base, optional = _unwrap(hints.get(name, typing.Any))
        value = obj[name]
        if value is None and optional:
            continue
        if not _fits(value, base):
            want = _JSON_TYPES.get(base, getattr(base, "__name__", str(base)))
            raise InvalidConfig(f"key {name!r} must be a {want}, got {json.dumps(value)[:60]}")
    try:
        return config_type(**obj)
    except InvalidConfig:
        raise
    except (ValueError, TypeError) as e:
        raise InvalidConfig(str(e)) from None


def config_schema(config_type) -> str:
    """A JSON Schema of the configuration, from the dataclass's fields."""
    if config_type is None:
        return json.dumps({"type": "object", "additionalProperties": False})
    hints = typing.get_type_hints(config_type)
    props, required = {}, []
    for f in dataclasses.fields(config_type):
        base, optional = _unwrap(hints.get(f.name, typing.Any))
        prop = {}
        if base in _JSON_TYPES:
            prop["type"] = [_JSON_TYPES[base], "null"] if optional else _JSON_TYPES[base]
        if f.default is not dataclasses.MISSING:
            prop["default"] = f.default
        elif f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        if f.metadata.get("doc"):
            prop["description"] = f.metadata["doc"]
        props[f.name] = prop
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return json.dumps(schema)


class _Cache:
    """The last configuration that parsed, per plugin class."""

    def __init__(self):
        self.text = None
        self.value = None

    def get(self, config_type, text):
        if self.text is not None and self.text == text:
            return self.value
        value = parse_config(config_type, text)
        self.text, self.value = text, value
        return value
