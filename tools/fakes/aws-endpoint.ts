// A local HTTP endpoint that answers like the two AWS APIs the failover drivers call, so the real
// AWS SDK is exercised end to end (signing, serialization, XML parsing, errors) without AWS:
// RDS speaks the query protocol (form-encoded Action=..., XML answers), Route 53 speaks REST-XML.
// It keeps just enough state to behave like the service and records every request for assertions.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  service: "rds" | "route53";
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** Form fields (RDS) or the raw XML (Route 53). */
  params: URLSearchParams;
  body: string;
}

export interface FakeDbInstance {
  identifier: string;
  status: string;
  /** Set while the instance is a read replica. */
  source?: string;
  replicationNormal?: boolean;
}

export interface FakeRecord {
  name: string;
  type: string;
  setIdentifier?: string;
  weight?: number;
  ttl?: number;
  healthCheckId?: string;
  values: string[];
}

const RDS_NS = "http://rds.amazonaws.com/doc/2014-10-31/";
const R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/";

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const tag = (name: string, value: string | number | undefined) =>
  value === undefined ? "" : `<${name}>${typeof value === "number" ? value : escape(value)}</${name}>`;
const first = (xml: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];

export class FakeAwsEndpoint {
  readonly requests: RecordedRequest[] = [];
  readonly instances = new Map<string, FakeDbInstance>();
  readonly records: FakeRecord[] = [];
  /** How long a promotion stays "modifying" before the instance is a standalone primary. */
  promotionDelayMs = 0;
  /**
   * Runs when a promotion finishes, before the instance reports itself available: lets a test put a
   * real database behind the instance (pg_promote on the local replica).
   */
  onPromoted: ((identifier: string) => Promise<void>) | undefined;
  /** When each instance finished promoting (ms since the epoch). */
  readonly promotedAt = new Map<string, number>();
  url = "";
  private server: Server | undefined;
  private changeCounter = 0;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const url = new URL(req.url ?? "/", "http://localhost");
        const route53 = url.pathname.startsWith("/2013-04-01/");
        const recorded: RecordedRequest = {
          service: route53 ? "route53" : "rds",
          method: req.method ?? "GET",
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          params: route53 ? new URLSearchParams() : new URLSearchParams(body),
          body,
        };
        this.requests.push(recorded);
        const { status, xml } = route53 ? this.route53(recorded) : this.rds(recorded);
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
    return `<DBInstance>${tag("DBInstanceIdentifier", i.identifier)}${tag("DBInstanceStatus", i.status)}${tag("Engine", "postgres")}${tag("ReadReplicaSourceDBInstanceIdentifier", i.source)}${replication}</DBInstance>`;
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
        const done = () => {
          void (async () => {
            await this.onPromoted?.(id);
            instance.status = "available";
            delete instance.source;
            this.promotedAt.set(id, Date.now());
          })();
        };
        if (this.promotionDelayMs > 0) setTimeout(done, this.promotionDelayMs).unref();
        else queueMicrotask(done);
        return { status: 200, xml: wrap(this.instanceXml({ ...instance, status: "modifying" })) };
      }
      default:
        return this.rdsError("InvalidAction", `The action ${action} is not valid for this web service.`);
    }
  }

  private route53(request: RecordedRequest): { status: number; xml: string } {
    if (request.method === "POST" && /\/hostedzone\/[^/]+\/rrset\/?$/.test(request.path)) {
      const changes = [...request.body.matchAll(/<Change>([\s\S]*?)<\/Change>/g)].map((m) => m[1]!);
      for (const change of changes) {
        const action = first(change, "Action");
        const record: FakeRecord = {
          name: first(change, "Name") ?? "",
          type: first(change, "Type") ?? "",
          setIdentifier: first(change, "SetIdentifier"),
          weight: first(change, "Weight") === undefined ? undefined : Number(first(change, "Weight")),
          ttl: first(change, "TTL") === undefined ? undefined : Number(first(change, "TTL")),
          healthCheckId: first(change, "HealthCheckId"),
          values: [...change.matchAll(/<Value>([^<]*)<\/Value>/g)].map((m) => m[1]!),
        };
        const index = this.records.findIndex(
          (r) => r.name === record.name && r.type === record.type && r.setIdentifier === record.setIdentifier,
        );
        if (action === "UPSERT" || action === "CREATE") {
          if (index >= 0) this.records[index] = record;
          else this.records.push(record);
        } else if (action === "DELETE" && index >= 0) this.records.splice(index, 1);
      }
      const id = `C${++this.changeCounter}`;
      return {
        status: 200,
        xml: `<ChangeResourceRecordSetsResponse xmlns="${R53_NS}"><ChangeInfo><Id>/change/${id}</Id><Status>PENDING</Status><SubmittedAt>${new Date().toISOString()}</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>`,
      };
    }
    if (request.method === "GET" && /\/hostedzone\/[^/]+\/rrset\/?$/.test(request.path)) {
      const sets = this.records
        .map(
          (r) =>
            `<ResourceRecordSet>${tag("Name", r.name)}${tag("Type", r.type)}${tag("SetIdentifier", r.setIdentifier)}${tag("Weight", r.weight)}${tag("TTL", r.ttl)}<ResourceRecords>${r.values.map((v) => `<ResourceRecord>${tag("Value", v)}</ResourceRecord>`).join("")}</ResourceRecords>${tag("HealthCheckId", r.healthCheckId)}</ResourceRecordSet>`,
        )
        .join("");
      return {
        status: 200,
        xml: `<ListResourceRecordSetsResponse xmlns="${R53_NS}"><ResourceRecordSets>${sets}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>${request.query.get("maxitems") ?? "100"}</MaxItems></ListResourceRecordSetsResponse>`,
      };
    }
    return {
      status: 404,
      xml: `<ErrorResponse xmlns="${R53_NS}"><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>No route for ${escape(request.path)}</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
    };
  }
}
