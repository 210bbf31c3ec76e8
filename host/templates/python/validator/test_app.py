"""Native test of {{name}} (plain CPython, no component, no ferry):

    PYTHONPATH=.ferry/sdk/python python3 test_app.py

`ferry plugin test` runs it the same way. `testing.validate` calls the
plugin as ferry does (configuration as text, batches encoded and decoded).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ferry_plugin as ferry
from ferry_plugin import testing

from app import RequireValue

SCHEMA = ferry.Schema("customers", [
    ferry.Column("id", "int64", nullable=False),
    ferry.Column("email", "text"),
])


class RequireValueTest(unittest.TestCase):
    def test_rejects_null_and_blank_with_the_reason(self):
        diags = testing.validate(RequireValue, SCHEMA, [
            {"id": 1, "email": "ada@example.com"},
            {"id": 2, "email": None},
            {"id": 3, "email": " \t"},
        ], '{"column": "email"}')
        # (severity, input row, column, code, message): rows 1 and 2 are quarantined.
        self.assertEqual(diags, [
            ("error", 1, "email", "required", "email is null"),
            ("error", 2, "email", "required", "email is blank"),
        ])

    def test_a_missing_column_is_refused_at_plan_time(self):
        with self.assertRaises(testing.CallError) as e:
            testing.validate(RequireValue, SCHEMA, [], '{"column": "mail"}')
        self.assertIn("available columns: id, email", e.exception.value.value)


if __name__ == "__main__":
    unittest.main()
