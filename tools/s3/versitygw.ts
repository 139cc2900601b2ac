// A local S3 endpoint for the documents tests and the local platform: versitygw (Versity's S3
// gateway, built from its Go module) on a temp directory. It checks SigV4, presigned URLs
// included, so a URL signed for another content type, size, checksum or key fails here as on S3.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from "@aws-sdk/client-s3";
import { freePort } from "../postgres/server.ts";

const MODULE = "github.com/versity/versitygw/cmd/versitygw";
export const VERSITYGW_VERSION = "v1.8.0";

const cacheDir = join(resolve(import.meta.dirname, "..", ".."), ".cache", "versitygw");
const binaryPath = join(cacheDir, "bin", "versitygw");
const stampPath = `${binaryPath}.version`;

function goBinary(): string {
  if (process.env.GO) return process.env.GO;
  const onPath = spawnSync("go", ["version"], { encoding: "utf8" });
  if (!onPath.error && onPath.status === 0) return "go";
  return existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go";
}

/** Builds versitygw into .cache/versitygw/bin once per version (about a minute on two cores). */
export function ensureVersitygw(log: (line: string) => void = () => undefined): string {
  if (
    existsSync(binaryPath) &&
    existsSync(stampPath) &&
    readFileSync(stampPath, "utf8") === VERSITYGW_VERSION
  ) {
    return binaryPath;
  }
  log(`building versitygw ${VERSITYGW_VERSION} from the Go module proxy`);
  mkdirSync(join(cacheDir, "bin"), { recursive: true });
  const built = spawnSync(goBinary(), ["install", `${MODULE}@${VERSITYGW_VERSION}`], {
    env: { ...process.env, GOBIN: join(cacheDir, "bin"), GOFLAGS: "-mod=mod" },
    encoding: "utf8",
  });
  if (built.error || built.status !== 0) {
    throw new Error(
      `Building versitygw failed (go install ${MODULE}@${VERSITYGW_VERSION}): ${built.error?.message ?? built.stderr}. ` +
        "It needs Go 1.26 and the Go module proxy.",
    );
  }
  writeFileSync(stampPath, VERSITYGW_VERSION);
  return binaryPath;
}

export interface S3Server {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A client for this server with its root credentials (path-style, as a local endpoint needs). */
  client(): S3Client;
  /** Creates versioned buckets, as the stacks declare them. */
  createBuckets(...names: string[]): Promise<void>;
  /** Stops answering (the bucket's region "down"); `start` brings it back on the same port and data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops and removes the data. */
  destroy(): Promise<void>;
}

export async function startS3Server(
  options: { region?: string; accessKeyId?: string; secretAccessKey?: string } = {},
): Promise<S3Server> {
  const binary = ensureVersitygw();
  const root = mkdtempSync(join(tmpdir(), "versitygw-"));
  mkdirSync(join(root, "data"));
  mkdirSync(join(root, "versions"));
  const port = await freePort();
  const region = options.region ?? "us-east-1";
  const accessKeyId = options.accessKeyId ?? `AKLOCAL${randomBytes(6).toString("hex").toUpperCase()}`;
  const secretAccessKey = options.secretAccessKey ?? randomBytes(20).toString("base64url");
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    child = spawn(
      binary,
      [
        "--port",
        `127.0.0.1:${port}`,
        "--region",
        region,
        "--quiet",
        "posix",
        "--versioning-dir",
        join(root, "versions"),
        join(root, "data"),
      ],
      {
        env: { ...process.env, ROOT_ACCESS_KEY_ID: accessKeyId, ROOT_SECRET_ACCESS_KEY: secretAccessKey },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`versitygw exited at start: ${stderr}`);
      try {
        await fetch(endpoint, { method: "HEAD" });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    throw new Error(`versitygw did not listen on ${endpoint} within 5 s: ${stderr}`);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child?.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  await start();

  const client = () =>
    new S3Client({
      endpoint,
      region,
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
    });
  return {
    endpoint,
    region,
    accessKeyId,
    secretAccessKey,
    client,
    async createBuckets(...names) {
      const s3 = client();
      for (const name of names) {
        await s3.send(new CreateBucketCommand({ Bucket: name }));
        await s3.send(
          new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: "Enabled" } }),
        );
      }
      s3.destroy();
    },
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
