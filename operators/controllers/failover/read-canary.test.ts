// The read canary as the decider publishes it: the weight on the routing row, status and the
// ReadCanaryServing condition, the trip on a breach, and re-arming only by a spec edit. Pure.
import { describe, expect, it } from "vitest";
import type { RegionFailoverSpec, RegionFailoverStatus } from "../../api/regionfailover.ts";
import { decideNextStep, type Decision } from "./decide.ts";
import type { HealthSample, Observations } from "./observations.ts";

const healthy: HealthSample = { ready: true, errorRatePercent: 0, p95LatencyMs: 20 };
const slow: HealthSample = { ready: true, errorRatePercent: 0, p95LatencyMs: 900 };
const steady: RegionFailoverStatus = { phase: "Steady", servingRegion: "primary", observedGeneration: 1 };
const routing = {
  activeRegion: "primary" as const,
  writesFrozen: false,
  runnersPaused: false,
  secondaryHealthy: true,
  weights: { primary: 100, secondary: 0 },
};

function observe(overrides: Partial<Observations> = {}): Observations {
  return {
    now: new Date("2026-12-02T20:00:00Z"),
    generation: 1,
    routing,
    health: { primary: healthy, secondary: healthy },
    replicationLagSeconds: 0.3,
    replicaCaughtUp: false,
    targetPromoted: false,
    runnersDrained: false,
    targetIsReplica: true,
    ...overrides,
  };
}

const at25: RegionFailoverSpec = { activeRegion: "primary", readCanary: { weight: 25 } };
/** The weight an applyRouting action writes (absent is 0), or "unchanged" when nothing is written. */
function published(d: Decision): number | "unchanged" {
  const action = d.actions.find((a) => a.kind === "applyRouting");
  return action?.kind === "applyRouting" ? (action.routing.readCanaryWeight ?? 0) : "unchanged";
}
const condition = (d: Decision) => d.status.conditions?.find((c) => c.type === "ReadCanaryServing");

describe("read canary", () => {
  it("publishes the weight on the routing row while the standby replica is healthy and close", () => {
    const d = decideNextStep(at25, steady, observe());
    expect(published(d)).toBe(25);
    expect(d.status.readCanary).toMatchObject({ state: "Serving", weight: 25, region: "secondary" });
    expect(condition(d)).toMatchObject({ status: "True", reason: "Serving" });
    expect(d.events.map((e) => e.reason)).toEqual(["ReadCanaryServing"]);
    // A serving canary is watched every second, not at the steady 10 s poll.
    expect(d.requeueAfterMs).toBeLessThanOrEqual(1000);
    // Writes never move: the active region and traffic weights are untouched.
    const row = d.actions.find((a) => a.kind === "applyRouting")!.routing;
    expect(row).toMatchObject({ activeRegion: "primary", weights: { primary: 100, secondary: 0 } });
  });

  it("writes nothing once the row already carries the weight", () => {
    const d = decideNextStep(at25, steady, observe({ routing: { ...routing, readCanaryWeight: 25 } }));
    expect(d.actions).toEqual([]);
  });

  it("trips to 0 when the replica falls behind, says why, and stays tripped until spec is edited", () => {
    const first = decideNextStep(at25, steady, observe());
    const tripped = decideNextStep(
      at25,
      first.status,
      observe({ routing: { ...routing, readCanaryWeight: 25 }, replicationLagSeconds: 7.2 }),
    );
    expect(published(tripped)).toBe(0);
    expect(tripped.status.readCanary).toMatchObject({
      state: "Tripped",
      weight: 0,
      trippedAtGeneration: 1,
      trippedReason: "secondary's replica is 7.2 s behind (max 5 s)",
    });
    expect(condition(tripped)).toMatchObject({ status: "False", reason: "GateTripped" });
    expect(condition(tripped)?.message).toMatch(/edit spec.readCanary to re-arm/);
    expect(tripped.events).toEqual([
      expect.objectContaining({ type: "Warning", reason: "ReadCanaryTripped", action: "ReadCanary" }),
    ]);

    // Healthy again, same spec: still 0 (a flapping replica must not flap users' reads).
    const recovered = decideNextStep(at25, tripped.status, observe());
    expect(published(recovered)).toBe("unchanged");
    expect(recovered.status.readCanary?.state).toBe("Tripped");

    // On-call edits spec (a new generation): serving again at the new weight.
    const rearmed = decideNextStep(
      { ...at25, readCanary: { weight: 10 } },
      recovered.status,
      observe({ generation: 2 }),
    );
    expect(published(rearmed)).toBe(10);
    expect(rearmed.status.readCanary).toMatchObject({ state: "Serving", weight: 10 });
    expect(rearmed.status.readCanary?.trippedAt).toBeUndefined();
  });

  it("trips on the health gate (slow or failing standby) and on a lag it cannot measure", () => {
    const gate = decideNextStep(at25, steady, observe({ health: { primary: healthy, secondary: slow } }));
    expect(gate.status.readCanary?.trippedReason).toMatch(
      /health gate failed: secondary: ready, 0.0 % errors, p95 900 ms/,
    );
    const unmeasured = decideNextStep(
      at25,
      steady,
      observe({
        routing: { ...routing, readCanaryWeight: 25 },
        replicationLagSeconds: undefined,
        failures: { replication: { reason: "Unreachable", message: "secondary's database is unreachable" } },
      }),
    );
    expect(unmeasured.status.readCanary?.trippedReason).toMatch(
      /could not be measured: secondary's database is unreachable/,
    );
    expect(published(unmeasured)).toBe(0);
  });

  it("honours a tighter lag bound from spec", () => {
    const spec = { ...at25, readCanary: { weight: 25, maxReplicationLagSeconds: 1 } };
    const d = decideNextStep(spec, steady, observe({ replicationLagSeconds: 1.5 }));
    expect(d.status.readCanary?.trippedReason).toBe("secondary's replica is 1.5 s behind (max 1 s)");
  });

  it("holds at 0 while a flip runs, and is off at weight 0", () => {
    const flipping = decideNextStep({ ...at25, activeRegion: "secondary" }, steady, observe());
    expect(flipping.status.phase).toBe("Progressing");
    expect(flipping.status.readCanary).toMatchObject({ state: "Held", weight: 0 });
    const off = decideNextStep({ ...at25, readCanary: { weight: 0 } }, steady, observe());
    expect(off.status.readCanary).toMatchObject({ state: "Off", weight: 0 });
    expect(condition(off)).toMatchObject({ status: "False", reason: "Off" });
    expect(published(off)).toBe("unchanged");
  });

  it("leaves status alone for an environment that never asked for a canary", () => {
    const d = decideNextStep({ activeRegion: "primary" }, steady, observe());
    expect(d.status.readCanary).toBeUndefined();
    expect(condition(d)).toBeUndefined();
    expect(d.actions).toEqual([]);
  });
});
