import { describe, expect, it } from "vitest";
import { PRICING } from "../pricing/data.ts";
import { QuoteEngine } from "../pricing/engine.ts";
import { QuotePricing } from "../pricing/quote-pricing.ts";
import { pickupInDays } from "../../tools/platform/api-client.ts";
import { csvField, CsvError, lanesFromCsv, parseCsvRecords, priceLane } from "./lanes.ts";

describe("CSV lanes", () => {
  it("reads quoted fields with commas, doubled quotes and line breaks, CRLF or LF, and skips blank lines", () => {
    expect(parseCsvRecords('a,"b, c","say ""hi"""\r\n\r\n"multi\nline",x\n')).toEqual([
      ["a", "b, c", 'say "hi"'],
      ["multi\nline", "x"],
    ]);
  });

  it("maps header spellings to lane fields and keeps extra columns so the row can be told about them", () => {
    const text =
      "\ufeffOrigin,Destination,Equipment,Weight_Lbs,Pickup Date,notes\n" +
      '"Chicago, IL","Dallas, TX",reefer,40000,2030-01-02,fragile\n';
    expect(lanesFromCsv(text)).toEqual([
      {
        origin: "Chicago, IL",
        destination: "Dallas, TX",
        equipment: "reefer",
        weightLbs: "40000",
        pickupDate: "2030-01-02",
        column6: "fragile",
      },
    ]);
  });

  it("says which columns the header lacks, and where a quote is wrong", () => {
    expect(() => lanesFromCsv("origin,destination\nA,B\n")).toThrow(/lacks equipment, weightLbs, pickupDate/);
    expect(() => parseCsvRecords('a,b"c"\n')).toThrow(CsvError);
    expect(() => parseCsvRecords('a\n"open')).toThrow(/line 2: a quoted field is not closed/);
  });

  it("writes CSV fields quoted when needed, and never as a spreadsheet formula", () => {
    expect(csvField("Chicago, IL")).toBe('"Chicago, IL"');
    expect(csvField('a "b"')).toBe('"a ""b"""');
    expect(csvField("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvField("-12")).toBe("-12");
    expect(csvField(undefined)).toBe("");
  });
});

describe("pricing a lane", () => {
  const pricing = new QuotePricing(new QuoteEngine(PRICING));
  const tenant = "00000000-0000-4000-8000-000000000001";
  const lane = {
    origin: "Chicago, IL",
    destination: "Dallas, TX",
    equipment: "dry_van",
    pickupDate: pickupInDays(4),
  };

  it("prices a CSV row (weight as text) exactly like the same lane sent as JSON", () => {
    const fromCsv = priceLane(pricing, tenant, { ...lane, weightLbs: "38000" });
    const fromJson = priceLane(pricing, tenant, { ...lane, weightLbs: 38_000 });
    expect(fromCsv.status).toBe("priced");
    expect(fromCsv).toEqual(fromJson);
  });

  it("reports every problem of a bad row instead of throwing", () => {
    const outcome = priceLane(pricing, tenant, {
      ...lane,
      origin: "Gotham, NY",
      weightLbs: "38,000",
      extra: 1,
    });
    expect(outcome.status).toBe("invalid");
    if (outcome.status !== "invalid") return;
    // The schema's problems first; the market is checked once the row has the right shape.
    expect(outcome.errors).toEqual([
      { field: "weightLbs", message: "must be whole pounds, e.g. 38000" },
      { field: "(lane)", message: "unknown field 'extra'; remove it" },
    ]);
    expect(priceLane(pricing, tenant, null)).toEqual({
      status: "invalid",
      errors: [
        {
          field: "(lane)",
          message: "must be an object with origin, destination, equipment, weightLbs, pickupDate",
        },
      ],
    });
  });
});
