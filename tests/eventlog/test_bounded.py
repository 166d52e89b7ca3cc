from conserje.eventlog.bounded import BoundedList
from conserje.eventlog.events import AgentMessage
from conserje.eventlog.projection import HISTORY_LIMIT, ChatState


def test_keeps_only_the_newest_items_however_they_arrive():
    window = BoundedList(3, range(5))
    assert window == [2, 3, 4]
    window.append(5)
    assert window == [3, 4, 5]
    window.extend([6, 7])
    assert window == [5, 6, 7]
    window.insert(1, 99)
    assert window == [99, 6, 7]
    window.clear()
    window.append(1)
    assert window == [1]


def test_a_chats_history_stays_capped_and_in_order():
    chat = "34600000001@s.whatsapp.net"
    state = ChatState(chat)
    for n in range(HISTORY_LIMIT + 5):
        state.apply(AgentMessage(chat=chat, message_id=f"m{n}", text=f"t{n}", version=n + 1))
    assert len(state.history) == HISTORY_LIMIT
    assert state.history[0].text == "t5"
    assert state.history[-1].text == f"t{HISTORY_LIMIT + 4}"
