"""Test Data Agent core: schema-driven generation, validation, coherence and output formats.

This package never sees a Lambda event, a gRPC message or an HTTP request: adapters at the edge
translate those to :mod:`tda.domain.contract` and back.
"""

__version__ = "0.1.0"

from tda.pydantic_plugins import skip_plugin_discovery

skip_plugin_discovery()  # before any model is built
