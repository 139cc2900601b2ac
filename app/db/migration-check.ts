// The CI check that refuses a migration which would break the version still serving beside it.
// During a rolling deploy the migrations Job runs first and the previous version keeps serving until
// every new pod is ready, so each migration's Up section must be safe for the previous version's code
// and must not block a hot table for longer than an instant. Refused, each with its reason:
//   - DROP or RENAME of a column or table the code still reads (expand/contract: stop reading it in
//     one release, drop it in the next, when no version that reads it can be serving)
//   - ADD COLUMN ... DEFAULT <volatile> on a hot table (rewrites the table under ACCESS EXCLUSIVE)
//   - ALTER COLUMN ... SET NOT NULL on a hot table without a validated CHECK (col IS NOT NULL)
//     (a full scan under ACCESS EXCLUSIVE; with the validated check PostgreSQL 12+ skips the scan)
//   - ALTER COLUMN ... TYPE on a hot table (a rewrite under ACCESS EXCLUSIVE)
//   - CREATE INDEX without CONCURRENTLY on a hot table (blocks writes for the whole build)
//   - CONCURRENTLY in a migration not marked `--! no-transaction` (it cannot run in a transaction),
//     and a concurrent build not preceded by DROP INDEX CONCURRENTLY IF EXISTS (a failed build leaves
//     an INVALID index whose name makes the re-run fail)
//   - ADD CONSTRAINT (foreign key or check) on a hot table without NOT VALID (a scan under lock)
// The code that reads a column is found by its name in the source (SQL lives in strings there); a
// name that is also an unrelated word is reported too: rename the column, or read the report.
// Migrations up to GRANDFATHERED predate this check and are not re-judged.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { MIGRATIONS_DIR } from "./migrate.ts";
import { runsOutsideTransaction, statements, upSection } from "./migration-sql.ts";

export { statements, upSection };

/** Tables written on every request or task: a lock held on one of them is an outage. */
export const HOT_TABLES = [
  "quotes",
  "bookings",
  "api_keys",
  "usage_counters",
  "idempotency_keys",
  "request_rate_buckets",
  "agent_tasks",
  "jobs",
  "bulk_job_lanes",
  "tenants",
  "entitlements",
];

/** The last migration written before this check; later ones are all checked. */
export const GRANDFATHERED = "0014_documents";

export interface MigrationProblem {
  migration: string;
  /** The offending statement, shortened. */
  statement: string;
  reason: string;
}

/** A file of source code a column could be read from, with its text. */
export interface SourceFile {
  path: string;
  text: string;
}

const IDENT = String.raw`"?([A-Za-z_][A-Za-z0-9_]*)"?`;
const TABLE = String.raw`(?:ONLY\s+)?(?:IF\s+EXISTS\s+)?(?:[A-Za-z_][A-Za-z0-9_]*\.)?${IDENT}`;
const VOLATILE = /\b(random|gen_random_uuid|uuid_generate_v4|clock_timestamp|timeofday|nextval)\s*\(/i;

function readers(name: string, sources: SourceFile[]): string[] {
  const word = new RegExp(`\\b${name}\\b`);
  const found: string[] = [];
  for (const source of sources) {
    const lines = source.text.split("\n");
    const at = lines.findIndex((line) => word.test(line));
    if (at >= 0) found.push(`${source.path}:${at + 1}`);
  }
  return found;
}

const short = (statement: string) => statement.replace(/\s+/g, " ").slice(0, 160);

/**
 * The problems of one migration's SQL. `sources` is the code of the version that serves beside it
 * (the previous release, or the current tree when it is the same for what this migration touches);
 * `earlier` is the SQL of the migrations before it (a validated NOT NULL check may be there).
 */
export function checkMigration(
  migration: string,
  sql: string,
  options: { sources: SourceFile[]; earlier?: string; hotTables?: string[] },
): MigrationProblem[] {
  const hot = new Set(options.hotTables ?? HOT_TABLES);
  const problems: MigrationProblem[] = [];
  const up = upSection(sql);
  // CONCURRENTLY only runs outside a transaction, which the runner allows per migration.
  const outside = runsOutsideTransaction(sql);
  const all = `${options.earlier ?? ""}\n${up}`;
  const refuse = (statement: string, reason: string) =>
    problems.push({ migration, statement: short(statement), reason });
  const stillRead = (name: string, what: string, statement: string, fix: string) => {
    const found = readers(name, options.sources);
    if (found.length)
      refuse(
        statement,
        `${what} is still read by the version serving beside this migration (${found.slice(0, 3).join(", ")}${found.length > 3 ? `, and ${found.length - 3} more` : ""}): ${fix}`,
      );
  };

  for (const statement of statements(up)) {
    const alter = new RegExp(String.raw`^ALTER\s+TABLE\s+${TABLE}\s+([\s\S]*)$`, "i").exec(statement);
    if (alter) {
      const table = alter[1]!.toLowerCase();
      const actions = alter[2]!;
      for (const drop of actions.matchAll(
        new RegExp(String.raw`DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?${IDENT}`, "gi"),
      )) {
        const column = drop[1]!;
        if (/^(CONSTRAINT|DEFAULT|NOT|IDENTITY|EXPRESSION)$/i.test(column)) continue;
        stillRead(
          column,
          `column ${table}.${column}`,
          statement,
          "stop reading and writing it in one release, and drop it in a later one",
        );
      }
      const renameColumn = new RegExp(String.raw`RENAME\s+(?:COLUMN\s+)?${IDENT}\s+TO\s+${IDENT}`, "i").exec(
        actions,
      );
      if (renameColumn && !/^RENAME\s+TO\b/i.test(actions.trim()))
        stillRead(
          renameColumn[1]!,
          `column ${table}.${renameColumn[1]!} (renamed to ${renameColumn[2]!})`,
          statement,
          "add the new column, write both, backfill, switch reads, and drop the old one in a later release",
        );
      const renameTable = /^RENAME\s+TO\s+"?([A-Za-z_][A-Za-z0-9_]*)"?/i.exec(actions.trim());
      if (renameTable)
        stillRead(
          table,
          `table ${table} (renamed to ${renameTable[1]!})`,
          statement,
          "create the new table (or a view), write both, switch reads, and drop the old one in a later release",
        );
      if (!hot.has(table)) continue;
      const addColumn =
        /ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"?([A-Za-z_][A-Za-z0-9_]*)"?[^,]*\bDEFAULT\s+([^,]+)/i.exec(
          actions,
        );
      if (addColumn && VOLATILE.test(addColumn[2]!))
        refuse(
          statement,
          `adding ${table}.${addColumn[1]!} with a volatile default (${addColumn[2]!.trim().replace(/;$/, "")}) rewrites the hot table ${table} under an ACCESS EXCLUSIVE lock: add it without a default (or with a constant one), backfill in batches, then set the default`,
        );
      for (const notNull of actions.matchAll(
        new RegExp(String.raw`ALTER\s+(?:COLUMN\s+)?${IDENT}\s+SET\s+NOT\s+NULL`, "gi"),
      )) {
        const column = notNull[1]!;
        const check = new RegExp(
          String.raw`ADD\s+CONSTRAINT\s+"?([A-Za-z_][A-Za-z0-9_]*)"?\s+CHECK\s*\(\s*"?${column}"?\s+IS\s+NOT\s+NULL\s*\)`,
          "i",
        ).exec(all);
        const validated =
          check && new RegExp(String.raw`VALIDATE\s+CONSTRAINT\s+"?${check[1]!}"?`, "i").test(all);
        if (!validated)
          refuse(
            statement,
            `SET NOT NULL on ${table}.${column} scans the hot table ${table} under an ACCESS EXCLUSIVE lock: first ADD CONSTRAINT ... CHECK (${column} IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT (no blocking lock), then SET NOT NULL`,
          );
      }
      if (/ALTER\s+(?:COLUMN\s+)?"?[A-Za-z_][A-Za-z0-9_]*"?\s+(?:SET\s+DATA\s+)?TYPE\b/i.test(actions))
        refuse(
          statement,
          `changing a column's type on the hot table ${table} rewrites it under an ACCESS EXCLUSIVE lock: add a column of the new type, dual-write, backfill, switch reads, drop the old one later`,
        );
      if (
        /ADD\s+(?:CONSTRAINT\s+\S+\s+)?(FOREIGN\s+KEY|CHECK)\b/i.test(actions) &&
        !/\bNOT\s+VALID\b/i.test(actions)
      )
        refuse(
          statement,
          `adding a constraint to the hot table ${table} scans it under lock: add it NOT VALID, then VALIDATE CONSTRAINT in a later statement`,
        );
      continue;
    }
    const drop = new RegExp(
      String.raw`^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([\s\S]*?)(?:\s+CASCADE|\s+RESTRICT)?;?$`,
      "i",
    ).exec(statement);
    if (drop)
      for (const name of drop[1]!.split(",").map((n) => n.trim().replace(/^.*\./, "").replace(/"/g, "")))
        stillRead(
          name,
          `table ${name}`,
          statement,
          "stop using it in one release, and drop it in a later one",
        );
    const index = new RegExp(
      String.raw`^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:"?([A-Za-z_][A-Za-z0-9_]*)"?\s+)?ON\s+${TABLE}`,
      "i",
    ).exec(statement);
    if (!index) {
      if (/^(DROP|REINDEX|REFRESH)\b[\s\S]*\bCONCURRENTLY\b/i.test(statement) && !outside)
        refuse(
          statement,
          `${statement.split(/\s+/)[0]!.toUpperCase()} ... CONCURRENTLY cannot run inside the transaction the runner applies a migration in: mark the migration \`--! no-transaction\` in its header`,
        );
      continue;
    }
    const [, concurrently, indexName, table] = index;
    if (concurrently && !outside)
      refuse(
        statement,
        `CREATE INDEX CONCURRENTLY cannot run inside the transaction the runner applies a migration in: mark the migration \`--! no-transaction\` in its header (keep the other steps in their own migration)`,
      );
    else if (concurrently && indexName && !droppedBefore(up, statement, indexName))
      refuse(
        statement,
        `a failed concurrent build leaves the index ${indexName} behind, INVALID, and the re-run then fails on its name: put DROP INDEX CONCURRENTLY IF EXISTS ${indexName}; before the build`,
      );
    else if (!concurrently && hot.has(table!.toLowerCase()) && !blockingIndexAccepted(up, table!))
      refuse(
        statement,
        `CREATE INDEX on the hot table ${table!} blocks its writes for the whole build: use CREATE INDEX CONCURRENTLY in a migration marked \`--! no-transaction\``,
      );
  }
  return problems;
}

/** The migration drops the index (concurrently, if it exists) before it builds it: a re-run is harmless. */
function droppedBefore(up: string, build: string, name: string): boolean {
  const before = up.slice(0, up.indexOf(build.split("\n")[0]!));
  return new RegExp(
    String.raw`DROP\s+INDEX\s+CONCURRENTLY\s+IF\s+EXISTS\s+(?:[A-Za-z_][A-Za-z0-9_]*\.)?"?${name}"?\s*;`,
    "i",
  ).test(before);
}

/**
 * Migrations written before the runner could apply one outside a transaction accepted a blocking build
 * on a hot table by saying so, with its reason, in a comment line of their Up section:
 * `-- migration-check: accept blocking index on <table>: <reason>`. Still honoured for those; a new
 * index on a hot table is built CONCURRENTLY in a `--! no-transaction` migration instead.
 */
function blockingIndexAccepted(up: string, table: string): boolean {
  return new RegExp(String.raw`^--\s*migration-check: accept blocking index on ${table}: \S`, "im").test(up);
}

function sourceFiles(root: string, dirs: string[]): SourceFile[] {
  return dirs.flatMap((dir) =>
    readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
      .filter((f) => f.isFile() && f.name.endsWith(".ts") && !f.name.endsWith(".test.ts"))
      .map((f) => {
        const path = join(f.parentPath, f.name);
        return { path: relative(root, path), text: readFileSync(path, "utf8") };
      }),
  );
}

/** Every migration after GRANDFATHERED in `dir`, against the code in app/ and operators/ under `root`. */
export function checkMigrations(
  options: { dir?: string; root?: string; sources?: SourceFile[] } = {},
): MigrationProblem[] {
  const dir = options.dir ?? MIGRATIONS_DIR;
  const root = options.root ?? join(MIGRATIONS_DIR, "..", "..", "..");
  const sources = options.sources ?? sourceFiles(root, ["app", "operators"]);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort();
  const problems: MigrationProblem[] = [];
  let earlier = "";
  for (const file of files) {
    const sql = readFileSync(join(dir, file), "utf8");
    const name = file.replace(/\.sql$/, "");
    if (name > GRANDFATHERED) problems.push(...checkMigration(name, sql, { sources, earlier }));
    earlier += `\n${upSection(sql)}`;
  }
  return problems;
}

if (import.meta.main) {
  const problems = checkMigrations();
  for (const p of problems) console.error(`${p.migration}: ${p.reason}\n    ${p.statement}`);
  if (problems.length) {
    console.error(
      `${problems.length} migration problem(s): the previous version would break or stall during a rolling deploy`,
    );
    process.exit(1);
  }
  console.log("every migration is safe to run beside the previous version");
}
