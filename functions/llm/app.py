"""The llm generation path: one whole request from a model (Anthropic or an OpenAI-compatible
server, the event's ``provider``), every record validated — or the path's error, which the
workflow's Retry and Catch turn into a retry or the next fallback (DESIGN.md: llm → llm
(OpenAI-compatible) → traditional), named in the response.

Event (``tda.adapters.events.ModelPathEvent``): ``{"request", "routing", "fallbacks",
"provider", "max_inline_bytes"}``. The model SDKs are imported only here (and by hybrid), when
a client is first made.
"""

from typing import Any

from tda.startup import loading

with loading():  # the collector waits while the function starts (tda/startup.py)
    from tda.adapters.emf_metrics import EmfMetrics
    from tda.adapters.events import ModelPathEvent, parse
    from tda.app import operations
    from tda.wiring import install_once as install_adapters

    metrics = EmfMetrics()  # namespace, service: the template's METRICS_NAMESPACE, SERVICE_NAME
    # The use cases' counts (records per path, fallbacks) into its metrics.
    install_adapters(metrics)


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    e = parse(event, ModelPathEvent)
    result = operations.model_path(
        e.request,
        "llm",
        e.routing.model_dump() if e.routing is not None else None,
        e.provider,
        e.fallbacks,
        e.max_inline_bytes,
        e.execution_started,
    )
    llm = result.get("metadata", {}).get("llm") or {}
    metrics.count(
        "LLMTokens",
        int(result.get("metadata", {}).get("llm_tokens_used", 0)),
    )
    metrics.count("LLMCalls", int(llm.get("calls", 0)))
    return result
