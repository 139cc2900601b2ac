// Creates the database and the roles the app, the operators and ops reporting connect as. Runs once per
// environment as the server's administrative user (RDS master user in AWS), before migrations.
import pg from "pg";

export const ROLES = {
  owner: "freight_owner",
  app: "freight_app",
  operator: "freight_operator",
  ops: "freight_ops",
  // Stripe webhooks, overage reporting and the deal desk: billing rows of all tenants, no bypass.
  billing: "freight_billing",
  // The runners: claim bulk jobs and agent tasks across tenants, write results in the job's tenant context.
  runner: "freight_runner",
} as const;
export type RoleName = keyof typeof ROLES;
export type RolePasswords = Record<RoleName, string>;

export const DEFAULT_DATABASE = "freight";

export async function bootstrapDatabase(
  adminUrl: string,
  passwords: RolePasswords,
  database = DEFAULT_DATABASE,
): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (const [role, name] of Object.entries(ROLES) as [RoleName, string][]) {
      // No role here is SUPERUSER or BYPASSRLS: row-level security holds for every one of them.
      const exists = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [name]);
      const verb = exists.rowCount ? "ALTER" : "CREATE";
      await admin.query(
        `${verb} ROLE ${name} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD ${pg.escapeLiteral(passwords[role])}`,
      );
    }
    const db = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (!db.rowCount)
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)} OWNER ${ROLES.owner}`);
    // Reporting reads replication lag from pg_stat_replication; pg_monitor grants no row access.
    await admin.query(`GRANT pg_monitor TO ${ROLES.ops}`);
    await admin.query(`REVOKE ALL ON DATABASE ${pg.escapeIdentifier(database)} FROM PUBLIC`);
    await admin.query(
      `GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(database)} TO ${ROLES.app}, ${ROLES.operator}, ${ROLES.ops}, ${ROLES.billing}, ${ROLES.runner}`,
    );
  } finally {
    await admin.end();
  }
}

/** The connection URL of `role` on the server that `adminUrl` points at. */
export function roleUrl(
  adminUrl: string,
  role: RoleName,
  password: string,
  database = DEFAULT_DATABASE,
): string {
  const url = new URL(adminUrl);
  url.username = ROLES[role];
  url.password = password;
  url.pathname = `/${database}`;
  return url.toString();
}
