// Delivers a message with an Idempotency-Key: a retry after a network failure can never store
// it twice, because the server answers a repeated key with the original message.
import { ApiError, NetworkError, request } from "./api.js";

const MAX_ATTEMPTS = 4;
const FIRST_RETRY_DELAY_MS = 500;

function transient(error) {
  if (error instanceof NetworkError) return true;
  return error instanceof ApiError && (error.status >= 500 || error.code === "idempotency_key_in_use");
}

export async function deliver(body, idempotencyKey, onRetry = () => {}) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const { data } = await request("POST", "/api/messages", {
        body,
        headers: { "Idempotency-Key": idempotencyKey },
      });
      return data;
    } catch (error) {
      if (!transient(error) || attempt >= MAX_ATTEMPTS) throw error;
      const wait = error.retryAfter ? error.retryAfter * 1000 : FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, wait));
      onRetry(attempt + 1);
    }
  }
}
