// A throw-away database for a test file: its own PostgreSQL server, the real roles and migrations,
// optionally seeded. Tests connect as roles that are neither SUPERUSER nor BYPASSRLS. freight_ops may
// read on it although it is a primary (opsReadsOnPrimary, on unless a test turns it off): a test
// database has no analytics replica.
import { provisionDatabase, type ProvisionedDatabase, type ProvisionOptions } from "./provision.ts";

export type TestDatabase = ProvisionedDatabase;

export function startTestDatabase(
  options: Pick<ProvisionOptions, "seed" | "server" | "opsReadsOnPrimary"> = {},
): Promise<TestDatabase> {
  return provisionDatabase({ name: "test", ...options });
}
