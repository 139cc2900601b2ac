// The shared environment loader: one message listing every bad variable, and every process's entry
// point stopping with it and exit code 78 (EX_CONFIG), started the way a container starts it.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, defineEnv, EX_CONFIG, postgresUrl, secretValue } from "./env.ts";

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

describe("secrets from files", () => {
  const withSecret = defineEnv({
    process: "example worker",
    schema: z.object({
      DATABASE_URL: postgresUrl("the worker role's connection URL", "postgres://worker:...@host/freight"),
      API_KEY: z.string().regex(/^key_/, "must be an API key (key_...)").optional(),
    }),
    secrets: ["DATABASE_URL", "API_KEY"],
  });
  const dir = mkdtempSync(path.join(tmpdir(), "env-secrets-"));
  const file = (name: string, content: string) => {
    const at = path.join(dir, name);
    writeFileSync(at, content);
    return at;
  };
  const problems = (env: Record<string, string>) => {
    try {
      withSecret.parse(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    throw new Error("expected a ConfigError");
  };

  it("reads each secret from the file its *_FILE variable names, without the trailing newline", () => {
    const config = withSecret.parse({
      DATABASE_URL_FILE: file("url", "postgres://worker:pw@db/freight\n"),
      API_KEY_FILE: file("key", "key_live_1"),
    });
    expect(config).toEqual({ DATABASE_URL: "postgres://worker:pw@db/freight", API_KEY: "key_live_1" });
    expect(secretValue(config, "DATABASE_URL")?.file).toBe(path.join(dir, "url"));
  });

  it("still takes the plain variable for local development, as a value that never rotates", () => {
    const config = withSecret.parse({ DATABASE_URL: "postgres://worker@localhost/freight" });
    expect(config.DATABASE_URL).toBe("postgres://worker@localhost/freight");
    expect(secretValue(config, "DATABASE_URL")?.file).toBeUndefined();
    expect(secretValue(config, "API_KEY")).toBeUndefined();
  });

  it("names the file variable and the fix for a missing, empty, directory or bad-content file", () => {
    expect(
      problems({
        DATABASE_URL_FILE: path.join(dir, "absent"),
        API_KEY_FILE: file("empty", "\n"),
      }),
    ).toEqual([
      `DATABASE_URL_FILE: ${path.join(dir, "absent")} does not exist: mount the Secret holding DATABASE_URL there (a secret volume, readOnly), or correct the path`,
      `API_KEY_FILE: ${path.join(dir, "empty")} is empty: its Secret has no value for API_KEY yet; check the ExternalSecret synced (kubectl get externalsecret: SecretSynced) and that the secret store entry holds a value`,
    ]);
    expect(problems({ DATABASE_URL_FILE: dir })).toEqual([
      `DATABASE_URL_FILE: ${dir} is a directory: point it at the key's file inside it, e.g. ${dir}/DATABASE_URL`,
    ]);
    expect(problems({ DATABASE_URL_FILE: file("mysql", "mysql://db"), API_KEY_FILE: "" })).toEqual([
      "API_KEY_FILE: must not be empty: the path of the file holding API_KEY, e.g. /var/run/secrets/freight/<secret>/API_KEY",
      `DATABASE_URL_FILE: the content of ${path.join(dir, "mysql")} must be a postgres:// URL: the worker role's connection URL, e.g. postgres://worker:...@host/freight`,
    ]);
  });

  it("refuses a secret given both ways, and asks for the file when given neither", () => {
    expect(
      problems({ DATABASE_URL: "postgres://a@db/x", DATABASE_URL_FILE: file("both", "postgres://b@db/x") }),
    ).toEqual([
      "DATABASE_URL_FILE: is set and so is DATABASE_URL: give the secret one way; unset DATABASE_URL (the stacks mount a file)",
    ]);
    expect(problems({})).toEqual([
      "DATABASE_URL_FILE: is required: the path of a file holding DATABASE_URL (the worker role's connection URL, e.g. postgres://worker:...@host/freight); for local development DATABASE_URL itself may hold the value",
    ]);
  });
});

/** Starts a process entry point the way its container does, with only `env` set. */
function start(
  entry: string,
  env: Record<string, string>,
  args: string[] = [],
  user?: string,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    // As another (unprivileged) user where a test needs a file this process cannot read.
    const [command, argv] = user
      ? ["runuser", ["-u", user, "--", process.execPath, entry, ...args]]
      : [process.execPath, [entry, ...args]];
    const child = spawn(command, argv, {
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
  user?: string;
  /** What the message must say beyond naming the variables. */
  says?: RegExp;
  args?: string[];
  env: Record<string, string>;
  process: string;
  variables: string[];
}

describe("every process entry point", () => {
  const unreadable = path.join(mkdtempSync(path.join(tmpdir(), "env-unreadable-")), "DATABASE_URL");
  writeFileSync(unreadable, "postgres://freight_app:pw@db/freight");
  chmodSync(unreadable, 0o600);

  const entries: Entry[] = [
    {
      entry: "app/server.ts",
      env: { PORT: "eighty" },
      process: "quote API",
      variables: ["DATABASE_URL_FILE", "PORT"],
    },
    {
      entry: "app/runner/main.ts",
      env: { RUNNER_BULK_SLOTS: "-1" },
      process: "runner",
      variables: ["DATABASE_URL_FILE", "RUNNER_BULK_SLOTS"],
    },
    {
      entry: "operators/main.ts",
      env: { LEADER_ELECT: "yes" },
      process: "operator manager",
      variables: ["DATABASE_URL_FILE", "LEADER_ELECT"],
    },
    {
      entry: "operators/main.ts",
      // The manager's own variables and the failover controller's, in one message.
      env: { LEADER_ELECT: "yes", FAILOVER_PRIMARY_HEALTH_URL: "http://api/readyz" },
      process: "operator manager",
      variables: [
        "DATABASE_URL_FILE",
        "LEADER_ELECT",
        "FAILOVER_SECONDARY_HEALTH_URL",
        "FAILOVER_PRIMARY_DB_ADMIN_URL_FILE",
      ],
    },
    {
      entry: "app/db/migrate.ts",
      env: {},
      process: "migration",
      variables: ["MIGRATIONS_DATABASE_URL_FILE"],
    },
    {
      entry: "app/ops/usage-warnings.ts",
      env: {},
      process: "usage warnings job",
      variables: ["OPERATOR_DATABASE_URL_FILE"],
    },
    {
      entry: "app/billing/reconcile.ts",
      env: { STRIPE_SECRET_KEY: "pk_live_x" },
      process: "billing reconcile",
      variables: ["BILLING_DATABASE_URL_FILE", "STRIPE_SECRET_KEY"],
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
    {
      entry: "app/runner/main.ts",
      env: { DATABASE_URL_FILE: "/var/run/secrets/freight/runner-database/DATABASE_URL" },
      process: "runner",
      variables: ["DATABASE_URL_FILE"],
    },
    {
      // A Secret volume the process's user cannot read (mode 0600, owned by another user).
      entry: "app/server.ts",
      env: { DATABASE_URL_FILE: unreadable },
      user: "postgres",
      process: "quote API",
      variables: ["DATABASE_URL_FILE"],
      says: /DATABASE_URL_FILE: \S+ is not readable by this process: give the Secret volume a defaultMode/,
    },
  ];

  it.each(entries)(
    "$entry stops with exit 78 and the $process's problems",
    async ({ entry, args, env, process, variables, user, says }) => {
      const { code, stderr } = await start(entry, env, args, user);
      expect(code).toBe(EX_CONFIG);
      expect(stderr).toMatch(new RegExp(`^Invalid ${process} configuration \\(\\d+ problems?\\):\\n`));
      for (const variable of variables) expect(stderr).toMatch(new RegExp(`^  - ${variable}: `, "m"));
      expect(stderr).toMatch(/then start it again\.\n$/);
      if (says) expect(stderr).toMatch(says);
    },
  );
});
