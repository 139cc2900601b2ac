// The region_routing row when it is missing: every reader says so, with the fix, and none of them
// invents a routing state (app/routing/row.ts says why). Real PostgreSQL, the real roles.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../db/pool.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { readRegionRouting, RoutingRowMissingError } from "./row.ts";
import { RoutingCache } from "./state.ts";

let db: TestDatabase;
let app: pg.Pool;
let owner: pg.Pool;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "none" });
  app = createPool(db.urls.app, 2);
  owner = createPool(db.urls.owner, 1);
}, 120_000);

afterAll(async () => {
  await app?.end();
  await owner?.end();
  await db?.stop();
});

describe("the region_routing row", () => {
  it("reads as migration 0003 leaves it: primary active, writes open, all traffic on the primary", async () => {
    expect(await readRegionRouting(app)).toEqual({
      activeRegion: "primary",
      writesFrozen: false,
      runnersPaused: false,
      secondaryHealthy: true,
      weights: { primary: 100, secondary: 0 },
      readCanaryWeight: 0,
      reason: null,
      generation: 1,
    });
  });

  it("missing, is an error that says how to restore it, and the app keeps what it knew", async () => {
    await owner.query("UPDATE region_routing SET active_region = 'secondary', generation = 7");
    const errors: Error[] = [];
    const cache = new RoutingCache({
      pool: app,
      defaultActive: "primary",
      refreshMs: 60_000,
      onError: (error) => errors.push(error),
    });
    await cache.refresh();
    expect(cache.state).toMatchObject({ activeRegion: "secondary", generation: 7, source: "database" });

    await owner.query("DELETE FROM region_routing");
    try {
      const read = readRegionRouting(app);
      await expect(read).rejects.toBeInstanceOf(RoutingRowMissingError);
      await expect(read).rejects.toThrow(/region_routing has no row.*npm run migrate/);

      // Last known state, marked stale, not a made-up "primary, writes open".
      await cache.refresh();
      expect(cache.state).toMatchObject({ activeRegion: "secondary", generation: 7, source: "stale" });
      expect(errors.at(-1)).toBeInstanceOf(RoutingRowMissingError);

      // A process that starts without the row serves REGION_ACTIVE and says it is a default.
      const fresh = new RoutingCache({ pool: app, defaultActive: "secondary", refreshMs: 60_000 });
      await fresh.refresh();
      expect(fresh.state).toMatchObject({ activeRegion: "secondary", source: "default" });
    } finally {
      await owner.query("INSERT INTO region_routing DEFAULT VALUES");
    }
  });
});
