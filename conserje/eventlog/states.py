"""Every chat's state after boot's restore, each decoded from the snapshot only when needed.

Boot needs little of a chat restored from a snapshot: whether it has work to resume,
and its token count for the metrics and the compaction sweep. Decoding every chat's
history there would make boot grow with what the snapshot holds (up to 200 history
items for each of thousands of chats), so a snapshot keeps that summary beside each
chat's encoded state, and :class:`ChatStates` decodes a chat the first time someone
asks for its :class:`ChatState` (its actor starts, or the journal after the snapshot
has an event for it). Once decoded, it is that state object for good, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping

import msgspec

from conserje.errors import SnapshotDamaged
from conserje.eventlog.projection import ChatState
from conserje.eventlog.records import decode_state, record

__all__ = ["ChatStates", "StoredChat"]


class StoredChat(msgspec.Struct, frozen=True, kw_only=True):
    """A chat's state still encoded, with what boot reads of it without decoding.

    It is also how a snapshot (schema 2) stores each chat, field for field.

    Attributes:
        chat: the chat id.
        version: the chat's version the state is at.
        has_work: :attr:`ChatState.has_work` of the state.
        last_input_tokens: :attr:`ChatState.last_input_tokens` of the state.
        state: the state as a JSON :class:`~conserje.eventlog.records.ChatRecord`.
    """

    chat: str
    version: int
    has_work: bool
    last_input_tokens: int
    state: msgspec.Raw

    @classmethod
    def of(cls, state: ChatState, *, encoded: msgspec.Raw | None = None) -> StoredChat:
        """Summarise ``state`` and encode it (unless ``encoded`` is its encoding)."""
        return cls(
            chat=state.chat,
            version=state.version,
            has_work=state.has_work,
            last_input_tokens=state.last_input_tokens,
            state=msgspec.Raw(msgspec.json.encode(record(state))) if encoded is None else encoded,
        )

    def decode(self) -> ChatState:
        """Return the state.

        Raises:
            SnapshotDamaged: the encoded state cannot be decoded, or is another chat's.
        """
        try:
            state = decode_state(self.state)
        except msgspec.MsgspecError as exc:
            raise SnapshotDamaged(self.chat, str(exc)) from exc
        if StoredChat.of(state, encoded=self.state) != self:
            raise SnapshotDamaged(self.chat, "the encoded state is not the one summarised")
        return state


class ChatStates(MutableMapping[str, ChatState]):
    """Chat id -> :class:`ChatState`, where chats loaded from a snapshot decode on first use.

    It behaves as a dict of states (in insertion order); reading a chat's state, by
    any means, decodes it once. :meth:`versions`, :meth:`with_work`,
    :meth:`input_tokens` and :meth:`stored` answer without decoding.

    Args:
        states: decoded states.
        stored: chats still encoded (a chat in both is taken from ``states``).
    """

    __slots__ = ("_chats",)

    def __init__(
        self, states: Mapping[str, ChatState] | None = None, stored: Iterable[StoredChat] = ()
    ) -> None:
        self._chats: dict[str, ChatState | StoredChat] = {s.chat: s for s in stored}
        self._chats.update(states or {})

    def __getitem__(self, chat: str) -> ChatState:
        """Return ``chat``'s state, decoding it if it is still encoded.

        Raises:
            KeyError: the chat is unknown.
            SnapshotDamaged: its encoded state cannot be decoded (it stays encoded).
        """
        entry = self._chats[chat]
        if isinstance(entry, StoredChat):
            entry = self._chats[chat] = entry.decode()
        return entry

    def __setitem__(self, chat: str, state: ChatState) -> None:
        """Set ``chat``'s state."""
        self._chats[chat] = state

    def __delitem__(self, chat: str) -> None:
        """Forget ``chat`` (without decoding it)."""
        del self._chats[chat]

    def __contains__(self, chat: object) -> bool:
        """Tell whether ``chat`` is known (without decoding it)."""
        return chat in self._chats

    def __iter__(self) -> Iterator[str]:
        """Iterate over the chat ids."""
        return iter(self._chats)

    def __len__(self) -> int:
        """Count the chats."""
        return len(self._chats)

    def __repr__(self) -> str:
        """Say how many chats there are, and how many are still encoded."""
        encoded = sum(isinstance(e, StoredChat) for e in self._chats.values())
        return f"<ChatStates: {len(self._chats)} chats, {encoded} still encoded>"

    def versions(self) -> dict[str, int]:
        """Return each chat's version."""
        return {chat: entry.version for chat, entry in self._chats.items()}

    def with_work(self) -> list[str]:
        """Return the chats whose :attr:`ChatState.has_work` is true."""
        return [chat for chat, entry in self._chats.items() if entry.has_work]

    def input_tokens(self) -> Iterator[tuple[str, int]]:
        """Yield each chat with its :attr:`ChatState.last_input_tokens`."""
        for chat, entry in self._chats.items():
            yield chat, entry.last_input_tokens

    def stored(self) -> Iterator[StoredChat]:
        """Yield every chat encoded: as loaded if never decoded, else encoded now."""
        for entry in self._chats.values():
            yield entry if isinstance(entry, StoredChat) else StoredChat.of(entry)
