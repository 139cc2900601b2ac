// The processes the region stacks deploy, and for each the check its entry point runs on its
// environment at start: the one table (process -> parse function) the deploy contract holds every
// container against. A container says which process it starts by its command; `npm run <script>` is
// read through package.json, so either form works.
import { readFileSync } from "node:fs";
import path from "node:path";

import { parseReconcileConfig } from "../app/billing/reconcile.ts";
import { parseAppConfig } from "../app/config.ts";
import { ConfigError } from "../app/env.ts";
import { parseMigrateConfig } from "../app/db/migrate.ts";
import { parseRlsProbeConfig } from "../app/ops/rls-probe.ts";
import { parseUsageWarningsConfig } from "../app/ops/usage-warnings.ts";
import { parseRunnerConfig } from "../app/runner/config.ts";
import { parseOnboardingNudgesConfig } from "../app/ops/onboarding-nudges.ts";
import { parseLeadSignalsConfig } from "../app/ops/lead-signals.ts";
import { parseNpsInvitationsConfig } from "../app/growth/nps-invitations.ts";
import { parseCarrierComplianceConfig } from "../app/growth/carrier-compliance-job.ts";
import { parseTrialExpiryConfig } from "../app/billing/trial-expiry.ts";
import { parseDsrConfig } from "../app/compliance/dsr-cli.ts";
import { parseReportRequest } from "../dashboards/report/main.ts";
import { parseEvidenceConfig } from "../app/compliance/evidence.ts";
import { parseBacktestFlags, parsePricingBacktestConfig } from "../app/ops/pricing-backtest.ts";
import { parseManagerConfig } from "../operators/config.ts";
import { REPO_ROOT } from "./plan.ts";

export type ProcessEnv = Record<string, string>;

export interface ProcessSpec {
  /** Stable id the capability table refers to. */
  id: string;
  /** Entry file, relative to the repository root. */
  entry: string;
  description: string;
  /** Runs the process's own start-up check on env and arguments; throws with every problem. */
  parse(env: ProcessEnv, args: string[]): unknown;
}

export class ProcessConfigError extends Error {
  constructor(process: string, problems: string[]) {
    super(`${process} refuses to start:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ProcessConfigError";
  }
}

/** `--database-url X` wins over the env variable, as in the scripts' main(). */
function withDatabaseUrlArg(args: string[], env: ProcessEnv, variable: string): ProcessEnv {
  const index = args.indexOf("--database-url");
  if (index < 0) return env;
  const { [`${variable}_FILE`]: _file, ...rest } = env;
  return { ...rest, [variable]: args[index + 1] ?? "" };
}

// Every process validates its environment (and the report its flags) with the parse function its entry
// point runs at start (app/env.ts for the services).
export const PROCESSES: ProcessSpec[] = [
  {
    id: "quote-api",
    entry: "app/server.ts",
    description: "the quote API (app/config.ts parseAppConfig)",
    parse: (env) => parseAppConfig(env),
  },
  {
    id: "runner",
    entry: "app/runner/main.ts",
    description: "the runner (app/runner/config.ts parseRunnerConfig)",
    parse: (env) => parseRunnerConfig(env),
  },
  {
    id: "operators",
    entry: "operators/main.ts",
    description:
      "the operators' manager, with the failover controller when FAILOVER_* is set (parseManagerConfig)",
    parse: (env) => parseManagerConfig(env),
  },
  {
    id: "migrations",
    entry: "app/db/migrate.ts",
    description: "schema migrations (app/db/migrate.ts parseMigrateConfig)",
    parse: (env, args) => parseMigrateConfig(withDatabaseUrlArg(args, env, "MIGRATIONS_DATABASE_URL")),
  },
  {
    id: "rls-probe",
    entry: "app/ops/rls-probe.ts",
    description: "the tenant-isolation probe (app/ops/rls-probe.ts parseRlsProbeConfig)",
    parse: (env, args) => parseRlsProbeConfig(withDatabaseUrlArg(args, env, "DATABASE_URL")),
  },
  {
    id: "usage-warnings",
    entry: "app/ops/usage-warnings.ts",
    description: "the nightly usage warnings (app/ops/usage-warnings.ts parseUsageWarningsConfig)",
    parse: (env) => parseUsageWarningsConfig(env),
  },
  {
    id: "onboarding-nudges",
    entry: "app/ops/onboarding-nudges.ts",
    description: "the hourly first-quote nudges (app/ops/onboarding-nudges.ts parseOnboardingNudgesConfig)",
    parse: (env) => parseOnboardingNudgesConfig(env),
  },
  {
    id: "lead-signals",
    entry: "app/ops/lead-signals.ts",
    description:
      "lead signals to the CRM webhook every 10 minutes (app/ops/lead-signals.ts parseLeadSignalsConfig)",
    parse: (env) => parseLeadSignalsConfig(env),
  },
  {
    id: "nps-invitations",
    entry: "app/growth/nps-invitations.ts",
    description:
      "NPS invitations at trial day 21 and paid day 90, hourly (app/growth/nps-invitations.ts parseNpsInvitationsConfig)",
    parse: (env) => parseNpsInvitationsConfig(env),
  },
  {
    id: "carrier-compliance",
    entry: "app/growth/carrier-compliance-job.ts",
    description:
      "carrier compliance reminders and lapse notices, daily (app/growth/carrier-compliance-job.ts parseCarrierComplianceConfig)",
    parse: (env) => parseCarrierComplianceConfig(env),
  },
  {
    id: "trial-expiry",
    entry: "app/billing/trial-expiry.ts",
    description:
      "trial expiry to each tenant's billing state (app/billing/trial-expiry.ts parseTrialExpiryConfig)",
    parse: (env) => parseTrialExpiryConfig(env),
  },
  {
    id: "dsr",
    entry: "app/compliance/dsr-cli.ts",
    description: "data subject requests and their monthly drill (app/compliance/dsr-cli.ts parseDsrConfig)",
    parse: (env, args) => {
      const problems: string[] = [];
      if (args[0] !== "drill")
        problems.push(`the scheduled command is \`dsr drill\`; got \`dsr ${args.join(" ")}\``);
      try {
        const config = parseDsrConfig(env);
        if (!problems.length) return config;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(...error.problems);
      }
      throw new ProcessConfigError("dsr", problems);
    },
  },
  {
    id: "billing-reconcile",
    entry: "app/billing/reconcile.ts",
    description: "the billing reconciliation against Stripe (app/billing/reconcile.ts parseReconcileConfig)",
    parse: (env, args) => {
      const problems: string[] = [];
      const month = args.indexOf("--month") >= 0 ? args[args.indexOf("--month") + 1] : undefined;
      if (month !== undefined && month !== "previous" && !/^\d{4}-\d{2}$/.test(month))
        problems.push("--month must be YYYY-MM or previous");
      try {
        const config = parseReconcileConfig(env);
        if (!problems.length) return { ...config, month };
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(...error.problems);
      }
      throw new ProcessConfigError("billing-reconcile", problems);
    },
  },
  {
    id: "evidence",
    entry: "app/compliance/evidence.ts",
    description: "the weekly SOC 2 evidence snapshot (app/compliance/evidence.ts parseEvidenceConfig)",
    parse: (env) => parseEvidenceConfig(env),
  },
  {
    id: "pricing-backtest",
    entry: "app/ops/pricing-backtest.ts",
    description:
      "the weekly PricingModel backtest (app/ops/pricing-backtest.ts parseBacktestFlags, parsePricingBacktestConfig)",
    parse: (env, args) => {
      const problems: string[] = [];
      const flags = parseBacktestFlags(args);
      if ("error" in flags) problems.push(flags.error);
      try {
        const config = parsePricingBacktestConfig(env);
        if (!problems.length) return { ...config, flags };
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(...error.problems);
      }
      throw new ProcessConfigError("pricing-backtest", problems);
    },
  },
  {
    id: "exec-report",
    entry: "dashboards/report/main.ts",
    description: "the weekly executive report (dashboards/report/main.ts parseReportRequest)",
    parse: (env, args) => parseReportRequest(args, env),
  },
];

/**
 * Containers that set no command run their image's default. The quote API image's default command
 * is the API itself (the image is built outside this repository), so its container states none and
 * this table says what that default starts.
 */
export const IMAGE_DEFAULT_ENTRY: Record<string, string> = {
  "quote-api": "app/server.ts",
};

export interface ContainerCommand {
  name: string;
  command?: string[];
  args?: string[];
}

export interface ResolvedProcess {
  process: ProcessSpec;
  /** Arguments after the entry file (or after `--` of an npm script). */
  args: string[];
  /** How the process was recognised. */
  via: "command" | "image default";
}

function packageScripts(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
    scripts?: Record<string, string>;
  };
  return pkg.scripts ?? {};
}

/** `node [flags] <file.ts> args...` -> the entry file and its arguments. */
function nodeEntry(argv: string[]): { entry: string; args: string[] } | undefined {
  if (!argv[0] || path.basename(argv[0]) !== "node") return undefined;
  const index = argv.findIndex((a, i) => i > 0 && !a.startsWith("-"));
  if (index < 0) return undefined;
  return { entry: path.normalize(argv[index]!).replace(/^\.\//, ""), args: argv.slice(index + 1) };
}

/** Which process a container starts, from its command (and args), else its image's default. */
export function processOfContainer(container: ContainerCommand): ResolvedProcess {
  const argv = [...(container.command ?? []), ...(container.args ?? [])];
  if (container.command?.length) {
    let started = nodeEntry(argv);
    if (!started && path.basename(argv[0]!) === "npm" && argv[1] === "run") {
      const script = packageScripts()[argv[2] ?? ""];
      const extra = argv.indexOf("--") >= 0 ? argv.slice(argv.indexOf("--") + 1) : [];
      const scripted = script ? nodeEntry(script.split(/\s+/)) : undefined;
      if (scripted) started = { entry: scripted.entry, args: [...scripted.args, ...extra] };
    }
    const process = started && PROCESSES.find((p) => p.entry === started.entry);
    if (!started || !process) {
      throw new Error(
        `container ${container.name} runs \`${argv.join(" ")}\`, which is none of the processes in ` +
          `stacks/processes.ts (${PROCESSES.map((p) => p.entry).join(", ")}); add its entry and start-up check there`,
      );
    }
    return { process, args: started.args, via: "command" };
  }
  const entry = IMAGE_DEFAULT_ENTRY[container.name];
  const process = entry && PROCESSES.find((p) => p.entry === entry);
  if (!process) {
    throw new Error(
      `container ${container.name} sets no command and its image default is unknown: give it a command ` +
        `such as ["node", "app/server.ts"] (or list it in IMAGE_DEFAULT_ENTRY in stacks/processes.ts)`,
    );
  }
  return { process, args: container.args ?? [], via: "image default" };
}
