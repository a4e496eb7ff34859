"""The local runtime: ``tda`` CLI, ``tda serve`` (gRPC shim + HTTP), moto's workflow interpreter.

Importing it installs the real adapters behind the ports (``tda.wiring``), as a Lambda handler does.
"""

import gc
import os

# Before numpy and pydantic are first imported. numpy's OpenBLAS starts a spinning thread per
# core at import (≈0.1 s of CPU) for matrix products nothing here makes; pydantic's plugins are
# not looked for (tda/pydantic_plugins.py). An explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

# The collector paused while the adapters' modules load, and what they made frozen after (kept
# out of every later collection). numpy, the service, their classes and data are ≈40K objects
# that live as long as the process, yet their allocations set off some 50 collections, each
# walking them again; and the first one after a mere pause would walk them all at once. ≈10 ms
# of a one-record `tda generate`, 7 % (measured). What a process made before is frozen with
# them: live objects too, as `tda serve` freezes its heap once started (serve.py).
_collecting = gc.isenabled()
gc.disable()
try:
    from tda.wiring import install

    install()
finally:
    gc.freeze()
    if _collecting:
        gc.enable()
