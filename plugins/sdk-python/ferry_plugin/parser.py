"""Parsers: one legacy file's bytes in, records (plain dicts) out.

The host streams a file in chunks (64 KiB each in ferry 0.1) to a session
the plugin opened for it; every call returns the records completed so far.
A plugin author writes either

* the streaming form — `open(file, config)` returns an object with
  `feed(chunk: bytes)` and `finish()`, each returning an iterable of dicts
  (or None for "nothing yet"); memory stays bounded by what the session
  keeps between chunks — or
* the simple form — `parse(data: bytes, file, config)` returning an iterable
  of dicts; the SDK buffers the whole file first (see `Parser.parse`).

Records are dicts `{field name: value}`; see `field_value` for the values
a field may hold.
"""

import datetime as _dt
import json as _json
import uuid as _uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal as _Decimal
from typing import Any, Dict, Iterable, Optional

from . import _wit
from .config import _Cache
from .plugin import _Base, _call
from .schema import InternalError, PluginError

#: The range of an `integer` field: the WIT `s64`. Python ints are
#: unbounded; a larger one is refused with advice rather than wrapped.
_I64 = (-(1 << 63), (1 << 63) - 1)


@dataclass(frozen=True)
class FileInfo:
    """What the host knows about the file being parsed."""

    #: Path relative to the migrated directory, `/`-separated.
    name: str
    #: Size in bytes.
    size: int
    #: Media type the host guessed from the extension (`text/csv`), or None.
    media_type: Optional[str] = None

    @staticmethod
    def _from_wit(f) -> "FileInfo":
        return FileInfo(f.name, f.size, f.media_type_hint)


class Parser(_Base):
    """Turns one file's bytes into records. Set `name`, `version`,
    `description`, `Config` as for a `Transformer`, then override either
    `open` (streaming) or `parse` (whole file). Export with
    `Parse = export_parser(MyParser)` and build with world `parser`."""

    def check_config(self, config) -> None:
        """Plan time, after `config` parsed into `Config`: raise
        `InvalidConfig` for checks of your own. Default: nothing more."""

    def open(self, file: FileInfo, config):
        """Start parsing `file`: return a session, any object with
        `feed(chunk: bytes)` and `finish()`, each returning an iterable of
        record dicts (or None). The host calls `feed` for every chunk in
        order, then `finish` once; chunk boundaries fall anywhere (inside a
        line, inside a UTF-8 character), so keep the incomplete tail.

        Default: buffer the whole file and call `parse` at the end."""
        if type(self).parse is Parser.parse:
            raise InternalError(
                f"parser {self.name!r} overrides neither `open` (streaming) nor `parse` (whole file); "
                "implement one of them"
            )
        return _Buffered(self, file, config)

    def parse(self, data: bytes, file: FileInfo, config) -> Iterable[Dict[str, Any]]:
        """The simple form: the whole file's bytes in, every record out.

        Memory: the SDK holds the whole file, and for a moment twice (the
        chunks and their join), plus what `parse` builds; all of it counts
        against the plugin's memory limit (256 MiB by default, `memory_mib`
        in ferry's config raises it), and every record is returned by the one
        `finish` call, which the host caps too (64 MiB of output by default,
        `max_output_mib`). Files up to a few MiB are fine; for larger ones
        override `open` and stream."""
        raise NotImplementedError


class _Buffered:
    """The session of a parser that overrides `parse`: collects the chunks,
    parses at `finish`."""

    def __init__(self, plugin: Parser, file: FileInfo, config):
        self.plugin, self.file, self.config = plugin, file, config
        self.chunks = []

    def feed(self, chunk: bytes):
        self.chunks.append(chunk)
        return None

    def finish(self):
        data = b"".join(self.chunks)
        self.chunks = []  # the join is the only copy from here on
        return self.plugin.parse(data, self.file, self.config)


# ------------------------------------------------------------- records

#: What a record's field may hold, for error messages.
_TAKES = ("None, bool, int (64-bit), float, str, bytes, dict or list (JSON), "
          "or date/datetime/time/Decimal/UUID (as their text)")


def field_value(value, name: str = "?", record: Optional[int] = None):
    """The WIT `field-value` of one Python value:

    ======================================  ==================
    None                                    null
    bool                                    boolean
    int (-2**63 .. 2**63-1)                 integer
    float                                   float
    str                                     text
    bytes, bytearray, memoryview            bytes
    dict, list, tuple                       json (`json.dumps`)
    date, datetime, time                    text (ISO 8601)
    Decimal, UUID                           text (`str`)
    ======================================  ==================

    Anything else, an int out of range or a dict that is not JSON is an
    `InternalError` naming the field and the record."""
    p = _parse()
    t = type(value)
    # The common cases first, by exact type (a record may hold millions).
    if t is str:
        return p.FieldValue_Text(value)
    if t is int and _I64[0] <= value <= _I64[1]:
        return p.FieldValue_Integer(value)
    if t is float:
        return p.FieldValue_Float(value)
    if value is None:
        return p.FieldValue_Null()
    if isinstance(value, bool):  # before int: bool is an int
        return p.FieldValue_Boolean(value)
    if isinstance(value, int):
        if not _I64[0] <= value <= _I64[1]:
            raise InternalError(
                f"{_where(name, record)} is {value}, outside the 64-bit integer range "
                f"({_I64[0]} .. {_I64[1]}); return it as a str (or a float) instead"
            )
        return p.FieldValue_Integer(value)
    if isinstance(value, float):
        return p.FieldValue_Float(value)
    if isinstance(value, str):
        return p.FieldValue_Text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return p.FieldValue_Bytes(bytes(value))
    if isinstance(value, (dict, list, tuple)):
        try:
            text = _json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as e:
            raise InternalError(f"{_where(name, record)} is not JSON: {e}") from None
        return p.FieldValue_Json(text)
    if isinstance(value, (_dt.date, _dt.time)):  # datetime is a date
        return p.FieldValue_Text(value.isoformat())
    if isinstance(value, (_Decimal, _uuid.UUID)):
        return p.FieldValue_Text(str(value))
    raise InternalError(f"{_where(name, record)} is a {type(value).__name__}; a field takes {_TAKES}")


_PARSE = None


def _parse():
    """The `parse` interface's types, looked up once."""
    global _PARSE
    if _PARSE is None:
        _PARSE = _wit.parse_types()
    return _PARSE


def _where(name: str, record: Optional[int]) -> str:
    return f"field {name!r}" + ("" if record is None else f" of record {record}")


def parsed_record(record: Mapping, index: Optional[int] = None):
    """The WIT `parsed-record` of a dict `{field name: value}` (in its order)."""
    p = _parse()
    if type(record) is not dict and not isinstance(record, Mapping):
        at = "" if index is None else f" {index}"
        raise InternalError(
            f"record{at} is a {type(record).__name__}; a parser returns dicts {{field name: value}}"
        )
    fields = []
    field, text = p.Field, p.FieldValue_Text
    for name, value in record.items():
        if type(name) is not str and not isinstance(name, str):
            raise InternalError(f"record {index}: field name {name!r} is not a str")
        # Text inline: the most common value, and this loop runs per field.
        fields.append(field(name, text(value) if type(value) is str else field_value(value, name, index)))
    return p.ParsedRecord(fields)


def _records(out, first: int) -> list:
    """An iterable of dicts (or None) as WIT records numbered from `first`
    (the record's index in its file, for error messages)."""
    if out is None:
        return []
    if isinstance(out, Mapping):
        raise InternalError(
            f"a parser returns an iterable of record dicts, not one dict; wrap it: [record] (record {first})"
        )
    try:
        it = iter(out)
    except TypeError:
        raise InternalError(
            f"a parser returns an iterable of record dicts (or None), not a {type(out).__name__}"
        ) from None
    return [parsed_record(r, first + i) for i, r in enumerate(it)]


# -------------------------------------------------------------- export

def export_parser(cls):
    """The class componentize-py instantiates for the `parse` export: in the
    plugin's app module, `Parse = export_parser(MyParser)`."""
    plugin = cls()
    cache = _Cache()
    wit_session = _parse().Session

    class Session(wit_session):
        """One file being parsed: the author's session, guarded like the Rust
        SDK's — after `finish`, or after `feed`/`finish` raised a plugin
        error, the author's session is dropped and every later call answers,
        without running anything, with that error again (or, after a
        `finish` that succeeded, an internal error)."""

        def __init__(self, inner):
            self._inner = inner
            self._failed = None  # the WIT error that closed the session
            self._count = 0  # records returned so far, to number them

        def _step(self, method, *args):
            if self._inner is None:
                raise _wit.Err(self._failed or InternalError("the parse session is already finished")._wit())
            try:
                out = _records(getattr(self._inner, method)(*args), self._count)
            except PluginError as e:
                self._inner, self._failed = None, e._wit()
                raise _wit.Err(self._failed) from None
            if method == "finish":
                self._inner = None
            self._count += len(out)
            return out

        def feed(self, chunk):
            return self._step("feed", bytes(chunk))

        def finish(self):
            return self._step("finish")

    def check_config(config_text):
        plugin.check_config(cache.get(cls.Config, config_text))

    def open_(file, config_text):
        config = cache.get(cls.Config, config_text)
        session = plugin.open(FileInfo._from_wit(file), config)
        if not (callable(getattr(session, "feed", None)) and callable(getattr(session, "finish", None))):
            raise InternalError(
                f"open returned a {type(session).__name__}; it returns a session with feed(chunk) and finish()"
            )
        return Session(session)

    from .plugin import _export_base

    class Parse(_export_base("Parse")):
        def describe(self):
            return _call(plugin.info)

        def check_config(self, config):
            return _call(check_config, config)

        def open(self, file, config):
            return _call(open_, file, config)

    Parse.plugin = plugin
    Parse.Session = Session
    return Parse
