// The failover controller end to end: the manager process under its generated RBAC against a real
// control plane, a real PostgreSQL primary and streaming replica, and the app running in both
// regions. On-call edits one object; the test watches what users and the databases see.
import { afterEach, describe, expect, it } from "vitest";
import pg from "pg";
import type { RegionFailover, RegionFailoverSpec } from "../../api/regionfailover.ts";
import { builtin } from "../../runtime/kube.ts";
import { waitFor } from "../../../tools/platform/operators.ts";
import { CreateHostedZoneCommand, Route53Client } from "@aws-sdk/client-route-53";
import { startMoto, type MotoServer } from "../../../tools/aws/moto.ts";
import { FakeRdsEndpoint } from "../../../tools/fakes/rds-endpoint.ts";
import { quoteBody } from "../../../tools/platform/api-client.ts";
import {
  FAILOVER_NAME,
  FAILOVER_NAMESPACE,
  startFailoverPlatform,
  type FailoverPlatform,
} from "../../../tools/platform/regions.ts";

let platform: FailoverPlatform | undefined;
let aws: FakeRdsEndpoint | undefined;
let moto: MotoServer | undefined;
afterEach(async () => {
  await platform?.stop();
  await aws?.stop();
  await moto?.stop();
  platform = undefined;
  aws = undefined;
  moto = undefined;
});

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

async function postQuote(base: string, key: string): Promise<Response> {
  return fetch(`${base}/v1/quotes`, {
    method: "POST",
    redirect: "manual",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(quoteBody()),
  });
}

/** Waits for the flip to complete, failing at once if it ends Failed or Aborted. */
function flipCompleted(): Promise<RegionFailover> {
  return waitFor(
    "flip completed",
    async () => {
      const rf = await platform!.getFailover();
      if (rf.status?.phase === "Failed" || rf.status?.phase === "Aborted")
        throw new Error(`flip ended ${rf.status.phase}: ${rf.status.message}`);
      if (rf.status?.phase === "Completed") return rf;
      // Not yet: remembered by waitFor, so a timeout says where the flip stood.
      throw new Error(`${rf.status?.phase} at ${rf.status?.stage}: ${rf.status?.message}`);
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

const condition = (rf: RegionFailover, type: string) => rf.status?.conditions?.find((c) => c.type === type);

const fastFlip = {
  activeRegion: "secondary" as const,
  trafficSteps: [10, 50, 100],
  stepSeconds: 1,
  healthGate: { consecutiveHealthyChecks: 2, maxP95LatencyMs: 2000 },
};

describe("failover controller", () => {
  it("flips the active region end to end: freeze, promote, staged traffic, unfreeze, verified", async () => {
    platform = await startFailoverPlatform({ name: "failover-planned" });
    const key = Object.values(platform.apiKeys)[0]!;
    // Traffic through both drivers, as in AWS: the routing row and Route 53 weighted records (the
    // real SDK in the manager process, pointed at moto with signatures checked).
    moto = await startMoto({ record: true });
    const route53 = new Route53Client({
      region: "us-east-1",
      endpoint: moto.endpoint,
      credentials: moto.credentials,
    });
    const zone = await route53.send(
      new CreateHostedZoneCommand({ Name: "freight.example.com", CallerReference: "failover-planned" }),
    );
    route53.destroy();
    moto.clearRequests();
    const operator = await platform.startOperator("failover-planned", {
      FAILOVER_TRAFFIC_DRIVER: "routing-row+route53",
      ROUTE53_HOSTED_ZONE_ID: zone.HostedZone!.Id!.replace("/hostedzone/", ""),
      ROUTE53_RECORD_NAME: "api.freight.example.com",
      ROUTE53_PRIMARY_TARGET: "api-use1.freight.example.com",
      ROUTE53_SECONDARY_TARGET: "api-usw2.freight.example.com",
      AWS_ENDPOINT_URL_ROUTE_53: moto.endpoint,
      AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
      AWS_REGION: "us-east-1",
    });
    await platform.applyFailover({ activeRegion: "primary" });
    await waitFor("steady status", async () => (await platform!.getFailover()).status?.phase === "Steady");
    expect((await postQuote(platform.apps.primary.url, key)).status).toBe(201);
    // The standby sends writes to the active region.
    const standbyWrite = await postQuote(platform.apps.secondary.url, key);
    expect(standbyWrite.status).toBe(307);
    expect(standbyWrite.headers.get("location")).toBe(`${platform.apps.primary.url}/v1/quotes`);

    const before = await query<{ n: number }>(
      platform.urls.primary.superuser.replace(/\/postgres$/, "/freight"),
      "SELECT count(*)::int AS n FROM quotes",
    );
    await platform.applyFailover(fastFlip);
    const done = await flipCompleted();
    expect(done.status).toMatchObject({
      servingRegion: "secondary",
      lagAtCutoverSeconds: 0,
      trafficWeights: { primary: 0, secondary: 100 },
    });
    expect(done.status!.rtoSeconds).toBeLessThan(60);
    expect(done.status!.stages!.map((s) => s.stage)).toEqual([
      "PreChecks",
      "FreezeWrites",
      "DrainRunners",
      "CatchUp",
      "Promote",
      "RepointWriters",
      "ShiftTraffic",
      "Unfreeze",
      "ResumeRunners",
      "VerifyIntegrity",
    ]);
    for (const type of ["Promoted", "TrafficShifted", "IntegrityVerified"])
      expect(condition(done, type)?.status, type).toBe("True");
    expect(condition(done, "WritesFrozen")?.status).toBe("False");

    // The replica is a primary now; every quote written before the flip is on it.
    const secondaryAdmin = platform.urls.secondary.superuser.replace(/\/postgres$/, "/freight");
    expect(await query(secondaryAdmin, "SELECT pg_is_in_recovery() AS r")).toEqual([{ r: false }]);
    const after = await query<{ n: number }>(secondaryAdmin, "SELECT count(*)::int AS n FROM quotes");
    expect(after[0]!.n).toBe(before[0]!.n);
    // Users: the secondary takes writes, the old primary sends them there.
    await waitFor(
      "secondary takes writes",
      async () => (await postQuote(platform!.apps.secondary.url, key)).status === 201,
    );
    const oldPrimary = await postQuote(platform.apps.primary.url, key);
    expect(oldPrimary.status).toBe(307);
    expect(oldPrimary.headers.get("freight-active-region")).toBe("secondary");
    expect(operator.logs().match(/promoting the database/g)).toHaveLength(1);
    // DNS followed the steps: each change a single batch with both weighted records.
    const steps = moto
      .requests()
      .filter((r) => r.service === "route53" && r.method === "POST")
      .map((r) => [...r.body.matchAll(/<Weight>(\d+)<\/Weight>/g)].map((m) => Number(m[1])));
    expect(steps).toEqual([
      [100, 0],
      [90, 10],
      [50, 50],
      [0, 100],
    ]);
  }, 240_000);

  it("a slow RDS promotion is requested once, then observed until it finishes", async () => {
    platform = await startFailoverPlatform({ name: "failover-slow-rds" });
    // The RDS API of a local endpoint fronts the real replica: PromoteReadReplica leaves the instance
    // "modifying" for several seconds, as RDS does for minutes, then the replica is really promoted.
    // (Our own endpoint, not moto: moto promotes at once and never drops the replica source.)
    aws = new FakeRdsEndpoint();
    await aws.start();
    aws.instances.set("freight-us-east-1", { identifier: "freight-us-east-1", status: "available" });
    aws.instances.set("freight-us-west-2", {
      identifier: "freight-us-west-2",
      status: "available",
      source: "arn:aws:rds:us-east-1:123456789012:db:freight-us-east-1",
    });
    aws.promotionDelayMs = 6_000;
    const secondaryAdmin = platform.urls.secondary.superuser.replace(/\/postgres$/, "/freight");
    aws.onPromoted = async () => {
      await query(secondaryAdmin, "SELECT pg_promote(true, 60)");
    };
    const operator = await platform.startOperator("failover-slow-rds", {
      FAILOVER_DATABASE_DRIVER: "rds",
      RDS_PRIMARY_INSTANCE: "us-east-1:freight-us-east-1",
      RDS_SECONDARY_INSTANCE: "us-west-2:freight-us-west-2",
      // The platform's key stays: its Route 53 (moto) checks signatures; this endpoint does not.
      AWS_ENDPOINT_URL_RDS: aws.url,
      AWS_REGION: "us-east-1",
    });
    await platform.applyFailover({ activeRegion: "primary" });
    await waitFor("steady status", async () => (await platform!.getFailover()).status?.phase === "Steady");
    await platform.applyFailover(fastFlip);
    // On-call sees the promotion as accepted and in progress while RDS works.
    const inProgress = await waitFor(
      "promotion in progress",
      async () => {
        const rf = await platform!.getFailover();
        return condition(rf, "Promoted")?.reason === "PromotionInProgress" ? rf : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(inProgress.status?.promotion?.issuedAt).toBeDefined();
    expect(inProgress.status?.message).toMatch(/waiting for it to accept writes/);
    const done = await flipCompleted();
    const promoteCalls = aws.requests.filter((r) => r.params.get("Action") === "PromoteReadReplica");
    expect(promoteCalls).toHaveLength(1);
    // Seen within 2 s of RDS finishing, not after an error backoff.
    const finished = aws.promotedAt.get("freight-us-west-2")!;
    const seen = Date.parse(done.status!.promotion!.completedAt!);
    expect(seen - finished).toBeLessThanOrEqual(2_000);
    expect(seen - Date.parse(done.status!.promotion!.issuedAt!)).toBeGreaterThanOrEqual(5_000);
    expect(operator.logs()).not.toMatch(/reconcile failed/);
    expect(done.status!.servingRegion).toBe("secondary");
  }, 240_000);

  it("killed right after recording promotion intent, restarts and promotes exactly once", async () => {
    platform = await startFailoverPlatform({ name: "failover-restart" });
    const first = await platform.startOperator("failover-first");
    await platform.applyFailover({ activeRegion: "primary" });
    await waitFor("steady status", async () => (await platform!.getFailover()).status?.phase === "Steady");
    await platform.applyFailover(fastFlip);
    const intent = await waitFor(
      "promotion intent in status",
      async () => (await platform!.getFailover()).status?.promotion,
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    await first.kill();

    const second = await platform.startOperator("failover-second");
    const done = await waitFor(
      "flip completed after restart",
      async () => {
        const rf = await platform!.getFailover();
        return rf.status?.phase === "Completed" ? rf : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    expect(done.status!.promotion!.requestedAt).toBe(intent.requestedAt);
    expect(done.status!.servingRegion).toBe("secondary");
    const promotions = [first, second].flatMap((o) => o.logs().match(/promoting the database/g) ?? []);
    expect(promotions).toHaveLength(1);
    expect(second.logs()).not.toMatch(/reconcile failed/);
  }, 240_000);
});

/** What a write to `url` meets: "accepted", or why it was refused. */
async function tryWrite(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("CREATE TABLE IF NOT EXISTS fence_probe (at timestamptz)");
    await client.query("INSERT INTO fence_probe VALUES (now())");
    return "accepted";
  } catch (error) {
    return `refused: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function failoverEvents(): Promise<{ reason: string; type: string; note: string }[]> {
  const { items } = await platform!.admin.list<{
    reason: string;
    type: string;
    note: string;
    regarding: { name: string };
    metadata: { name: string };
  }>(builtin.events, { namespace: FAILOVER_NAMESPACE });
  return items.filter((e) => e.regarding.name === FAILOVER_NAME);
}

const unplannedFlip: RegionFailoverSpec = {
  activeRegion: "secondary",
  mode: "Unplanned",
  trafficSteps: [100],
  stepSeconds: 1,
  healthGate: { consecutiveHealthyChecks: 1, maxP95LatencyMs: 2000 },
};

describe("failover controller: a manual Unplanned flip fences the old primary", () => {
  it("fences the old primary before promoting, and the old primary refuses writes afterwards", async () => {
    platform = await startFailoverPlatform({ name: "failover-unplanned-fence" });
    const operator = await platform.startOperator("failover-fence");
    await platform.applyFailover({ activeRegion: "primary" });
    await waitFor("steady status", async () => (await platform!.getFailover()).status?.phase === "Steady");
    expect(await tryWrite(platform.adminUrls.primary)).toBe("accepted");

    await platform.applyFailover(unplannedFlip);
    const done = await flipCompleted();
    const stages = done.status!.stages!.map((t) => t.stage);
    expect(stages.indexOf("Fence")).toBeGreaterThan(-1);
    expect(stages.indexOf("Fence")).toBeLessThan(stages.indexOf("Promote"));
    expect(Date.parse(done.status!.fence!.completedAt!)).toBeLessThanOrEqual(
      Date.parse(done.status!.promotion!.requestedAt),
    );
    expect(done.status!.fence).toMatchObject({ target: "primary" });
    expect(done.status!.fence!.method).toMatch(/standby\.signal written/);
    expect(condition(done, "OldPrimaryFenced")).toMatchObject({ status: "True", reason: "Fenced" });
    // The old primary takes no write; the promoted one does.
    expect(await tryWrite(platform.adminUrls.primary)).toMatch(/^refused: /);
    expect(await tryWrite(platform.adminUrls.secondary)).toBe("accepted");
    expect((await failoverEvents()).map((e) => e.reason)).toContain("OldPrimaryFenced");
    expect(operator.logs()).toMatch(/fencing the old primary/);
  }, 300_000);

  it("holds before promotion while the fence cannot be confirmed, until on-call's override, which is recorded", async () => {
    platform = await startFailoverPlatform({ name: "failover-fence-held" });
    // The fence cannot reach the old primary's host: a data directory that is not there.
    const operator = await platform.startOperator("failover-fence-held", {
      FAILOVER_PRIMARY_DB_DATA_DIR: "/nonexistent/freight-primary-data",
    });
    await platform.applyFailover({ activeRegion: "primary" });
    await waitFor("steady status", async () => (await platform!.getFailover()).status?.phase === "Steady");
    await platform.applyFailover(unplannedFlip);
    const held = await waitFor(
      "the flip held at an unconfirmed fence",
      async () => {
        const rf = await platform!.getFailover();
        const fenced = condition(rf, "OldPrimaryFenced");
        return rf.status?.stage === "Fence" &&
          fenced?.status === "False" &&
          /ENOENT|nonexistent/.test(fenced.message)
          ? rf
          : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    expect(held.status!.message).toMatch(/nothing is promoted until it is confirmed to refuse writes/);
    expect(condition(held, "OldPrimaryFenced")!.message).toMatch(
      /set spec\.fenceOverride \{region: primary, reason\}/,
    );
    const warned = await waitFor("a FenceNotConfirmed Warning Event", async () =>
      (await failoverEvents()).find((e) => e.reason === "FenceNotConfirmed"),
    );
    expect(warned).toMatchObject({ type: "Warning" });
    expect(warned.note).toMatch(/spec\.fenceOverride/);
    // Still held a few reconciles later: nothing promoted, the replica still a replica.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const still = await platform.getFailover();
    expect(still.status?.stage).toBe("Fence");
    expect(still.status?.promotion).toBeUndefined();
    expect(await tryWrite(platform.adminUrls.secondary)).toMatch(/read-only transaction/);

    const reason = "INC-77: primary region unreachable, host and provider API down";
    await platform.applyFailover({ ...unplannedFlip, fenceOverride: { region: "primary", reason } });
    const done = await flipCompleted();
    expect(done.status!.servingRegion).toBe("secondary");
    expect(done.status!.fence!.completedAt).toBeUndefined();
    expect(done.status!.fence!.overridden).toMatchObject({ reason, at: expect.any(String) });
    expect(condition(done, "OldPrimaryFenced")).toMatchObject({ status: "False", reason: "FenceOverridden" });
    const overridden = await waitFor("a FenceOverridden Warning Event", async () =>
      (await failoverEvents()).find((e) => e.reason === "FenceOverridden"),
    );
    expect(overridden).toMatchObject({ type: "Warning" });
    expect(overridden.note).toContain(reason);
    expect(await tryWrite(platform.adminUrls.secondary)).toBe("accepted");
    // The fence was tried before the override, and not after it.
    const fences = operator.logs().match(/fencing the old primary/g) ?? [];
    expect(fences.length).toBeGreaterThan(0);
    expect(operator.logs().split(reason)[1] ?? "").not.toMatch(/fencing the old primary/);
  }, 300_000);
});
