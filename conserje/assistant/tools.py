"""Function tools the model may call: declaration, schemas, plugins and safe execution.

A tool is a plain function taking one ``msgspec.Struct`` (its arguments) and returning
a Struct, a dict or a str (the result the model reads, as JSON). Its schema is generated
from the Struct, so the code and what the model is told cannot drift apart.
:meth:`ToolRegistry.execute` never raises: every failure becomes a small JSON error the
model can read, because a call left without an output breaks the conversation.
Businesses add tools as plugins through the ``conserje.tools`` entry-point group.
"""

from __future__ import annotations

import copy
import importlib.metadata
import inspect
import logging
import re
import threading
import time
import typing
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from contextvars import copy_context
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import msgspec

from conserje.assistant.strict_schema import drop_default_nulls, strict_schema

__all__ = ["Tool", "ToolOutcome", "ToolRegistry", "ToolResult", "tool"]

log = logging.getLogger(__name__)

ToolResult = msgspec.Struct | dict[str, Any] | str
"""What a tool returns: a Struct or dict (sent as JSON) or a str (sent as it is)."""

# The API's rule for function names.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Tool:
    """A function the model may call, with what the model is told about it.

    Attributes:
        name: the name the model calls it by (letters, digits, ``_`` and ``-``; at most 64).
        description: when and why to call it, for the model.
        func: the function; it takes one ``args_type`` instance.
        args_type: the Struct describing the arguments.
        timeout: seconds a call may take before it is abandoned.
        interim_message: what to tell the guest while a slow call runs.

    Raises:
        ValueError: the name or timeout is not acceptable.
        TypeError: ``args_type`` is not a Struct or cannot be described in strict mode.
    """

    name: str
    description: str
    func: Callable[[Any], ToolResult]
    args_type: type[msgspec.Struct]
    timeout: float = 10.0
    interim_message: str | None = None
    _parameters: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"tool name {self.name!r} must match {_NAME.pattern}")
        if self.timeout <= 0:
            raise ValueError(f"tool {self.name!r}: timeout must be positive")
        if not (isinstance(self.args_type, type) and issubclass(self.args_type, msgspec.Struct)):
            raise TypeError(f"tool {self.name!r}: args_type must be a msgspec.Struct subclass")
        # Built once, so a Struct strict mode cannot describe fails at declaration.
        object.__setattr__(self, "_parameters", strict_schema(self.args_type))

    def schema(self) -> dict[str, Any]:
        """Return the Responses API function tool definition (strict mode)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": copy.deepcopy(self._parameters),
            "strict": True,
        }

    def parse_arguments(self, arguments_json: str) -> msgspec.Struct:
        """Decode the model's arguments into ``args_type``.

        A ``null`` sent for a field with a default means the default (see
        :mod:`conserje.assistant.strict_schema`).

        Raises:
            msgspec.DecodeError: the arguments are not JSON.
            msgspec.ValidationError: they do not match ``args_type``.
        """
        raw = drop_default_nulls(msgspec.json.decode(arguments_json), self.args_type)
        return msgspec.convert(raw, type=self.args_type)


def tool(
    *, description: str, timeout: float = 10.0, interim_message: str | None = None
) -> Callable[[Callable[[Any], ToolResult]], Tool]:
    """Declare a function as a :class:`Tool` named after it; the function stays as ``func``.

    The arguments Struct is the annotation of the function's single parameter; it must
    be resolvable from the function's module (not a class local to another function).

    Raises:
        TypeError: the function does not take exactly one annotated parameter.
    """

    def declare(func: Callable[[Any], ToolResult]) -> Tool:
        params = list(inspect.signature(func).parameters)
        if len(params) != 1:
            raise TypeError(f"tool {func.__name__!r} must take exactly one parameter")
        try:
            hints = typing.get_type_hints(func)
        except NameError as exc:
            raise TypeError(f"tool {func.__name__!r}: cannot resolve annotations: {exc}") from exc
        if params[0] not in hints:
            raise TypeError(f"tool {func.__name__!r}: annotate {params[0]!r} with its Struct")
        return Tool(
            name=func.__name__,
            description=description,
            func=func,
            args_type=hints[params[0]],
            timeout=timeout,
            interim_message=interim_message,
        )

    return declare


@dataclass(frozen=True)
class ToolOutcome:
    """The result of one tool call, ready to send back as a ``function_call_output``.

    Attributes:
        ok: the tool ran and returned a result that fits.
        output: the JSON string for the model: the result, or ``{"error": {"type",
            "message"}}``.
        error: the error type (``unknown_tool``, ``invalid_arguments``, ``tool_failed``,
            ``timeout``, ``output_too_large``), or ``""``.
        duration: seconds the call took, as far as the caller waited.
    """

    ok: bool
    output: str
    error: str = ""
    duration: float = 0.0


class ToolRegistry:
    """The tools on offer, and the bounded thread pool that runs them.

    Args:
        tools: tools to register at once.
        max_workers: how many tool calls may run at the same time; more wait their turn
            (the wait counts against their timeout).
        max_output_bytes: the largest result sent to the model; artifacts (documents,
            images) must travel outside the model.
    """

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        max_workers: int = 8,
        max_output_bytes: int = 16 * 1024,
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tool")
        self._max_output_bytes = max_output_bytes
        self._register_all(list(tools))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def register(self, tool: Tool) -> None:
        """Add a tool.

        Raises:
            ValueError: a tool with this name is already registered.
        """
        self._register_all([tool])

    def get(self, name: str) -> Tool | None:
        """Return the tool called ``name``, or ``None``."""
        return self._tools.get(name)

    def names(self) -> list[str]:
        """Return the registered names, in registration order."""
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """Return the function tool definitions to pass as ``tools`` to the API."""
        return [tool.schema() for tool in self._tools.values()]

    def load_entry_points(self, group: str = "conserje.tools") -> list[str]:
        """Register the tools that installed packages declare as entry points.

        Each entry point names a :class:`Tool`, or a callable returning a Tool or an
        iterable of Tools. One that fails to load is logged and skipped, so a broken
        plugin does not stop the server; the caller decides whether problems are fatal.

        Returns:
            One sentence per entry point that could not be loaded.
        """
        problems: list[str] = []
        for entry in importlib.metadata.entry_points(group=group):
            try:
                self._register_all(_as_tools(entry.load()))
            except Exception as exc:  # a plugin can fail in any way; it is reported
                problem = f"entry point {entry.name} ({entry.value}): {type(exc).__name__}: {exc}"
                log.warning("cannot load tools from %s", problem, exc_info=True)
                problems.append(problem)
        return problems

    def execute(self, name: str, arguments_json: str) -> ToolOutcome:
        """Run one tool call and return what to send back to the model; never raises.

        A call that times out is abandoned, not stopped: its thread runs on, and its side
        effects may still happen. Calls are never retried here.
        """
        started = time.monotonic()
        tool = self._tools.get(name)
        if tool is None:
            return _failure(started, "unknown_tool", f"There is no tool called {name!r}.")
        try:
            args = tool.parse_arguments(arguments_json)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _failure(started, "invalid_arguments", str(exc))
        error, output = self._call(tool, args)
        if error:
            return _failure(started, error, output)
        size = len(output.encode())
        if size > self._max_output_bytes:
            log.warning(
                "tool %s returned %d bytes; the limit is %d", name, size, self._max_output_bytes
            )
            message = f"The result has {size} bytes; at most {self._max_output_bytes} are allowed."
            return _failure(started, "output_too_large", message)
        return ToolOutcome(ok=True, output=output, duration=time.monotonic() - started)

    def close(self) -> None:
        """Stop the thread pool without waiting for calls that are stuck."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _call(self, tool: Tool, args: msgspec.Struct) -> tuple[str, str]:
        """Run the function in the pool: ``("", output)``, or an error type and message."""
        try:
            future = self._executor.submit(copy_context().run, _encode_result, tool.func, args)
        except RuntimeError:
            return "tool_failed", "Tools are shutting down."
        if not wait((future,), timeout=tool.timeout).done:
            future.cancel()
            log.warning("tool %s did not finish within %s s; abandoned", tool.name, tool.timeout)
            return "timeout", f"{tool.name} did not answer within {tool.timeout} s."
        exc = future.exception()
        if exc is not None:
            log.error("tool %s failed", tool.name, exc_info=exc)
            return "tool_failed", f"{type(exc).__name__}: {exc}"
        return "", future.result()

    def _register_all(self, tools: list[Tool]) -> None:
        # All or nothing, so a plugin with one clashing name adds none of its tools.
        with self._lock:
            names = [tool.name for tool in tools]
            taken = [n for i, n in enumerate(names) if n in self._tools or n in names[:i]]
            if taken:
                raise ValueError(f"tool names already registered: {', '.join(taken)}")
            self._tools.update(zip(names, tools, strict=True))


def _as_tools(loaded: object) -> list[Tool]:
    produced = loaded() if callable(loaded) else loaded
    items = [produced] if isinstance(produced, Tool) else produced
    if not isinstance(items, Iterable) or isinstance(items, str | bytes):
        raise TypeError(f"expected a Tool or an iterable of Tools, got {type(items).__name__}")
    tools = list(items)
    wrong = [type(item).__name__ for item in tools if not isinstance(item, Tool)]
    if wrong:
        raise TypeError(f"expected Tools, got {', '.join(wrong)}")
    return tools


def _encode_result(func: Callable[[Any], ToolResult], args: msgspec.Struct) -> str:
    result = func(args)
    return result if isinstance(result, str) else msgspec.json.encode(result).decode()


def _failure(started: float, kind: str, message: str) -> ToolOutcome:
    output = msgspec.json.encode({"error": {"type": kind, "message": message}}).decode()
    return ToolOutcome(ok=False, output=output, error=kind, duration=time.monotonic() - started)
