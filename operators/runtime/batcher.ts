// Group commit for reconcilers: concurrent reconciles hand their database work to a Batcher, which
// runs everything that arrived while the previous batch was in flight as one set-based call (one
// transaction, a few statements) instead of one transaction per key. Nothing waits for a batch to
// fill: an idle batcher runs a lone item at once, so a single change costs what it did before, and
// 10,000 tenants starting up cost ~10,000 / maxBatch transactions.
//
// A batch that fails is retried item by item, so one bad item fails only its own reconcile (which
// the work queue retries with backoff) and never its neighbours.

export interface BatcherOptions<In, Out> {
  /** Runs one batch; returns one result per item, in order. */
  run(items: In[]): Promise<Out[]>;
  /** Most items per batch; the rest wait for the next one. */
  maxBatch?: number;
  /** Batches in flight at once (database connections used). */
  concurrency?: number;
}

interface Pending<In, Out> {
  item: In;
  resolve(out: Out): void;
  reject(error: unknown): void;
}

export class Batcher<In, Out> {
  private readonly runBatch: (items: In[]) => Promise<Out[]>;
  private readonly maxBatch: number;
  private readonly concurrency: number;
  private readonly waiting: Pending<In, Out>[] = [];
  private inFlight = 0;
  /** Batches run and items handled, for metrics and tests. */
  readonly stats = { batches: 0, items: 0, fallbacks: 0 };

  constructor(options: BatcherOptions<In, Out>) {
    this.runBatch = options.run;
    this.maxBatch = options.maxBatch ?? 500;
    this.concurrency = options.concurrency ?? 2;
  }

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      // Let the other reconciles of this tick join before the batch starts.
      queueMicrotask(() => this.pump());
    });
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.waiting.length) {
      const batch = this.waiting.splice(0, this.maxBatch);
      this.inFlight++;
      void this.execute(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async execute(batch: Pending<In, Out>[]): Promise<void> {
    this.stats.batches++;
    this.stats.items += batch.length;
    try {
      const results = await this.runBatch(batch.map((p) => p.item));
      if (results.length !== batch.length) {
        throw new Error(`batch returned ${results.length} results for ${batch.length} items`);
      }
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      this.stats.fallbacks++;
      // Find the culprit: each item alone, so the others still succeed.
      await Promise.all(
        batch.map(async (p) => {
          try {
            const [out] = await this.runBatch([p.item]);
            p.resolve(out!);
          } catch (itemError) {
            p.reject(itemError);
          }
        }),
      );
    }
  }
}
