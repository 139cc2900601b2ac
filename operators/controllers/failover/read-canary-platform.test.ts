// The read canary end to end on the local two-region platform: the manager process against a real
// control plane, a real PostgreSQL primary and streaming replica, and the quote API as the stacks
// deploy it (READ_CANARY_DATABASE_URL from its Secret). On-call sets spec.readCanary; the test
// watches which database answers users (the Freight-Database header and the API's metrics), then
// holds the replica's replay so it falls behind and sees the gate trip the canary back to 0.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RegionFailover, RegionFailoverSpec } from "../../api/regionfailover.ts";
import { builtin } from "../../runtime/kube.ts";
import { waitFor } from "../../../tools/platform/operators.ts";
import { apiClient, quoteBody } from "../../../tools/platform/api-client.ts";
import {
  FAILOVER_NAME,
  FAILOVER_NAMESPACE,
  startFailoverPlatform,
  type FailoverPlatform,
} from "../../../tools/platform/regions.ts";

let platform: FailoverPlatform;

beforeAll(async () => {
  platform = await startFailoverPlatform({ name: "read-canary" });
  await platform.startOperator("read-canary");
}, 240_000);

afterAll(async () => {
  await platform?.stop();
});

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function metric(base: string, line: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

/** The primary API's applied canary weight, once its routing cache has read the row. */
function appliedWeight(weight: number): Promise<boolean> {
  return waitFor(`the primary's API applies a ${weight} % canary`, async () =>
    (await metric(platform.apps.primary.url, "read_canary_weight_percent")) === weight ? true : undefined,
  );
}

function canaryState(state: string): Promise<RegionFailover> {
  return waitFor(
    `read canary ${state}`,
    async () => {
      const rf = await platform.getFailover();
      return rf.status?.readCanary?.state === state ? rf : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}

/** `count` GETs of `path`, a few at a time; returns how many each database answered. */
async function reads(key: string, path: string, count: number): Promise<Record<string, number>> {
  const api = apiClient(platform.apps.primary.url, key);
  const served: Record<string, number> = {};
  for (let i = 0; i < count; i += 8) {
    const answers = await Promise.all(Array.from({ length: Math.min(8, count - i) }, () => api.get(path)));
    for (const answer of answers) {
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      const database = answer.headers.get("freight-database") ?? "none";
      served[database] = (served[database] ?? 0) + 1;
    }
  }
  return served;
}

const spec = (readCanary: RegionFailoverSpec["readCanary"]): RegionFailoverSpec => ({
  activeRegion: "primary",
  // The machine is shared and loaded: the gate's latency bound is the production default's triple.
  healthGate: { maxP95LatencyMs: 2000 },
  readCanary,
});

describe("read canary", () => {
  it("refuses bad weights with the field and its bounds", async () => {
    for (const weight of [150, -5]) {
      await expect(platform.applyFailover(spec({ weight }))).rejects.toThrow(
        /spec\.readCanary\.weight.*(less than or equal to 100|greater than or equal to 0)/,
      );
    }
    await expect(platform.applyFailover(spec({ weight: "25%" as unknown as number }))).rejects.toThrow(
      /spec\.readCanary\.weight.*(integer|expected numeric)/,
    );
    await expect(
      platform.applyFailover(spec({ maxReplicationLagSeconds: 5 } as unknown as { weight: number })),
    ).rejects.toThrow(/spec\.readCanary\.weight.*Required/);
  });

  it("answers about a quarter of reads from the replica at 25 %, no write, and trips to 0 when the replica lags", async () => {
    const reader = platform.apiKeys["initech-shipping"]!;
    const writer = platform.apiKeys["globex-freight"]!;
    const primaryApi = platform.apps.primary.url;
    await platform.applyFailover(spec({ weight: 25, maxReplicationLagSeconds: 2 }));
    const serving = await canaryState("Serving");
    expect(serving.status?.readCanary).toMatchObject({ weight: 25, region: "secondary" });
    expect(serving.status?.conditions?.find((c) => c.type === "ReadCanaryServing")?.status).toBe("True");
    await appliedWeight(25);

    const servedBefore = await metric(
      primaryApi,
      'db_requests_served_total{database="secondary",kind="read"}',
    );
    const served = await reads(reader, "/v1/usage", 400);
    const share = (served.secondary ?? 0) / 400;
    expect(served.none).toBeUndefined();
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.35);
    // The metric the dashboards read says the same.
    expect(
      (await metric(primaryApi, 'db_requests_served_total{database="secondary",kind="read"}')) - servedBefore,
    ).toBe(served.secondary);

    // Writes stay on the primary, and the writer's own reads right after stay there too (read-your-writes).
    const writes = apiClient(primaryApi, writer);
    for (let i = 0; i < 20; i++) {
      const created = await writes.post<{ id: string }>("/v1/quotes", quoteBody());
      expect(created.status).toBe(201);
      expect(created.headers.get("freight-database")).toBe("primary");
      const readBack = await writes.get(`/v1/quotes/${created.body.id}`);
      expect(readBack.status).toBe(200);
      expect(readBack.headers.get("freight-database")).toBe("primary");
    }
    expect(await metric(primaryApi, 'db_requests_served_total{database="secondary",kind="write"}')).toBe(0);

    // The replica stops replaying while the primary keeps taking writes: its lag grows past 2 s.
    const replicaAdmin = platform.adminUrls.secondary;
    await sql(replicaAdmin, "SELECT pg_wal_replay_pause()");
    const writing = setInterval(
      () => void writes.post("/v1/quotes", quoteBody()).catch(() => undefined),
      200,
    );
    try {
      const tripped = await canaryState("Tripped");
      expect(tripped.status?.readCanary).toMatchObject({ weight: 0 });
      expect(tripped.status?.readCanary?.trippedReason).toMatch(
        /secondary's replica is [\d.]+ s behind \(max 2 s\)/,
      );
      const condition = tripped.status?.conditions?.find((c) => c.type === "ReadCanaryServing");
      expect(condition).toMatchObject({ status: "False", reason: "GateTripped" });
      expect(condition?.message).toMatch(/edit spec.readCanary to re-arm/);
      const { items } = await platform.admin.list<{
        reason: string;
        type: string;
        note: string;
        regarding: { name: string };
        metadata: { name: string };
      }>(builtin.events, { namespace: FAILOVER_NAMESPACE });
      const event = items.find((e) => e.regarding.name === FAILOVER_NAME && e.reason === "ReadCanaryTripped");
      expect(event).toMatchObject({ type: "Warning" });
      expect(event?.note).toMatch(/Read canary at 25 % on secondary's replica tripped/);

      await appliedWeight(0);
      expect(await reads(reader, "/v1/usage", 40)).toEqual({ primary: 40 });
    } finally {
      clearInterval(writing);
      await sql(replicaAdmin, "SELECT pg_wal_replay_resume()");
    }

    // Caught up again, it stays tripped until on-call edits the CR: a new weight re-arms it.
    const held = await platform.getFailover();
    expect(held.status?.readCanary?.state).toBe("Tripped");
    await platform.applyFailover(spec({ weight: 10, maxReplicationLagSeconds: 2 }));
    const rearmed = await canaryState("Serving");
    expect(rearmed.status?.readCanary?.weight).toBe(10);
    await appliedWeight(10);
  }, 300_000);
});
