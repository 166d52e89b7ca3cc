"""``POST /v1/responses/compact`` for :class:`~conserje.testing.fake_openai.FakeOpenAI`.

The real endpoint answers with "a list of all user messages, followed by a single
compaction item" whose ``encrypted_content`` is opaque. The fake's item is opaque too,
but decodable by tests with :func:`compacted_texts`, so a test can prove that the next
run's input carried the compacted history.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

__all__ = ["compacted_response", "compacted_texts"]


def compacted_response(body: dict[str, Any]) -> dict[str, Any] | str:
    """Return the ``CompactedResponse`` for a request body, or why the API would refuse it."""
    input_ = body.get("input")
    if not isinstance(body.get("model"), str):
        return "Missing required parameter: 'model'."
    if not isinstance(input_, list) or not input_:
        return "Compaction needs a non-empty list of input items."
    users = [item for item in input_ if isinstance(item, dict) and item.get("role") == "user"]
    kept = [
        {
            "type": "message",
            "id": f"msg_{uuid.uuid4().hex}",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": _text(item.get("content"))}],
        }
        for item in users
    ]
    compaction = {
        "type": "compaction",
        "id": f"cmp_{uuid.uuid4().hex}",
        "encrypted_content": _seal(input_),
    }
    tokens = len(json.dumps(input_)) // 4
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [*kept, compaction],
        "usage": {
            "input_tokens": tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": tokens // 4,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": tokens + tokens // 4,
        },
    }


def compacted_texts(input_: Any) -> list[str]:
    """Return the texts sealed in the compaction items of a request's ``input``."""
    texts: list[str] = []
    for item in input_ if isinstance(input_, list) else []:
        if isinstance(item, dict) and item.get("type") == "compaction":
            texts.extend(json.loads(base64.b64decode(item["encrypted_content"])))
    return texts


def _seal(items: list[Any]) -> str:
    texts: list[str] = []
    for item in items:
        if isinstance(item, dict) and item.get("type") == "compaction":
            texts.extend(compacted_texts([item]))
        elif isinstance(item, dict):
            texts.append(_text(item.get("content")))
    return base64.b64encode(json.dumps(texts, ensure_ascii=False).encode()).decode()


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return " | ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
