// The SOC 2 controls the weekly evidence snapshot covers: each with its id (the criterion it
// evidences), the team that owns it, and the evidence that shows it operating. docs/security.md is
// generated from this table, so the pack and the snapshot never disagree about what is proven.
export type EvidenceKind =
  | "policy-pack"
  | "rls-probe"
  | "cluster-rbac"
  | "database-roles"
  | "analytics-replica"
  | "secret-rotation"
  | "backup-replication"
  | "supply-chain"
  | "dsr-on-time"
  | "pen-test-sla";

export interface Control {
  id: string;
  title: string;
  owner: string;
  evidence: EvidenceKind;
  /** What passing means, in a sentence. */
  passes: string;
}

export const CONTROLS: readonly Control[] = [
  {
    id: "CC8.1-infrastructure-policy",
    title: "Infrastructure changes pass the policy pack in both regions",
    owner: "platform-infrastructure",
    evidence: "policy-pack",
    passes: "no mandatory policy violation in the planned prod-primary and prod-secondary stacks",
  },
  {
    id: "CC6.1-tenant-isolation",
    title: "Tenants cannot reach each other's rows",
    owner: "platform-data",
    evidence: "rls-probe",
    passes: "every check of the row-level-security probe passes as the app's role",
  },
  {
    id: "CC6.3-cluster-access",
    title: "Cluster access is least privilege",
    owner: "platform-runtime",
    evidence: "cluster-rbac",
    passes: "no subject outside the system: namespace is bound to cluster-admin",
  },
  {
    id: "CC6.1-database-roles",
    title: "Database logins cannot bypass row-level security",
    owner: "platform-data",
    evidence: "database-roles",
    passes: "no freight_* login is SUPERUSER, BYPASSRLS, CREATEROLE or REPLICATION",
  },
  {
    id: "CC6.1-analytics-on-replica",
    title: "Reporting across tenants reads only the analytics replica",
    owner: "platform-data",
    evidence: "analytics-replica",
    passes:
      "freight_ops is refused on the primary (ops_guard.reads_on_primary off), every table it can read is behind the guard, and the evidence's own freight_ops reads ran on a server in recovery",
  },
  {
    id: "CC6.1-secret-rotation",
    title: "Secrets rotate within their windows",
    owner: "security",
    evidence: "secret-rotation",
    passes:
      "every platform secret was rotated within its window (third-party keys 30 days, service roles 90)",
  },
  {
    id: "A1.2-backup-replication",
    title: "Backups and cross-region replication are configured",
    owner: "platform-data",
    evidence: "backup-replication",
    passes:
      "the primary database keeps backups with deletion protection, the secondary is its replica, and documents replicate",
  },
  {
    id: "CC7.1-supply-chain",
    title: "Dependencies are inventoried and free of known vulnerabilities",
    owner: "security",
    evidence: "supply-chain",
    passes: "a CycloneDX SBOM exists and OSV reports no vulnerability in the lockfile",
  },
  {
    id: "P5.1-data-subject-requests",
    title: "Data subject requests are answered within 7 days",
    owner: "privacy",
    evidence: "dsr-on-time",
    passes: "every completed request was on time and none is open past its due date",
  },
  {
    id: "CC4.2-pen-test-remediation",
    title: "Pen-test findings are fixed within 14 days",
    owner: "security",
    evidence: "pen-test-sla",
    passes: "no open finding is past its fix due date",
  },
];
