// Boot: read the client configuration, restore the session, then route.
import { configureApi, request } from "./api.js";
import { accessToken, completeHostedUi, initAuth, signOut } from "./auth.js";
import { h } from "./dom.js";
import { describe } from "./errors.js";
import { Live } from "./live.js";
import { navigate, startRouter } from "./router.js";
import { ConversationView } from "./views/conversation.js";
import { ConversationList } from "./views/list.js";
import { NewConversationView } from "./views/newconv.js";
import { renderSignIn } from "./views/signin.js";

const root = document.getElementById("app");
const config = await (await fetch("/config.json")).json();
let shell = null;
let notice = null;

function signedOut(expired) {
  shell?.close();
  shell = null;
  notice = expired ? "You were signed out. Sign in again." : null;
  navigate("/messages", { replace: true });
}

initAuth(config, signedOut);
configureApi({ token: accessToken, unauthenticated: () => signOut({ expired: true }) });

class Shell {
  pane = null;

  constructor(me) {
    this.me = me;
    this.live = new Live();
    this.list = new ConversationList(this.live);
    this.main = h("main", { id: "main", class: "pane", tabindex: "-1" });
    const header = h(
      "header",
      { class: "app-header" },
      h("h1", {}, "Cruddur Messages"),
      h("span", { class: "me" }, `${me.display_name} `, h("span", { class: "handle" }, `@${me.handle}`)),
      h("button", { type: "button", onclick: () => signOut() }, "Sign out"),
    );
    root.replaceChildren(header, h("div", { class: "columns" }, this.list.element, this.main));
    this.list.refresh();
    this.live.start();
  }

  show(route) {
    this.pane?.close();
    this.pane = null;
    root.classList.toggle("pane-open", route.name !== "list");
    if (route.name === "conversation") {
      this.pane = new ConversationView({ groupUuid: route.param.toLowerCase(), me: this.me, live: this.live, list: this.list });
    } else if (route.name === "new") {
      this.pane = new NewConversationView({ handle: route.param, me: this.me, list: this.list });
    }
    this.list.setActive(route.name === "conversation" ? route.param.toLowerCase() : null);
    if (!this.pane) {
      this.main.replaceChildren(h("p", { class: "placeholder" }, "Pick a conversation, or start a new one."));
      return;
    }
    this.main.replaceChildren(this.pane.element);
    this.pane.load().then(() => this.pane?.focus());
  }

  close() {
    this.pane?.close();
    this.list.close();
    this.live.stop();
  }
}

async function render(route) {
  if (route.name === "callback") {
    try {
      await completeHostedUi(location.search);
    } catch (error) {
      notice = error.message;
    }
    navigate("/messages", { replace: true });
    return;
  }
  if (!accessToken()) {
    renderSignIn(root, config, { notice, signedIn: () => navigate(location.pathname, { replace: true }) });
    return;
  }
  notice = null;
  if (route.name === "other") {
    navigate("/messages", { replace: true });
    return;
  }
  if (!shell) {
    try {
      const { data: me } = await request("GET", "/api/me");
      shell = new Shell(me);
    } catch (error) {
      if (accessToken()) root.replaceChildren(h("p", { class: "error", role: "alert" }, describe(error)));
      return;
    }
  }
  shell.show(route);
}

startRouter(render);
