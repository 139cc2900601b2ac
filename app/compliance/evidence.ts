// `npm run evidence`: the weekly SOC 2 evidence snapshot. For every control (controls.ts: id, owner)
// it collects what the project can prove now (collectors.ts), stores the snapshot chained to the
// previous one (snapshot-chain.ts, table evidence_snapshots) and prints which controls fail.
//   npm run evidence                # collect, store, report (exit 0 once stored, failing controls or not)
//   npm run evidence -- verify      # check the whole chain; exit 1 naming each break
//   npm run evidence -- --json      # the snapshot as stored
// A failing control is the finding this job exists to record, not a failure of the job: exiting
// non-zero would make the CronJob retry and store the same week twice.
import * as k8s from "@kubernetes/client-node";
import type pg from "pg";
import { z } from "zod";
import { appConfigSchema } from "../config.ts";
import { createPool } from "../db/pool.ts";
import { ConfigError, defineEnv, EX_CONFIG, loadEnv, postgresUrl, secretValue, type Env } from "../env.ts";
import {
  analyticsReplicaEvidence,
  backupReplicationEvidence,
  clusterRbacEvidence,
  databaseRolesEvidence,
  dsrEvidence,
  penTestEvidence,
  plannerOnce,
  policyPackEvidence,
  rlsProbeEvidence,
  secretRotationEvidence,
  supplyChainEvidence,
  type Collectors,
  type Evidence,
  type PublishedSupplyChain,
  type RegisterSources,
} from "./collectors.ts";
import { CONTROLS, type Control } from "./controls.ts";
import { REGISTER_SOURCES } from "./register-sources.ts";
import { parseS3Uri, s3Client } from "./supply-chain-reports.ts";
import { appendSnapshot, verifyChain, type StoredSnapshot } from "./snapshot-chain.ts";

export const evidenceEnv = defineEnv({
  process: "evidence snapshot",
  schema: z.object({
    DATABASE_URL: postgresUrl(
      "the operators' login (freight_operator): stores the snapshot, reads roles and registers",
      "postgres://freight_operator:...@host:5432/freight",
    ),
    RLS_PROBE_DATABASE_URL: postgresUrl(
      "the app's login (freight_app), which the isolation probe must run as",
      "postgres://freight_app:...@host:5432/freight",
    ),
    OPS_DATABASE_URL: postgresUrl(
      "the read-only ops login (freight_ops) on the analytics replica: reads the DSR and pen-test registers, and shows it is refused on the primary",
      "postgres://freight_ops:...@analytics-replica:5432/freight",
    ),
    SECRETS_ROTATION_WATCH: z
      .string()
      .regex(/^([a-z0-9-]+=[^,=\s]+)(,[a-z0-9-]+=[^,=\s]+)*$/, "must be label=secret-name-or-ARN pairs")
      .optional(),
    AWS_REGION: z
      .string()
      .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "must be an AWS region such as us-east-1")
      .optional(),
    AWS_ENDPOINT_URL_SECRETS_MANAGER: z.url("must be an absolute URL").optional(),
    // Where CI leaves the SBOM and the OSV results (npm run sbom, npm run deps:check). The image build
    // copies them to this path; locally they are under .cache/supply-chain.
    // Used only without EVIDENCE_SUPPLY_CHAIN_S3_URI (a developer's machine after npm run sbom, npm
    // run deps:check).
    EVIDENCE_SUPPLY_CHAIN_DIR: z.string().min(1).default(".cache/supply-chain"),
    // Where `npm run supply-chain:publish` leaves CI's reports (s3://bucket/prefix, latest.json under
    // it): the stacks set it to the region's documents bucket, so the job in the cluster reads them.
    EVIDENCE_SUPPLY_CHAIN_S3_URI: z
      .string()
      .optional()
      .superRefine((uri, context) => {
        if (uri === undefined) return;
        try {
          parseS3Uri(uri);
        } catch (error) {
          context.addIssue({ code: "custom", message: (error as Error).message });
        }
      }),
    // A local S3 (moto, versitygw); unset in AWS, where the regional endpoint is right.
    AWS_ENDPOINT_URL_S3: z.url("must be an absolute URL").optional(),
    // The cluster whose RBAC is evidenced: the pod's own (in-cluster) or a kubeconfig file.
    KUBECONFIG: appConfigSchema.shape.KUBECONFIG,
    KUBERNETES_API: appConfigSchema.shape.KUBERNETES_API,
  }),
  check: (config) => [
    ...(config.SECRETS_ROTATION_WATCH && !config.AWS_REGION
      ? [
          {
            variable: "AWS_REGION",
            message: "is required with SECRETS_ROTATION_WATCH: the region whose Secrets Manager holds them",
          },
        ]
      : []),
    ...(config.EVIDENCE_SUPPLY_CHAIN_S3_URI && !config.AWS_REGION
      ? [
          {
            variable: "AWS_REGION",
            message:
              "is required with EVIDENCE_SUPPLY_CHAIN_S3_URI: the region of the bucket holding the reports",
          },
        ]
      : []),
    ...(config.KUBERNETES_API && config.KUBECONFIG
      ? [{ variable: "KUBERNETES_API", message: "is in-cluster while KUBECONFIG is set too; unset one" }]
      : []),
    ...(!config.KUBERNETES_API && !config.KUBECONFIG
      ? [
          {
            variable: "KUBERNETES_API",
            message:
              "or KUBECONFIG is required: the cluster's RBAC is part of the evidence (KUBERNETES_API=in-cluster in a pod)",
          },
        ]
      : []),
  ],
  secrets: ["DATABASE_URL", "RLS_PROBE_DATABASE_URL", "OPS_DATABASE_URL"],
});
export type EvidenceConfig = ReturnType<typeof evidenceEnv.parse>;

export function parseEvidenceConfig(env: Env): EvidenceConfig {
  return evidenceEnv.parse(env);
}

export interface ControlResult {
  id: string;
  owner: string;
  title: string;
  status: Evidence["status"];
  summary: string;
  facts: unknown;
  seconds: number;
}

export interface EvidenceSnapshot {
  takenAt: string;
  controls: ControlResult[];
}

/** The snapshot's logins: the operators' on the primary, freight_ops on the analytics replica. */
export interface EvidencePools {
  operator: pg.Pool;
  ops: pg.Pool;
}

export function collectorsFor(
  config: EvidenceConfig,
  pools: EvidencePools,
  options: {
    kubeconfig?: k8s.KubeConfig;
    sources?: RegisterSources;
    /** The moment secret ages are judged at (a test looks weeks ahead: an emulator cannot backdate). */
    now?: Date;
  } = {},
): Collectors {
  const planStack = plannerOnce();
  const sources = options.sources ?? REGISTER_SOURCES;
  return {
    "policy-pack": () => policyPackEvidence(planStack),
    "backup-replication": () => backupReplicationEvidence(planStack),
    "rls-probe": () => rlsProbeEvidence(String(secretValue(config, "RLS_PROBE_DATABASE_URL")!.read())),
    "cluster-rbac": () => clusterRbacEvidence(options.kubeconfig ?? clusterOf(config)),
    "database-roles": () => databaseRolesEvidence(pools.operator),
    "analytics-replica": () => analyticsReplicaEvidence(pools.operator, pools.ops),
    "secret-rotation": () =>
      secretRotationEvidence({
        watch: config.SECRETS_ROTATION_WATCH,
        region: config.AWS_REGION,
        endpoint: config.AWS_ENDPOINT_URL_SECRETS_MANAGER,
        now: options.now,
      }),
    "supply-chain": () => supplyChainEvidence(supplyChainSource(config)),
    "dsr-on-time": () => dsrEvidence(sources, pools.ops),
    "pen-test-sla": () => penTestEvidence(sources, pools.ops),
  };
}

function supplyChainSource(config: EvidenceConfig): string | PublishedSupplyChain {
  if (!config.EVIDENCE_SUPPLY_CHAIN_S3_URI) return config.EVIDENCE_SUPPLY_CHAIN_DIR;
  return {
    location: parseS3Uri(config.EVIDENCE_SUPPLY_CHAIN_S3_URI),
    client: s3Client({ region: config.AWS_REGION, endpoint: config.AWS_ENDPOINT_URL_S3 }),
  };
}

function clusterOf(config: EvidenceConfig): k8s.KubeConfig {
  const kubeconfig = new k8s.KubeConfig();
  if (config.KUBECONFIG) kubeconfig.loadFromFile(config.KUBECONFIG);
  else if (!process.env["KUBERNETES_SERVICE_HOST"])
    throw new Error(
      "KUBERNETES_API=in-cluster, but this process is not in a pod (no KUBERNETES_SERVICE_HOST): set KUBECONFIG",
    );
  else kubeconfig.loadFromCluster();
  return kubeconfig;
}

/** Runs every control's collector concurrently; one that throws fails its control with the reason. */
export async function collectEvidence(
  collectors: Collectors,
  controls: readonly Control[] = CONTROLS,
): Promise<EvidenceSnapshot> {
  const takenAt = new Date().toISOString();
  const results = await Promise.all(
    controls.map(async (control): Promise<ControlResult> => {
      const started = performance.now();
      let evidence: Evidence;
      try {
        evidence = await collectors[control.evidence]();
      } catch (error) {
        evidence = { status: "fail", summary: `could not collect: ${(error as Error).message}`, facts: null };
      }
      return {
        id: control.id,
        owner: control.owner,
        title: control.title,
        ...evidence,
        seconds: Math.round((performance.now() - started) / 100) / 10,
      };
    }),
  );
  return { takenAt, controls: results };
}

export function formatEvidenceReport(snapshot: EvidenceSnapshot, stored?: StoredSnapshot): string {
  const failing = snapshot.controls.filter((c) => c.status === "fail");
  const lines = snapshot.controls.map(
    (c) => `${c.status === "pass" ? "pass" : "FAIL"}  ${c.id} (${c.owner}): ${c.summary}`,
  );
  if (stored)
    lines.push(
      `\nSnapshot ${stored.id} stored, hash ${stored.contentHash} (after ${stored.previousHash.slice(0, 12)}…).`,
    );
  lines.push(
    failing.length
      ? `${failing.length} of ${snapshot.controls.length} controls FAIL: ${failing.map((c) => `${c.id} (owner ${c.owner})`).join(", ")}`
      : `All ${snapshot.controls.length} controls pass.`,
  );
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== "verify" && a !== "--json");
  if (unknown.length) {
    console.error(`Unknown argument ${unknown.join(" ")}. Usage: npm run evidence [-- verify | --json]`);
    return 2;
  }
  let config: EvidenceConfig;
  try {
    config = loadEnv(evidenceEnv);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return EX_CONFIG;
  }
  // A weekly batch beside two stack plans and the RLS probe: a slow login is no reason to record a
  // control as failed, so connections get longer than a request path's 5 s.
  const connect = { connectionTimeoutMillis: 30_000 };
  const pool = createPool(secretValue(config, "DATABASE_URL")!, 4, connect);
  const ops = createPool(secretValue(config, "OPS_DATABASE_URL")!, 2, connect);
  try {
    if (argv.includes("verify")) {
      const chain = await verifyChain(pool);
      if (chain.ok) console.log(`Evidence chain intact: ${chain.snapshots} snapshots.`);
      else console.error(`Evidence chain BROKEN:\n${chain.problems.map((p) => `  - ${p}`).join("\n")}`);
      return chain.ok ? 0 : 1;
    }
    const snapshot = await collectEvidence(collectorsFor(config, { operator: pool, ops }));
    const failing = snapshot.controls.filter((c) => c.status === "fail").map((c) => c.id);
    const stored = await appendSnapshot(pool, snapshot, failing);
    console.log(
      argv.includes("--json") ? JSON.stringify(snapshot, null, 2) : formatEvidenceReport(snapshot, stored),
    );
    return 0;
  } finally {
    await Promise.all([pool.end(), ops.end()]);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
