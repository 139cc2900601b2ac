import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { decideDiscount } from "./discounts.ts";

const run = promisify(execFile);

describe("discount guardrails", () => {
  it("caps the discount by term, whoever approves", () => {
    expect(decideDiscount({ term: "monthly", percent: 12, role: "cfo" })).toMatchObject({
      decision: "refused",
      requiredRole: null,
      detail: expect.stringMatching(
        /exceeds the 10% maximum for monthly terms; no one may approve it\. A annual or prepay term allows it/,
      ),
    });
    expect(decideDiscount({ term: "prepay", percent: 31, role: "cfo" })).toMatchObject({
      decision: "refused",
      detail: expect.stringMatching(/No term allows more than 30%/),
    });
  });

  it("refuses a discount above the approver's authority, naming the approver it needs", () => {
    expect(decideDiscount({ term: "annual", percent: 15, role: "sales_manager" })).toEqual({
      decision: "refused",
      requiredRole: "sales_director",
      detail: "sales_manager may approve up to 10%; 15% on annual terms needs approval by sales_director.",
    });
    expect(decideDiscount({ term: "monthly", percent: 5.5, role: "account_executive" })).toMatchObject({
      requiredRole: "sales_manager",
    });
    expect(decideDiscount({ term: "prepay", percent: 25, role: "sales_director" })).toMatchObject({
      requiredRole: "cfo",
    });
  });

  it("approves within both the term's cap and the approver's authority, up to the boundaries", () => {
    expect(decideDiscount({ term: "monthly", percent: 5, role: "account_executive" }).decision).toBe(
      "approved",
    );
    expect(decideDiscount({ term: "annual", percent: 20, role: "sales_director" }).decision).toBe("approved");
    expect(decideDiscount({ term: "prepay", percent: 30, role: "cfo" }).decision).toBe("approved");
  });
});

describe("npm run billing:discount", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase({ seed: "demo" });
  }, 120_000);
  afterAll(async () => db?.stop());

  async function cli(args: string[]): Promise<{ code: number; out: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, ["app/billing/deal-desk.ts", ...args], {
        env: { ...process.env, BILLING_DATABASE_URL: db.urls.billing },
      });
      return { code: 0, out: stdout + stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout + e.stderr };
    }
  }
  const decide = (percent: string, role: string, term = "annual") =>
    cli([
      "decide",
      "--tenant",
      "acme-logistics",
      "--deal",
      "Q-118",
      "--term",
      term,
      "--percent",
      percent,
      "--approver",
      `${role}@freight.dev`,
      "--role",
      role,
      "--reason",
      "multi-year logo",
    ]);

  it("approves, refuses with the approver needed, and audits both in order", async () => {
    const refused = await decide("15", "sales_manager");
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/REFUSED .*needs approval by sales_director/);
    const approved = await decide("15", "sales_director");
    expect(approved.code).toBe(0);
    expect(approved.out).toMatch(/APPROVED\s+15% on annual terms approved by sales_director/);

    const history = await cli(["history", "--tenant", "acme-logistics"]);
    expect(history.code).toBe(0);
    const lines = history.out.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /Q-118\s+annual\s+15%\s+refused\s+by sales_manager@freight\.dev \(sales_manager\)\s+needs sales_director/,
    );
    expect(lines[1]).toMatch(/annual\s+15%\s+approved\s+by sales_director@freight\.dev/);
  });

  it("explains bad input and an unknown tenant without recording anything", async () => {
    const bad = await cli([
      "decide",
      "--tenant",
      "acme-logistics",
      "--term",
      "weekly",
      "--percent=-3",
      "--role",
      "intern",
    ]);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/--deal is required/);
    expect(bad.out).toMatch(/--term must be one of monthly, annual, prepay/);
    expect(bad.out).toMatch(/--percent must be a number above 0/);
    expect(bad.out).toMatch(/--role must be one of account_executive, sales_manager, sales_director, cfo/);
    const unknown = await cli([
      "decide",
      "--tenant",
      "nobody",
      "--deal",
      "Q-1",
      "--term",
      "monthly",
      "--percent",
      "5",
      "--approver",
      "a",
      "--role",
      "cfo",
      "--reason",
      "why not",
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toMatch(/There is no tenant 'nobody'/);
  });

  it("the audit is append-only: billing may not change it, and even the schema owner is stopped", async () => {
    const refusals: Array<[string, RegExp]> = [
      [db.urls.billing, /permission denied for table discount_approvals/],
      [db.urls.owner, /append-only audit: (UPDATE|DELETE) is not allowed/],
    ];
    for (const [url, refusal] of refusals) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await expect(client.query("UPDATE discount_approvals SET percent = 30")).rejects.toThrow(refusal);
        await expect(client.query("DELETE FROM discount_approvals")).rejects.toThrow(refusal);
      } finally {
        await client.end();
      }
    }
  });
});
