"""The workflow locally: moto's Step Functions interpreter runs ``statemachines/*.asl.json``.

Everything is read from ``template.yaml``, so nothing is listed twice: the functions (logical id
→ ``CodeUri`` + ``Handler``) and the state machines (``DefinitionUri`` with its
``DefinitionSubstitutions`` resolved to local ARNs). Lambda tasks reach the handlers in-process
through one patch of moto's docker-less Lambda backend: a handler's exception becomes a Lambda
function error whose ``errorType`` is the exception's class name, exactly what Retry and Catch
match on in AWS.

``inject`` makes a function fail on purpose (tests, and chaos drills against ``tda serve``).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import logging
import os
import pickle
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tda.adapters.aws_clients import forget_clients
from tda.adapters.stepfunctions import execution_events
from tda.app.jobs import manifest_key, submission_key
from tda.app.ports_in_use import chunk_store
from tda.ports.chunk_store import ChunkStore
from tda.ports.workflow import FINISHED
from tda_local import chunk_turns, lambdas
from tda_local.template import TEMPLATE, load_template

ACCOUNT = "123456789012"  # moto's default account
# moto keeps every execution, and the interpreter every thread it started, for the life of the
# process: ≈79 KB a model-path request, measured (a long-running `tda serve` only grew). A
# finished Express execution is forgotten once this old (AWS keeps none: an Express execution
# cannot be described), and finished threads with it; a job's execution stays, for its history,
# while anything of the job is left in the chunk store.
EXPRESS_KEPT_SECONDS = 60.0
FORGET_EVERY_SECONDS = 30.0
ROLE = f"arn:aws:iam::{ACCOUNT}:role/tda-local-workflow"
# Jobs this runtime runs at once, big streams included (``MAX_RUNNING_JOBS``): each holds ≈15 of
# the interpreter's threads (4 chunks at a time), and 2,000 of them would take the process past
# the kernel's thread limit; on 2 cores, more at once only share the same CPU.
MAX_RUNNING_JOBS = 16
SYNC_URL_BASE = r"https?://sync-states\.(.+)\.amazonaws.com"  # StartSyncExecution's host
SYNC_TIMEOUT_SECONDS = 300.0  # an Express execution's own limit
SYNC_ENDS = ("SUCCEEDED", "FAILED", "TIMED_OUT")


@dataclass(frozen=True)
class FunctionDef:
    logical_id: str
    code_dir: str  # the folder under functions/, which lambdas.invoke loads

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{region()}:{ACCOUNT}:function:{self.logical_id}"


@dataclass(frozen=True)
class StateMachineDef:
    logical_id: str
    kind: str  # STANDARD or EXPRESS
    definition_uri: str
    substitutions: dict[str, Any]


def functions(template: dict[str, Any]) -> dict[str, FunctionDef]:
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        if props.get("PackageType") == "Image":
            # An image function's command names its handler as <name>_app.lambda_handler
            # (functions/memory.Dockerfile copies functions/<name>/app.py there).
            command = props.get("ImageConfig", {}).get("Command", [""])[0]
            name, _, handler = command.partition("_app.")
            if handler != "lambda_handler":
                raise ValueError(f"{logical_id}: image commands are <name>_app.lambda_handler")
            found[logical_id] = FunctionDef(logical_id, name)
            continue
        if props.get("Handler") != "app.lambda_handler":
            raise ValueError(f"{logical_id}: handlers are functions/<name>/app.lambda_handler")
        found[logical_id] = FunctionDef(logical_id, Path(props["CodeUri"]).name)
    return found


def state_machines(template: dict[str, Any]) -> dict[str, StateMachineDef]:
    return {
        logical_id: StateMachineDef(
            logical_id,
            resource["Properties"].get("Type", "STANDARD"),
            resource["Properties"]["DefinitionUri"],
            resource["Properties"].get("DefinitionSubstitutions", {}),
        )
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }


def region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def resolve_definition(
    machine: StateMachineDef,
    fns: dict[str, FunctionDef],
    retry_interval: int | None = None,
    template_dir: Path = TEMPLATE.parent,
) -> str:
    """The ASL text with every ``${Name}`` substituted as SAM would, for local function ARNs.
    ``DefinitionUri`` is relative to the template's folder, as for ``sam``."""
    text = (template_dir / machine.definition_uri).read_text()
    for name, value in machine.substitutions.items():
        text = text.replace("${" + name + "}", _local_value(value, fns))
    if retry_interval is not None:  # tests: real sleeps, made short
        definition = json.loads(text)
        for retrier in _retriers(definition):
            retrier["IntervalSeconds"] = retry_interval
            retrier["BackoffRate"] = 1.0
        text = json.dumps(definition)
    return text


def _local_value(value: Any, fns: dict[str, FunctionDef]) -> str:
    if isinstance(value, dict) and "GetAtt" in value:
        target = value["GetAtt"]
        logical_id, attribute = target.split(".", 1) if isinstance(target, str) else target
        if logical_id in fns and attribute == "Arn":
            return fns[logical_id].arn
        raise ValueError(f"no local value for !GetAtt {logical_id}.{attribute}")
    if isinstance(value, str):
        return value
    raise ValueError(f"no local value for substitution {value!r}")


def _retriers(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "Retry" and isinstance(child, list):
                yield from child
            else:
                yield from _retriers(child)
    elif isinstance(node, list):
        for child in node:
            yield from _retriers(child)


@dataclass
class Fault:
    function: str  # logical id
    error: str  # the exception class name the task fails with
    times: int
    when: Callable[[dict[str, Any]], bool] | None


class LocalWorkflows:
    """moto with Step Functions execution on, our state machines created, Lambda routed home."""

    def __init__(
        self,
        template: Path = TEMPLATE,
        retry_interval: int | None = None,
        record_calls: bool = False,
        s3_outside: bool = False,
    ) -> None:
        """``s3_outside``: S3 calls leave the mock for the S3 boto3 would reach (AWS's, or
        ``AWS_ENDPOINT_URL``), signed with the environment's credentials: a ``tda serve``
        whose stores are on s3://. Else they are moto's (the tests' S3)."""
        self.s3_outside = s3_outside
        self.template_dir = template.parent
        self.template = load_template(template)
        self.functions = functions(self.template)
        self.machines = state_machines(self.template)
        self.retry_interval = retry_interval
        self.arns: dict[str, str] = {}
        self.faults: list[Fault] = []
        # Every Lambda invocation's event, for tests that ask which functions ran. Off unless
        # asked: `tda serve` kept each one for the life of the process (a request's whole body
        # per model-path state, ≈65 KB for a 100-chunk job).
        self.record_calls = record_calls
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        # Job chunks are written one at a time in this process, whatever a job's Map asks (in
        # AWS each is a Lambda of its own), a streamed job's first (``chunk_turns``). The
        # interpreter runs one thread's Python at a time: four chunks at once made no more
        # records a second than one, but took four shares of it from the synchronous requests
        # this process serves (a flood's heavy requests waited two minutes behind four
        # million-record jobs).
        self._mock: Any = None
        self._saved_invoke: Any = None
        self._saved_entrypoint: Any = None
        self._programs: dict[str, bytes] = {}  # definition → its parsed program, pickled
        self._saved_env: dict[str, str | None] = {}
        self._janitor_stopped = threading.Event()
        self._forgetting = threading.Lock()  # _drop assumes it is the lists' only remover
        self._executions_ended = threading.Condition()  # notified as each execution ends
        self._saved_sync: tuple[Any, list[str], list[Any]] = (None, [], [])
        self._saved_parsers: list[tuple[Any, Any]] = []  # (module, its jsonpath parse)

    # -- lifecycle

    def start(self) -> LocalWorkflows:
        from moto import mock_aws
        from moto.awslambda_simple.models import LambdaSimpleBackend

        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        # The interpreter logs every failed state with its whole parse tree; the execution
        # history says the same in a form users read.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        from moto.core.config import DefaultConfig

        config: DefaultConfig = {
            "stepfunctions": {"execute_state_machine": True},
            "lambda": {"use_docker": False},
        }
        if self.s3_outside:
            # moto's fake credentials would be sent to S3 too: the environment's are kept
            # (the mocked services take any).
            config["core"] = {
                "mock_credentials": False,
                "passthrough": {"urls": [], "services": ["s3"]},
                "reset_boto3_session": True,
                "service_whitelist": None,
            }
        self._mock = mock_aws(config=config)
        self._mock.start()
        forget_clients()  # a client made before the mock reached for real AWS
        self._saved_invoke = LambdaSimpleBackend.invoke
        runtime = self

        def invoke(
            backend: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, str],
        ) -> bytes:
            return runtime._invoke(function_name, body, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        self._parse_each_definition_once()
        self._answer_start_sync_execution()
        self._one_lambda_client_for_every_task()
        self._one_literal_unescaped_at_a_time()
        self._each_json_path_parsed_once()
        client = self.client()
        for machine in self.machines.values():
            definition = resolve_definition(
                machine, self.functions, self.retry_interval, self.template_dir
            )
            created = client.create_state_machine(
                name=machine.logical_id, definition=definition, roleArn=ROLE, type=machine.kind
            )
            self.arns[machine.logical_id] = created["stateMachineArn"]
            self._parsed_program(definition)  # now, not in the first caller's request
        self._janitor_stopped = self.start_janitor()
        # What the template's Environment gives the handlers in AWS.
        self._set_env(
            SYNC_STATE_MACHINE_ARN=self.arns.get("SyncStateMachine", ""),
            JOB_STATE_MACHINE_ARN=self.arns.get("JobStateMachine", ""),
            MAX_RUNNING_JOBS=os.environ.get("MAX_RUNNING_JOBS") or str(MAX_RUNNING_JOBS),
        )
        return self

    def start_janitor(self, every_seconds: float = FORGET_EVERY_SECONDS) -> threading.Event:
        """``forget_finished`` every ``every_seconds`` until the event returned is set (``stop``
        sets the runtime's own)."""
        stopped = threading.Event()

        def forget_until_stopped() -> None:
            while not stopped.wait(every_seconds):
                self.forget_finished()

        threading.Thread(
            target=forget_until_stopped, name="tda-workflow-janitor", daemon=True
        ).start()
        return stopped

    def forget_finished(self, older_than_seconds: float = EXPRESS_KEPT_SECONDS) -> None:
        """Forget the executions that ended ``older_than_seconds`` ago or earlier: every Express
        one, and a job's once nothing of the job is left in the chunk store (a stream's job,
        removed once sent; a job purged, or past its retention). And the interpreter's threads
        that have ended."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends
        from moto.stepfunctions.parser.utils import TMP_THREADS

        express = {self.arns[m.logical_id] for m in self.machines.values() if m.kind == "EXPRESS"}
        jobs = set(self.arns.values()) - express
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        store = chunk_store()
        with self._forgetting:
            for machine in stepfunctions_parser_backends[ACCOUNT][region()].state_machines:
                if machine.arn in express:
                    _drop(machine.executions, lambda e: _ended_by(e.stop_date, cutoff))
                elif machine.arn in jobs:
                    _drop(
                        machine.executions,
                        lambda e: (
                            _ended_by(e.stop_date, cutoff) and not _job_left(e.input_data, store)
                        ),
                    )
            _drop(TMP_THREADS, lambda thread: not thread.is_alive())

    def _parse_each_definition_once(self) -> None:
        """moto parses the ASL (ANTLR, pure Python: 90-250 ms) for every execution, which
        dominated a sync request's or a job's start; each definition is parsed once here and
        every execution gets its own copy of the program, unpickled from the parse's pickle
        (0.4 ms; a deep copy of the parse took 2.6 ms: the same objects, rebuilt in Python)."""
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        self._saved_entrypoint = ExecutionWorker._get_evaluation_entrypoint
        runtime = self

        def entrypoint(worker: Any) -> Any:
            definition = worker._evaluation_details.state_machine_details.definition
            return pickle.loads(runtime._parsed_program(definition))  # one per execution

        ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign,assignment]

    def _answer_start_sync_execution(self) -> None:
        """moto routes no ``StartSyncExecution`` (its host is ``sync-states.<region>``): here it
        starts the execution and answers when it ends, as AWS does, so the service calls the
        same API locally. The caller was polling ``DescribeExecution`` instead: a boto3 + moto
        call each time, and up to a poll interval late (RAG through ``tda serve``: 56 ms over
        the same request in-process, measured)."""
        import moto.backend_index
        import moto.stepfunctions.urls
        from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
        from moto.stepfunctions.responses import StepFunctionResponse

        ended = self._executions_ended
        terminated = BaseExecutionWorkerCommunication.terminated

        def terminated_and_told(comm: Any) -> None:
            try:
                terminated(comm)
            finally:
                with ended:
                    comm.execution.tda_whole = True  # its status, output and error all set
                    ended.notify_all()

        self._saved_sync = (
            terminated,
            list(moto.stepfunctions.urls.url_bases),
            list(moto.backend_index.backend_url_patterns),
        )
        BaseExecutionWorkerCommunication.terminated = terminated_and_told  # type: ignore[method-assign,assignment]
        moto.stepfunctions.urls.url_bases.append(SYNC_URL_BASE)
        moto.backend_index.backend_url_patterns.append(("stepfunctions", re.compile(SYNC_URL_BASE)))
        StepFunctionResponse.start_sync_execution = _start_sync_execution(ended)  # type: ignore[attr-defined]

    def _stop_answering_start_sync_execution(self) -> None:
        import moto.backend_index
        import moto.stepfunctions.urls
        from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
        from moto.stepfunctions.responses import StepFunctionResponse

        terminated, url_bases, url_patterns = self._saved_sync
        BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
        moto.stepfunctions.urls.url_bases[:] = url_bases
        moto.backend_index.backend_url_patterns[:] = url_patterns
        del StepFunctionResponse.start_sync_execution  # type: ignore[attr-defined]

    def _one_lambda_client_for_every_task(self) -> None:
        """moto's interpreter makes a boto3 client for every Lambda task, from boto3's default
        session, in the execution's thread. That session is not thread-safe: concurrent
        executions raced in it (``'OperationModel' object has no attribute 'http_trait'``) and
        stalled a task past its TimeoutSeconds. One client, made here, serves every task (a
        client is safe to share between threads)."""
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
            lambda_eval_utils,
        )
        from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for as original

        made = original(region=region(), service="lambda")
        # moto loads a service's model (gzipped JSON, ~0.5 s of CPU) on its first call, in a
        # cache every first caller fills at once: eight executions' first Lambda tasks loaded
        # it together and their Route steps timed out. Loaded here, once, before any execution.
        made.list_functions(MaxItems=1)

        def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            if service == "lambda" and region == made.meta.region_name:
                return made
            return original(region=region, service=service, state_credentials=state_credentials)

        # The name the interpreter calls it by, where it imported it.
        setattr(lambda_eval_utils, "boto_client_for", client_for)  # noqa: B010

    def _each_json_path_parsed_once(self) -> None:
        """moto parses each JSONPath (InputPath, ResultPath, a Parameters reference) with
        jsonpath_ng every time a state runs, and jsonpath_ng builds a new PLY lexer and parser
        for each parse: 13 parses and ≈10 ms of a RAG request through the sync workflow,
        measured. A path's parse depends on its text alone and is not changed by use, so each
        is parsed once here and shared."""
        from moto.stepfunctions.parser.asl.component.common.path import result_path
        from moto.stepfunctions.parser.asl.utils import json_path

        # getattr: the modules import ``parse`` from jsonpath_ng without exporting it.
        modules = (json_path, result_path)
        self._saved_parsers = [(module, getattr(module, "parse")) for module in modules]  # noqa: B009
        for module, parse in self._saved_parsers:
            setattr(module, "parse", functools.lru_cache(maxsize=1024)(parse))  # noqa: B010

    def _one_literal_unescaped_at_a_time(self) -> None:
        """moto's interpreter unescapes string literals with ``ast.literal_eval`` while it parses
        a state's intrinsic functions, in each execution's thread. CPython keeps the AST
        conversion's depth per interpreter, not per thread: two at once failed one with
        SystemError ('AST constructor recursion depth mismatch'), a States.Runtime in Route
        (seen under test_slow_model's concurrent executions). One at a time here."""
        from moto.stepfunctions.parser.asl.antlt4utils import antlr4utils

        setattr(antlr4utils, "ast", _SerializedLiteralEval())  # noqa: B010

    def _parsed_program(self, definition: str) -> bytes:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        if definition not in self._programs:
            program = AmazonStateLanguageParser.parse(definition)[0]
            self._programs[definition] = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
        return self._programs[definition]

    def _set_env(self, **values: str) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_env(self) -> None:
        # Handlers called after the runtime stopped must not reach for a mock that is gone.
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def stop(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        self._janitor_stopped.set()
        if self._mock is not None:
            from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

            LambdaSimpleBackend.invoke = self._saved_invoke  # type: ignore[method-assign]
            ExecutionWorker._get_evaluation_entrypoint = self._saved_entrypoint  # type: ignore[method-assign]
            from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
                lambda_eval_utils,
            )
            from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

            setattr(lambda_eval_utils, "boto_client_for", boto_client_for)  # noqa: B010
            from moto.stepfunctions.parser.asl.antlt4utils import antlr4utils

            setattr(antlr4utils, "ast", ast)  # noqa: B010
            for module, parse in self._saved_parsers:
                setattr(module, "parse", parse)  # noqa: B010
            self._stop_answering_start_sync_execution()
            self._mock.stop()
            self._mock = None
            forget_clients()  # made inside the mock: not for whatever comes after it
            self._restore_env()

    def __enter__(self) -> LocalWorkflows:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Any:
        import boto3

        return boto3.client("stepfunctions", region_name=region())

    # -- faults

    def inject(
        self,
        function: str,
        error: str,
        times: int = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Make ``function`` (a logical id) fail with ``error`` on its next ``times`` matching calls."""
        if function not in self.functions:
            raise KeyError(f"no function {function} in the template")
        with self._lock:
            self.faults.append(Fault(function, error, times, when))

    def _fault_for(self, logical_id: str, event: dict[str, Any]) -> str | None:
        with self._lock:
            wanted = [f for f in self.faults if f.function == logical_id and f.times > 0]
        for fault in wanted:
            # ``when`` runs outside the lock: a test may make it wait (a gate on one chunk).
            if fault.when is None or fault.when(event):
                with self._lock:
                    if fault.times > 0:
                        fault.times -= 1
                        return fault.error
        return None

    # -- the patched Lambda backend

    def _invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        logical_id = function_name.rsplit(":", 1)[-1]
        fn = self.functions.get(logical_id)
        event = json.loads(body) if body else {}
        if self.record_calls:
            with self._lock:
                self.calls.append((logical_id, event))
        try:
            if fn is None:
                raise LookupError(f"no function {logical_id} in the template")
            error = self._fault_for(logical_id, event)
            if error is not None:
                raise type(error, (RuntimeError,), {})(f"injected fault: {error}")
            store = event.get("store")
            with chunk_turns.turn(str(store.get("job_id"))) if store else contextlib.nullcontext():
                return orjson.dumps(lambdas.invoke(fn.code_dir, event))
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            return orjson.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)})

    # -- executions

    def start_execution(
        self, machine: str, payload: dict[str, Any], name: str | None = None
    ) -> str:
        arn: str = self.client().start_execution(
            stateMachineArn=self.arns[machine],
            name=name or uuid.uuid4().hex,  # moto would name every unnamed execution "None"
            input=json.dumps(payload),
        )["executionArn"]
        return arn

    def wait(self, execution_arn: str, timeout: float = 600.0) -> dict[str, Any]:
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
            if described["status"] in FINISHED:
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still {described['status']}")
            time.sleep(0.02)

    def run(self, machine: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.wait(self.start_execution(machine, payload))

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return execution_events(self.client(), execution_arn)


def _start_sync_execution(ended: threading.Condition) -> Callable[[Any], Any]:
    """moto's ``StepFunctionResponse`` action for ``StartSyncExecution``: the execution started
    as ``StartExecution`` starts one, waited for on ``ended``, answered in the API's shape (a
    sync execution ends SUCCEEDED, FAILED or TIMED_OUT; one still running at the Express limit
    is stopped and TIMED_OUT)."""
    from moto.core.responses import ActionResult

    def start_sync_execution(responder: Any) -> Any:
        backend = responder.stepfunction_backend
        execution = backend.start_execution(
            responder._get_param("stateMachineArn"),
            responder._get_param("name") or uuid.uuid4().hex,
            responder._get_param("input", if_none="{}"),
        )
        arn = execution.execution_arn
        with ended:
            # Its own end, whole: moto sets an execution's status before its output, and
            # another execution ending in between wakes this wait too.
            done = ended.wait_for(
                lambda: getattr(execution, "tda_whole", False), SYNC_TIMEOUT_SECONDS
            )
        if not done:
            backend.stop_execution(arn)
        # The API's three ends: an execution stopped (ABORTED: by a caller, or here at the
        # limit) is not one of them.
        status = execution.status if execution.status in SYNC_ENDS else "FAILED"
        answer = {
            "executionArn": arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "startDate": execution.start_date,
            "stopDate": execution.stop_date,
            "status": status if done else "TIMED_OUT",
            "input": execution.execution_input,
        }
        if execution.status == "SUCCEEDED":
            output = execution.output
            answer["output"] = output if isinstance(output, str) else json.dumps(output)
        for key in ("error", "cause"):
            if getattr(execution, key, None) is not None:
                answer[key] = getattr(execution, key)
        return ActionResult(answer)

    return start_sync_execution


def _ended_by(stop_date: datetime | None, cutoff: datetime) -> bool:
    if stop_date is None:
        return False  # still running
    return (stop_date if stop_date.tzinfo else stop_date.replace(tzinfo=UTC)) <= cutoff


def _job_left(job_input: Any, store: ChunkStore) -> bool:
    """Whether the job an execution ran is still in the chunk store (when unsure, that it is):
    its submission record or its manifest, one of which every job that ended has; a purge,
    retention or a sent stream removes the job whole. Two lookups, not a listing of its chunks
    every 30 s. A job's execution was kept for the life of the process: ≈0.5 MB for 100
    chunks, and every stream above MAX_SYNC_RECORDS is a job."""
    job_id = job_input.get("job_id") if isinstance(job_input, dict) else None
    if not isinstance(job_id, str) or not job_id:
        return True
    try:
        return store.exists(submission_key(job_id)) or store.exists(manifest_key(job_id))
    except Exception:  # a store that cannot answer now: forgotten another time
        return True


def _drop(items: list[Any], finished: Callable[[Any], bool]) -> None:
    """Remove what is ``finished`` from a list other threads append to: the first ``n`` items
    (only this removes any) are replaced in one slice assignment, atomic under the GIL, so an
    item appended meanwhile is kept."""
    n = len(items)
    items[:n] = [item for item in items[:n] if not finished(item)]


class _SerializedLiteralEval:
    """``ast`` as moto's literal unescaping uses it, one ``literal_eval`` at a time."""

    _lock = threading.Lock()

    def literal_eval(self, node_or_string: Any) -> Any:
        with self._lock:
            return ast.literal_eval(node_or_string)

    def __getattr__(self, name: str) -> Any:
        return getattr(ast, name)
