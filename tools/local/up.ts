// `npm start`: the local platform on its embedded defaults. A PostgreSQL server (throw-away, in a temp
// dir), the real roles and migrations, demo tenants, and the quote API. Ctrl-C stops everything.
import { startPostgres } from "../postgres/server.ts";
import { provisionDatabase } from "../../app/db/provision.ts";
import { loadConfig } from "../../app/config.ts";
import { startApp } from "../../app/server.ts";
import { freePort } from "../postgres/server.ts";

const DEFAULT_PORT = 8080;

async function main(): Promise<void> {
  const started = Date.now();
  console.log("Starting PostgreSQL ...");
  const server = await startPostgres({ name: "local", durable: true });
  const db = await provisionDatabase({ seed: "demo", server });
  const port = Number(process.env.PORT ?? (await portOr(DEFAULT_PORT)));
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: db.urls.app,
    OPS_DATABASE_URL: db.urls.ops,
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
  });
  const app = await startApp(config);
  const [slug, key] = Object.entries(db.demoKeys)[1] ?? Object.entries(db.demoKeys)[0] ?? [];
  const pickup = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
  console.log(`
Local platform ready in ${((Date.now() - started) / 1000).toFixed(1)} s

  Quote API   ${app.url}   (health: ${app.url}/readyz, metrics: ${app.url}/metrics)
  PostgreSQL  ${db.urls.ops.replace(/:[^:@/]+@/, ":***@")}  (read-only ops role)

Demo tenants and their API keys (new on every start):
${Object.entries(db.demoKeys)
  .map(([tenant, apiKey]) => `  ${tenant.padEnd(18)} ${apiKey}`)
  .join("\n")}

Try it (${slug}):
  curl -s -X POST ${app.url}/v1/quotes \\
    -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' \\
    -d '{"origin":"Chicago, IL","destination":"Dallas, TX","equipment":"dry_van","weightLbs":38000,"pickupDate":"${pickup}"}'
  curl -s ${app.url}/v1/usage -H 'Authorization: Bearer ${key}'

Press Ctrl-C to stop.`);

  const stop = async () => {
    console.log("\nStopping ...");
    await app.stop();
    await db.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

async function portOr(preferred: number): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => freePort().then(resolve));
    probe.listen(preferred, "127.0.0.1", () => probe.close(() => resolve(preferred)));
  });
}

await main();
