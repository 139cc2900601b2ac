// `npm start`: the local platform on its embedded defaults. A PostgreSQL server (throw-away, in a temp
// dir), the real roles and migrations, demo tenants, the quote API and a runner (bulk jobs, agent
// tasks). Ctrl-C stops everything.
import { startPostgres } from "../postgres/server.ts";
import { provisionDatabase } from "../postgres/provision.ts";
import { parseAppConfig } from "../../app/config.ts";
import { startApp } from "../../app/server.ts";
import { parseRunnerConfig } from "../../app/runner/config.ts";
import { startRunner } from "../../app/runner/main.ts";
import { freePort } from "../postgres/server.ts";

const DEFAULT_PORT = 8080;

async function main(): Promise<void> {
  const started = Date.now();
  console.log("Starting PostgreSQL ...");
  const server = await startPostgres({ name: "local", durable: true });
  const db = await provisionDatabase({ seed: "demo", server });
  const port = Number(process.env.PORT ?? (await portOr(DEFAULT_PORT)));
  const config = parseAppConfig({
    ...process.env,
    DATABASE_URL: db.urls.app,
    OPS_DATABASE_URL: db.urls.ops,
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
  });
  const app = await startApp(config);
  const runner = await startRunner(
    parseRunnerConfig({
      ...process.env,
      DATABASE_URL: db.urls.runner,
      REGION_NAME: process.env.REGION_NAME ?? "local",
      RUNNER_PORT: String(await portOr(8082)),
      RUNNER_HOST: "127.0.0.1",
      LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    }),
  );
  const [slug, key] = Object.entries(db.demoKeys)[1] ?? Object.entries(db.demoKeys)[0] ?? [];
  const pickup = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
  console.log(`
Local platform ready in ${((Date.now() - started) / 1000).toFixed(1)} s

  Quote API   ${app.url}   (health: ${app.url}/readyz, metrics: ${app.url}/metrics)
  Runner      ${runner.url}   (bulk jobs and agent tasks; health: ${runner.url}/healthz, metrics: ${runner.url}/metrics)
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
  curl -s -X POST ${app.url}/v1/bulk-jobs \\
    -H 'Authorization: Bearer ${key}' -H 'Content-Type: text/csv' \\
    --data-binary $'origin,destination,equipment,weightLbs,pickupDate\\n"Chicago, IL","Dallas, TX",reefer,40000,${pickup}\\n'

Press Ctrl-C to stop.`);

  const stop = async () => {
    console.log("\nStopping ...");
    await runner.stop();
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
