import { describe, expect, it } from "vitest";
import { effectiveSpec, type RegionFailoverStatus } from "../../api/regionfailover.ts";
import { conditionsFor } from "./conditions.ts";
import { toDriverError } from "./drivers/errors.ts";
import type { Observations } from "./observations.ts";
import { weightsFor, type RoutingState } from "./routing.ts";

const spec = effectiveSpec({ activeRegion: "secondary" });
const routing: RoutingState = {
  activeRegion: "primary",
  writesFrozen: true,
  runnersPaused: true,
  secondaryHealthy: true,
  weights: weightsFor("primary", 100),
};
const status: RegionFailoverStatus = {
  phase: "Progressing",
  servingRegion: "primary",
  targetRegion: "secondary",
  stage: "Promote",
  promotion: { target: "secondary", requestedAt: "2026-11-27T03:00:00.000Z" },
};
const base: Observations = {
  now: new Date("2026-11-27T03:00:05Z"),
  generation: 1,
  routing,
  health: { secondary: { ready: true, errorRatePercent: 0, p95LatencyMs: 20 } },
  replicaCaughtUp: false,
  targetPromoted: false,
  runnersDrained: true,
};
const find = (obs: Observations, type: string) =>
  conditionsFor(spec, status, obs, routing).find((c) => c.type === type)!;

// Failures as the drivers produce them from the errors PostgreSQL and Node raise.
const permissionDenied = toDriverError(
  Object.assign(new Error("permission denied for function pg_promote"), { code: "42501" }),
  "promoting on secondary's database",
);
const unreachable = toDriverError(
  Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
  "reading the WAL write position on primary's database",
);
const failure = (e: typeof permissionDenied) => ({ reason: e.reason, message: e.message });

describe("failover conditions carry the driver's error", () => {
  it("tells a missing grant from a lost primary in reason and message", () => {
    const denied = find({ ...base, failures: { promote: failure(permissionDenied) } }, "Promoted");
    expect(denied).toMatchObject({ status: "False", reason: "PermissionDenied" });
    expect(denied.message).toBe(
      "Promotion of secondary's database requested at 2026-11-27T03:00:00.000Z. The last attempt failed: promoting on secondary's database: permission denied (permission denied for function pg_promote [42501]).",
    );

    const lost = find({ ...base, failures: { replication: failure(unreachable) } }, "ReplicaCaughtUp");
    expect(lost).toMatchObject({ status: "Unknown", reason: "Unreachable" });
    expect(lost.message).toBe(
      "Replication could not be measured: reading the WAL write position on primary's database: unreachable (connect ECONNREFUSED 127.0.0.1:5432). Last known lag unknown (max 300 s).",
    );
  });

  it("without a failure keeps the plain reasons", () => {
    expect(find(base, "Promoted").reason).toBe("PromotionRequested");
    expect(find(base, "ReplicaCaughtUp")).toMatchObject({ status: "Unknown", reason: "LagUnknown" });
    expect(find({ ...base, replicationLagSeconds: 0.5 }, "ReplicaCaughtUp").reason).toBe("Lagging");
    expect(find({ ...base, routing: undefined }, "WritesFrozen")).toMatchObject({
      status: "Unknown",
      reason: "RoutingUnreadable",
      message: "The routing state could not be read.",
    });
  });

  it("reports unreadable runner heartbeats and routing with their reasons", () => {
    const denied = toDriverError(
      Object.assign(new Error("permission denied for table runner_heartbeats"), { code: "42501" }),
      "reading primary's runner heartbeats",
    );
    expect(find({ ...base, failures: { runnersDrained: failure(denied) } }, "JobsDrained")).toMatchObject({
      status: "Unknown",
      reason: "PermissionDenied",
    });
    const routingLost = find(
      { ...base, routing: undefined, failures: { routing: failure(unreachable) } },
      "WritesFrozen",
    );
    expect(routingLost).toMatchObject({ status: "Unknown", reason: "Unreachable" });
    expect(routingLost.message).toMatch(/primary's database: unreachable/);
  });
});
