// The demo scripts run to completion against the local platform (started as `npm start` starts it,
// with its demo tenants), each within a bound, narrating every step and leaving its data in place:
// the booking at the contract rate, and the onboarded carrier with its documents.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTimeoutMs } from "../localcluster/test-support.ts";
import { startPlatform, type LocalPlatform } from "../platform/platform.ts";
import { runDemo, type DemoName } from "./scripts.ts";

let platform: LocalPlatform;

beforeAll(async () => {
  platform = await startPlatform({ name: "demo-test" });
}, buildTimeoutMs);
afterAll(() => platform?.stop());

const BOUND_MS = 60_000;

async function demo(name: DemoName) {
  const lines: string[] = [];
  const began = Date.now();
  const result = await Promise.race([
    runDemo(name, {
      apiUrl: platform.regions.primary.apiUrl,
      apiKey: platform.apiKeys["globex-freight"]!,
      say: (line) => lines.push(line),
    }),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`demo ${name} did not finish in ${BOUND_MS} ms`)), BOUND_MS),
    ),
  ]);
  expect(Date.now() - began).toBeLessThan(BOUND_MS);
  return { result, lines };
}

async function rows<T extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<T[]> {
  const client = new pg.Client({
    connectionString: platform.primaryDatabase.urls.superuser.replace(/\/postgres$/, "/freight"),
  });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe("demo scripts on the local platform", () => {
  it("rates: spot -> contract -> book, narrated, with the booking left in place", async () => {
    const { result, lines } = await demo("rates");
    expect(lines.filter((l) => /^Step \d\/4/.test(l))).toHaveLength(4);
    expect(lines.join("\n")).toContain("priced from the contract rate");
    const [booking] = await rows<{ total_cents: string }>("SELECT total_cents FROM bookings WHERE id = $1", [
      result.left.booking,
    ]);
    expect(booking).toBeDefined();
    // A second run reuses the lane's contract and still books.
    const again = await demo("rates");
    expect(again.lines.join("\n")).toContain("already has a contract");
  }, 180_000);

  it("directory: invite -> onboard -> scorecard, narrated, with the onboarded carrier left in place", async () => {
    const { result, lines } = await demo("directory");
    expect(lines.filter((l) => /^Step \d\/4/.test(l))).toHaveLength(4);
    expect(lines.join("\n")).toMatch(/freshness 9\d\/100 \(expiring\)/);
    const [invite] = await rows<{ onboarded_at: Date | null }>(
      "SELECT onboarded_at FROM carrier_invites WHERE id = $1",
      [result.left.invite],
    );
    expect(invite?.onboarded_at).toBeInstanceOf(Date);
  }, 180_000);
});
