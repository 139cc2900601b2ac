// The app the migration drill deploys: one server, four releases of an expand/contract rename of
// drill_shipments.weight_pounds to gross_weight_lbs, chosen by its version. Each release is what a
// team would ship (its SQL names only the columns it knows), and declares the drill migrations it
// needs, so its /readyz is the real readiness rule (app/db/migrate.ts migrationStatus): a rolling
// deploy routes to a new release only once its schema is there, and the old one keeps serving beside.
//   v1: writes and reads weight_pounds (before the drill)
//   v2: writes both columns, reads weight_pounds (needs the expand step)
//   v3: writes both columns, reads gross_weight_lbs (needs the backfill)
//   v4: writes and reads gross_weight_lbs (needs the old column released; the drop is its contract step)
// Tenancy is the app's: every statement runs in withTenant, under row-level security.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type pg from "pg";
import { migrationStatus, type BuildMigration } from "../../app/db/migrate.ts";
import { createPool, withTenant } from "../../app/db/pool.ts";

export const DRILL_VERSIONS = ["v1", "v2", "v3", "v4"] as const;
export type DrillVersion = (typeof DRILL_VERSIONS)[number];

export const DRILL_MIGRATIONS_TABLE = "drill_pgmigrations";

interface Release {
  insert: string;
  select: string;
  /** The drill migrations this release's SQL depends on. */
  needs: string[];
}

export const RELEASES: Record<DrillVersion, Release> = {
  v1: {
    insert: "INSERT INTO drill_shipments (id, tenant_id, weight_pounds) VALUES ($1, $2, $3)",
    select: "SELECT weight_pounds AS weight FROM drill_shipments WHERE id = $1",
    needs: ["0001_drill_shipments"],
  },
  v2: {
    insert:
      "INSERT INTO drill_shipments (id, tenant_id, weight_pounds, gross_weight_lbs) VALUES ($1, $2, $3, $3)",
    select: "SELECT weight_pounds AS weight FROM drill_shipments WHERE id = $1",
    needs: ["0001_drill_shipments", "0002_expand_gross_weight"],
  },
  v3: {
    insert:
      "INSERT INTO drill_shipments (id, tenant_id, weight_pounds, gross_weight_lbs) VALUES ($1, $2, $3, $3)",
    select: "SELECT gross_weight_lbs AS weight FROM drill_shipments WHERE id = $1",
    needs: ["0001_drill_shipments", "0002_expand_gross_weight", "0004_backfill_gross_weight"],
  },
  v4: {
    insert: "INSERT INTO drill_shipments (id, tenant_id, gross_weight_lbs) VALUES ($1, $2, $3)",
    select: "SELECT gross_weight_lbs AS weight FROM drill_shipments WHERE id = $1",
    needs: [
      "0001_drill_shipments",
      "0002_expand_gross_weight",
      "0004_backfill_gross_weight",
      "0005_gross_weight_required",
    ],
  },
};

export interface DrillApp {
  version: DrillVersion;
  url: string;
  /** Requests this instance is answering now: a rolling deploy waits for 0 before stopping it. */
  inFlight(): number;
  stop(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function body(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
}

/** Starts release `version` on a free port, connected as the app role. */
export async function startDrillApp(appUrl: string, version: DrillVersion): Promise<DrillApp> {
  const release = RELEASES[version];
  const pool: pg.Pool = createPool(appUrl, 4);
  const build: BuildMigration[] = release.needs.map((name) => ({ name, needed: true }));
  let inFlight = 0;
  const server: Server = createServer((request, response) => {
    inFlight++;
    const send = (status: number, payload: unknown) => {
      response.writeHead(status, { "content-type": "application/json", "drill-version": version });
      response.end(JSON.stringify(payload));
    };
    void (async () => {
      const tenant = request.headers["x-tenant-id"];
      const path = new URL(request.url ?? "/", "http://drill").pathname;
      if (path === "/readyz") {
        const schema = await migrationStatus(pool, build, DRILL_MIGRATIONS_TABLE);
        return send(schema.missing.length ? 503 : 200, { version, missing: schema.missing });
      }
      if (typeof tenant !== "string" || !UUID.test(tenant))
        return send(400, { detail: "x-tenant-id must be the tenant's UUID" });
      const shipment = /^\/shipments\/([^/]+)$/.exec(path);
      if (request.method === "PUT" && shipment && UUID.test(shipment[1]!)) {
        const { weightLbs } = (await body(request)) as { weightLbs?: unknown };
        if (!Number.isInteger(weightLbs) || (weightLbs as number) <= 0)
          return send(400, { detail: "weightLbs must be a positive whole number of pounds" });
        await withTenant(pool, tenant, (db) => db.query(release.insert, [shipment[1], tenant, weightLbs]));
        return send(201, { id: shipment[1], weightLbs });
      }
      if (request.method === "GET" && shipment && UUID.test(shipment[1]!)) {
        const { rows } = await withTenant(pool, tenant, (db) =>
          db.query<{ weight: number | null }>(release.select, [shipment[1]]),
        );
        if (!rows.length) return send(404, { detail: "no such shipment for this tenant" });
        return send(200, { id: shipment[1], weightLbs: rows[0]!.weight });
      }
      return send(404, { detail: "PUT or GET /shipments/<uuid>" });
    })()
      .catch((error: Error) => send(500, { detail: error.message }))
      .finally(() => inFlight--);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    version,
    url: `http://127.0.0.1:${port}`,
    inFlight: () => inFlight,
    async stop() {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}
