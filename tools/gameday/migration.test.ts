// The zero-downtime migration game day, short but complete, held to the goal of issue 20: every step
// of an expand/contract rename applied under load, two releases side by side through each rolling
// deploy, and not one failed request, while the migration check finds every step safe beside the
// releases serving and refuses the same drop while a release still reads the column.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkMigration } from "../../app/db/migration-check.ts";
import { RELEASES } from "./migration-app.ts";
import { DRILL_MIGRATIONS_DIR, formatMigrationReport, runMigrationGameDay } from "./migration.ts";

describe("migration game day", () => {
  it("refuses the contract step while a release that reads the old column still serves", () => {
    const sql = readFileSync(join(DRILL_MIGRATIONS_DIR, "0006_contract_weight_pounds.sql"), "utf8");
    const beside = { path: "v3", text: `${RELEASES.v3.insert}\n${RELEASES.v3.select}` };
    const problems = checkMigration("0006_contract_weight_pounds", sql, {
      sources: [beside],
      hotTables: ["drill_shipments"],
    });
    expect(problems.map((p) => p.reason)).toEqual([
      expect.stringMatching(/column drill_shipments\.weight_pounds is still read .*\(v3:1\)/),
    ]);
  });

  it("applies an expand/contract rename under load with zero failed requests", async () => {
    const report = await runMigrationGameDay({ phaseSeconds: 2, log: () => undefined });
    console.log(formatMigrationReport(report));
    expect(report.checkProblems).toEqual([]);
    expect(report.failures).toEqual([]);
    expect(report.requests.failed).toBe(0);
    expect(report.requests.writes).toBeGreaterThan(100);
    expect(report.requests.reads).toBeGreaterThan(50);
    // Every release answered, and two releases answered inside each rolling deploy.
    for (const version of ["v1", "v2", "v3", "v4"]) expect(report.servedBy[version]).toBeGreaterThan(0);
    for (const deploy of ["v1+v2", "v2+v3", "v3+v4"])
      expect(report.phases.find((p) => p.name.startsWith(deploy))?.requests).toBeGreaterThan(0);
    // Every step ran through the runner; the index and the backfill outside a transaction.
    expect(report.migrations.map((m) => [m.name, m.outsideTransaction])).toEqual([
      ["0001_drill_shipments", false],
      ["0002_expand_gross_weight", false],
      ["0003_index_gross_weight", true],
      ["0004_backfill_gross_weight", true],
      ["0005_gross_weight_required", false],
      ["0006_contract_weight_pounds", false],
    ]);
    // The 40 000 rows from before the drill and every row written during it carry the new column.
    expect(report.rows.total).toBe(40_000 + report.requests.writes);
    expect(report.rows.withoutNewColumn).toBe(0);
    expect(report.crossTenantRead).toBe(404);
  }, 180_000);
});
