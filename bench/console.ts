// npm run bench:console
// First contentful paint of the console and public pages on the local platform (`npm start`'s two
// regions, started from the stacks' manifests), read from the browser's own performance API
// ('paint' entries) in headless Chromium, each page loaded cold in a fresh context. The signed-in
// pages use a session signed with the local platform's console secret for a demo tenant. Goal: every
// page's median FCP <= 1 s; the script exits non-zero when one misses it.
import { cpus, loadavg } from "node:os";
import { chromium } from "playwright-core";
import { ConsoleSessions, CONSOLE_COOKIE } from "../app/console/session.ts";
import { fixedSecret } from "../app/secret-file.ts";
import { ensureBuilt } from "../tools/localcluster/build.ts";
import { createPool } from "../app/db/pool.ts";
import { LOCAL_CONSOLE_SESSION_SECRET } from "../tools/platform/local-deploy.ts";
import { startPlatform } from "../tools/platform/platform.ts";

const runs = Number(process.env.BENCH_RUNS ?? 5);
const goalMs = 1000;
const pickup = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
const PAGES = [
  "/sign-in",
  "/sign-up",
  "/calculator",
  `/calculator?origin=Chicago%2C+IL&destination=Dallas%2C+TX&equipment=dry_van&weightLbs=38000&pickupDate=${pickup}`,
  "/roi?lanes=250&quotesPerMonth=4000&averageRate=1850&winRate=18",
  "/console",
  "/console/start",
  "/console/api-keys",
  "/console/bulk",
  "/console/billing",
];

await ensureBuilt();
console.log(
  `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "unknown"}), node ${process.version}, load ${loadavg()[0]!.toFixed(1)}`,
);
const platform = await startPlatform({ name: "bench-console" });
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
let failed = false;
try {
  const baseURL = platform.regions.primary.apiUrl;
  // The platform keeps role URLs on the server's default database; the schema lives in freight. The
  // ops role reads on the replica (the primary refuses it), where the platform's seed has replayed.
  const ops = createPool(platform.regions.secondary.databaseUrls.ops.replace(/\/postgres$/, "/freight"), 1);
  const { rows } = await ops.query<{ id: string }>("SELECT id FROM tenants WHERE slug = 'globex-freight'");
  await ops.end();
  const session = new ConsoleSessions(fixedSecret(LOCAL_CONSOLE_SESSION_SECRET)).issue(
    rows[0]!.id,
    "bench@globex.example",
  );
  const host = new URL(baseURL).hostname;
  for (const path of PAGES) {
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ baseURL });
      await context.addCookies([
        { name: CONSOLE_COOKIE, value: session.value, domain: host, path: "/", httpOnly: true, secure: true },
      ]);
      const page = await context.newPage();
      await page.goto(path, { waitUntil: "load" });
      // On a busy machine the first paint can come after the load event: wait for its entry (buffered),
      // and count a page that never paints within 10 s as a miss (-1).
      const fcp = (await page.evaluate(`new Promise((resolve) => {
        new PerformanceObserver((list) => {
          const entry = list.getEntriesByName("first-contentful-paint")[0];
          if (entry) resolve(entry.startTime);
        }).observe({ type: "paint", buffered: true });
        setTimeout(() => resolve(-1), 10000);
      })`)) as number;
      samples.push(fcp);
      await context.close();
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    if (median < 0 || median > goalMs) failed = true;
    console.log(
      `${path}: FCP median ${median.toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms over ${runs} cold loads (goal <= ${goalMs} ms)`,
    );
  }
} finally {
  await browser.close();
  await platform.stop();
}
process.exit(failed ? 1 : 0);
