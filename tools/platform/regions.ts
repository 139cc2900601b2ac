// Both "regions" on one machine, for the failover controller's tests and the game day: a local
// control plane with the CRDs and RBAC, a PostgreSQL primary and a streaming replica
// (pg_basebackup -R), the app serving in each region as its own process (REGION_* env, its own
// database, the other region as REGION_PEER_URL), and the operators' manager with FAILOVER_* set.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { provisionDatabase, type ProvisionedDatabase } from "../postgres/provision.ts";
import { startCluster, type LocalCluster } from "../localcluster/fixture.ts";
import { freePort, startPostgres, type PostgresServer } from "../postgres/server.ts";
import { crdsPath, rbacPath } from "../../operators/api/generate.ts";
import { apiVersion, OPERATOR_NAME, OPERATOR_NAMESPACE } from "../../operators/api/group.ts";
import type { Region, RegionFailover, RegionFailoverSpec } from "../../operators/api/regionfailover.ts";
import { regionFailovers } from "../../operators/api/resources.ts";
import { builtin, KubeClient } from "../../operators/runtime/kube.ts";
import { applyManifest, startOperator, waitFor, type OperatorProcess } from "./operators.ts";

const repoRoot = resolve(import.meta.dirname, "..", "..");
const node = join(repoRoot, "node_modules", ".bin", "node");
export const FAILOVER_NAMESPACE = "freight-system";
export const FAILOVER_NAME = "prod";

export interface RegionApp {
  region: Region;
  url: string;
  child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

export interface FailoverPlatform {
  cluster: LocalCluster;
  admin: KubeClient;
  primary: ProvisionedDatabase;
  replica: PostgresServer;
  /** Role URLs per region: the secondary's point at the replica. */
  urls: Record<Region, ProvisionedDatabase["urls"]>;
  apps: Record<Region, RegionApp>;
  apiKeys: Record<string, string>;
  operatorKubeconfig: string;
  operatorEnv: Record<string, string>;
  startOperator(identity?: string, env?: Record<string, string>): Promise<OperatorProcess>;
  applyFailover(spec: RegionFailoverSpec): Promise<void>;
  getFailover(): Promise<RegionFailover>;
  stop(): Promise<void>;
}

const logDir = mkdtempSync(join(tmpdir(), "failover-platform-"));
process.once("exit", () => rmSync(logDir, { recursive: true, force: true }));

async function startRegionApp(region: Region, port: number, env: Record<string, string>): Promise<RegionApp> {
  const logPath = join(logDir, `app-${region}-${port}.log`);
  const log = createWriteStream(logPath, { flags: "a" });
  const child = spawn(node, [join(repoRoot, "app", "server.ts")], {
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  process.once("exit", () => child.kill("SIGKILL"));
  const url = `http://127.0.0.1:${port}`;
  const logs = () => readFileSync(logPath, "utf8");
  await waitFor(
    `${region} app ready`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${region} app exited: ${logs()}`);
      return (await fetch(`${url}/readyz`)).ok;
    },
    { timeoutMs: 30_000 },
  );
  return {
    region,
    url,
    child,
    logs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

export async function startFailoverPlatform(
  options: { name?: string; seed?: "demo"; appEnv?: Record<string, string> } = {},
): Promise<FailoverPlatform> {
  const name = options.name ?? "failover";
  const [cluster, primary] = await Promise.all([
    startCluster({ name }),
    // synchronous_commit on, as in production: a write is acknowledged once its WAL is written, so
    // a lost primary can only lose what it had not yet streamed. (fsync stays off for speed.)
    startPostgres({ name: `${name}-primary`, settings: { synchronous_commit: "on" } }).then((server) =>
      provisionDatabase({ server, seed: options.seed ?? "demo" }),
    ),
  ]);
  const replica = await startPostgres({ name: `${name}-replica`, replicaOf: primary.server });
  const onReplica = (url: string) => {
    const u = new URL(url);
    u.port = String(replica.port);
    return u.toString();
  };
  const urls: Record<Region, ProvisionedDatabase["urls"]> = {
    primary: primary.urls,
    secondary: Object.fromEntries(
      Object.entries(primary.urls).map(([k, v]) => [k, onReplica(v)]),
    ) as ProvisionedDatabase["urls"],
  };
  const admin = new KubeClient(cluster.kubeConfig, { userAgent: "failover-platform" });
  await applyManifest(admin, crdsPath);
  await applyManifest(admin, rbacPath);
  await waitFor("CRD regionfailovers established", async () => {
    const crd = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
      builtin.crds,
      "regionfailovers.platform.freight.dev",
    );
    return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
  });
  const operatorCredentials = await cluster.serviceAccountKubeconfig(OPERATOR_NAMESPACE, OPERATOR_NAME);

  const [primaryPort, secondaryPort] = [await freePort(), await freePort()];
  const ports: Record<Region, number> = { primary: primaryPort, secondary: secondaryPort };
  const appEnv = (region: Region): Record<string, string> => ({
    DATABASE_URL: urls[region].app,
    OPS_DATABASE_URL: urls[region].ops,
    REGION_NAME: region,
    REGION_ROLE: region,
    REGION_ACTIVE: "primary",
    REGION_PEER_URL: `http://127.0.0.1:${ports[region === "primary" ? "secondary" : "primary"]}`,
    LOG_LEVEL: "warn",
    ...options.appEnv,
  });
  const [primaryApp, secondaryApp] = await Promise.all([
    startRegionApp("primary", primaryPort, appEnv("primary")),
    startRegionApp("secondary", secondaryPort, appEnv("secondary")),
  ]);
  const apps = { primary: primaryApp, secondary: secondaryApp };
  const operatorEnv: Record<string, string> = {
    LEADER_ELECT: "false",
    FAILOVER_PRIMARY_HEALTH_URL: `${primaryApp.url}/readyz`,
    FAILOVER_SECONDARY_HEALTH_URL: `${secondaryApp.url}/readyz`,
    FAILOVER_PRIMARY_DB_ADMIN_URL: urls.primary.superuser.replace(/\/postgres$/, "/freight"),
    FAILOVER_SECONDARY_DB_ADMIN_URL: urls.secondary.superuser.replace(/\/postgres$/, "/freight"),
    FAILOVER_PRIMARY_DB_OPERATOR_URL: urls.primary.operator,
    FAILOVER_SECONDARY_DB_OPERATOR_URL: urls.secondary.operator,
  };
  const operators: OperatorProcess[] = [];
  return {
    cluster,
    admin,
    primary,
    replica,
    urls,
    apps,
    apiKeys: primary.demoKeys,
    operatorKubeconfig: operatorCredentials.kubeconfigPath,
    operatorEnv,
    async startOperator(identity, env = {}) {
      const operator = await startOperator({
        kubeconfigPath: operatorCredentials.kubeconfigPath,
        databaseUrl: urls.primary.operator,
        identity,
        env: { ...operatorEnv, ...env },
      });
      operators.push(operator);
      return operator;
    },
    async applyFailover(spec) {
      await admin.apply(
        regionFailovers,
        {
          apiVersion,
          kind: "RegionFailover",
          metadata: { name: FAILOVER_NAME, namespace: FAILOVER_NAMESPACE },
          spec,
        } as RegionFailover,
        { fieldManager: "on-call" },
      );
    },
    getFailover: () => admin.get<RegionFailover>(regionFailovers, FAILOVER_NAME, FAILOVER_NAMESPACE),
    async stop() {
      await Promise.all(operators.map((o) => (o.child.exitCode === null ? o.kill() : undefined)));
      await Promise.all([primaryApp.stop(), secondaryApp.stop()]);
      admin.close();
      await Promise.all([cluster.stop(), replica.stop().then(() => primary.stop())]);
    },
  };
}
