// One conversation: oldest to newest, "load older" through the cursor, optimistic sends, and
// marked read while it is open.
import { ApiError, request } from "../api.js";
import { clockTime, h, messageText, timeElement } from "../dom.js";
import { describe } from "../errors.js";
import { deliver } from "../send.js";
import { composer } from "./composer.js";

const PAGE_SIZE = 30;
// By time (the server's microseconds and a pending message's milliseconds alike), then id.
const order = (a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id);
// The versions of one message, in the order they happen: as sent, each edit, then deleted.
const version = (message) => (message.deleted ? "~" : message.edited_at ?? "");

export class ConversationView {
  #messages = new Map(); // id (message uuid, or the idempotency key while pending) -> message
  #nodes = new Map(); // id -> {node, message} as last rendered
  #older = null;
  #newer = null;
  #listeners = [];

  constructor({ groupUuid, me, live, list }) {
    this.groupUuid = groupUuid;
    this.me = me;
    this.list = list;
    this.title = h("h2", {}, list.items.get(groupUuid)?.display_name ?? "Conversation");
    this.subtitle = h("p", { class: "handle" }, list.items.has(groupUuid) ? `@${list.items.get(groupUuid).handle}` : "");
    this.olderButton = h("button", { type: "button", class: "more", hidden: true, onclick: () => this.loadOlder() }, "Load older messages");
    this.log = h("ol", { class: "messages" });
    this.status = h("p", { class: "status", role: "status" }, "Loading messages…");
    this.error = h("p", { class: "error", role: "alert" });
    this.composer = composer({ label: "Message", onSend: (text) => this.send(text) });
    const log = h("div", { role: "log", "aria-label": "Messages" }, this.log);
    this.scroller = h("div", { class: "scroller" }, this.olderButton, this.status, log);
    this.element = h(
      "section",
      { class: "conversation", "aria-labelledby": "conversation-title" },
      h("header", { class: "pane-header" }, h("a", { href: "/messages", "data-link": true, class: "back", "aria-label": "Back to conversations" }, "‹"), h("div", {}, this.title, this.subtitle)),
      this.scroller,
      this.error,
      this.composer.element,
    );
    this.title.id = "conversation-title";
    this.#on(live, "message", (detail) => detail.message_group_uuid === groupUuid && this.#received([detail]));
    for (const name of ["message_updated", "message_deleted"]) {
      this.#on(live, name, (detail) => detail.message_group_uuid === groupUuid && this.#changed(detail));
    }
    this.#on(live, "tick", () => this.poll());
    for (const name of ["reset", "resumed"]) this.#on(live, name, () => this.load());
  }

  #on(target, name, handler) {
    const listener = (event) => handler(event.detail);
    target.addEventListener(name, listener);
    this.#listeners.push(() => target.removeEventListener(name, listener));
  }

  close() {
    for (const remove of this.#listeners) remove();
  }

  focus() {
    this.composer.focus();
  }

  async load() {
    try {
      const { data, links } = await request("GET", `/api/messages/${this.groupUuid}?limit=${PAGE_SIZE}`);
      this.#older ??= links.next ?? null;
      this.#newer = links.prev ?? this.#newer;
      this.status.textContent = data.length ? "" : "No messages yet.";
      this.#received(data, { stick: true });
    } catch (error) {
      this.status.textContent = describe(error);
    }
  }

  async loadOlder() {
    const previousHeight = this.scroller.scrollHeight;
    try {
      const { data, links } = await request("GET", this.#older);
      this.#older = links.next ?? null;
      this.#received(data, { markRead: false });
      this.scroller.scrollTop += this.scroller.scrollHeight - previousHeight;
    } catch (error) {
      this.error.textContent = describe(error);
    }
  }

  // Polling: only the messages newer than what we have (the Link rel="prev" cursor).
  async poll() {
    if (!this.#newer) return this.load();
    try {
      const { data, links } = await request("GET", this.#newer);
      this.#newer = links.prev ?? this.#newer;
      this.#received(data);
    } catch (error) {
      if (error instanceof ApiError && error.code === "cursor_invalid") this.#newer = null;
    }
  }

  // An edit or a delete: the message takes its new version where it is shown. One older than
  // every message loaded is left to "load older", which brings it as it now reads.
  #changed(message) {
    const sent = [...this.#messages.values()].filter((shown) => shown.status === "sent");
    const oldest = Math.min(...sent.map((shown) => Date.parse(shown.created_at)));
    if (!this.#messages.has(message.uuid) && this.#older && Date.parse(message.created_at) < oldest) return;
    this.#received([message], { markRead: false });
  }

  #received(messages, { stick = this.#nearBottom(), markRead = true } = {}) {
    let fromOthers = false;
    for (const message of messages) {
      const known = this.#messages.get(message.uuid);
      // Shown already: only a later version (edited, deleted) replaces it.
      if (known && version(message) <= version(known)) continue;
      if (!known) {
        this.#settlePending(message);
        fromOthers ||= message.handle !== this.me.handle;
      }
      this.#messages.set(message.uuid, { ...message, id: message.uuid, status: "sent" });
      if (!this.list.items.has(this.groupUuid) && message.handle !== this.me.handle) {
        this.title.textContent = message.display_name;
        this.subtitle.textContent = `@${message.handle}`;
      }
    }
    if (messages.length) this.status.textContent = "";
    this.render(stick);
    if (fromOthers && markRead) this.markRead();
  }

  // The stream (or a poll) can bring my own message before its POST answers, e.g. while a
  // retry waits: it replaces the oldest pending copy, and the delivery then finds it settled.
  #settlePending(message) {
    if (message.handle !== this.me.handle) return;
    for (const [id, shown] of this.#messages) {
      if (shown.status !== "sent" && shown.message === message.message) {
        this.#messages.delete(id);
        return;
      }
    }
  }

  async markRead() {
    try {
      const { data } = await request("POST", `/api/message_groups/${this.groupUuid}/read`);
      this.list.setUnread(this.groupUuid, data.unread_count);
    } catch {
      // Not fatal: the next message or visit marks it again.
    }
  }

  send(text, id = crypto.randomUUID()) {
    const pending = { id, message: text, handle: this.me.handle, display_name: this.me.display_name, created_at: new Date().toISOString(), status: "pending", note: "Sending…" };
    this.#messages.set(id, pending);
    this.error.textContent = "";
    this.status.textContent = "";
    this.render(true);
    deliver({ message: text, message_group_uuid: this.groupUuid }, id, () => this.#update(id, { note: "Connection problem, retrying…" }))
      .then((sent) => {
        this.#messages.delete(id);
        this.#received([sent], { stick: true, markRead: false });
        this.list.upsert({ uuid: this.groupUuid, message: sent.message, created_at: sent.created_at });
      })
      .catch((error) => this.#update(id, { status: "failed", note: describe(error) }));
  }

  #update(id, change) {
    const message = this.#messages.get(id);
    if (!message) return;
    this.#messages.set(id, { ...message, ...change });
    this.render(this.#nearBottom());
  }

  #nearBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 80;
  }

  // Only changed messages get new nodes, so the log announces additions, not the whole list.
  render(stick) {
    const sorted = [...this.#messages.values()].sort(order);
    const kept = new Set();
    sorted.forEach((message, index) => {
      let shown = this.#nodes.get(message.id);
      if (shown?.message !== message) {
        const node = this.#item(message);
        shown?.node.replaceWith(node);
        shown = { node, message };
        this.#nodes.set(message.id, shown);
      }
      kept.add(message.id);
      if (this.log.children[index] !== shown.node) this.log.insertBefore(shown.node, this.log.children[index] ?? null);
    });
    for (const [id, shown] of this.#nodes) {
      if (!kept.has(id)) {
        shown.node.remove();
        this.#nodes.delete(id);
      }
    }
    this.olderButton.hidden = !this.#older;
    if (stick) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  #item(message) {
    const mine = message.handle === this.me.handle;
    const retry = message.status === "failed"
      ? h("button", { type: "button", class: "retry", onclick: () => { this.#messages.delete(message.id); this.send(message.message, message.id); } }, "Retry")
      : null;
    return h(
      "li",
      { class: `message ${mine ? "mine" : "theirs"}`, dataset: { status: message.status, uuid: message.status === "sent" ? message.id : null } },
      mine ? null : h("span", { class: "sender" }, message.display_name),
      messageText("p", "text", message),
      h(
        "span",
        { class: "meta" },
        message.status === "sent" ? timeElement(message.created_at, clockTime(message.created_at)) : h("span", { class: "note" }, message.note),
        message.edited_at && !message.deleted ? h("span", { class: "note" }, "edited") : null,
        retry,
      ),
    );
  }
}
