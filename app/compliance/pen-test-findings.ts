// The pen-test findings register: every finding a tester reports, with its severity, the day it was
// found and its fix date, 14 days later whatever the severity (the plan's SLA; the database computes
// it, so no one records another). Findings are closed, never deleted: the evidence counts what was
// open when. Ops keeps it with `npm run pentest` as freight_operator.
//
//   OPERATOR_DATABASE_URL=postgres://freight_operator:...@db/freight \
//     npm run pentest -- add --reference PT-2026-014 --severity high --found 2026-11-30 --title "..." --by dana
//   npm run pentest -- close PT-2026-014 --by dana --resolution "CSP header on the console" [--on 2026-12-04]
//   npm run pentest -- list [--all]
//
// Exit codes: 0 done; 1 refused (unknown or duplicate reference, already closed), nothing changed;
// 2 usage; 78 configuration (app/env.ts).
import { parseArgs } from "node:util";
import type pg from "pg";
import { z } from "zod";
import { createPool } from "../db/pool.ts";
import { ConfigError, defineEnv, EX_CONFIG, postgresUrl, type Env } from "../env.ts";

export const PEN_TEST_SEVERITIES = ["critical", "high", "medium", "low", "informational"] as const;
export type PenTestSeverity = (typeof PEN_TEST_SEVERITIES)[number];
export const FIX_SLA_DAYS = 14;

const USAGE = `usage:
  npm run pentest -- add --reference <ref> --severity ${PEN_TEST_SEVERITIES.join("|")} --found <YYYY-MM-DD> --title <text> --by <who>
  npm run pentest -- close <ref> --by <who> --resolution <text> [--on <YYYY-MM-DD>]   (default: today)
  npm run pentest -- list [--all]                                                  (default: open ones)`;

const pentestConfigSchema = z.object({
  OPERATOR_DATABASE_URL: postgresUrl(
    "the freight_operator role's connection URL",
    "postgres://freight_operator:...@host:5432/freight",
  ),
});
export const pentestEnv = defineEnv({
  process: "pentest command",
  schema: pentestConfigSchema,
  secrets: ["OPERATOR_DATABASE_URL"],
});

export class FindingRefused extends Error {}

export interface PenTestFinding {
  reference: string;
  title: string;
  severity: PenTestSeverity;
  foundOn: string;
  fixDueOn: string;
  status: "open" | "closed";
  closedOn: string | null;
  closedBy: string | null;
  resolution: string | null;
}

const COLUMNS = `reference, title, severity, found_on AS "foundOn", fix_due_on AS "fixDueOn", status,
  closed_on AS "closedOn", closed_by AS "closedBy", resolution`;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function isDate(value: string): boolean {
  return (
    DATE.test(value) &&
    !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) &&
    new Date(`${value}T00:00:00Z`).toISOString().startsWith(value)
  );
}

export async function addFinding(
  pool: pg.Pool,
  finding: { reference: string; title: string; severity: string; foundOn: string; recordedBy: string },
): Promise<PenTestFinding> {
  const problems: string[] = [];
  if (!(PEN_TEST_SEVERITIES as readonly string[]).includes(finding.severity))
    problems.push(
      `--severity ${JSON.stringify(finding.severity)} must be one of ${PEN_TEST_SEVERITIES.join(", ")}`,
    );
  if (!isDate(finding.foundOn))
    problems.push(`--found ${JSON.stringify(finding.foundOn)} must be a date, YYYY-MM-DD`);
  else if (finding.foundOn > new Date().toISOString().slice(0, 10))
    problems.push(`--found ${finding.foundOn} is in the future: give the day the tester reported it`);
  if (!finding.reference.trim() || finding.reference.length > 100)
    problems.push("--reference must be 1 to 100 characters");
  if (!finding.title.trim() || finding.title.length > 300)
    problems.push("--title must be 1 to 300 characters");
  if (problems.length) throw new FindingRefused(problems.join("\n"));
  const { rows } = await pool.query<PenTestFinding>(
    `INSERT INTO pen_test_findings (reference, title, severity, found_on, recorded_by) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (reference) DO NOTHING RETURNING ${COLUMNS}`,
    [finding.reference, finding.title, finding.severity, finding.foundOn, finding.recordedBy],
  );
  if (!rows[0])
    throw new FindingRefused(
      `finding ${finding.reference} is already in the register; list it with npm run pentest -- list --all`,
    );
  return rows[0];
}

export async function closeFinding(
  pool: pg.Pool,
  reference: string,
  close: { closedBy: string; resolution: string; closedOn?: string },
): Promise<PenTestFinding> {
  const closedOn = close.closedOn ?? new Date().toISOString().slice(0, 10);
  if (!isDate(closedOn))
    throw new FindingRefused(`--on ${JSON.stringify(closedOn)} must be a date, YYYY-MM-DD`);
  if (!close.resolution.trim()) throw new FindingRefused("--resolution must say what fixed it");
  // Guarded by status: of two closes racing, one applies and the other is told it was closed.
  const { rows } = await pool.query<PenTestFinding>(
    `UPDATE pen_test_findings SET status = 'closed', closed_on = $2, closed_by = $3, resolution = $4
      WHERE reference = $1 AND status = 'open' AND found_on <= $2::date RETURNING ${COLUMNS}`,
    [reference, closedOn, close.closedBy, close.resolution],
  );
  if (rows[0]) return rows[0];
  const { rows: found } = await pool.query<PenTestFinding>(
    `SELECT ${COLUMNS} FROM pen_test_findings WHERE reference = $1`,
    [reference],
  );
  if (!found[0])
    throw new FindingRefused(`no finding ${reference}; list them with npm run pentest -- list --all`);
  if (found[0].status === "closed")
    throw new FindingRefused(
      `finding ${reference} was closed on ${found[0].closedOn} by ${found[0].closedBy}; nothing changed`,
    );
  throw new FindingRefused(`--on ${closedOn} is before the finding was found (${found[0].foundOn})`);
}

export async function listFindings(pool: pg.Pool, all: boolean): Promise<PenTestFinding[]> {
  const { rows } = await pool.query<PenTestFinding>(
    `SELECT ${COLUMNS} FROM pen_test_findings ${all ? "" : "WHERE status = 'open'"} ORDER BY fix_due_on, reference`,
  );
  return rows;
}

function usage(message: string): number {
  console.error(`${message}\n\n${USAGE}`);
  return 2;
}

function describe(f: PenTestFinding, today: string): string {
  const due =
    f.status === "closed"
      ? `closed ${f.closedOn} by ${f.closedBy}: ${f.resolution}`
      : f.fixDueOn < today
        ? `OVERDUE since ${f.fixDueOn}`
        : `fix due ${f.fixDueOn}`;
  return `${f.reference}  ${f.severity.padEnd(13)} found ${f.foundOn}  ${due}  ${f.title}`;
}

export async function main(argv: string[], env: Env = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        reference: { type: "string" },
        severity: { type: "string" },
        found: { type: "string" },
        title: { type: "string" },
        by: { type: "string" },
        resolution: { type: "string" },
        on: { type: "string" },
        all: { type: "boolean" },
      },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values } = parsed;
  const [command, reference] = parsed.positionals;
  if (command === "add") {
    const missing = (["reference", "severity", "found", "title", "by"] as const).filter((k) => !values[k]);
    if (missing.length) return usage(`add needs ${missing.map((m) => `--${m}`).join(", ")}`);
  } else if (command === "close") {
    if (!reference) return usage("close needs the finding's reference");
    if (!values.by || !values.resolution) return usage("close needs --by and --resolution");
  } else if (command !== "list") return usage(command ? `unknown command ${command}` : "give a command");

  let config;
  try {
    config = pentestEnv.parse(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return EX_CONFIG;
  }
  const pool = createPool(config.OPERATOR_DATABASE_URL, 1);
  const today = new Date().toISOString().slice(0, 10);
  try {
    if (command === "add") {
      const added = await addFinding(pool, {
        reference: values.reference!,
        title: values.title!,
        severity: values.severity!,
        foundOn: values.found!,
        recordedBy: values.by!,
      });
      console.log(`recorded ${describe(added, today)}`);
    } else if (command === "close") {
      const closed = await closeFinding(pool, reference!, {
        closedBy: values.by!,
        resolution: values.resolution!,
        closedOn: values.on,
      });
      console.log(`closed ${describe(closed, today)}`);
    } else {
      const findings = await listFindings(pool, values.all ?? false);
      if (!findings.length) console.log(values.all ? "no findings recorded" : "no open findings");
      for (const f of findings) console.log(describe(f, today));
    }
    return 0;
  } catch (error) {
    if (!(error instanceof FindingRefused)) throw error;
    console.error(error.message);
    return 1;
  } finally {
    await pool.end();
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
