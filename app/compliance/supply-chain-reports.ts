// Where CI's SBOM and OSV report live once published (npm run supply-chain:publish), so the evidence
// job in the cluster reads the same reports CI produced. The layout under the prefix:
//   <prefix>/<release>/sbom.json, <prefix>/<release>/osv.json   one folder per release (or git sha)
//   <prefix>/latest.json                                           { release, publishedAt }
// The pointer is written last, so a reader never follows it to a half-published release.
import { GetObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";

export const SUPPLY_CHAIN_FILES = ["sbom.json", "osv.json"] as const;
export const LATEST_POINTER = "latest.json";
export const PUBLISH_COMMAND = "npm run supply-chain:publish";
/** The prefix of the documents bucket the stacks point the evidence job at (stacks/program.ts). */
export const SUPPLY_CHAIN_PREFIX = "supply-chain";
/** A week between scans plus a day's slack for a late CI run: an older report no longer says "now". */
export const SUPPLY_CHAIN_MAX_AGE_DAYS = 8;

export interface S3Location {
  bucket: string;
  /** Without leading or trailing slash; "" for the bucket's root. */
  prefix: string;
}

export interface LatestPointer {
  release: string;
  publishedAt: string;
}

/** S3 bucket names (3-63 lower-case letters, digits, dots, hyphens); a prefix of key-safe characters. */
const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/([A-Za-z0-9!_.*'()/-]*))?$/;

/** Parses s3://bucket/prefix; the error says what a good one looks like. */
export function parseS3Uri(uri: string): S3Location {
  const match = S3_URI.exec(uri);
  if (!match)
    throw new Error(
      `must be s3://<bucket>/<prefix> (a bucket name of lower-case letters, digits, dots and hyphens), e.g. s3://freight-documents-example/supply-chain; got "${uri}"`,
    );
  const prefix = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (prefix.split("/").some((part) => part === "." || part === ".."))
    throw new Error(`must not contain "." or ".." path segments; got "${uri}"`);
  return { bucket: match[1]!, prefix };
}

export function objectKey(location: S3Location, ...parts: string[]): string {
  return [location.prefix, ...parts].filter(Boolean).join("/");
}

export function s3Uri(location: S3Location, key: string): string {
  return `s3://${location.bucket}/${key}`;
}

/** Release names become one path segment: a tag (v1.2.3) or a git sha. */
export function checkRelease(release: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(release))
    throw new Error(
      `release "${release}" must be one path segment of letters, digits, ".", "_" or "-" (a tag such as v1.4.0 or a git sha)`,
    );
  return release;
}

export function s3Client(options: { region?: string; endpoint?: string }): S3Client {
  return new S3Client({
    region: options.region ?? "us-east-1",
    // Local S3 servers (moto, versitygw) answer on one host: path-style addressing.
    ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
  });
}

export class MissingReport extends Error {}

/**
 * Reads one JSON object. A missing one is MissingReport naming it and the publish command; with
 * GetObject granted on the prefix only (no ListBucket, as the stacks grant it) S3 answers 403 for a
 * missing key, so that reads as missing too.
 */
export async function readJsonObject<T>(client: S3Client, location: S3Location, key: string): Promise<T> {
  let body: string;
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: location.bucket, Key: key }));
    body = await answer.Body!.transformToString("utf8");
  } catch (error) {
    const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
    if (status === 404 || status === 403)
      throw new MissingReport(
        `${s3Uri(location, key)} is missing${status === 403 ? " or not readable by this role" : ""} (publish it with ${PUBLISH_COMMAND})`,
      );
    throw error;
  }
  try {
    return JSON.parse(body) as T;
  } catch {
    throw new MissingReport(`${s3Uri(location, key)} is not JSON (publish it again with ${PUBLISH_COMMAND})`);
  }
}
