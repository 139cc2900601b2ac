// Database driver for AWS RDS: the secondary region's database is a cross-region read replica of
// the primary's, promoted with PromoteReadReplica. Promotion is asynchronous in RDS: the call
// returns at once and the instance is a standalone primary once DescribeDBInstances shows no
// replica source and status "available". Replication health comes from the instance's
// "read replication" status; the lag itself is measured over SQL by WAL position (the same exact
// figure the local driver uses; the CloudWatch ReplicaLag metric is per minute and too coarse to
// gate a zero-loss cutover).
import {
  DescribeDBInstancesCommand,
  PromoteReadReplicaCommand,
  RDSClient,
  type DBInstance,
} from "@aws-sdk/client-rds";
import type { Region } from "../../../api/regionfailover.ts";
import type { DatabaseDriver, ReplicationState } from "./types.ts";

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

  async describe(region: Region): Promise<DBInstance> {
    const { identifier } = this.options.instances[region];
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

  async close(): Promise<void> {
    for (const client of this.clients.values()) client.destroy();
  }
}
