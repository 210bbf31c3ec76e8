"""Native tests of the SDK (plain CPython 3.10+, no component):
    python3 -m unittest discover -s plugins/sdk-python/tests
"""

import datetime as dt
import os
import sys
import unittest
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ferry_plugin as ferry
from ferry_plugin import _wit, testing

UTC = dt.timezone.utc

EVERY_TYPE = ferry.Schema("t", [ferry.Column(n, t) for n, t in [
    ("b", "boolean"), ("i", "int64"), ("f", "float64"), ("d", "decimal"), ("t", "text"),
    ("y", "bytes"), ("j", "json"), ("date", "date"), ("time", "time"), ("ts", "timestamp"),
    ("tz", "timestamptz"), ("u", "uuid"),
]])

ROW = {
    "b": True, "i": -(1 << 63), "f": 2.5, "d": "-12.340", "t": "héllo ✓", "y": b"\x00\xff",
    "j": '{"a": [1, 2]}', "date": dt.date(2024, 2, 29), "time": dt.time(23, 59, 59, 999999),
    "ts": dt.datetime(1969, 12, 31, 23, 59, 59, 1), "tz": dt.datetime(2024, 1, 1, 12, tzinfo=UTC),
    "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
}


class Copy(ferry.Transformer):
    name = "copy"

    def transform(self, batch, output, config):
        for row in batch:
            output.append(row)


class ToDicts(ferry.Transformer):
    name = "to-dicts"

    def transform(self, batch, output, config):
        for row in batch:
            output.append(row.to_dict())


class RoundTrip(unittest.TestCase):
    def test_every_type_and_nulls_both_paths(self):
        nulls = {k: None for k in ROW}
        for cls in (Copy, ToDicts):
            rows, diags = testing.transform(cls, EVERY_TYPE, [ROW, nulls, ROW])
            self.assertEqual(rows, [ROW, nulls, ROW], cls.name)
            self.assertEqual(diags, [])

    def test_empty_batch(self):
        self.assertEqual(testing.transform(ToDicts, EVERY_TYPE, []), ([], []))

    def test_layout_offsets_and_bitmap(self):
        schema = ferry.Schema("t", [ferry.Column("s", "text")])
        out = ferry.Output(schema)
        for v in ["ab", None, "", "ü"] + ["x"] * 6:
            out.append({"s": v})
        batch, _ = out._finish()
        col = batch.columns[0]
        self.assertEqual(batch.num_rows, 10)
        self.assertEqual(col.data.value.data, b"ab\xc3\xbc" + b"x" * 6)
        self.assertEqual(col.data.value.offsets, [0, 2, 2, 2, 4, 5, 6, 7, 8, 9, 10])
        self.assertEqual(col.validity, bytes([0b11111101, 0b11]))

    def test_no_bitmap_without_nulls(self):
        out = ferry.Output(ferry.Schema("t", [ferry.Column("i", "int64")]))
        out.append({"i": 1})
        self.assertIsNone(out._finish()[0].columns[0].validity)

    def test_outputs_accept_convenient_forms(self):
        schema = ferry.Schema("t", [ferry.Column("d", "decimal"), ferry.Column("j", "json"),
                                    ferry.Column("u", "uuid"), ferry.Column("ts", "timestamp")])
        rows, _ = testing.transform(ToDicts, schema, [
            {"d": Decimal("1E+2"), "j": {"k": [1, None]}, "u": "12345678-1234-5678-1234-567812345678", "ts": 0},
        ])
        self.assertEqual(rows[0]["d"], "100")
        self.assertEqual(rows[0]["j"], '{"k": [1, null]}')
        self.assertEqual(rows[0]["u"], ROW["u"])
        self.assertEqual(rows[0]["ts"], dt.datetime(1970, 1, 1))

    def test_out_of_range_temporal_values_stay_ints(self):
        schema = ferry.Schema("t", [ferry.Column("ts", "timestamp")])
        far = 200_000 * 365 * 86_400 * 1_000_000
        rows, _ = testing.transform(ToDicts, schema, [{"ts": far}])
        self.assertEqual(rows, [{"ts": far}])

    def test_wrong_value_type_names_column_and_row(self):
        class Bad(ferry.Transformer):
            def transform(self, batch, output, config):
                for row in batch:
                    output.append(row, {"i": "seven"})
        with self.assertRaises(testing.CallError) as e:
            testing.transform(Bad, EVERY_TYPE, [ROW])
        self.assertIn("output column 'i' (int64) takes int", e.exception.value.value)
        self.assertIn("row 0", e.exception.value.value)

    def test_null_in_non_nullable_output(self):
        out = ferry.Output(ferry.Schema("t", [ferry.Column("i", "int64", nullable=False)]))
        out.append({})
        with self.assertRaises(ferry.InternalError) as e:
            out._finish()
        self.assertIn("output column 'i' is not nullable; row 0 is None", str(e.exception))

    def test_unknown_output_column(self):
        out = ferry.Output(ferry.Schema("t", [ferry.Column("i", "int64")]))
        with self.assertRaises(ferry.InternalError) as e:
            out.append({"j": 1})
        self.assertIn("no column 'j'; it has: i", str(e.exception))


class Transforms(unittest.TestCase):
    def test_added_column_reject_and_warning(self):
        class Domain(ferry.Transformer):
            def transform_schema(self, schema, config):
                schema.require("email", types=["text"])
                return schema.with_column("domain", "text")

            def transform(self, batch, output, config):
                for row in batch:
                    email = row["email"]
                    if email == "":
                        output.reject(row, "empty", "empty address", column="email")
                    elif "@" not in email:
                        output.warn(row, "no-at", "no @")
                        output.append(row)
                    else:
                        output.append(row, domain=email.split("@")[1])

        schema = ferry.Schema("c", [ferry.Column("id", "int64", False), ferry.Column("email", "text")])
        rows, diags = testing.transform(Domain, schema, [
            {"id": 1, "email": "a@x.org"}, {"id": 2, "email": ""}, {"id": 3, "email": "nope"},
        ])
        self.assertEqual(rows, [
            {"id": 1, "email": "a@x.org", "domain": "x.org"},
            {"id": 3, "email": "nope", "domain": None},
        ])
        self.assertEqual(diags, [("error", 1, "email", "empty", "empty address"),
                                 ("warning", 2, None, "no-at", "no @")])

    def test_untouched_columns_are_handed_back_as_they_came(self):
        schema = ferry.Schema("t", [ferry.Column("a", "text"), ferry.Column("b", "text")])
        batch = ferry.Batch.from_rows(schema, [{"a": "x", "b": "y"}])

        class Upper(ferry.Transformer):
            def transform(self, batch, output, config):
                for row in batch:
                    output.append(row, a=row["a"].upper())

        exp = ferry.export_transformer(Upper)()
        out = exp.transform(schema._to_wit(), "", _wit.types.Batch(1, batch._wit_cols))
        self.assertIs(out.batch.columns[1], batch._wit_cols[1])
        self.assertIsNot(out.batch.columns[0], batch._wit_cols[0])
        self.assertIsNone(batch._cols[1], "column b was never decoded")

    def test_plugin_errors_are_typed_other_exceptions_propagate(self):
        class Boom(ferry.Transformer):
            def transform(self, batch, output, config):
                if len(batch):
                    raise ferry.MalformedInput("bad", row=0, column="i")
                raise ZeroDivisionError("boom")
        with self.assertRaises(testing.CallError) as e:
            testing.transform(Boom, EVERY_TYPE, [ROW])
        self.assertEqual(e.exception.value.value.location.column, "i")
        # In a component, componentize-py prints the traceback and traps.
        with self.assertRaises(ZeroDivisionError):
            testing.transform(Boom, EVERY_TYPE, [])


class Config(unittest.TestCase):
    @dataclass
    class Conf:
        column: str
        limit: int = 10
        ratio: float = 0.5
        tags: List[str] = None
        note: Optional[str] = None

        def __post_init__(self):
            if self.limit < 0:
                raise ValueError("limit must be >= 0")

    def parse(self, text):
        return ferry.parse_config(self.Conf, text)

    def test_parses_with_defaults(self):
        c = self.parse('{"column": "email", "ratio": 1}')
        self.assertEqual((c.column, c.limit, c.ratio), ("email", 10, 1))

    def test_errors_name_the_key(self):
        for text, msg in [
            ('{"colum": "x"}', "unknown key 'colum'; expected one of: column, limit, ratio, tags, note"),
            ("{}", "missing key 'column'"),
            ('{"column": 3}', "key 'column' must be a string"),
            ('{"column": "x", "limit": true}', "key 'limit' must be a integer"),
            ('{"column": "x", "limit": -1}', "limit must be >= 0"),
            ("[1]", "must be a JSON object"),
            ("{", "not JSON"),
        ]:
            with self.assertRaises(ferry.InvalidConfig) as e:
                self.parse(text)
            self.assertIn(msg, str(e.exception), text)

    def test_no_config_refuses_keys_and_accepts_empty_text(self):
        self.assertIsNone(ferry.parse_config(None, ""))
        with self.assertRaises(ferry.InvalidConfig):
            ferry.parse_config(None, '{"a": 1}')

    def test_config_schema(self):
        import json
        s = json.loads(ferry.config_schema(self.Conf))
        self.assertEqual(s["required"], ["column"])
        self.assertEqual(s["properties"]["limit"], {"type": "integer", "default": 10})
        self.assertEqual(s["properties"]["note"]["type"], ["string", "null"])
        self.assertFalse(s["additionalProperties"])


if __name__ == "__main__":
    unittest.main()
