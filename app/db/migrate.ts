// Schema migrations: plain SQL files in app/db/migrations, applied in order by node-pg-migrate as the
// schema owner, under its advisory lock so two deploys never migrate at once.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import type pg from "pg";
import { z } from "zod";
import { defineEnv, loadEnv, postgresUrl, type Env } from "../env.ts";

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "migrations");
export const MIGRATIONS_TABLE = "pgmigrations";

export function migrationNames(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith(".sql"))
    .map((f) => f.replace(/\.sql$/, ""))
    .sort();
}

export async function migrate(
  ownerUrl: string,
  log: (message: string) => void = () => undefined,
): Promise<string[]> {
  const applied = await runner({
    databaseUrl: ownerUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction: "up",
    checkOrder: true,
    singleTransaction: true,
    advisoryLockMode: "wait",
    log,
  });
  return applied.map((m) => m.name);
}

/** Migrations present in this build but not applied to the database (readiness fails while any are). */
export async function pendingMigrations(client: pg.Pool | pg.PoolClient): Promise<string[]> {
  const result = await client.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE}`);
  const applied = new Set(result.rows.map((r) => r.name));
  return migrationNames().filter((name) => !applied.has(name));
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
