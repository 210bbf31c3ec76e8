"""A Python parser for ferry's tests, in the SDK's simple form (`parse` on
the whole file): each non-empty line `KEY` becomes one record holding a
value of every kind a field takes, so a test can see each one arrive in the
target. Two lines are special:

- `MALFORMED` raises `ferry.MalformedInput` naming the line (the file is
  quarantined with the reason, the others migrate);
- `CRASH` divides by zero in `helper_that_fails` (the call traps and ferry
  reports the author's traceback).
"""

import ferry_plugin as ferry


def helper_that_fails(n):
    return 1 // n


class Records(ferry.Parser):
    name = "python-records"
    version = "0.1.0"
    description = "Test parser: one record of every field kind per line; MALFORMED and CRASH lines fail."

    def parse(self, data, file, config):
        for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
            key = line.strip()
            if not key:
                continue
            if key == "MALFORMED":
                raise ferry.MalformedInput(f"line {n} says MALFORMED", line=n)
            if key == "CRASH":
                helper_that_fails(0)
            yield {
                "title": key,
                "line_no": n,
                "ratio": n / 4,
                "odd": n % 2 == 1,
                "raw": key.encode(),
                "tags": [file.name, key.lower()],
                "nothing": None,
            }


# The class componentize-py wires to the `parse` export.
Parse = ferry.export_parser(Records)
