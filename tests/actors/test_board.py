from conserje.actors.board import Board
from conserje.actors.messages import ChatStatus

CHAT = "34600000001@s.whatsapp.net"


def test_a_chat_is_busy_while_it_has_a_turn_or_waiting_messages():
    board = Board()
    board.update(ChatStatus(CHAT, None, 2))
    assert board.status(CHAT) == ChatStatus(CHAT, None, 2)
    board.update(ChatStatus(CHAT, 1_800_000_000.0, 0))
    assert board.busy() == {CHAT: ChatStatus(CHAT, 1_800_000_000.0, 0)}
    board.update(ChatStatus(CHAT, None, 0))
    assert board.status(CHAT) is None
    assert board.busy() == {}


def test_a_reader_keeps_a_consistent_copy_while_the_supervisor_writes():
    board = Board()
    board.update(ChatStatus(CHAT, None, 1))
    seen = board.busy()
    for n in range(100):
        board.update(ChatStatus(f"3470000{n:04d}@s.whatsapp.net", None, 1))
    board.update(ChatStatus(CHAT, None, 0))
    assert seen == {CHAT: ChatStatus(CHAT, None, 1)}
    assert len(board.busy()) == 100
