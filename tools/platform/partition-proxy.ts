// A TCP link between the regions that can be partitioned, for tests of what the secondary region
// sees when the network between the regions fails while each region keeps serving its own clients.
// A partition drops packets rather than refusing them: while cut, bytes in either direction are
// discarded and new connections are accepted but never reach the other side, so clients wait for
// their own timeouts, as across a real partition. Healing drops every connection that lived
// through the cut (their streams lost bytes) and forwards again. A cut may instead refuse
// (`partition("refuse")`): every connection is reset at once and new ones are reset on arrival,
// which is what the other side sees of a host that goes down and comes back.
import { createServer, connect, type Server, type Socket } from "node:net";

export interface PartitionProxy {
  /** host:port the other region dials instead of the target. */
  readonly port: number;
  readonly partitioned: boolean;
  /** Rewrites a URL of the target (postgres://, http://) to go through the link. */
  via(url: string): string;
  partition(mode?: "drop" | "refuse"): void;
  heal(): void;
  stop(): Promise<void>;
}

export async function startPartitionProxy(target: { host: string; port: number }): Promise<PartitionProxy> {
  let cut = false;
  let refusing = false;
  const pairs = new Set<{ client: Socket; upstream?: Socket; sawCut: boolean }>();
  const server: Server = createServer((client) => {
    if (cut && refusing) {
      client.resetAndDestroy();
      return;
    }
    const pair: { client: Socket; upstream?: Socket; sawCut: boolean } = { client, sawCut: cut };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      pair.upstream?.destroy();
    };
    client.on("error", drop);
    client.on("close", drop);
    const open = () => {
      const upstream = connect(target.port, target.host);
      pair.upstream = upstream;
      upstream.on("error", drop);
      upstream.on("close", drop);
      upstream.on("data", (chunk) => {
        if (!cut) client.write(chunk);
      });
      client.on("data", (chunk) => {
        if (!cut) upstream.write(chunk);
      });
    };
    // Accepted while cut: the handshake never reaches the other side; healing drops it.
    if (!cut) open();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get partitioned() {
      return cut;
    },
    via(url) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    partition(mode = "drop") {
      cut = true;
      refusing = mode === "refuse";
      for (const pair of [...pairs]) {
        pair.sawCut = true;
        if (refusing) {
          pairs.delete(pair);
          pair.client.resetAndDestroy();
          pair.upstream?.destroy();
        }
      }
    },
    heal() {
      cut = false;
      refusing = false;
      for (const pair of [...pairs]) {
        if (pair.sawCut) {
          pairs.delete(pair);
          pair.client.destroy();
          pair.upstream?.destroy();
        }
      }
    },
    async stop() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
