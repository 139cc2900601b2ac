// `npm run bench:pricing-rollback`: how long a PricingModel rollback takes to reach every quote API
// replica. Three `node app/server.ts` processes on one database (as a Deployment's pods), a tenant
// on the challenger (weight 100), then the rollback written to pricing_model_splits as the
// controller writes it (challenger weight 0); each replica is quoted until it prices with the
// champion. Per round: each replica's time from the write to its first champion quote. Goal: every
// replica within 5 s.
//   npm run bench:pricing-rollback -- --rounds 10
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { createPool } from "../app/db/pool.ts";
import { DEFAULT_PRICING_MODEL } from "../app/pricing/pricing-splits.ts";
import type { ActiveSplit, PricingVersion } from "../app/pricing/model-version.ts";
import { startApiReplicas } from "../tools/platform/api-replicas.ts";
import { measureSplitReach, publishSplit, rollBackSplit } from "../tools/platform/pricing-rollout.ts";
import { startTestDatabase } from "../tools/postgres/test-database.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "10" },
    replicas: { type: "string", default: "3" },
    json: { type: "boolean", default: false },
  },
});
const rounds = Number(values.rounds);
const replicaCount = Number(values.replicas);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(replicaCount) || replicaCount < 1) {
  console.error("--rounds and --replicas must be whole numbers of at least 1");
  process.exit(2);
}

const version = (name: string, linehaulMultiplier: number): PricingVersion => ({
  name,
  coefficients: { linehaulMultiplier, fuelSurchargeMultiplier: 1, marginRate: 0.15 },
  guardrails: { minMarginPercent: 8 },
});
const onChallenger: ActiveSplit = {
  model: DEFAULT_PRICING_MODEL,
  bucketVersion: 1,
  champion: version("champion", 1),
  challenger: version("challenger", 1.1),
  challengerWeight: 100,
};

const db = await startTestDatabase({ seed: "demo" });
const replicas = await startApiReplicas(db.urls.app, replicaCount);
const operator = createPool(db.urls.operator, 2);
try {
  const apiKey = db.demoKeys["acme-logistics"]!;
  const perReplica: number[][] = [];
  for (let r = 0; r < rounds; r++) {
    // Everyone on the challenger first (not timed), then the rollback (timed).
    const setup = await measureSplitReach(replicas.urls, apiKey, "challenger", () =>
      publishSplit(operator, onChallenger, `bench-${r}`),
    );
    if (setup.effectiveMs.some((ms) => !Number.isFinite(ms)))
      throw new Error(
        "a replica never priced with the challenger: is it listening on pricing_split_changed?",
      );
    const reach = await measureSplitReach(replicas.urls, apiKey, "champion", () =>
      rollBackSplit(operator, onChallenger.model),
    );
    perReplica.push(reach.effectiveMs);
  }
  const worst = perReplica.map((round) => Math.max(...round)).sort((a, b) => a - b);
  const at = (p: number) => worst[Math.min(worst.length - 1, Math.ceil((p / 100) * worst.length) - 1)]!;
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const goal = worst[worst.length - 1]! <= 5000;
  if (values.json) {
    console.log(
      JSON.stringify({ machine, rounds, replicas: replicaCount, perReplicaMs: perReplica, goal }, null, 2),
    );
  } else {
    console.log(`\nPricing rollback reaching ${replicaCount} API replicas, ${rounds} round(s); ${machine}\n`);
    for (const [i, round] of perReplica.entries())
      console.log(
        `round ${String(i + 1).padStart(2)}: ${round.map((ms) => `${Math.round(ms)} ms`).join(", ")}`,
      );
    console.log(
      `\nLast replica priced with the champion: median ${Math.round(at(50))} ms, p95 ${Math.round(at(95))} ms, max ${Math.round(worst[worst.length - 1]!)} ms after the rollback; goal <= 5 s on every replica: ${goal ? "met" : "NOT met"}.`,
    );
  }
} finally {
  await operator.end();
  await replicas.stop();
  await db.stop();
}
