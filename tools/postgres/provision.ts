// A database made ready on a PostgreSQL server: the real roles (random passwords), the migrations, and
// optionally the plan catalogue and demo tenants. Used by the local platform, the game day and tests.
import { randomBytes } from "node:crypto";
import { startPostgres, type PostgresServer } from "./server.ts";
import { bootstrapDatabase, roleUrl, type RolePasswords } from "../../app/db/bootstrap.ts";
import { migrate } from "../../app/db/migrate.ts";
import { createPool } from "../../app/db/pool.ts";
import { seedDemo, seedPlans, seedCarriers } from "../../app/db/seed.ts";

export interface ProvisionedDatabase {
  server: PostgresServer;
  urls: {
    superuser: string;
    owner: string;
    app: string;
    operator: string;
    ops: string;
    billing: string;
    runner: string;
  };
  /** API keys of the demo tenants by slug, when seeded with "demo". */
  demoKeys: Record<string, string>;
  stop(): Promise<void>;
}

export function randomPasswords(): RolePasswords {
  const p = () => randomBytes(12).toString("hex");
  return { owner: p(), app: p(), operator: p(), ops: p(), billing: p(), runner: p() };
}

export interface ProvisionOptions {
  seed?: "demo" | "plans" | "none";
  server?: PostgresServer;
  name?: string;
  /**
   * Let freight_ops read on this primary (ops_guard.reads_on_primary, migration 0035). On by default:
   * a database provisioned here has no analytics replica, and tests, drills and benches read with the
   * ops role on it. The local platform, which has a streaming replica, and the guard's own tests turn
   * it off, as every deployed database has it.
   */
  opsReadsOnPrimary?: boolean;
}

export async function provisionDatabase(options: ProvisionOptions = {}): Promise<ProvisionedDatabase> {
  const server = options.server ?? (await startPostgres({ name: options.name ?? "freight" }));
  try {
    const passwords = randomPasswords();
    const superuser = server.url();
    await bootstrapDatabase(superuser, passwords);
    const urls = {
      superuser,
      owner: roleUrl(superuser, "owner", passwords.owner),
      app: roleUrl(superuser, "app", passwords.app),
      operator: roleUrl(superuser, "operator", passwords.operator),
      ops: roleUrl(superuser, "ops", passwords.ops),
      billing: roleUrl(superuser, "billing", passwords.billing),
      runner: roleUrl(superuser, "runner", passwords.runner),
    };
    await migrate(urls.owner);
    if (options.opsReadsOnPrimary ?? true) {
      const owner = createPool(urls.owner, 1);
      try {
        await owner.query("UPDATE ops_guard SET reads_on_primary = true, changed_at = now()");
      } finally {
        await owner.end();
      }
    }
    let demoKeys: Record<string, string> = {};
    const seed = options.seed ?? "demo";
    if (seed !== "none") {
      const operator = createPool(urls.operator, 2);
      try {
        if (seed === "demo") demoKeys = await seedDemo(operator);
        else {
          await seedPlans(operator);
          await seedCarriers(operator);
        }
      } finally {
        await operator.end();
      }
    }
    return { server, urls, demoKeys, stop: () => server.stop() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
