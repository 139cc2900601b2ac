// The game day's users: a few concurrent clients sending quotes, bookings and reads for the whole
// drill. Each request goes to a region picked by the current traffic weights (what weighted DNS
// does), follows the 307 a standby region answers writes with, and is recorded with its latency,
// status and the region that served it. Every quote and booking the API confirmed is remembered,
// so the drill can check each one is on the database that serves afterwards (RPO).
import type { Region } from "../../operators/api/regionfailover.ts";

export interface Sample {
  op: "quote" | "book" | "read";
  /** Wall-clock ms (Date.now()) when the request was sent. */
  at: number;
  ms: number;
  status: number;
  /** "primary" or "secondary": the region whose app answered (Freight-Region header). */
  servedBy?: Region;
  /** 503 writes-frozen: refused by design during the cutover, nothing changed. */
  frozen: boolean;
  error?: string;
}

export interface LoadResult {
  samples: Sample[];
  committedQuotes: string[];
  committedBookings: string[];
  /** When each confirmed write was acknowledged (wall-clock ms), by quote id. */
  committedAt: Map<string, number>;
  /**
   * When each confirmed write was sent (wall-clock ms). A write sent after the primary was lost can only
   * have been committed by the new primary; its acknowledgement may reach a loaded client much later.
   */
  sentAt: Map<string, number>;
}

export interface LoadOptions {
  urls: Record<Region, string>;
  apiKey: string;
  /** Current traffic weights, e.g. from the RegionFailover status. */
  weights: () => { primary: number; secondary: number };
  concurrency?: number;
  /** Pause between one client's requests, ms. */
  thinkMs?: number;
}

function quoteBody(): string {
  return JSON.stringify({
    origin: "Chicago, IL",
    destination: "Dallas, TX",
    equipment: "dry_van",
    weightLbs: 38_000,
    pickupDate: new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10),
  });
}

export class LoadGenerator {
  private readonly options: LoadOptions;
  private stopped = false;
  private readonly result: LoadResult = {
    samples: [],
    committedQuotes: [],
    committedBookings: [],
    committedAt: new Map(),
    sentAt: new Map(),
  };
  /** Quotes confirmed at least a second ago: safe to read from either region (replication lag). */
  private readonly readable: { id: string; at: number }[] = [];
  private readonly bookable: string[] = [];
  private workers: Promise<void>[] = [];

  constructor(options: LoadOptions) {
    this.options = options;
  }

  now(): number {
    return Date.now();
  }

  start(): void {
    const n = this.options.concurrency ?? 4;
    this.workers = Array.from({ length: n }, (_, i) => this.worker(i));
  }

  async stop(): Promise<LoadResult> {
    this.stopped = true;
    await Promise.all(this.workers);
    return this.result;
  }

  private pickRegion(): Region {
    const w = this.options.weights();
    const total = w.primary + w.secondary;
    return Math.random() * (total || 1) < w.primary ? "primary" : "secondary";
  }

  private async request(op: Sample["op"], method: string, path: string, body?: string) {
    const region = this.pickRegion();
    const at = this.now();
    const t0 = performance.now();
    try {
      const response = await fetch(`${this.options.urls[region]}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.options.apiKey}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      const ms = performance.now() - t0;
      const served = response.headers.get("freight-region") ?? "";
      const servedBy: Region | undefined = served.includes("(secondary)")
        ? "secondary"
        : served.includes("(primary)")
          ? "primary"
          : undefined;
      const frozen = response.status === 503 && text.includes("writes-frozen");
      this.result.samples.push({ op, at, ms, status: response.status, servedBy, frozen });
      return { status: response.status, text, at };
    } catch (error) {
      this.result.samples.push({
        op,
        at,
        ms: performance.now() - t0,
        status: 0,
        frozen: false,
        error: (error as Error).message,
      });
      return { status: 0, text: "", at };
    }
  }

  private async worker(index: number): Promise<void> {
    let i = index;
    while (!this.stopped) {
      i++;
      const ripe = this.readable.filter((q) => this.now() - q.at > 1000);
      if (i % 3 === 0 && ripe.length) {
        const quote = ripe[Math.floor(Math.random() * ripe.length)]!;
        await this.request("read", "GET", `/v1/quotes/${quote.id}`);
      } else if (i % 5 === 0 && this.bookable.length) {
        const id = this.bookable.shift()!;
        const { status, at } = await this.request("book", "POST", `/v1/quotes/${id}/book`, "{}");
        if (status === 201 || status === 200) {
          this.result.committedBookings.push(id);
          this.result.committedAt.set(`book:${id}`, Date.now());
          this.result.sentAt.set(`book:${id}`, at);
        }
      } else {
        const { status, text, at } = await this.request("quote", "POST", "/v1/quotes", quoteBody());
        if (status === 201) {
          const id = (JSON.parse(text) as { id: string }).id;
          this.result.committedQuotes.push(id);
          this.result.committedAt.set(id, Date.now());
          this.result.sentAt.set(id, at);
          this.readable.push({ id, at: this.now() });
          if (Math.random() < 0.5) this.bookable.push(id);
        }
      }
      // A client told writes are frozen waits before its next write, as Retry-After asks.
      const last = this.result.samples.at(-1);
      const wait = last?.frozen ? 500 : (this.options.thinkMs ?? 20);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
