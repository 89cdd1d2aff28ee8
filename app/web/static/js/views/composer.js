// The message box: Enter sends, Shift+Enter makes a new line, counts to 1024, refuses blank.
import { h } from "../dom.js";

export const MAX_CHARS = 1024;

export function composer({ label, onSend }) {
  const counterId = `counter-${crypto.randomUUID()}`;
  const text = h("textarea", {
    id: `text-${counterId}`,
    name: "message",
    rows: 2,
    placeholder: "Write a message",
    "aria-describedby": counterId,
  });
  const counter = h("span", { id: counterId, class: "counter" }, `0/${MAX_CHARS}`);
  const button = h("button", { type: "submit", class: "primary", disabled: true }, "Send");
  const form = h(
    "form",
    { class: "composer", "aria-label": label },
    h("label", { for: text.id, class: "visually-hidden" }, label),
    text,
    h("div", { class: "composer-side" }, counter, button),
  );

  const trimmed = () => text.value.trim();
  const update = () => {
    const length = [...trimmed()].length; // code points, as the server counts
    counter.textContent = `${length}/${MAX_CHARS}`;
    counter.classList.toggle("over", length > MAX_CHARS);
    button.disabled = length === 0 || length > MAX_CHARS;
  };
  text.addEventListener("input", update);
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (button.disabled) return;
    onSend(trimmed());
    text.value = "";
    update();
    text.focus();
  });
  const setText = (value) => {
    text.value = value;
    update();
  };
  return { element: form, focus: () => text.focus(), setText };
}
