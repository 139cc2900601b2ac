// `npm run policy:check`: plans every region stack offline (stacks/plan.ts, under Pulumi's mocks),
// runs the whole policy pack against each plan and prints a report. Exits 1 when a mandatory
// policy is violated, 2 when the check itself cannot run (bad arguments, bad config, no plan).
//
//   npm run policy:check                                # both stacks
//   npm run policy:check -- --stack prod-primary        # one stack
//   npm run policy:check -- --config policy-config.json # same file as `pulumi preview --policy-pack-config`
//   npm run policy:check -- --fixture broken            # the deliberately broken copy (must fail)
//   npm run policy:check -- --json                      # machine-readable report
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { PolicyPackConfig } from "@pulumi/policy";
import { brokenCopyOf } from "./fixtures/broken.ts";
import type { PlanResource, PlanStack, StackReport } from "./offline.ts";
import { checkStack, validatePackConfig } from "./offline.ts";
import { PACK_NAME, packArgs, rules } from "./pack.ts";
import packageJson from "./package.json" with { type: "json" };

export const STACKS = ["prod-primary", "prod-secondary"] as const;

export type PlanFn = (
  stack: string,
  options?: { transform?: (r: PlanResource) => PlanResource | undefined },
) => Promise<PlanStack>;

export interface CheckRun {
  reports: StackReport[];
  fixture?: string;
  seconds: number;
}

export class UsageError extends Error {}

const USAGE =
  "Usage: npm run policy:check -- [--stack <name>]... [--config <policy-pack-config.json>] [--fixture broken] [--json]";

/** Loads stacks/plan.ts lazily, so a missing or broken plan is reported as such. */
async function loadPlanner(): Promise<PlanFn> {
  try {
    // Typed without a cast, so a change to the planner's contract breaks the typecheck here.
    const { planStack }: { planStack: PlanFn } = await import("../stacks/plan.ts");
    return planStack;
  } catch (err) {
    throw new UsageError(
      `Cannot load the offline planner stacks/plan.ts (${err instanceof Error ? err.message : String(err)}). ` +
        "It comes with the region stacks; run `npm run plan -- --stack prod-primary` to see whether the stacks plan.",
      { cause: err },
    );
  }
}

export async function runCheck(options: {
  stacks: readonly string[];
  fixture?: "broken";
  config?: PolicyPackConfig;
  planStack?: PlanFn;
}): Promise<CheckRun> {
  const started = performance.now();
  // A config mistake is reported before spending seconds on planning.
  const problems = validatePackConfig(rules, options.config ?? {});
  if (problems.length > 0) throw new UsageError(`Invalid policy pack config:\n- ${problems.join("\n- ")}`);
  const planStack = options.planStack ?? (await loadPlanner());
  // Each plan runs in its own worker process, so both stacks plan in parallel.
  const plans = await Promise.all(
    options.stacks.map(async (stack) => {
      const broken = options.fixture === "broken" ? brokenCopyOf(stack) : undefined;
      let planned: PlanStack;
      try {
        planned = await planStack(stack, broken ? { transform: broken.transform } : {});
      } catch (err) {
        throw new UsageError(
          `Planning stack ${stack} failed, so no policy could run:\n${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      broken?.assertApplied();
      return planned;
    }),
  );
  const reports: StackReport[] = [];
  for (const planned of plans) {
    reports.push(
      await checkStack(planned, {
        rules,
        config: options.config ?? {},
        packEnforcementLevel: packArgs.enforcementLevel ?? "mandatory",
      }),
    );
  }
  const run: CheckRun = { reports, seconds: (performance.now() - started) / 1000 };
  if (options.fixture) run.fixture = options.fixture;
  return run;
}

export function summarize(reports: readonly StackReport[]): {
  mandatory: number;
  advisory: number;
  /** Resources with at least one violation. */
  resources: number;
  /** Resources the rules were run on. */
  checked: number;
  stacks: number;
} {
  const violations = reports.flatMap((r) => r.violations);
  return {
    mandatory: violations.filter((v) => v.enforcementLevel === "mandatory").length,
    advisory: violations.filter((v) => v.enforcementLevel === "advisory").length,
    resources: new Set(violations.map((v) => v.urn ?? `stack:${v.stack}`)).size,
    checked: reports.reduce((n, r) => n + r.resources, 0),
    stacks: reports.length,
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function formatReport(run: CheckRun): string {
  const lines: string[] = [];
  const title = run.fixture ? ` (fixture: ${run.fixture})` : "";
  lines.push(`Policy pack ${PACK_NAME} ${packageJson.version}: ${rules.length} rules${title}`, "");
  for (const report of run.reports) {
    const count = report.violations.length;
    lines.push(
      `${report.stack}: ${plural(report.resources, "resource")}, ${count === 0 ? "no violations" : plural(count, "violation")}`,
    );
    for (const v of report.violations) {
      // Messages start with the resource so they stand alone in `pulumi preview`; here it has its own line.
      const prefix = `${v.resource}: `;
      const message = v.message.startsWith(prefix) ? v.message.slice(prefix.length) : v.message;
      lines.push(
        `  ${v.enforcementLevel === "mandatory" ? "MANDATORY" : "advisory "} ${v.policy}`,
        `    resource:    ${v.resource}`,
        `    message:     ${message}`,
        `    remediation: ${v.remediation}`,
      );
    }
    for (const u of report.undecided) {
      lines.push(`  undecided ${u.policy} on ${u.urn ?? "the stack"}: ${u.reason}`);
    }
    lines.push("");
  }
  const s = summarize(run.reports);
  const undecided = run.reports.reduce((n, r) => n + r.undecided.length, 0);
  if (undecided > 0) {
    // `pulumi preview` shows these as advisory "can't run policy during preview" diagnostics.
    lines.push(`${plural(undecided, "rule evaluation")} could not decide: values unknown until deployment.`);
  }
  lines.push(
    `${s.mandatory} mandatory, ${s.advisory} advisory violations on ${plural(s.resources, "resource")}, of ${s.checked} checked in ${plural(s.stacks, "stack")} (${run.seconds.toFixed(1)} s)`,
  );
  return lines.join("\n");
}

function readConfig(path: string): PolicyPackConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`Cannot read policy config ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`Policy config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  // null or a list would otherwise read as "no config"; validatePackConfig names the right shape.
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    const problems = validatePackConfig(rules, parsed as PolicyPackConfig);
    throw new UsageError(`Invalid policy pack config ${path}:\n- ${problems.join("\n- ")}`);
  }
  return parsed as PolicyPackConfig;
}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        stack: { type: "string", multiple: true },
        fixture: { type: "string" },
        config: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    if (values.fixture !== undefined && values.fixture !== "broken") {
      throw new UsageError(`Unknown fixture "${values.fixture}"; the only fixture is "broken".`);
    }
    const unknownStacks = (values.stack ?? []).filter((s) => !(STACKS as readonly string[]).includes(s));
    if (unknownStacks.length > 0) {
      throw new UsageError(`Unknown stack ${unknownStacks.join(", ")}; stacks are ${STACKS.join(", ")}.`);
    }
    const run = await runCheck({
      stacks: values.stack ?? STACKS,
      ...(values.fixture === "broken" ? { fixture: "broken" as const } : {}),
      ...(values.config ? { config: readConfig(values.config) } : {}),
    });
    console.log(
      values.json ? JSON.stringify({ ...run, summary: summarize(run.reports) }, null, 2) : formatReport(run),
    );
    return summarize(run.reports).mandatory > 0 ? 1 : 0;
  } catch (err) {
    // Expected failures read as one message; anything else keeps its stack for a bug report.
    console.error(err instanceof UsageError ? err.message : err);
    return 2;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
