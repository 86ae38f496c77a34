"""The language model: Groq's llama over its OpenAI-compatible API, with the assistant's tools."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from typing import Any

import httpx
from loguru import logger
from openai import (
    APITimeoutError,
    AsyncOpenAI,
    AsyncStream,
    BadRequestError,
    NotGiven,
    Omit,
    RateLimitError,
    RequestOptions,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.metrics.metrics import LLMTokenUsage
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.groq.llm import GroqLLMService
from pipecat.services.openai.base_llm import BaseOpenAILLMService
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.http import TIMEOUT_EXCEPTIONS
from pipecat.utils.types import assert_given

from assistant.config import Settings, secret_value
from assistant.pipeline import compat
from assistant.pipeline.groq_http import bounded_timeout, keep_alive_http_client
from assistant.pipeline.rate_limits import (
    NOTICEABLE_WAIT_SECS,
    ONE_MOMENT,
    UNKNOWN_WAIT_SECS,
    LLMRateLimitedError,
    RateLimit,
    rate_limit_of,
)
from assistant.store.context import bound_messages, history_tokens, normalize_messages


class LLMTimeoutError(TimeoutError):
    """The model sent nothing (not even response headers) within the configured bound."""


def is_tool_use_failed(error: BaseException) -> bool:
    """Groq's 400 for a malformed tool call the model generated, not for a bad request of ours."""
    return isinstance(error, BadRequestError) and (
        getattr(error, "code", None) == "tool_use_failed" or "tool_use_failed" in str(error)
    )


def is_context_length_exceeded(error: BaseException) -> bool:
    """Groq's 400 for a request longer than the model's context window."""
    return isinstance(error, BadRequestError) and (
        getattr(error, "code", None) == "context_length_exceeded"
    )


class LLMRequestRefused(Exception):
    """Groq refused the request itself (400) and the context has been repaired since: the
    next turn goes out without what was refused, so the service is not broken."""


# Where Groq's validation errors name the message they refuse: "'messages.3' : ...".
_MESSAGE_INDEX = re.compile(r"messages\.(\d+)")


def is_timeout(error: BaseException) -> bool:
    """Our own bound, the SDK's request timeout, or a read timeout while streaming."""
    return isinstance(error, (TimeoutError, APITimeoutError, *TIMEOUT_EXCEPTIONS))


# After waiting out a 429, the answer itself still needs this much of the turn's bound.
RATE_LIMIT_ANSWER_SECS = 1.0
# Short 429s waited out in one turn before it gives up (the SDK's own retry count).
RATE_LIMIT_RETRIES = 2


class GroqClient(AsyncOpenAI):
    """The openai client, less its own retries of 429: whether a turn can wait for the limit
    is `AssistantLLM`'s call (it knows the turn's bound and tells the user)."""

    def _should_retry(self, response: httpx.Response) -> bool:  # the SDK's one hook for it
        return response.status_code != 429 and super()._should_retry(response)


# `create`'s per-request arguments that are request options rather than body fields.
_REQUEST_OPTIONS = {
    "extra_headers": "headers",
    "extra_query": "params",
    "extra_body": "extra_json",
    "timeout": "timeout",
}


class AssistantLLM(GroqLLMService):
    """Groq's LLM service, kept usable after Groq rejects one of the model's own tool calls, and
    never left waiting on a stalled response.

    A 400 normally classifies as a permanent INVALID_REQUEST, which makes pipecat stop sending the
    service work for the rest of the session. `tool_use_failed` is a one-off generation failure:
    the next turn usually works, so it is reported as an APPLICATION error instead.

    The openai SDK waits up to 600 s for a response and, once streaming, for each chunk. Here
    `timeout_secs` bounds both: the wait for the response (the SDK's own retries of 5xx
    included) and every silence between two streamed chunks. Either way the turn ends with an
    error the session answers with an apology, and the next turn starts afresh.

    A 429 whose wait fits in that bound is waited out (saying "one moment" when the wait is
    noticeable); a longer one, or a daily limit, fails the turn with `LLMRateLimitedError`, and
    the turns that follow until it resets fail the same way without asking Groq again.

    `clock_line`, when given, is put before the user's latest words in each request (not in the
    context, so never stored): the time changes every turn, the system instruction doesn't.

    Each response's token usage is reported to `on_llm_usage` handlers (an `LLMTokenUsage`).

    With `context_token_budget`, each request's history is cut to it as a resume's is (the
    current turn is always sent whole). A request Groq refuses as such (400, other than
    `tool_use_failed`) is repaired and sent once more: too long, the history budget is halved
    for the rest of the session; a message refused, it is dropped from the context. The
    context keeps the repair, so the refused request never goes out again.
    """

    def __init__(
        self,
        *,
        timeout_secs: float,
        clock_line: Callable[[], str] | None = None,
        context_token_budget: int | None = None,
        **kwargs,
    ):
        # Set before super().__init__, which calls create_client.
        self._timeout_secs = timeout_secs
        self._context_budget = context_token_budget
        self._clock_line = clock_line
        self._limited_until: float | None = None  # loop time
        self._limit: RateLimit | None = None
        super().__init__(**kwargs)
        compat.register_event(self, "on_llm_usage", sync=True)

    @property
    def context_budget(self) -> int | None:
        """The history budget requests are cut to (lowered when Groq found one too long)."""
        return self._context_budget

    @property
    def client(self) -> AsyncOpenAI:
        """The session's Groq client (bounded as below), for requests outside the pipeline."""
        return compat.client(self)

    def create_client(
        self,
        api_key=None,
        base_url=None,
        organization=None,
        project=None,
        default_headers=None,
        **kwargs,
    ):
        # pipecat's client (BaseOpenAILLMService.create_client), as a GroqClient.
        client = GroqClient(
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            project=project,
            http_client=keep_alive_http_client(),
            default_headers=default_headers,
        )
        return client.with_options(timeout=bounded_timeout(self._timeout_secs))

    async def get_chat_completions(self, context: LLMContext) -> AsyncStream[ChatCompletionChunk]:
        # One bound for the whole wait before the stream starts, however many attempts the SDK
        # makes (it retries 5xx and timeouts twice, with backoff) and 429s waited out.
        try:
            async with asyncio.timeout(self._timeout_secs) as bound:
                return await self._send_repairing(context, bound)
        except TimeoutError as error:
            raise LLMTimeoutError(
                f"no response from the language model within {self._timeout_secs:g} s"
            ) from error

    async def _send_within_rate_limits(
        self, params: dict[str, Any], bound: asyncio.Timeout
    ) -> AsyncStream[ChatCompletionChunk]:
        loop = asyncio.get_running_loop()
        if self._limited_until is not None and self._limit is not None:
            left = self._limited_until - loop.time()
            if left > 0:
                raise LLMRateLimitedError(self._limit, left, first=False)
            self._limited_until = self._limit = None
        retries, said_one_moment = 0, False
        while True:
            try:
                return await self.stream_chat(params)
            except RateLimitError as error:
                limit = rate_limit_of(error)
                wait = limit.wait_secs
                room = (bound.when() or math.inf) - loop.time()
                if limit.daily or wait is None or wait + RATE_LIMIT_ANSWER_SECS > room:
                    wait = wait if wait is not None else UNKNOWN_WAIT_SECS
                    self._limited_until, self._limit = loop.time() + wait, limit
                    logger.warning(f"rate limited for {wait:g} s: {limit.detail}")
                    raise LLMRateLimitedError(limit, wait, first=True) from error
                if retries == RATE_LIMIT_RETRIES:
                    raise
                retries += 1
                logger.info(f"rate limited; retrying in {wait:g} s: {limit.detail}")
                if wait >= NOTICEABLE_WAIT_SECS and not said_one_moment:
                    said_one_moment = True
                    await self.push_frame(TTSSpeakFrame(ONE_MOMENT, append_to_context=False))
                await asyncio.sleep(wait)

    async def start_llm_usage_metrics(self, tokens: LLMTokenUsage):
        # pipecat calls this once per response with its `usage` (stream_options.include_usage),
        # and makes a metrics frame of it only if usage metrics are enabled.
        await compat.fire_event(self, "on_llm_usage", tokens)
        await super().start_llm_usage_metrics(tokens)

    async def request_params(self, context: LLMContext) -> dict[str, Any]:
        """The request pipecat's `get_chat_completions` makes for this context, with the clock
        line and the history budget."""
        return await chat_params(
            self, context, clock_line=self._clock_line, context_budget=self._context_budget
        )

    async def _send_repairing(
        self, context: LLMContext, bound: asyncio.Timeout
    ) -> AsyncStream[ChatCompletionChunk]:
        """The request for the context; once more after repairing a request Groq refused."""
        params = await self.request_params(context)
        try:
            return await self._send_within_rate_limits(params, bound)
        except BadRequestError as error:
            if is_tool_use_failed(error) or not self._repair(context, params["messages"], error):
                raise
            logger.warning(f"{self}: Groq refused the request ({error.message}); repaired it")
            if not _awaits_answer(context.messages):
                raise LLMRequestRefused(error.message) from error
        try:
            return await self._send_within_rate_limits(await self.request_params(context), bound)
        except BadRequestError as error:
            raise LLMRequestRefused(error.message) from error

    def _repair(self, context: LLMContext, sent: list[Any], error: BadRequestError) -> bool:
        """Change what made Groq refuse `sent` (built from `context`); False if nothing can."""
        if is_context_length_exceeded(error):
            history = history_tokens(sent)
            if history == 0:
                return False  # the current turn alone is too long: nothing older to leave out
            budget = history // 2
            if self._context_budget is not None:
                budget = min(budget, self._context_budget)
            self._context_budget = budget
            return True
        messages = context.messages
        if not all(isinstance(m, dict) for m in messages):
            return False
        repaired = list(messages)
        named = _MESSAGE_INDEX.search(error.message or "")
        if named:
            index = _context_index(messages, sent, int(named.group(1)))
            if index is not None:
                del repaired[index]
        repaired = normalize_messages(repaired)
        if repaired == messages:
            return False
        context.set_messages(repaired)
        return True

    async def stream_chat(self, params: dict[str, Any]) -> AsyncStream[ChatCompletionChunk]:
        """`chat.completions.create(**params)` without the SDK's request transform
        (`stream_chat_completion`), on the session's client."""
        return await stream_chat_completion(self.client, params)

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        if (
            is_tool_use_failed(exception)
            or is_context_length_exceeded(exception)
            or isinstance(exception, LLMRequestRefused)
        ):
            return ErrorCategory.APPLICATION
        if isinstance(exception, LLMRateLimitedError):
            return ErrorCategory.RATE_LIMIT
        return super()._classify_error(exception)


def with_line_before_last_user_turn(messages: list[Any], line: str) -> list[Any]:
    """``messages`` with ``line`` before the text of the last user message (a new dict: the
    context's own messages are left alone)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            content = f"{line}\n{content}"
        elif isinstance(content, list):
            content = [{"type": "text", "text": line}, *content]
        else:
            return messages
        return [*messages[:index], {**message, "content": content}, *messages[index + 1 :]]
    return messages


def _context_index(messages: list[Any], sent: list[Any], index: int) -> int | None:
    """Which context message the request's message ``index`` was built from, if any.

    The request is the system instruction, then the context's messages with perhaps some of
    the oldest history cut (`bound_messages`): what follows the cut is the context's tail, and
    what precedes it (the summary) the context's head.
    """
    if not 0 <= index < len(sent):
        return None
    for candidate in (len(messages) - (len(sent) - index), index - 1):
        if 0 <= candidate < len(messages) and messages[candidate] == sent[index]:
            return candidate
    return None


def _awaits_answer(messages: list[Any]) -> bool:
    """Whether the context ends with something for the model to answer."""
    last = messages[-1] if messages else None
    return isinstance(last, dict) and last.get("role") in ("user", "tool")


async def chat_params(
    llm: BaseOpenAILLMService,
    context: LLMContext,
    *,
    clock_line: Callable[[], str] | None = None,
    context_budget: int | None = None,
) -> dict[str, Any]:
    """The request pipecat's `get_chat_completions` makes for ``context`` on ``llm`` (its
    system instruction, tools and settings), with ``clock_line`` before the user's latest words
    and the history cut to ``context_budget`` when given."""
    compat.log_llm_response(llm, context)
    params_from_context = await llm.get_llm_adapter().get_llm_invocation_params(
        context,
        system_instruction=assert_given(llm.settings.system_instruction),
        convert_developer_to_user=not llm.supports_developer_role,
    )
    if clock_line is not None:
        params_from_context["messages"] = with_line_before_last_user_turn(
            params_from_context["messages"], clock_line()
        )
    params = llm.build_chat_completion_params(params_from_context)
    if context_budget is not None:
        params["messages"] = bound_messages(params["messages"], context_budget)
    return params


async def stream_chat_completion(
    client: AsyncOpenAI, params: dict[str, Any]
) -> AsyncStream[ChatCompletionChunk]:
    """`client.chat.completions.create(**params)` without the SDK's request transform.

    For chat parameters made of plain dicts and lists, which is what pipecat builds, the
    transform returns them unchanged less the NOT_GIVEN ones, after walking every message and
    tool against the SDK's TypedDict annotations: CPU that grows with the conversation
    (bench/README.md), between the end of the user's turn and the request leaving, on the
    event loop every live session's audio runs on. The same client sends it (auth, retries,
    timeouts). pipecat's `retry_on_timeout` is not honoured: the bound in
    `get_chat_completions` replaces it.
    """
    body: dict[str, Any] = {}
    options: RequestOptions = {"security": {"bearer_auth": True}}
    for key, value in params.items():
        if isinstance(value, NotGiven | Omit) or (value is None and key.startswith("extra_")):
            continue  # as `create` does: None extras are no extras, a None timeout is none
        if key in _REQUEST_OPTIONS:
            options[_REQUEST_OPTIONS[key]] = value  # type: ignore[literal-required]
        else:
            body[key] = value
    return await compat.post_stream(
        client,
        "/chat/completions",
        body=body,
        options=options,
        cast_to=ChatCompletion,
        stream_cls=AsyncStream[ChatCompletionChunk],
    )


def create_llm(
    settings: Settings, system_instruction: str, clock_line: Callable[[], str] | None = None
) -> AssistantLLM:
    return AssistantLLM(
        api_key=secret_value(settings.groq_api_key),
        base_url=settings.groq_base_url,
        timeout_secs=settings.llm_timeout_secs,
        clock_line=clock_line,
        context_token_budget=settings.context_token_budget,
        settings=AssistantLLM.Settings(
            model=settings.groq_llm_model, system_instruction=system_instruction
        ),
    )
