// The ROI calculator sales uses: four inputs, a handful of stated assumptions, and the same numbers
// on the page and in the PDF (both come from roiResults). Inputs outside what any freight business
// has are refused with the field and its range, so a PDF never carries a nonsense figure.
import { PDFDocument, StandardFonts } from "pdf-lib";
import { count, dollars } from "./html.ts";

export interface RoiInputs {
  lanes: number;
  quotesPerMonth: number;
  /** USD per load. */
  averageRate: number;
  /** Percent of quotes won today. */
  winRate: number;
}

const MINUTES_PER_MANUAL_QUOTE = 12;
const MINUTES_PER_PLATFORM_QUOTE = 1;
const ANALYST_COST_PER_HOUR_CENTS = 4500;
const WIN_RATE_UPLIFT_POINTS = 3;
const MARGIN_PERCENT = 15;

export const ROI_ASSUMPTIONS = [
  {
    text: `A quote by hand takes ${MINUTES_PER_MANUAL_QUOTE} minutes; through the platform ${MINUTES_PER_PLATFORM_QUOTE} minute.`,
  },
  { text: `Pricing analyst time costs ${dollars(ANALYST_COST_PER_HOUR_CENTS)} an hour, fully loaded.` },
  { text: `Answering in seconds wins ${WIN_RATE_UPLIFT_POINTS} more quotes in 100 (never past 100 %).` },
  { text: `Your margin on a won load is ${MARGIN_PERCENT} % of its rate.` },
  { text: "A year is 12 months like the one you describe; no growth is assumed." },
] as const;

const FIELDS: {
  name: keyof RoiInputs;
  label: string;
  min: number;
  max: number;
  integer: boolean;
  unit: string;
}[] = [
  { name: "lanes", label: "Lanes you quote", min: 1, max: 100_000, integer: true, unit: "lanes" },
  {
    name: "quotesPerMonth",
    label: "Quotes per month",
    min: 1,
    max: 5_000_000,
    integer: true,
    unit: "quotes",
  },
  { name: "averageRate", label: "Average rate per load", min: 50, max: 50_000, integer: false, unit: "USD" },
  { name: "winRate", label: "Win rate today", min: 0.1, max: 100, integer: false, unit: "%" },
];

export type RoiParse = { ok: true; inputs: RoiInputs } | { ok: false; errors: string[] };

export function roiInputsFrom(query: Record<string, string | undefined>): RoiParse {
  const errors: string[] = [];
  const inputs: Partial<RoiInputs> = {};
  for (const f of FIELDS) {
    const raw = String(query[f.name] ?? "")
      .trim()
      .replaceAll(",", "")
      .replace(/^\$/, "")
      .replace(/%$/, "");
    const range = `between ${f.min.toLocaleString("en-US")} and ${f.max.toLocaleString("en-US")} ${f.unit}`;
    if (raw === "") {
      errors.push(`${f.label}: is empty; enter a number ${range}`);
      continue;
    }
    const value = Number(raw);
    if (!/^-?\d+(\.\d+)?$/.test(raw) || !Number.isFinite(value))
      errors.push(`${f.label}: '${raw.slice(0, 40)}' is not a number; enter one ${range}`);
    else if (f.integer && !Number.isInteger(value))
      errors.push(`${f.label}: must be a whole number ${range}`);
    else if (value < f.min || value > f.max)
      errors.push(`${f.label}: ${value.toLocaleString("en-US")} is out of range; enter a number ${range}`);
    else inputs[f.name] = value;
  }
  return errors.length ? { ok: false, errors } : { ok: true, inputs: inputs as RoiInputs };
}

export interface RoiResults {
  hoursSaved: number;
  laborSavedCents: number;
  extraLoadsWon: number;
  extraMarginCents: number;
  annualValueCents: number;
}

export function roiResults(inputs: RoiInputs): RoiResults {
  const hoursSaved = Math.round(
    (inputs.quotesPerMonth * (MINUTES_PER_MANUAL_QUOTE - MINUTES_PER_PLATFORM_QUOTE)) / 60,
  );
  const laborSavedCents = hoursSaved * ANALYST_COST_PER_HOUR_CENTS;
  const uplift = Math.min(WIN_RATE_UPLIFT_POINTS, 100 - inputs.winRate) / 100;
  const extraLoadsWon = Math.round(inputs.quotesPerMonth * uplift);
  const extraMarginCents = Math.round(extraLoadsWon * inputs.averageRate * 100 * (MARGIN_PERCENT / 100));
  return {
    hoursSaved,
    laborSavedCents,
    extraLoadsWon,
    extraMarginCents,
    annualValueCents: (laborSavedCents + extraMarginCents) * 12,
  };
}

/** The page's inputs, results and assumptions as a one-page PDF. */
export async function roiPdf(inputs: RoiInputs): Promise<Uint8Array> {
  const results = roiResults(inputs);
  const doc = await PDFDocument.create();
  doc.setTitle("Freight ROI estimate");
  doc.setCreator("Freight");
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  const pdfPage = doc.addPage([595, 842]);
  let y = 790;
  const line = (text: string, size = 11, face = font) => {
    pdfPage.drawText(text, { x: 56, y, size, font: face });
    y -= size + 8;
  };
  line("Freight ROI estimate", 20, bold);
  y -= 6;
  line("Inputs", 14, bold);
  line(`Lanes you quote: ${count(inputs.lanes)}`);
  line(`Quotes per month: ${count(inputs.quotesPerMonth)}`);
  line(`Average rate per load: ${dollars(Math.round(inputs.averageRate * 100))}`);
  line(`Win rate today: ${inputs.winRate} %`);
  y -= 6;
  line("Results per month", 14, bold);
  line(`Quoting hours saved: ${count(results.hoursSaved)} h`);
  line(`Labour saved: ${dollars(results.laborSavedCents)}`);
  line(`Extra loads won: ${count(results.extraLoadsWon)}`);
  line(`Extra margin: ${dollars(results.extraMarginCents)}`);
  line(`Value per year: ${dollars(results.annualValueCents)}`, 12, bold);
  y -= 6;
  line("Assumptions", 14, bold);
  for (const a of ROI_ASSUMPTIONS) line(`- ${a.text}`, 10);
  return doc.save();
}
