// One collector per kind of evidence (controls.ts): each gathers what the project can prove right
// now and judges it against the control. A collector that cannot reach its source fails its control
// with the reason, rather than failing the snapshot: a week with a gap in the evidence is a finding.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import * as k8s from "@kubernetes/client-node";
import type pg from "pg";
import { Gauge, Registry } from "prom-client";
import { probe } from "../ops/rls-probe.ts";
import {
  parseWatchedSecrets,
  recordRotationDates,
  RotationLedger,
  secretsManagerClient,
} from "../observability/secret-rotation.ts";
import type { PlannedStack } from "../../stacks/plan.ts";
import type { EvidenceKind } from "./controls.ts";
import {
  LATEST_POINTER,
  MissingReport,
  objectKey,
  PUBLISH_COMMAND,
  readJsonObject,
  s3Uri,
  SUPPLY_CHAIN_FILES,
  SUPPLY_CHAIN_MAX_AGE_DAYS,
  type LatestPointer,
  type S3Location,
} from "./supply-chain-reports.ts";

export interface Evidence {
  status: "pass" | "fail";
  summary: string;
  facts: unknown;
}

export type Collector = () => Promise<Evidence>;

/** The two collectors the data-subject-request and pen-test registers own (app/compliance/evidence-sources.ts). */
export interface RegisterSources {
  dsrOnTimeRate(pool: pg.Pool): Promise<{
    completed: number;
    onTime: number;
    rate: number | null;
    overdueOpen: number;
  }>;
  penTestFindingsAgainstSla(
    pool: pg.Pool,
  ): Promise<{ open: number; overdue: number; dueWithin7Days: number }>;
}

const pass = (summary: string, facts: unknown): Evidence => ({ status: "pass", summary, facts });
const fail = (summary: string, facts: unknown): Evidence => ({ status: "fail", summary, facts });

/** Plans each stack once for both the policy pack and the backup settings (planning takes seconds). */
export function plannerOnce(): PlanFn {
  const plans = new Map<string, Promise<PlannedStack>>();
  return async (stack) => {
    if (!plans.has(stack))
      plans.set(
        stack,
        import("../../stacks/plan.ts").then((m) => m.planStack(stack)),
      );
    return plans.get(stack)!;
  };
}
type PlanFn = (stack: string) => Promise<PlannedStack>;

export async function policyPackEvidence(planStack: PlanFn): Promise<Evidence> {
  const { runCheck, summarize, STACKS } = await import("../../policies/check.ts");
  const run = await runCheck({ stacks: STACKS, planStack });
  const totals = summarize(run.reports);
  const violations = run.reports.flatMap((r) =>
    r.violations
      .filter((v) => v.enforcementLevel === "mandatory")
      .map((v) => ({ stack: v.stack, policy: v.policy, urn: v.urn, message: v.message })),
  );
  const facts = { ...totals, stacks: [...STACKS], mandatoryViolations: violations };
  return totals.mandatory === 0
    ? pass(`${STACKS.join(" and ")}: no mandatory violation (${totals.advisory} advisory)`, facts)
    : fail(`${totals.mandatory} mandatory policy violations`, facts);
}

export async function rlsProbeEvidence(appDatabaseUrl: string): Promise<Evidence> {
  const findings = await probe(appDatabaseUrl);
  const failed = findings.filter((f) => !f.ok);
  const facts = { checks: findings.length, failed };
  return failed.length
    ? fail(`${failed.length} of ${findings.length} isolation checks failed`, facts)
    : pass(`all ${findings.length} isolation checks passed`, facts);
}

/** The bindings actually in the cluster, not the ones the stacks declare: drift shows here. */
export async function clusterRbacEvidence(kubeconfig: k8s.KubeConfig): Promise<Evidence> {
  const rbac = kubeconfig.makeApiClient(k8s.RbacAuthorizationV1Api);
  const [cluster, namespaced] = await Promise.all([
    rbac.listClusterRoleBinding(),
    rbac.listRoleBindingForAllNamespaces(),
  ]);
  const describe = (b: k8s.V1ClusterRoleBinding | k8s.V1RoleBinding) => ({
    binding: `${b.metadata?.namespace ? `${b.metadata.namespace}/` : ""}${b.metadata?.name}`,
    role: `${b.roleRef.kind}/${b.roleRef.name}`,
    subjects: (b.subjects ?? []).map((s) => `${s.kind}:${s.namespace ? `${s.namespace}/` : ""}${s.name}`),
  });
  const bindings = [...cluster.items, ...namespaced.items].map(describe);
  const isSystem = (subject: string) => /^(Group|User):system:|^ServiceAccount:kube-system\//.test(subject);
  const admins = bindings.filter(
    (b) => b.role === "ClusterRole/cluster-admin" && b.subjects.some((s) => !isSystem(s)),
  );
  const facts = { bindings, clusterAdminOutsideSystem: admins };
  return admins.length
    ? fail(`cluster-admin granted outside system: ${admins.map((a) => a.binding).join(", ")}`, facts)
    : pass(`${bindings.length} bindings; cluster-admin only for system subjects`, facts);
}

export async function databaseRolesEvidence(pool: pg.Pool): Promise<Evidence> {
  const { rows } = await pool.query<{
    role: string;
    superuser: boolean;
    bypassrls: boolean;
    createrole: boolean;
    createdb: boolean;
    replication: boolean;
    login: boolean;
    member_of: string[];
  }>(
    `SELECT r.rolname AS role, r.rolsuper AS superuser, r.rolbypassrls AS bypassrls,
            r.rolcreaterole AS createrole, r.rolcreatedb AS createdb, r.rolreplication AS replication,
            r.rolcanlogin AS login,
            coalesce(array_agg(g.rolname ORDER BY g.rolname) FILTER (WHERE g.rolname IS NOT NULL), '{}') AS member_of
       FROM pg_roles r
       LEFT JOIN pg_auth_members m ON m.member = r.oid
       LEFT JOIN pg_roles g ON g.oid = m.roleid
      WHERE r.rolname LIKE 'freight\\_%'
      GROUP BY r.oid, r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolcanlogin
      ORDER BY r.rolname`,
  );
  const excessive = rows.filter((r) => r.superuser || r.bypassrls || r.createrole || r.replication);
  const facts = { roles: rows };
  if (rows.length === 0)
    return fail("no freight_* roles found: is DATABASE_URL the platform database?", facts);
  return excessive.length
    ? fail(`${excessive.map((r) => r.role).join(", ")} can bypass row-level security or manage roles`, facts)
    : pass(`${rows.length} freight_* roles, none SUPERUSER, BYPASSRLS, CREATEROLE or REPLICATION`, facts);
}

export async function secretRotationEvidence(options: {
  watch: string | undefined;
  region: string | undefined;
  endpoint: string | undefined;
  now?: Date;
}): Promise<Evidence> {
  const secrets = parseWatchedSecrets(options.watch);
  if (secrets.length === 0)
    return fail("no secrets watched: set SECRETS_ROTATION_WATCH as the stacks do", { secrets: [] });
  const registry = new Registry();
  const ledger = new RotationLedger(
    new Gauge({
      name: "evidence_secret_last_rotated",
      help: "-",
      labelNames: ["secret"],
      registers: [registry],
    }),
  );
  // One read of each secret's metadata, through the code the processes run.
  const failed = await recordRotationDates({
    client: secretsManagerClient({ region: options.region!, endpoint: options.endpoint }),
    secrets,
    ledger,
    log: { info: () => {}, warn: () => {} },
  });
  const ages = ledger.ages(options.now).map((a) => ({
    secret: a.label,
    lastRotated: a.lastRotated.toISOString(),
    windowDays: a.windowDays,
    deadline: a.deadline.toISOString(),
    daysLeft: Math.round(a.daysLeft * 10) / 10,
    state: a.state,
  }));
  const overdue = ages.filter((a) => a.state === "overdue");
  const facts = { secrets: ages, unreadable: failed };
  if (failed.length) return fail(`cannot read the rotation date of ${failed.join(", ")}`, facts);
  return overdue.length
    ? fail(`${overdue.map((a) => a.secret).join(", ")} past their rotation deadline`, facts)
    : pass(
        `${ages.length} secrets within their windows (${ages.filter((a) => a.state === "due soon").length} due within 7 days)`,
        facts,
      );
}

/** From the planned stacks' configuration: what `pulumi up` would hold the databases and buckets to. */
export async function backupReplicationEvidence(planStack: PlanFn): Promise<Evidence> {
  const [primary, secondary] = await Promise.all([planStack("prod-primary"), planStack("prod-secondary")]);
  const instances = (plan: typeof primary) =>
    plan.resources
      .filter((r) => r.type === "aws:rds/instance:Instance")
      .map((r) => ({
        name: r.name,
        backupRetentionDays: r.props["backupRetentionPeriod"] as number | undefined,
        deletionProtection: r.props["deletionProtection"] as boolean | undefined,
        replicaOf: (r.props["replicateSourceDb"] as string | undefined) ?? null,
        multiAz: r.props["multiAz"] as boolean | undefined,
      }));
  const replication = (plan: typeof primary) =>
    plan.resources
      .filter((r) => r.type === "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
      .map((r) => r.name);
  const facts = {
    "prod-primary": { databases: instances(primary), bucketReplication: replication(primary) },
    "prod-secondary": { databases: instances(secondary), bucketReplication: replication(secondary) },
  };
  const problems: string[] = [];
  const source = facts["prod-primary"].databases.find((d) => !d.replicaOf);
  if (!source) problems.push("prod-primary declares no source database");
  else {
    if (!source.backupRetentionDays || source.backupRetentionDays < 7)
      problems.push(`${source.name} keeps backups ${source.backupRetentionDays ?? 0} days (at least 7)`);
    if (!source.deletionProtection) problems.push(`${source.name} has no deletion protection`);
  }
  if (!facts["prod-secondary"].databases.some((d) => d.replicaOf))
    problems.push("prod-secondary declares no replica of the primary database");
  if (facts["prod-primary"].bucketReplication.length === 0)
    problems.push("the primary's document buckets do not replicate");
  return problems.length
    ? fail(problems.join("; "), facts)
    : pass(
        `backups ${source!.backupRetentionDays} days with deletion protection; cross-region replica; ${facts["prod-primary"].bucketReplication.length} bucket replication rules`,
        facts,
      );
}

interface OsvReport {
  results?: {
    packages?: { package: { name: string; version: string }; vulnerabilities?: { id: string }[] }[];
  }[];
}

/** The CI's SBOM and OSV results (npm run sbom, npm run deps:check), from `dir`. */
/** CI's reports in S3 (app/compliance/supply-chain-reports.ts), as `npm run supply-chain:publish` leaves them. */
export interface PublishedSupplyChain {
  location: S3Location;
  client: S3Client;
}

type Sbom = { bomFormat?: string; specVersion?: string; components?: unknown[] };

export async function supplyChainEvidence(
  source: string | PublishedSupplyChain,
  now: Date = new Date(),
): Promise<Evidence> {
  if (typeof source !== "string") return publishedSupplyChainEvidence(source, now);
  const dir = source;
  const read = <T>(file: string): T | undefined => {
    try {
      return JSON.parse(readFileSync(join(dir, file), "utf8")) as T;
    } catch {
      return undefined;
    }
  };
  const sbom = read<Sbom>("sbom.json");
  const osv = read<OsvReport>("osv.json");
  if (!sbom || sbom.bomFormat !== "CycloneDX")
    return fail(`no CycloneDX SBOM in ${dir}/sbom.json (npm run sbom)`, supplyChainFacts(sbom, osv));
  if (!osv)
    return fail(`no dependency scan in ${dir}/osv.json (npm run deps:check)`, supplyChainFacts(sbom, osv));
  return judgeSupplyChain(sbom, osv, {});
}

async function publishedSupplyChainEvidence({ location, client }: PublishedSupplyChain, now: Date) {
  try {
    const latest = await readJsonObject<LatestPointer>(client, location, objectKey(location, LATEST_POINTER));
    const publishedAt = new Date(latest.publishedAt);
    const where = s3Uri(location, objectKey(location, latest.release ?? ""));
    if (typeof latest.release !== "string" || Number.isNaN(publishedAt.getTime()))
      return fail(
        `${s3Uri(location, objectKey(location, LATEST_POINTER))} names no release and publication date (publish again with ${PUBLISH_COMMAND})`,
        null,
      );
    const ageDays = Math.floor((now.getTime() - publishedAt.getTime()) / 86_400_000);
    const published = { release: latest.release, publishedAt: latest.publishedAt, ageDays, where };
    if (ageDays > SUPPLY_CHAIN_MAX_AGE_DAYS)
      return fail(
        `the published SBOM and dependency scan are ${ageDays} days old (release ${latest.release}, ${latest.publishedAt}), older than ${SUPPLY_CHAIN_MAX_AGE_DAYS} days: CI must run ${PUBLISH_COMMAND} weekly`,
        published,
      );
    const [sbom, osv] = await Promise.all(
      SUPPLY_CHAIN_FILES.map((file) =>
        readJsonObject(client, location, objectKey(location, latest.release, file)),
      ),
    );
    if ((sbom as Sbom).bomFormat !== "CycloneDX")
      return fail(
        `${where}/sbom.json is not a CycloneDX SBOM (npm run sbom, then ${PUBLISH_COMMAND})`,
        published,
      );
    return judgeSupplyChain(sbom as Sbom, osv as OsvReport, published);
  } catch (error) {
    if (error instanceof MissingReport) return fail(error.message, null);
    throw error;
  }
}

function supplyChainFacts(sbom: Sbom | undefined, osv: OsvReport | undefined) {
  const vulnerable = (osv?.results ?? []).flatMap((r) =>
    (r.packages ?? [])
      .filter((p) => p.vulnerabilities?.length)
      .map((p) => ({
        package: `${p.package.name}@${p.package.version}`,
        advisories: p.vulnerabilities!.map((v) => v.id),
      })),
  );
  return {
    sbom: sbom
      ? { format: sbom.bomFormat, specVersion: sbom.specVersion, components: sbom.components?.length ?? 0 }
      : null,
    dependencyFindings: osv ? vulnerable : null,
  };
}

function judgeSupplyChain(sbom: Sbom, osv: OsvReport, published: object): Evidence {
  const facts = { ...published, ...supplyChainFacts(sbom, osv) };
  const vulnerable = facts.dependencyFindings ?? [];
  return vulnerable.length
    ? fail(`${vulnerable.length} dependencies with known vulnerabilities`, facts)
    : pass(`SBOM of ${facts.sbom!.components} components; no known vulnerability`, facts);
}

/**
 * freight_ops reads only on the analytics replica (migration 0035): the guard row as the primary holds
 * it (`operator`), the tables freight_ops can read that are not behind the guard, and whether the
 * evidence's own ops login (`ops`, the one the registers are read with) is connected to a replica.
 */
export async function analyticsReplicaEvidence(operator: pg.Pool, ops: pg.Pool): Promise<Evidence> {
  const guard = await operator.query<{ reads_on_primary: boolean; changed_at: Date }>(
    "SELECT reads_on_primary, changed_at FROM ops_guard",
  );
  const unguarded = await operator.query<{ relation: string }>(
    `SELECT c.relname AS relation
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> 'ops_guard'
        AND has_any_column_privilege('freight_ops', c.oid, 'SELECT')
        AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'ops_on_replica'
                          AND NOT p.polpermissive)
      ORDER BY 1`,
  );
  const server = await ops.query<{ in_recovery: boolean; login: string }>(
    "SELECT pg_is_in_recovery() AS in_recovery, current_user AS login",
  );
  const readsOnPrimary = guard.rows[0]?.reads_on_primary ?? true;
  const { in_recovery: inRecovery, login } = server.rows[0]!;
  const facts = {
    readsOnPrimary,
    guardChangedAt: guard.rows[0]?.changed_at.toISOString() ?? null,
    unguarded: unguarded.rows.map((r) => r.relation),
    opsLogin: login,
    opsServerInRecovery: inRecovery,
  };
  const problems = [
    ...(guard.rows.length ? [] : ["the ops_guard row is missing (migration 0035 not applied?)"]),
    ...(readsOnPrimary && guard.rows.length
      ? ["ops_guard.reads_on_primary is on: freight_ops may read on the primary"]
      : []),
    ...(facts.unguarded.length ? [`not behind the replica guard: ${facts.unguarded.join(", ")}`] : []),
    ...(inRecovery
      ? []
      : [`the evidence's ${login} login reads a primary: point OPS_DATABASE_URL at the analytics replica`]),
  ];
  return problems.length
    ? fail(problems.join("; "), facts)
    : pass(`${login} refused on the primary; the evidence read the registers on a replica`, facts);
}

export async function dsrEvidence(sources: RegisterSources, pool: pg.Pool): Promise<Evidence> {
  const r = await sources.dsrOnTimeRate(pool);
  const rate = r.rate === null ? "no request completed" : `${Math.round(r.rate * 1000) / 10} % on time`;
  return r.overdueOpen > 0 || (r.rate !== null && r.onTime < r.completed)
    ? fail(`${rate}; ${r.overdueOpen} open past the 7-day due date`, r)
    : pass(`${rate} (${r.onTime}/${r.completed}); none open past due`, r);
}

export async function penTestEvidence(sources: RegisterSources, pool: pg.Pool): Promise<Evidence> {
  const r = await sources.penTestFindingsAgainstSla(pool);
  return r.overdue > 0
    ? fail(`${r.overdue} of ${r.open} open findings past the 14-day fix SLA`, r)
    : pass(`${r.open} open findings, none past the SLA (${r.dueWithin7Days} due within 7 days)`, r);
}

export type Collectors = Record<EvidenceKind, Collector>;
