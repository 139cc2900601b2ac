// The shared environment loader: one message listing every bad variable, and every process's entry
// point stopping with it and exit code 78 (EX_CONFIG), started the way a container starts it.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, defineEnv, EX_CONFIG, postgresUrl } from "./env.ts";

const example = defineEnv({
  process: "example worker",
  schema: z.object({
    DATABASE_URL: postgresUrl("the worker role's connection URL", "postgres://worker:...@host/freight"),
    PORT: z.coerce.number().int().min(1).max(65535).default(8080),
    MODE: z.enum(["fast", "careful"]).default("careful"),
    NAME: z.string().min(1).optional(),
    BATCH: z.coerce.number().int().min(1).max(100).default(10),
    LIMIT: z.coerce.number().int().min(1).max(1000).default(100),
  }),
  check: (config) =>
    config.LIMIT < config.BATCH
      ? [{ variable: "LIMIT", message: `must be at least BATCH (${config.BATCH})` }]
      : [],
  finish: (config) => ({ ...config, label: `${config.MODE}:${config.PORT}` }),
});

function problemsOf(env: Record<string, string>): ConfigError {
  try {
    example.parse(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("defineEnv", () => {
  it("returns the typed configuration with defaults and derived values", () => {
    expect(example.parse({ DATABASE_URL: "postgres://worker@db/freight", MODE: "fast" })).toMatchObject({
      PORT: 8080,
      MODE: "fast",
      label: "fast:8080",
    });
  });

  it("lists every bad variable in one message, each with what it must be", () => {
    const error = problemsOf({ PORT: "http", MODE: "reckless", NAME: "", BATCH: "0", LIMIT: "5000" });
    expect(error.message).toBe(
      [
        "Invalid example worker configuration (6 problems):",
        "  - DATABASE_URL: is required: the worker role's connection URL, e.g. postgres://worker:...@host/freight",
        "  - PORT: must be a number",
        "  - MODE: must be one of fast, careful",
        "  - NAME: must not be empty",
        "  - BATCH: must be at least 1",
        "  - LIMIT: must be at most 1000",
        "Set or correct these environment variables (the container's env in Kubernetes), then start it again.",
      ].join("\n"),
    );
    expect(error.variables).toEqual(["DATABASE_URL", "PORT", "MODE", "NAME", "BATCH", "LIMIT"]);
    expect(error.process).toBe("example worker");
  });

  it("says what a malformed value must look like, and checks rules across variables", () => {
    expect(problemsOf({ DATABASE_URL: "mysql://db" }).problems).toEqual([
      "DATABASE_URL: must be a postgres:// URL: the worker role's connection URL, e.g. postgres://worker:...@host/freight",
    ]);
    expect(problemsOf({ DATABASE_URL: "postgres://db", BATCH: "50", LIMIT: "20" }).problems).toEqual([
      "LIMIT: must be at least BATCH (50)",
    ]);
  });
});

/** Starts a process entry point the way its container does, with only `env` set. */
function start(
  entry: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

interface Entry {
  entry: string;
  args?: string[];
  env: Record<string, string>;
  process: string;
  variables: string[];
}

describe("every process entry point", () => {
  const entries: Entry[] = [
    {
      entry: "app/server.ts",
      env: { PORT: "eighty" },
      process: "quote API",
      variables: ["DATABASE_URL", "PORT"],
    },
    {
      entry: "app/runner/main.ts",
      env: { RUNNER_BULK_SLOTS: "-1" },
      process: "runner",
      variables: ["DATABASE_URL", "RUNNER_BULK_SLOTS"],
    },
    {
      entry: "operators/main.ts",
      env: { LEADER_ELECT: "yes" },
      process: "operator manager",
      variables: ["DATABASE_URL", "LEADER_ELECT"],
    },
    {
      entry: "operators/main.ts",
      // The manager's own variables and the failover controller's, in one message.
      env: { LEADER_ELECT: "yes", FAILOVER_PRIMARY_HEALTH_URL: "http://api/readyz" },
      process: "operator manager",
      variables: [
        "DATABASE_URL",
        "LEADER_ELECT",
        "FAILOVER_SECONDARY_HEALTH_URL",
        "FAILOVER_PRIMARY_DB_ADMIN_URL",
      ],
    },
    { entry: "app/db/migrate.ts", env: {}, process: "migration", variables: ["MIGRATIONS_DATABASE_URL"] },
    {
      entry: "app/ops/usage-warnings.ts",
      env: {},
      process: "usage warnings job",
      variables: ["OPERATOR_DATABASE_URL"],
    },
    {
      entry: "app/billing/reconcile.ts",
      env: { STRIPE_SECRET_KEY: "pk_live_x" },
      process: "billing reconcile",
      variables: ["BILLING_DATABASE_URL", "STRIPE_SECRET_KEY"],
    },
    {
      entry: "app/billing/deal-desk.ts",
      args: ["history", "--tenant", "acme-logistics"],
      env: { BILLING_DATABASE_URL: "" },
      process: "deal desk",
      variables: ["BILLING_DATABASE_URL"],
    },
    {
      entry: "app/ops/rls-probe.ts",
      env: { DATABASE_URL: "mysql://db" },
      process: "RLS probe",
      variables: ["DATABASE_URL"],
    },
  ];

  it.each(entries)(
    "$entry stops with exit 78 and the $process's problems",
    async ({ entry, args, env, process, variables }) => {
      const { code, stderr } = await start(entry, env, args);
      expect(code).toBe(EX_CONFIG);
      expect(stderr).toMatch(new RegExp(`^Invalid ${process} configuration \\(\\d+ problems?\\):\\n`));
      for (const variable of variables) expect(stderr).toMatch(new RegExp(`^  - ${variable}: `, "m"));
      expect(stderr).toMatch(/then start it again\.\n$/);
    },
  );
});
