"""The local runtime: ``tda`` CLI, ``tda serve`` (gRPC shim + HTTP), moto's workflow interpreter.

Importing it installs the real adapters behind the ports (``tda.wiring``), as a Lambda handler does.
"""

import os

# Before numpy and pydantic are first imported. numpy's OpenBLAS starts a spinning thread per
# core at import (≈0.1 s of CPU) for matrix products nothing here makes; pydantic's plugins are
# not looked for (tda/pydantic_plugins.py). An explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from tda.startup import loading

with loading():  # the collector waits while the runtime loads (tda/startup.py)
    from tda.wiring import install

    install()
