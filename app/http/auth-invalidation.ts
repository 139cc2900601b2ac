// Each API replica LISTENs on 'api_key_changed' (raised by triggers in migration 0008 whenever a key is
// revoked, rotated, re-scoped or verified, or its tenant changes) and drops what the notification names
// from its auth cache. The cache is trusted only while this connection is up: on a lost connection
// every lookup goes to the database until LISTEN is re-established, so a notification sent while the
// replica was deaf cannot leave a revoked key working for a whole TTL.
import pg from "pg";
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
  const retryMs = options.retryMs ?? 1000;
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;

  const lost = (error: Error) => {
    authenticator.setCacheTrusted(false);
    const dead = client;
    client = undefined;
    dead?.removeAllListeners();
    dead?.on("error", () => undefined);
    void dead?.end().catch(() => undefined);
    if (stopped) return;
    options.onError?.(error);
    timer = setTimeout(connect, retryMs);
  };

  async function connect(): Promise<void> {
    if (stopped) return;
    const next = new pg.Client({ connectionString: options.connectionString, connectionTimeoutMillis: 5000 });
    client = next;
    next.on("error", lost);
    next.on("end", () => {
      if (client === next) lost(new Error("the auth invalidation connection ended"));
    });
    next.on("notification", (message) => {
      if (message.channel === API_KEY_CHANNEL) authenticator.invalidate(message.payload ?? "");
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${API_KEY_CHANNEL}`);
      if (client !== next) return;
      // Anything cached before LISTEN may have changed unseen: start from empty.
      authenticator.setCacheTrusted(false);
      authenticator.setCacheTrusted(true);
    } catch (error) {
      if (client === next) lost(error as Error);
    }
  }

  void connect();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      authenticator.setCacheTrusted(false);
      const current = client;
      client = undefined;
      current?.removeAllListeners();
      current?.on("error", () => undefined);
      await current?.end().catch(() => undefined);
    },
  };
}
