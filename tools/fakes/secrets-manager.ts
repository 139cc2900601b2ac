// A local endpoint that answers like AWS Secrets Manager for the calls the platform makes, so the
// real AWS SDK runs end to end (SigV4 signing, the awsJson1_1 wire protocol, error parsing) without
// AWS: POST / with `X-Amz-Target: secretsmanager.<Operation>` and a JSON body, JSON answers with
// timestamps as epoch seconds and errors as `__type` + `message`. It serves secret metadata
// (DescribeSecret) and, for a secret given a value (a tenant's SSO client secret), GetSecretValue. Same approach as the RDS/Route 53 stand-in of the
// failover drivers (operators/controllers/failover/testing/aws-endpoint.ts).
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeSecret {
  name: string;
  /** Defaults to a Secrets Manager ARN in `region` with the random six-character suffix AWS adds. */
  arn?: string;
  createdDate: Date;
  lastChangedDate?: Date;
  /** Absent until the secret's first rotation, as in AWS. */
  lastRotatedDate?: Date;
  rotationDays?: number;
  /** Tags as the stacks set them, e.g. { "secret-class": "service-role" }. */
  tags?: Record<string, string>;
  /** SecretString served by GetSecretValue; a secret without one is metadata only. */
  value?: string;
}

export interface RecordedSecretsRequest {
  operation: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

const JSON_CONTENT = "application/x-amz-json-1.1";
const seconds = (d: Date | undefined) => (d === undefined ? undefined : d.getTime() / 1000);

export class FakeSecretsManager {
  readonly requests: RecordedSecretsRequest[] = [];
  readonly secrets = new Map<string, FakeSecret>();
  /** Secret names whose DescribeSecret is refused as if IAM did not allow it. */
  readonly denied = new Set<string>();
  url = "";
  private server: Server | undefined;

  readonly region: string;

  constructor(region = "us-east-1") {
    this.region = region;
  }

  put(secret: FakeSecret): FakeSecret {
    const arn =
      secret.arn ??
      `arn:aws:secretsmanager:${this.region}:123456789012:secret:${secret.name}-${suffix(secret.name)}`;
    const stored = { ...secret, arn };
    this.secrets.set(secret.name, stored);
    return stored;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const target = String(req.headers["x-amz-target"] ?? "");
        const operation = target.startsWith("secretsmanager.") ? target.slice("secretsmanager.".length) : "";
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
        } catch {
          // A body that is not JSON is answered like any unknown request: with an error, below.
          body = {};
        }
        this.requests.push({ operation, headers: req.headers, body });
        const { status, json } = this.answer(operation, body);
        res.writeHead(status, {
          "content-type": JSON_CONTENT,
          "x-amzn-requestid": `req-${this.requests.length}`,
        });
        res.end(JSON.stringify(json));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private find(id: string): FakeSecret | undefined {
    return this.secrets.get(id) ?? [...this.secrets.values()].find((s) => s.arn === id);
  }

  private answer(operation: string, body: Record<string, unknown>): { status: number; json: object } {
    const error = (type: string, message: string, status = 400) => ({
      status,
      json: { __type: type, message },
    });
    if (operation !== "DescribeSecret" && operation !== "GetSecretValue")
      return error("UnknownOperationException", `The operation ${operation || "(none)"} is not served here.`);
    const id = typeof body["SecretId"] === "string" ? body["SecretId"] : "";
    const secret = this.find(id);
    if (!secret)
      return error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    if (this.denied.has(secret.name))
      return error(
        "AccessDeniedException",
        `User: arn:aws:sts::123456789012:assumed-role/quote-api/pod is not authorized to perform: secretsmanager:${operation} on resource: ${id} because no identity-based policy allows the secretsmanager:${operation} action`,
      );
    if (operation === "GetSecretValue") {
      if (secret.value === undefined)
        return error(
          "ResourceNotFoundException",
          "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
        );
      return {
        status: 200,
        json: {
          ARN: secret.arn,
          Name: secret.name,
          SecretString: secret.value,
          VersionStages: ["AWSCURRENT"],
        },
      };
    }
    return {
      status: 200,
      json: {
        ARN: secret.arn,
        Name: secret.name,
        CreatedDate: seconds(secret.createdDate),
        LastChangedDate: seconds(secret.lastChangedDate ?? secret.createdDate),
        LastRotatedDate: seconds(secret.lastRotatedDate),
        RotationEnabled: secret.rotationDays !== undefined,
        RotationRules:
          secret.rotationDays === undefined ? undefined : { AutomaticallyAfterDays: secret.rotationDays },
        Tags: secret.tags && Object.entries(secret.tags).map(([Key, Value]) => ({ Key, Value })),
      },
    };
  }
}

/** AWS appends six random characters to a secret's ARN; here they derive from the name. */
function suffix(name: string): string {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h.toString(36).padStart(6, "0").slice(-6);
}
