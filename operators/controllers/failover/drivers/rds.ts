// Database driver for AWS RDS: the secondary region's database is a cross-region read replica of
// the primary's, promoted with PromoteReadReplica. Promotion is asynchronous in RDS: the call
// returns at once and the instance is a standalone primary once DescribeDBInstances shows no
// replica source and status "available". Replication health comes from the instance's
// "read replication" status; the lag itself is measured over SQL by WAL position (the same exact
// figure the local driver uses; the CloudWatch ReplicaLag metric is per minute and too coarse to
// gate a zero-loss cutover).
//
// The fence (automatic flips) goes through the RDS API, which answers even when the instance does
// not: the instance's security groups are swapped for one with no ingress (it survives reboots and
// instance restarts, and unlike StopDBInstance it is allowed on a source with read replicas), then
// the instance is rebooted so sessions opened before the swap are dropped too. It counts as fenced
// only when DescribeDBInstances shows the fence group alone, active, and the instance available.
//
// Failback: RDS cannot turn a standalone instance back into a replica, so a new instance is
// created in the old primary's region with CreateDBInstanceReadReplica from the new primary (named
// by its ARN: cross-region), with the old instance's class and subnet group and its security groups
// less the fence group. Its name is the old one with the next "-fb<N>" generation, so a repeated
// call finds the instance it asked for before instead of creating another. The old instance is
// left alone (fenced) for on-call to snapshot and delete; RDS_<REGION>_INSTANCE is then pointed at
// the new one (region stack config) for the controller to see it stream and report FailbackReady.
import {
  CreateDBInstanceReadReplicaCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  PromoteReadReplicaCommand,
  RebootDBInstanceCommand,
  RDSClient,
  type DBInstance,
} from "@aws-sdk/client-rds";
import { otherRegion, type Region } from "../../../api/regionfailover.ts";
import type { DatabaseDriver, RebuildReport, ReplicationState } from "./types.ts";

/** The next failback generation of an instance name: freight-prod-primary -> freight-prod-primary-fb1 -> -fb2. */
export function nextReplicaIdentifier(identifier: string): string {
  const match = /^(.*)-fb(\d+)$/.exec(identifier);
  const base = match ? match[1]! : identifier;
  const next = `${base}-fb${match ? Number(match[2]) + 1 : 1}`;
  if (next.length > 63)
    throw new Error(
      `${next} is longer than the 63 characters RDS allows for an instance identifier: shorten RDS instance names`,
    );
  return next;
}

export interface RdsInstance {
  /** The AWS region the instance lives in, e.g. us-east-1. */
  awsRegion: string;
  /** DBInstanceIdentifier, e.g. freight-prod-secondary. */
  identifier: string;
}

export interface RdsDriverOptions {
  instances: Record<Region, RdsInstance>;
  /** Exact lag by WAL position (normally a PostgresDatabaseDriver on the two endpoints). */
  lag: Pick<DatabaseDriver, "replication">;
  /** Clients per AWS region; tests point them at a local endpoint. */
  client?: (awsRegion: string) => RDSClient;
  /** Days of automated backups for the promoted instance (RDS requires > 0 to replicate from it). */
  backupRetentionPeriod?: number;
  /** Per region, a VPC security group with no ingress rule: what fences its instance. */
  fenceSecurityGroups?: Partial<Record<Region, string>>;
  /** How long fence() waits for the group swap before rebooting. */
  fenceTimeoutMs?: number;
}

export class RdsDatabaseDriver implements DatabaseDriver {
  private readonly options: RdsDriverOptions;
  private readonly clients = new Map<string, RDSClient>();

  constructor(options: RdsDriverOptions) {
    this.options = options;
  }

  private client(region: Region): RDSClient {
    const { awsRegion } = this.options.instances[region];
    let client = this.clients.get(awsRegion);
    if (!client) {
      client = this.options.client?.(awsRegion) ?? new RDSClient({ region: awsRegion });
      this.clients.set(awsRegion, client);
    }
    return client;
  }

  async describe(
    region: Region,
    identifier = this.options.instances[region].identifier,
  ): Promise<DBInstance> {
    const out = await this.client(region).send(
      new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }),
    );
    const instance = out.DBInstances?.[0];
    if (!instance)
      throw new Error(`RDS instance ${identifier} not found in ${this.options.instances[region].awsRegion}`);
    return instance;
  }

  async replication(replica: Region): Promise<ReplicationState> {
    const instance = await this.describe(replica);
    const status = instance.StatusInfos?.find((s) => s.StatusType === "read replication");
    if (!instance.ReadReplicaSourceDBInstanceIdentifier || !status) {
      return { caughtUp: false };
    }
    if (status.Normal === false || status.Status === "error" || status.Status === "terminated") {
      // Replication is broken: the lag figure would be stale, and no flip should count on it.
      return { caughtUp: false };
    }
    return this.options.lag.replication(replica);
  }

  async isWritable(region: Region): Promise<boolean> {
    const instance = await this.describe(region);
    return !instance.ReadReplicaSourceDBInstanceIdentifier && instance.DBInstanceStatus === "available";
  }

  async promote(region: Region): Promise<void> {
    const { identifier } = this.options.instances[region];
    try {
      await this.client(region).send(
        new PromoteReadReplicaCommand({
          DBInstanceIdentifier: identifier,
          BackupRetentionPeriod: this.options.backupRetentionPeriod ?? 7,
        }),
      );
    } catch (error) {
      // A repeat of a request RDS already accepted (the controller died before recording it) is
      // refused while the instance is modifying; that promotion is under way, which is what we asked.
      // (A finished one is seen as writable first, so the controller does not ask again.)
      if (!/^InvalidDBInstanceState/.test((error as Error).name)) throw error;
      const instance = await this.describe(region);
      if (instance.DBInstanceStatus !== "modifying" || !instance.ReadReplicaSourceDBInstanceIdentifier)
        throw error;
    }
  }

  private fenceGroup(region: Region): string {
    const group = this.options.fenceSecurityGroups?.[region];
    if (!group)
      throw new Error(
        `${region}'s RDS instance has no fence security group: set RDS_${region.toUpperCase()}_FENCE_SECURITY_GROUP (the stacks create one with no ingress); until then an unplanned flip away from it holds before promotion (or on-call sets spec.fenceOverride)`,
      );
    return group;
  }

  private static onlyGroup(instance: DBInstance, group: string): boolean {
    const groups = instance.VpcSecurityGroups ?? [];
    return groups.length === 1 && groups[0]!.VpcSecurityGroupId === group && groups[0]!.Status === "active";
  }

  async fence(region: Region): Promise<{ method: string }> {
    const group = this.fenceGroup(region);
    const { identifier } = this.options.instances[region];
    const client = this.client(region);
    let instance = await this.describe(region);
    if (!RdsDatabaseDriver.onlyGroup(instance, group) && instance.DBInstanceStatus !== "modifying") {
      await client.send(
        new ModifyDBInstanceCommand({
          DBInstanceIdentifier: identifier,
          VpcSecurityGroupIds: [group],
          ApplyImmediately: true,
        }),
      );
    }
    const deadline = Date.now() + (this.options.fenceTimeoutMs ?? 120_000);
    for (;;) {
      instance = await this.describe(region);
      if (RdsDatabaseDriver.onlyGroup(instance, group) && instance.DBInstanceStatus === "available") break;
      if (Date.now() > deadline)
        throw new Error(
          `${identifier}'s security groups did not settle on ${group} in time (status ${instance.DBInstanceStatus}); the fence is retried`,
        );
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    // The swap stops new connections; the reboot ends the ones already open.
    await client.send(new RebootDBInstanceCommand({ DBInstanceIdentifier: identifier }));
    return { method: `security groups of ${identifier} replaced by ${group} (no ingress), then rebooted` };
  }

  async isFenced(region: Region): Promise<boolean> {
    const instance = await this.describe(region);
    return (
      RdsDatabaseDriver.onlyGroup(instance, this.fenceGroup(region)) &&
      instance.DBInstanceStatus === "available"
    );
  }

  async rebuildReplica(region: Region): Promise<RebuildReport> {
    const started = Date.now();
    const other = otherRegion(region);
    const source = await this.describe(other);
    const sourceId = this.options.instances[other].identifier;
    if (source.ReadReplicaSourceDBInstanceIdentifier || source.DBInstanceStatus !== "available")
      throw new Error(
        `${sourceId} (${other}) is not a standalone primary in state available (status ${source.DBInstanceStatus}${source.ReadReplicaSourceDBInstanceIdentifier ? `, a replica of ${source.ReadReplicaSourceDBInstanceIdentifier}` : ""}): flip to ${other} first, then rebuild ${region}`,
      );
    if (!source.DBInstanceArn) throw new Error(`RDS returned no ARN for ${sourceId}`);
    const old = await this.describe(region);
    const name = nextReplicaIdentifier(this.options.instances[region].identifier);
    const report = (instance: DBInstance, steps: string[]): RebuildReport => ({
      method: "RDS read replica (CreateDBInstanceReadReplica)",
      fallbackReason:
        "RDS cannot rewind an instance into a replica; a new one is created from the new primary",
      replica: name,
      streaming:
        instance.DBInstanceStatus === "available" &&
        !!instance.StatusInfos?.some((s) => s.StatusType === "read replication" && s.Normal !== false),
      steps: [
        ...steps,
        `then the failover controller must watch ${name}: RDS_${region.toUpperCase()}_INSTANCE=${this.options.instances[region].awsRegion}:${name} (the stack's database identifier, infra/workloads/failover.ts); it reports FailbackReady once ${name} streams`,
        `${this.options.instances[region].identifier} is left as it was (fenced): snapshot and delete it when done`,
      ],
      seconds: Math.round((Date.now() - started) / 100) / 10,
    });
    const existing = await this.describe(region, name).catch((error: Error) => {
      if (/DBInstanceNotFound/.test(error.name)) return undefined;
      throw error;
    });
    if (existing) {
      const from = existing.ReadReplicaSourceDBInstanceIdentifier;
      if (from !== source.DBInstanceArn && from !== sourceId)
        throw new Error(
          `${name} exists but is not a read replica of ${sourceId} (${from ? `it replicates ${from}` : "it is standalone"}): delete or rename it, then rebuild again`,
        );
      return report(existing, [`${name} was already requested (status ${existing.DBInstanceStatus})`]);
    }
    const fence = this.options.fenceSecurityGroups?.[region];
    const groups = (old.VpcSecurityGroups ?? [])
      .map((g) => g.VpcSecurityGroupId!)
      .filter((id) => id && id !== fence);
    const out = await this.client(region).send(
      new CreateDBInstanceReadReplicaCommand({
        DBInstanceIdentifier: name,
        SourceDBInstanceIdentifier: source.DBInstanceArn,
        ...(old.DBInstanceClass ? { DBInstanceClass: old.DBInstanceClass } : {}),
        ...(old.DBSubnetGroup?.DBSubnetGroupName
          ? { DBSubnetGroupName: old.DBSubnetGroup.DBSubnetGroupName }
          : {}),
        ...(groups.length ? { VpcSecurityGroupIds: groups } : {}),
      }),
    );
    return report(out.DBInstance ?? {}, [
      `CreateDBInstanceReadReplica ${name} from ${source.DBInstanceArn}${groups.length ? ` with security groups ${groups.join(", ")}` : " (the old instance held only the fence group: give the new one the database security group)"}`,
    ]);
  }

  async close(): Promise<void> {
    for (const client of this.clients.values()) client.destroy();
  }
}
