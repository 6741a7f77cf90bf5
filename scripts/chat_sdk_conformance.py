#!/usr/bin/env python3
"""Drives a running ragd's App API with the real Python client `dify-client-python==1.0.3`, unpatched:
streaming and blocking chat on an advanced-chat app (with a second turn in the same conversation), stopping a
streaming chat, feedback, streaming and blocking workflow runs on a workflow app, stopping a workflow run, and
error answers the client maps to exceptions. Where the client has no method (conversations, message history,
/parameters, /info, /workflows/run/{id}) the step uses httpx directly and says so ("[httpx]").

Every response the client parses goes through its pydantic models; the workflow/node events' `data`, which the
client accepts as any dict, is validated here against the client's own WorkflowStarted/NodeStarted/NodeFinished/
WorkflowFinished models, as a typed consumer of the client would.

Prints one line per step and exits non-zero at the first failure, naming the step, what was sent and what came
back.

    target/sdk-venv/bin/python scripts/chat_sdk_conformance.py \
        http://127.0.0.1:PORT/v1 app-CHAT... app-WORKFLOW... [--dataset-id ID]

The base URL includes `/v1` (the client appends the endpoint to it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

try:
    import httpx
    import pydantic
    from dify_client import Client, errors, models
except ImportError as e:  # pragma: no cover - environment problem, not a conformance failure
    print(f"FAIL setup: dify-client-python is not importable ({e}); run scripts/sdk_venv.sh", file=sys.stderr)
    sys.exit(2)

SDK_PACKAGE = "dify-client-python"
SDK_VERSION = "1.0.3"

# The client's module-global httpx.Client has httpx's default 5 s timeout; every call here passes its own,
# because a slow test LLM or a loaded machine must not turn into a read timeout (see the notes in the report).
TIMEOUT = float(os.environ.get("CHAT_SDK_TIMEOUT", "120"))
# How long a stream may go on after its task was stopped.
STOP_BUDGET_S = float(os.environ.get("CHAT_SDK_STOP_BUDGET", "15"))

# Questions answered by fixtures/docs/guide.txt (winter beekeeping).
QUESTION_1 = "How much capped honey does a bee colony need to get through the winter?"
QUESTION_2 = "And what should I feed the bees once it is too cold for syrup?"
QUESTION_3 = "Why does ventilation matter for a wintering cluster of bees?"
QUESTION_STOP = "Explain in detail how honey bees keep the cluster warm in winter."
WORKFLOW_QUESTION = "Why should a hive be tilted slightly forward in winter?"
WORKFLOW_STOP_QUESTION = "How do bees generate heat inside the winter cluster?"

USAGE_FIELDS = [
    "prompt_tokens", "prompt_unit_price", "prompt_price_unit", "prompt_price",
    "completion_tokens", "completion_unit_price", "completion_price_unit", "completion_price",
    "total_tokens", "total_price", "currency", "latency",
]
CHAT_NODE_TYPES = {"start", "knowledge-retrieval", "llm", "answer"}
WORKFLOW_NODE_TYPES = {"start", "knowledge-retrieval", "llm", "end"}
CONVERSATION_FIELDS = ["id", "name", "inputs", "status", "introduction", "created_at", "updated_at"]
MESSAGE_FIELDS = [
    "id", "conversation_id", "inputs", "query", "answer", "message_files", "feedback",
    "retriever_resources", "agent_thoughts", "created_at",
]
PARAMETER_FIELDS = [
    "opening_statement", "suggested_questions", "suggested_questions_after_answer", "speech_to_text",
    "text_to_speech", "retriever_resource", "annotation_reply", "more_like_this", "sensitive_word_avoidance",
    "user_input_form", "file_upload", "system_parameters",
]


class Failure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def short(value: Any, limit: int = 600) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def as_dict(value: Any) -> Dict[str, Any]:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump()
    return value if isinstance(value, dict) else {}


def event_name(ev: Any) -> str:
    return str(getattr(ev, "event", "?"))


def event_dump(ev: Any) -> Dict[str, Any]:
    """The event as the client holds it (declared fields and, extra='allow', the undeclared ones)."""
    return ev.model_dump(mode="json") if isinstance(ev, pydantic.BaseModel) else {"raw": repr(ev)}


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Stream:
    """The events of one streamed call, with the time each arrived."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.events: List[Any] = []
        self.times: List[float] = []
        self.started = time.monotonic()

    def add(self, ev: Any) -> None:
        self.events.append(ev)
        self.times.append(time.monotonic())

    def named(self, name: str) -> List[Any]:
        return [e for e in self.events if event_name(e) == name]

    def names(self) -> List[str]:
        return [event_name(e) for e in self.events]

    def summary(self) -> str:
        names = self.names()
        collapsed: List[str] = []
        for name in names:
            if collapsed and collapsed[-1].split("×")[0] == name:
                count = int(collapsed[-1].split("×")[1]) + 1 if "×" in collapsed[-1] else 2
                collapsed[-1] = f"{name}×{count}"
            else:
                collapsed.append(name)
        return " ".join(collapsed)

    def fail(self, message: str) -> Failure:
        tail = [short(event_dump(e), 400) for e in self.events[-4:]]
        return Failure(f"{message}\n  {self.what}: events {self.summary()}\n  last events: " + "\n    ".join(tail))


def consume(what: str, iterator: Iterable[Any], stream: Optional[Stream] = None) -> Stream:
    stream = stream or Stream(what)
    for ev in iterator:
        stream.add(ev)
    return stream


def validate(model: type, data: Any, where: str) -> Any:
    """`data` (what the client parsed) against one of the client's models."""
    raw = as_dict(data)
    parsed_as = type(data).__name__
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as e:
        hint = ""
        if isinstance(data, pydantic.BaseModel) and type(data) is not model:
            hint = (f" (the client's data union parsed it as {parsed_as}, keeping only that model's fields, "
                    f"because it does not validate as {model.__name__}: required {model.__name__} fields "
                    f"{sorted(n for n, f in model.model_fields.items() if f.is_required())})")
        raise Failure(
            f"{where}: data is not a valid {model.__name__}{hint}: "
            f"{e.errors(include_url=False, include_input=False)}\n  data: {short(raw)}"
        ) from None


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.base = args.base_url.rstrip("/")
        self.chat_key = args.chat_key
        self.workflow_key = args.workflow_key
        self.dataset_id: Optional[str] = args.dataset_id
        self.chat_name: Optional[str] = args.chat_app_name
        self.workflow_name: Optional[str] = args.workflow_app_name
        self.expected_answer: Optional[str] = args.expected_answer
        self.chat = Client(api_key=self.chat_key, api_base=self.base)
        self.workflow = Client(api_key=self.workflow_key, api_base=self.base)
        self.http = httpx.Client(timeout=TIMEOUT)
        self.user = f"chat-sdk-{uuid.uuid4().hex[:8]}"
        self.steps = 0
        self.core: List[Tuple[str, Callable[[], Optional[str]]]] = []
        self.extras: List[Tuple[str, Callable[[], Optional[str]]]] = []
        # Filled as the steps go.
        self.conversation = ""  # conversation A: streamed turn 1, blocking turn 2
        self.message_1 = ""
        self.answer_1 = ""
        self.segments_1: List[str] = []
        self.message_2 = ""
        self.answer_2 = ""
        self.conversation_b = ""  # conversation B: one blocking turn, deleted at the end
        self.workflow_run_id = ""

    # ----- helpers -------------------------------------------------------------------------------------

    def step(self, name: str, fn: Callable[[], Optional[str]], extra: bool = False) -> None:
        """Registers a step; `extra` steps (beyond the core of the brief: spec'd error answers, run detail) run
        after all the others, so that a missing extra does not hide the core results."""
        (self.extras if extra else self.core).append((name, fn))

    def execute(self, keep_going: bool) -> List[str]:
        """Runs the registered steps in order; returns the failures (stops at the first unless keep_going)."""
        failures: List[str] = []
        for name, fn in self.core + self.extras:
            try:
                self.run_step(name, fn)
            except Failure as e:
                if not keep_going:
                    raise
                print(f"FAIL {e}", flush=True)
                failures.append(str(e).splitlines()[0])
        return failures

    def run_step(self, name: str, fn: Callable[[], Optional[str]]) -> None:
        self.steps += 1
        started = time.monotonic()
        try:
            detail = fn()
        except Failure as e:
            raise Failure(f"step {self.steps} '{name}': {e}") from None
        except errors.DifyAPIError as e:
            raise Failure(
                f"step {self.steps} '{name}': the client raised {type(e).__name__}: status {e.status}, "
                f"code {e.code!r}, message {e.message!r}\n{traceback.format_exc(limit=-3)}"
            ) from e
        except pydantic.ValidationError as e:  # a response the client's models refuse
            raise Failure(f"step {self.steps} '{name}': the client's model refused the response: {e}") from e
        except Exception as e:  # pydantic ValidationError, httpx errors, ...: a response the client cannot take
            raise Failure(f"step {self.steps} '{name}': {type(e).__name__}: {e}\n{traceback.format_exc()}") from e
        ms = (time.monotonic() - started) * 1000
        print(f"ok   {self.steps:2d} {name} ({ms:.0f} ms){': ' + detail if detail else ''}", flush=True)

    def raw(self, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        """A request the client has no method for, sent with httpx."""
        return self.http.request(
            method, f"{self.base}{path}", headers={"Authorization": f"Bearer {key}"}, **kwargs
        )

    def raw_json(self, method: str, path: str, key: str, expect: int = 200, **kwargs: Any) -> Any:
        r = self.raw(method, path, key, **kwargs)
        sent = kwargs.get("json", kwargs.get("params", ""))
        check(
            r.status_code == expect,
            f"{method} {path} {short(sent)} answered {r.status_code} (expected {expect}): {short(r.text)}",
        )
        if expect == 204:
            check(r.content == b"", f"{method} {path}: 204 with a body {short(r.text)}")
            return None
        try:
            return r.json()
        except ValueError:
            raise Failure(f"{method} {path}: not JSON: {short(r.text)}") from None

    def check_error_body(self, r: httpx.Response, status: int, code: Optional[str], what: str) -> Dict[str, Any]:
        check(r.status_code == status, f"{what}: answered {r.status_code} (expected {status}): {short(r.text)}")
        try:
            body = r.json()
        except ValueError:
            raise Failure(f"{what}: error body is not JSON: {short(r.text)}") from None
        check(isinstance(body, dict), f"{what}: error body {short(body)}")
        check(body.get("status") == status, f"{what}: body status {body.get('status')!r}, expected {status}: {body}")
        if code is not None:
            check(body.get("code") == code, f"{what}: code {body.get('code')!r}, expected {code!r}: {body}")
        check(isinstance(body.get("message"), str), f"{what}: no message: {body}")
        return body

    def chat_request(self, query: str, mode: str, conversation_id: str = "") -> models.ChatRequest:
        return models.ChatRequest(
            query=query,
            inputs={},
            response_mode=mode,  # type: ignore[arg-type]
            user=self.user,
            conversation_id=conversation_id,
        )

    def workflow_request(self, question: str, mode: str) -> models.WorkflowsRunRequest:
        return models.WorkflowsRunRequest(
            inputs={"question": question}, response_mode=mode, user=self.user  # type: ignore[arg-type]
        )

    def check_answer(self, answer: str, where: str) -> None:
        check(answer.strip() != "", f"{where}: blank answer")
        if self.expected_answer is not None:
            check(answer == self.expected_answer,
                  f"{where}: answer {short(answer, 300)!r}\n  differs from the LLM's {short(self.expected_answer, 300)!r}")

    def check_usage(self, usage: models.Usage, where: str) -> None:
        # The client already required all 12 fields with their types; the values must also make sense.
        dumped = usage.model_dump()
        check(set(USAGE_FIELDS) <= set(dumped), f"{where}: usage lacks {set(USAGE_FIELDS) - set(dumped)}")
        check(usage.prompt_tokens > 0, f"{where}: usage.prompt_tokens {usage.prompt_tokens}")
        check(usage.completion_tokens > 0, f"{where}: usage.completion_tokens {usage.completion_tokens}")
        check(
            usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
            f"{where}: total_tokens {usage.total_tokens} != {usage.prompt_tokens} + {usage.completion_tokens}",
        )
        check(usage.latency >= 0, f"{where}: latency {usage.latency}")
        if self.expected_answer is not None:
            # The test LLM reports its usage (tokens = whitespace-led words): ragd passes it through.
            words = len(self.expected_answer.split())
            check(usage.completion_tokens == words,
                  f"{where}: completion_tokens {usage.completion_tokens}, the LLM reported {words}")
        for price in ("prompt_unit_price", "prompt_price_unit", "prompt_price", "completion_unit_price",
                      "completion_price_unit", "completion_price", "total_price"):
            value = getattr(usage, price)
            try:
                float(value)
            except ValueError:
                raise Failure(f"{where}: usage.{price} {value!r} is not a decimal string") from None

    def check_resources(self, resources: List[models.RetrieverResource], where: str) -> str:
        check(len(resources) > 0, f"{where}: no retriever_resources (the flow retrieves from the dataset)")
        positions = [r.position for r in resources]
        check(positions == list(range(1, len(resources) + 1)), f"{where}: positions {positions}, expected 1..n")
        for r in resources:
            check(bool(r.content.strip()), f"{where}: resource {r.position} has empty content")
            check(bool(r.segment_id and r.document_id), f"{where}: resource {r.position} lacks ids: {r}")
            check(bool(r.document_name), f"{where}: resource {r.position} has no document_name")
            if self.dataset_id:
                check(
                    r.dataset_id == self.dataset_id,
                    f"{where}: resource {r.position} from dataset {r.dataset_id}, expected {self.dataset_id}",
                )
        names = sorted({r.document_name for r in resources})
        return f"{len(resources)} resources from {', '.join(names)}"

    def check_workflow_events(self, s: Stream, node_types: set, where: str) -> Tuple[str, Any]:
        """workflow_started first among workflow events, a node_started/node_finished pair per node, one
        workflow_finished; returns (workflow_run_id, the WorkflowFinishedData)."""
        started = s.named("workflow_started")
        if len(started) != 1:
            raise s.fail(f"{where}: {len(started)} workflow_started events, expected 1")
        first_workflow_event = next(
            (e for e in s.events if event_name(e) in ("workflow_started", "node_started", "node_finished",
                                                      "workflow_finished", "text_chunk", "message")),
            started[0],
        )
        if event_name(first_workflow_event) != "workflow_started":
            raise s.fail(f"{where}: the first event is {event_name(first_workflow_event)}, not workflow_started")
        ws = validate(models.WorkflowStartedData, started[0].data, f"{where} workflow_started")
        run_id = ws.id
        check(bool(run_id), f"{where}: workflow_started.data.id is empty")
        for e in s.events:
            name = event_name(e)
            if name in ("workflow_started", "node_started", "node_finished", "workflow_finished", "text_chunk"):
                wr = getattr(e, "workflow_run_id", None)
                if wr != run_id:
                    raise s.fail(f"{where}: {name} has workflow_run_id {wr!r}, expected {run_id!r}")

        node_started: Dict[str, Any] = {}
        node_finished: Dict[str, Any] = {}
        indexes: List[int] = []
        for e in s.named("node_started"):
            d = validate(models.NodeStartedData, e.data, f"{where} node_started")
            check(d.id and d.node_id and d.title, f"{where}: node_started with empty id/node_id/title: {d}")
            check(d.node_id not in node_started, f"{where}: node {d.node_id} started twice")
            node_started[d.node_id] = d
            indexes.append(d.index)
        for e in s.named("node_finished"):
            d = validate(models.NodeFinishedData, e.data, f"{where} node_finished")
            check(d.node_id in node_started, f"{where}: node {d.node_id} finished without node_started")
            check(d.node_id not in node_finished, f"{where}: node {d.node_id} finished twice")
            st = node_started[d.node_id]
            check(
                (d.id, d.node_type, d.title, d.index) == (st.id, st.node_type, st.title, st.index),
                f"{where}: node_finished {d.node_id} ({d.id}, {d.node_type}, {d.title}, {d.index}) differs from "
                f"its node_started ({st.id}, {st.node_type}, {st.title}, {st.index})",
            )
            check(d.finished_at >= d.created_at, f"{where}: node {d.node_id} finished_at < created_at")
            check(
                d.elapsed_time is not None and d.elapsed_time >= 0,
                f"{where}: node {d.node_id} elapsed_time {d.elapsed_time}",
            )
            node_finished[d.node_id] = d
        check(indexes == sorted(indexes), f"{where}: node_started indexes not increasing: {indexes}")
        types = {d.node_type for d in node_started.values()}
        check(node_types <= types, f"{where}: node types {sorted(types)}, expected at least {sorted(node_types)}")
        check(
            set(node_started) == set(node_finished),
            f"{where}: nodes started {sorted(node_started)} but finished {sorted(node_finished)}",
        )
        # The node events come in order: each node_finished after its node_started.
        order = [(event_name(e), as_dict(e.data).get("node_id")) for e in s.events
                 if event_name(e) in ("node_started", "node_finished")]
        for node in node_started:
            check(
                order.index(("node_started", node)) < order.index(("node_finished", node)),
                f"{where}: node {node} finished before it started: {order}",
            )
        failed = {n: (d.status, d.error) for n, d in node_finished.items() if d.status != "succeeded"}
        check(not failed, f"{where}: nodes not succeeded: {failed}")
        by_type = {d.node_type: d for d in node_finished.values()}
        kr = by_type.get("knowledge-retrieval")
        if kr is not None:
            result = (kr.outputs or {}).get("result")
            check(
                isinstance(result, list) and len(result) > 0,
                f"{where}: knowledge-retrieval node outputs.result {short(result)}",
            )
        llm = by_type.get("llm")
        if llm is not None:
            text = (llm.outputs or {}).get("text")
            check(isinstance(text, str) and text.strip(), f"{where}: llm node outputs.text {short(text)}")

        finished = s.named("workflow_finished")
        if len(finished) != 1:
            raise s.fail(f"{where}: {len(finished)} workflow_finished events, expected 1")
        wf = validate(models.WorkflowFinishedData, finished[0].data, f"{where} workflow_finished")
        check(wf.id == run_id, f"{where}: workflow_finished.data.id {wf.id} != workflow_started's {run_id}")
        check(wf.workflow_id == ws.workflow_id, f"{where}: workflow_id changed: {ws.workflow_id} -> {wf.workflow_id}")
        return run_id, wf

    # ----- the steps -----------------------------------------------------------------------------------

    def register(self) -> None:
        def sdk_version() -> str:
            from importlib.metadata import version

            got = version(SDK_PACKAGE)
            check(got == SDK_VERSION, f"{SDK_PACKAGE} is {got}, expected {SDK_VERSION}")
            return f"{SDK_PACKAGE} {got}, pydantic {pydantic.VERSION}, httpx {httpx.__version__}, base {self.base}"

        self.step("client version", sdk_version)

        def bad_key() -> str:
            bad = Client(api_key="app-notARealKey0000000000000", api_base=self.base)
            try:
                bad.chat_messages(self.chat_request(QUESTION_1, "blocking"), timeout=TIMEOUT)
            except errors.DifyAPIError as e:
                check(e.status == 401, f"status {e.status} code {e.code!r} message {e.message!r}, expected 401")
                check(e.code == "unauthorized", f"code {e.code!r}, expected 'unauthorized'")
                return f"401 {type(e).__name__} {e.message!r}"
            raise Failure("an unknown app key was accepted")

        self.step("chat_messages with an unknown key -> 401", bad_key)

        # --- app info and parameters (no client method) ---
        def info() -> str:
            chat = self.raw_json("GET", "/info", self.chat_key)
            wf = self.raw_json("GET", "/info", self.workflow_key)
            for body, mode, name in ((chat, "advanced-chat", self.chat_name), (wf, "workflow", self.workflow_name)):
                for field in ("name", "description", "tags", "mode", "author_name"):
                    check(field in body, f"GET /info lacks {field!r}: {body}")
                check(body["mode"] == mode, f"GET /info mode {body['mode']!r}, expected {mode!r}: {body}")
                check(isinstance(body["tags"], list), f"GET /info tags {body['tags']!r}")
                check(isinstance(body["name"], str) and body["name"], f"GET /info name {body['name']!r}")
                if name:
                    check(body["name"] == name, f"GET /info name {body['name']!r}, expected {name!r}")
            return f"[httpx] {chat['name']!r} {chat['mode']}, {wf['name']!r} {wf['mode']}"

        self.step("GET /info of both apps", info)

        def parameters() -> str:
            details = []
            for key, what in ((self.chat_key, "chat"), (self.workflow_key, "workflow")):
                body = self.raw_json("GET", "/parameters", key, params={"user": self.user})
                missing = [f for f in PARAMETER_FIELDS if f not in body]
                check(not missing, f"{what} GET /parameters lacks {missing}: {short(body)}")
                check(isinstance(body["user_input_form"], list), f"user_input_form {body['user_input_form']!r}")
                check(isinstance(body["suggested_questions"], list), f"suggested_questions {body['suggested_questions']!r}")
                for feature in ("suggested_questions_after_answer", "speech_to_text", "text_to_speech",
                                "retriever_resource", "annotation_reply", "more_like_this",
                                "sensitive_word_avoidance"):
                    check(
                        isinstance(body[feature], dict) and isinstance(body[feature].get("enabled"), bool),
                        f"{what} /parameters {feature} {body[feature]!r}: expected {{enabled: bool, ...}}",
                    )
                check(isinstance(body["system_parameters"], dict), f"system_parameters {body['system_parameters']!r}")
                variables = []
                for item in body["user_input_form"]:
                    check(isinstance(item, dict) and len(item) == 1, f"user_input_form item {item!r}")
                    (kind, spec), = item.items()
                    check(isinstance(spec, dict) and "variable" in spec and "label" in spec and "required" in spec,
                          f"user_input_form item {item!r} lacks variable/label/required")
                    variables.append(f"{kind}:{spec['variable']}")
                if what == "workflow":
                    check(
                        any(v.endswith(":question") for v in variables),
                        f"workflow user_input_form {variables} has no 'question' variable",
                    )
                details.append(f"{what} inputs {variables}")
            return "[httpx] " + "; ".join(details)

        self.step("GET /parameters of both apps", parameters)

        # --- chat: streaming turn 1 ---
        def stream_turn_1() -> str:
            s = consume("chat stream turn 1", self.chat.chat_messages(
                self.chat_request(QUESTION_1, "streaming"), timeout=TIMEOUT))
            if not s.events:
                raise s.fail("the stream had no events")
            errs = s.named("error")
            if errs:
                raise s.fail(f"error event: {short(event_dump(errs[0]))}")
            task_ids = {e.task_id for e in s.events if event_name(e) != "ping"}
            if len(task_ids) != 1 or not next(iter(task_ids)):
                raise s.fail(f"task_id differs between events or is empty: {task_ids}")
            messages = s.named("message")
            ends = s.named("message_end")
            if not messages:
                raise s.fail("no message events")
            if len(ends) != 1:
                raise s.fail(f"{len(ends)} message_end events, expected 1")
            empty = [i for i, m in enumerate(messages) if not m.answer]
            if empty:
                raise s.fail(f"message events {empty} have an empty answer delta")
            end = ends[0]
            ids = {m.message_id for m in messages} | {end.message_id}
            if len(ids) != 1:
                raise s.fail(f"message_id differs between message/message_end: {ids}")
            message_id = end.message_id
            # Dify adds message_id/conversation_id to every chat-stream event, workflow ones included.
            chat_events = [e for e in s.events if event_name(e) != "ping"]
            conversation_ids = {getattr(e, "conversation_id", None) for e in chat_events}
            if len(conversation_ids) != 1 or not next(iter(conversation_ids)):
                raise s.fail(f"conversation_id differs between events or is missing: {conversation_ids}")
            for e in chat_events:
                if getattr(e, "message_id", None) != message_id:
                    raise s.fail(f"{event_name(e)} event has message_id {getattr(e, 'message_id', None)!r}, "
                                 f"expected {message_id!r}")
                if not is_int(getattr(e, "created_at", None)):
                    raise s.fail(f"{event_name(e)} event has created_at {getattr(e, 'created_at', None)!r}")
            # message_end after the last message.
            last_message = max(i for i, e in enumerate(s.events) if event_name(e) == "message")
            if s.events.index(end) < last_message:
                raise s.fail("message_end came before the last message event")
            if end.metadata is None:
                raise s.fail("message_end has no metadata")
            self.check_usage(end.metadata.usage, "message_end.metadata.usage")
            resources = self.check_resources(end.metadata.retriever_resources, "message_end.metadata")
            run_id, wf = self.check_workflow_events(s, CHAT_NODE_TYPES, "advanced-chat stream")
            check(wf.status == "succeeded", f"workflow_finished status {wf.status} error {wf.error!r}")
            answer = "".join(m.answer for m in messages)
            self.check_answer(answer, "the streamed message deltas")
            # The answer node streams the LLM's text: the deltas make up the answer the LLM node produced.
            self.conversation = next(iter(conversation_ids))
            self.message_1 = message_id
            self.segments_1 = [r.segment_id for r in end.metadata.retriever_resources]
            self.answer_1 = answer
            return (f"{s.summary()}; {len(messages)} deltas, answer {short(answer, 60)!r}; {resources}; "
                    f"conversation {self.conversation}")

        self.step("chat_messages streaming (turn 1, new conversation)", stream_turn_1)

        # --- chat: blocking turn 2 in the same conversation ---
        def blocking_turn_2() -> str:
            r = self.chat.chat_messages(self.chat_request(QUESTION_2, "blocking", self.conversation), timeout=TIMEOUT)
            check(isinstance(r, models.ChatResponse), f"got {type(r).__name__}")
            check(r.mode == "advanced-chat", f"mode {r.mode!r}")
            self.check_answer(r.answer, "blocking answer")
            check(r.message_id and r.message_id != self.message_1, f"message_id {r.message_id!r}")
            check(r.created_at > 0, f"created_at {r.created_at}")
            self.check_usage(r.metadata.usage, "metadata.usage")
            resources = self.check_resources(r.metadata.retriever_resources, "metadata")
            self.message_2 = r.message_id
            self.answer_2 = r.answer
            return f"answer {short(r.answer, 60)!r}; {resources}"

        self.step("chat_messages blocking (turn 2, same conversation_id)", blocking_turn_2)

        # --- chat: blocking in a new conversation; conversation_id is not in the client's ChatResponse model, so
        # the call goes through the client's own `request` (same transport and error mapping) and the body is
        # parsed with its ChatResponse model and read for conversation_id.
        def blocking_new_conversation() -> str:
            req = self.chat_request(QUESTION_3, "blocking")
            r = self.chat.request(f"{self.base}/chat-messages", "POST", json=req.model_dump(mode="json"),
                                  timeout=TIMEOUT)
            body = r.json()
            parsed = models.ChatResponse(**body)
            for field in ("event", "task_id", "id", "message_id", "conversation_id", "mode", "answer", "metadata",
                          "created_at"):
                check(field in body, f"blocking body lacks {field!r}: {short(body)}")
            check(body["id"] == parsed.message_id, f"id {body['id']!r} != message_id {parsed.message_id!r}")
            conversation = body["conversation_id"]
            check(isinstance(conversation, str) and conversation, f"conversation_id {conversation!r}")
            check(conversation != self.conversation, "a new conversation reused conversation A's id")
            try:
                uuid.UUID(conversation)
            except ValueError:
                raise Failure(f"conversation_id {conversation!r} is not a UUID") from None
            self.conversation_b = conversation
            self.check_resources(parsed.metadata.retriever_resources, "metadata")
            return f"client.request + ChatResponse model; conversation {conversation}"

        self.step("chat blocking, new conversation: body has conversation_id", blocking_new_conversation)

        # --- conversations (no client method) ---
        def conversations() -> str:
            page = self.raw_json("GET", "/conversations", self.chat_key, params={"user": self.user, "limit": 20})
            for field in ("limit", "has_more", "data"):
                check(field in page, f"GET /conversations lacks {field!r}: {short(page)}")
            check(page["limit"] == 20, f"limit {page['limit']!r}")
            check(page["has_more"] is False, f"has_more {page['has_more']!r} with 2 conversations")
            ids = [c["id"] for c in page["data"]]
            check(
                sorted(ids) == sorted([self.conversation, self.conversation_b]),
                f"ids {ids}, expected A {self.conversation} and B {self.conversation_b}",
            )
            for c in page["data"]:
                missing = [f for f in CONVERSATION_FIELDS if f not in c]
                check(not missing, f"conversation lacks {missing}: {c}")
                check(is_int(c["created_at"]) and is_int(c["updated_at"]), f"timestamps not integers: {c}")
                check(isinstance(c["name"], str), f"name {c['name']!r}")
            updated = [c["updated_at"] for c in page["data"]]
            check(updated == sorted(updated, reverse=True), f"default sort is not -updated_at: {updated}")
            # Cursor paging: limit 1, then last_id.
            first = self.raw_json("GET", "/conversations", self.chat_key,
                                  params={"user": self.user, "limit": 1})
            check(len(first["data"]) == 1 and first["has_more"] is True,
                  f"limit=1: {len(first['data'])} items, has_more {first['has_more']!r}")
            second = self.raw_json("GET", "/conversations", self.chat_key,
                                   params={"user": self.user, "limit": 1, "last_id": first["data"][0]["id"]})
            check(len(second["data"]) == 1 and second["has_more"] is False,
                  f"last_id page: {len(second['data'])} items, has_more {second['has_more']!r}")
            check(
                {first["data"][0]["id"], second["data"][0]["id"]} == {self.conversation, self.conversation_b},
                f"paging gave {first['data'][0]['id']}, {second['data'][0]['id']}",
            )
            # Another user sees none of them.
            other = self.raw_json("GET", "/conversations", self.chat_key, params={"user": self.user + "-other"})
            check(other["data"] == [], f"another user sees conversations: {[c['id'] for c in other['data']]}")
            return f"[httpx] 2 conversations, last_id paging, other user sees 0"

        self.step("GET /conversations (list, last_id paging, per user)", conversations)

        def rename() -> str:
            body = self.raw_json(
                "POST", f"/conversations/{self.conversation}/name", self.chat_key,
                json={"name": "Winter bees", "auto_generate": False, "user": self.user},
            )
            check(body.get("id") == self.conversation, f"rename answered {short(body)}")
            check(body.get("name") == "Winter bees", f"rename answered name {body.get('name')!r}")
            page = self.raw_json("GET", "/conversations", self.chat_key, params={"user": self.user})
            names = {c["id"]: c["name"] for c in page["data"]}
            check(names.get(self.conversation) == "Winter bees", f"after rename the list has {names}")
            return "[httpx] name 'Winter bees' visible in the list"

        self.step("POST /conversations/{id}/name", rename)

        def history() -> str:
            page = self.raw_json("GET", "/messages", self.chat_key,
                                 params={"conversation_id": self.conversation, "user": self.user, "limit": 20})
            for field in ("limit", "has_more", "data"):
                check(field in page, f"GET /messages lacks {field!r}: {short(page)}")
            msgs = page["data"]
            ids = [m["id"] for m in msgs]
            check(ids == [self.message_1, self.message_2],
                  f"message ids {ids}, expected oldest first [{self.message_1}, {self.message_2}]")
            check(page["has_more"] is False, f"has_more {page['has_more']!r}")
            for m in msgs:
                missing = [f for f in MESSAGE_FIELDS if f not in m]
                check(not missing, f"message lacks {missing}: {short(m)}")
                check(m["conversation_id"] == self.conversation, f"conversation_id {m['conversation_id']!r}")
                check(is_int(m["created_at"]), f"created_at {m['created_at']!r}")
                check(m["feedback"] is None, f"feedback {m['feedback']!r} before any feedback")
                check(isinstance(m["retriever_resources"], list) and m["retriever_resources"],
                      f"message {m['id']} retriever_resources {short(m['retriever_resources'])}")
            check(msgs[0]["query"] == QUESTION_1 and msgs[1]["query"] == QUESTION_2,
                  f"queries {[m['query'] for m in msgs]}")
            stored = [x.get("segment_id") for x in msgs[0]["retriever_resources"]]
            check(stored == self.segments_1,
                  f"turn 1 stored retriever_resources segments {stored} != message_end's {self.segments_1}")
            check(msgs[0]["answer"] == self.answer_1,
                  f"turn 1 stored answer {short(msgs[0]['answer'], 200)!r} != streamed {short(self.answer_1, 200)!r}")
            check(msgs[1]["answer"] == self.answer_2,
                  f"turn 2 stored answer {short(msgs[1]['answer'], 200)!r} != blocking {short(self.answer_2, 200)!r}")
            # first_id pages towards older messages: the newest `limit` first, then the ones before first_id.
            newest = self.raw_json("GET", "/messages", self.chat_key,
                                   params={"conversation_id": self.conversation, "user": self.user, "limit": 1})
            check([m["id"] for m in newest["data"]] == [self.message_2] and newest["has_more"] is True,
                  f"limit=1: {[m['id'] for m in newest['data']]} has_more {newest['has_more']!r}, "
                  f"expected [{self.message_2}] and true")
            older = self.raw_json("GET", "/messages", self.chat_key,
                                  params={"conversation_id": self.conversation, "user": self.user, "limit": 1,
                                          "first_id": self.message_2})
            check([m["id"] for m in older["data"]] == [self.message_1] and older["has_more"] is False,
                  f"first_id={self.message_2}: {[m['id'] for m in older['data']]} has_more {older['has_more']!r}, "
                  f"expected [{self.message_1}] and false")
            return "[httpx] 2 messages oldest first, answers match, first_id paging"

        self.step("GET /messages (history, first_id paging)", history)

        def feedback() -> str:
            r = self.chat.feedback_messages(
                self.message_2, models.FeedbackRequest(rating="like", user=self.user), timeout=TIMEOUT)
            check(r.result == "success", f"result {r.result!r}")
            page = self.raw_json("GET", "/messages", self.chat_key,
                                 params={"conversation_id": self.conversation, "user": self.user})
            by_id = {m["id"]: m for m in page["data"]}
            fb = by_id.get(self.message_2, {}).get("feedback")
            check(isinstance(fb, dict) and fb.get("rating") == "like", f"feedback of turn 2 is {fb!r}")
            check(by_id.get(self.message_1, {}).get("feedback") is None, "turn 1 got the feedback too")
            # Unknown message -> 404.
            try:
                self.chat.feedback_messages(
                    str(uuid.uuid4()), models.FeedbackRequest(rating="like", user=self.user), timeout=TIMEOUT)
            except errors.DifyResourceNotFound:
                pass
            else:
                raise Failure("feedback on an unknown message id was accepted")
            return "like visible in /messages; unknown message -> DifyResourceNotFound"

        self.step("feedback_messages like (sent with content: null)", feedback)

        def unknown_conversation() -> str:
            unknown = str(uuid.uuid4())
            for mode in ("blocking", "streaming"):
                try:
                    out = self.chat.chat_messages(self.chat_request(QUESTION_1, mode, unknown), timeout=TIMEOUT)
                    if mode == "streaming":
                        s = consume("stream with unknown conversation", out)
                        raise s.fail("streaming chat with an unknown conversation_id was accepted")
                except errors.DifyResourceNotFound as e:
                    check(e.status == 404, f"status {e.status}")
                    continue
                raise Failure(f"{mode} chat with an unknown conversation_id was accepted")
            r = self.raw("GET", "/messages", self.chat_key, params={"conversation_id": unknown, "user": self.user})
            self.check_error_body(r, 404, "not_found", "GET /messages of an unknown conversation")
            return "blocking and streaming -> DifyResourceNotFound; [httpx] GET /messages -> 404"

        self.step("unknown conversation_id -> 404", unknown_conversation)

        def wrong_app_mode() -> str:
            try:
                self.workflow.chat_messages(self.chat_request(QUESTION_1, "blocking"), timeout=TIMEOUT)
            except errors.DifyAPIError as e:
                check((e.status, e.code) == (400, "not_chat_app"),
                      f"chat on a workflow app: {type(e).__name__} {e.status} {e.code!r}, expected 400 not_chat_app")
            else:
                raise Failure("chat-messages on a workflow app was accepted")
            try:
                self.chat.run_workflows(self.workflow_request(WORKFLOW_QUESTION, "blocking"), timeout=TIMEOUT)
            except errors.DifyAPIError as e:
                check((e.status, e.code) == (400, "not_workflow_app"),
                      f"workflow run on a chat app: {type(e).__name__} {e.status} {e.code!r}, "
                      f"expected 400 not_workflow_app")
            else:
                raise Failure("workflows/run on an advanced-chat app was accepted")
            r = self.raw("GET", "/conversations", self.workflow_key, params={"user": self.user})
            self.check_error_body(r, 400, "not_chat_app", "GET /conversations on a workflow app")
            return "400 not_chat_app / not_workflow_app"

        self.step("wrong app mode -> 400 not_chat_app / not_workflow_app", wrong_app_mode, extra=True)

        def stop_chat() -> str:
            s = Stream("stopped chat stream")
            iterator = self.chat.chat_messages(self.chat_request(QUESTION_STOP, "streaming"), timeout=TIMEOUT)
            first = next(iterator, None)
            if first is None:
                raise s.fail("the stream ended before its first event")
            s.add(first)
            task_id = first.task_id
            check(bool(task_id), f"first event {event_name(first)} has no task_id: {short(event_dump(first))}")
            # Let generation begin, so the stop lands mid-answer.
            for ev in iterator:
                s.add(ev)
                if event_name(ev) in ("message", "message_end", "workflow_finished"):
                    break
            if event_name(s.events[-1]) != "message":
                raise s.fail("the run finished before it could be stopped (the test LLM must answer slowly)")
            r = self.chat.stop_chat_messages(task_id, models.StopRequest(user=self.user), timeout=TIMEOUT)
            check(r.result == "success", f"stop answered result {r.result!r}")
            stopped_at = time.monotonic()
            consume("stopped chat stream", iterator, s)
            tail_s = time.monotonic() - stopped_at
            if tail_s > STOP_BUDGET_S:
                raise s.fail(f"the stream went on for {tail_s:.1f} s after the stop")
            if s.named("error"):
                raise s.fail(f"error event after stop: {short(event_dump(s.named('error')[0]))}")
            finished = s.named("workflow_finished")
            statuses = [as_dict(e.data).get("status") for e in finished]
            if any(st != "stopped" for st in statuses):
                raise s.fail(f"workflow_finished status {statuses} after stop, expected 'stopped'")
            deltas_after = sum(1 for e, t in zip(s.events, s.times) if event_name(e) == "message" and t > stopped_at)
            partial = "".join(e.answer for e in s.named("message"))
            if self.expected_answer is not None and partial == self.expected_answer:
                raise s.fail("the whole answer was streamed although the run was stopped")
            # The message keeps the answer streamed before the stop (Dify saves the task state's answer).
            conversation = getattr(first, "conversation_id", None)
            message_id = getattr(first, "message_id", None)
            page = self.raw_json("GET", "/messages", self.chat_key,
                                 params={"conversation_id": conversation, "user": self.user})
            stored = [(m["id"], m["answer"]) for m in page["data"]]
            check(stored == [(message_id, partial)],
                  f"[httpx] GET /messages of the stopped conversation: {short(stored)}, expected "
                  f"[({message_id!r}, {short(partial, 200)!r})] (the answer streamed before the stop)")
            return (f"task {task_id}; ended {tail_s:.2f} s after stop; {deltas_after} deltas after; partial answer "
                    f"stored; {s.summary()}")

        self.step("stop_chat_messages on a streaming chat", stop_chat)

        # --- workflow app ---
        def workflow_stream() -> str:
            s = consume("workflow stream", self.workflow.run_workflows(
                self.workflow_request(WORKFLOW_QUESTION, "streaming"), timeout=TIMEOUT))
            if not s.events:
                raise s.fail("the stream had no events")
            if s.named("error"):
                raise s.fail(f"error event: {short(event_dump(s.named('error')[0]))}")
            task_ids = {e.task_id for e in s.events if event_name(e) != "ping"}
            if len(task_ids) != 1 or not next(iter(task_ids)):
                raise s.fail(f"task_id differs between events or is empty: {task_ids}")
            if event_name(s.events[-1]) != "workflow_finished":
                raise s.fail(f"the last event is {event_name(s.events[-1])}, expected workflow_finished")
            run_id, wf = self.check_workflow_events(s, WORKFLOW_NODE_TYPES, "workflow stream")
            check(wf.status == "succeeded", f"workflow_finished status {wf.status} error {wf.error!r}")
            check(is_int(wf.finished_at) and wf.finished_at >= wf.created_at, f"finished_at {wf.finished_at!r}")
            answer = (wf.outputs or {}).get("answer")
            check(isinstance(answer, str), f"outputs.answer {short(wf.outputs)}")
            self.check_answer(answer, "workflow_finished outputs.answer")
            chunks = s.named("text_chunk")
            if not chunks:
                raise s.fail("no text_chunk events")
            check(all(c.data.text for c in chunks), "a text_chunk has empty text")
            streamed = "".join(c.data.text for c in chunks)
            check(streamed == answer,
                  f"text_chunks make {short(streamed, 200)!r}, outputs.answer is {short(answer, 200)!r}")
            if s.named("message") or s.named("message_end"):
                raise s.fail("a workflow app's stream has chat message events")
            self.workflow_run_id = run_id
            return f"{s.summary()}; answer {short(answer, 60)!r}"

        self.step("run_workflows streaming", workflow_stream)

        def workflow_blocking() -> str:
            r = self.workflow.run_workflows(self.workflow_request(WORKFLOW_QUESTION, "blocking"), timeout=TIMEOUT)
            check(isinstance(r, models.WorkflowsRunResponse), f"got {type(r).__name__}")
            check(bool(r.task_id), "empty task_id")
            check(r.workflow_run_id == r.data.id, f"workflow_run_id {r.workflow_run_id!r} != data.id {r.data.id!r}")
            check(r.workflow_run_id != self.workflow_run_id, "the blocking run reused the streamed run's id")
            check(r.data.status == "succeeded", f"status {r.data.status} error {r.data.error!r}")
            answer = (r.data.outputs or {}).get("answer")
            check(isinstance(answer, str), f"outputs {short(r.data.outputs)}")
            self.check_answer(answer, "blocking outputs.answer")
            check(r.data.elapsed_time is not None and r.data.elapsed_time >= 0, f"elapsed_time {r.data.elapsed_time}")
            check(r.data.total_steps is not None and r.data.total_steps >= 4, f"total_steps {r.data.total_steps}")
            return f"run {r.workflow_run_id}; answer {short(answer, 60)!r}; {r.data.total_steps} steps"

        self.step("run_workflows blocking", workflow_blocking)

        def workflow_missing_input() -> str:
            try:
                self.workflow.run_workflows(
                    models.WorkflowsRunRequest(inputs={}, response_mode="blocking", user=self.user),  # type: ignore[arg-type]
                    timeout=TIMEOUT,
                )
            except errors.DifyAPIError as e:
                check(e.status == 400, f"{type(e).__name__} status {e.status} code {e.code!r}, expected 400")
                return f"{type(e).__name__} 400 {e.code!r}: {e.message!r}"
            raise Failure("a run without the required 'question' input was accepted")

        self.step("run_workflows without the required input -> 400", workflow_missing_input, extra=True)

        def workflow_stop() -> str:
            s = Stream("stopped workflow stream")
            iterator = self.workflow.run_workflows(
                self.workflow_request(WORKFLOW_STOP_QUESTION, "streaming"), timeout=TIMEOUT)
            first = next(iterator, None)
            if first is None:
                raise s.fail("the stream ended before its first event")
            s.add(first)
            task_id = first.task_id
            check(bool(task_id), f"first event has no task_id: {short(event_dump(first))}")
            for ev in iterator:
                s.add(ev)
                if event_name(ev) in ("text_chunk", "workflow_finished"):
                    break
            if event_name(s.events[-1]) != "text_chunk":
                raise s.fail("the run finished before it could be stopped (the test LLM must answer slowly)")
            r = self.workflow.stop_workflows(task_id, models.StopRequest(user=self.user), timeout=TIMEOUT)
            check(r.result == "success", f"stop answered result {r.result!r}")
            stopped_at = time.monotonic()
            consume("stopped workflow stream", iterator, s)
            tail_s = time.monotonic() - stopped_at
            if tail_s > STOP_BUDGET_S:
                raise s.fail(f"the stream went on for {tail_s:.1f} s after the stop")
            if s.named("error"):
                raise s.fail(f"error event after stop: {short(event_dump(s.named('error')[0]))}")
            statuses = [as_dict(e.data).get("status") for e in s.named("workflow_finished")]
            if any(st != "stopped" for st in statuses):
                raise s.fail(f"workflow_finished status {statuses} after stop, expected 'stopped'")
            return f"task {task_id}; ended {tail_s:.2f} s after stop; {s.summary()}"

        self.step("stop_workflows on a streaming run (POST /workflows/tasks/{id}/stop)", workflow_stop)

        def workflow_run_detail() -> str:
            body = self.raw_json("GET", f"/workflows/run/{self.workflow_run_id}", self.workflow_key)
            for field in ("id", "workflow_id", "status", "inputs", "outputs", "error", "total_steps",
                          "total_tokens", "created_at", "finished_at", "elapsed_time"):
                check(field in body, f"GET /workflows/run/{{id}} lacks {field!r}: {short(body)}")
            check(body["id"] == self.workflow_run_id, f"id {body['id']!r}")
            check(body["status"] == "succeeded", f"status {body['status']!r}")
            outputs = body["outputs"]
            if isinstance(outputs, str):  # Dify returns outputs as a JSON string here
                outputs = json.loads(outputs)
            check(isinstance(outputs, dict) and outputs.get("answer"), f"outputs {short(body['outputs'])}")
            return f"[httpx] status {body['status']}"

        self.step("GET /workflows/run/{workflow_run_id}", workflow_run_detail, extra=True)

        # --- delete conversation B ---
        def delete_conversation() -> str:
            self.raw_json("DELETE", f"/conversations/{self.conversation_b}", self.chat_key, expect=204,
                          json={"user": self.user})
            r = self.raw("GET", "/messages", self.chat_key,
                         params={"conversation_id": self.conversation_b, "user": self.user})
            self.check_error_body(r, 404, "not_found", "GET /messages of a deleted conversation")
            try:
                self.chat.chat_messages(self.chat_request(QUESTION_1, "blocking", self.conversation_b),
                                        timeout=TIMEOUT)
            except errors.DifyResourceNotFound:
                pass
            else:
                raise Failure("chat_messages in a deleted conversation was accepted")
            page = self.raw_json("GET", "/conversations", self.chat_key, params={"user": self.user})
            ids = [c["id"] for c in page["data"]]
            check(self.conversation_b not in ids, f"the deleted conversation is still listed: {ids}")
            check(self.conversation in ids, f"conversation A disappeared: {ids}")
            return "[httpx] DELETE -> 204; /messages -> 404; chat_messages -> DifyResourceNotFound"

        self.step("DELETE /conversations/{id} then its messages -> 404", delete_conversation)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", help="the server's /v1 URL, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("chat_key", help="app key (app-…) of an advanced-chat app: start → knowledge → llm → answer")
    parser.add_argument("workflow_key", help="app key of a workflow app: start(question) → knowledge → llm → end(answer)")
    parser.add_argument("--dataset-id", help="the dataset the apps retrieve from (checked in retriever_resources)")
    parser.add_argument("--chat-app-name", help="expected GET /info name of the chat app")
    parser.add_argument("--workflow-app-name", help="expected GET /info name of the workflow app")
    parser.add_argument("--expected-answer",
                        help="what the (test) LLM answers: every answer must be exactly this, and usage.completion_tokens "
                             "its number of whitespace-separated words")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every step and list the failures (later steps may fail because of earlier ones)")
    args = parser.parse_args()
    if not args.base_url.rstrip("/").endswith("/v1"):
        print("FAIL setup: the base URL must end in /v1 (the client appends endpoints to it)", file=sys.stderr)
        return 2

    run = Run(args)
    run.register()
    started = time.monotonic()
    try:
        failures = run.execute(args.keep_going)
    except Failure as e:
        print(f"FAIL {e}", flush=True)
        return 1
    finally:
        run.http.close()
    if failures:
        print(f"FAILED {len(failures)} of {run.steps} steps:", flush=True)
        for failure in failures:
            print(f"  {failure}", flush=True)
        return 1
    print(f"PASS {run.steps} steps in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
