// Every process's configuration comes from its environment through this module: one schema per
// process (defineEnv), one parse that lists every bad variable with what is wrong and what it should
// be, and one exit for a process that cannot start (loadEnv: the message on stderr, exit code 78,
// EX_CONFIG from sysexits.h, which tells an orchestrator "fix the configuration" rather than "retry").
//
// Each process module exports its parse function (parseAppConfig, parseRunnerConfig, ...), which
// takes an environment record and throws ConfigError without exiting, so "does this container's env
// satisfy this process" is one call for a test that holds the stacks' manifests against the code.
import { z } from "zod";

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
      const parsed = spec.schema.safeParse(env, { error: describe });
      if (!parsed.success) {
        throw new ConfigError(
          spec.process,
          parsed.error.issues.map((issue) => ({
            variable: issue.path.length ? issue.path.map(String).join(".") : "(environment)",
            message: issue.message,
          })),
        );
      }
      const problems = spec.check?.(parsed.data) ?? [];
      if (problems.length) throw new ConfigError(spec.process, problems);
      return spec.finish ? spec.finish(parsed.data, env) : (parsed.data as T);
    },
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
