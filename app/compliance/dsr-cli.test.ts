// Ops' commands against a real database and runner: `npm run dsr` (receive, verify, deny, status and
// the monthly drill) and `npm run pentest` (the findings register), with the figures the evidence
// report and the alerting gauges read from them.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createPool } from "../db/pool.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { startTestRunner } from "../../tools/platform/runner.ts";
import type { RunningRunner } from "../runner/main.ts";
import { main as dsr } from "./dsr-cli.ts";
import { main as pentest } from "./pen-test-findings.ts";
import { dsrOnTimeRate, openDsrRequestsByDue, penTestFindingsAgainstSla } from "./evidence-sources.ts";

let db: TestDatabase;
let runner: RunningRunner;
let ops: pg.Pool;
let owner: pg.Pool;
let env: Record<string, string>;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  runner = await startTestRunner(db.urls.runner);
  ops = createPool(db.urls.ops, 2);
  owner = createPool(db.urls.superuser.replace(/\/postgres$/, "/freight"), 1);
  env = { OPERATOR_DATABASE_URL: db.urls.operator };
}, 120_000);
afterAll(async () => {
  await runner?.stop();
  await ops?.end();
  await owner?.end();
  await db?.stop();
});

/** Runs a command as ops would, returning its exit code and what it printed. */
async function run(command: typeof dsr, ...argv: string[]) {
  const out: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((line: string) => void out.push(line));
  const error = vi.spyOn(console, "error").mockImplementation((line: string) => void out.push(line));
  try {
    const code = await command(argv, env);
    return { code, out: out.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

const requestId = (out: string) => /([0-9a-f]{8}-[0-9a-f-]{27})/.exec(out)![1]!;

describe("npm run dsr", () => {
  it("runs the monthly drill through the runner and reports on-time rate and completeness", async () => {
    const { code, out } = await run(dsr, "drill", "--timeout", "60");
    expect(code).toBe(0);
    const report = JSON.parse(out.split("\n").at(-1)!);
    expect(report).toMatchObject({
      passed: true,
      access: { status: "completed", onTime: true, complete: true },
      erasure: { status: "completed", onTime: true, complete: true },
      onTimeRate: 1,
      overdueOpen: 0,
    });
    expect(out).toContain("drill passed");
    // A second run seeds a new subject in the same drill tenant and passes again.
    expect((await run(dsr, "drill", "--timeout", "60")).code).toBe(0);
    expect(await dsrOnTimeRate(ops)).toEqual({ completed: 4, onTime: 4, rate: 1, overdueOpen: 0 });
  });

  it("receives, verifies, denies and shows requests, refusing what it cannot do", async () => {
    expect(
      await run(
        dsr,
        "receive",
        "--tenant",
        "no-such-tenant",
        "--kind",
        "access",
        "--email",
        "a@b.example",
        "--by",
        "ops",
      ),
    ).toMatchObject({
      code: 1,
      out: expect.stringContaining("no tenant no-such-tenant"),
    });
    const missing = await run(
      dsr,
      "receive",
      "--tenant",
      "acme-logistics",
      "--kind",
      "access",
      "--by",
      "ops",
    );
    expect(missing).toMatchObject({ code: 2, out: expect.stringContaining("give exactly one of --email") });
    // Nobody by that address at acme: refused, nothing recorded.
    const unknown = await run(
      dsr,
      "receive",
      "--tenant",
      "acme-logistics",
      "--kind",
      "erasure",
      "--email",
      "x@nowhere.example",
      "--by",
      "ops",
    );
    expect(unknown).toMatchObject({
      code: 1,
      out: expect.stringContaining("holds no data about that subject"),
    });

    const whole = await run(
      dsr,
      "receive",
      "--tenant",
      "globex-freight",
      "--kind",
      "access",
      "--whole-tenant",
      "--by",
      "ops",
    );
    expect(whole.code).toBe(0);
    const id = requestId(whole.out);
    expect((await run(dsr, "verify", id, "--by", "ops")).code).toBe(2);
    const status = await run(dsr, "status");
    expect(status.out).toContain(id);
    const denied = await run(
      dsr,
      "deny",
      id,
      "--by",
      "ops",
      "--reason",
      "requester could not prove they sign for globex",
    );
    expect(denied).toMatchObject({ code: 0, out: expect.stringContaining("denied") });
    expect(await run(dsr, "verify", id, "--by", "ops", "--method", "call-back")).toMatchObject({
      code: 1,
      out: expect.stringContaining("is denied"),
    });
    const history = await run(dsr, "status", id);
    expect(history.out).toMatch(/received[\s\S]*denied/);
  });

  it("counts open requests by how close their due date is, and overdue ones against the rate", async () => {
    // A request received 6 days ago is due within 48 hours; one received 8 days ago is overdue.
    const { rows } = await owner.query<{ id: string }>(
      "SELECT id FROM tenants WHERE slug = 'acme-logistics'",
    );
    for (const daysAgo of [6, 8])
      await owner.query(
        `INSERT INTO dsr_requests (tenant_id, kind, scope, subject_hash, requested_by, received_at, due_at)
         VALUES ($1, 'access', 'tenant', encode(sha256($2::bytea), 'hex'), 'test', now() - make_interval(days => $3),
                 now() - make_interval(days => $3) + interval '168 hours')`,
        [rows[0]!.id, `t${daysAgo}`, daysAgo],
      );
    expect(await openDsrRequestsByDue(ops)).toEqual({ overdue: 1, dueSoon: 1, later: 0 });
    expect((await dsrOnTimeRate(ops)).overdueOpen).toBe(1);
  });
});

describe("npm run pentest", () => {
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

  it("adds, lists and closes findings with a 14-day fix date, and counts them against the SLA", async () => {
    expect(await penTestFindingsAgainstSla(ops)).toEqual({ open: 0, overdue: 0, dueWithin7Days: 0 });
    const added = await run(
      pentest,
      "add",
      "--reference",
      "PT-1",
      "--severity",
      "high",
      "--found",
      day(-20),
      "--title",
      "Stored XSS in console",
      "--by",
      "dana",
    );
    expect(added).toMatchObject({ code: 0, out: expect.stringContaining(`OVERDUE since ${day(-6)}`) });
    await run(
      pentest,
      "add",
      "--reference",
      "PT-2",
      "--severity",
      "low",
      "--found",
      day(-10),
      "--title",
      "Verbose error",
      "--by",
      "dana",
    );
    await run(
      pentest,
      "add",
      "--reference",
      "PT-3",
      "--severity",
      "medium",
      "--found",
      day(0),
      "--title",
      "Weak TLS cipher",
      "--by",
      "dana",
    );
    expect(await penTestFindingsAgainstSla(ops)).toEqual({ open: 3, overdue: 1, dueWithin7Days: 1 });

    const listed = await run(pentest, "list");
    expect(listed.out.split("\n").map((l) => l.split(" ")[0])).toEqual(["PT-1", "PT-2", "PT-3"]);
    expect(
      await run(pentest, "close", "PT-1", "--by", "dana", "--resolution", "output encoding"),
    ).toMatchObject({ code: 0 });
    expect(await penTestFindingsAgainstSla(ops)).toEqual({ open: 2, overdue: 0, dueWithin7Days: 1 });
    expect((await run(pentest, "list")).out).not.toContain("PT-1");
    expect((await run(pentest, "list", "--all")).out).toContain("closed");
  });

  it("refuses bad input and changes nothing", async () => {
    const cases: [string[], number, string][] = [
      [
        [
          "add",
          "--reference",
          "PT-1",
          "--severity",
          "high",
          "--found",
          day(-1),
          "--title",
          "dup",
          "--by",
          "x",
        ],
        1,
        "already in the register",
      ],
      [
        [
          "add",
          "--reference",
          "PT-9",
          "--severity",
          "urgent",
          "--found",
          day(-1),
          "--title",
          "t",
          "--by",
          "x",
        ],
        1,
        "must be one of critical",
      ],
      [
        [
          "add",
          "--reference",
          "PT-9",
          "--severity",
          "low",
          "--found",
          "2026-02-30",
          "--title",
          "t",
          "--by",
          "x",
        ],
        1,
        "must be a date",
      ],
      [
        ["add", "--reference", "PT-9", "--severity", "low", "--found", day(3), "--title", "t", "--by", "x"],
        1,
        "is in the future",
      ],
      [["add", "--reference", "PT-9"], 2, "add needs --severity, --found, --title, --by"],
      [["close", "PT-1", "--by", "x", "--resolution", "again"], 1, "was closed on"],
      [["close", "PT-404", "--by", "x", "--resolution", "r"], 1, "no finding PT-404"],
      [
        ["close", "PT-2", "--by", "x", "--resolution", "r", "--on", day(-30)],
        1,
        "before the finding was found",
      ],
    ];
    for (const [argv, code, message] of cases) {
      const result = await run(pentest, ...argv);
      expect(result, argv.join(" ")).toMatchObject({ code, out: expect.stringContaining(message) });
    }
    const { rows } = await ops.query("SELECT reference, status FROM pen_test_findings ORDER BY reference");
    expect(rows).toEqual([
      { reference: "PT-1", status: "closed" },
      { reference: "PT-2", status: "open" },
      { reference: "PT-3", status: "open" },
    ]);
  });
});
