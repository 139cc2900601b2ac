// The migration check refuses each kind of change that would break the version serving beside it
// during a rolling deploy, naming the reason, and passes the expand steps and the repository's own
// migrations (so `npm test` fails on a bad migration before it ships).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkMigration, checkMigrations, statements, type SourceFile } from "./migration-check.ts";

const FIXTURES = join(import.meta.dirname, "migration-check-fixtures");
const fixture = (name: string) => readFileSync(join(FIXTURES, `${name}.sql`), "utf8");

// The code serving beside the migration: what the quote routes read today.
const sources: SourceFile[] = [
  {
    path: "app/routes/quotes.ts",
    text: "const QUOTE_COLUMNS = `q.id, q.total_cents, q.pricing_version`;\nSELECT * FROM carrier_invites",
  },
];

function reasons(name: string): string[] {
  return checkMigration(name, fixture(name), { sources }).map((p) => p.reason);
}

describe("migration check", () => {
  it.each([
    [
      "drop-column-still-read",
      /column quotes\.pricing_version is still read .*app\/routes\/quotes\.ts:1.*drop it in a later one/,
    ],
    [
      "rename-column-still-read",
      /column quotes\.total_cents \(renamed to total_amount_cents\) is still read/,
    ],
    ["drop-table-still-read", /table carrier_invites is still read .*app\/routes\/quotes\.ts:2/],
    [
      "volatile-default-on-hot-table",
      /volatile default \(gen_random_uuid\(\)\) rewrites the hot table quotes under an ACCESS EXCLUSIVE lock/,
    ],
    [
      "set-not-null-without-check",
      /SET NOT NULL on bookings\.carrier_reference scans .*CHECK \(carrier_reference IS NOT NULL\) NOT VALID/,
    ],
    [
      "index-without-concurrently",
      /CREATE INDEX on the hot table quotes blocks its writes .*CONCURRENTLY in a migration marked `--! no-transaction`/,
    ],
    ["column-type-change-on-hot-table", /changing a column's type on the hot table quotes rewrites it/],
    [
      "concurrent-index-in-transaction",
      /CONCURRENTLY cannot run inside the transaction .*mark the migration `--! no-transaction`/,
    ],
    [
      "concurrent-index-without-drop",
      /leaves the index quotes_lane_key behind, INVALID.*DROP INDEX CONCURRENTLY IF EXISTS quotes_lane_key;/,
    ],
  ])("refuses %s with the reason", (name, reason) => {
    const found = reasons(name);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(reason);
  });

  it("passes the expand steps: nullable or constant-default columns, validated checks, concurrent indexes, new tables", () => {
    expect(reasons("expand-steps-are-safe")).toEqual([]);
  });

  it("passes a concurrent index on a hot table in a no-transaction migration, without an accept comment", () => {
    expect(reasons("concurrent-index-outside-transaction")).toEqual([]);
  });

  it("accepts a blocking index on a hot table only where the migration says so with a reason", () => {
    const sql = (comment: string) => `-- Up Migration\n${comment}\nCREATE INDEX q ON quotes (created_at);\n`;
    expect(
      checkMigration(
        "accepted",
        sql("-- migration-check: accept blocking index on quotes: one pass at release"),
        {
          sources,
        },
      ),
    ).toEqual([]);
    for (const comment of [
      "-- migration-check: accept blocking index on quotes:",
      "-- migration-check: accept blocking index on jobs: another table",
    ])
      expect(checkMigration("unaccepted", sql(comment), { sources })).toHaveLength(1);
  });

  it("allows dropping a column once no code reads it", () => {
    expect(checkMigration("drop", fixture("drop-column-still-read"), { sources: [] })).toEqual([]);
  });

  it("only judges the Up section, and keeps function bodies whole", () => {
    const sql = `-- Up Migration
CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  CREATE INDEX x ON quotes (id);
END
$$;
-- Down Migration
DROP TABLE carrier_invites;`;
    expect(statements(sql.split("-- Down")[0]!)).toHaveLength(1);
    expect(checkMigration("body", sql, { sources })).toEqual([]);
  });

  it("passes every migration in the repository written since the check exists", () => {
    expect(checkMigrations()).toEqual([]);
  });
});
