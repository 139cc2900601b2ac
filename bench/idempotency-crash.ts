// `npm run drill:idempotency-crash`: the idempotency crash drill (tools/platform/idempotency-crash.ts)
// for many crashes in a row; exits 1 if any acknowledged answer was lost or a meter disagrees.
//   npm run drill:idempotency-crash -- --crashes 20 --clients 16
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { runCrashDrill } from "../tools/platform/idempotency-crash.ts";

const { values } = parseArgs({
  options: {
    crashes: { type: "string", default: "20" },
    clients: { type: "string", default: "16" },
  },
});
const started = performance.now();
const rounds = await runCrashDrill({
  rounds: Number(values.crashes),
  clients: Number(values.clients),
  log: (line) => console.log(line),
});
const acknowledged = rounds.reduce((n, r) => n + r.acknowledged, 0);
const lost = rounds.reduce((n, r) => n + r.lost.length, 0);
const last = rounds.at(-1);
const meterOk = rounds.every(
  (r) => r.meter === r.answeredKeys && r.quotes === r.answeredKeys && r.bulkMeter === r.bulkJobs,
);
const byRoute = Object.fromEntries(
  Object.keys(rounds[0]?.acknowledgedByRoute ?? {}).map((route) => [
    route,
    rounds.reduce((n, r) => n + r.acknowledgedByRoute[route as keyof typeof r.acknowledgedByRoute], 0),
  ]),
);
console.log(
  `\n${rounds.length} crashes, ${acknowledged} answers acknowledged before a crash (${JSON.stringify(byRoute)}), ${lost} lost; ` +
    `meters ${meterOk ? "equal" : "DIFFER FROM"} what the tenant holds after every crash (quotes ${last?.meter} = ${last?.answeredKeys}, bulk jobs ${last?.bulkMeter} = ${last?.bulkJobs}); ` +
    `${((performance.now() - started) / 1000).toFixed(0)} s on ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
process.exitCode = lost === 0 && meterOk ? 0 : 1;
