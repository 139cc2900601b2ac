// The quote engine: a pure function of the request and the pricing data. Lane facts (distance, base
// rate) are cached per lane because a few hot lanes carry most of the traffic; the equipment x month
// factors are computed once per pricing version.
import type { Equipment, PricingData } from "./data.ts";
import type { Market } from "./markets.ts";
import { marketKey } from "./markets.ts";

export interface QuoteInput {
  origin: Market;
  destination: Market;
  equipment: Equipment;
  weightLbs: number;
  /** YYYY-MM-DD, the pickup day (UTC calendar). */
  pickupDate: string;
}

/** A tenant's negotiated linehaul for a lane, valid for pickups from validFrom to validTo (inclusive). */
export interface ContractRate {
  id: string;
  linehaulCents: number;
  validFrom: string;
  validTo: string;
}

export interface PricedQuote {
  /** spot: priced from market data; contract: the tenant's negotiated linehaul for the lane. */
  source: "spot" | "contract";
  /** The contract rate used, with its validity; only when source is contract. */
  contract?: ContractRate;
  distanceMiles: number;
  ratePerMileCents: number;
  equipmentFactor: number;
  seasonalityIndex: number;
  weightFactor: number;
  linehaulCents: number;
  fuelSurchargeCents: number;
  marginCents: number;
  totalCents: number;
  pricingVersion: string;
}

interface Lane {
  distanceMiles: number;
  ratePerMileCents: number;
}

const EARTH_RADIUS_MILES = 3958.8;

export function greatCircleMiles(a: Pick<Market, "lat" | "lon">, b: Pick<Market, "lat" | "lon">): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_MILES * Math.asin(Math.sqrt(h));
}

export class QuoteEngine {
  readonly data: PricingData;
  readonly #lanes = new Map<string, Lane>();
  readonly #maxLanes: number;
  /** equipment -> month index -> equipment factor x seasonality, computed once. */
  readonly #demandFactor: Map<Equipment, number[]>;

  constructor(data: PricingData, options: { maxCachedLanes?: number } = {}) {
    this.data = data;
    this.#maxLanes = options.maxCachedLanes ?? 4096;
    this.#demandFactor = new Map(
      (Object.keys(data.seasonality) as Equipment[]).map((equipment) => [
        equipment,
        data.seasonality[equipment].map((index) => index * data.equipmentFactor[equipment]),
      ]),
    );
  }

  get cachedLanes(): number {
    return this.#lanes.size;
  }

  lane(origin: Market, destination: Market): Lane {
    const key = `${marketKey(origin)}|${marketKey(destination)}`;
    const hit = this.#lanes.get(key);
    if (hit) {
      // Refresh recency: Map iteration order is insertion order, so the first key is the coldest.
      this.#lanes.delete(key);
      this.#lanes.set(key, hit);
      return hit;
    }
    const lane: Lane = {
      distanceMiles: Math.max(
        1,
        Math.round(greatCircleMiles(origin, destination) * this.data.circuityFactor),
      ),
      ratePerMileCents: this.data.ratePerMileCents[origin.region][destination.region],
    };
    this.#lanes.set(key, lane);
    if (this.#lanes.size > this.#maxLanes) this.#lanes.delete(this.#lanes.keys().next().value as string);
    return lane;
  }

  price(input: QuoteInput): PricedQuote {
    const { data } = this;
    const lane = this.lane(input.origin, input.destination);
    const month = Number(input.pickupDate.slice(5, 7)) - 1;
    const demand = this.#demandFactor.get(input.equipment)?.[month];
    if (demand === undefined) throw new Error(`no pricing for ${input.equipment} in month ${month + 1}`);
    const weightFactor = 1 + (Math.max(0, input.weightLbs - 40_000) / 10_000) * data.heavyLoadFactorPer10k;
    const linehaulCents = Math.max(
      data.minimumLinehaulCents,
      Math.round(lane.distanceMiles * lane.ratePerMileCents * demand * weightFactor),
    );
    const fuelSurchargeCents = lane.distanceMiles * data.fuelSurchargeCentsPerMile;
    const marginCents = Math.round((linehaulCents + fuelSurchargeCents) * data.marginRate);
    return {
      source: "spot",
      distanceMiles: lane.distanceMiles,
      ratePerMileCents: lane.ratePerMileCents,
      equipmentFactor: data.equipmentFactor[input.equipment],
      seasonalityIndex: data.seasonality[input.equipment][month] as number,
      weightFactor: Math.round(weightFactor * 10_000) / 10_000,
      linehaulCents,
      fuelSurchargeCents,
      marginCents,
      totalCents: linehaulCents + fuelSurchargeCents + marginCents,
      pricingVersion: data.version,
    };
  }

  /**
   * Prices a lane at a contract rate: the negotiated linehaul replaces the market-built one (no
   * demand, weight or margin applied: the agreement is the price), and fuel is surcharged per mile
   * as for spot, because contract linehauls are agreed ex-fuel.
   */
  priceAtContract(input: QuoteInput, contract: ContractRate): PricedQuote {
    const lane = this.lane(input.origin, input.destination);
    const fuelSurchargeCents = lane.distanceMiles * this.data.fuelSurchargeCentsPerMile;
    return {
      source: "contract",
      contract,
      distanceMiles: lane.distanceMiles,
      ratePerMileCents: Math.round(contract.linehaulCents / lane.distanceMiles),
      equipmentFactor: 1,
      seasonalityIndex: 1,
      weightFactor: 1,
      linehaulCents: contract.linehaulCents,
      fuelSurchargeCents,
      marginCents: 0,
      totalCents: contract.linehaulCents + fuelSurchargeCents,
      pricingVersion: this.data.version,
    };
  }
}
