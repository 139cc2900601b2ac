// `npm start`: the two-region local platform on its embedded defaults (platform.ts): per region a
// control plane and the processes the region's stack deploys, started from its manifests; one
// PostgreSQL primary with a streaming replica; demo tenants. Prints where everything is, the
// kubeconfigs and the command that flips the active region. Reads on-call's commands from the
// terminal (ON_CALL_COMMANDS): what a cloud console or a CronJob trigger would do in production.
// Ctrl-C stops everything.
import { mkdirSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import type { Region } from "../../operators/api/regionfailover.ts";
import { REPO_ROOT } from "./local-deploy.ts";
import { REGIONS, startPlatform, type LocalPlatform } from "./platform.ts";
import { LOCAL_STRIPE } from "./local-deploy.ts";

const ROLE_LABEL: Record<string, string> = {
  "quote-api": "Quote API",
  runner: "Runner",
  operators: "Operators",
  other: "Process",
};

function describe(platform: LocalPlatform, seconds: number, active: Region): string {
  const { failover } = platform;
  const flipTo: Region = active === "primary" ? "secondary" : "primary";
  const kubeconfig = (region: Region) => platform.regions[region].cluster.kubeconfigPath;
  const [slug, key] = Object.entries(platform.apiKeys)[1] ?? Object.entries(platform.apiKeys)[0] ?? [];
  const pickup = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
  const primaryApi = platform.regions.primary.apiUrl;
  const lines = [
    "",
    `Local platform ready in ${seconds.toFixed(1)} s: both regions from the stacks' manifests (${REGIONS.map((r) => platform.regions[r].stack).join(", ")})`,
  ];
  for (const region of REGIONS) {
    const r = platform.regions[region];
    const name = r.workloads.find((w) => w.env["REGION_NAME"])?.env["REGION_NAME"] ?? region;
    lines.push("", `${region} region (${name}, stack ${r.stack})`);
    const order = Object.keys(ROLE_LABEL);
    const processes = [...r.processes].sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role));
    for (const p of processes) {
      const base = p.readyUrl?.replace(/\/readyz$/, "") ?? "";
      lines.push(
        `  ${ROLE_LABEL[p.role]!.padEnd(10)} ${base.padEnd(24)} ${p.deployment} (health ${p.readyUrl?.slice(base.length) ?? "-"}, metrics /metrics, log ${p.logPath})`,
      );
    }
    lines.push(`  export KUBECONFIG=${kubeconfig(region)}    # admin of the ${region} control plane`);
    for (const [account, path] of Object.entries(r.serviceAccountKubeconfigs))
      lines.push(`  export KUBECONFIG=${path}    # as ServiceAccount ${account}, what its pods may do`);
  }
  lines.push(
    "",
    `PostgreSQL primary on port ${platform.primaryDatabase.server.port}; the secondary region reads its streaming replica on port ${platform.replica.port}, where the read-only ops role reads too (it is refused on the primary): ${platform.regions.secondary.databaseUrls.ops.replace(/:[^:@/]+@/, ":***@")}`,
    ...(platform.stripe
      ? [
          `Stripe stand-in ${platform.stripe.url} (key ${LOCAL_STRIPE.secretKey}): the console's Upgrade opens its Checkout page, and Pay sends checkout.session.completed to the serving region's POST /webhooks/stripe signed with ${LOCAL_STRIPE.webhookSecret}`,
        ]
      : []),
    `Ops webhook (OPS_WEBHOOK_URL) ${platform.ops.url} and mail service (SMTP_URL) ${platform.mailbox.url}: what they receive is printed here`,
    "",
    "Demo tenants and their API keys (new on every start):",
    ...Object.entries(platform.apiKeys).map(([tenant, apiKey]) => `  ${tenant.padEnd(18)} ${apiKey}`),
    "",
    `Flip the active region from ${active} to ${flipTo} (docs/runbooks/failover.md); the RegionFailover lives in the ${failover.region} control plane:`,
    `  kubectl --kubeconfig ${kubeconfig(failover.region)} -n ${failover.namespace} patch regionfailover ${failover.name} --type merge -p '{"spec":{"activeRegion":"${flipTo}"}}'`,
    `  kubectl --kubeconfig ${kubeconfig(failover.region)} -n ${failover.namespace} get regionfailover ${failover.name} -w`,
    "",
    `Try it (${slug}):`,
    `  curl -s -X POST ${primaryApi}/v1/quotes \\`,
    `    -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' \\`,
    `    -d '{"origin":"Chicago, IL","destination":"Dallas, TX","equipment":"dry_van","weightLbs":38000,"pickupDate":"${pickup}"}'`,
    `  curl -s -i -X POST ${platform.regions.secondary.apiUrl}/v1/quotes -H 'Authorization: Bearer ${key}'   # the standby redirects writes (307)`,
    `  curl -s ${primaryApi}/v1/usage -H 'Authorization: Bearer ${key}'`,
  );
  lines.push(
    "",
    `Not applied, no such machinery here (why: SKIPPED_KINDS in tools/platform/local-deploy.ts): ${[
      ...new Set(REGIONS.flatMap((r) => platform.regions[r].skipped.map((o) => o.kind))),
    ].join(", ")}`,
    "",
    "Type a command (help lists them); press Ctrl-C to stop.",
  );
  return lines.join("\n");
}

const isRegion = (value: string | undefined): value is Region => REGIONS.includes(value as Region);

/** What on-call does here that production does with AWS or kubectl: one line each. */
const ON_CALL_COMMANDS: Record<
  string,
  { usage: string; what: string; run: (platform: LocalPlatform, args: string[]) => Promise<string> }
> = {
  "rebuild-replica": {
    usage: "rebuild-replica <primary|secondary>",
    what: "after a flip, rebuild the old primary's database as a streaming replica of the new primary (pg_rewind, or a fresh base backup when it cannot; production: an RDS read replica of it), so a flip back passes its pre-checks",
    async run(platform, [region]) {
      if (!isRegion(region))
        throw new Error("name the region whose database to rebuild: primary or secondary");
      const rebuilt = await platform.rebuildReplica(region);
      const { method, fallbackReason, seconds } = rebuilt.rebuild;
      return `the ${region} region's database is a streaming replica again on port ${rebuilt.port} (${method} in ${seconds} s${fallbackReason ? `; ${fallbackReason}` : ""}); its processes reconnect by themselves`;
    },
  },
  "run-job": {
    usage: "run-job <primary|secondary> <cronjob>",
    what: "run a CronJob once now, like kubectl create job --from=cronjob/<cronjob>",
    async run(platform, [region, name]) {
      if (!isRegion(region) || !name)
        throw new Error("usage: run-job <primary|secondary> <cronjob>, e.g. run-job primary usage-warnings");
      const run = await platform.runJob(region, name);
      return `${run.name} exited ${run.exitCode}:\n${run.output.trimEnd()}\n(log ${run.logPath})`;
    },
  },
};

/** Prints what the ops webhook and the mail service receive, as a chat channel and an inbox would show it. */
function showDeliveries(platform: LocalPlatform): void {
  let ops = 0;
  let mail = 0;
  setInterval(() => {
    for (const d of platform.ops.deliveries.slice(ops))
      console.log(
        `ops webhook <- ${String(d.body.event)}: ${String(d.body.summary ?? JSON.stringify(d.body))}`,
      );
    for (const m of platform.mailbox.received.slice(mail))
      console.log(`mail -> ${m.rcptTo.join(", ")}: ${m.mail.subject ?? "(no subject)"}`);
    ops = platform.ops.deliveries.length;
    mail = platform.mailbox.received.length;
  }, 1000).unref();
}

function readOnCallCommands(platform: LocalPlatform): void {
  if (!process.stdin.isTTY) return;
  const help = () =>
    Object.values(ON_CALL_COMMANDS)
      .map((c) => `  ${c.usage.padEnd(40)} ${c.what}`)
      .join("\n");
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const [name, ...args] = line.trim().split(/\s+/);
    if (!name) return;
    const command = ON_CALL_COMMANDS[name];
    if (!command) {
      console.log(name === "help" ? help() : `Unknown command ${name}. Commands:\n${help()}`);
      return;
    }
    command.run(platform, args).then(
      (result) => console.log(result),
      (error: Error) => console.error(`${command.usage}: ${error.message}`),
    );
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const logDir = join(REPO_ROOT, ".cache", "platform", "logs");
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  console.log("Starting the two-region local platform ...");
  const platform = await startPlatform({ logDir, log: (line) => console.log(`  ${line}`) });
  const active = (await platform.getFailover()).spec.activeRegion;
  console.log(describe(platform, (Date.now() - started) / 1000, active));

  let stopping = false;
  const stop = async () => {
    if (stopping) {
      console.log("Stopping now (second signal).");
      process.exit(1);
    }
    stopping = true;
    console.log("\nStopping: operators, runners, APIs, then the control planes and PostgreSQL ...");
    await platform.stop();
    process.exit(0);
  };
  // No kubelet restarts a crashed process here: say so at once rather than leave a dead URL.
  for (const region of REGIONS)
    for (const p of platform.regions[region].processes)
      void p.exited.then((code) => {
        if (!stopping)
          console.error(`${region} ${p.deployment} exited (${code ?? "signal"}); its log: ${p.logPath}`);
      });
  showDeliveries(platform);
  readOnCallCommands(platform);
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

try {
  await main();
} catch (error) {
  console.error(`The local platform did not start: ${(error as Error).message}`);
  process.exit(1);
}
