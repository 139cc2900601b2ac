import { createHash, randomBytes, randomUUID } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { startS3Server, type S3Server } from "../../tools/s3/versitygw.ts";

// Two S3 gateways stand for the two regions' buckets; they check SigV4 the way S3 does.
let primary: S3Server;
let secondary: S3Server;
let t: TestApp;
let acme: ReturnType<typeof apiClient>;
let globex: ReturnType<typeof apiClient>;
const PRIMARY_BUCKET = "freight-test-documents-us-east-1";
const SECONDARY_BUCKET = "freight-test-documents-us-west-2";

beforeAll(async () => {
  const credentials = { accessKeyId: "AKDOCUMENTSTEST", secretAccessKey: randomBytes(20).toString("hex") };
  [primary, secondary] = await Promise.all([
    startS3Server({ region: "us-east-1", ...credentials }),
    startS3Server({ region: "us-west-2", ...credentials }),
  ]);
  await primary.createBuckets(PRIMARY_BUCKET);
  await secondary.createBuckets(SECONDARY_BUCKET);
  // The SDK's default chain reads these, as it reads the pod's IRSA role in a cluster.
  process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
  t = await startTestApp({
    env: {
      DOCUMENTS_BUCKET_PRIMARY: `${PRIMARY_BUCKET}@us-east-1`,
      DOCUMENTS_BUCKET_SECONDARY: `${SECONDARY_BUCKET}@us-west-2`,
      DOCUMENTS_S3_ENDPOINT_PRIMARY: primary.endpoint,
      DOCUMENTS_S3_ENDPOINT_SECONDARY: secondary.endpoint,
      DOCUMENTS_MAX_BYTES: String(12 * 2 ** 20),
      DOCUMENTS_PROBE_MS: "200",
    },
  });
  acme = apiClient(t.url, t.apiKeys["acme-logistics"]);
  globex = apiClient(t.url, t.apiKeys["globex-freight"]);
});
afterAll(async () => {
  await t?.stop();
  await primary?.destroy();
  await secondary?.destroy();
});

async function booking(client: ReturnType<typeof apiClient>): Promise<string> {
  const quote = await client.post<{ id: string }>("/v1/quotes", quoteBody());
  const booked = await client.post<{ bookingId: string }>(`/v1/quotes/${quote.body.id}/book`);
  expect(booked.status).toBe(201);
  return booked.body.bookingId;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("base64");

interface Attached {
  id: string;
  state: string;
  upload: { url: string; method: string; headers: Record<string, string>; expiresAt: string };
}

function attach(client: ReturnType<typeof apiClient>, bookingId: string, file: Buffer, overrides = {}) {
  return client.post<Attached & Record<string, any>>(`/v1/bookings/${bookingId}/documents`, {
    kind: "proof_of_delivery",
    fileName: "pod-4471.pdf",
    contentType: "application/pdf",
    sizeBytes: file.length,
    sha256: sha256(file),
    ...overrides,
  });
}

/** The upload as a browser or a phone makes it: a plain PUT with the signed headers. */
function upload(attached: Attached, body: Buffer, headers: Record<string, string> = {}) {
  const { "content-length": _length, ...signed } = attached.upload.headers;
  return fetch(attached.upload.url, { method: "PUT", headers: { ...signed, ...headers }, body });
}

async function documentRows(): Promise<number> {
  const ops = new pg.Client({ connectionString: t.db.urls.ops });
  await ops.connect();
  try {
    return (await ops.query("SELECT count(*)::int AS n FROM documents")).rows[0].n;
  } finally {
    await ops.end();
  }
}

describe("documents", () => {
  it("uploads, confirms, lists, downloads and deletes a 10 MB proof of delivery", async () => {
    const bookingId = await booking(acme);
    const file = randomBytes(10 * 2 ** 20);
    const attached = await attach(acme, bookingId, file);
    expect(attached.status).toBe(201);
    expect(attached.body.state).toBe("pending");
    expect(attached.body.upload.method).toBe("PUT");
    expect(attached.body.upload.url).toContain(`/${PRIMARY_BUCKET}/tenants/`);

    expect((await upload(attached.body, file)).status).toBe(200);
    const confirmed = await acme.post<Record<string, any>>(`/v1/documents/${attached.body.id}/confirm`);
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.state).toBe("available");

    const listed = await acme.get<{ documents: Array<Record<string, any>> }>(
      `/v1/bookings/${bookingId}/documents`,
    );
    expect(listed.body.documents.map((d) => [d.id, d.state, d.sizeBytes])).toEqual([
      [attached.body.id, "available", file.length],
    ]);

    const read = await acme.get<Record<string, any>>(`/v1/documents/${attached.body.id}`);
    expect(read.body.download.region).toBe("primary");
    const downloaded = await fetch(read.body.download.url);
    expect(downloaded.status).toBe(200);
    expect(downloaded.headers.get("content-disposition")).toBe("attachment; filename*=UTF-8''pod-4471.pdf");
    expect(sha256(Buffer.from(await downloaded.arrayBuffer()))).toBe(sha256(file));

    const deleted = await acme.call("DELETE", `/v1/documents/${attached.body.id}`);
    expect(deleted.status).toBe(204);
    expect((await acme.get(`/v1/documents/${attached.body.id}`)).status).toBe(404);
    expect(
      (await acme.get<{ documents: unknown[] }>(`/v1/bookings/${bookingId}/documents`)).body.documents,
    ).toEqual([]);
  });

  it("refuses uploads that are not the declared file, and a spent or second upload", async () => {
    const bookingId = await booking(acme);
    const file = Buffer.from("%PDF-1.7 bill of lading");
    const attached = (await attach(acme, bookingId, file, { kind: "bill_of_lading", fileName: "bol.pdf" }))
      .body;

    // Another content type than the one signed: S3 refuses the signature.
    expect((await upload(attached, file, { "content-type": "text/html" })).status).toBe(403);
    // A body larger than declared: the signed length does not match.
    expect((await upload(attached, Buffer.concat([file, Buffer.from("!")]))).status).toBe(403);
    // Same length, other bytes: the signed SHA-256 does not match.
    expect((await upload(attached, Buffer.from("%PDF-1.7 bill of ladinG"))).status).toBe(400);
    const early = await acme.post<Record<string, any>>(`/v1/documents/${attached.id}/confirm`);
    expect(early.status).toBe(409);
    expect(early.body.type).toMatch(/document-not-uploaded$/);

    expect((await upload(attached, file)).status).toBe(200);
    // The URL is good for one upload: a second PUT (a replay, or an overwrite) is refused by S3.
    expect((await upload(attached, file)).status).toBe(412);
    expect((await acme.post(`/v1/documents/${attached.id}/confirm`)).status).toBe(200);
    const again = await acme.post<Record<string, any>>(`/v1/documents/${attached.id}/confirm`);
    expect(again.status).toBe(409);
    expect(again.body.type).toMatch(/document-already-confirmed$/);
  });

  it("answers 410 when the upload URL expired before anything was uploaded", async () => {
    const bookingId = await booking(acme);
    const attached = (await attach(acme, bookingId, Buffer.from("late"))).body;
    const owner = new pg.Client({ connectionString: t.db.urls.superuser.replace(/\/postgres$/, "/freight") });
    await owner.connect();
    await owner.query("UPDATE documents SET upload_expires_at = now() - interval '1 second' WHERE id = $1", [
      attached.id,
    ]);
    await owner.end();
    const late = await acme.post<Record<string, any>>(`/v1/documents/${attached.id}/confirm`);
    expect(late.status).toBe(410);
    expect(late.body.detail).toMatch(/Attach the document again/);
    // An expired, never-uploaded document is not listed.
    const listed = await acme.get<{ documents: Array<{ id: string }> }>(
      `/v1/bookings/${bookingId}/documents`,
    );
    expect(listed.body.documents.map((d) => d.id)).not.toContain(attached.id);
  });

  it("refuses paths, invisible characters and undeclared types in the request, creating nothing", async () => {
    const bookingId = await booking(acme);
    const before = await documentRows();
    const file = Buffer.from("x");
    for (const [overrides, field] of [
      [{ fileName: "../../etc/passwd" }, "fileName"],
      [{ fileName: "scans\\pod.pdf" }, "fileName"],
      [{ fileName: "invoice\u202Efdp.exe" }, "fileName"],
      [{ fileName: "pod\u0000.pdf" }, "fileName"],
      [{ fileName: ".htaccess" }, "fileName"],
      [{ fileName: "x".repeat(201) }, "fileName"],
      [{ contentType: "text/html" }, "contentType"],
      [{ sizeBytes: 13 * 2 ** 20 }, "sizeBytes"],
      [{ sha256: "not-a-digest" }, "sha256"],
      [{ kind: "selfie" }, "kind"],
    ] as const) {
      const refused = await attach(acme, bookingId, file, overrides);
      expect(refused.status, JSON.stringify(overrides)).toBe(422);
      expect(refused.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    // Odd but honest names are kept, in composed form (the input boundary normalises to NFC).
    const unicode = await attach(acme, bookingId, file, { fileName: "Lieferschein Ko\u0308ln – 12.pdf" });
    expect(unicode.status).toBe(201);
    expect(unicode.body.fileName).toBe("Lieferschein Köln – 12.pdf");
    expect(await documentRows()).toBe(before + 1);
    expect((await attach(acme, randomUUID(), file)).status).toBe(404);
  });

  it("never signs for another tenant's documents, whatever ids and keys are tried", async () => {
    const acmeBooking = await booking(acme);
    const globexBooking = await booking(globex);
    const file = Buffer.from("tenant-private");
    const acmeDoc = (await attach(acme, acmeBooking, file)).body;
    await upload(acmeDoc, file);
    await acme.post(`/v1/documents/${acmeDoc.id}/confirm`);
    const globexDoc = (await attach(globex, globexBooking, file)).body;
    await upload(globexDoc, file);
    await globex.post(`/v1/documents/${globexDoc.id}/confirm`);

    const clients = { acme, globex };
    const owner: Record<string, keyof typeof clients> = { [acmeDoc.id]: "acme", [globexDoc.id]: "globex" };
    const tenantOf = { acme: acmeDoc.upload.url, globex: globexDoc.upload.url };
    const tenantPath = (url: string) => /\/tenants\/([0-9a-f-]{36})\//.exec(url)?.[1];
    let signed = 0;
    for (let i = 0; i < 60; i++) {
      const as = i % 2 ? "acme" : "globex";
      const id = [acmeDoc.id, globexDoc.id, randomUUID()][i % 3] as string;
      const client = clients[as];
      const [read, confirm, list] = await Promise.all([
        client.get<Record<string, any>>(`/v1/documents/${id}`),
        client.post<Record<string, any>>(`/v1/documents/${id}/confirm`),
        client.get<Record<string, any>>(`/v1/bookings/${i % 2 ? globexBooking : acmeBooking}/documents`),
      ]);
      if (owner[id] === as) {
        expect(read.status).toBe(200);
        expect(tenantPath(read.body.download.url)).toBe(tenantPath(tenantOf[as]));
        signed++;
      } else {
        expect([read.status, confirm.status]).toEqual([404, 404]);
      }
      // The other tenant's booking is not found, let alone listed.
      expect(list.status).toBe(404);
    }
    expect(signed).toBeGreaterThan(0);
    expect((await globex.call("DELETE", `/v1/documents/${acmeDoc.id}`)).status).toBe(404);
    expect((await acme.get(`/v1/documents/${acmeDoc.id}`)).status).toBe(200);
  });

  it("reads from the other region's replica while the bucket that took the upload does not answer", async () => {
    const bookingId = await booking(acme);
    const replicated = Buffer.from("replicated POD");
    const doc = (await attach(acme, bookingId, replicated)).body;
    await upload(doc, replicated);
    await acme.post(`/v1/documents/${doc.id}/confirm`);
    const notYet = Buffer.from("not replicated yet");
    const lagging = (await attach(acme, bookingId, notYet)).body;
    await upload(lagging, notYet);
    await acme.post(`/v1/documents/${lagging.id}/confirm`);
    // What S3 replication does for the primary's bucket, for the first document only.
    const key = new URL(doc.upload.url).pathname.split(`/${PRIMARY_BUCKET}/`)[1] as string;
    const replica = secondary.client();
    await replica.send(
      new PutObjectCommand({
        Bucket: SECONDARY_BUCKET,
        Key: decodeURIComponent(key),
        Body: replicated,
        ContentType: "application/pdf",
        ChecksumSHA256: sha256(replicated),
      }),
    );
    replica.destroy();

    await primary.stop();
    try {
      let read = await acme.get<Record<string, any>>(`/v1/documents/${doc.id}`);
      for (let i = 0; i < 50 && read.body.download?.region !== "secondary"; i++) {
        await new Promise((r) => setTimeout(r, 100));
        read = await acme.get<Record<string, any>>(`/v1/documents/${doc.id}`);
      }
      expect(read.body.download.region).toBe("secondary");
      const fromReplica = await fetch(read.body.download.url);
      expect(Buffer.from(await fromReplica.arrayBuffer()).toString()).toBe("replicated POD");

      const unavailable = await acme.get<Record<string, any>>(`/v1/documents/${lagging.id}`);
      expect(unavailable.status).toBe(503);
      expect(unavailable.headers.get("retry-after")).toBe("30");
      expect(unavailable.body.detail).toMatch(/has not replicated to the secondary region yet/);
    } finally {
      await primary.start();
    }
  });
});
