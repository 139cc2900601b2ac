// `npm run supply-chain:publish`: CI's last step after `npm run sbom` and `npm run deps:check`. It
// uploads .cache/supply-chain/sbom.json and osv.json to the bucket the evidence job reads
// (EVIDENCE_SUPPLY_CHAIN_S3_URI in the stacks: the region's documents bucket, prefix supply-chain),
// under a folder named by the release, then points latest.json at it (last, so the evidence job
// never follows the pointer to a half-published release).
//   npm run supply-chain:publish -- --to s3://<bucket>/supply-chain [--release v1.4.0] [--from DIR]
// --to defaults to SUPPLY_CHAIN_S3_URI; --release to RELEASE, else the commit (git rev-parse HEAD).
// AWS_REGION and the usual AWS credentials; AWS_ENDPOINT_URL_S3 for a local S3.
// Exit 0 published; 1 the reports are missing or not what the evidence reads; 2 bad arguments.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import {
  checkRelease,
  LATEST_POINTER,
  objectKey,
  parseS3Uri,
  s3Client,
  s3Uri,
  SUPPLY_CHAIN_FILES,
  type LatestPointer,
  type S3Location,
} from "../../app/compliance/supply-chain-reports.ts";
import { OUT_DIR } from "./dependencies.ts";
import { REPO_ROOT } from "./secret-scan.ts";

export class PublishError extends Error {}

/** Reads and checks both reports before anything is uploaded: a bad one publishes nothing. */
export function readReports(dir: string): Record<(typeof SUPPLY_CHAIN_FILES)[number], string> {
  const read = (file: string, make: string, check: (json: Record<string, unknown>) => boolean) => {
    let text: string;
    try {
      text = readFileSync(join(dir, file), "utf8");
    } catch {
      throw new PublishError(`${join(dir, file)} does not exist: run ${make} first`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new PublishError(`${join(dir, file)} is not JSON: run ${make} again`);
    }
    if (typeof json !== "object" || json === null || !check(json as Record<string, unknown>))
      throw new PublishError(`${join(dir, file)} is not what ${make} writes: run it again`);
    return text;
  };
  return {
    "sbom.json": read("sbom.json", "npm run sbom", (j) => j["bomFormat"] === "CycloneDX"),
    "osv.json": read("osv.json", "npm run deps:check", (j) => Array.isArray(j["results"] ?? [])),
  };
}

export async function publishSupplyChain(options: {
  client: S3Client;
  location: S3Location;
  release: string;
  dir?: string;
  /** When CI published; the evidence judges the reports' age by it. */
  now?: Date;
}): Promise<{ release: string; uris: string[] }> {
  const { client, location } = options;
  const release = checkRelease(options.release);
  const reports = readReports(options.dir ?? OUT_DIR);
  const put = async (key: string, body: string) => {
    await client.send(
      new PutObjectCommand({
        Bucket: location.bucket,
        Key: key,
        Body: body,
        ContentType: "application/json",
      }),
    );
    return s3Uri(location, key);
  };
  const uris = await Promise.all(
    SUPPLY_CHAIN_FILES.map((file) => put(objectKey(location, release, file), reports[file])),
  );
  const pointer: LatestPointer = { release, publishedAt: (options.now ?? new Date()).toISOString() };
  uris.push(await put(objectKey(location, LATEST_POINTER), JSON.stringify(pointer)));
  return { release, uris };
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv) {
  const flags: Record<string, string | undefined> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i]!, argv[i + 1]];
    if (!["--to", "--release", "--from"].includes(name) || value === undefined || value.startsWith("--"))
      throw new PublishError(
        `unexpected argument ${name}${value === undefined ? " (no value)" : ""}. Usage: npm run supply-chain:publish -- --to s3://<bucket>/<prefix> [--release NAME] [--from DIR]`,
      );
    flags[name] = value;
  }
  const to = flags["--to"] ?? env["SUPPLY_CHAIN_S3_URI"];
  if (!to)
    throw new PublishError(
      "no destination: pass --to s3://<bucket>/<prefix> or set SUPPLY_CHAIN_S3_URI (the evidence job's EVIDENCE_SUPPLY_CHAIN_S3_URI)",
    );
  let location: S3Location;
  try {
    location = parseS3Uri(to);
  } catch (error) {
    throw new PublishError(`--to ${(error as Error).message}`);
  }
  let release = flags["--release"] ?? env["RELEASE"];
  if (!release) {
    const git = spawnSync("git", ["rev-parse", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" });
    if (git.status !== 0) throw new PublishError("no --release and no git commit to name the release by");
    release = git.stdout.trim();
  }
  return { location, release, dir: flags["--from"] };
}

async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv, process.env);
    checkRelease(args.release);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const client = s3Client({
    region: process.env["AWS_REGION"],
    endpoint: process.env["AWS_ENDPOINT_URL_S3"],
  });
  try {
    const { release, uris } = await publishSupplyChain({ client, ...args });
    console.log(`Published release ${release}:\n${uris.map((u) => `  ${u}`).join("\n")}`);
    return 0;
  } catch (error) {
    console.error(
      error instanceof PublishError ? error.message : `could not publish: ${(error as Error).message}`,
    );
    return 1;
  } finally {
    client.destroy();
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
