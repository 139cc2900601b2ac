// Pricing one quote the way the PricingModel split says: the tenant's sticky version (assignVersion)
// applied to the engine's market price with its guardrails (priceWithVersion). The quote route, the
// bulk lanes and the backtest price through here, so a tenant's lane costs the same on every path.
// A contract rate is the negotiated price: no model applies to it and it gets no bucket.
import type { ContractRate, PricedQuote, QuoteEngine, QuoteInput } from "./engine.ts";
import { assignVersion, priceWithVersion, type ActiveSplit, type GuardedPrice } from "./model-version.ts";
import { DEFAULT_PRICING_MODEL, engineSplit } from "./pricing-splits.ts";

export interface ModelPricedQuote extends GuardedPrice {
  /** The model that priced it; undefined for a contract rate. */
  model: string | undefined;
  /** The tenant's bucket (0 to 9,999) under the split's bucket version; undefined for a contract rate. */
  bucket: number | undefined;
}

/** The margin a version left, in percent of the carrier-side cost (the guardrail's measure). */
export function marginPercent(priced: PricedQuote): number {
  const cost = priced.linehaulCents + priced.fuelSurchargeCents;
  return cost > 0 ? (100 * priced.marginCents) / cost : 0;
}

export class QuotePricing {
  readonly engine: QuoteEngine;
  readonly #split: () => ActiveSplit;

  /** Without a split source, every tenant gets the engine's own version (tests, the rate calculator). */
  constructor(engine: QuoteEngine, split?: () => ActiveSplit) {
    this.engine = engine;
    const fixed = engineSplit(DEFAULT_PRICING_MODEL, engine.data);
    this.#split = split ?? (() => fixed);
  }

  split(): ActiveSplit {
    return this.#split();
  }

  /** For no tenant in particular (the anonymous rate calculator): the champion's price. */
  championPrice(input: QuoteInput): ModelPricedQuote {
    const split = this.#split();
    const guarded = priceWithVersion(this.engine.price(input), split.champion, input.origin.region);
    return { ...guarded, model: split.model, bucket: undefined };
  }

  price(tenantId: string, input: QuoteInput, contract?: ContractRate): ModelPricedQuote {
    if (contract) {
      const priced = this.engine.priceAtContract(input, contract);
      return {
        priced,
        model: undefined,
        bucket: undefined,
        clampedByCap: false,
        raisedToFloor: false,
        capBreached: false,
      };
    }
    const split = this.#split();
    const { version, bucket } = assignVersion(split, tenantId);
    const guarded = priceWithVersion(this.engine.price(input), version, input.origin.region);
    return { ...guarded, model: split.model, bucket };
  }
}
