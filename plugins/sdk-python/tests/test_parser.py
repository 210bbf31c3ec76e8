"""Native tests of the SDK's parser path (plain CPython 3.10+, no component):
    python3 -m unittest discover -s plugins/sdk-python/tests
"""

import datetime as dt
import os
import sys
import unittest
import uuid
from dataclasses import dataclass
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ferry_plugin as ferry
from ferry_plugin import _wit, testing


class WholeFile(ferry.Parser):
    """The simple form: one record per line, parsed at the end."""
    name = "whole-file"

    def parse(self, data, file, config):
        for i, line in enumerate(data.decode().split("\n"), 1):
            if line:
                yield {"n": i, "text": line, "file": file.name, "size": file.size}


class Words(ferry.Parser):
    """The streaming form: one record per space-separated word."""
    name = "words"

    @dataclass
    class Config:
        upper: bool = False

    Config = Config

    class Session:
        def __init__(self, config):
            self.config, self.tail = config, b""

        def feed(self, chunk):
            words = (self.tail + chunk).split(b" ")
            self.tail = words.pop()
            return [self._word(w) for w in words if w]

        def finish(self):
            return [self._word(self.tail)] if self.tail else None

        def _word(self, w):
            w = w.decode()
            return {"word": w.upper() if self.config.upper else w}

    def open(self, file, config):
        return Words.Session(config)


class Forms(unittest.TestCase):
    def test_simple_form_buffers_the_file_and_sees_file_info(self):
        recs = testing.parse(WholeFile, b"a\n\nb", name="d/x.txt", chunk_size=1)
        self.assertEqual(recs, [
            {"n": 1, "text": "a", "file": "d/x.txt", "size": 4},
            {"n": 3, "text": "b", "file": "d/x.txt", "size": 4},
        ])

    def test_streaming_form_with_config_at_any_chunking(self):
        data = b"to be  or not"
        want = [{"word": w} for w in ["to", "be", "or", "not"]]
        for size in (1, 2, 5, 64 << 10):
            self.assertEqual(testing.parse(Words, data, chunk_size=size), want, size)
        self.assertEqual(testing.parse(Words, b"hi you", '{"upper": true}'), [{"word": "HI"}, {"word": "YOU"}])

    def test_empty_file(self):
        self.assertEqual(testing.parse(WholeFile, b""), [])
        self.assertEqual(testing.parse(Words, b""), [])

    def test_neither_form_is_an_internal_error(self):
        class Nothing(ferry.Parser):
            name = "nothing"
        with self.assertRaises(testing.CallError) as e:
            testing.parse(Nothing, b"x")
        self.assertEqual(type(e.exception.value).__name__, "PluginError_Internal")
        self.assertIn("overrides neither `open` (streaming) nor `parse` (whole file)", e.exception.value.value)

    def test_describe_and_check_config(self):
        exp = ferry.export_parser(Words)()
        info = exp.describe()
        self.assertEqual(info.name, "words")
        self.assertIn('"upper"', info.config_schema)
        exp.check_config('{"upper": false}')
        with self.assertRaises(_wit.Err) as e:
            exp.check_config('{"uper": true}')
        self.assertEqual(type(e.exception.value).__name__, "PluginError_InvalidConfig")
        self.assertIn("unknown key 'uper'", e.exception.value.value)

    def test_check_config_hook(self):
        class Picky(WholeFile):
            @dataclass
            class Config:
                sep: str = ","

            Config = Config

            def check_config(self, config):
                if len(config.sep) != 1:
                    raise ferry.InvalidConfig(f"sep must be one character, got {config.sep!r}")
        with self.assertRaises(testing.CallError) as e:
            testing.parse(Picky, b"x", '{"sep": "ab"}')
        self.assertIn("sep must be one character", e.exception.value.value)


class Values(unittest.TestCase):
    def test_every_python_value_maps_to_a_field_value(self):
        rec = {
            "none": None, "bool": True, "int": -(1 << 63), "max": (1 << 63) - 1, "float": 2.5,
            "str": "héllo", "bytes": b"\x00\xff", "barr": bytearray(b"ab"),
            "dict": {"a": [1, None, "ü"]}, "list": [1, 2], "tuple": (3,),
            "date": dt.date(2024, 2, 29), "ts": dt.datetime(2024, 1, 2, 3, 4, 5),
            "dec": Decimal("-1.50"), "uuid": uuid.UUID(int=1),
        }
        fields = ferry.parsed_record(rec).fields
        kinds = {f.name: type(f.value).__name__.split("_")[1] for f in fields}
        self.assertEqual(kinds, {
            "none": "Null", "bool": "Boolean", "int": "Integer", "max": "Integer", "float": "Float",
            "str": "Text", "bytes": "Bytes", "barr": "Bytes", "dict": "Json", "list": "Json", "tuple": "Json",
            "date": "Text", "ts": "Text", "dec": "Text", "uuid": "Text",
        })
        by = {f.name: f.value for f in fields}
        self.assertEqual(by["dict"].value, '{"a": [1, null, "ü"]}')
        self.assertEqual(by["ts"].value, "2024-01-02T03:04:05")
        self.assertEqual(by["dec"].value, "-1.50")
        self.assertEqual([f.name for f in fields], list(rec), "fields keep the dict's order")

    def _internal(self, records):
        class P(ferry.Parser):
            name = "p"

            def parse(self, data, file, config):
                return records
        with self.assertRaises(testing.CallError) as e:
            testing.parse(P, b"x")
        self.assertEqual(type(e.exception.value).__name__, "PluginError_Internal")
        return e.exception.value.value

    def test_int_outside_s64_is_a_clear_plugin_error(self):
        msg = self._internal([{"ok": 1}, {"n": 1 << 63}])
        self.assertIn("field 'n' of record 1 is 9223372036854775808, outside the 64-bit integer range", msg)
        self.assertIn("return it as a str", msg)
        self.assertIn("of record 0 is", self._internal([{"n": -(1 << 63) - 1}]))

    def test_unsupported_values_and_shapes_are_named(self):
        self.assertIn("field 's' of record 0 is a set", self._internal([{"s": {1}}]))
        self.assertIn("field 'j' of record 0 is not JSON", self._internal([{"j": {"x": float("nan")}}]))
        self.assertIn("field 'j' of record 0 is not JSON", self._internal([{"j": [object()]}]))
        self.assertIn("record 0 is a list; a parser returns dicts", self._internal([["a", 1]]))
        self.assertIn("not one dict; wrap it", self._internal({"a": 1}))
        self.assertIn("not a int", self._internal(7))
        self.assertIn("field name 1 is not a str", self._internal([{1: "x"}]))


class Errors(unittest.TestCase):
    def test_malformed_input_is_the_typed_plugin_error_with_its_location(self):
        class Strict(ferry.Parser):
            name = "strict"

            def parse(self, data, file, config):
                raise ferry.MalformedInput("unclosed quote", line=3, line_column=7, byte_offset=42)
        with self.assertRaises(testing.CallError) as e:
            testing.parse(Strict, b"x")
        err = e.exception.value
        self.assertEqual(type(err).__name__, "PluginError_MalformedInput")
        self.assertEqual(err.value.message, "unclosed quote")
        loc = err.value.location
        self.assertEqual((loc.line, loc.line_column, loc.byte_offset, loc.row), (3, 7, 42, None))

    def test_other_exceptions_propagate_for_the_trap_and_its_traceback(self):
        # In a component, componentize-py prints the traceback and traps;
        # ferry reports the trap with the author's frames.
        class Buggy(ferry.Parser):
            name = "buggy"

            def parse(self, data, file, config):
                return [{"n": 1 // 0}]
        with self.assertRaises(ZeroDivisionError):
            testing.parse(Buggy, b"x")

    def test_a_failed_or_finished_session_answers_without_running_again(self):
        calls = []

        class Once(ferry.Parser):
            name = "once"

            class S:
                def feed(self, chunk):
                    calls.append(chunk)
                    if chunk == b"bad":
                        raise ferry.MalformedInput("bad chunk", byte_offset=0)
                    return [{"c": chunk}]

                def finish(self):
                    calls.append("finish")
                    return []

            def open(self, file, config):
                return Once.S()

        exp = ferry.export_parser(Once)()
        s = exp.open(_wit.parse_types().FileInfo("f", 3, None), "{}")
        with self.assertRaises(_wit.Err) as first:
            s.feed(b"bad")
        with self.assertRaises(_wit.Err) as again:
            s.feed(b"more")
        with self.assertRaises(_wit.Err):
            s.finish()
        self.assertEqual(again.exception.value, first.exception.value)
        self.assertEqual(calls, [b"bad"], "the author's session ran once")

        s = exp.open(_wit.parse_types().FileInfo("f", 1, None), "{}")
        self.assertEqual(len(s.feed(b"a")), 1)
        self.assertEqual(s.finish(), [])
        with self.assertRaises(_wit.Err) as e:
            s.feed(b"b")
        self.assertIn("already finished", e.exception.value.value)

    def test_open_must_return_a_session(self):
        class NoSession(ferry.Parser):
            name = "no-session"

            def open(self, file, config):
                return [{"a": 1}]
        with self.assertRaises(testing.CallError) as e:
            testing.parse(NoSession, b"x")
        self.assertIn("open returned a list; it returns a session with feed(chunk) and finish()",
                      e.exception.value.value)

    def test_records_are_numbered_across_calls_in_errors(self):
        class Late(ferry.Parser):
            name = "late"

            class S:
                def feed(self, chunk):
                    return [{"n": 1}, {"n": 2}]

                def finish(self):
                    return [{"n": 1 << 64}]

            def open(self, file, config):
                return Late.S()
        with self.assertRaises(testing.CallError) as e:
            testing.parse(Late, b"ab", chunk_size=1)
        self.assertIn("field 'n' of record 4 is", e.exception.value.value)


if __name__ == "__main__":
    unittest.main()
