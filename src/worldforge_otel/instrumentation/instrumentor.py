"""``WorldForgeInstrumentor``: zero-code capture of every ``WorldForge`` created in the process.

With ``opentelemetry-instrument`` it is loaded from the ``opentelemetry_instrumentor`` entry point
``worldforge`` (skip it with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=worldforge``)::

    OTEL_TRACES_EXPORTER=rerun,otlp OTEL_METRICS_EXPORTER=rerun opentelemetry-instrument python app.py

In code::

    from worldforge_otel.instrumentation.instrumentor import WorldForgeInstrumentor

    WorldForgeInstrumentor().instrument()  # tracer_provider=/meter_provider= optional

Two places are wrapped, so every ProviderEvent is recorded once:

- ``WorldForge.__init__``: the instance's ``event_handler`` becomes the user's own handler composed with ours
  (``worldforge.observability.compose_event_handlers``); the user's handler is never replaced, and one that already
  is ours is not doubled. Capability calls and providers that inherit the forge's handler go through it.
- ``BaseProvider._emit_event``: a provider with a handler of its own (given to its constructor, then added with
  ``register_provider``, or used without any ``WorldForge``) still reaches ours, after its own handler; a provider
  whose handler already goes through ours is not recorded twice.

``uninstrument()`` unwraps both and silences the handler of instances created meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from worldforge_otel.instrumentation.handler import ProviderEventHandler

_MODULE = "worldforge.framework"
_INIT = "WorldForge.__init__"
_PROVIDERS_MODULE = "worldforge.providers.base"
_EMIT = "BaseProvider._emit_event"


class WorldForgeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Sends the ProviderEvents of every ``WorldForge`` through a :class:`ProviderEventHandler`."""

    _handler: ProviderEventHandler | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The package this instruments (checked by ``opentelemetry-instrument`` before loading)."""
        return ("worldforge-ai >= 0.5",)

    def _instrument(self, **kwargs: Any) -> None:
        handler = ProviderEventHandler(
            tracer_provider=kwargs.get("tracer_provider"), meter_provider=kwargs.get("meter_provider")
        )
        self._handler = handler
        wrap_function_wrapper(_MODULE, _INIT, _init_wrapper(handler))
        wrap_function_wrapper(_PROVIDERS_MODULE, _EMIT, _emit_wrapper(handler))

    def _uninstrument(self, **kwargs: Any) -> None:
        import worldforge.framework
        import worldforge.providers.base

        unwrap(worldforge.framework.WorldForge, "__init__")
        unwrap(worldforge.providers.base.BaseProvider, "_emit_event")
        if self._handler is not None:
            self._handler.enabled = False  # instances created while instrumented go quiet too
            self._handler = None

    @property
    def handler(self) -> ProviderEventHandler | None:
        """The handler instances get while instrumented."""
        return self._handler


def _init_wrapper(handler: ProviderEventHandler) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        kwargs["event_handler"] = compose_with(kwargs.get("event_handler"), handler)
        return wrapped(*args, **kwargs)

    return wrapper


def _emit_wrapper(handler: ProviderEventHandler) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return wrapped(*args, **kwargs)  # the provider's own handler first, as it always ran
        finally:  # (also when it raised: the event happened)
            if not _records_through_us(getattr(instance, "event_handler", None)):
                event = args[0] if args else kwargs.get("event")
                if event is not None:
                    handler(event)

    return wrapper


def compose_with(user_handler: Callable[..., Any] | None, handler: ProviderEventHandler) -> Callable[..., Any]:
    """The user's handler followed by ours, unless the user's already records to OTel through us."""
    if _records_through_us(user_handler):
        return user_handler  # type: ignore[return-value]
    from worldforge.observability import compose_event_handlers

    composed: Callable[..., Any] = compose_event_handlers(user_handler, handler)
    return composed


def _records_through_us(user_handler: object) -> bool:
    if user_handler is None:
        return False
    parts = getattr(user_handler, "handlers", None)
    candidates = parts if isinstance(parts, tuple | list) else (user_handler,)
    return any(
        isinstance(item, ProviderEventHandler) or isinstance(getattr(item, "handler", None), ProviderEventHandler)
        for item in candidates
    )
