// The pricing controller's gauges on the manager's /metrics: per model, its phase and challenger
// weight; per version in force, the analysis metrics last read from settled actuals. Labels are
// bounded: a model has at most 20 versions, and only the champion and challenger are exported.
import { Gauge, type Registry } from "prom-client";
import { PHASES, type Phase } from "../../api/pricingmodel.ts";
import type { VersionObservation } from "./decide.ts";

type Alias = "champion" | "challenger";
const VERSION_LABELS = ["model", "version", "alias"] as const;

export class PricingGauges {
  private readonly phase: Gauge<"model" | "phase">;
  private readonly challengerWeight: Gauge<"model">;
  private readonly variance: Gauge<(typeof VERSION_LABELS)[number]>;
  private readonly margin: Gauge<(typeof VERSION_LABELS)[number]>;
  private readonly capBreaches: Gauge<(typeof VERSION_LABELS)[number]>;
  private readonly samples: Gauge<(typeof VERSION_LABELS)[number]>;
  private readonly quotes: Gauge<(typeof VERSION_LABELS)[number]>;
  /** The version label sets exported per model, so a version that leaves is removed, not frozen. */
  private readonly exported = new Map<string, { version: string; alias: Alias }[]>();

  constructor(registry: Registry) {
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames: [...labelNames], registers: [registry] });
    this.phase = gauge("pricing_model_phase", "1 for the phase the PricingModel's rollout is in.", [
      "model",
      "phase",
    ]);
    this.challengerWeight = gauge(
      "pricing_model_challenger_weight_percent",
      "Percent of tenants priced by the challenger (0 after a rollback).",
      ["model"],
    );
    this.variance = gauge(
      "pricing_version_abs_variance_percent",
      "Mean absolute variance of quoted vs settled (invoiced) rates, percent, over the analysis window.",
      VERSION_LABELS,
    );
    this.margin = gauge(
      "pricing_version_margin_percent",
      "Realised margin over carrier cost of settled bookings, percent, over the analysis window.",
      VERSION_LABELS,
    );
    this.capBreaches = gauge(
      "pricing_version_cap_breaches",
      "Quotes the margin floor kept above a regional cap, over the analysis window.",
      VERSION_LABELS,
    );
    this.samples = gauge(
      "pricing_version_settled_samples",
      "Settled bookings quoted by the version in the analysis window (the analysis needs minSamples).",
      VERSION_LABELS,
    );
    this.quotes = gauge(
      "pricing_version_quotes",
      "Quotes priced by the version in the analysis window.",
      VERSION_LABELS,
    );
  }

  setRollout(model: string, phase: Phase, challengerWeight: number): void {
    for (const p of PHASES) this.phase.set({ model, phase: p }, p === phase ? 1 : 0);
    this.challengerWeight.set({ model }, challengerWeight);
  }

  setVersions(
    model: string,
    observed: Partial<Record<Alias, { version: string } & VersionObservation>>,
  ): void {
    const now = Object.entries(observed).map(([alias, o]) => ({ version: o.version, alias: alias as Alias }));
    for (const old of this.exported.get(model) ?? []) {
      if (now.some((n) => n.version === old.version && n.alias === old.alias)) continue;
      for (const g of this.versionGauges()) g.remove({ model, ...old });
    }
    this.exported.set(model, now);
    for (const [alias, o] of Object.entries(observed)) {
      const labels = { model, version: o.version, alias };
      // No settled sample means no variance or margin: an absent series, not a misleading 0.
      if (o.absVariancePercent === undefined) this.variance.remove(labels);
      else this.variance.set(labels, o.absVariancePercent);
      if (o.marginPercent === undefined) this.margin.remove(labels);
      else this.margin.set(labels, o.marginPercent);
      this.capBreaches.set(labels, o.capBreaches);
      this.samples.set(labels, o.samples);
      this.quotes.set(labels, o.quotes);
    }
  }

  /** The model is gone: its series go too. */
  forget(model: string): void {
    for (const p of PHASES) this.phase.remove({ model, phase: p });
    this.challengerWeight.remove({ model });
    for (const old of this.exported.get(model) ?? [])
      for (const g of this.versionGauges()) g.remove({ model, ...old });
    this.exported.delete(model);
  }

  private versionGauges() {
    return [this.variance, this.margin, this.capBreaches, this.samples, this.quotes];
  }
}
