"""The language model: Groq's llama over its OpenAI-compatible API, with the assistant's tools."""

from openai import BadRequestError
from pipecat.services.groq.llm import GroqLLMService
from pipecat.utils.errors import ErrorCategory

from assistant.config import Settings, secret_value


def is_tool_use_failed(error: BaseException) -> bool:
    """Groq's 400 for a malformed tool call the model generated, not for a bad request of ours."""
    return isinstance(error, BadRequestError) and (
        getattr(error, "code", None) == "tool_use_failed" or "tool_use_failed" in str(error)
    )


class AssistantLLM(GroqLLMService):
    """Groq's LLM service, kept usable after Groq rejects one of the model's own tool calls.

    A 400 normally classifies as a permanent INVALID_REQUEST, which makes pipecat stop sending the
    service work for the rest of the session. `tool_use_failed` is a one-off generation failure:
    the next turn usually works, so it is reported as an APPLICATION error instead.
    """

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        if is_tool_use_failed(exception):
            return ErrorCategory.APPLICATION
        return super()._classify_error(exception)


def create_llm(settings: Settings, system_instruction: str) -> AssistantLLM:
    return AssistantLLM(
        api_key=secret_value(settings.groq_api_key),
        base_url=settings.groq_base_url,
        settings=AssistantLLM.Settings(
            model=settings.groq_llm_model, system_instruction=system_instruction
        ),
    )
