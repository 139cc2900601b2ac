// Schema migrations: plain SQL files in app/db/migrations, applied in order by node-pg-migrate as the
// schema owner, under its advisory lock so two deploys never migrate at once. Each migration is its own
// transaction, or none when its header says `--! no-transaction` (app/db/migration-sql.ts), so a
// concurrent index build can be one step of a deploy.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runner, type MigrationBuilder } from "node-pg-migrate";
import type pg from "pg";
import { z } from "zod";
import { defineEnv, loadEnv, postgresUrl, type Env } from "../env.ts";
import { downSection, runsOutsideTransaction, statements, upSection } from "./migration-sql.ts";

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "migrations");
export const MIGRATIONS_TABLE = "pgmigrations";

export function migrationNames(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .map((f) => f.replace(/\.sql$/, ""))
    .sort();
}

/**
 * node-pg-migrate's SQL loader runs a file's Up section as one query in the migration's transaction.
 * This one does the same, except for a `--! no-transaction` migration: no transaction, and one query
 * per statement (a multi-statement query is an implicit transaction, where CONCURRENTLY fails too).
 */
async function loadSqlMigrations(filePaths: string[]) {
  return filePaths.map((filePath) => {
    const sql = readFileSync(filePath, "utf8");
    const outside = runsOutsideTransaction(sql);
    const apply = (section: string) => (pgm: MigrationBuilder) => {
      if (!outside) return void pgm.sql(section);
      pgm.noTransaction();
      for (const statement of statements(section)) pgm.sql(statement);
    };
    const down = downSection(sql);
    return {
      id: filePath,
      filePaths: [filePath],
      actions: { up: apply(upSection(sql)), down: down === undefined ? (false as const) : apply(down) },
    };
  });
}

export interface MigrateOptions {
  /** Another directory of migrations (a drill's), with its own bookkeeping table. */
  dir?: string;
  migrationsTable?: string;
  /** Apply at most this many pending migrations (a drill applies one step at a time). */
  count?: number;
}

export async function migrate(
  ownerUrl: string,
  log: (message: string) => void = () => undefined,
  options: MigrateOptions = {},
): Promise<string[]> {
  const applied = await runner({
    databaseUrl: ownerUrl,
    dir: options.dir ?? MIGRATIONS_DIR,
    migrationsTable: options.migrationsTable ?? MIGRATIONS_TABLE,
    direction: "up",
    count: options.count,
    checkOrder: true,
    // One transaction per migration, not one for the whole deploy: a `--! no-transaction` step
    // cannot sit inside a transaction that spans the others.
    singleTransaction: false,
    migrationLoaderStrategies: [{ extensions: [".sql"], loader: loadSqlMigrations }],
    advisoryLockMode: "wait",
    log,
  });
  return applied.map((m) => m.name);
}

/**
 * A migration whose header says `-- Readiness: not needed by this version` is one this build ships
 * but its code does not depend on (the contract step of an expand/contract change, which runs after
 * the rollout): it may be pending while this version serves. Every other migration is needed.
 */
export const NOT_NEEDED_MARKER = /^--\s*Readiness:\s*not needed by this version\b/im;

export interface BuildMigration {
  name: string;
  /** This version's code reads or writes what it creates: not ready until it is applied. */
  needed: boolean;
}

export function buildMigrations(): BuildMigration[] {
  return migrationNames().map((name) => ({
    name,
    needed: !NOT_NEEDED_MARKER.test(readFileSync(join(MIGRATIONS_DIR, `${name}.sql`), "utf8")),
  }));
}
const BUILD_MIGRATIONS = buildMigrations();

export interface MigrationStatus {
  /** Needed by this version and not applied: not ready (the migrations Job has not run yet). */
  missing: string[];
  /** Shipped with this version, not needed by its code, not applied yet: ready. */
  pending: string[];
  /** Applied but unknown to this build: a newer version migrated (its expand step); ready. */
  ahead: string[];
}

/**
 * Where the database's schema stands for this build. Readiness fails only on `missing`, so during a
 * rolling deploy neither the old version (the schema is ahead of it) nor the new one (a contract step
 * is still pending) is taken out of service, and the rollout never stalls on its own migrations.
 */
export async function migrationStatus(
  client: pg.Pool | pg.PoolClient,
  migrations: BuildMigration[] = BUILD_MIGRATIONS,
  migrationsTable = MIGRATIONS_TABLE,
): Promise<MigrationStatus> {
  const result = await client.query<{ name: string }>(`SELECT name FROM ${migrationsTable}`);
  const applied = new Set(result.rows.map((r) => r.name));
  const known = new Set(migrations.map((m) => m.name));
  return {
    missing: migrations.filter((m) => m.needed && !applied.has(m.name)).map((m) => m.name),
    pending: migrations.filter((m) => !m.needed && !applied.has(m.name)).map((m) => m.name),
    ahead: [...applied].filter((name) => !known.has(name)).sort(),
  };
}

export const migrateEnv = defineEnv({
  process: "migration",
  schema: z.object({
    MIGRATIONS_DATABASE_URL: postgresUrl(
      "the schema owner's connection URL (or pass it as npm run migrate -- --database-url <url>)",
      "postgres://freight_owner:...@host:5432/freight",
    ),
  }),
  secrets: ["MIGRATIONS_DATABASE_URL"],
});

/** The migration job's configuration from `env`; throws ConfigError listing every problem. */
export function parseMigrateConfig(env: Env): { MIGRATIONS_DATABASE_URL: string } {
  return migrateEnv.parse(env);
}

async function main(): Promise<void> {
  // --database-url stands in for the variable, and is checked the same way.
  const index = process.argv.indexOf("--database-url");
  const env =
    index > 0
      ? {
          ...process.env,
          MIGRATIONS_DATABASE_URL: process.argv[index + 1],
          MIGRATIONS_DATABASE_URL_FILE: undefined,
        }
      : process.env;
  const url = loadEnv(migrateEnv, env).MIGRATIONS_DATABASE_URL;
  const applied = await migrate(url, (message) => console.log(message));
  console.log(applied.length ? `Applied ${applied.join(", ")}` : "Schema is current; nothing to apply.");
}

if (import.meta.main) await main();
