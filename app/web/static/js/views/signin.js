// Sign-in: local mode picks a seeded user or a typed handle; cognito mode goes to the Hosted UI.
import { beginHostedUi, signInLocal } from "../auth.js";
import { h } from "../dom.js";
import { describe } from "../errors.js";

export function renderSignIn(root, config, { notice, signedIn }) {
  const error = h("p", { class: "error", role: "alert" });
  const attempt = async (action) => {
    error.textContent = "";
    try {
      await action();
      signedIn();
    } catch (failure) {
      error.textContent = describe(failure);
    }
  };
  const card = h(
    "main",
    { id: "main", class: "sign-in", tabindex: "-1" },
    h("h1", {}, "Cruddur Messages"),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    config.auth_mode === "local" ? localForm(config, attempt) : hostedUi(config, attempt),
    error,
  );
  root.replaceChildren(card);
  card.querySelector("button, input")?.focus();
}

function localForm(config, attempt) {
  const handle = h("input", { id: "handle", name: "handle", autocomplete: "username", required: true, spellcheck: "false" });
  const picks = config.sign_in_handles.map((name) =>
    h("li", {}, h("button", { type: "button", onclick: () => attempt(() => signInLocal(name)) }, `@${name}`)),
  );
  return h(
    "div",
    {},
    h("p", {}, "Local development: sign in as any user, no password."),
    picks.length ? h("h2", {}, "Demo users") : null,
    picks.length ? h("ul", { class: "picks" }, picks) : null,
    h(
      "form",
      { class: "inline-form", onsubmit: (event) => { event.preventDefault(); attempt(() => signInLocal(handle.value.trim().replace(/^@/, ""))); } },
      h("label", { for: "handle" }, "Or type a handle"),
      h("div", { class: "row" }, handle, h("button", { type: "submit", class: "primary" }, "Sign in")),
    ),
  );
}

function hostedUi(config, attempt) {
  if (!config.hosted_ui) {
    return h("p", {}, "Sign-in is not configured: set the CRUDDUR_COGNITO_HOSTED_UI_DOMAIN, _WEB_CLIENT_ID and _WEB_REDIRECT_URI settings.");
  }
  return h("button", { type: "button", class: "primary", onclick: () => attempt(beginHostedUi) }, "Sign in");
}
