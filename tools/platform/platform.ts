// The two-region local platform: `npm start`, the game day and the end-to-end tests run on it.
// Per region a control plane with what the region's stack applies (CRDs, namespaces, RBAC,
// ServiceAccounts, CRs), one PostgreSQL primary with a streaming replica serving the secondary
// region, and every Deployment's container of the stack's manifests as a local process under a
// kubeconfig of its pod's ServiceAccount; CronJobs and Jobs run once on demand (runJob). The ops
// webhook and the mail service are local receivers (receivers.ts) whose deliveries tests read.
// AWS: Route 53 and Secrets Manager are moto (signatures checked), each region's S3 is versitygw.
// How manifests become processes: local-deploy.ts.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBuilt } from "../localcluster/build.ts";
import { startClusters, type LocalCluster } from "../localcluster/fixture.ts";
import { provisionDatabase, type ProvisionedDatabase } from "../postgres/provision.ts";
import { waitForReplay } from "../postgres/replay.ts";
import { freePort, startPostgres, type PostgresServer } from "../postgres/server.ts";
import { PostgresDatabaseDriver } from "../../operators/controllers/failover/drivers/postgres.ts";
import type { RebuildReport } from "../../operators/controllers/failover/drivers/types.ts";
import {
  ChangeResourceRecordSetsCommand,
  CreateHealthCheckCommand,
  CreateHostedZoneCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { ensureMoto, startMoto, type AwsCredentials, type MotoServer } from "../aws/moto.ts";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SECRET_CLASS, SECRET_NAMES } from "../../infra/secrets/secrets.ts";
import { startS3Server, type S3Server } from "../s3/versitygw.ts";
import { startLocalStripe, type LocalStripe } from "../fakes/stripe-server.ts";
import { LocalLlmServer } from "../fakes/llm-server.ts";
import { LocalWorkflowServer } from "../fakes/workflow-server.ts";
import { LocalHealthCheckers } from "../fakes/route53-health-checkers.ts";
import type { Region, RegionFailover, RegionFailoverSpec } from "../../operators/api/regionfailover.ts";
import { regionFailovers } from "../../operators/api/resources.ts";
import { KubeClient } from "../../operators/runtime/kube.ts";
import {
  applyRegionObjects,
  FIELD_MANAGER,
  localSecrets,
  LOCAL_STRIPE,
  podName,
  regionJob,
  regionWorkloads,
  substitute,
  type SkippedObject,
  type Workload,
} from "./local-deploy.ts";
import { startLocalProcess, type LocalProcess } from "./local-process.ts";
import { Mailbox, OpsWebhook } from "./receivers.ts";
import { regionManifests, REGION_STACKS } from "./stack-manifests.ts";
import type { Manifest } from "../../stacks/manifests.ts";
import {
  failoverRegion,
  FAILOVER_NAME,
  FAILOVER_NAMESPACE,
  regionFailoverObject,
} from "./failover-object.ts";

export const REGIONS: Region[] = ["primary", "secondary"];

export interface PlatformRegion {
  region: Region;
  stack: string;
  cluster: LocalCluster;
  /** Admin client (system:masters) of the region's control plane. */
  admin: KubeClient;
  /** The quote API of the region. */
  apiUrl: string;
  /** Database role URLs of the region: the secondary's point at the streaming replica. */
  databaseUrls: ProvisionedDatabase["urls"];
  workloads: Workload[];
  processes: LocalProcess[];
  /** Minted kubeconfig per ServiceAccount, "namespace/name" -> path. */
  serviceAccountKubeconfigs: Record<string, string>;
  skipped: SkippedObject[];
}

export interface LocalPlatform {
  regions: Record<Region, PlatformRegion>;
  primaryDatabase: ProvisionedDatabase;
  replica: PostgresServer;
  apiKeys: Record<string, string>;
  /** Where the RegionFailover lives and the failover controller runs. */
  failover: { region: Region; name: string; namespace: string };
  /**
   * Route 53 and Secrets Manager as the processes see them (moto; sign with `moto.credentials`):
   * put a tenant's SSO client secret here. The API's weighted records live in `hostedZoneId`.
   */
  moto: MotoServer;
  hostedZoneId: string | undefined;
  /**
   * Route 53's health checkers (tools/fakes/route53-health-checkers.ts): they probe each region's
   * /readyz and answer GetHealthCheckStatus for the health checks in `healthCheckIds`; the
   * processes' AWS_ENDPOINT_URL_ROUTE_53 (everything else Route 53 goes on to moto).
   */
  healthCheckers: LocalHealthCheckers;
  healthCheckIds: Partial<Record<Region, string>>;
  /** Each region's S3 (an S3 gateway holding that region's documents bucket). */
  s3: Record<Region, S3Server>;
  stripe: LocalStripe | undefined;
  /** The ops endpoint (OPS_WEBHOOK_URL): every notify_ops and billing alert the runners send. */
  ops: OpsWebhook;
  /** The mail service (SMTP_URL): every billing notice sent to a customer. */
  mailbox: Mailbox;
  /** The LLM provider (LLM_BASE_URL) both regions' runners call: setMode makes it slow, fail or rate-limit. */
  llm: LocalLlmServer;
  /** Workflow automation (WORKFLOW_AUTOMATION_URL, the plan's n8n): rotateKey and setMode make it reject or fail. */
  workflow: LocalWorkflowServer;
  logDir: string;
  /** Milliseconds per start step, for the benchmark. */
  timings: Record<string, number>;
  /** Starts one more process of a Deployment (a second replica, a restart), as the first was started. */
  startProcess(
    region: Region,
    deployment: string,
    options?: { replica?: number; env?: Record<string, string> },
  ): Promise<LocalProcess>;
  process(region: Region, deployment: string): LocalProcess;
  /**
   * Runs a CronJob's (or Job's) container once as a local process, as `kubectl create job
   * --from=cronjob/<name>` would: its command and environment from the manifest, under its
   * ServiceAccount when the pod mounts a token. Resolves when it exits.
   */
  runJob(region: Region, name: string, options?: { timeoutMs?: number }): Promise<JobRun>;
  /**
   * Rebuilds `region`'s database as a streaming replica of the other region's (now the primary),
   * on the same port and directory, so a flip back can pass its pre-checks: the failover database
   * driver's rebuildReplica (pg_rewind, or a fresh base backup when it cannot), which `rebuild` says.
   * The runbook's "rebuild a replica before flipping back"; in production, an RDS read replica.
   */
  rebuildReplica(region: Region): Promise<PostgresServer & { rebuild: RebuildReport }>;
  /** The PostgreSQL server on `region`'s database port now. */
  database(region: Region): PostgresServer;
  applyFailover(spec: RegionFailoverSpec): Promise<void>;
  getFailover(): Promise<RegionFailover>;
  stop(): Promise<void>;
}

export interface JobRun {
  /** The pod name the run had, e.g. usage-warnings-primary-run-1. */
  name: string;
  exitCode: number | null;
  /** Its stdout and stderr. */
  output: string;
  logPath: string;
}

export interface StartPlatformOptions {
  /** Prefix of the control planes' names (kubeconfig contexts): "<prefix>primary". */
  name?: string;
  /** Where process logs go; a temporary directory (removed at exit) by default. */
  logDir?: string;
  log?: (line: string) => void;
  /** "region/deployment" entries not started (a test starts them itself with startProcess). */
  hold?: string[];
  seed?: "demo" | "plans";
}

/**
 * Each region's S3: a gateway in the bucket's AWS region (signatures are scoped to it) holding that
 * region's documents bucket, versioned as the stacks declare it, named as the manifests name it.
 */
async function startDocumentsS3(
  environments: Record<string, string>[],
  credentials: AwsCredentials,
): Promise<Record<Region, S3Server>> {
  const env = environments.find((e) => e["DOCUMENTS_BUCKET_PRIMARY"] && e["DOCUMENTS_BUCKET_SECONDARY"]);
  const bucketOf = (region: Region) =>
    (env?.[`DOCUMENTS_BUCKET_${region.toUpperCase()}`] ?? `documents-${region}@us-east-1`).split("@") as [
      string,
      string,
    ];
  const servers = await Promise.all(
    REGIONS.map(async (region) => {
      const [bucket, awsRegion] = bucketOf(region);
      const server = await startS3Server({ region: awsRegion, ...credentials });
      await server.createBuckets(bucket);
      return server;
    }),
  );
  return { primary: servers[0]!, secondary: servers[1]! };
}

/**
 * The API's DNS as the region stacks create it (infra/dns/dns.ts): the hosted zone, and per region a
 * weighted CNAME (set identifier = AWS region, weight 100 on the active one) with its health check.
 * Returns the zone's id (moto names it) and the health checks' ids, or nothing when no process
 * drives Route 53.
 */
async function createDns(
  moto: MotoServer,
  environments: Record<string, string>[],
): Promise<{ zoneId: string; healthChecks: Record<Region, string> } | undefined> {
  const env = environments.find((e) => e["ROUTE53_HOSTED_ZONE_ID"] && e["ROUTE53_RECORD_NAME"]);
  if (!env) return undefined;
  const recordName = env["ROUTE53_RECORD_NAME"]!;
  const route53 = new Route53Client({
    region: "us-east-1",
    endpoint: moto.endpoint,
    credentials: moto.credentials,
  });
  try {
    const zone = await route53.send(
      new CreateHostedZoneCommand({
        Name: recordName.slice(recordName.indexOf(".") + 1),
        CallerReference: env["ROUTE53_HOSTED_ZONE_ID"]!,
      }),
    );
    const zoneId = zone.HostedZone!.Id!.replace("/hostedzone/", "");
    const healthChecks: Partial<Record<Region, string>> = {};
    const changes = await Promise.all(
      REGIONS.map(async (region) => {
        const target = env[`ROUTE53_${region.toUpperCase()}_TARGET`]!;
        const awsRegion = env[`FAILOVER_${region.toUpperCase()}_REGION_NAME`] ?? region;
        const check = await route53.send(
          new CreateHealthCheckCommand({
            CallerReference: `${awsRegion}-readyz`,
            // As infra/dns/dns.ts: every 10 s, three failures to fail.
            HealthCheckConfig: {
              Type: "HTTPS",
              FullyQualifiedDomainName: target,
              Port: 443,
              ResourcePath: "/readyz",
              RequestInterval: 10,
              FailureThreshold: 3,
            },
          }),
        );
        healthChecks[region] = check.HealthCheck!.Id!;
        return {
          Action: "CREATE" as const,
          ResourceRecordSet: {
            Name: recordName,
            Type: "CNAME" as const,
            SetIdentifier: awsRegion,
            Weight: region === "primary" ? 100 : 0,
            TTL: 30,
            HealthCheckId: check.HealthCheck!.Id!,
            ResourceRecords: [{ Value: target }],
          },
        };
      }),
    );
    await route53.send(
      new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes: changes } }),
    );
    return { zoneId, healthChecks: healthChecks as Record<Region, string> };
  } finally {
    route53.destroy();
  }
}

/**
 * The platform's secrets in the region's Secrets Manager, named and tagged as infra/secrets creates
 * them: the processes read each one's rotation date and `secret-class` window from the store (the
 * values they use are the files local-deploy writes, as ExternalSecrets render them in a cluster).
 */
async function createPlatformSecrets(moto: MotoServer): Promise<void> {
  const client = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: moto.endpoint,
    credentials: moto.credentials,
  });
  try {
    await Promise.all(
      (Object.keys(SECRET_NAMES) as (keyof typeof SECRET_NAMES)[]).map((secret) =>
        client.send(
          new CreateSecretCommand({
            Name: SECRET_NAMES[secret],
            SecretString: "held in the mounted file",
            Tags: [{ Key: "secret-class", Value: SECRET_CLASS[secret] }],
          }),
        ),
      ),
    );
  } finally {
    client.destroy();
  }
}

const STOP_ORDER: Workload["role"][] = ["operators", "runner", "other", "quote-api"];

export async function startPlatform(options: StartPlatformOptions = {}): Promise<LocalPlatform> {
  const log = options.log ?? (() => undefined);
  const prefix = options.name ? `${options.name}-` : "";
  const timings: Record<string, number> = {};
  const started = Date.now();
  const timed = async <T>(step: string, work: Promise<T>): Promise<T> => {
    const t = Date.now();
    const value = await work;
    timings[step] = Date.now() - t;
    return value;
  };
  const logDir = options.logDir ?? mkdtempSync(join(tmpdir(), "freight-platform-"));
  mkdirSync(logDir, { recursive: true });
  if (!options.logDir) process.once("exit", () => rmSync(logDir, { recursive: true, force: true }));

  const cleanup: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };
  try {
    // Before the slow steps: a machine without moto learns the install command at once.
    ensureMoto();
    await ensureBuilt({ log: (line) => log(`control plane: ${line}`) });
    const ops = new OpsWebhook();
    const mailbox = new Mailbox();
    const llm = new LocalLlmServer();
    const workflow = new LocalWorkflowServer();
    const [planned, clusters, { primaryDatabase, replica }, moto] = await Promise.all([
      timed("plan", regionManifests({ log })),
      timed(
        "control planes",
        startClusters(REGIONS.map((r) => `${prefix}${r}`)).then((started) => {
          cleanup.push(() => Promise.all(started.map((c) => c.stop())));
          return started;
        }),
      ),
      timed(
        "databases",
        // synchronous_commit on, as in production: a write is acknowledged once its WAL is written,
        // so a lost primary can only lose what it had not yet streamed. (fsync stays off for speed.)
        startPostgres({ name: `${prefix}primary`, settings: { synchronous_commit: "on" } }).then(
          async (server) => {
            cleanup.push(() => server.stop());
            // The replica is cloned from the fresh primary and streams the roles, migrations and
            // seed as they are written, so cloning and provisioning overlap.
            const [database, standby] = await Promise.all([
              // Deployed as every database is: freight_ops refused here, read on the replica.
              provisionDatabase({ server, seed: options.seed ?? "demo", opsReadsOnPrimary: false }),
              startPostgres({ name: `${prefix}replica`, replicaOf: server }).then((started) => {
                cleanup.push(() => started.stop());
                return started;
              }),
            ]);
            await waitForReplay(server.url(), standby.url());
            return { primaryDatabase: database, replica: standby };
          },
        ),
      ),
      timed(
        "moto",
        startMoto().then(async (started) => {
          cleanup.push(() => started.stop());
          await createPlatformSecrets(started);
          return started;
        }),
      ),
      ops.start().then(() => cleanup.push(() => ops.stop())),
      mailbox.start().then(() => cleanup.push(() => mailbox.stop())),
      llm.start().then(() => cleanup.push(() => llm.stop())),
      workflow.start().then(() => cleanup.push(() => workflow.stop())),
    ]);
    log(
      `plan ${planned.fromCache ? "from cache" : "computed"} in ${planned.ms} ms; control planes, PostgreSQL primary and replica up`,
    );

    const onReplica = (url: string) => {
      const u = new URL(url);
      u.port = String(replica.port);
      return u.toString();
    };
    const databaseUrls: Record<Region, ProvisionedDatabase["urls"]> = {
      primary: primaryDatabase.urls,
      secondary: Object.fromEntries(
        Object.entries(primaryDatabase.urls).map(([k, v]) => [k, onReplica(v)]),
      ) as ProvisionedDatabase["urls"],
    };
    const clusterOf: Record<Region, LocalCluster> = { primary: clusters[0]!, secondary: clusters[1]! };
    const admins: Record<Region, KubeClient> = {
      primary: new KubeClient(clusterOf.primary.kubeConfig, { userAgent: FIELD_MANAGER }),
      secondary: new KubeClient(clusterOf.secondary.kubeConfig, { userAgent: FIELD_MANAGER }),
    };
    cleanup.push(async () => REGIONS.forEach((r) => admins[r].close()));
    const workloads: Record<Region, Workload[]> = {
      primary: regionWorkloads(
        "primary",
        planned.manifests.primary,
        localSecrets(databaseUrls.primary, databaseUrls),
      ),
      secondary: regionWorkloads(
        "secondary",
        planned.manifests.secondary,
        localSecrets(databaseUrls.secondary, databaseUrls),
      ),
    };
    const failover = failoverRegion(planned.manifests);
    const deployed: Record<Region, Manifest[]> = { primary: [], secondary: [] };

    // Objects, the RegionFailover and ServiceAccount credentials, both regions at once.
    const t = Date.now();
    const perRegion = await Promise.all(
      REGIONS.map(async (region) => {
        deployed[region] = planned.manifests[region];
        const skipped = await applyRegionObjects(admins[region], deployed[region]);
        const kubeconfigs: Record<string, string> = {};
        const accounts = new Set(
          workloads[region].filter((w) => w.mountsToken).map((w) => `${w.namespace}/${w.serviceAccount}`),
        );
        await Promise.all(
          [...accounts].map(async (account) => {
            const [namespace, name] = account.split("/") as [string, string];
            // A kubelet refreshes a pod's token; nothing does here, so it lasts a working day.
            const minted = await clusterOf[region].serviceAccountKubeconfig(namespace, name, {
              expirationSeconds: 12 * 3600,
            });
            kubeconfigs[account] = minted.kubeconfigPath;
          }),
        );
        return { skipped, kubeconfigs };
      }),
    );
    timings["apply"] = Date.now() - t;

    // Ports first: each process's environment names the others' endpoints.
    const ports = new Map<Workload, Map<number, number>>();
    for (const region of REGIONS)
      for (const w of workloads[region])
        ports.set(w, new Map(await Promise.all(w.ports.map(async (p) => [p, await freePort()] as const))));
    const apiUrl = (region: Region): string => {
      const api = workloads[region].find((w) => w.role === "quote-api");
      if (!api)
        throw new Error(`The ${REGION_STACKS[region]} stack deploys no quote API (command app/server.ts)`);
      const port =
        ports.get(api)!.get(Number(api.env["PORT"] ?? 8080)) ?? ports.get(api)!.values().next().value;
      return `http://127.0.0.1:${port}`;
    };
    const apiUrls: Record<Region, string> = { primary: apiUrl("primary"), secondary: apiUrl("secondary") };
    const environments = new Map<Workload, Record<string, string>>();
    for (const region of REGIONS) for (const w of workloads[region]) environments.set(w, w.env);
    let stripe: LocalStripe | undefined;
    if ([...environments.values()].some((env) => env["BILLING"] === "on")) {
      // Stripe's webhook endpoint is the API's public name, which DNS failover points at the region
      // that serves: here each delivery asks the RegionFailover which one that is.
      stripe = await startLocalStripe({
        webhook: {
          secret: LOCAL_STRIPE.webhookSecret,
          url: async () => apiUrls[(await platform.getFailover()).status?.servingRegion ?? "primary"],
        },
      });
      cleanup.push(() => stripe!.stop());
    }
    const [s3, dns] = await Promise.all([
      timed("s3", startDocumentsS3([...environments.values()], moto.credentials)).then((servers) => {
        for (const server of Object.values(servers)) cleanup.push(() => server.destroy());
        return servers;
      }),
      createDns(moto, [...environments.values()]),
    ]);
    const hostedZoneId = dns?.zoneId;
    // Route 53's checkers probe each region's /readyz as the health checks say (the region's
    // public name is its local API here), once a second for the stacks' 10 s.
    const healthCheckers = new LocalHealthCheckers(moto.endpoint, { intervalMs: 1000 });
    await healthCheckers.start();
    cleanup.push(() => healthCheckers.stop());
    for (const region of REGIONS) {
      const id = dns?.healthChecks[region];
      if (id) healthCheckers.watch(id, { url: `${apiUrls[region]}/readyz` });
    }
    const endpoints = {
      api: apiUrls,
      aws: {
        endpoint: moto.endpoint,
        credentials: moto.credentials,
        hostedZoneId,
        route53Endpoint: healthCheckers.url,
        ...(dns ? { healthChecks: dns.healthChecks } : {}),
      },
      s3: { primary: s3.primary.endpoint, secondary: s3.secondary.endpoint },
      stripe: stripe?.url,
      ops: ops.url,
      smtp: mailbox.url,
      llm: { baseUrl: llm.baseUrl, apiKey: llm.apiKey },
      workflow: { baseUrl: workflow.baseUrl, apiKey: workflow.apiKey },
      databaseDataDirs: { primary: primaryDatabase.server.dataDir, secondary: replica.dataDir },
    };

    const specFor = (
      w: Workload,
      replica: number,
      localPorts: Map<number, number>,
      extra: Record<string, string>,
    ) => {
      const name = podName(w.region, w.deployment, replica);
      const env = substitute(w, environments.get(w)!, {
        ports: localPorts,
        endpoints,
        secretDir: join(logDir, "secrets", name),
        kubeconfig: w.mountsToken
          ? perRegion[REGIONS.indexOf(w.region)]!.kubeconfigs[`${w.namespace}/${w.serviceAccount}`]
          : undefined,
      });
      // The pod name of another replica differs; fieldRef metadata.name said the first one's.
      for (const [k, v] of Object.entries(env)) if (v === podName(w.region, w.deployment)) env[k] = name;
      return {
        region: w.region,
        deployment: w.deployment,
        role: w.role,
        name,
        command: w.command,
        env: { ...env, ...extra },
        readyUrl: w.readiness
          ? `http://127.0.0.1:${localPorts.get(w.readiness.port)}${w.readiness.path}`
          : undefined,
        logPath: join(logDir, `${name}.log`),
      };
    };

    const processes: Record<Region, LocalProcess[]> = { primary: [], secondary: [] };
    cleanup.push(async () => {
      for (const role of STOP_ORDER)
        await Promise.all(
          REGIONS.flatMap((r) => processes[r].filter((p) => p.role === role).map((p) => p.stop())),
        );
    });
    const hold = new Set(options.hold ?? []);
    const tp = Date.now();
    await Promise.all(
      REGIONS.flatMap((region) =>
        workloads[region]
          .filter((w) => !hold.has(`${region}/${w.deployment}`))
          .map(async (w) => {
            const started = await startLocalProcess(specFor(w, 0, ports.get(w)!, {}));
            processes[region].push(started);
          }),
      ),
    );
    timings["processes"] = Date.now() - tp;
    timings["total"] = Date.now() - started;

    const regions = Object.fromEntries(
      REGIONS.map((region, i) => [
        region,
        {
          region,
          stack: REGION_STACKS[region],
          cluster: clusterOf[region],
          admin: admins[region],
          apiUrl: apiUrls[region],
          databaseUrls: databaseUrls[region],
          workloads: workloads[region],
          processes: processes[region],
          serviceAccountKubeconfigs: perRegion[i]!.kubeconfigs,
          skipped: perRegion[i]!.skipped,
        } satisfies PlatformRegion,
      ]),
    ) as Record<Region, PlatformRegion>;
    const failoverAdmin = admins[failover];
    const databases: Record<Region, PostgresServer> = { primary: primaryDatabase.server, secondary: replica };
    let jobRuns = 0;
    let stopped: Promise<void> | undefined;
    const platform: LocalPlatform = {
      regions,
      primaryDatabase,
      replica,
      apiKeys: primaryDatabase.demoKeys,
      failover: { region: failover, name: FAILOVER_NAME, namespace: FAILOVER_NAMESPACE },
      moto,
      hostedZoneId,
      healthCheckers,
      healthCheckIds: dns?.healthChecks ?? {},
      s3,
      stripe,
      ops,
      mailbox,
      llm,
      workflow,
      logDir,
      timings,
      async startProcess(region, deployment, { replica = 1, env = {} } = {}) {
        const w = workloads[region].find((x) => x.deployment === deployment);
        if (!w) throw new Error(`${REGION_STACKS[region]} deploys no Deployment ${deployment}`);
        const localPorts = new Map(
          await Promise.all(w.ports.map(async (p) => [p, await freePort()] as const)),
        );
        const started = await startLocalProcess(specFor(w, replica, localPorts, env));
        processes[region].push(started);
        return started;
      },
      process(region, deployment) {
        const found = processes[region].find((p) => p.deployment === deployment && p.child.exitCode === null);
        if (!found) throw new Error(`no running ${deployment} process in ${region}`);
        return found;
      },
      async runJob(region, name, { timeoutMs = 120_000 } = {}) {
        const [job, ...sidecars] = regionJob(
          region,
          deployed[region],
          localSecrets(databaseUrls[region], databaseUrls),
          name,
        );
        if (sidecars.length)
          throw new Error(
            `${region} ${job!.kind} ${name} has ${sidecars.length + 1} containers; runJob runs single-container jobs only.`,
          );
        const w = job!;
        let kubeconfig: string | undefined;
        if (w.mountsToken) {
          const account = `${w.namespace}/${w.serviceAccount}`;
          kubeconfig =
            perRegion[REGIONS.indexOf(region)]!.kubeconfigs[account] ??
            (
              await clusterOf[region].serviceAccountKubeconfig(w.namespace, w.serviceAccount, {
                expirationSeconds: 3600,
              })
            ).kubeconfigPath;
        }
        jobRuns += 1;
        const runName = `${name}-${region}-run-${jobRuns}`;
        const logPath = join(logDir, `${runName}.log`);
        const started = await startLocalProcess({
          region,
          deployment: name,
          role: w.role,
          name: runName,
          command: w.command,
          env: substitute(w, w.env, {
            ports: new Map(),
            endpoints,
            kubeconfig,
            secretDir: join(logDir, "secrets", runName),
          }),
          logPath,
        });
        let output = "";
        started.child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
        started.child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
        // activeDeadlineSeconds, compressed: a hung run must not hang the caller.
        const timer = setTimeout(() => void started.kill(), timeoutMs);
        await new Promise((resolve) => started.child.once("close", resolve));
        clearTimeout(timer);
        return { name: runName, exitCode: started.child.exitCode, output, logPath };
      },
      async rebuildReplica(region) {
        // The old primary after a planned flip is still writable (only frozen by the routing row):
        // what tells the two apart is which region the RegionFailover says serves.
        const serving = (await platform.getFailover()).status?.servingRegion ?? "primary";
        if (serving === region)
          throw new Error(
            `The ${region} region serves (RegionFailover ${FAILOVER_NAME} status.servingRegion): its database is the primary. ` +
              `Flip to the other region first, then rebuild this one as its replica.`,
          );
        const old = databases[region];
        let rebuilt: PostgresServer | undefined;
        // The failover driver's own failback (pg_rewind, or a base backup when it cannot), on the
        // same directory and port: the operators were started with that data directory (the local
        // fence writes standby.signal there) and the apps with that port. The platform starts the
        // rebuilt server itself, so it is stopped with the platform like the others.
        const driver = new PostgresDatabaseDriver(
          { primary: databases.primary.url(), secondary: databases.secondary.url() },
          { [region]: old.dataDir },
          {
            start: async () => {
              rebuilt = await startPostgres({
                name: `${prefix}${region}-rebuilt`,
                port: old.port,
                dir: old.dir,
                existing: true,
                settings: { synchronous_commit: "on" },
              });
              // Stopped last, after the processes that use it.
              cleanup.unshift(() => rebuilt!.stop());
            },
            log,
          },
        );
        let report: RebuildReport;
        try {
          report = await driver.rebuildReplica(region);
        } finally {
          await driver.close();
        }
        // Stopped by the driver (fast shutdown); this only forgets the old process.
        await old.stop({ keep: true });
        if (!rebuilt) return Object.assign(old, { rebuild: report });
        const source = databases[region === "primary" ? "secondary" : "primary"];
        // Generous: before the rebuild checkpointed the new primary, a rewound server never streamed
        // and the base backup after it took over 30 s on a loaded CI machine.
        await waitForReplay(source.url(), rebuilt.url(), { timeoutMs: 120_000 });
        databases[region] = rebuilt;
        if (region === "primary") primaryDatabase.server = rebuilt;
        else platform.replica = rebuilt;
        return Object.assign(rebuilt, { rebuild: report });
      },
      database: (region) => databases[region],
      async applyFailover(spec) {
        await failoverAdmin.apply(regionFailovers, regionFailoverObject(spec), {
          fieldManager: "on-call",
          force: true,
        });
      },
      getFailover: () =>
        failoverAdmin.get<RegionFailover>(regionFailovers, FAILOVER_NAME, FAILOVER_NAMESPACE),
      stop() {
        stopped ??= stopAll();
        return stopped;
      },
    };
    return platform;
  } catch (error) {
    await stopAll();
    throw error;
  }
}
