// Every process's configuration comes from its environment through this module: one schema per
// process (defineEnv), one parse that lists every bad variable with what is wrong and what it should
// be, and one exit for a process that cannot start (loadEnv: the message on stderr, exit code 78,
// EX_CONFIG from sysexits.h, which tells an orchestrator "fix the configuration" rather than "retry").
//
// Secrets (database URLs, API keys) come from files: a process's spec lists them in `secrets`, and
// for each the loader reads `<NAME>_FILE` (the path of a mounted Secret key) before validating, so
// the value never sits in the environment, where /proc, crash dumps and child processes see it. The
// plain `<NAME>` is still accepted for local development and tests (the stacks never set it: a
// policy rule refuses secretKeyRef env); setting both is refused. secretValue() gives the process a
// handle that re-reads the file when it changes (app/secret-file.ts), for rotation without a restart.
//
// Each process module exports its parse function (parseAppConfig, parseRunnerConfig, ...), which
// takes an environment record and throws ConfigError without exiting, so "does this container's env
// satisfy this process" is one call for a test that holds the stacks' manifests against the code.
import { readFileSync } from "node:fs";
import { z } from "zod";

import { fixedSecret, secretContent, secretFromFile, type SecretValue } from "./secret-file.ts";

/** An environment: process.env, a container's env from a manifest, or a test's record. */
export type Env = Readonly<Record<string, string | undefined>>;

/** sysexits.h EX_CONFIG: the configuration is wrong; restarting without fixing it will not help. */
export const EX_CONFIG = 78;

export interface ConfigProblem {
  /** The environment variable at fault ("(environment)" when the problem is not one variable's). */
  variable: string;
  /** What is wrong and what it should be, e.g. "must be a postgres:// URL". */
  message: string;
}

export class ConfigError extends Error {
  /** The process whose configuration this is, e.g. "quote API". */
  readonly process: string;
  /** One line per problem, "VARIABLE: what is wrong and what it should be". */
  readonly problems: string[];
  /** The variables at fault, in the order reported. */
  readonly variables: string[];
  readonly details: ConfigProblem[];

  constructor(process: string, problems: ConfigProblem[]) {
    const lines = problems.map((p) => `${p.variable}: ${p.message}`);
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(
      `Invalid ${process} configuration (${count}):\n` +
        lines.map((line) => `  - ${line}`).join("\n") +
        "\nSet or correct these environment variables (the container's env in Kubernetes), then start it again.",
    );
    this.name = "ConfigError";
    this.process = process;
    this.problems = lines;
    this.variables = [...new Set(problems.map((p) => p.variable))];
    this.details = problems;
  }
}

/** Messages for zod's generic issues, phrased as what the value must be; a schema's own message wins. */
function describe(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      if (issue.input === undefined) return "is required";
      if (issue.expected === "int") return "must be a whole number";
      return `must be a ${issue.expected}`;
    case "too_small":
      if (issue.origin === "string")
        return issue.minimum === 1 ? "must not be empty" : `must be at least ${issue.minimum} characters`;
      return issue.inclusive === false
        ? `must be more than ${issue.minimum}`
        : `must be at least ${issue.minimum}`;
    case "too_big":
      if (issue.origin === "string") return `must be at most ${issue.maximum} characters`;
      return issue.inclusive === false
        ? `must be less than ${issue.maximum}`
        : `must be at most ${issue.maximum}`;
    case "invalid_value":
      return `must be one of ${issue.values.map(String).join(", ")}`;
    case "invalid_format":
      if (issue.format === "url") return "must be an absolute URL";
      if (issue.format === "regex" && "pattern" in issue) return `must match ${String(issue.pattern)}`;
      return `must be a valid ${issue.format}`;
    default:
      return undefined;
  }
}

export interface EnvSpec<S extends z.ZodType, T> {
  /** The process, as the message names it: "quote API", "runner", "operator manager". */
  process: string;
  schema: S;
  /** Rules across variables, checked once every variable is valid on its own. */
  check?: (config: z.output<S>) => ConfigProblem[];
  /** Values derived from the validated variables (defaults that depend on others, identities). */
  finish?: (config: z.output<S>, env: Env) => T;
  /**
   * Variables holding secrets: each may be given as `<NAME>_FILE`, the path of a file holding the
   * value (how the stacks give it: a mounted Secret key), or as `<NAME>` itself (local development).
   */
  secrets?: readonly string[];
}

/** A process's environment contract: parse(env) returns its configuration or throws ConfigError. */
export interface EnvConfig<T> {
  readonly process: string;
  parse(env: Env): T;
}

export function defineEnv<S extends z.ZodType, T = z.output<S>>(spec: EnvSpec<S, T>): EnvConfig<T> {
  return {
    process: spec.process,
    parse(env: Env): T {
      const secrets = readSecretFiles(env, spec.secrets ?? []);
      const parsed = spec.schema.safeParse(secrets.env, { error: describe });
      if (!parsed.success || secrets.problems.length) {
        const issues = parsed.success ? [] : parsed.error.issues;
        throw new ConfigError(spec.process, [
          ...secrets.problems,
          ...issues
            .map((issue) => ({
              variable: issue.path.length ? issue.path.map(String).join(".") : "(environment)",
              message: issue.message,
            }))
            // A secret whose file could not be read is reported once, by its file variable.
            .filter((problem) => !secrets.failed.has(problem.variable))
            .map((problem) => asFileProblem(problem, secrets.files, spec.secrets ?? [], env)),
        ]);
      }
      const problems = spec.check?.(parsed.data) ?? [];
      if (problems.length)
        throw new ConfigError(
          spec.process,
          problems.map((problem) => asFileProblem(problem, secrets.files, spec.secrets ?? [], env)),
        );
      const config = spec.finish ? spec.finish(parsed.data, env) : (parsed.data as T);
      if (config && typeof config === "object") SECRET_FILES.set(config, secrets.files);
      return config;
    },
  };
}

/** Which file each secret of a parsed configuration came from (kept off the object: never logged). */
const SECRET_FILES = new WeakMap<object, Record<string, string>>();

/**
 * The secret `variable` of a configuration `parse` returned: re-read from its file when the file
 * changes (rotation without a restart), or fixed when it was set directly (local development).
 * Undefined when the configuration has no such value (an optional secret left unset).
 */
export function secretValue(config: object, variable: string): SecretValue | undefined {
  const value = (config as Record<string, unknown>)[variable];
  if (typeof value !== "string") return undefined;
  const file = SECRET_FILES.get(config)?.[variable];
  return file ? secretFromFile(file, value) : fixedSecret(value);
}

/** The variable naming the file that holds secret `name`. */
export const fileVariable = (name: string) => `${name}_FILE`;

interface SecretFiles {
  /** The environment with each secret's file content under the secret's own name. */
  env: Env;
  /** Secret name -> the file it was read from. */
  files: Record<string, string>;
  problems: ConfigProblem[];
  /** Secrets whose file could not be used (their schema issues would only repeat the problem). */
  failed: Set<string>;
}

function readSecretFiles(env: Env, names: readonly string[]): SecretFiles {
  const resolved: Record<string, string | undefined> = { ...env };
  const files: Record<string, string> = {};
  const problems: ConfigProblem[] = [];
  const failed = new Set<string>();
  for (const name of names) {
    const variable = fileVariable(name);
    const path = env[variable];
    if (path === undefined) continue;
    const problem = (message: string) => {
      problems.push({ variable, message });
      failed.add(name);
    };
    if (env[name] !== undefined) {
      problem(`is set and so is ${name}: give the secret one way; unset ${name} (the stacks mount a file)`);
      continue;
    }
    if (path === "") {
      problem(
        `must not be empty: the path of the file holding ${name}, e.g. /var/run/secrets/freight/<secret>/${name}`,
      );
      continue;
    }
    let raw: string;
    try {
      raw = readFileSync(path, "utf8");
    } catch (error) {
      problem(fileError(path, name, (error as NodeJS.ErrnoException).code));
      continue;
    }
    const value = secretContent(raw);
    if (value.trim() === "") {
      problem(
        `${path} is empty: its Secret has no value for ${name} yet; check the ExternalSecret synced ` +
          "(kubectl get externalsecret: SecretSynced) and that the secret store entry holds a value",
      );
      continue;
    }
    resolved[name] = value;
    files[name] = path;
  }
  return { env: resolved, files, problems, failed };
}

function fileError(path: string, name: string, code: string | undefined): string {
  switch (code) {
    case "ENOENT":
      return `${path} does not exist: mount the Secret holding ${name} there (a secret volume, readOnly), or correct the path`;
    case "EACCES":
    case "EPERM":
      return `${path} is not readable by this process: give the Secret volume a defaultMode the pod's user or fsGroup can read (0440), or fix the file's permissions`;
    case "EISDIR":
      return `${path} is a directory: point it at the key's file inside it, e.g. ${path.replace(/\/$/, "")}/${name}`;
    default:
      return `${path} cannot be read (${code ?? "unknown error"}): check the Secret volume is mounted there`;
  }
}

/**
 * A schema problem of a secret, in the words of how it was given: a bad value read from a file is the
 * file's problem; a secret given neither way is asked for as a file, the way the stacks give it.
 */
function asFileProblem(
  problem: ConfigProblem,
  files: Record<string, string>,
  secrets: readonly string[],
  env: Env,
): ConfigProblem {
  const name = problem.variable;
  if (!secrets.includes(name)) return problem;
  if (files[name])
    return { variable: fileVariable(name), message: `the content of ${files[name]} ${problem.message}` };
  if (env[name] !== undefined) return problem;
  const what = problem.message.replace(/^is required:?\s*/, "");
  return {
    variable: fileVariable(name),
    message:
      `is required: the path of a file holding ${name}${what ? ` (${what})` : ""}; ` +
      `for local development ${name} itself may hold the value`,
  };
}

/**
 * Several contracts checked as one, for a process that hosts more than one component: one message
 * lists the problems of all of them. A part left undefined (a component switched off) is skipped.
 */
export function combineEnv<T extends Record<string, unknown>>(
  process: string,
  parts: { [K in keyof T]: EnvConfig<T[K]> | undefined },
): EnvConfig<{ [K in keyof T]: T[K] | undefined }> {
  return {
    process,
    parse(env: Env) {
      const result: Partial<Record<keyof T, unknown>> = {};
      const problems: ConfigProblem[] = [];
      for (const key of Object.keys(parts) as (keyof T)[]) {
        try {
          result[key] = parts[key]?.parse(env);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          problems.push(...error.details);
        }
      }
      if (problems.length) throw new ConfigError(process, problems);
      return result as { [K in keyof T]: T[K] | undefined };
    },
  };
}

/**
 * A process's start: its configuration from `env`, or the problems on stderr and exit 78. Only a
 * process's entry point calls this; everything else calls the parse function and handles the error.
 */
export function loadEnv<T>(config: EnvConfig<T>, env: Env = process.env): T {
  try {
    return config.parse(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(EX_CONFIG);
  }
}

/** A postgres:// connection URL; `what` names the role, e.g. "the app role's connection URL". */
export function postgresUrl(what: string, example: string) {
  const required = `is required: ${what}, e.g. ${example}`;
  return (
    z
      .string({ error: (issue) => (issue.input === undefined ? required : undefined) })
      // Set but empty (an unfilled secret reference, say) is as good as missing.
      .regex(/^postgres(ql)?:\/\//, {
        error: (issue) =>
          issue.input === "" ? required : `must be a postgres:// URL: ${what}, e.g. ${example}`,
      })
  );
}
