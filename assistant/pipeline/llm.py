"""The language model: Groq's llama over its OpenAI-compatible API, with the assistant's tools."""

from __future__ import annotations

import asyncio
from typing import Any

from openai import (
    APITimeoutError,
    AsyncOpenAI,
    AsyncStream,
    BadRequestError,
    NotGiven,
    Omit,
    RequestOptions,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.groq.llm import GroqLLMService
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.http import TIMEOUT_EXCEPTIONS
from pipecat.utils.types import assert_given

from assistant.config import Settings, secret_value
from assistant.pipeline.groq_http import bounded_timeout


class LLMTimeoutError(TimeoutError):
    """The model sent nothing (not even response headers) within the configured bound."""


def is_tool_use_failed(error: BaseException) -> bool:
    """Groq's 400 for a malformed tool call the model generated, not for a bad request of ours."""
    return isinstance(error, BadRequestError) and (
        getattr(error, "code", None) == "tool_use_failed" or "tool_use_failed" in str(error)
    )


def is_timeout(error: BaseException) -> bool:
    """Our own bound, the SDK's request timeout, or a read timeout while streaming."""
    return isinstance(error, (TimeoutError, APITimeoutError, *TIMEOUT_EXCEPTIONS))


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
    `timeout_secs` bounds both: the wait for the response (the SDK's own retries of 429/5xx
    included) and every silence between two streamed chunks. Either way the turn ends with an
    error the session answers with an apology, and the next turn starts afresh.
    """

    def __init__(self, *, timeout_secs: float, **kwargs):
        # Set before super().__init__, which calls create_client.
        self._timeout_secs = timeout_secs
        super().__init__(**kwargs)

    @property
    def client(self) -> AsyncOpenAI:
        """The session's Groq client (bounded as below), for requests outside the pipeline."""
        return self._client

    def create_client(self, api_key=None, base_url=None, **kwargs):
        client = super().create_client(api_key, base_url, **kwargs)
        return client.with_options(timeout=bounded_timeout(self._timeout_secs))

    async def get_chat_completions(self, context: LLMContext) -> AsyncStream[ChatCompletionChunk]:
        # One bound for the whole wait before the stream starts, however many attempts the SDK
        # makes (it retries 429, 5xx and timeouts twice, with backoff).
        try:
            async with asyncio.timeout(self._timeout_secs):
                return await self.stream_chat(await self.request_params(context))
        except TimeoutError as error:
            raise LLMTimeoutError(
                f"no response from the language model within {self._timeout_secs:g} s"
            ) from error

    async def request_params(self, context: LLMContext) -> dict[str, Any]:
        """The request pipecat's `get_chat_completions` makes for this context."""
        self._log_llm_response(context)
        params_from_context = await self.get_llm_adapter().get_llm_invocation_params(
            context,
            system_instruction=assert_given(self._settings.system_instruction),
            convert_developer_to_user=not self.supports_developer_role,
        )
        return self.build_chat_completion_params(params_from_context)

    async def stream_chat(self, params: dict[str, Any]) -> AsyncStream[ChatCompletionChunk]:
        """`chat.completions.create(**params)` without the SDK's request transform.

        For chat parameters made of plain dicts and lists, which is what pipecat builds, the
        transform returns them unchanged less the NOT_GIVEN ones, after walking every message and
        tool against the SDK's TypedDict annotations: 2.4 ms of CPU for 12 messages and 41 ms for
        180 (a conversation resumed at the default budget) on this 2-core machine, between the
        end of the user's turn and the request leaving, on the event loop every live session's
        audio runs on. The same client sends it (auth, retries, timeouts). pipecat's
        `retry_on_timeout` is not honoured: the bound in `get_chat_completions` replaces it.
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
        return await self._client.post(
            "/chat/completions",
            body=body,
            options=options,
            cast_to=ChatCompletion,
            stream=True,
            stream_cls=AsyncStream[ChatCompletionChunk],
        )

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        if is_tool_use_failed(exception):
            return ErrorCategory.APPLICATION
        return super()._classify_error(exception)


def create_llm(settings: Settings, system_instruction: str) -> AssistantLLM:
    return AssistantLLM(
        api_key=secret_value(settings.groq_api_key),
        base_url=settings.groq_base_url,
        timeout_secs=settings.llm_timeout_secs,
        settings=AssistantLLM.Settings(
            model=settings.groq_llm_model, system_instruction=system_instruction
        ),
    )
