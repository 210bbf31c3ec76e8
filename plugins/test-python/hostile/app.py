"""A hostile Python plugin for ferry's sandbox tests: by config it spins,
allocates without bound, raises, recurses, logs or snoops (environment and
files). The host must answer each with its typed limit or trap error.
"""

from dataclasses import dataclass
import ferry_plugin as ferry

@dataclass
class Config:
    do: str = "nothing"

def helper_that_fails(v):
    return 1 // v

class Hostile(ferry.Transformer):
    name = "python-hostile"
    description = "spin / membomb / raise / log / env / file, by config"
    Config = Config

    def transform(self, batch, output, config):
        if config.do == "spin":
            while True:
                pass
        if config.do == "membomb":
            hog = []
            while True:
                hog.append(bytearray(1 << 20))
        if config.do == "raise":
            helper_that_fails(0)
        if config.do == "error":
            raise ferry.MalformedInput("bad row", row=0, column="id")
        if config.do == "log":
            ferry.log("warn", f"hello from python, {len(batch)} rows")
            print("printed to stdout")
        if config.do == "snoop":
            import os
            ferry.log("warn", f"env={dict(os.environ)!r} cwd-list={_try(lambda: os.listdir('/'))}")
        if config.do == "recurse":
            def r(n): return r(n + 1)
            r(0)
        for row in batch:
            output.append(row)

def _try(f):
    try:
        return f()
    except Exception as e:
        return repr(e)

Transform = ferry.export_transformer(Hostile)
