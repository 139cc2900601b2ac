// Freight markets a quote can start or end in: the major US truckload markets, with the rate region
// each belongs to. Coordinates are city centres; lane distance is derived from them (see engine.ts).
export const RATE_REGIONS = [
  "northeast",
  "southeast",
  "midwest",
  "south_central",
  "mountain",
  "west_coast",
] as const;
export type RateRegion = (typeof RATE_REGIONS)[number];

export interface Market {
  city: string;
  state: string;
  lat: number;
  lon: number;
  region: RateRegion;
}

const m = (city: string, state: string, lat: number, lon: number, region: RateRegion): Market => ({
  city,
  state,
  lat,
  lon,
  region,
});

export const MARKETS: readonly Market[] = [
  m("Atlanta", "GA", 33.749, -84.388, "southeast"),
  m("Charlotte", "NC", 35.227, -80.843, "southeast"),
  m("Jacksonville", "FL", 30.332, -81.656, "southeast"),
  m("Miami", "FL", 25.762, -80.192, "southeast"),
  m("Orlando", "FL", 28.538, -81.379, "southeast"),
  m("Savannah", "GA", 32.081, -81.091, "southeast"),
  m("Nashville", "TN", 36.163, -86.781, "southeast"),
  m("Memphis", "TN", 35.15, -90.049, "southeast"),
  m("Birmingham", "AL", 33.519, -86.81, "southeast"),
  m("Raleigh", "NC", 35.78, -78.639, "southeast"),
  m("New York", "NY", 40.713, -74.006, "northeast"),
  m("Newark", "NJ", 40.736, -74.172, "northeast"),
  m("Philadelphia", "PA", 39.953, -75.165, "northeast"),
  m("Boston", "MA", 42.36, -71.059, "northeast"),
  m("Baltimore", "MD", 39.29, -76.612, "northeast"),
  m("Pittsburgh", "PA", 40.441, -79.996, "northeast"),
  m("Harrisburg", "PA", 40.273, -76.884, "northeast"),
  m("Allentown", "PA", 40.608, -75.49, "northeast"),
  m("Chicago", "IL", 41.878, -87.63, "midwest"),
  m("Indianapolis", "IN", 39.768, -86.158, "midwest"),
  m("Columbus", "OH", 39.961, -82.999, "midwest"),
  m("Cincinnati", "OH", 39.103, -84.512, "midwest"),
  m("Cleveland", "OH", 41.499, -81.694, "midwest"),
  m("Detroit", "MI", 42.331, -83.046, "midwest"),
  m("Milwaukee", "WI", 43.039, -87.906, "midwest"),
  m("Minneapolis", "MN", 44.978, -93.265, "midwest"),
  m("St. Louis", "MO", 38.627, -90.199, "midwest"),
  m("Kansas City", "MO", 39.1, -94.578, "midwest"),
  m("Omaha", "NE", 41.257, -95.935, "midwest"),
  m("Louisville", "KY", 38.253, -85.759, "midwest"),
  m("Dallas", "TX", 32.777, -96.797, "south_central"),
  m("Fort Worth", "TX", 32.755, -97.331, "south_central"),
  m("Houston", "TX", 29.76, -95.37, "south_central"),
  m("San Antonio", "TX", 29.424, -98.494, "south_central"),
  m("Austin", "TX", 30.267, -97.743, "south_central"),
  m("Laredo", "TX", 27.506, -99.507, "south_central"),
  m("El Paso", "TX", 31.762, -106.485, "south_central"),
  m("Oklahoma City", "OK", 35.468, -97.516, "south_central"),
  m("New Orleans", "LA", 29.951, -90.072, "south_central"),
  m("Little Rock", "AR", 34.746, -92.29, "south_central"),
  m("Denver", "CO", 39.739, -104.99, "mountain"),
  m("Salt Lake City", "UT", 40.761, -111.891, "mountain"),
  m("Phoenix", "AZ", 33.448, -112.074, "mountain"),
  m("Albuquerque", "NM", 35.084, -106.65, "mountain"),
  m("Las Vegas", "NV", 36.17, -115.14, "mountain"),
  m("Boise", "ID", 43.615, -116.202, "mountain"),
  m("Los Angeles", "CA", 34.052, -118.244, "west_coast"),
  m("Ontario", "CA", 34.063, -117.651, "west_coast"),
  m("San Diego", "CA", 32.716, -117.161, "west_coast"),
  m("Oakland", "CA", 37.804, -122.271, "west_coast"),
  m("Fresno", "CA", 36.738, -119.787, "west_coast"),
  m("Sacramento", "CA", 38.582, -121.494, "west_coast"),
  m("Portland", "OR", 45.515, -122.679, "west_coast"),
  m("Seattle", "WA", 47.606, -122.332, "west_coast"),
];

export function marketKey(market: Pick<Market, "city" | "state">): string {
  return `${market.city}, ${market.state}`;
}

const byKey = new Map(MARKETS.map((market) => [normalise(marketKey(market)), market]));

function normalise(location: string): string {
  return location
    .trim()
    .replace(/\s+/g, " ")
    .replace(/\s*,\s*/, ", ")
    .toLowerCase();
}

/** Finds a market by "City, ST" (case and spacing insensitive). */
export function findMarket(location: string): Market | undefined {
  return byKey.get(normalise(location));
}
