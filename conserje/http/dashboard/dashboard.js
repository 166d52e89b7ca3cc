// Conserje's dashboard: the journal's events as they happen, the current numbers, the
// latest problems, and a chat's timeline on click. Journal text is only ever set with
// textContent, never parsed as HTML.
"use strict";

(() => {
  const FEED_MAX = 400;
  const CHATS_MAX = 200;
  const STATS_EVERY_MS = 3000;
  const TIMELINE_LIMIT = 500;

  // The steps of a turn, hidden from the live feed unless "every step" is ticked.
  const STEPS = new Set([
    "turn_started", "run_started", "run_finished", "run_retried", "reply_sent",
    "turn_held", "presence_subscribed",
  ]);
  const KINDS = {
    message_received: "guest", agent_message: "agent", reply_sending: "reply",
    interim_sent: "reply", tool_called: "tool", tool_finished: "tool",
    handoff_started: "handoff", handoff_ended: "handoff", reply_rejected: "problem",
    run_recovered: "problem",
  };

  const $ = (id) => document.getElementById(id);
  const make = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const clock = (ts) => new Date(ts * 1000).toLocaleTimeString();
  const plural = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const phone = (chat) => (chat.endsWith("@s.whatsapp.net") ? "+" + chat.split("@")[0] : chat);

  function kindOf(record) {
    if (record.type === "turn_finished") {
      return record.fields.outcome === "replied" ? "step" : "problem";
    }
    if (STEPS.has(record.type)) return "step";
    return KINDS[record.type] || "system";
  }

  function eventItem(record, withChat) {
    const kind = kindOf(record);
    const item = make("li", `event kind-${kind}`);
    if (kind === "step") item.classList.add("step");
    item.dataset.seq = record.seq;
    const time = make("time", "time", clock(record.ts));
    time.dateTime = new Date(record.ts * 1000).toISOString();
    item.append(time);
    if (withChat) {
      const link = make("button", "chat-link", phone(record.chat));
      link.type = "button";
      link.title = `Timeline of ${record.chat}`;
      link.addEventListener("click", () => openTimeline(record.chat));
      item.append(link);
    }
    item.append(make("span", `who who-${record.who}`, record.who));
    item.append(make("span", "story", record.story));
    return item;
  }

  // Live feed and chats list.
  const feed = $("feed");
  const chats = new Map();

  function showLive(record) {
    feed.prepend(eventItem(record, true));
    while (feed.childElementCount > FEED_MAX) feed.lastElementChild.remove();
    noteChat(record);
    showInTimeline(record);
  }

  function noteChat(record) {
    let chat = chats.get(record.chat);
    if (!chat) {
      const item = make("li", "chat");
      const button = make("button", "chat-open");
      button.type = "button";
      button.title = `Timeline of ${record.chat}`;
      button.addEventListener("click", () => openTimeline(record.chat));
      const head = make("span", "chat-head");
      chat = {
        item, count: 0, name: make("span", "chat-name", phone(record.chat)),
        time: make("time", "time"), state: make("span", "chat-state"), last: make("span", "chat-last"),
      };
      head.append(chat.name, chat.state, chat.time);
      button.append(head, chat.last);
      item.append(button);
      chats.set(record.chat, chat);
      $("chats-empty").hidden = true;
    }
    chat.count += 1;
    chat.time.textContent = clock(record.ts);
    if (record.type === "handoff_started") chat.state.textContent = "paused";
    if (record.type === "handoff_ended") chat.state.textContent = "";
    if (kindOf(record) !== "step") chat.last.textContent = `${record.who}: ${record.story}`;
    $("chats").prepend(chat.item);
    // A Map keeps insertion order: move this chat to the newest end, drop the oldest.
    chats.delete(record.chat);
    chats.set(record.chat, chat);
    while (chats.size > CHATS_MAX) {
      const [oldest, entry] = chats.entries().next().value;
      entry.item.remove();
      chats.delete(oldest);
    }
  }

  function notice(text) {
    const item = make("li", "event kind-notice", text);
    feed.prepend(item);
  }

  // Numbers and problems, polled.
  const seconds = (value) => (value === null ? "–" : `${value < 10 ? value.toFixed(2) : value.toFixed(1)} s`);
  const FORMATS = {
    turnsPerMinute: (value) => value.toFixed(1),
    turnSeconds: seconds,
    modelSeconds: seconds,
  };

  async function pollStats() {
    try {
      const answer = await fetch("/dashboard/stats", { cache: "no-store" });
      if (answer.status === 401 || answer.status === 403) {
        showBanner("Not signed in: open /dashboard?token=<ADMIN_TOKEN> once.");
        return;
      }
      if (!answer.ok) return;
      const stats = await answer.json();
      $("banner").hidden = true;
      for (const [name, format] of Object.entries({ chatActors: String, turnsInFlight: String,
        chatsWaiting: String, fallbacks: String, journalSeq: String, ...FORMATS })) {
        $(`stat-${name}`).textContent = format(stats[name]);
      }
      const minutes = Math.round(stats.windowSeconds / 60);
      $("stats-note").textContent =
        `Per minute, fallbacks and latencies over the last ${stats.windowSeconds < 90 ? `${Math.round(stats.windowSeconds)} s` : `${minutes} min`}` +
        ` · ${plural(stats.turnsTotal, "turn")} and ${plural(stats.fallbacksTotal, "fallback")} since start` +
        ` · ${stats.phase}`;
      showProblems(stats.problems);
    } catch (error) {
      const connection = $("connection");
      connection.dataset.state = "down";
      connection.textContent = "server unreachable";
    } finally {
      setTimeout(pollStats, STATS_EVERY_MS);
    }
  }

  function showBanner(text) {
    const banner = $("banner");
    banner.textContent = text;
    banner.hidden = false;
  }

  function showProblems(problems) {
    const list = $("problems");
    list.replaceChildren(...problems.slice().reverse().map((problem) => {
      const item = make("li", `problem level-${problem.level.toLowerCase()}`);
      item.append(make("time", "time", clock(problem.ts)), make("span", "level", problem.level),
        make("span", "logger", problem.logger), make("span", "message", problem.message));
      return item;
    }));
    $("problems-empty").hidden = problems.length > 0;
    $("problems-count").textContent = problems.length ? `(${problems.length})` : "";
  }

  // A chat's timeline, read from the journal, then kept up to date by the stream.
  const timeline = { chat: null, lastSeq: 0, pending: null, list: $("timeline") };

  function timelineItem(record) {
    const item = make("li", `event kind-${kindOf(record)}`);
    const details = make("details");
    const summary = make("summary");
    summary.append(make("time", "time", clock(record.ts)), make("span", `who who-${record.who}`, record.who),
      make("span", "story", record.story));
    const fields = { seq: record.seq, type: record.type, ...record.fields };
    details.append(summary, make("pre", "fields", JSON.stringify(fields, null, 2)));
    item.append(details);
    return item;
  }

  function showInTimeline(record) {
    if (timeline.chat !== record.chat) return;
    if (timeline.pending) {
      timeline.pending.push(record);
    } else if (record.seq > timeline.lastSeq) {
      timeline.list.append(timelineItem(record));
      timeline.lastSeq = record.seq;
    }
  }

  async function openTimeline(chat) {
    Object.assign(timeline, { chat, lastSeq: 0, pending: [] });
    timeline.list.replaceChildren();
    $("timeline-chat").textContent = phone(chat);
    $("timeline-chat").title = chat;
    $("timeline-note").textContent = "Reading the journal…";
    $("timeline-pane").hidden = false;
    let story;
    try {
      const answer = await fetch(`/chats/${encodeURIComponent(chat)}/timeline?limit=${TIMELINE_LIMIT}`,
        { cache: "no-store" });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      story = await answer.json();
    } catch (error) {
      if (timeline.chat === chat) {
        timeline.pending = null;
        $("timeline-note").textContent = `Could not read the timeline (${error.message}).`;
      }
      return;
    }
    if (timeline.chat !== chat) return;
    timeline.list.replaceChildren(...story.events.map(timelineItem));
    timeline.lastSeq = story.events.length ? story.events[story.events.length - 1].seq : 0;
    $("timeline-note").textContent = story.truncated
      ? `The newest ${story.events.length} of ${story.total} events.`
      : `${plural(story.total, "event")}.`;
    // What the stream brought while the journal was read, past what the read found.
    const pending = timeline.pending;
    timeline.pending = null;
    pending.forEach(showInTimeline);
    $("timeline-pane").scrollIntoView({ block: "nearest" });
  }

  $("timeline-close").addEventListener("click", () => {
    timeline.chat = null;
    $("timeline-pane").hidden = true;
  });
  $("every-step").addEventListener("change", (event) => {
    feed.classList.toggle("quiet", !event.target.checked);
  });

  window.conserjeLive({
    connection: $("connection"),
    onRecord: showLive,
    onGap: () => notice("Some events were missed here; a chat's timeline still has them all."),
  });
  pollStats();
})();
