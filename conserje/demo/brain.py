"""The demo's "model": a script that answers through the fake OpenAI, and says so.

It is not a language model and never pretends to be one. It reads the guest's last
message and picks one of a few paths that show what Conserje does: a greeting, canned
answers to simple questions, a call to the ``check_availability`` tool when the guest
asks about dates, and ``escalate_to_human`` when they ask for a person. Its replies have
several paragraphs, so the guest gets them as several WhatsApp messages. Everything it
decides depends only on the request, so the same chat always goes the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from conserje.testing.fake_openai import last_user_text
from conserje.testing.fake_tool_calls import tool_outputs

__all__ = ["AVAILABILITY_TOOL", "ESCALATE_TOOL", "DemoBrain"]

AVAILABILITY_TOOL = "check_availability"
ESCALATE_TOOL = "escalate_to_human"

_HUMAN = re.compile(
    r"\b(human|person|somebody|agent|staff|manager|reception|humano|persona)\b",
    re.IGNORECASE,
)
_AVAILABILITY = re.compile(
    r"\b(availab\w*|free|vacan\w*|book\w*|reserv\w*|dates?|nights?|stay|disponib\w*|libre)\b",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^\W*(hi|hello|hey|good (morning|afternoon|evening)|hola|buenas|buenos d[ií]as)\b",
    re.IGNORECASE,
)
_YES = re.compile(r"^\W*(yes|yeah|sure|ok|okay|please|s[ií]|vale)\b", re.IGNORECASE)
_OFFER_TO_BOOK = "Shall I ask the team to book one for you?"
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_TODAY = re.compile(r"Now it is \w+ (\d{4}-\d{2}-\d{2})")
_GUESTS = re.compile(r"\b(\d{1,2})\s*(people|persons|guests|adults|of us|personas)\b", re.I)
_ANSWERS = {
    re.compile(r"\bwi-?fi\b", re.I): (
        "The wifi network is CasaDemo and the password is on the fridge door."
    ),
    re.compile(r"\bcheck-?in\b|\barriv", re.I): (
        "Check-in is from 15:00 and check-out until 11:00. The key box code comes the day before."
    ),
    re.compile(r"\bpark", re.I): "There is free street parking, and a garage two streets away.",
    re.compile(
        r"\bbreakfast\b", re.I
    ): "Breakfast is not included, but the café downstairs opens at 8.",
    re.compile(r"\bpets?\b|\bdogs?\b|\bcats?\b", re.I): "Pets are welcome in the Garden House.",
}
_DISCLAIMER = (
    "(This is the Conserje demo: I am a short script, not a real model. "
    "Connect OpenAI to get real answers.)"
)
_TRY = (
    'Try: "hello", "what is the wifi?", "is anything free from 2027-03-10 to 2027-03-12?" '
    'or "can I talk to a person?"'
)


class DemoBrain:
    """Decides the fake OpenAI's answers: hand :meth:`tool_calls` and :meth:`reply` to it."""

    def tool_calls(self, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Return the calls to answer a request with; none once the outputs are back."""
        input_ = body.get("input")
        if tool_outputs(input_):
            return []
        text = last_user_text(input_)
        offered = _offered(body)
        if _HUMAN.search(text) and ESCALATE_TOOL in offered:
            return [_escalate("The guest asked to talk to a person.", text)]
        # "Yes" to the offer that ends an availability answer: booking is for a person.
        if _YES.search(text) and _OFFER_TO_BOOK in _last_reply(input_) and ESCALATE_TOOL in offered:
            return [_escalate("The guest wants to book an apartment.", text)]
        if _AVAILABILITY.search(text) and AVAILABILITY_TOOL in offered:
            check_in, check_out = _stay(text, _today(input_))
            return [
                (
                    AVAILABILITY_TOOL,
                    {
                        "check_in": check_in.isoformat(),
                        "check_out": check_out.isoformat(),
                        "guests": _guests(text),
                    },
                )
            ]
        return []

    def reply(self, body: dict[str, Any]) -> str:
        """Return the assistant's text: paragraphs, each sent as one WhatsApp message."""
        input_ = body.get("input")
        answered = _answered_calls(input_)
        if answered:
            return "\n\n".join(_after_tool(name, output) for name, output in answered)
        text = last_user_text(input_)
        if _has_image(input_):
            return "\n\n".join(["Thanks for the photo! I can see you sent a picture.", _DISCLAIMER])
        if _GREETING.search(text):
            return "\n\n".join(
                [
                    "Hello! 👋 Welcome to Casa Demo. I am the assistant that answers here.",
                    _DISCLAIMER,
                    _TRY,
                ]
            )
        for pattern, answer in _ANSWERS.items():
            if pattern.search(text):
                return "\n\n".join([answer, "Anything else I can help with?"])
        if _AVAILABILITY.search(text) and AVAILABILITY_TOOL not in _offered(body):
            return "\n\n".join(
                [
                    "I would check the calendar, but the availability tool is not installed.",
                    "Install it with: pip install -e examples/conserje-availability",
                ]
            )
        return "\n\n".join(
            [
                "I am only a demo script, so I understood little of that.",
                _TRY,
                _DISCLAIMER,
            ]
        )


def _escalate(reason: str, text: str) -> tuple[str, dict[str, Any]]:
    return (
        ESCALATE_TOOL,
        {"reason": reason, "summary": f'The guest wrote: "{_clip(text)}"', "urgency": "normal"},
    )


def _last_reply(input_: Any) -> str:
    """Return the assistant's last message in the history, or ``""``."""
    for item in reversed(input_ if isinstance(input_, list) else []):
        if isinstance(item, dict) and item.get("role") == "assistant":
            content = item.get("content")
            return content if isinstance(content, str) else ""
    return ""


def _offered(body: dict[str, Any]) -> set[str]:
    tools = body.get("tools")
    return (
        {t.get("name") for t in tools if isinstance(t, dict)} if isinstance(tools, list) else set()
    )


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _today(input_: Any) -> dt.date:
    """Return the date the server's context line gives, or the real date without one."""
    for item in reversed(input_ if isinstance(input_, list) else []):
        content = item.get("content") if isinstance(item, dict) else None
        found = _TODAY.search(content) if isinstance(content, str) else None
        if found:
            return dt.date.fromisoformat(found.group(1))
    return dt.date.today()


def _stay(text: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """Read arrival and departure from ISO dates in the text; tomorrow for two nights else."""
    dates = []
    for year, month, day in _ISO_DATE.findall(text):
        try:
            dates.append(dt.date(int(year), int(month), int(day)))
        except ValueError:
            continue
    if len(dates) >= 2:
        return dates[0], dates[1]
    start = dates[0] if dates else today + dt.timedelta(days=1)
    return start, start + dt.timedelta(days=2)


def _guests(text: str) -> int:
    found = _GUESTS.search(text)
    return max(1, min(20, int(found.group(1)))) if found else 2


def _answered_calls(input_: Any) -> list[tuple[str, str]]:
    """Return ``(tool name, output)`` for the calls answered since the last user message."""
    names: dict[str, str] = {}
    answered: list[tuple[str, str]] = []
    for item in input_ if isinstance(input_, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("role") == "user" and item.get("type", "message") == "message":
            answered = []
        elif item.get("type") == "function_call":
            names[str(item.get("call_id"))] = str(item.get("name"))
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else json.dumps(output)
            answered.append((names.get(str(item.get("call_id")), ""), text))
    return answered


def _has_image(input_: Any) -> bool:
    """Tell whether the last user message carries an image."""
    for item in reversed(input_ if isinstance(input_, list) else []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            parts = content if isinstance(content, list) else []
            return any(isinstance(p, dict) and p.get("type") == "input_image" for p in parts)
    return False


def _after_tool(name: str, output: str) -> str:
    try:
        result = json.loads(output)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        return f"The tool {name} answered something I cannot read."
    if "error" in result:
        error = result["error"]
        message = error.get("message") if isinstance(error, dict) else error
        return f"I could not check that: {message}"
    if name == ESCALATE_TOOL:
        return (
            "I have passed your message to a person from the team; they will answer you "
            "here soon.\n\nUntil then I stay quiet in this chat."
        )
    if name == AVAILABILITY_TOOL:
        return _availability(result)
    return f"{name} answered: {output}"


def _availability(result: dict[str, Any]) -> str:
    stay = f"from {result.get('check_in')} to {result.get('check_out')}"
    offers = result.get("available") or []
    if not offers:
        return f"Sorry, nothing is free {stay} for {result.get('guests')} guests."
    lines = [
        f"• {o.get('apartment')} (sleeps {o.get('sleeps')}): {o.get('total_eur')} € "
        f"for {o.get('nights')} nights"
        for o in offers
        if isinstance(o, dict)
    ]
    return "\n\n".join(
        [
            f"I checked the calendar {stay} for {result.get('guests')} guests. Free:",
            "\n".join(lines),
            _OFFER_TO_BOOK,
        ]
    )
