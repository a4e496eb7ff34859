"""The local runtime: ``tda`` CLI, ``tda serve`` (gRPC shim + HTTP), moto's workflow interpreter.

Importing it installs the real adapters behind the ports (``tda.wiring``), as a Lambda handler does.
"""

from tda.wiring import install

install()
