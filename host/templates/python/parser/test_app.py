"""Native test of {{name}} (plain CPython, no component, no ferry):

    PYTHONPATH=.ferry/sdk/python python3 test_app.py

`ferry plugin test` runs it the same way. `testing.parse` drives the parser
as ferry does: check-config, open, feed chunk by chunk, finish.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ferry_plugin import testing

from app import Lines

TEXT = "first line\r\n\n  second line  \nthird — ünïcode".encode()


class LinesTest(unittest.TestCase):
    def test_one_record_per_non_empty_line(self):
        self.assertEqual(testing.parse(Lines, TEXT), [
            {"line_no": 1, "text": "first line"},
            {"line_no": 3, "text": "  second line  "},
            {"line_no": 4, "text": "third — ünïcode"},
        ])

    def test_chunk_boundaries_do_not_matter(self):
        # ferry may cut a chunk anywhere, even inside a character.
        whole = testing.parse(Lines, TEXT)
        for size in (1, 2, 3, 7):
            self.assertEqual(testing.parse(Lines, TEXT, chunk_size=size), whole, size)

    def test_a_nul_byte_makes_the_file_malformed_naming_the_line(self):
        with self.assertRaises(testing.CallError) as e:
            testing.parse(Lines, b"ok\nbad \x00 line\n", name="notes/a.txt")
        err = e.exception.value.value  # the WIT plugin-error's `malformed` record
        self.assertIn("line 2 of notes/a.txt holds a NUL byte", err.message)
        self.assertEqual((err.location.line, err.location.byte_offset), (2, 7))

    def test_invalid_utf8_is_malformed(self):
        with self.assertRaises(testing.CallError) as e:
            testing.parse(Lines, b"caf\xe9\n")
        self.assertIn("line 1 of input.txt is not UTF-8", e.exception.value.value.message)

    def test_a_line_over_the_limit_is_malformed(self):
        with self.assertRaises(testing.CallError) as e:
            testing.parse(Lines, b"short\n" + b"x" * 50, '{"max_line_bytes": 10}', chunk_size=7)
        self.assertIn("line 2 of input.txt is longer than 10 bytes", e.exception.value.value.message)

    def test_bad_config_is_refused(self):
        for config, says in [('{"max_line_bytes": 0}', "between 1 and"), ('{"max_lines": 1}', "unknown key")]:
            with self.assertRaises(testing.CallError) as e:
                testing.parse(Lines, TEXT, config)
            self.assertIn(says, e.exception.value.value)


if __name__ == "__main__":
    unittest.main()
