// `npm run bench:documents`: the documents path's two goals in one run.
//   1. Presigning in process (upload and download URLs): local crypto, p95 <= 1 ms.
//   2. Upload, confirm and download of a 10 MB file on the local platform, as deployed: <= 1 s.
//   npm run bench:documents -- --rounds 10 --megabytes 10
import { createHash, randomBytes } from "node:crypto";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { DocumentStore } from "../app/documents/storage.ts";
import { apiClient, quoteBody } from "../tools/platform/api-client.ts";
import { startPlatform } from "../tools/platform/platform.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "10" },
    megabytes: { type: "string", default: "10" },
    signatures: { type: "string", default: "5000" },
  },
});
const rounds = Number(values.rounds);
const bytes = Number(values.megabytes) * 2 ** 20;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
const ms = (n: number) => Math.round(n * 1000) / 1000;

async function presigning(): Promise<{ upload: number[]; download: number[] }> {
  const store = new DocumentStore(
    {
      primary: { bucket: "bench-documents-us-east-1", region: "us-east-1" },
      secondary: { bucket: "bench-documents-us-west-2", region: "us-west-2" },
    },
    { uploadTtlSeconds: 900, downloadTtlSeconds: 300, probeIntervalMs: 0, timeoutMs: 2000 },
  );
  process.env.AWS_ACCESS_KEY_ID ??= "AKIDBENCHMARK";
  process.env.AWS_SECRET_ACCESS_KEY ??= "bench-secret";
  const upload: number[] = [];
  const download: number[] = [];
  const sha256 = createHash("sha256").update("x").digest("base64");
  for (let i = 0; i < Number(values.signatures); i++) {
    const key = `tenants/00000000-0000-4000-8000-000000000000/documents/${i}`;
    let start = performance.now();
    await store.uploadUrl("primary", { key, contentType: "application/pdf", sizeBytes: 1234, sha256 });
    upload.push(performance.now() - start);
    start = performance.now();
    await store.downloadUrl("primary", {
      key,
      versionId: "v1",
      fileName: "pod.pdf",
      contentType: "application/pdf",
    });
    download.push(performance.now() - start);
  }
  store.stop();
  // The first signatures resolve credentials and warm the JIT; a serving process is past them.
  return {
    upload: upload.slice(100).sort((a, b) => a - b),
    download: download.slice(100).sort((a, b) => a - b),
  };
}

async function roundTrips(): Promise<number[]> {
  const platform = await startPlatform({ name: "bench-documents" });
  try {
    const client = apiClient(platform.regions.primary.apiUrl, Object.values(platform.apiKeys)[1]!);
    const quote = await client.post<{ id: string }>("/v1/quotes", quoteBody());
    const booked = await client.post<{ bookingId: string }>(`/v1/quotes/${quote.body.id}/book`);
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const file = randomBytes(bytes);
      const sha256 = createHash("sha256").update(file).digest("base64");
      const start = performance.now();
      const attached = await client.post<{
        id: string;
        upload: { url: string; headers: Record<string, string> };
      }>(`/v1/bookings/${booked.body.bookingId}/documents`, {
        kind: "proof_of_delivery",
        fileName: `pod-${i}.pdf`,
        contentType: "application/pdf",
        sizeBytes: file.length,
        sha256,
      });
      const { "content-length": _length, ...headers } = attached.body.upload.headers as Record<
        string,
        string
      >;
      const put = await fetch(attached.body.upload.url, { method: "PUT", headers, body: file });
      if (put.status !== 200) throw new Error(`upload answered ${put.status}: ${await put.text()}`);
      const confirmed = await client.post(`/v1/documents/${attached.body.id}/confirm`);
      if (confirmed.status !== 200) throw new Error(`confirm answered ${confirmed.status}`);
      const read = await client.get<{ download: { url: string } }>(`/v1/documents/${attached.body.id}`);
      const body = Buffer.from(await (await fetch(read.body.download.url)).arrayBuffer());
      times.push(performance.now() - start);
      if (createHash("sha256").update(body).digest("base64") !== sha256)
        throw new Error("downloaded other bytes");
    }
    return times.sort((a, b) => a - b);
  } finally {
    await platform.stop();
  }
}

const load = loadavg()[0]!.toFixed(1);
const signing = await presigning();
const cycles = await roundTrips();
console.log(
  `\n${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${load} at start\n`,
);
console.log(
  `Presign upload URL:   p50 ${ms(percentile(signing.upload, 50))} ms, p95 ${ms(percentile(signing.upload, 95))} ms (${signing.upload.length} signatures)`,
);
console.log(
  `Presign download URL: p50 ${ms(percentile(signing.download, 50))} ms, p95 ${ms(percentile(signing.download, 95))} ms`,
);
console.log(
  `Attach + upload + confirm + download of ${values.megabytes} MB on the local platform: p50 ${Math.round(percentile(cycles, 50))} ms, max ${Math.round(cycles.at(-1)!)} ms (${rounds} rounds)`,
);
const met =
  percentile(signing.upload, 95) <= 1 && percentile(signing.download, 95) <= 1 && cycles.at(-1)! <= 1000;
console.log(`Goals (presign p95 <= 1 ms, 10 MB round trip <= 1 s): ${met ? "met" : "NOT met"}.`);
