// Every agent task kind the product code queues has a runner handler: a kind without one would fail at
// once on every runner and burn the agent-success SLO. The producers are found by reading the source
// (app/ and operators/, tests excluded) for inserts into agent_tasks, so a new producer is covered
// without anyone remembering this list.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../observability/metrics.ts";
import { defaultHandlers } from "./agent-tasks.ts";

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((f) => f.isFile() && f.name.endsWith(".ts") && !f.name.endsWith(".test.ts"))
    .map((f) => join(f.parentPath, f.name));
}

/** The kinds a file queues: a literal right after the insert's tenant, else its kind parameter's type. */
function queuedKinds(text: string, file: string): string[] {
  const kinds: string[] = [];
  for (const insert of text.matchAll(/INSERT INTO agent_tasks\b[^;`]*/g)) {
    const literal = /(?:VALUES\s*\(\s*\$\d+|SELECT\s+[\w.]+)\s*,\s*'([a-z_]+)'/.exec(insert[0]);
    if (literal) kinds.push(literal[1]!);
    else {
      const union = /\bkind:\s*("[a-z_]+"(?:\s*\|\s*"[a-z_]+")*)/.exec(text);
      if (!union)
        throw new Error(
          `${file} inserts into agent_tasks with a kind this test cannot read: name it as a literal, or type the kind parameter as a union of literals`,
        );
      kinds.push(...[...union[1]!.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]!));
    }
  }
  return kinds;
}

describe("agent task kinds", () => {
  it("has a handler for every kind the product code queues", () => {
    const queued = new Set<string>();
    for (const file of [...sourceFiles("app"), ...sourceFiles("operators")])
      for (const kind of queuedKinds(readFileSync(file, "utf8"), file)) queued.add(kind);
    expect([...queued].sort()).toEqual(
      expect.arrayContaining(["billing_alert", "billing_notice", "data_export", "notify_ops"]),
    );
    const handled = Object.keys(
      defaultHandlers({
        pool: {} as pg.Pool,
        log: pino({ level: "silent" }),
        metrics: createMetrics(),
        exportLinkTtlSeconds: 86_400,
      }),
    );
    expect([...queued].filter((kind) => !handled.includes(kind))).toEqual([]);
  });
});
