// npm run plan -- --stack <name> [--json] [--config key=value ...]
// Plans a region stack offline (Pulumi mocks, no credentials) and prints the resource tree.
import { parseArgs } from "node:util";

import { knownStacks, PlanError, planStack } from "./plan.ts";
import { renderTree } from "./review.ts";

const usage = `Usage: npm run plan -- --stack <${knownStacks().join("|")}> [--json] [--config key=value ...]`;

const { values } = parseArgs({
  options: {
    stack: { type: "string" },
    json: { type: "boolean", default: false },
    config: { type: "string", multiple: true, default: [] },
    help: { type: "boolean", default: false },
  },
});

if (values.help || !values.stack) {
  console.error(usage);
  process.exit(values.help ? 0 : 64);
}

const overrides: Record<string, string> = {};
for (const pair of values.config ?? []) {
  const at = pair.indexOf("=");
  if (at <= 0) {
    console.error(`--config expects key=value, got "${pair}"\n${usage}`);
    process.exit(64);
  }
  overrides[pair.slice(0, at)] = pair.slice(at + 1);
}

try {
  const started = performance.now();
  const plan = await planStack(values.stack, { config: overrides });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
  } else {
    console.log(renderTree(plan));
    console.log(
      `\nplanned in ${((performance.now() - started) / 1000).toFixed(1)} s (offline, Pulumi mocks)`,
    );
  }
} catch (err) {
  console.error(err instanceof PlanError ? err.message : err);
  process.exit(1);
}
