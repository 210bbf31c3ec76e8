"""Native test of {{name}} (plain CPython, no component, no ferry):

    PYTHONPATH=.ferry/sdk/python python3 test_app.py

`ferry plugin test` runs it the same way. `testing.transform` calls the
plugin as ferry does (configuration as text, batches encoded and decoded).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ferry_plugin as ferry
from ferry_plugin import testing

from app import Normalise

SCHEMA = ferry.Schema("customers", [
    ferry.Column("id", "int64", nullable=False),
    ferry.Column("email", "text"),
])


class NormaliseTest(unittest.TestCase):
    def test_trims_lowercases_and_rejects_empty(self):
        rows, diags = testing.transform(Normalise, SCHEMA, [
            {"id": 1, "email": "  Ada@Example.COM "},
            {"id": 2, "email": "   "},
            {"id": 3, "email": None},
        ], '{"column": "email"}')
        self.assertEqual(rows, [
            {"id": 1, "email": "ada@example.com"},
            {"id": 3, "email": None},
        ])
        # (severity, input row, column, code, message): row 2 is quarantined with this reason.
        self.assertEqual(diags, [("error", 1, "email", "empty-value", "email is empty")])

    def test_a_missing_column_is_refused_at_plan_time(self):
        with self.assertRaises(testing.CallError) as e:
            testing.transform(Normalise, SCHEMA, [], '{"column": "mail"}')
        self.assertIn("available columns: id, email", e.exception.value.value)

    def test_an_unknown_key_is_invalid_config(self):
        with self.assertRaises(testing.CallError) as e:
            testing.transform(Normalise, SCHEMA, [], '{"colum": "email"}')
        self.assertIn("unknown key 'colum'", e.exception.value.value)


if __name__ == "__main__":
    unittest.main()
