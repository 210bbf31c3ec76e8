"""Native test of the example (plain CPython, no component): python3 test_app.py"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "sdk-python"))
sys.path.insert(0, os.path.dirname(__file__))

import ferry_plugin as ferry
from ferry_plugin import testing
from app import Normalise

SCHEMA = ferry.Schema("customers", [
    ferry.Column("id", "int64", False),
    ferry.Column("email", "text"),
])


class NormaliseTest(unittest.TestCase):
    def test_trims_lowercases_and_rejects_empty(self):
        rows, diags = testing.transform(Normalise, SCHEMA, [
            {"id": 1, "email": "  Ada@Example.COM "},
            {"id": 2, "email": "   "},
            {"id": 3, "email": None},
            {"id": 4, "email": "ÉLODIE@exemple.fr"},
        ], '{"column": "email"}')
        self.assertEqual(rows, [
            {"id": 1, "email": "ada@example.com"},
            {"id": 3, "email": None},
            {"id": 4, "email": "élodie@exemple.fr"},
        ])
        self.assertEqual(diags, [("error", 1, "email", "empty-email", "email is empty")])

    def test_missing_column_is_unsupported_schema(self):
        with self.assertRaises(testing.CallError) as e:
            testing.transform(Normalise, SCHEMA, [], '{"column": "mail"}')
        self.assertIn("available columns: id, email", e.exception.value.value)

    def test_unknown_key_is_invalid_config(self):
        with self.assertRaises(testing.CallError) as e:
            testing.transform(Normalise, SCHEMA, [], '{"colum": "email"}')
        self.assertEqual(type(e.exception.value).__name__, "PluginError_InvalidConfig")
        self.assertIn("unknown key 'colum'", e.exception.value.value)


if __name__ == "__main__":
    unittest.main()
