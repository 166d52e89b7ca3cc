// The live stream (GET /dashboard/events), shared by the dashboard and the chat simulator:
// each journaled event as it is written, resumed from the last seq seen whenever a
// stream ends or fails. The server ends each stream after a while (each holds one of
// its threads) with an "end" event; the next one opens at once, so the page stays live.
"use strict";

window.conserjeLive = ({ connection, onRecord, onGap }) => {
  const RETRY_MS = 5000;
  let lastSeq = null;

  function show(state, text) {
    connection.dataset.state = state;
    connection.textContent = text;
  }

  function connect() {
    const source = new EventSource(lastSeq === null ? "/dashboard/events" : `/dashboard/events?after=${lastSeq}`);
    let ended = false;
    source.onopen = () => show("live", "live");
    source.onmessage = (message) => {
      lastSeq = Number(message.lastEventId);
      onRecord(JSON.parse(message.data));
    };
    source.addEventListener("gap", (message) => {
      lastSeq = Number(message.lastEventId);
      onGap();
    });
    source.addEventListener("end", (message) => {
      // Where this stream stopped, even if it carried no event; it closes next.
      lastSeq = JSON.parse(message.data).lastSeen;
      ended = true;
    });
    source.onerror = () => {
      if (ended) {
        // The stream ran its time and closed as it said it would: open the next one now.
        source.close();
        connect();
      } else if (source.readyState === EventSource.CLOSED) {
        // Refused (too many streams, or signed out): try again later from where we were.
        source.close();
        show("down", "disconnected, retrying");
        setTimeout(connect, RETRY_MS);
      } else {
        show("connecting", "reconnecting…");
      }
    };
  }

  connect();
};
