"""The local runtime: ``tda`` CLI, ``tda serve`` (gRPC shim + HTTP), moto's workflow interpreter.

Importing it installs the real adapters behind the ports (``tda.wiring``), as a Lambda handler does.
"""

import os

# Before numpy and pydantic are first imported. numpy's OpenBLAS starts a spinning thread per
# core at import (≈0.1 s of CPU) for matrix products nothing here makes; pydantic's plugins are
# not looked for (tda/pydantic_plugins.py). An explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from tda.domain.errors import ConfigurationError
from tda.startup import loading

# A bad setting in the environment (tda/app/environment.py), kept for the CLI to name before it
# exits 2 (``cli.main``): raised here, it would be a traceback from the console script's import.
configuration_error: ConfigurationError | None = None

with loading():  # the collector waits while the runtime loads (tda/startup.py)
    try:
        from tda.wiring import install
    except ConfigurationError as exc:
        configuration_error = exc
    else:
        install()
