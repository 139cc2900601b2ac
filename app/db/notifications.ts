// A LISTEN connection that stays up: one dedicated client per channel, reconnected after `retryMs`
// when it is lost. Caches fed by NOTIFY (the auth cache, the pricing split) trust what they hold only
// while this connection listens: `onLost` says a notification may be missed from now on, and
// `onListening` says LISTEN is (again) in place, so anything cached before it must be re-read.
import pg from "pg";

export interface ChannelListener {
  stop(): Promise<void>;
}

export interface ListenOptions {
  connectionString: string;
  channel: string;
  onNotification(payload: string): void;
  /** LISTEN is in place (first connect and every reconnect). */
  onListening(): void;
  /** The connection is gone (or could not be made); notifications may be missed until onListening. */
  onLost(error: Error): void;
  /** Wait before reconnecting after a lost connection. */
  retryMs?: number;
}

export function listenOn(options: ListenOptions): ChannelListener {
  const { channel } = options;
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`'${channel}' is not a plain channel name`);
  const retryMs = options.retryMs ?? 1000;
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;

  const lost = (error: Error) => {
    const dead = client;
    client = undefined;
    dead?.removeAllListeners();
    dead?.on("error", () => undefined);
    void dead?.end().catch(() => undefined);
    if (stopped) return;
    options.onLost(error);
    timer = setTimeout(connect, retryMs);
  };

  async function connect(): Promise<void> {
    if (stopped) return;
    const next = new pg.Client({ connectionString: options.connectionString, connectionTimeoutMillis: 5000 });
    client = next;
    next.on("error", lost);
    next.on("end", () => {
      if (client === next) lost(new Error(`the ${channel} listener's connection ended`));
    });
    next.on("notification", (message) => {
      if (message.channel === channel) options.onNotification(message.payload ?? "");
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${channel}`);
      if (client !== next) return;
      options.onListening();
    } catch (error) {
      if (client === next) lost(error as Error);
    }
  }

  void connect();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const current = client;
      client = undefined;
      current?.removeAllListeners();
      current?.on("error", () => undefined);
      await current?.end().catch(() => undefined);
    },
  };
}
