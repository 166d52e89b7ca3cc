// Conserje's chat simulator: the visitor writes as a guest through the fake Whapi
// (POST /demo/send), reads the chat as the guest's phone shows it (GET /demo/chat), and
// watches the same chat in the journal through the dashboard's live stream. All text
// from the server is set with textContent, never parsed as HTML.
"use strict";

(() => {
  const POLL_MS = 500;
  const JOURNAL_MAX = 300;
  const STORE = "conserje-demo-phone";
  // Journal event types that are steps of a turn rather than what was said or done.
  const STEPS = new Set([
    "turn_started", "run_started", "run_finished", "run_retried", "reply_sent",
    "turn_held", "presence_subscribed", "turn_finished",
  ]);
  const KINDS = {
    message_received: "guest", reply_sending: "reply", interim_sent: "reply",
    tool_called: "tool", tool_finished: "tool", handoff_started: "handoff",
    handoff_ended: "handoff", reply_rejected: "problem", agent_message: "agent",
  };

  const $ = (id) => document.getElementById(id);
  const make = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const clock = (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const newPhone = () => "3460" + String(Math.floor(Math.random() * 1e7)).padStart(7, "0");

  let phone = sessionStorage.getItem(STORE) || newPhone();
  let chat = `${phone}@s.whatsapp.net`;
  const shown = new Map();

  function showError(text) {
    $("error").textContent = text;
    $("error").hidden = !text;
  }

  // The phone.
  function bubbleText(message) {
    if (message.type === "voice") return "🎤 Voice note";
    if (message.type === "image") return message.text ? `📷 Photo: ${message.text}` : "📷 Photo";
    return message.text;
  }

  function showMessage(message) {
    let entry = shown.get(message.id);
    if (!entry) {
      const item = make("li", `msg from-${message.from}`);
      item.dataset.id = message.id;
      const meta = make("span", "meta", clock(message.at));
      const ticks = make("span", "ticks");
      if (message.from === "guest") meta.append(" ", ticks);
      item.append(make("span", "body", bubbleText(message)), meta);
      $("messages").append(item);
      entry = { item, ticks };
      shown.set(message.id, entry);
      item.scrollIntoView({ block: "end" });
    }
    if (message.from === "guest") {
      entry.ticks.textContent = "✓✓";
      entry.ticks.dataset.read = String(Boolean(message.read));
      entry.ticks.title = message.read ? "read" : "delivered";
    }
  }

  async function poll() {
    try {
      const answer = await fetch(`/demo/chat?phone=${phone}`, { cache: "no-store" });
      if (answer.ok) {
        const view = await answer.json();
        if (view.chat === chat) {
          view.messages.forEach(showMessage);
          $("status").textContent = view.typing ? "typing…" : "online";
          $("status").dataset.typing = String(view.typing);
        }
      }
    } catch (error) {
      $("status").textContent = "server unreachable";
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  async function send(body) {
    showError("");
    try {
      const answer = await fetch("/demo/send", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ phone, ...body }),
      });
      if (!answer.ok) {
        const problem = await answer.json().catch(() => ({}));
        showError(`Not sent: ${problem.description || problem.title || `HTTP ${answer.status}`}`);
        return false;
      }
      return true;
    } catch (error) {
      showError("Not sent: the server is unreachable.");
      return false;
    }
  }

  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("text");
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    if (!(await send({ text }))) input.value = text;
  });
  $("send-voice").addEventListener("click", () => send({ kind: "voice" }));
  $("send-photo").addEventListener("click", () => send({ kind: "image" }));
  $("resume").addEventListener("click", async () => {
    const answer = await fetch(`/chats/${encodeURIComponent(chat)}/resume`, { method: "POST" });
    if (!answer.ok) showError(`Could not resume (HTTP ${answer.status}).`);
  });
  $("new-chat").addEventListener("click", () => startChat(newPhone()));

  function startChat(number) {
    phone = number;
    chat = `${phone}@s.whatsapp.net`;
    sessionStorage.setItem(STORE, phone);
    shown.clear();
    $("messages").replaceChildren();
    $("journal").replaceChildren();
    $("journal-empty").hidden = false;
    $("handoff").hidden = true;
    $("chat-phone").textContent = `+${phone}`;
    showError("");
  }

  // The journal of this chat, from the dashboard's live stream.
  function kindOf(record) {
    if (record.type === "turn_finished" && record.fields.outcome !== "replied") return "problem";
    if (STEPS.has(record.type)) return "step";
    return KINDS[record.type] || "system";
  }

  function showRecord(record) {
    if (record.chat !== chat) return;
    const kind = kindOf(record);
    const item = make("li", `event kind-${kind}`);
    if (kind === "step") item.classList.add("step");
    item.dataset.type = record.type;
    item.append(make("time", "time", new Date(record.ts * 1000).toLocaleTimeString()),
      make("span", `who who-${record.who}`, record.who), make("span", "story", record.story));
    const journal = $("journal");
    journal.append(item);
    while (journal.childElementCount > JOURNAL_MAX) journal.firstElementChild.remove();
    item.scrollIntoView({ block: "nearest" });
    $("journal-empty").hidden = true;
    if (record.type === "handoff_started") $("handoff").hidden = false;
    if (record.type === "handoff_ended") $("handoff").hidden = true;
  }

  $("every-step").addEventListener("change", (event) => {
    $("journal").classList.toggle("quiet", !event.target.checked);
  });

  startChat(phone);
  window.conserjeLive({ connection: $("connection"), onRecord: showRecord, onGap: () => {} });
  poll();
})();
