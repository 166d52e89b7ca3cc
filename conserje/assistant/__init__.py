"""The model side: the Responses adapter, the context of a turn, reply shaping."""

from conserje.assistant.context import build_input, context_line
from conserje.assistant.responses import ResponsesModel, RunResult
from conserje.assistant.shaping import split_reply, worth_sending

__all__ = [
    "ResponsesModel",
    "RunResult",
    "build_input",
    "context_line",
    "split_reply",
    "worth_sending",
]
