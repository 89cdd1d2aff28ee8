// An error in words a person understands, chosen by the problem's stable `code`.
import { ApiError, NetworkError } from "./api.js";

const WORDS = {
  message_blank: "Type a message first.",
  message_exceed_max_chars_1024: "A message can be at most 1024 characters.",
  message_self: "You cannot message yourself.",
  user_not_found: "Nobody has that handle.",
  handle_invalid: "A handle is 1 to 32 letters, digits or underscores.",
  user_reciever_handle_blank: "Type a handle first.",
  message_group_not_found: "This conversation does not exist, or you are not in it.",
  conversation_busy: "The conversation is busy. Try again.",
  cursor_invalid: "That page is no longer available. Reload to start again.",
  service_unavailable: "The service is busy. Try again in a moment.",
  jwks_unavailable: "Sign-in cannot be checked right now. Try again in a moment.",
};

export function describe(error) {
  if (error instanceof NetworkError) return "The server cannot be reached. Check your connection.";
  if (!(error instanceof ApiError)) return "Something went wrong in this page. Reload to try again.";
  if (error.code === "rate_limited") {
    const wait = error.retryAfter ?? 1;
    return `Too many requests. Wait ${wait} second${wait === 1 ? "" : "s"} and try again.`;
  }
  if (error.status === 401) return "You are signed out. Sign in again.";
  return WORDS[error.code] ?? `Something went wrong (${error.code}).`;
}
