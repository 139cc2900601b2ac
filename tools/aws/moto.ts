// Moto, the widely used AWS emulator (PyPI), in server mode on a free port: the real AWS SDK talks to
// it for Route 53 and Secrets Manager in the tests and on the local platform, so the wire protocol is
// witnessed by code we did not write. IAM authentication is on from the first request a caller
// makes: every request must be SigV4-signed with an access key moto issued, and a wrong secret or an
// IAM policy that denies the action fails the request, as in AWS.
// What moto does not model faithfully keeps its own endpoint (README, "AWS in the tests"): RDS
// promotion (tools/fakes/rds-endpoint.ts) and presigned S3 URLs (tools/s3/versitygw.ts).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { freePort } from "../postgres/server.ts";

/** The version the tests were written against (.ci/run installs it). */
export const MOTO_VERSION = "5.2.5";
export const MOTO_INSTALL = `pip install 'moto[server]==${MOTO_VERSION}'`;

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface PolicyStatement {
  Effect: "Allow" | "Deny";
  Action: string | string[];
  Resource: string | string[];
}

/** A request moto received, as its recorder wrote it down. */
export interface MotoRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
  /** The service of the SigV4 credential scope (route53, secretsmanager, iam), if signed. */
  service: string | undefined;
  /** The JSON protocol's operation (X-Amz-Target without its prefix), e.g. DescribeSecret. */
  operation: string | undefined;
}

export interface MotoServer {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  /** The IAM user `local` (every action allowed): the pod's IRSA role on the local platform. */
  user: string;
  credentials: AwsCredentials;
  /** One more IAM user with an inline policy of these statements; returns its access key. */
  createUser(name: string, statements: PolicyStatement[]): Promise<AwsCredentials>;
  /** Replaces a user's inline policy, as an operator editing the role's policy would. */
  putUserPolicy(name: string, statements: PolicyStatement[]): Promise<void>;
  /** Requests received since start or the last `clearRequests` (only with `record: true`). */
  requests(): MotoRequest[];
  clearRequests(): void;
  stop(): Promise<void>;
}

export const ALLOW_ALL: PolicyStatement[] = [{ Effect: "Allow", Action: "*", Resource: "*" }];

/** Where the pinned moto is installed on first use when no interpreter names it (gitignored). */
const VENV = join(resolve(import.meta.dirname, "..", ".."), ".cache", "moto-venv");
const VENV_PYTHON = join(VENV, "bin", "python");

/**
 * The interpreter that runs moto: MOTO_PYTHON when set; else the project's own virtualenv once it
 * exists; else python3 when it already has the pinned moto (a machine set up by hand).
 */
function python(): string {
  const explicit = process.env["MOTO_PYTHON"];
  if (explicit) return explicit;
  if (existsSync(VENV_PYTHON)) return VENV_PYTHON;
  // Importing moto takes a second or more: ask python3 once per process.
  systemHasMoto ??= installedVersion("python3").version === MOTO_VERSION;
  return systemHasMoto ? "python3" : VENV_PYTHON;
}
let systemHasMoto: boolean | undefined;

function installedVersion(interpreter: string): { version?: string; error?: string } {
  const probe = spawnSync(interpreter, ["-c", "import moto, moto.server; print(moto.__version__)"], {
    encoding: "utf8",
  });
  if (probe.error || probe.status !== 0) return { error: probe.error?.message ?? probe.stderr.trim() };
  return { version: probe.stdout.trim() };
}

/**
 * Makes sure the pinned moto (with its server extra) is importable, installing it into
 * .cache/moto-venv on first use, or when it holds another version (about a minute; PyPI must be
 * reachable), unless MOTO_PYTHON names an interpreter, which is then only checked. Throws naming the fix when that cannot be done.
 */
export function ensureMoto(): void {
  const explicit = process.env["MOTO_PYTHON"];
  let { version } = installedVersion(python());
  if (version !== MOTO_VERSION && !explicit) {
    process.stderr.write(`Installing moto[server]==${MOTO_VERSION} into ${VENV} (first use)\n`);
    // A virtualenv of its own: Debian's python3 refuses system-wide pip installs (PEP 668).
    const steps: [string, string[]][] = [
      ["python3", ["-m", "venv", VENV]],
      [VENV_PYTHON, ["-m", "pip", "install", "-q", `moto[server]==${MOTO_VERSION}`]],
    ];
    for (const [command, args] of steps) {
      const run = spawnSync(command, args, { encoding: "utf8", stdio: ["ignore", "inherit", "pipe"] });
      if (run.error || run.status !== 0)
        throw new Error(
          `could not install moto (the AWS emulator the tests and the local platform use for Route 53 and ` +
            `Secrets Manager): \`${command} ${args.join(" ")}\` failed: ${run.error?.message ?? run.stderr.trim()}. ` +
            `Install python3-venv (Debian) or run ${MOTO_INSTALL} and set MOTO_PYTHON to that interpreter.`,
        );
    }
    ({ version } = installedVersion(python()));
  }
  if (version === undefined)
    throw new Error(
      `moto (the AWS emulator the tests and the local platform use for Route 53 and Secrets Manager) is not ` +
        `installed for ${python()}: run ${MOTO_INSTALL} for it, or unset MOTO_PYTHON to let the project install its own.`,
    );
  if (version !== MOTO_VERSION)
    throw new Error(
      `moto ${version} is installed for ${python()}, the tests pin ${MOTO_VERSION}: run ${MOTO_INSTALL} for it, ` +
        `or unset MOTO_PYTHON to let the project install its own.`,
    );
}

const IAM_VERSION = "2010-05-08";
const first = (xml: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];

export async function startMoto(options: { record?: boolean } = {}): Promise<MotoServer> {
  ensureMoto();
  const root = mkdtempSync(join(tmpdir(), "moto-"));
  const recording = join(root, "recording.jsonl");
  writeFileSync(recording, "");
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(python(), ["-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)], {
    cwd: root,
    env: {
      ...process.env,
      PYTHONUNBUFFERED: "1",
      MOTO_RECORDER_FILEPATH: recording,
      ...(options.record ? { MOTO_ENABLE_RECORDING: "true" } : {}),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  };

  try {
    // Importing moto takes seconds, and close to a minute on a loaded machine: wait for it to
    // answer, not a fixed time.
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`moto exited at start: ${stderr}`);
      const up = await fetch(`${endpoint}/moto-api/reset-auth`).then(
        (r) => r.status === 400,
        () => false,
      );
      if (up) break;
      if (Date.now() > deadline)
        throw new Error(`moto did not answer on ${endpoint} within 180 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    // IAM calls: the query protocol (a form POST). Before authentication is on they need no
    // signature; after, the SDK's own SigV4 signer signs them with the `local` user's key.
    const signing: { client?: SecretsManagerClient } = {};
    const iam = async (params: Record<string, string>): Promise<string> => {
      const body = new URLSearchParams({ Version: IAM_VERSION, ...params }).toString();
      const url = new URL(endpoint);
      let headers: Record<string, string> = {
        host: url.host,
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      };
      if (signing.client) {
        const sigv4 = await signing.client.config.signer();
        const signed = await sigv4.sign(
          {
            method: "POST",
            protocol: url.protocol,
            hostname: url.hostname,
            port: Number(url.port),
            path: "/",
            query: {},
            headers,
            body,
          },
          { signingRegion: "us-east-1", signingService: "iam" },
        );
        headers = signed.headers;
      } else {
        // Routes the unsigned call to IAM; moto checks nothing until authentication is switched on.
        headers["authorization"] =
          "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";
      }
      const res = await fetch(`${endpoint}/`, { method: "POST", headers, body });
      const text = await res.text();
      if (!res.ok) throw new Error(`moto IAM ${params["Action"]} failed (${res.status}): ${text}`);
      return text;
    };
    const putUserPolicy = async (name: string, statements: PolicyStatement[]) => {
      await iam({
        Action: "PutUserPolicy",
        UserName: name,
        PolicyName: "inline",
        PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: statements }),
      });
    };
    const createUser = async (name: string, statements: PolicyStatement[]): Promise<AwsCredentials> => {
      await iam({ Action: "CreateUser", UserName: name });
      await putUserPolicy(name, statements);
      const xml = await iam({ Action: "CreateAccessKey", UserName: name });
      const accessKeyId = first(xml, "AccessKeyId");
      const secretAccessKey = first(xml, "SecretAccessKey");
      if (!accessKeyId || !secretAccessKey) throw new Error(`moto issued no access key for ${name}: ${xml}`);
      return { accessKeyId, secretAccessKey };
    };

    const user = "local";
    const credentials = await createUser(user, ALLOW_ALL);
    // From here on every request is authenticated and authorized (moto's INITIAL_NO_AUTH_ACTION_COUNT = 0).
    const reset = await fetch(`${endpoint}/moto-api/reset-auth`, { method: "POST", body: "0" });
    if (!reset.ok) throw new Error(`moto refused to switch authentication on: ${await reset.text()}`);
    signing.client = new SecretsManagerClient({ region: "us-east-1", endpoint, credentials });
    writeFileSync(recording, "");

    return {
      endpoint,
      user,
      credentials,
      createUser,
      putUserPolicy,
      requests: () =>
        readFileSync(recording, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((line) => parseRecorded(line))
          .filter((r) => !r.path.startsWith("/moto-api/")),
      clearRequests: () => writeFileSync(recording, ""),
      async stop() {
        signing.client?.destroy();
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function parseRecorded(line: string): MotoRequest {
  const entry = JSON.parse(line) as {
    method: string;
    url: string;
    headers: Record<string, string>;
    body: string | null;
    body_encoded: boolean;
  };
  const url = new URL(entry.url);
  const headers = Object.fromEntries(Object.entries(entry.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const body = entry.body_encoded
    ? Buffer.from(entry.body ?? "", "base64").toString("utf8")
    : (entry.body ?? "");
  const target = headers["x-amz-target"];
  return {
    method: entry.method,
    path: url.pathname,
    query: url.searchParams,
    headers,
    body,
    service: /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(headers["authorization"] ?? "")?.[1],
    operation: target?.slice(target.indexOf(".") + 1),
  };
}
