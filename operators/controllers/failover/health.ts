// Health samples of a region for the gate: a few concurrent requests to its readiness endpoint,
// summarised as ready / error rate / p95 latency. Readiness is what Route 53 health checks read
// too: the app answers and its database answers with the expected schema.
import type { HealthSample } from "./observations.ts";

export async function sampleHealth(
  url: string,
  options: { samples?: number; timeoutMs?: number } = {},
): Promise<HealthSample> {
  const samples = options.samples ?? 5;
  const timeoutMs = options.timeoutMs ?? 2000;
  const results = await Promise.all(
    Array.from({ length: samples }, async () => {
      const started = performance.now();
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        await response.arrayBuffer();
        return { ok: response.ok, ms: performance.now() - started, detail: `HTTP ${response.status}` };
      } catch (error) {
        return { ok: false, ms: performance.now() - started, detail: (error as Error).message };
      }
    }),
  );
  const failed = results.filter((r) => !r.ok);
  const latencies = results.map((r) => r.ms).sort((a, b) => a - b);
  const p95 = latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.95) - 1)] ?? 0;
  return {
    ready: failed.length === 0,
    errorRatePercent: (failed.length / samples) * 100,
    p95LatencyMs: Math.round(p95),
    detail: failed[0]?.detail,
  };
}
