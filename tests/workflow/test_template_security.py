"""Who may call the service in AWS, and what each part of it may do, read from template.yaml:
an authorizer and throttling on the API, logs everywhere with a retention, an alert on failed
jobs, least-privilege S3 per function, each state machine invoking only its own functions, a
TLS-only bucket, and parameters with bounds."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tda.app import environment
from tda.domain.errors import ConfigurationError
from tda_local.template import ROOT

from ..unit.test_error_names import ASL


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


class _Loader(yaml.SafeLoader):
    """SafeLoader, with CloudFormation's short tags kept as ``{tag: value}``."""


_Loader.add_multi_constructor("!", _tagged)


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)
    return loaded


RESOURCES = template()["Resources"]


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def test_the_api_has_an_authorizer_throttling_and_access_logs() -> None:
    api = RESOURCES["HttpApi"]["Properties"]
    assert api["Auth"] == {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}
    routes = api["DefaultRouteSettings"]
    assert routes["ThrottlingRateLimit"] and routes["ThrottlingBurstLimit"]
    assert api["AccessLogSettings"]["DestinationArn"] == {"GetAtt": "ApiAccessLogs.Arn"}
    assert "$context.identity.userArn" in api["AccessLogSettings"]["Format"]  # who called


def test_every_log_group_has_a_retention_and_everything_logs_to_one() -> None:
    groups = of_type("AWS::Logs::LogGroup")
    assert {"FunctionLogs", "ApiAccessLogs", "WorkflowLogs"} <= set(groups)
    assert all(g["Properties"]["RetentionInDays"] for g in groups.values())
    globals_ = template()["Globals"]["Function"]
    assert globals_["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogs"}
    for machine in of_type("AWS::Serverless::StateMachine").values():
        logging = machine["Properties"]["Logging"]
        assert logging["Level"] in ("ERROR", "ALL") and logging["IncludeExecutionData"] is False
        destination = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
        assert destination == {"GetAtt": "WorkflowLogs.Arn"}


def test_a_failed_job_raises_an_alert() -> None:
    rule = RESOURCES["JobFailedRule"]["Properties"]
    assert set(rule["EventPattern"]["detail"]["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}
    assert rule["EventPattern"]["detail"]["stateMachineArn"] == [{"Ref": "JobStateMachine"}]
    assert rule["Targets"][0]["Arn"] == {"Ref": "JobAlerts"}
    publishers = RESOURCES["JobAlertsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {p["Principal"]["Service"] for p in publishers} == {
        "events.amazonaws.com",
        "cloudwatch.amazonaws.com",
    }


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found += policy["Statement"]
    return found


def test_each_function_has_only_the_s3_actions_it_uses() -> None:
    functions = of_type("AWS::Serverless::Function")
    text = json.dumps(functions)
    assert "S3CrudPolicy" not in text and "S3WritePolicy" not in text
    for forbidden in ("s3:PutObjectAcl", "s3:PutLifecycleConfiguration", "s3:*"):
        assert forbidden not in text
    actions = {
        name: {a for s in _statements(f) for a in s["Action"] if a.startswith("s3:")}
        for name, f in functions.items()
    }
    assert actions["TraditionalFunction"] == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    assert actions["RouterFunction"] == {
        "s3:GetObject", "s3:DeleteObject", "s3:ListBucket", "s3:PutObject"
    }  # fmt: skip
    # The router writes only the locale pools its fast path builds (``pools``' kept entries):
    # under the cache's prefix, ``pools/`` within it.
    router_puts = [
        s for s in _statements(functions["RouterFunction"]) if "s3:PutObject" in s["Action"]
    ]
    assert [s["Resource"] for s in router_puts] == [
        [{"Sub": "${JobsBucket.Arn}/jobs/cache/pools/*"}]
    ]
    assert "s3:DeleteObject" not in actions["JobsFunction"] | actions["LlmFunction"]
    for name, f in functions.items():  # every object action is under a prefix, not the bucket
        for statement in _statements(f):
            if statement["Action"] != ["s3:ListBucket"] and any(
                a.startswith("s3:") for a in statement["Action"]
            ):
                for resource in statement["Resource"]:
                    assert resource["Sub"].startswith("${JobsBucket.Arn}/"), name


def _functions_reached(states: dict[str, Any], start: str) -> set[str]:
    seen, pending, named = set(), [start], set()
    while pending:
        name = pending.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        state = states[name]
        function = state.get("Parameters", {}).get("FunctionName", "")
        if function:
            named.add(function.removeprefix("${").removesuffix("Arn}"))
        if state["Type"] == "Map":
            named |= _functions_reached(
                state["ItemProcessor"]["States"], state["ItemProcessor"]["StartAt"]
            )
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
        pending += [n for n in nexts if n]
    return named


def test_each_state_machine_invokes_only_the_functions_of_its_branch() -> None:
    states = json.loads(ASL.read_text())["States"]
    for machine, start in (("SyncStateMachine", "Init"), ("JobStateMachine", "PlanJob")):
        policies = RESOURCES[machine]["Properties"]["Policies"]
        invoked = {
            p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
            for p in policies
            if "LambdaInvokePolicy" in p
        }
        assert invoked == _functions_reached(states, start), machine


def test_the_bucket_takes_tls_only() -> None:
    policy = RESOURCES["JobsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = next(s for s in policy if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "s3:*" and deny["Principal"] == "*"


def test_every_number_parameter_has_bounds() -> None:
    for name, parameter in template()["Parameters"].items():
        if parameter["Type"] == "Number":
            bounded = "AllowedValues" in parameter or {"MinValue", "MaxValue"} <= set(parameter)
            assert bounded, name
    assert template()["Parameters"]["ChunkRetentionDays"]["MinValue"] >= 1


def test_the_model_url_parameter_takes_what_the_functions_start_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deploy with an LlmBaseUrl no function could start with is refused by CloudFormation,
    not by every function's init afterwards."""
    pattern = re.compile(template()["Parameters"]["LlmBaseUrl"]["AllowedPattern"])
    for url in ("", "http://10.0.0.5:8000/v1", "https://api.openai.com/v1"):
        monkeypatch.setenv("LLM_BASE_URL", url)
        assert pattern.fullmatch(url) and environment.read("LLM_BASE_URL") == url
    for url in ("127.0.0.1:8000/v1", "https://", "ftp://models.internal/v1"):
        monkeypatch.setenv("LLM_BASE_URL", url)
        assert not pattern.fullmatch(url), url
        with pytest.raises(ConfigurationError):
            environment.read("LLM_BASE_URL")
