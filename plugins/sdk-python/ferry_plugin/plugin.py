"""The classes a plugin author subclasses, and the adapters that export them
as the WIT interfaces componentize-py wires up."""

from typing import List

from . import _wit
from .batch import Batch, Diagnostic, Output
from .config import _Cache, config_schema
from .schema import InternalError, PluginError, Schema


class _Base:
    #: Stable name, lowercase with dashes.
    name: str = "python-plugin"
    #: The plugin's version (semver).
    version: str = "0.1.0"
    #: One sentence for `ferry plugin list`.
    description: str = ""
    #: A dataclass the configuration JSON is parsed into, or None for no configuration.
    Config = None

    def info(self):
        return _wit.types.PluginInfo(self.name, self.version, self.description,
                                     config_schema(self.Config), [])


class Transformer(_Base):
    """Batch in, batch out. Override `transform` (and `transform_schema` when
    the output schema differs from the input's)."""

    def transform_schema(self, schema: Schema, config) -> Schema:
        """Plan time: the schema `transform` returns. Default: the input's."""
        return schema

    def transform(self, batch: Batch, output: Output, config) -> None:
        """Run time: read `batch` (rows by column name), `output.append(...)`
        the rows to keep, `output.reject(row, code, message)` the others."""
        raise NotImplementedError


class Validator(_Base):
    """Inspects a batch, never changes it."""

    def check_schema(self, schema: Schema, config) -> None:
        """Plan time: raise `UnsupportedSchema` when `config` does not fit `schema`."""

    def validate(self, batch: Batch, config) -> List[Diagnostic]:
        """Return diagnostics; `ferry_plugin.reject(row, code, message)` rejects a row."""
        raise NotImplementedError


def _call(fn, *args):
    """Run a plugin method: a `PluginError` becomes the typed WIT error. Any
    other exception propagates: componentize-py's runtime prints its
    traceback (file, line, function) to stderr and traps, and ferry reports
    the trap with the tail of stderr. Natively the exception is raised as is."""
    try:
        return fn(*args)
    except PluginError as e:
        raise _wit.Err(e._wit()) from None


def export_transformer(cls):
    """The class componentize-py instantiates for the `transform` export:
    in the plugin's app module, `Transform = export_transformer(MyPlugin)`."""
    plugin = cls()
    cache = _Cache()

    def schemas(input_schema, config_text):
        config = cache.get(cls.Config, config_text)
        schema = Schema._from_wit(input_schema)
        out = plugin.transform_schema(schema, config)
        if not isinstance(out, Schema):
            raise InternalError(f"transform_schema returned {type(out).__name__}, not a Schema")
        return schema, out, config

    def describe():
        return plugin.info()

    def transform_schema(input_schema, config_text):
        return schemas(input_schema, config_text)[1]._to_wit()

    def transform(input_schema, config_text, rows):
        schema, out_schema, config = schemas(input_schema, config_text)
        output = Output(out_schema)
        result = plugin.transform(Batch(schema, rows), output, config)
        if result is not None and result is not output:
            raise InternalError("transform fills the `output` it is given and returns None")
        batch, diagnostics = output._finish()
        return _wit.transform_output(batch, diagnostics)

    class Transform(_export_base("Transform")):
        def describe(self):
            return _call(describe)

        def transform_schema(self, input, config):
            return _call(transform_schema, input, config)

        def transform(self, input, config, rows):
            return _call(transform, input, config, rows)

    Transform.plugin = plugin
    return Transform


def export_validator(cls):
    """`Validate = export_validator(MyValidator)` in the plugin's app module."""
    plugin = cls()
    cache = _Cache()

    def check_schema(input_schema, config_text):
        config = cache.get(cls.Config, config_text)
        plugin.check_schema(Schema._from_wit(input_schema), config)

    def validate(input_schema, config_text, rows):
        config = cache.get(cls.Config, config_text)
        schema = Schema._from_wit(input_schema)
        diags = plugin.validate(Batch(schema, rows), config) or []
        return [d._to_wit() for d in diags]

    class Validate(_export_base("Validate")):
        def describe(self):
            return _call(plugin.info)

        def check_schema(self, input, config):
            return _call(check_schema, input, config)

        def validate(self, input, config, rows):
            return _call(validate, input, config, rows)

    Validate.plugin = plugin
    return Validate


def _export_base(name):
    if _wit.NATIVE:
        return object
    import wit_world.exports  # type: ignore

    return getattr(wit_world.exports, name)
