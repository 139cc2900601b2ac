import { describe, expect, it } from "vitest";
import {
  STAGES,
  type Region,
  type RegionFailoverSpec,
  type RegionFailoverStatus,
  type Stage,
} from "../../api/regionfailover.ts";
import { decideNextStep, type Decision, type FailoverAction } from "./decide.ts";
import type { LossSignalObservation } from "./detect.ts";
import type { HealthSample, Observations } from "./observations.ts";
import { weightsFor, type RoutingState } from "./routing.ts";

const healthy: HealthSample = { ready: true, errorRatePercent: 0, p95LatencyMs: 20 };
const failing: HealthSample = { ready: true, errorRatePercent: 40, p95LatencyMs: 900, detail: "5xx" };

/** A small model of the two regions: routing row, databases, replica, runners, health. */
class World {
  now = new Date("2026-11-27T03:00:00Z");
  routing: RoutingState = {
    activeRegion: "primary",
    writesFrozen: false,
    runnersPaused: false,
    secondaryHealthy: true,
    weights: { primary: 100, secondary: 0 },
  };
  writable: Record<Region, boolean> = { primary: true, secondary: false };
  promoteCalls = 0;
  lagSeconds: number | undefined = 0;
  caughtUp = true;
  /** Reconciles it takes runners to finish their jobs once paused. */
  drainAfter = 0;
  pausedFor = 0;
  health: Partial<Record<Region, HealthSample>> = { primary: healthy, secondary: healthy };
  routingReadable = true;
  invoices = 42;
  generation = 1;
  routingHistory: RoutingState[] = [];
  /** Automatic mode: the loss signals about the serving primary (undefined: not observed). */
  lossSignals: LossSignalObservation[] | undefined;
  fenced: Record<Region, boolean> = { primary: false, secondary: false };
  /** False: the fence call is accepted but never confirmed (the provider cannot reach the host). */
  fenceTakesEffect = true;
  /** False: the fence call itself fails (the provider API is down too); it is never accepted. */
  fenceAccepted = true;
  fenceCalls = 0;
  /** Whether each region's database is a streaming replica (failback status). */
  replica: Record<Region, boolean> = { primary: false, secondary: true };

  observe(status: RegionFailoverStatus | undefined): Observations {
    const target = status?.targetRegion ?? "secondary";
    return {
      now: this.now,
      generation: this.generation,
      routing: this.routingReadable ? structuredClone(this.routing) : undefined,
      health: structuredClone(this.health),
      replicationLagSeconds: this.lagSeconds,
      replicaCaughtUp: this.caughtUp,
      targetPromoted: this.writable[target],
      runnersDrained: this.routing.runnersPaused && this.pausedFor >= this.drainAfter,
      integrity: { invoices: this.invoices, queueDepth: 3, errorRatePercent: 0 },
      ...(this.lossSignals ? { lossSignals: structuredClone(this.lossSignals) } : {}),
      sourceFenced: this.fenced[target === "primary" ? "secondary" : "primary"],
      // The reconciler's target: the flip's, or in steady state the region not serving.
      targetIsReplica:
        this.replica[
          status?.phase === "Progressing" && status.targetRegion
            ? status.targetRegion
            : status?.servingRegion === "secondary"
              ? "primary"
              : "secondary"
        ],
    };
  }

  apply(actions: FailoverAction[]): void {
    for (const action of actions) {
      if (action.kind === "promote") {
        this.promoteCalls++;
        if (this.writable[action.region]) throw new Error("pg_promote: server is not in standby mode");
        this.writable[action.region] = true;
        this.replica[action.region] = false;
      } else if (action.kind === "fence") {
        this.fenceCalls++;
        if (this.fenceTakesEffect) {
          this.fenced[action.region] = true;
          this.writable[action.region] = false;
        }
      } else {
        this.routing = structuredClone(action.routing);
        this.routingHistory.push(structuredClone(action.routing));
      }
    }
  }

  tick(ms = 1000): void {
    this.now = new Date(this.now.getTime() + ms);
    if (this.routing.runnersPaused) this.pausedFor++;
    else this.pausedFor = 0;
  }
}

interface RunOptions {
  /** Reconcile numbers after which the controller dies: status written, actions never taken. */
  crashAfterWrite?: number[];
  maxSteps?: number;
  /** Called before each reconcile (to change health, spec, ...). */
  before?: (step: number, world: World, status: RegionFailoverStatus | undefined) => void;
  until?: (status: RegionFailoverStatus) => boolean;
}

const terminal = (s: RegionFailoverStatus) =>
  s.phase === "Completed" || s.phase === "Aborted" || s.phase === "Failed";

function run(
  world: World,
  spec: RegionFailoverSpec,
  status?: RegionFailoverStatus,
  options: RunOptions = {},
): { status: RegionFailoverStatus; decisions: Decision[]; stagesSeen: Stage[] } {
  const decisions: Decision[] = [];
  const stagesSeen: Stage[] = [];
  let persisted = status;
  for (let step = 0; step < (options.maxSteps ?? 200); step++) {
    options.before?.(step, world, persisted);
    const decision = decideNextStep(spec, persisted, world.observe(persisted));
    decisions.push(decision);
    persisted = decision.status;
    if (persisted.stage && stagesSeen.at(-1) !== persisted.stage) stagesSeen.push(persisted.stage);
    if (!options.crashAfterWrite?.includes(step)) {
      world.apply(decision.actions);
      // As the reconciler does: an accepted fence call is recorded on status right after it.
      if (decision.actions.some((a) => a.kind === "fence") && persisted.fence && world.fenceAccepted)
        persisted = { ...persisted, fence: { ...persisted.fence, issuedAt: world.now.toISOString() } };
    }
    // A terminal status is final once its actions are taken; an explicit `until` stops right there.
    if (options.until ? options.until(persisted) : terminal(persisted) && decision.actions.length === 0)
      break;
    world.tick(decision.requeueAfterMs);
  }
  return { status: persisted!, decisions, stagesSeen };
}

const flip: RegionFailoverSpec = { activeRegion: "secondary", stepSeconds: 5 };

function condition(status: RegionFailoverStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}

describe("decideNextStep: a planned flip", () => {
  it("walks every runbook stage in order and ends serving from the new region", () => {
    const world = new World();
    world.drainAfter = 2;
    const { status, stagesSeen } = run(world, flip);
    // Stages that finish within one reconcile are never persisted as current, but all are timed.
    expect(stagesSeen).toEqual(expect.arrayContaining(["PreChecks", "FreezeWrites", "ShiftTraffic"]));
    expect(status.phase).toBe("Completed");
    expect(status.servingRegion).toBe("secondary");
    expect(world.promoteCalls).toBe(1);
    expect(world.routing).toEqual({
      activeRegion: "secondary",
      writesFrozen: false,
      runnersPaused: false,
      secondaryHealthy: true,
      weights: { primary: 0, secondary: 100 },
    });
    expect(status.lagAtCutoverSeconds).toBe(0);
    expect(status.rtoSeconds).toBeGreaterThan(0);
    // Only automatic flips fence: a planned flip's old primary is alive, frozen, and stays a peer.
    expect(status.stages?.map((s) => s.stage)).toEqual(STAGES.filter((s) => s !== "Fence"));
    expect(status.stages?.every((s) => s.finishedAt)).toBe(true);
    for (const type of ["Promoted", "TrafficShifted", "IntegrityVerified", "HealthGateOpen"]) {
      expect(condition(status, type)?.status, type).toBe("True");
    }
    expect(condition(status, "WritesFrozen")?.status).toBe("False");
    expect(status.message).toMatch(/Serving from secondary .*integrity verified/);
  });

  it("lets the freeze reach every app process before draining and measuring catch-up", () => {
    const world = new World();
    const { status } = run(world, flip);
    const freeze = status.stages!.find((s) => s.stage === "FreezeWrites")!;
    const held = (Date.parse(freeze.finishedAt!) - Date.parse(freeze.startedAt)) / 1000;
    expect(held).toBeGreaterThanOrEqual(2);
  });

  it("shifts traffic 10 -> 50 -> 100 %, holding each step for stepSeconds, with writes frozen", () => {
    const world = new World();
    const { status } = run(world, flip);
    const weights = world.routingHistory.map((r) => r.weights.secondary);
    expect([...new Set(weights)]).toEqual([0, 10, 50, 100]);
    // Writes are frozen from the first change until all traffic is on the new region.
    const frozen = world.routingHistory.filter((r) => r.writesFrozen);
    expect(frozen.map((r) => r.weights.secondary)).toContain(50);
    expect(world.routingHistory.find((r) => r.weights.secondary > 0)?.activeRegion).toBe("secondary");
    const shift = status.stages?.find((s) => s.stage === "ShiftTraffic");
    const held = (Date.parse(shift!.finishedAt!) - Date.parse(shift!.startedAt)) / 1000;
    expect(held).toBeGreaterThanOrEqual(2 * 5);
    expect(held).toBeLessThan(2 * 5 + 4);
  });

  it("does not promote until the replica has replayed every write", () => {
    const world = new World();
    world.caughtUp = false;
    world.lagSeconds = 0.4;
    const { status } = run(world, flip, undefined, { maxSteps: 15 });
    expect(status.stage).toBe("CatchUp");
    expect(world.promoteCalls).toBe(0);
    expect(world.routing.writesFrozen).toBe(true);
    expect(condition(status, "ReplicaCaughtUp")).toMatchObject({ status: "False", reason: "Lagging" });
    world.caughtUp = true;
    world.lagSeconds = 0;
    const done = run(world, flip, status);
    expect(done.status.phase).toBe("Completed");
    expect(world.promoteCalls).toBe(1);
  });

  it("waits for runners to drain before catching up", () => {
    const world = new World();
    world.drainAfter = 1000;
    const { status } = run(world, flip, undefined, { maxSteps: 12 });
    expect(status.stage).toBe("DrainRunners");
    expect(condition(status, "JobsDrained")).toMatchObject({ status: "False", reason: "Draining" });
    expect(status.message).toMatch(/in-flight jobs/);
  });

  it("holds at pre-checks while the target is unhealthy or the lag exceeds the RPO, changing nothing", () => {
    const world = new World();
    world.health.secondary = { ...failing, ready: false };
    let { status } = run(world, flip, undefined, { maxSteps: 6 });
    expect(status.stage).toBe("PreChecks");
    expect(condition(status, "HealthGateOpen")).toMatchObject({ status: "False", reason: "TargetUnhealthy" });
    // The only change: the routing state learns the secondary is unhealthy (users pinned to primary).
    expect(world.routingHistory).toEqual([{ ...world.routing, secondaryHealthy: false }]);
    expect(world.routing).toMatchObject({ writesFrozen: false, weights: { primary: 100, secondary: 0 } });

    world.health.secondary = healthy;
    world.lagSeconds = 900;
    ({ status } = run(world, flip, status, { maxSteps: 6 }));
    expect(status.stage).toBe("PreChecks");
    expect(status.message).toMatch(/replication lag 900.0 s \(max 300 s\)/);
    expect(world.routing).toMatchObject({ writesFrozen: false, weights: { primary: 100, secondary: 0 } });
  });

  it("will not flip back to a database that is no longer a replica, and says how to fix it", () => {
    const world = new World();
    const done = run(world, flip).status;
    world.lagSeconds = undefined; // the old primary replicates from nobody after the promotion
    world.caughtUp = false;
    world.generation++;
    const { status } = run(world, { ...flip, activeRegion: "primary" }, done, { maxSteps: 5 });
    expect(status.stage).toBe("PreChecks");
    expect(status.message).toMatch(/rebuild the old primary as a replica before flipping back/);
    expect(world.routing).toMatchObject({ activeRegion: "secondary", writesFrozen: false });
  });

  it("needs consecutiveHealthyChecks healthy checks in a row before freezing writes", () => {
    const world = new World();
    const spec = { ...flip, healthGate: { consecutiveHealthyChecks: 4 } };
    const { decisions } = run(world, spec, undefined, { until: (s) => s.stage === "FreezeWrites" });
    expect(decisions.length).toBe(4);
    expect(decisions.slice(0, 3).every((d) => d.actions.length === 0)).toBe(true);
  });

  it("flips back from secondary to primary the same way", () => {
    const world = new World();
    run(world, flip);
    const { status } = run(world, { ...flip, activeRegion: "primary" }, run(world, flip).status);
    expect(status.servingRegion).toBe("primary");
    expect(world.routing.activeRegion).toBe("primary");
    expect(world.routing.weights).toEqual({ primary: 100, secondary: 0 });
  });
});

describe("decideNextStep: restarts", () => {
  it("killed after writing status at any reconcile, resumes and promotes exactly once", () => {
    const reference = run(new World(), flip).decisions.length;
    for (let crash = 0; crash < reference; crash++) {
      const world = new World();
      world.drainAfter = 1;
      const { status } = run(world, flip, undefined, { crashAfterWrite: [crash] });
      expect(status.phase, `crash after reconcile ${crash}`).toBe("Completed");
      expect(world.promoteCalls, `crash after reconcile ${crash}`).toBe(1);
    }
  });

  it("killed right after promoting, before recording it, does not promote again", () => {
    const world = new World();
    let promotedAt = -1;
    const first = run(world, flip, undefined, {
      until: (s) => s.promotion !== undefined && world.writable.secondary,
    });
    promotedAt = first.decisions.findIndex((d) => d.actions.some((a) => a.kind === "promote"));
    expect(promotedAt).toBeGreaterThan(0);
    expect(first.status.promotion?.completedAt).toBeUndefined();
    // A fresh controller reads the status the dead one wrote.
    const { status } = run(world, flip, structuredClone(first.status));
    expect(world.promoteCalls).toBe(1);
    expect(status.phase).toBe("Completed");
    expect(status.promotion?.completedAt).toBeDefined();
  });

  it("writes promotion intent in one reconcile and acts only in a later one", () => {
    const world = new World();
    const { decisions } = run(world, flip);
    const intent = decisions.findIndex((d) => d.status.promotion !== undefined);
    expect(decisions[intent]!.actions.some((a) => a.kind === "promote")).toBe(false);
    const acted = decisions.findIndex((d) => d.actions.some((a) => a.kind === "promote"));
    expect(acted).toBeGreaterThan(intent);
    expect(decisions[acted - 1]!.status.promotion).toBeDefined();
  });

  it("repeats no routing write once the world matches", () => {
    const world = new World();
    const { decisions } = run(world, flip);
    const last = decideNextStep(flip, decisions.at(-1)!.status, world.observe(decisions.at(-1)!.status));
    expect(last.actions).toEqual([]);
    expect(last.status.phase).toBe("Completed");
  });
});

describe("decideNextStep: abort", () => {
  const beforePromotion: Stage[] = ["PreChecks", "FreezeWrites", "DrainRunners", "CatchUp"];
  for (const stage of beforePromotion) {
    it(`at ${stage} returns writes, runners and traffic to the old region without promoting`, () => {
      const world = new World();
      world.drainAfter = 2;
      world.caughtUp = false;
      const reached = run(world, flip, undefined, {
        until: (s) => s.stage === stage,
        before: (_step, w, s) => {
          w.caughtUp = s?.stage === "CatchUp" ? false : w.caughtUp;
        },
      });
      expect(reached.status.stage).toBe(stage);
      world.generation++;
      const { status } = run(world, { ...flip, abort: true }, reached.status);
      expect(status.phase).toBe("Aborted");
      expect(status.servingRegion).toBe("primary");
      expect(world.promoteCalls).toBe(0);
      expect(world.routing).toMatchObject({
        activeRegion: "primary",
        writesFrozen: false,
        runnersPaused: false,
        weights: { primary: 100, secondary: 0 },
      });
      expect(status.message).toMatch(/nothing was promoted/);
    });
  }

  const afterPromotion: Stage[] = ["RepointWriters", "ShiftTraffic", "Unfreeze", "ResumeRunners"];
  for (const stage of afterPromotion) {
    it(`at ${stage} keeps writes on the promoted database and unfreezes them`, () => {
      const world = new World();
      const reached = run(world, flip, undefined, { until: (s) => s.stage === stage });
      world.generation++;
      const { status } = run(world, { ...flip, abort: true }, reached.status);
      expect(status.phase).toBe("Aborted");
      expect(status.servingRegion).toBe("secondary");
      expect(world.promoteCalls).toBe(1);
      expect(world.routing).toMatchObject({
        activeRegion: "secondary",
        writesFrozen: false,
        runnersPaused: false,
      });
      expect(status.message).toMatch(/Aborted after promotion/);
    });
  }

  it("while a promotion is requested but not yet seen, finishes it rather than risk two writers", () => {
    const world = new World();
    const reached = run(world, flip, undefined, { until: (s) => s.promotion !== undefined });
    expect(world.promoteCalls).toBe(0);
    world.generation++;
    const next = decideNextStep({ ...flip, abort: true }, reached.status, world.observe(reached.status));
    expect(next.status.phase).toBe("Progressing");
    expect(next.actions).toContainEqual({ kind: "promote", region: "secondary" });
    expect(next.status.message).toMatch(/two writers/);
    world.apply(next.actions);
    const { status } = run(world, { ...flip, abort: true }, next.status);
    expect(status.phase).toBe("Aborted");
    expect(status.servingRegion).toBe("secondary");
    expect(world.promoteCalls).toBe(1);
  });

  it("does not start a new flip while abort is set, and says how to start one", () => {
    const world = new World();
    const { status } = run(world, { ...flip, abort: true }, undefined, { maxSteps: 3 });
    expect(status.phase).toBe("Steady");
    expect(status.message).toMatch(/spec.abort is true: set it to false/);
    expect(world.routingHistory).toEqual([]);
  });
});

describe("decideNextStep: health gate during the traffic shift", () => {
  it("with onGateFailure Pause holds the current weights and continues once healthy again", () => {
    const world = new World();
    const reached = run(world, flip, undefined, {
      until: (s) => s.stage === "ShiftTraffic" && s.trafficStep === 1,
    });
    world.health.secondary = failing;
    const paused = run(world, flip, reached.status, { maxSteps: 8, until: () => false });
    expect(paused.status.phase).toBe("Paused");
    expect(paused.status.message).toMatch(/Health gate failed at 50 %/);
    expect(paused.status.pauseConditions?.map((c) => c.reason)).toEqual(["HealthGateFailed"]);
    expect(world.routing.weights).toEqual({ primary: 50, secondary: 50 });
    expect(condition(paused.status, "HealthGateOpen")?.status).toBe("False");
    world.health.secondary = healthy;
    const { status } = run(world, flip, paused.status);
    expect(status.phase).toBe("Completed");
    expect(world.routing.weights).toEqual({ primary: 0, secondary: 100 });
  });

  it("holds for the gate after a human's pause is cleared, and each cause keeps its own start time", () => {
    const world = new World();
    const reached = run(world, flip, undefined, {
      until: (s) => s.stage === "ShiftTraffic" && s.trafficStep === 1,
    });
    world.health.secondary = failing;
    const gate = run(world, flip, reached.status, { maxSteps: 3, until: () => false }).status;
    const gateSince = gate.pauseConditions![0]!.startTime;
    const both = run(world, { ...flip, paused: true }, gate, { maxSteps: 3, until: () => false }).status;
    expect(both.pauseConditions?.map((c) => [c.reason, c.startTime === gateSince])).toEqual([
      ["HealthGateFailed", true],
      ["PausedBySpec", false],
    ]);
    // spec.paused cleared while the target is still failing: still paused, by the gate alone.
    const cleared = run(world, flip, both, { maxSteps: 3, until: () => false }).status;
    expect(cleared.phase).toBe("Paused");
    expect(cleared.pauseConditions).toEqual([{ reason: "HealthGateFailed", startTime: gateSince }]);
    expect(world.routing.weights).toEqual({ primary: 50, secondary: 50 });
    world.health.secondary = healthy;
    const { status } = run(world, flip, cleared);
    expect(status.phase).toBe("Completed");
  });

  it("keeps holding a gate pause recorded before pause causes existed (phase Paused, no cause)", () => {
    const world = new World();
    const reached = run(world, flip, undefined, {
      until: (s) => s.stage === "ShiftTraffic" && s.trafficStep === 1,
    });
    world.health.secondary = failing;
    const paused = run(world, flip, reached.status, { maxSteps: 3, until: () => false }).status;
    const legacy: RegionFailoverStatus = { ...paused, pauseConditions: undefined };
    world.health.secondary = healthy;
    const next = decideNextStep(flip, legacy, world.observe(legacy));
    expect(next.status.phase).toBe("Paused");
    expect(next.status.pauseConditions?.map((c) => c.reason)).toEqual(["HealthGateFailed"]);
    expect(next.status.message).toMatch(/Health gate recovering/);
  });

  it("with onGateFailure Rollback sends traffic back and keeps writes on the promoted database", () => {
    const world = new World();
    const spec: RegionFailoverSpec = { ...flip, onGateFailure: "Rollback" };
    const reached = run(world, spec, undefined, { until: (s) => s.stage === "ShiftTraffic" });
    world.health.secondary = failing;
    const { status } = run(world, spec, reached.status);
    expect(status.phase).toBe("Aborted");
    expect(world.routing).toMatchObject({
      activeRegion: "secondary",
      writesFrozen: false,
      weights: { primary: 100, secondary: 0 },
    });
    expect(status.message).toMatch(/onGateFailure Rollback/);
  });
});

describe("decideNextStep: freeze timeout, pause, unplanned, steady state", () => {
  it("rolls back when writes stay frozen past writeFreezeTimeoutSeconds, and does not retry by itself", () => {
    const world = new World();
    world.caughtUp = false;
    world.lagSeconds = 2;
    const spec = { ...flip, writeFreezeTimeoutSeconds: 10 };
    const { status } = run(world, spec);
    expect(status.phase).toBe("Failed");
    expect(status.message).toMatch(/over spec.writeFreezeTimeoutSeconds \(10 s\)/);
    expect(world.routing).toMatchObject({ activeRegion: "primary", writesFrozen: false });
    expect(world.promoteCalls).toBe(0);
    const again = run(world, spec, status, { maxSteps: 5 });
    expect(again.status.phase).toBe("Failed");
    // A human edit (new generation) starts a fresh attempt.
    world.generation++;
    world.caughtUp = true;
    world.lagSeconds = 0;
    expect(run(world, spec, again.status).status.phase).toBe("Completed");
  });

  it("spec.paused holds the flip where it is; clearing it continues", () => {
    const world = new World();
    const reached = run(world, flip, undefined, { until: (s) => s.stage === "DrainRunners" });
    const pausedAt = world.now.toISOString();
    const paused = run(world, { ...flip, paused: true }, reached.status, { maxSteps: 5, until: () => false });
    expect(paused.status.phase).toBe("Paused");
    expect(paused.status.stage).toBe("DrainRunners");
    expect(paused.status.message).toMatch(/spec.paused/);
    // The cause is on status, with the time it began (not moved by the reconciles that followed).
    expect(paused.status.pauseConditions).toEqual([{ reason: "PausedBySpec", startTime: pausedAt }]);
    const { status } = run(world, flip, paused.status);
    expect(status.phase).toBe("Completed");
    expect(status.pauseConditions).toBeUndefined();
  });

  it("resumes from the pause cause on status, whatever the message says", () => {
    const world = new World();
    const reached = run(world, flip, undefined, { until: (s) => s.stage === "DrainRunners" });
    const paused = run(world, { ...flip, paused: true }, reached.status, { maxSteps: 2, until: () => false });
    const reworded = { ...paused.status, message: "Held for the change window (see ticket OPS-12)." };
    const next = decideNextStep(flip, reworded, world.observe(reworded));
    expect(next.status.phase).toBe("Progressing");
    expect(next.status.pauseConditions).toBeUndefined();
  });

  it("unplanned: promotes without the lost primary, reporting the lag at the moment of loss", () => {
    const world = new World();
    world.health.primary = { ready: false, errorRatePercent: 100, p95LatencyMs: 0 };
    world.routingReadable = false;
    world.lagSeconds = 1.5;
    world.caughtUp = false;
    world.drainAfter = 1000;
    const spec: RegionFailoverSpec = { ...flip, mode: "Unplanned", trafficSteps: [100] };
    const { status } = run(world, spec, undefined, {
      before: (_step, w, s) => {
        // Once promoted, the routing row is read from the new primary.
        w.routingReadable = w.writable.secondary;
        if (!w.routingReadable) w.routing = { ...w.routing };
        void s;
      },
    });
    expect(status.phase).toBe("Completed");
    expect(status.lagAtCutoverSeconds).toBe(1.5);
    expect(world.promoteCalls).toBe(1);
    expect(world.routing.activeRegion).toBe("secondary");
    expect(world.routing.weights).toEqual(weightsFor("secondary", 100));
  });

  it("outside a flip marks the secondary unhealthy in the routing state, and healthy again", () => {
    const world = new World();
    world.health.secondary = failing;
    let decision = decideNextStep({ activeRegion: "primary" }, undefined, world.observe(undefined));
    expect(decision.status.phase).toBe("Steady");
    expect(decision.actions).toEqual([
      expect.objectContaining({
        kind: "applyRouting",
        routing: expect.objectContaining({ secondaryHealthy: false }),
      }),
    ]);
    world.apply(decision.actions);
    world.health.secondary = healthy;
    decision = decideNextStep({ activeRegion: "primary" }, decision.status, world.observe(decision.status));
    expect(decision.actions).toEqual([
      expect.objectContaining({ routing: expect.objectContaining({ secondaryHealthy: true }) }),
    ]);
    expect(decision.requeueAfterMs).toBe(10_000);
  });

  it("keeps lastTransitionTime while a condition's status holds", () => {
    const world = new World();
    const { decisions } = run(world, flip, undefined, { until: (s) => s.stage === "ShiftTraffic" });
    const times = decisions
      .map((d) => condition(d.status, "Promoted"))
      .filter((c) => c?.status === "True")
      .map((c) => c!.lastTransitionTime);
    expect(new Set(times).size).toBe(1);
  });
});

describe("decideNextStep: a manual unplanned flip fences the old primary", () => {
  const unplanned: RegionFailoverSpec = { ...flip, mode: "Unplanned", trafficSteps: [100] };
  const lostPrimary = (world: World) => {
    world.health.primary = { ready: false, errorRatePercent: 100, p95LatencyMs: 0 };
    world.lagSeconds = 0.5;
    world.caughtUp = false;
  };
  const events = (decisions: Decision[]) => decisions.flatMap((d) => d.events);

  it("fences before promoting, and the old primary refuses writes", () => {
    const world = new World();
    lostPrimary(world);
    const { status, decisions, stagesSeen } = run(world, unplanned, undefined, {
      before: (_step, _w, s) => {
        if (s?.promotion && !s.fence?.completedAt)
          throw new Error("promotion requested before the fence completed");
      },
    });
    expect(status.phase).toBe("Completed");
    expect(stagesSeen.indexOf("Fence")).toBeGreaterThan(-1);
    expect(stagesSeen.indexOf("Fence")).toBeLessThan(stagesSeen.indexOf("Promote"));
    expect(world.fenceCalls).toBe(1);
    expect(world.fenced.primary).toBe(true);
    expect(world.writable).toEqual({ primary: false, secondary: true });
    expect(status.fence).toMatchObject({ target: "primary", completedAt: expect.any(String) });
    expect(status.fence?.overridden).toBeUndefined();
    expect(condition(status, "OldPrimaryFenced")).toMatchObject({ status: "True", reason: "Fenced" });
    expect(events(decisions).map((e) => e.reason)).toContain("OldPrimaryFenced");
  });

  it("a planned flip does not fence: the old primary stays up to become the replica", () => {
    const world = new World();
    const { status, stagesSeen } = run(world, flip);
    expect(status.phase).toBe("Completed");
    expect(stagesSeen).not.toContain("Fence");
    expect(world.fenceCalls).toBe(0);
  });

  it("holds before promotion while the fence is unconfirmed, saying why and naming the override", () => {
    const world = new World();
    lostPrimary(world);
    world.fenceTakesEffect = false;
    const { status, decisions } = run(world, unplanned, undefined, { maxSteps: 60, until: () => false });
    expect(status.phase).toBe("Progressing");
    expect(status.stage).toBe("Fence");
    expect(world.promoteCalls).toBe(0);
    expect(world.writable.secondary).toBe(false);
    expect(status.message).toMatch(/nothing is promoted until it is confirmed to refuse writes/);
    expect(status.message).toMatch(/set spec.fenceOverride: \{region: primary, reason:/);
    expect(condition(status, "OldPrimaryFenced")).toMatchObject({
      status: "False",
      reason: "FenceNotConfirmed",
      message: expect.stringMatching(/spec.fenceOverride \{region: primary, reason\}/),
    });
    const held = events(decisions).filter((e) => e.reason === "FenceNotConfirmed");
    expect(held.length).toBeGreaterThan(0);
    expect(new Set(held.map((e) => e.dedupeKey)).size).toBe(1);
    expect(held[0]).toMatchObject({ type: "Warning" });
  });

  it("an override written while the fence is held lets it promote, recorded on status and in a Warning Event", () => {
    const world = new World();
    lostPrimary(world);
    world.fenceTakesEffect = false;
    const held = run(world, unplanned, undefined, { maxSteps: 10, until: () => false }).status;
    expect(held.stage).toBe("Fence");

    // An override about the other region is ignored, and says so.
    world.generation = 2;
    const reason = "INC-77: primary region down, provider API unreachable";
    const wrong = run(world, { ...unplanned, fenceOverride: { region: "secondary", reason } }, held, {
      maxSteps: 3,
      until: () => false,
    });
    expect(wrong.status.stage).toBe("Fence");
    expect(wrong.status.message).toMatch(/spec.fenceOverride names secondary, not primary/);
    expect(world.promoteCalls).toBe(0);

    world.generation = 3;
    const overridden = { ...unplanned, fenceOverride: { region: "primary" as const, reason } };
    const { status, decisions } = run(world, overridden, wrong.status);
    expect(status.phase).toBe("Completed");
    expect(world.promoteCalls).toBe(1);
    expect(world.fenced.primary).toBe(false);
    expect(status.fence?.completedAt).toBeUndefined();
    expect(status.fence?.overridden).toMatchObject({ reason, generation: 3, at: expect.any(String) });
    expect(condition(status, "OldPrimaryFenced")).toMatchObject({
      status: "False",
      reason: "FenceOverridden",
      message: expect.stringContaining(reason),
    });
    const warning = events(decisions).filter((e) => e.reason === "FenceOverridden");
    expect(warning).toHaveLength(1);
    expect(warning[0]).toMatchObject({ type: "Warning", note: expect.stringContaining(reason) });
    expect(warning[0]!.note).toMatch(/WITHOUT a confirmed fence of primary's database/);
  });

  it("once overridden, a fence whose call keeps failing is not called again", () => {
    const world = new World();
    lostPrimary(world);
    world.fenceTakesEffect = false;
    world.fenceAccepted = false;
    const held = run(world, unplanned, undefined, { maxSteps: 10, until: () => false });
    expect(held.status.stage).toBe("Fence");
    expect(held.status.fence?.issuedAt).toBeUndefined();
    expect(world.fenceCalls).toBeGreaterThan(1);
    const calls = world.fenceCalls;
    world.generation = 2;
    const reason = "INC-78: primary region and its provider API unreachable";
    const { status, decisions } = run(
      world,
      { ...unplanned, fenceOverride: { region: "primary", reason } },
      held.status,
    );
    expect(status.phase).toBe("Completed");
    expect(status.fence?.overridden?.reason).toBe(reason);
    expect(decisions.flatMap((d) => d.actions).filter((a) => a.kind === "fence")).toEqual([]);
    expect(world.fenceCalls).toBe(calls);
    expect(world.promoteCalls).toBe(1);
  });

  it("an override already in spec when the fence is requested is not used: the fence is tried first", () => {
    const world = new World();
    lostPrimary(world);
    world.fenceTakesEffect = false;
    const stale = {
      ...unplanned,
      fenceOverride: { region: "primary" as const, reason: "left over from an earlier incident" },
    };
    const { status } = run(world, stale, undefined, { maxSteps: 30, until: () => false });
    expect(status.stage).toBe("Fence");
    expect(world.fenceCalls).toBe(1);
    expect(world.promoteCalls).toBe(0);
    expect(status.message).toMatch(/was already in spec \(generation 1\) when this fence was requested/);
    expect(status.message).toMatch(/edit spec.fenceOverride.reason to confirm primary is dead/);
  });
});

describe("decideNextStep: automatic primary-loss failover", () => {
  const automatic: RegionFailoverSpec = {
    activeRegion: "primary",
    automatic: { enabled: true, confirmationSeconds: 3, minFailingSignals: 2 },
  };
  const lost = (world: World) => {
    world.lossSignals = [
      { signal: "database", healthy: false, detail: "connection refused" },
      { signal: "readiness", healthy: false, detail: "HTTP 503" },
      { signal: "dnsHealthCheck", healthy: false, detail: "Failure" },
    ];
    world.lagSeconds = undefined;
  };
  const fine: LossSignalObservation[] = [
    { signal: "database", healthy: true },
    { signal: "readiness", healthy: true },
    { signal: "dnsHealthCheck", healthy: true },
  ];

  it("fences the lost primary, then promotes, then stays put until a human acknowledges", () => {
    const world = new World();
    world.lossSignals = structuredClone(fine);
    const steady = run(world, automatic, undefined, { maxSteps: 3, until: () => false }).status;
    expect(steady.phase).toBe("Steady");
    lost(world);
    let fenceRequestedBeforePromotion = false;
    const { status, decisions, stagesSeen } = run(world, automatic, steady, {
      before: (_step, w, s) => {
        if (s?.promotion && s.fence?.completedAt) fenceRequestedBeforePromotion = true;
        if (s?.promotion && !s.fence?.completedAt)
          throw new Error("promotion requested before the fence completed");
      },
    });
    expect(status.phase).toBe("Completed");
    expect(status.servingRegion).toBe("secondary");
    expect(stagesSeen).toEqual(expect.arrayContaining(["Fence", "Promote"]));
    expect(stagesSeen.indexOf("Fence")).toBeLessThan(stagesSeen.indexOf("Promote"));
    expect(fenceRequestedBeforePromotion).toBe(true);
    expect(world.fenceCalls).toBe(1);
    expect(world.promoteCalls).toBe(1);
    expect(world.fenced.primary).toBe(true);
    expect(status.fence).toMatchObject({ target: "primary", completedAt: expect.any(String) });
    expect(status.automatic).toMatchObject({ lostRegion: "primary", triggeredAtGeneration: 1 });
    // Confirmation held for spec.automatic.confirmationSeconds before anything started.
    const suspectSince = decisions.find((d) => d.status.automatic?.suspectSince)!.status.automatic!
      .suspectSince!;
    const confirmedAfter = (Date.parse(status.automatic!.triggeredAt!) - Date.parse(suspectSince)) / 1000;
    expect(confirmedAfter).toBeGreaterThanOrEqual(3);
    const reasons = decisions.flatMap((d) => d.events.map((e) => e.reason));
    expect(reasons).toEqual(expect.arrayContaining(["AutomaticFailoverStarted", "OldPrimaryFenced"]));
    // The Event says what each signal read, the DNS health check's among them.
    const started = decisions.flatMap((d) => d.events).find((e) => e.reason === "AutomaticFailoverStarted")!;
    expect(started.note).toMatch(
      /Signals: database failing \(connection refused\); readiness failing \(HTTP 503\); dnsHealthCheck failing \(Failure\)/,
    );
    expect(condition(status, "OldPrimaryFenced")?.status).toBe("True");

    // spec still says primary, generation unchanged: no flip back, and status says what to do.
    const after = run(world, automatic, status, { maxSteps: 5, until: () => false }).status;
    expect(after.phase).toBe("Completed");
    expect(after.servingRegion).toBe("secondary");
    expect(world.promoteCalls).toBe(1);
    expect(after.automatic?.message).toMatch(/awaits acknowledgement: set spec.activeRegion to secondary/);
    expect(after.failback).toMatchObject({ ready: false });
    expect(after.failback?.message).toMatch(/rebuild it \(pg_rewind or a fresh base backup/);

    // The old primary rebuilt as a replica: status says a planned flip back may start.
    world.replica.primary = true;
    world.lagSeconds = 0;
    world.lossSignals = structuredClone(fine);
    const acknowledged = { ...automatic, activeRegion: "secondary" as const };
    world.generation = 2;
    const ready = run(world, acknowledged, after, { maxSteps: 2, until: () => false });
    expect(ready.status.failback).toMatchObject({ ready: true, lagSeconds: 0 });
    expect(condition(ready.status, "FailbackReady")?.status).toBe("True");
    expect(ready.decisions.flatMap((d) => d.events.map((e) => e.reason))).toContain("FailbackReady");
  });

  it("never fails over for a flapping primary, even when every look lands on a down moment", () => {
    const world = new World();
    const { status } = run(world, automatic, undefined, {
      maxSteps: 120,
      until: () => false,
      before: (step, w) => {
        // Down at every look; the watcher saw it answer in between every other second.
        lost(w);
        if (step % 2 === 1) w.lossSignals![0]!.lastHealthyAt = new Date(w.now.getTime() - 300);
        if (step % 7 === 3) w.lossSignals = structuredClone(fine);
      },
    });
    expect(status.phase).toBe("Steady");
    expect(status.servingRegion).toBe("primary");
    expect(world.fenceCalls + world.promoteCalls).toBe(0);
    expect(status.automatic?.suspicionsCleared).toBeGreaterThan(10);
    expect(condition(status, "PrimaryLossDetected")?.status).not.toBe("True");
  });

  it("needs the quorum: one failing signal (an operator cut off from the primary's database) is not a loss", () => {
    const world = new World();
    world.lossSignals = [{ signal: "database", healthy: false, detail: "timeout" }, ...fine.slice(1)];
    const { status } = run(world, automatic, undefined, { maxSteps: 30, until: () => false });
    expect(status.phase).toBe("Steady");
    expect(world.fenceCalls).toBe(0);
    expect(status.automatic?.message).toMatch(/1\/3 signals failing, 2 needed/);
  });

  it("with all three signals required, a partition between the regions (DNS checkers still see the primary) is no loss", () => {
    const world = new World();
    world.lossSignals = [
      { signal: "database", healthy: false, detail: "timeout" },
      { signal: "readiness", healthy: false, detail: "timeout" },
      { signal: "dnsHealthCheck", healthy: true, detail: "3/3 Route 53 checkers see it healthy" },
    ];
    const { status } = run(
      world,
      { ...automatic, automatic: { enabled: true, confirmationSeconds: 3, minFailingSignals: 3 } },
      undefined,
      { maxSteps: 30, until: () => false },
    );
    expect(status.phase).toBe("Steady");
    expect(world.fenceCalls + world.promoteCalls).toBe(0);
    expect(status.automatic?.message).toMatch(/2\/3 signals failing, 3 needed/);
    expect(status.automatic?.signals).toContainEqual({
      signal: "dnsHealthCheck",
      healthy: true,
      detail: "3/3 Route 53 checkers see it healthy",
    });
  });

  it("holds before promotion, forever, when the fence cannot be confirmed (a partition), and abort does not undo it", () => {
    const world = new World();
    world.fenceTakesEffect = false;
    lost(world);
    const { status } = run(world, automatic, undefined, { maxSteps: 80, until: () => false });
    expect(status.stage).toBe("Fence");
    expect(status.phase).toBe("Progressing");
    expect(world.promoteCalls).toBe(0);
    expect(world.writable.secondary).toBe(false);
    expect(status.message).toMatch(/nothing is promoted until it is confirmed to refuse writes/);
    const aborted = run(world, { ...automatic, abort: true }, status, {
      maxSteps: 5,
      until: () => false,
    }).status;
    expect(aborted.stage).toBe("Fence");
    expect(world.routing.activeRegion).not.toBe("primary-again");
    expect(world.promoteCalls).toBe(0);
  });

  it("does nothing automatic when it is off, or while spec.paused", () => {
    for (const spec of [{ activeRegion: "primary" as const }, { ...automatic, paused: true }]) {
      const world = new World();
      lost(world);
      const { status } = run(world, spec, undefined, { maxSteps: 20, until: () => false });
      expect(status.phase).toBe("Steady");
      expect(world.fenceCalls + world.promoteCalls).toBe(0);
    }
  });

  it("fences once and promotes once however often the controller dies between reconciles", () => {
    for (let crash = 0; crash < 12; crash++) {
      const world = new World();
      lost(world);
      const { status } = run(world, automatic, undefined, { crashAfterWrite: [crash, crash + 1] });
      expect(`${status.phase} ${status.stage} ${status.message}`, `crash at ${crash}`).toMatch(/^Completed/);
      expect(world.promoteCalls, `crash at ${crash}`).toBe(1);
      expect(world.fenced.primary).toBe(true);
    }
  });
});
