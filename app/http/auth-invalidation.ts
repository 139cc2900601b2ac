// Each API replica LISTENs on 'api_key_changed' (raised by triggers in migration 0008 whenever a key is
// revoked, rotated, re-scoped or verified, or its tenant changes) and drops what the notification names
// from its auth cache. The cache is trusted only while this connection is up: on a lost connection
// every lookup goes to the database until LISTEN is re-established, so a notification sent while the
// replica was deaf cannot leave a revoked key working for a whole TTL.
import { listenOn } from "../db/notifications.ts";
import type { Authenticator } from "./auth.ts";

export const API_KEY_CHANNEL = "api_key_changed";

export interface InvalidationListener {
  stop(): Promise<void>;
}

export function listenForKeyChanges(options: {
  connectionString: string;
  authenticator: Authenticator;
  onError?: (error: Error) => void;
  /** Wait before reconnecting after a lost connection. */
  retryMs?: number;
}): InvalidationListener {
  const { authenticator } = options;
  const listener = listenOn({
    connectionString: options.connectionString,
    channel: API_KEY_CHANNEL,
    retryMs: options.retryMs,
    onNotification: (payload) => authenticator.invalidate(payload),
    onListening() {
      // Anything cached before LISTEN may have changed unseen: start from empty.
      authenticator.setCacheTrusted(false);
      authenticator.setCacheTrusted(true);
    },
    onLost(error) {
      authenticator.setCacheTrusted(false);
      options.onError?.(error);
    },
  });
  return {
    async stop() {
      await listener.stop();
      authenticator.setCacheTrusted(false);
    },
  };
}
