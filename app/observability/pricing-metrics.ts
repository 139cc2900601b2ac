// Counting a quote priced by a PricingModel version, for the quote route and the runners' bulk lanes
// alike: the per-version quote count and margin the rollout's dashboards put side by side.
import { marginPercent, type ModelPricedQuote } from "../pricing/quote-pricing.ts";
import type { AppMetrics } from "./metrics.ts";

export function countPricedQuote(
  metrics: Pick<AppMetrics, "pricingVersionQuotes" | "pricingVersionMarginPercent">,
  quote: ModelPricedQuote,
): void {
  // A contract rate is the tenant's agreement, not the model's price: it would blur the comparison.
  if (quote.model === undefined) return;
  const labels = { model: quote.model, version: quote.priced.pricingVersion };
  metrics.pricingVersionQuotes.inc(labels);
  metrics.pricingVersionMarginPercent.observe(labels, marginPercent(quote.priced));
}
