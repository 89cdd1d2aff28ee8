// A new conversation by handle: the user's short profile, then the first message creates the
// conversation (POST /api/messages with `handle`) and opens it.
import { request } from "../api.js";
import { h, initials } from "../dom.js";
import { describe } from "../errors.js";
import { navigate } from "../router.js";
import { deliver } from "../send.js";
import { composer } from "./composer.js";

export class NewConversationView {
  constructor({ handle, me, list }) {
    this.handle = handle;
    this.me = me;
    this.list = list;
    this.profile = h("div", { class: "profile" }, h("p", { class: "status", role: "status" }, "Looking up @" + handle + "…"));
    this.error = h("p", { class: "error", role: "alert" });
    this.composer = composer({ label: `First message to @${handle}`, onSend: (text) => this.send(text) });
    this.composer.element.hidden = true;
    this.element = h(
      "section",
      { class: "conversation", "aria-labelledby": "conversation-title" },
      h("header", { class: "pane-header" }, h("a", { href: "/messages", "data-link": true, class: "back", "aria-label": "Back to conversations" }, "‹"), h("h2", { id: "conversation-title" }, "New message")),
      h("div", { class: "scroller" }, this.profile),
      this.error,
      this.composer.element,
    );
  }

  close() {}

  focus() {
    this.composer.focus();
  }

  async load() {
    const existing = [...this.list.items.values()].find((item) => item.handle.toLowerCase() === this.handle.toLowerCase());
    if (existing) return navigate(`/messages/${existing.uuid}`, { replace: true });
    try {
      const { data: user } = await request("GET", `/api/users/@${encodeURIComponent(this.handle)}/short`);
      if (user.uuid === this.me.uuid) {
        this.profile.replaceChildren(h("p", { class: "status" }, "That is you. Pick someone else to message."));
        return;
      }
      this.profile.replaceChildren(
        h("span", { class: "avatar large", "aria-hidden": "true" }, initials(user.display_name)),
        h("p", { class: "name" }, user.display_name),
        h("p", { class: "handle" }, `@${user.handle}`),
        h("p", { class: "status" }, "Say hello: your first message starts the conversation."),
      );
      this.composer.element.hidden = false;
      this.composer.focus();
    } catch (error) {
      this.profile.replaceChildren(h("p", { class: "status" }, describe(error)));
    }
  }

  async send(text) {
    this.error.textContent = "Sending…";
    try {
      const sent = await deliver({ message: text, handle: this.handle }, crypto.randomUUID());
      this.error.textContent = "";
      await this.list.refresh();
      navigate(`/messages/${sent.message_group_uuid}`, { replace: true });
    } catch (error) {
      this.error.textContent = describe(error);
      this.composer.setText(text);
    }
  }
}
