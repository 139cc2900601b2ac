// A local endpoint for the RDS calls the failover's database driver makes (DescribeDBInstances,
// PromoteReadReplica, for the fence ModifyDBInstance with VpcSecurityGroupIds and
// RebootDBInstance, and for failback CreateDBInstanceReadReplica), in RDS's query protocol (form-encoded Action=..., XML answers), so the real
// AWS SDK is exercised end to end. Everything else AWS goes to moto (tools/aws/moto.ts); RDS stays
// here because moto 5.2.5 does not model what the failover depends on: its PromoteReadReplica is
// accepted for an instance that is no replica, finishes at once (no "modifying" while it runs), and
// leaves ReadReplicaSourceDBInstanceIdentifier set, so a promoted instance never looks writable; and
// its instances carry no "read replication" status info. This endpoint models exactly those.
// CreateDBInstanceReadReplica as RDS answers it: the source named by its ARN when it lives in
// another region than the request is signed for (a bare identifier is only looked up in the
// request's own region), refused while the source is not "available" or has no automated backups
// (retention 0), or when the new identifier is taken; the new instance is "creating" first, then a
// replica whose ReadReplicaSourceDBInstanceIdentifier is the source's ARN (cross-region) or name.
// It records every request for assertions.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** The form fields. */
  params: URLSearchParams;
  body: string;
}

export interface FakeDbInstance {
  identifier: string;
  status: string;
  /** Set while the instance is a read replica. */
  source?: string;
  replicationNormal?: boolean;
  /** VPC security groups and their association status ("active", "adding", "removing"). */
  securityGroups?: { id: string; status: string }[];
  /** How many times the instance was rebooted (every open session dropped). */
  reboots?: number;
  /** The AWS region it lives in (its ARN says so); us-east-1 when not set. */
  awsRegion?: string;
  /** Days of automated backups; RDS replicates only from a source with more than 0. Default 1. */
  backupRetentionPeriod?: number;
  dbInstanceClass?: string;
  dbSubnetGroup?: string;
}

const ACCOUNT = "123456789012";
export const fakeRdsArn = (i: Pick<FakeDbInstance, "identifier" | "awsRegion">) =>
  `arn:aws:rds:${i.awsRegion ?? "us-east-1"}:${ACCOUNT}:db:${i.identifier}`;

const RDS_NS = "http://rds.amazonaws.com/doc/2014-10-31/";

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const tag = (name: string, value: string | number | undefined) =>
  value === undefined ? "" : `<${name}>${typeof value === "number" ? value : escape(value)}</${name}>`;

export class FakeRdsEndpoint {
  readonly requests: RecordedRequest[] = [];
  readonly instances = new Map<string, FakeDbInstance>();
  /** How long a promotion stays "modifying" before the instance is a standalone primary. */
  promotionDelayMs = 0;
  /**
   * Runs when a promotion finishes, before the instance reports itself available: lets a test put a
   * real database behind the instance (pg_promote on the local replica).
   */
  onPromoted: ((identifier: string) => Promise<void>) | undefined;
  /** How long a security group change stays "adding"/"removing" and a reboot "rebooting". */
  modifyDelayMs = 0;
  /** Runs when an instance reboots: lets a test drop the sessions of a real database behind it. */
  onRebooted: ((identifier: string) => Promise<void>) | undefined;
  /** How long a new read replica stays "creating" before it is "available" and replicating. */
  replicaCreateDelayMs = 0;
  /** When each instance finished promoting (ms since the epoch). */
  readonly promotedAt = new Map<string, number>();
  url = "";
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const url = new URL(req.url ?? "/", "http://localhost");
        const recorded: RecordedRequest = {
          method: req.method ?? "GET",
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          params: new URLSearchParams(body),
          body,
        };
        this.requests.push(recorded);
        const { status, xml } = this.rds(recorded);
        res.writeHead(status, {
          "content-type": "text/xml",
          "x-amzn-requestid": `req-${this.requests.length}`,
        });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private rdsError(code: string, message: string, status = 400) {
    return {
      status,
      xml: `<ErrorResponse xmlns="${RDS_NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escape(message)}</Message></Error><RequestId>req-${this.requests.length}</RequestId></ErrorResponse>`,
    };
  }

  private instanceXml(i: FakeDbInstance): string {
    const replication = i.source
      ? `<StatusInfos><DBInstanceStatusInfo><StatusType>read replication</StatusType><Normal>${i.replicationNormal ?? true}</Normal><Status>${i.replicationNormal === false ? "error" : "replicating"}</Status></DBInstanceStatusInfo></StatusInfos>`
      : "";
    const groups = (i.securityGroups ?? [])
      .map(
        (g) =>
          `<VpcSecurityGroupMembership>${tag("VpcSecurityGroupId", g.id)}${tag("Status", g.status)}</VpcSecurityGroupMembership>`,
      )
      .join("");
    return `<DBInstance>${tag("DBInstanceIdentifier", i.identifier)}${tag("DBInstanceArn", fakeRdsArn(i))}${tag("DBInstanceStatus", i.status)}${tag("Engine", "postgres")}${tag("DBInstanceClass", i.dbInstanceClass)}${tag("BackupRetentionPeriod", i.backupRetentionPeriod ?? 1)}${i.dbSubnetGroup ? `<DBSubnetGroup>${tag("DBSubnetGroupName", i.dbSubnetGroup)}</DBSubnetGroup>` : ""}${tag("ReadReplicaSourceDBInstanceIdentifier", i.source)}<VpcSecurityGroups>${groups}</VpcSecurityGroups>${replication}</DBInstance>`;
  }

  /** The AWS region a request is signed for (SigV4 credential scope). */
  private static signedRegion(request: RecordedRequest): string {
    return (
      /Credential=[^/]+\/\d{8}\/([^/]+)\/rds\//.exec(request.headers.authorization ?? "")?.[1] ?? "us-east-1"
    );
  }

  private createReadReplica(
    request: RecordedRequest,
    wrap: (inner: string) => string,
  ): { status: number; xml: string } {
    const id = request.params.get("DBInstanceIdentifier");
    const sourceName = request.params.get("SourceDBInstanceIdentifier");
    if (!id)
      return this.rdsError("MissingParameter", "The request must contain the parameter DBInstanceIdentifier");
    if (!sourceName)
      return this.rdsError(
        "MissingParameter",
        "The request must contain the parameter SourceDBInstanceIdentifier",
      );
    if (!/^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}$/.test(id) || id.endsWith("-"))
      return this.rdsError(
        "InvalidParameterValue",
        "The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.",
      );
    if (this.instances.has(id)) return this.rdsError("DBInstanceAlreadyExists", "DB instance already exists");
    const here = FakeRdsEndpoint.signedRegion(request);
    const arn = /^arn:aws:rds:([^:]+):\d+:db:(.+)$/.exec(sourceName);
    const source = arn
      ? [...this.instances.values()].find(
          (i) => i.identifier === arn[2] && (i.awsRegion ?? "us-east-1") === arn[1],
        )
      : [...this.instances.values()].find(
          (i) => i.identifier === sourceName && (i.awsRegion ?? "us-east-1") === here,
        );
    if (!source) return this.rdsError("DBInstanceNotFound", `DBInstance ${sourceName} not found.`, 404);
    if (source.status !== "available")
      return this.rdsError(
        "InvalidDBInstanceState",
        `DB Instance ${source.identifier} is not in available state.`,
      );
    if ((source.backupRetentionPeriod ?? 1) === 0)
      return this.rdsError(
        "InvalidDBInstanceState",
        "Automated backups are not enabled for this database instance. To enable automated backups, use ModifyDBInstance to set the backup retention period to a non-zero value.",
      );
    const crossRegion = (source.awsRegion ?? "us-east-1") !== here;
    if (crossRegion && !request.params.get("DBSubnetGroupName"))
      return this.rdsError(
        "InvalidParameterCombination",
        "A DB subnet group must be specified for a cross-Region read replica of a DB instance in a VPC.",
      );
    const presigned = request.params.get("PreSignedUrl");
    if (crossRegion && presigned) {
      const signedFor = /X-Amz-Credential=[^&]*%2F\d{8}%2F([^%&]+)%2Frds%2F/.exec(presigned)?.[1];
      if (signedFor !== (source.awsRegion ?? "us-east-1"))
        return this.rdsError(
          "InvalidParameterValue",
          `PreSignedUrl must be signed for the source's region ${source.awsRegion ?? "us-east-1"}, not ${signedFor}.`,
        );
    }
    const groups = [...request.params.entries()]
      .filter(([k]) => /^VpcSecurityGroupIds\.(VpcSecurityGroupId|member)\.\d+$/.test(k))
      .map(([, v]) => ({ id: v, status: "active" }));
    const created: FakeDbInstance = {
      identifier: id,
      status: "creating",
      awsRegion: here,
      source: crossRegion ? fakeRdsArn(source) : source.identifier,
      securityGroups: groups,
      backupRetentionPeriod: 0,
      ...(request.params.get("DBInstanceClass")
        ? { dbInstanceClass: request.params.get("DBInstanceClass")! }
        : source.dbInstanceClass
          ? { dbInstanceClass: source.dbInstanceClass }
          : {}),
      ...(request.params.get("DBSubnetGroupName")
        ? { dbSubnetGroup: request.params.get("DBSubnetGroupName")! }
        : {}),
    };
    this.instances.set(id, created);
    const done = () => {
      created.status = "available";
      created.replicationNormal = true;
    };
    if (this.replicaCreateDelayMs > 0) setTimeout(done, this.replicaCreateDelayMs).unref();
    else queueMicrotask(done);
    return { status: 200, xml: wrap(this.instanceXml({ ...created })) };
  }

  private rds(request: RecordedRequest): { status: number; xml: string } {
    const action = request.params.get("Action");
    const id = request.params.get("DBInstanceIdentifier") ?? "";
    const instance = this.instances.get(id);
    const wrap = (inner: string) =>
      `<${action}Response xmlns="${RDS_NS}"><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>req-${this.requests.length}</RequestId></ResponseMetadata></${action}Response>`;
    switch (action) {
      case "DescribeDBInstances":
        if (!instance) return this.rdsError("DBInstanceNotFound", `DBInstance ${id} not found.`, 404);
        return { status: 200, xml: wrap(`<DBInstances>${this.instanceXml(instance)}</DBInstances>`) };
      case "PromoteReadReplica": {
        if (!instance) return this.rdsError("DBInstanceNotFound", `DBInstance ${id} not found.`, 404);
        if (!instance.source || instance.status !== "available")
          return this.rdsError(
            "InvalidDBInstanceState",
            `DB Instance ${id} is not a read replica in state available.`,
          );
        instance.status = "modifying";
        const retention = Number(request.params.get("BackupRetentionPeriod") ?? "1");
        const done = () => {
          void (async () => {
            await this.onPromoted?.(id);
            instance.backupRetentionPeriod = retention;
            instance.status = "available";
            delete instance.source;
            this.promotedAt.set(id, Date.now());
          })();
        };
        if (this.promotionDelayMs > 0) setTimeout(done, this.promotionDelayMs).unref();
        else queueMicrotask(done);
        return { status: 200, xml: wrap(this.instanceXml({ ...instance, status: "modifying" })) };
      }
      case "ModifyDBInstance": {
        if (!instance) return this.rdsError("DBInstanceNotFound", `DBInstance ${id} not found.`, 404);
        if (instance.status !== "available")
          return this.rdsError("InvalidDBInstanceState", `Database instance is not in available state.`);
        const wanted = [...request.params.entries()]
          .filter(([k]) => /^VpcSecurityGroupIds\.(VpcSecurityGroupId|member)\.\d+$/.test(k))
          .map(([, v]) => v);
        if (wanted.length === 0)
          return this.rdsError("InvalidParameterCombination", "No modifications were requested");
        if (request.params.get("ApplyImmediately") !== "true")
          return this.rdsError(
            "InvalidParameterCombination",
            "This endpoint models only ApplyImmediately=true (a fence must not wait for the maintenance window).",
          );
        const old = (instance.securityGroups ?? []).filter((g) => !wanted.includes(g.id));
        instance.securityGroups = [
          ...old.map((g) => ({ id: g.id, status: "removing" })),
          ...wanted.map((id) => ({ id, status: "adding" })),
        ];
        instance.status = "modifying";
        const settle = () => {
          instance.securityGroups = wanted.map((id) => ({ id, status: "active" }));
          instance.status = "available";
        };
        if (this.modifyDelayMs > 0) setTimeout(settle, this.modifyDelayMs).unref();
        else queueMicrotask(settle);
        return { status: 200, xml: wrap(this.instanceXml(instance)) };
      }
      case "RebootDBInstance": {
        if (!instance) return this.rdsError("DBInstanceNotFound", `DBInstance ${id} not found.`, 404);
        if (instance.status !== "available")
          return this.rdsError("InvalidDBInstanceState", `DB instance ${id} is not in available state.`);
        instance.status = "rebooting";
        const done = () => {
          void (async () => {
            await this.onRebooted?.(id);
            instance.reboots = (instance.reboots ?? 0) + 1;
            instance.status = "available";
          })();
        };
        if (this.modifyDelayMs > 0) setTimeout(done, this.modifyDelayMs).unref();
        else queueMicrotask(done);
        return { status: 200, xml: wrap(this.instanceXml(instance)) };
      }
      case "CreateDBInstanceReadReplica":
        return this.createReadReplica(request, wrap);
      default:
        return this.rdsError("InvalidAction", `The action ${action} is not valid for this web service.`);
    }
  }
}
