"""An LLM for answers, over the OpenAI-compatible chat-completions protocol (Ollama, vLLM,
llama.cpp's server and most hosted ones speak it). Configured by ``bitsift serve --llm-url
URL --llm-model NAME`` or the environment (``LLM_*_ENV``); nothing else in bitsift needs one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from bitsift.core.errors import InvalidInput, LLMTimeout, LLMUnavailable

LLM_URL_ENV = "BITSIFT_LLM_URL"        # e.g. http://127.0.0.1:11434/v1 (Ollama)
LLM_MODEL_ENV = "BITSIFT_LLM_MODEL"    # the model asked for unless a request picks another allowed one
LLM_MODELS_ENV = "BITSIFT_LLM_MODELS"  # comma-separated: other models a request's ai_model may pick
LLM_KEY_ENV = "BITSIFT_LLM_API_KEY"    # sent as a bearer token, if the provider wants one
LLM_TIMEOUT_S = 120.0


class ChatCompletions:
    """``POST {url}/chat/completions`` with the messages of one answer."""

    def __init__(self, url: str, model: str, api_key: str | None = None, models: Sequence[str] = (),
                 timeout_s: float = LLM_TIMEOUT_S) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the LLM URL must start with http:// or https://, got {url!r}")
        if not model:
            raise ValueError("an LLM needs a model name (--llm-model)")
        self.url, self.model, self.timeout_s = url.rstrip("/"), model, timeout_s
        self.allowed = {model, *models}
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}

    def choose(self, asked: str | None) -> str:
        """The request's ``ai_model`` where this provider allows it, else the configured model
        (the hosted SDK always sends one of its own, which a local server does not have)."""
        return asked if asked in self.allowed else self.model

    def complete(self, messages: Sequence[Mapping[str, str]], model: str, temperature: float,
                 schema: dict[str, Any] | None) -> str:
        body: dict[str, Any] = {"model": model, "messages": list(messages), "temperature": temperature}
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        try:
            reply = httpx.post(f"{self.url}/chat/completions", json=body, headers=self._headers,
                               timeout=self.timeout_s)
        except httpx.TimeoutException:
            raise LLMTimeout(f"the LLM at {self.url} did not answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise LLMUnavailable(f"cannot reach the LLM at {self.url}: {exc}") from None
        if reply.status_code != 200:
            raise LLMUnavailable(f"the LLM at {self.url} answered HTTP {reply.status_code}: {reply.text[:300]}")
        try:
            content = reply.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise LLMUnavailable(f"the LLM at {self.url} sent no choices[0].message.content: {reply.text[:300]}")
        return content


def llm_from_env(env: Mapping[str, str] = os.environ) -> ChatCompletions | None:
    """The LLM the environment configures, or None (answers are then extractive)."""
    url = env.get(LLM_URL_ENV, "").strip()
    if not url:
        return None
    model = env.get(LLM_MODEL_ENV, "").strip()
    if not model:
        raise InvalidInput(f"{LLM_URL_ENV} is set but {LLM_MODEL_ENV} is not: name the model to ask")
    models = [m.strip() for m in env.get(LLM_MODELS_ENV, "").split(",") if m.strip()]
    return ChatCompletions(url, model, env.get(LLM_KEY_ENV) or None, models)
