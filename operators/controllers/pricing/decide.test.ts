import { describe, expect, it } from "vitest";
import type { ModelVersion, PricingModelSpec, PricingModelStatus } from "../../api/pricingmodel.ts";
import { decide, sampleRatioPValue, splitOf, type Observed, type VersionObservation } from "./decide.ts";

const version = (name: string): ModelVersion => ({
  name,
  coefficients: { linehaulMultiplier: 1, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
  guardrails: { minMarginPercent: 8 },
});

function spec(overrides: Partial<PricingModelSpec> = {}): PricingModelSpec {
  return {
    versions: [version("v1"), version("v2")],
    aliases: { champion: "v1", challenger: "v2" },
    steps: [
      { weights: { champion: 90, challenger: 10 }, holdSeconds: 600, analysis: {} },
      { weights: { champion: 50, challenger: 50 }, holdSeconds: 600, analysis: {} },
    ],
    analysis: { minSamples: 50 },
    ...overrides,
  };
}

const good = (quotes: number, samples = 80): VersionObservation => ({
  samples,
  quotes,
  absVariancePercent: 4,
  marginPercent: 14,
  capBreaches: 0,
});

/** A world where quotes follow the weights and the challenger behaves as `challenger` says. */
function world(challenger: Partial<VersionObservation>) {
  return (status: PricingModelStatus, now: Date): Observed => {
    const share = (status.weights?.challenger ?? 0) / 100;
    return {
      now,
      metrics: {
        champion: good(Math.round(10_000 * (1 - share))),
        challenger: { ...good(Math.round(10_000 * share)), ...challenger },
      },
    };
  };
}

/** Runs the controller every minute for `minutes`, returning every status it wrote. */
function run(
  s: PricingModelSpec,
  observe: (status: PricingModelStatus, now: Date) => Observed,
  minutes: number,
  lose: (tick: number) => boolean = () => false,
): PricingModelStatus[] {
  let status: PricingModelStatus = {};
  const written: PricingModelStatus[] = [];
  const start = Date.parse("2026-12-01T00:00:00Z");
  for (let tick = 0; tick < minutes; tick++) {
    const now = new Date(start + tick * 60_000);
    const next = decide(s, status, observe(status, now));
    // A crash before the status write: the decision is lost and made again from the old status.
    if (next !== status && !lose(tick)) {
      written.push(next);
      status = next;
    }
  }
  return written;
}

const phases = (statuses: PricingModelStatus[]) =>
  statuses
    .map((s) => `${s.phase}:${s.step ?? "-"}:${s.weights?.challenger ?? "-"}`)
    .filter((p, i, all) => p !== all[i - 1]);

describe("pricing rollout decisions", () => {
  it("promotes a good challenger through 10 % and 50 % after each hold and passing analysis", () => {
    const written = run(spec(), world({}), 60);
    expect(phases(written)).toEqual(["Progressing:0:10", "Progressing:1:50", "Promoted:1:100"]);
    const last = written.at(-1)!;
    expect(splitOf(last)).toEqual({
      champion: "v1",
      challenger: "v2",
      weights: { champion: 0, challenger: 100 },
    });
  });

  describe("with a passing backtest required for promotion", () => {
    const gated = spec({ analysis: { minSamples: 50, requirePassingBacktest: true, backtestMaxAgeDays: 8 } });
    const withBacktest =
      (backtest: (now: Date) => Observed["backtest"], error?: string) =>
      (status: PricingModelStatus, now: Date): Observed => ({
        ...world({})(status, now),
        backtest: backtest(now),
        ...(error ? { backtestError: error } : {}),
      });
    const daysBefore = (now: Date, days: number) => new Date(now.getTime() - days * 86_400_000);

    it("waits at the last step without one, and promotes once a recent one of this exact version passed", () => {
      let stored: Observed["backtest"] = null;
      const written = run(
        gated,
        withBacktest(() => stored),
        40,
      );
      expect(phases(written)).toEqual(["Progressing:0:10", "Progressing:1:50", "Paused:1:50"]);
      expect(written.at(-1)!.pauseReason).toMatch(
        /^waits for a passing backtest of v2 \(npm run pricing:backtest -- --model <model> --version v2/,
      );
      // The weekly CronJob ran: the next look promotes.
      stored = { passed: true, sameVersion: true, ranAt: new Date("2026-12-01T00:20:00Z"), failures: [] };
      const next = decide(
        gated,
        written.at(-1)!,
        withBacktest(() => stored)(written.at(-1)!, new Date("2026-12-01T00:45:00Z")),
      );
      expect(next.phase).toBe("Promoted");
    });

    it("keeps waiting on a stale backtest, one of an earlier spec of the version, or one it cannot read", () => {
      const stale = run(
        gated,
        withBacktest((now) => ({ passed: true, sameVersion: true, ranAt: daysBefore(now, 9), failures: [] })),
        40,
      ).at(-1)!;
      expect(stale.phase).toBe("Paused");
      expect(stale.pauseReason).toMatch(/is 9\.0 days old \(at most 8\)/);
      const edited = run(
        gated,
        withBacktest((now) => ({
          passed: true,
          sameVersion: false,
          ranAt: daysBefore(now, 1),
          failures: [],
        })),
        40,
      ).at(-1)!;
      expect(edited.pauseReason).toMatch(/replayed an earlier spec of it/);
      const unreadable = run(
        gated,
        withBacktest(() => undefined, "connection refused"),
        40,
      ).at(-1)!;
      expect(unreadable.phase).toBe("Paused");
      expect(unreadable.pauseReason).toMatch(/could not be read: connection refused/);
    });

    it("rolls back on a failed backtest of this version, saying which guardrail failed", () => {
      const last = run(
        gated,
        withBacktest((now) => ({
          passed: false,
          sameVersion: true,
          ranAt: daysBefore(now, 1),
          failures: ["absolute variance 12.4 % > 10 %"],
        })),
        40,
      ).at(-1)!;
      expect(last.phase).toBe("RolledBack");
      expect(last.rollback?.reason).toBe("backtest of v2 failed: absolute variance 12.4 % > 10 %");
      expect(splitOf(last)?.weights).toEqual({ champion: 100, challenger: 0 });
    });
  });

  it("rolls a drifting challenger back at its first analysis: weight 0 at once, reason on status", () => {
    const written = run(spec(), world({ absVariancePercent: 14.2 }), 60);
    expect(phases(written)).toEqual(["Progressing:0:10", "RolledBack:0:0"]);
    const last = written.at(-1)!;
    expect(last.rollback).toMatchObject({
      challenger: "v2",
      reason: "v2: absolute variance vs actuals 14.20 % > 10 %",
    });
    expect(splitOf(last)).toEqual({ champion: "v1", weights: { champion: 100, challenger: 0 } });
  });

  it("rolls back on a margin under the version's floor, a cap breach, or a sample-ratio mismatch", () => {
    expect(run(spec(), world({ marginPercent: 5 }), 30).at(-1)!.rollback?.reason).toMatch(
      /margin 5.00 % < floor 8 %/,
    );
    expect(run(spec(), world({ capBreaches: 3 }), 30).at(-1)!.rollback?.reason).toMatch(
      /3 quotes above a regional cap/,
    );
    expect(run(spec(), world({ quotes: 2_000 }), 30).at(-1)!.rollback?.reason).toMatch(
      /sample-ratio mismatch/,
    );
  });

  it("pauses on too few samples, never promoting or rolling back, and resumes when they arrive", () => {
    let samples = 10;
    const observe = (status: PricingModelStatus, now: Date): Observed => {
      const base = world({ absVariancePercent: 30 })(status, now) as Extract<Observed, { metrics: unknown }>;
      return { now, metrics: { ...base.metrics, challenger: { ...base.metrics.challenger, samples } } };
    };
    const paused = run(spec(), observe, 120);
    expect(paused.at(-1)).toMatchObject({
      phase: "Paused",
      step: 0,
      weights: { champion: 90, challenger: 10 },
    });
    expect(paused.at(-1)!.pauseReason).toMatch(/inconclusive: 10 \(challenger\)/);
    expect(paused.some((s) => s.phase === "RolledBack" || s.phase === "Promoted")).toBe(false);
    samples = 80;
    expect(run(spec(), observe, 120).at(-1)!.phase).toBe("RolledBack");
  });

  it("pauses when the metrics cannot be read, keeping the split", () => {
    const written = run(spec(), (_s, now) => ({ now, metricsError: "connection refused" }), 60);
    expect(written.at(-1)).toMatchObject({ phase: "Paused", weights: { challenger: 10 } });
    expect(written.at(-1)!.pauseReason).toBe("analysis could not run: connection refused");
  });

  it("fails a step past its deadline; with onFailure Freeze the weights stay for a human", () => {
    const stuck = spec({ stepDeadlineSeconds: 1800, analysis: { minSamples: 1_000 } });
    expect(run(stuck, world({}), 60).at(-1)!.rollback?.reason).toMatch(/past its 1800 s deadline/);
    const frozen = run({ ...stuck, onFailure: "Freeze" }, world({}), 60).at(-1)!;
    expect(frozen).toMatchObject({ phase: "Frozen", weights: { challenger: 10 } });
    expect(splitOf(frozen)?.weights.challenger).toBe(10);
  });

  it("rolls back at once on spec.abort, and holds on spec.paused", () => {
    const started = decide(spec(), {}, { now: new Date() });
    expect(decide(spec({ abort: true }), started, { now: new Date() })).toMatchObject({
      phase: "RolledBack",
      weights: { challenger: 0 },
      rollback: { reason: "spec.abort (the rollback button)" },
    });
    expect(decide(spec({ paused: true }), started, { now: new Date() })).toMatchObject({
      phase: "Paused",
      weights: { challenger: 10 },
    });
  });

  it("repeats no transition when killed before any status write", () => {
    const clean = run(spec(), world({}), 60);
    for (let seed = 1; seed <= 20; seed++) {
      const lossy = run(spec(), world({}), 70, (tick) => (tick * 7919 + seed * 104_729) % 3 === 0);
      expect(phases(lossy)).toEqual(phases(clean));
    }
    // Decided again from the status it produced, nothing changes.
    const last = clean.at(-1)!;
    expect(decide(spec(), last, world({})(last, new Date("2026-12-02T00:00:00Z")))).toBe(last);
  });

  it("computes the sample-ratio p-value: tiny on a skewed split, large on a fair one", () => {
    expect(
      sampleRatioPValue({ champion: 9_000, challenger: 1_000 }, { champion: 90, challenger: 10 }),
    ).toBeGreaterThan(0.9);
    expect(
      sampleRatioPValue({ champion: 9_200, challenger: 800 }, { champion: 90, challenger: 10 }),
    ).toBeLessThan(1e-9);
  });
});
