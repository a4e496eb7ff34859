"""Test Data Agent core: schema-driven generation, validation, coherence and output formats.

This package never sees a Lambda event, a gRPC message or an HTTP request: adapters at the edge
translate those to :mod:`tda.domain.contract` and back.
"""

__version__ = "0.1.0"

from tda.dataclass_bytecode import install as load_compiled_dataclass_methods
from tda.pydantic_plugins import skip_plugin_discovery

load_compiled_dataclass_methods()  # before any dataclass is built: pydantic's, then ours
skip_plugin_discovery()  # before any model is built
