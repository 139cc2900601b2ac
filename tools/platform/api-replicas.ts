// Several quote API replicas on one database, each its own `node app/server.ts` process with its own
// auth cache and LISTEN connection, as a Deployment's pods are; and the measurement of how long a
// revoked key keeps working on any of them. Shared by the revocation test and `bench:revocation`.
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalProcess, type LocalProcess } from "./local-process.ts";
import { apiClient } from "./api-client.ts";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface ApiReplicas {
  urls: string[];
  processes: LocalProcess[];
  stop(): Promise<void>;
}

export async function startApiReplicas(
  databaseUrl: string,
  count: number,
  env: Record<string, string> = {},
): Promise<ApiReplicas> {
  const dir = mkdtempSync(join(tmpdir(), "api-replicas-"));
  const processes = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const port = await freePort();
      return startLocalProcess({
        region: "primary",
        deployment: "quote-api",
        role: "quote-api",
        name: `quote-api-${i}`,
        command: ["node", "app/server.ts"],
        env: { DATABASE_URL: databaseUrl, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", ...env },
        readyUrl: `http://127.0.0.1:${port}/healthz`,
        logPath: join(dir, `quote-api-${i}.log`),
      });
    }),
  );
  return {
    urls: processes.map((p) => `http://127.0.0.1:${p.env.PORT}`),
    processes,
    async stop() {
      await Promise.all(processes.map((p) => p.stop()));
    },
  };
}

export interface RevocationTiming {
  /** Per replica: ms from sending the revocation to that replica's first 401 for the key. */
  effectiveMs: number[];
  /** Requests each replica answered 200 for the key after the revocation was sent. */
  servedAfterRevoke: number[];
}

/**
 * Creates a key through the first replica, warms every replica's cache with it, revokes it through
 * the first replica (or with `revoke`, e.g. SQL), and polls every replica until each refuses it.
 */
export async function measureRevocation(
  urls: string[],
  adminKey: string,
  options: { revoke?: (keyId: string) => Promise<void>; timeoutMs?: number; pollMs?: number } = {},
): Promise<RevocationTiming> {
  const admin = apiClient(urls[0]!, adminKey);
  const created = await admin.post<{ id: string; key: string }>("/v1/api-keys", { name: "revocation-probe" });
  if (created.status !== 201) throw new Error(`creating the probe key answered ${created.status}`);
  for (const url of urls) {
    const warm = await apiClient(url, created.body.key).get("/v1/usage");
    if (warm.status !== 200)
      throw new Error(`the probe key answered ${warm.status} on ${url} before revocation`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pollMs = options.pollMs ?? 10;
  const started = performance.now();
  const revoked = options.revoke
    ? options.revoke(created.body.id)
    : admin.call("DELETE", `/v1/api-keys/${created.body.id}`).then((res) => {
        if (res.status !== 200) throw new Error(`revoking answered ${res.status}`);
      });
  const results = await Promise.all(
    urls.map(async (url) => {
      const client = apiClient(url, created.body.key);
      let served = 0;
      for (;;) {
        const res = await client.get("/v1/usage");
        const at = performance.now() - started;
        if (res.status === 401) return { ms: at, served };
        if (res.status === 200) served++;
        if (at > timeoutMs) return { ms: Number.POSITIVE_INFINITY, served };
        await new Promise((r) => setTimeout(r, pollMs));
      }
    }),
  );
  await revoked;
  return { effectiveMs: results.map((r) => r.ms), servedAfterRevoke: results.map((r) => r.served) };
}
