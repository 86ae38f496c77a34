"""The language model: Groq's llama over its OpenAI-compatible API, with the assistant's tools."""

from __future__ import annotations

import asyncio

from openai import APITimeoutError, AsyncOpenAI, BadRequestError, Timeout
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.groq.llm import GroqLLMService
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.http import TIMEOUT_EXCEPTIONS

from assistant.config import Settings, secret_value

# Connecting to Groq never legitimately takes long; a stuck connect is a network problem.
CONNECT_TIMEOUT_SECS = 5.0


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
        # The read timeout bounds every wait for bytes: the headers and each streamed chunk.
        timeout = Timeout(self._timeout_secs, connect=min(CONNECT_TIMEOUT_SECS, self._timeout_secs))
        return client.with_options(timeout=timeout)

    async def get_chat_completions(self, context: LLMContext):
        # One bound for the whole wait before the stream starts, however many attempts the SDK
        # makes (it retries 429, 5xx and timeouts twice, with backoff).
        try:
            async with asyncio.timeout(self._timeout_secs):
                return await super().get_chat_completions(context)
        except TimeoutError as error:
            raise LLMTimeoutError(
                f"no response from the language model within {self._timeout_secs:g} s"
            ) from error

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
