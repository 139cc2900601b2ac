// The failover view of the two-region local platform (platform.ts), for the game day and the
// failover controller's tests: both regions' apps, the databases as the failover controller sees
// them, the RegionFailover object, and the manager that runs the failover controller, either as
// the stacks deploy it (the game day) or started by the test itself so it can be killed, restarted
// or given other drivers (`operators: "manual"`, the default).
import type { ChildProcess } from "node:child_process";
import type { LocalCluster } from "../localcluster/fixture.ts";
import type { ProvisionedDatabase } from "../postgres/provision.ts";
import type { PostgresServer } from "../postgres/server.ts";
import type { Region, RegionFailover, RegionFailoverSpec } from "../../operators/api/regionfailover.ts";
import type { KubeClient } from "../../operators/runtime/kube.ts";
import type { LocalProcess } from "./local-process.ts";
import type { OperatorProcess } from "./operators.ts";
import { startPlatform, type LocalPlatform } from "./platform.ts";
import { FAILOVER_NAME, FAILOVER_NAMESPACE } from "./failover-object.ts";

export { FAILOVER_NAME, FAILOVER_NAMESPACE };

/** The operators' Deployment in the stacks. */
const OPERATORS = "freight-operators";
const QUOTE_API = "quote-api";

export interface RegionApp {
  region: Region;
  url: string;
  child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

export interface FailoverPlatform {
  platform: LocalPlatform;
  /** The control plane of the region that holds the RegionFailover. */
  cluster: LocalCluster;
  admin: KubeClient;
  primary: ProvisionedDatabase;
  replica: PostgresServer;
  /** Role URLs per region: the secondary's point at the replica. */
  urls: Record<Region, ProvisionedDatabase["urls"]>;
  apps: Record<Region, RegionApp>;
  apiKeys: Record<string, string>;
  /** Each region's database as the failover controller reaches it (pg_promote, WAL positions). */
  adminUrls: Record<Region, string>;
  startOperator(identity?: string, env?: Record<string, string>): Promise<OperatorProcess>;
  applyFailover(spec: RegionFailoverSpec): Promise<void>;
  getFailover(): Promise<RegionFailover>;
  stop(): Promise<void>;
}

function asOperator(p: LocalProcess): OperatorProcess {
  return {
    child: p.child,
    identity: p.name,
    probeUrl: (p.readyUrl ?? "").replace(/\/readyz$/, ""),
    logPath: p.logPath,
    logs: p.logs,
    kill: p.kill,
    async stop() {
      await p.stop();
      return p.child.exitCode;
    },
    exited: p.exited,
  };
}

export async function startFailoverPlatform(
  options: { name?: string; seed?: "demo"; operators?: "deployed" | "manual" } = {},
): Promise<FailoverPlatform> {
  const name = options.name ?? "failover";
  // The failover controller's region is only known once the manifests are read; hold the
  // operators of both regions' stacks for a manual start and start the other region's below.
  const manual = (options.operators ?? "manual") === "manual";
  const platform = await startPlatform({
    name,
    seed: options.seed ?? "demo",
    hold: manual ? [`primary/${OPERATORS}`, `secondary/${OPERATORS}`] : [],
  });
  try {
    const region = platform.failover.region;
    const other: Region = region === "primary" ? "secondary" : "primary";
    if (manual) await platform.startProcess(other, OPERATORS, { replica: 0 });
    const app = (r: Region): RegionApp => {
      const p = platform.process(r, QUOTE_API);
      return { region: r, url: platform.regions[r].apiUrl, child: p.child, logs: p.logs, stop: p.stop };
    };
    let replica = 0;
    return {
      platform,
      cluster: platform.regions[region].cluster,
      admin: platform.regions[region].admin,
      primary: platform.primaryDatabase,
      replica: platform.replica,
      urls: {
        primary: platform.regions.primary.databaseUrls,
        secondary: platform.regions.secondary.databaseUrls,
      },
      apps: { primary: app("primary"), secondary: app("secondary") },
      apiKeys: platform.apiKeys,
      adminUrls: {
        primary: platform.regions.primary.databaseUrls.superuser.replace(/\/postgres$/, "/freight"),
        secondary: platform.regions.secondary.databaseUrls.superuser.replace(/\/postgres$/, "/freight"),
      },
      async startOperator(identity, env = {}) {
        replica += 1;
        const started = await platform.startProcess(region, OPERATORS, {
          replica,
          // Tests run managers one after another and SIGKILL some: waiting out a dead leader's
          // lease (15 s) would only slow them down.
          env: { LEADER_ELECT: "false", ...(identity ? { POD_NAME: identity } : {}), ...env },
        });
        return asOperator(started);
      },
      applyFailover: platform.applyFailover,
      getFailover: platform.getFailover,
      stop: platform.stop,
    };
  } catch (error) {
    await platform.stop();
    throw error;
  }
}
