// Live updates: the events stream when the server has it, otherwise polling ticks.
// Emits the stream's events (`message`, `message_updated`, `message_deleted`, `conversation`,
// `read`, and `reset`: refetch everything), `resumed` when a dropped stream is back (its replay
// brings new messages, not edits or deletes made meanwhile: re-read what is shown), or `tick`
// every POLL_INTERVAL_MS when polling.
import { ApiError, request } from "./api.js";

export const POLL_INTERVAL_MS = 3_000;
const MAX_RECONNECT_DELAY_MS = 30_000;
const STREAM_EVENTS = ["message", "message_updated", "message_deleted", "conversation", "read", "reset"];

export class Live extends EventTarget {
  mode = "starting";
  #source = null;
  #timer = null;
  #reconnectDelay = 1_000;
  #stopped = false;
  #lastEventId = "";

  async start() {
    try {
      await this.#connect();
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.#poll();
      else this.#reconnectLater();
    }
  }

  stop() {
    this.#stopped = true;
    this.#source?.close();
    clearInterval(this.#timer);
    clearTimeout(this.#timer);
  }

  #emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  async #connect() {
    const { data } = await request("POST", "/api/events/tickets");
    if (this.#stopped) return;
    // A new ticket is a new connection, which cannot send Last-Event-ID: pass the last id as
    // `since`, so the server replays what was missed (or sends `reset` when it cannot).
    let url = `/api/events?ticket=${encodeURIComponent(data.ticket)}`;
    if (this.#lastEventId) url += `&since=${encodeURIComponent(this.#lastEventId)}`;
    const source = new EventSource(url);
    this.#source = source;
    const unresumable = this.mode === "lost" && !this.#lastEventId;
    const resuming = this.mode === "lost" && Boolean(this.#lastEventId);
    this.mode = "stream";
    for (const name of STREAM_EVENTS) {
      source.addEventListener(name, (event) => {
        if (event.lastEventId) this.#lastEventId = event.lastEventId;
        this.#emit(name, JSON.parse(event.data));
      });
    }
    source.addEventListener("open", () => {
      this.#reconnectDelay = 1_000;
      // Lost before any event came: nothing to resume from, so catch up by refetching.
      if (unresumable) this.#emit("reset", {});
      else if (resuming) this.#emit("resumed", {});
    });
    // While CONNECTING the browser reconnects by itself and resends Last-Event-ID; CLOSED means
    // it gave up (e.g. the ticket was spent), so start over with a new ticket.
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) this.#reconnectLater();
    });
  }

  #reconnectLater() {
    if (this.#stopped) return;
    this.mode = "lost";
    this.#source?.close();
    this.#timer = setTimeout(() => this.start(), this.#reconnectDelay);
    this.#reconnectDelay = Math.min(this.#reconnectDelay * 2, MAX_RECONNECT_DELAY_MS);
  }

  #poll() {
    this.mode = "poll";
    this.#timer = setInterval(() => this.#emit("tick", {}), POLL_INTERVAL_MS);
  }
}
