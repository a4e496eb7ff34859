"""The hybrid generation path: one whole request from the memory and a model — or the path's error,
which the workflow's Retry and Catch turn into a retry or the next fallback (DESIGN.md:
hybrid → llm → llm (OpenAI-compatible) → traditional, named in the response.

Event (``tda.adapters.events.ModelPathEvent``): ``{"request", "routing", "fallbacks",
"max_inline_bytes", "execution_started"}``. Shipped as a container image (functions/memory.Dockerfile):
LanceDB, pyarrow and ONNX Runtime are over a zip's 250 MB.
"""

from typing import Any

from tda.startup import loading

with loading():  # the collector waits while the function starts (tda/startup.py)
    from tda.adapters.emf_metrics import EmfMetrics
    from tda.adapters.events import ModelPathEvent, parse
    from tda.app import operations
    from tda.wiring import install_once as install_adapters
    from tda.wiring import warm_memory

    metrics = EmfMetrics()  # namespace, service: the template's METRICS_NAMESPACE, SERVICE_NAME
    # The use cases' counts (records per path, fallbacks) into its metrics.
    install_adapters(metrics)
    warm_memory()  # in the init phase, not the first request: the model loads, the store opens


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    e = parse(event, ModelPathEvent)
    return operations.model_path(
        e.request,
        "hybrid",
        e.routing.model_dump() if e.routing is not None else None,
        None,
        e.fallbacks,
        e.max_inline_bytes,
        e.execution_started,
    )
