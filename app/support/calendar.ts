// The support calendar the SLA clocks run on (docs/sla.md quotes it): business hours are Monday to
// Friday, 14:00 to 22:00 UTC (08:00-16:00 US Central in winter), except the holidays below. It is
// kept in UTC on purpose: a clock that shifts with daylight saving would move promises already made
// twice a year. "N business days" is N x 8 business hours, so a P2 opened Tuesday 20:00 UTC is due
// Wednesday 20:00 UTC, and one opened Friday 20:00 UTC is due Monday 20:00 UTC.

export interface SupportCalendar {
  /** Minutes after 00:00 UTC the business day opens and closes. */
  openMinute: number;
  closeMinute: number;
  /** Days of the week with business hours (0 Sunday ... 6 Saturday, UTC). */
  businessWeekdays: readonly number[];
  /** Dates (YYYY-MM-DD, UTC) without business hours. */
  holidays: ReadonlySet<string>;
}

/** US federal holidays observed by support (observed dates when they fall on a weekend). */
export const SUPPORT_HOLIDAYS = [
  "2026-01-01",
  "2026-01-19",
  "2026-02-16",
  "2026-05-25",
  "2026-06-19",
  "2026-07-03",
  "2026-09-07",
  "2026-11-26",
  "2026-12-25",
  "2027-01-01",
  "2027-01-18",
  "2027-02-15",
  "2027-05-31",
  "2027-06-18",
  "2027-07-05",
  "2027-09-06",
  "2027-11-25",
  "2027-12-24",
  "2027-12-31",
] as const;

export const SUPPORT_CALENDAR: SupportCalendar = {
  openMinute: 14 * 60,
  closeMinute: 22 * 60,
  businessWeekdays: [1, 2, 3, 4, 5],
  holidays: new Set(SUPPORT_HOLIDAYS),
};

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** Business minutes in one business day of the calendar (480 for 14:00-22:00). */
export function businessDayMinutes(calendar: SupportCalendar = SUPPORT_CALENDAR): number {
  return calendar.closeMinute - calendar.openMinute;
}

function isBusinessDate(dayStart: number, calendar: SupportCalendar): boolean {
  const date = new Date(dayStart);
  return (
    calendar.businessWeekdays.includes(date.getUTCDay()) &&
    !calendar.holidays.has(date.toISOString().slice(0, 10))
  );
}

/**
 * The instant `minutes` business minutes after `from`. Time outside business hours does not count:
 * a ticket opened on Saturday starts its clock at Monday's opening (Tuesday's after a Monday holiday).
 */
export function addBusinessMinutes(
  from: Date,
  minutes: number,
  calendar: SupportCalendar = SUPPORT_CALENDAR,
): Date {
  if (!Number.isFinite(minutes) || minutes < 0) throw new RangeError(`minutes must be >= 0, got ${minutes}`);
  if (minutes === 0) return new Date(from);
  let remaining = minutes * MINUTE;
  let at = from.getTime();
  // The loop visits each calendar day once; two years of holidays bound it well below a thousand.
  for (;;) {
    const dayStart = Math.floor(at / DAY) * DAY;
    const open = dayStart + calendar.openMinute * MINUTE;
    const close = dayStart + calendar.closeMinute * MINUTE;
    if (isBusinessDate(dayStart, calendar) && at < close) {
      const start = Math.max(at, open);
      if (start + remaining <= close) return new Date(start + remaining);
      remaining -= close - start;
    }
    at = dayStart + DAY;
  }
}

/** `hours` business hours after `from`. */
export function addBusinessHours(from: Date, hours: number, calendar = SUPPORT_CALENDAR): Date {
  return addBusinessMinutes(from, hours * 60, calendar);
}

/** `days` business days (each a full business day of hours) after `from`. */
export function addBusinessDays(from: Date, days: number, calendar = SUPPORT_CALENDAR): Date {
  return addBusinessMinutes(from, days * businessDayMinutes(calendar), calendar);
}
