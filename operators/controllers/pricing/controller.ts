// Wires the pricing reconciler into a manager: one key per PricingModel, reconciled when its spec
// changes (an edit, the rollback button) and again at the end of each hold or analysis interval.
import type { Logger } from "pino";
import type pg from "pg";
import type { PricingModel } from "../../api/pricingmodel.ts";
import { pricingModels } from "../../api/resources.ts";
import { Controller } from "../../runtime/controller.ts";
import { EventRecorder } from "../../runtime/events.ts";
import type { Manager } from "../../runtime/manager.ts";
import { specOrMetadataChanged } from "../../runtime/predicates.ts";
import { PricingGauges } from "./gauges.ts";
import { PricingReconciler } from "./reconciler.ts";

export function addPricingController(
  manager: Manager,
  options: { pool: pg.Pool; namespace: string; analysisIntervalMs: number; log?: Logger },
): Controller {
  const models = manager.informer<PricingModel>(pricingModels);
  const log = (options.log ?? manager.log).child({ controller: "pricing" });
  const reconciler = new PricingReconciler({
    client: manager.client,
    pool: options.pool,
    events: new EventRecorder(
      manager.client,
      "platform.freight.dev/pricing-controller",
      manager.identity,
      log,
    ),
    gauges: new PricingGauges(manager.metrics.registry),
    log,
    namespace: options.namespace,
    analysisIntervalMs: options.analysisIntervalMs,
  });
  // One worker: a handful of models, and each one's steps must never be decided concurrently.
  const controller = new Controller({ name: "pricing", reconciler, workers: 1 });
  // Our own status writes must not wake us; the reconciler requeues itself for holds and analyses.
  controller.watch(models, { predicates: [specOrMetadataChanged] });
  manager.add(controller);
  return controller;
}
