// Fetches an offboarded tenant's data export archive as the earlier data_export task wrote it (before
// migration 0028; the task now builds the tenant's data subject access bundle, fetched with
// `npm run dsr -- download`), for ops, as the read-only freight_ops role:
//   OPS_DATABASE_URL=postgres://freight_ops:...@analytics-replica/freight node app/ops/data-export.ts --tenant <slug>
//   OPS_DATABASE_URL=... node app/ops/data-export.ts --export <id> --out <file.jsonl.gz>
// The first lists the tenant's exports; the second writes one archive (gzip'd JSON Lines: a header line,
// then {"table", "row"} per row) after checking it against the SHA-256 recorded with it.
// Exit code 0: done; 1: not found or corrupt; 2: usage.
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import pg from "pg";

const USAGE =
  "Usage: node app/ops/data-export.ts --tenant <slug>  |  --export <id> --out <file.jsonl.gz>\n" +
  "with OPS_DATABASE_URL (or --database-url) set to the freight_ops role's connection URL on the analytics replica (a primary refuses it).";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function option(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<number> {
  const url = option("--database-url") ?? process.env.OPS_DATABASE_URL;
  const tenant = option("--tenant");
  const id = option("--export");
  const out = option("--out");
  const problems: string[] = [];
  if (!url) problems.push("OPS_DATABASE_URL (or --database-url) is not set");
  if (!tenant && !id) problems.push("give --tenant <slug> to list exports or --export <id> to fetch one");
  if (id && !UUID.test(id))
    problems.push(`--export must be an export id (a UUID); got ${JSON.stringify(id)}`);
  if (id && !out) problems.push("--out <file> is required with --export");
  if (problems.length) {
    console.error(`${problems.join("\n")}\n${USAGE}`);
    return 2;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    if (tenant) {
      const { rows } = await client.query(
        `SELECT id, task_id, reason, bytes, sha256, row_counts, created_at FROM data_exports
          WHERE tenant_slug = $1 ORDER BY created_at`,
        [tenant],
      );
      if (!rows.length) {
        console.error(`no data export for tenant ${tenant}`);
        return 1;
      }
      for (const row of rows) console.log(JSON.stringify(row));
      return 0;
    }
    const { rows } = await client.query<{ archive: Buffer; sha256: string; tenant_slug: string }>(
      "SELECT archive, sha256, tenant_slug FROM data_exports WHERE id = $1",
      [id],
    );
    const row = rows[0];
    if (!row) {
      console.error(`no data export ${id}; list a tenant's with --tenant <slug>`);
      return 1;
    }
    const digest = createHash("sha256").update(row.archive).digest("hex");
    if (digest !== row.sha256) {
      console.error(`export ${id} is corrupt: its SHA-256 is ${digest}, ${row.sha256} was recorded`);
      return 1;
    }
    await writeFile(out!, row.archive);
    console.log(
      `wrote ${row.archive.length} bytes of tenant ${row.tenant_slug}'s export to ${out} (sha256 ${digest})`,
    );
    return 0;
  } finally {
    await client.end();
  }
}

if (import.meta.main) process.exitCode = await main();
