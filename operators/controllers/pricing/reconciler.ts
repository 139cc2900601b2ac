// PricingModel reconciler: reads the model fresh from the API server, reads each version's analysis
// metrics from settled actuals, lets decide() choose the rollout's next status, writes that status,
// and only then publishes the split it implies to pricing_model_splits. The row follows from the
// stored status alone (splitOf), so a controller killed after the status write and before the row
// write finds its decision in status on restart, decides nothing new, and writes the row it owed:
// no transition is repeated. Both writes compare first, so a steady state writes nothing.
import type { Logger } from "pino";
import type pg from "pg";
import {
  ANALYSIS_DEFAULTS,
  DEFAULT_STEPS,
  type PricingModel,
  type PricingModelStatus,
} from "../../api/pricingmodel.ts";
import { pricingModels } from "../../api/resources.ts";
import type { ReconcileResult, Reconciler } from "../../runtime/controller.ts";
import type { EventRecorder } from "../../runtime/events.ts";
import type { ObjectKey } from "../../runtime/keys.ts";
import { isNotFound, type KubeClient } from "../../runtime/kube.ts";
import { applyStatusIfChanged } from "../../runtime/status.ts";
import { decide, splitOf, type Observed, type VersionObservation } from "./decide.ts";
import type { PricingGauges } from "./gauges.ts";
import { observeVersions } from "./metrics.ts";
import { latestBacktest, versionChecksum as backtestChecksum } from "../../../app/pricing/backtest.ts";
import { publishSplit, readSplit, sameSplit, type PublishedSplit } from "./split-store.ts";
import {
  completeStatus,
  desiredSplit,
  pricingVersion,
  reasonCode,
  specHash,
  specProblem,
  type SpecProblem,
} from "./status.ts";

export const PRICING_FIELD_MANAGER = "pricing-controller";

export interface PricingReconcilerDeps {
  client: KubeClient;
  pool: pg.Pool;
  events: EventRecorder;
  gauges: PricingGauges;
  log: Logger;
  /** The one namespace whose PricingModels are served (the row is keyed by the model's name). */
  namespace: string;
  /** How often a model's metrics are read again while nothing else wakes it. */
  analysisIntervalMs: number;
  now?: () => Date;
}

export class PricingReconciler implements Reconciler {
  private readonly deps: PricingReconcilerDeps;

  constructor(deps: PricingReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(key: ObjectKey): Promise<ReconcileResult | void> {
    const { client, pool, gauges, log, analysisIntervalMs } = this.deps;
    let object: PricingModel;
    try {
      // Fresh, not from the informer: the status written a moment ago must be the one decided on.
      object = await client.get<PricingModel>(pricingModels, key.name, key.namespace);
    } catch (error) {
      if (isNotFound(error)) {
        // The row stays: deleting the object must not leave the quote path without a split.
        gauges.forget(key.name);
        return;
      }
      throw error;
    }
    if (object.metadata.deletionTimestamp) return;
    const model = object.metadata.name;
    const spec = object.spec;
    const stored: PricingModelStatus = object.status ?? {};
    const now = this.deps.now?.() ?? new Date();
    const generation = object.metadata.generation;
    const hash = specHash(spec);

    const problem: SpecProblem | undefined =
      object.metadata.namespace === this.deps.namespace
        ? specProblem(spec, stored)
        : {
            reason: "WrongNamespace",
            message: `PricingModels are served from namespace ${this.deps.namespace} only (the split is keyed by the model's name); recreate ${model} there`,
          };

    let decided = stored;
    let desired: PublishedSplit | undefined;
    let splitChanges = false;
    if (!problem) {
      const observed = await this.observe(model, object);
      decided = decide(spec, stored, observed, generation);
      if ("metrics" in observed) this.exportVersions(model, decided, observed.metrics);
      desired = { model, ...desiredSplit(model, spec, decided), specHash: hash };
      // A row that cannot be read is rewritten below (and the reconcile retried if that fails too).
      const row = await readSplit(pool, model).catch(() => undefined);
      splitChanges = !sameSplit(row, desired);
    }
    const status = completeStatus({ spec, stored, decided, problem, generation, hash, splitChanges, now });

    // The event goes first, under a key of the transition: a restart re-deciding it records nothing new.
    await this.recordTransition(object, stored, status, problem);
    if (
      await applyStatusIfChanged(client, pricingModels, object, status, {
        fieldManager: PRICING_FIELD_MANAGER,
      })
    ) {
      if (stored.phase !== status.phase || stored.step !== status.step)
        log.info(
          { model, phase: status.phase, step: status.step, weights: status.weights, message: status.message },
          "pricing rollout progressed",
        );
    }
    if (desired && (await publishSplit(pool, { ...desired, specHash: status.lastAppliedHash ?? hash }))) {
      log.info({ model, challengerWeight: desired.challengerWeight }, "pricing split published");
    }
    const split = splitOf(status);
    if (status.phase) gauges.setRollout(model, status.phase, split?.weights.challenger ?? 0);
    return { requeueAfterMs: this.nextLook(object, status, now, analysisIntervalMs) };
  }

  /** The analysis metrics of the versions in force; a failed read pauses the analysis, never fails it. */
  private async observe(model: string, object: PricingModel): Promise<Observed> {
    const { spec } = object;
    const now = this.deps.now?.() ?? new Date();
    const champion = spec.aliases.champion;
    const challenger = spec.aliases.challenger;
    const windowDays = spec.analysis?.windowDays ?? ANALYSIS_DEFAULTS.windowDays;
    let metrics: { champion: VersionObservation; challenger: VersionObservation };
    try {
      metrics = await observeVersions(
        this.deps.pool,
        { champion, challenger: challenger ?? champion },
        windowDays,
      );
    } catch (error) {
      const message = (error as Error).message;
      this.deps.log.warn({ model, err: message }, "pricing analysis metrics could not be read");
      return { now, metricsError: `reading settled actuals from PostgreSQL failed: ${message}` };
    }
    return { now, metrics, ...(await this.observeBacktest(model, object)) };
  }

  /** The challenger's latest backtest, read only when the spec makes promotion wait for one. */
  private async observeBacktest(
    model: string,
    object: PricingModel,
  ): Promise<Pick<Observed, "backtest" | "backtestError">> {
    const { spec } = object;
    const challenger = spec.versions.find((v) => v.name === spec.aliases.challenger);
    if (!spec.analysis?.requirePassingBacktest || !challenger) return {};
    try {
      const stored = await latestBacktest(this.deps.pool, model, challenger.name);
      if (!stored) return { backtest: null };
      return {
        backtest: {
          passed: stored.passed,
          // The backtest's own checksum of what it replayed (app/pricing/backtest.ts).
          sameVersion: stored.versionChecksum === backtestChecksum(pricingVersion(challenger)),
          ranAt: new Date(stored.ranAt),
          failures: stored.failures,
        },
      };
    } catch (error) {
      return { backtestError: (error as Error).message };
    }
  }

  /**
   * The versions that price (or are under analysis) on the gauges: a rolled-back challenger prices
   * nobody, so its series go, and the variance alert speaks only of versions in force.
   */
  private exportVersions(
    model: string,
    status: PricingModelStatus,
    metrics: { champion: VersionObservation; challenger: VersionObservation },
  ): void {
    const inForce = status.challenger !== undefined && status.phase !== "RolledBack";
    this.deps.gauges.setVersions(model, {
      champion: { version: status.champion!, ...metrics.champion },
      ...(inForce ? { challenger: { version: status.challenger!, ...metrics.challenger } } : {}),
    });
  }

  /** When to look again: at the end of the current hold when that comes first, else the interval. */
  private nextLook(object: PricingModel, status: PricingModelStatus, now: Date, intervalMs: number): number {
    if (status.phase !== "Progressing" && status.phase !== "Paused") return intervalMs;
    const steps = object.spec.steps?.length ? object.spec.steps : DEFAULT_STEPS;
    const step = steps[status.step ?? 0];
    const started = Date.parse(status.stepStartedAt ?? now.toISOString());
    const holdEnds = started + (step?.holdSeconds ?? 0) * 1000;
    const untilHoldEnds = holdEnds - now.getTime();
    // A step without a hold (or past it) was just entered: its analysis runs on the next look.
    return untilHoldEnds > 0 ? Math.min(intervalMs, untilHoldEnds + 50) : Math.min(intervalMs, 200);
  }

  private async recordTransition(
    object: PricingModel,
    before: PricingModelStatus,
    after: PricingModelStatus,
    problem: SpecProblem | undefined,
  ): Promise<void> {
    const { events } = this.deps;
    const generation = object.metadata.generation ?? 0;
    if (problem) {
      await events.record(object, {
        type: "Warning",
        reason: "SpecRefused",
        action: "Validate",
        note: `${problem.reason}: ${problem.message}.`,
        dedupeKey: `refused|${generation}|${problem.reason}`,
      });
      return;
    }
    if (before.phase === after.phase && before.step === after.step) return;
    const experiment = `${after.champion}>${after.challenger ?? ""}`;
    const dedupeKey = `${generation}|${experiment}|${after.phase}|${after.step ?? ""}`;
    const note = after.message ?? `${after.phase}`;
    switch (after.phase) {
      case "RolledBack":
        return events.record(object, {
          type: "Warning",
          reason: "RolledBack",
          action: "Rollback",
          note: `${note} (${reasonCode(after.rollback?.reason ?? "")})`,
          dedupeKey,
        });
      case "Frozen":
        return events.record(object, {
          type: "Warning",
          reason: "Frozen",
          action: "Freeze",
          note,
          dedupeKey,
        });
      case "Paused":
        return events.record(object, { type: "Normal", reason: "Paused", action: "Pause", note, dedupeKey });
      case "Promoted":
        return events.record(object, {
          type: "Normal",
          reason: "Promoted",
          action: "Promote",
          note,
          dedupeKey,
        });
      case "Progressing":
        // Resuming a paused step is not a new step: only a step change is worth an event.
        if (before.phase === "Paused" && before.step === after.step && before.challenger === after.challenger)
          return;
        return events.record(object, {
          type: "Normal",
          reason: after.step === 0 ? "ExperimentStarted" : "StepAdvanced",
          action: "SetWeights",
          note,
          dedupeKey,
        });
      default:
        return events.record(object, {
          type: "Normal",
          reason: "Stable",
          action: "SetWeights",
          note,
          dedupeKey,
        });
    }
  }
}
