// A throw-away database for a test file: its own PostgreSQL server, the real roles and migrations,
// optionally seeded. Tests connect as roles that are neither SUPERUSER nor BYPASSRLS.
import { provisionDatabase, type ProvisionedDatabase } from "./provision.ts";
import type { PostgresServer } from "./server.ts";

export type TestDatabase = ProvisionedDatabase;

export function startTestDatabase(
  options: { seed?: "demo" | "plans" | "none"; server?: PostgresServer } = {},
): Promise<TestDatabase> {
  return provisionDatabase({ name: "test", ...options });
}
