// The documents buckets of both regions, seen from the API: presigned upload and download URLs,
// the checks behind an upload's confirmation, and which bucket serves a read right now.
// Signing is local crypto (no request to S3); the only calls to S3 are the confirmation's HEAD, the
// delete, and a small HEAD per bucket every few seconds that tells whether the bucket answers.
import { createHash } from "node:crypto";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { AppConfig } from "../config.ts";
import type { RegionRole } from "../region.ts";

/** One region's documents bucket; `endpoint` only where S3 is not at its regional AWS endpoint. */
export interface BucketLocation {
  bucket: string;
  region: string;
  endpoint?: string;
}

export interface StoredObject {
  sizeBytes: number;
  contentType: string | undefined;
  /** Base64 SHA-256 as S3 recorded it at upload, when it did. */
  sha256: string | undefined;
  versionId: string | undefined;
}

export interface SignedUrl {
  url: string;
  expiresAt: Date;
}

/** The headers a presigned upload was signed with: the uploader sends exactly these. */
export interface SignedUpload extends SignedUrl {
  method: "PUT";
  headers: Record<string, string>;
}

export class DocumentsUnavailable extends Error {}

interface Bucket {
  location: BucketLocation;
  client: S3Client;
  /** False from a failed call or probe until a probe succeeds again. */
  answering: boolean;
}

export interface DocumentStoreOptions {
  uploadTtlSeconds: number;
  downloadTtlSeconds: number;
  /** How often each bucket is probed (HeadBucket); 0 turns probing off. */
  probeIntervalMs: number;
  /** A call to S3 that takes longer counts as the bucket not answering. */
  timeoutMs: number;
}

function isServerSide(error: unknown): boolean {
  // 4xx answers (missing object, refused precondition) are the bucket answering; anything else
  // (5xx, a timeout, a refused connection) is the bucket not answering.
  if (error instanceof S3ServiceException) return (error.$metadata.httpStatusCode ?? 500) >= 500;
  return true;
}

export class DocumentStore {
  readonly #buckets: Record<RegionRole, Bucket>;
  readonly #options: DocumentStoreOptions;
  #probe: NodeJS.Timeout | undefined;

  constructor(locations: Record<RegionRole, BucketLocation>, options: DocumentStoreOptions) {
    this.#options = options;
    const bucket = (location: BucketLocation): Bucket => ({
      location,
      answering: true,
      client: new S3Client({
        region: location.region,
        ...(location.endpoint ? { endpoint: location.endpoint, forcePathStyle: true } : {}),
        // Checksums are the uploader's (declared and signed), not ones the SDK would add.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 2,
      }),
    });
    this.#buckets = { primary: bucket(locations.primary), secondary: bucket(locations.secondary) };
  }

  start(): void {
    if (this.#options.probeIntervalMs <= 0 || this.#probe) return;
    const probe = () => {
      for (const bucket of Object.values(this.#buckets)) {
        bucket.client
          .send(new HeadBucketCommand({ Bucket: bucket.location.bucket }), {
            abortSignal: AbortSignal.timeout(this.#options.timeoutMs),
          })
          .then(
            () => (bucket.answering = true),
            (error: unknown) => (bucket.answering = !isServerSide(error)),
          );
      }
    };
    this.#probe = setInterval(probe, this.#options.probeIntervalMs);
    this.#probe.unref();
  }

  stop(): void {
    clearInterval(this.#probe);
    this.#probe = undefined;
    for (const bucket of Object.values(this.#buckets)) bucket.client.destroy();
  }

  answering(role: RegionRole): boolean {
    return this.#buckets[role].answering;
  }

  bucketName(role: RegionRole): string {
    return this.#buckets[role].location.bucket;
  }

  async #call<T>(role: RegionRole, send: (client: S3Client, signal: AbortSignal) => Promise<T>): Promise<T> {
    const bucket = this.#buckets[role];
    try {
      const result = await send(bucket.client, AbortSignal.timeout(this.#options.timeoutMs));
      bucket.answering = true;
      return result;
    } catch (error) {
      if (isServerSide(error)) bucket.answering = false;
      throw error;
    }
  }

  /**
   * A PUT URL for exactly this object: the content type, length and SHA-256 are signed (a different
   * body or type fails the signature or the checksum at S3), and `If-None-Match: *` makes the URL
   * good for one upload only.
   */
  async uploadUrl(
    role: RegionRole,
    object: { key: string; contentType: string; sizeBytes: number; sha256: string },
  ): Promise<SignedUpload> {
    const { client, location } = this.#buckets[role];
    const command = new PutObjectCommand({
      Bucket: location.bucket,
      Key: object.key,
      ContentType: object.contentType,
      ContentLength: object.sizeBytes,
      ChecksumSHA256: object.sha256,
      IfNoneMatch: "*",
    });
    const expiresIn = this.#options.uploadTtlSeconds;
    const url = await getSignedUrl(client, command, {
      expiresIn,
      signableHeaders: new Set(["content-type", "content-length", "if-none-match"]),
      unhoistableHeaders: new Set(["x-amz-checksum-sha256"]),
    });
    return {
      method: "PUT",
      url,
      headers: {
        "content-type": object.contentType,
        "content-length": String(object.sizeBytes),
        "x-amz-checksum-sha256": object.sha256,
        "if-none-match": "*",
      },
      expiresAt: new Date(Date.now() + expiresIn * 1000),
    };
  }

  /** What the bucket holds under `key` (the current version, or `versionId`), or null. */
  async inspect(role: RegionRole, key: string, versionId?: string): Promise<StoredObject | null> {
    const { location } = this.#buckets[role];
    try {
      const head = await this.#call(role, (client, abortSignal) =>
        client.send(
          new HeadObjectCommand({
            Bucket: location.bucket,
            Key: key,
            VersionId: versionId,
            ChecksumMode: "ENABLED",
          }),
          { abortSignal },
        ),
      );
      return {
        sizeBytes: head.ContentLength ?? 0,
        contentType: head.ContentType,
        sha256: head.ChecksumSHA256,
        versionId: head.VersionId,
      };
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return null;
      throw error;
    }
  }

  /** The SHA-256 of the stored bytes, read back (for objects whose checksum S3 did not keep). */
  async digest(role: RegionRole, key: string, versionId: string | undefined): Promise<string> {
    const { location } = this.#buckets[role];
    const object = await this.#call(role, (client, abortSignal) =>
      client.send(new GetObjectCommand({ Bucket: location.bucket, Key: key, VersionId: versionId }), {
        abortSignal,
      }),
    );
    const hash = createHash("sha256");
    for await (const chunk of object.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
    return hash.digest("base64");
  }

  /** One version's bytes (a data subject's export bundle carries them). */
  async read(role: RegionRole, key: string, versionId: string | undefined): Promise<Buffer> {
    const { location } = this.#buckets[role];
    const object = await this.#call(role, (client, abortSignal) =>
      client.send(new GetObjectCommand({ Bucket: location.bucket, Key: key, VersionId: versionId }), {
        abortSignal,
      }),
    );
    const chunks: Uint8Array[] = [];
    for await (const chunk of object.Body as AsyncIterable<Uint8Array>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /** A short-lived GET URL for one version, downloaded under `fileName`. */
  async downloadUrl(
    role: RegionRole,
    object: { key: string; versionId: string | undefined; fileName: string; contentType: string },
  ): Promise<SignedUrl> {
    const { client, location } = this.#buckets[role];
    const expiresIn = this.#options.downloadTtlSeconds;
    const url = await getSignedUrl(
      client,
      new GetObjectCommand({
        Bucket: location.bucket,
        Key: object.key,
        VersionId: object.versionId,
        ResponseContentType: object.contentType,
        ResponseContentDisposition: `attachment; filename*=UTF-8''${encodeURIComponent(object.fileName)}`,
      }),
      { expiresIn },
    );
    return { url, expiresAt: new Date(Date.now() + expiresIn * 1000) };
  }

  /** Hides the current version behind a delete marker; lifecycle expires it later. */
  async remove(role: RegionRole, key: string): Promise<void> {
    const { location } = this.#buckets[role];
    await this.#call(role, (client, abortSignal) =>
      client.send(new DeleteObjectCommand({ Bucket: location.bucket, Key: key }), { abortSignal }),
    );
  }

  /** Removes one version for good (an upload that failed its confirmation). */
  async discard(role: RegionRole, key: string, versionId: string | undefined): Promise<void> {
    const { location } = this.#buckets[role];
    await this.#call(role, (client, abortSignal) =>
      client.send(new DeleteObjectCommand({ Bucket: location.bucket, Key: key, VersionId: versionId }), {
        abortSignal,
      }),
    );
  }
}

function locationOf(bucketAt: string, endpoint: string | undefined): BucketLocation {
  const [bucket, region] = bucketAt.split("@") as [string, string];
  return { bucket, region, ...(endpoint ? { endpoint } : {}) };
}

/** The documents settings the quote API and the runner share. */
export type DocumentsConfig = Pick<
  AppConfig,
  | "DOCUMENTS_BUCKET_PRIMARY"
  | "DOCUMENTS_BUCKET_SECONDARY"
  | "DOCUMENTS_S3_ENDPOINT_PRIMARY"
  | "DOCUMENTS_S3_ENDPOINT_SECONDARY"
> &
  Partial<
    Pick<AppConfig, "DOCUMENTS_UPLOAD_TTL_SECONDS" | "DOCUMENTS_DOWNLOAD_TTL_SECONDS" | "DOCUMENTS_PROBE_MS">
  >;

/** The store the config describes, or undefined when no documents buckets are configured. */
export function documentStoreFrom(config: DocumentsConfig): DocumentStore | undefined {
  if (!config.DOCUMENTS_BUCKET_PRIMARY || !config.DOCUMENTS_BUCKET_SECONDARY) return undefined;
  return new DocumentStore(
    {
      primary: locationOf(config.DOCUMENTS_BUCKET_PRIMARY, config.DOCUMENTS_S3_ENDPOINT_PRIMARY),
      secondary: locationOf(config.DOCUMENTS_BUCKET_SECONDARY, config.DOCUMENTS_S3_ENDPOINT_SECONDARY),
    },
    {
      // The runner signs no URLs and needs no probe: it reads and removes, falling back per call.
      uploadTtlSeconds: config.DOCUMENTS_UPLOAD_TTL_SECONDS ?? 0,
      downloadTtlSeconds: config.DOCUMENTS_DOWNLOAD_TTL_SECONDS ?? 0,
      probeIntervalMs: config.DOCUMENTS_PROBE_MS ?? 0,
      timeoutMs: 2_000,
    },
  );
}
