// The conversation list: newest activity first, unread badges, paging through Link rel="next".
import { request } from "../api.js";
import { h, initials, messageText, relativeTime, timeElement } from "../dom.js";
import { describe } from "../errors.js";
import { navigate } from "../router.js";

export class ConversationList {
  items = new Map();
  activeUuid = null;
  #next = null;
  #pagedBeyondFirst = false;

  constructor(live) {
    this.list = h("ul", { class: "conversations" });
    this.status = h("p", { class: "status", role: "status" }, "Loading conversations…");
    this.more = h("button", { type: "button", class: "more", hidden: true, onclick: () => this.loadMore() }, "Show older conversations");
    const handle = h("input", { id: "new-handle", name: "handle", placeholder: "handle", autocomplete: "off", spellcheck: "false", required: true });
    const start = h(
      "form",
      { class: "inline-form new-conversation", onsubmit: (event) => {
        event.preventDefault();
        const wanted = handle.value.trim().replace(/^@/, "");
        if (wanted) navigate(`/messages/new/${encodeURIComponent(wanted)}`);
        handle.value = "";
      } },
      h("label", { for: "new-handle" }, "New message to"),
      h("div", { class: "row" }, h("span", { class: "at", "aria-hidden": "true" }, "@"), handle, h("button", { type: "submit" }, "Start")),
    );
    this.element = h("nav", { class: "sidebar", "aria-label": "Conversations" }, h("h2", {}, "Messages"), start, this.status, this.list, this.more);
    for (const name of ["tick", "reset"]) live.addEventListener(name, () => this.refresh());
    live.addEventListener("conversation", (event) => this.upsert(event.detail));
    live.addEventListener("read", (event) => this.setUnread(event.detail.message_group_uuid, event.detail.unread_count));
    this.clock = setInterval(() => this.render(), 60_000); // relative times move on
  }

  close() {
    clearInterval(this.clock);
  }

  async refresh() {
    try {
      const { data, links } = await request("GET", "/api/message_groups");
      for (const item of data) this.items.set(item.uuid, item);
      if (!this.#pagedBeyondFirst) this.#next = links.next ?? null;
      this.status.textContent = "";
    } catch (error) {
      this.status.textContent = describe(error);
    }
    this.render();
  }

  async loadMore() {
    try {
      const { data, links } = await request("GET", this.#next);
      for (const item of data) this.items.set(item.uuid, item);
      this.#next = links.next ?? null;
      this.#pagedBeyondFirst = true;
    } catch (error) {
      this.status.textContent = describe(error);
    }
    this.render();
  }

  upsert(item) {
    this.items.set(item.uuid, { ...this.items.get(item.uuid), ...item });
    this.render();
  }

  setUnread(uuid, unreadCount) {
    const item = this.items.get(uuid);
    if (item) this.upsert({ uuid, unread_count: unreadCount });
  }

  setActive(uuid) {
    this.activeUuid = uuid;
    this.render();
  }

  render() {
    const sorted = [...this.items.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
    // Rows are rebuilt; keep the keyboard focus on the same conversation.
    const focused = this.list.contains(document.activeElement) ? document.activeElement.closest("li")?.dataset.uuid : null;
    this.list.replaceChildren(...sorted.map((item) => this.#row(item)));
    if (focused) this.list.querySelector(`li[data-uuid="${focused}"] a`)?.focus();
    this.more.hidden = !this.#next;
    if (!sorted.length && !this.status.textContent) this.status.textContent = "No conversations yet. Start one above.";
    else if (sorted.length && this.status.textContent.startsWith("No conversations")) this.status.textContent = "";
  }

  #row(item) {
    const unread = item.unread_count > 0 && item.uuid !== this.activeUuid;
    const count = item.unread_count >= 100 ? "99+" : String(item.unread_count);
    return h(
      "li",
      { class: unread ? "unread" : null, dataset: { uuid: item.uuid } },
      h(
        "a",
        { href: `/messages/${item.uuid}`, "data-link": true, "aria-current": item.uuid === this.activeUuid ? "page" : null },
        h("span", { class: "avatar", "aria-hidden": "true" }, initials(item.display_name)),
        h(
          "span",
          { class: "summary" },
          h("span", { class: "top" }, h("span", { class: "name" }, item.display_name), timeElement(item.created_at, relativeTime(item.created_at))),
          h("span", { class: "handle" }, `@${item.handle}`),
          messageText("span", "preview", item),
        ),
        unread ? h("span", { class: "badge", "aria-label": `${count} unread` }, count) : null,
      ),
    );
  }
}
