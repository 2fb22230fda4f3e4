// Lenient date and duration parsing for feed items. Real feeds write RFC 822 dates with
// named zones (PST even in summer), wrong or missing weekdays, full month names, single-digit
// days and two-digit years, or ISO 8601. The weekday is ignored: the date decides.

const MONTHS: Record<string, number> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, sept: 8, oct: 9, nov: 10, dec: 11,
};

/** Offsets in minutes east of UTC for the zone names feeds use. */
const ZONES: Record<string, number> = {
  UT: 0, UTC: 0, GMT: 0, Z: 0, WET: 0,
  EST: -300, EDT: -240, CST: -360, CDT: -300, MST: -420, MDT: -360, PST: -480, PDT: -420,
  AKST: -540, AKDT: -480, HST: -600,
  BST: 60, IST: 60, CET: 60, CEST: 120, MET: 60, MEST: 120, EET: 120, EEST: 180, MSK: 180,
  JST: 540, KST: 540, AEST: 600, AEDT: 660, ACST: 570, AWST: 480, NZST: 720, NZDT: 780,
};

// [weekday,] day month year [time [zone]]
const RFC822 =
  /^(?:[A-Za-z]+\.?,?\s*)?(\d{1,2})[\s-]+([A-Za-z]+)\.?[\s-]+(\d{2,4})(?:[\sT]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*([A-Za-z]+|[+-]\d{2}:?\d{2})?\s*(?:\([^)]*\))?$/;
const ISO8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[T\s](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Parse a feed date; undefined when nothing sensible can be read. */
export function parseFeedDate(raw: string | undefined): Date | undefined {
  if (raw === undefined) return undefined;
  const text = raw.trim().replace(/\s+/g, ' ');
  if (text === '') return undefined;
  return plausible(parseRfc822(text) ?? parseIso(text));
}

function plausible(date: Date | undefined): Date | undefined {
  if (!date || Number.isNaN(date.getTime())) return undefined;
  const year = date.getUTCFullYear();
  // Archival episodes (speeches, radio history) may carry dates long before podcasts existed.
  return year >= 1800 && year <= 2200 ? date : undefined;
}

function parseRfc822(text: string): Date | undefined {
  const m = RFC822.exec(text);
  if (!m) return undefined;
  const [, day, monthName, yearText, hh = '0', mm = '0', ss = '0', zone] = m;
  const month = MONTHS[monthName!.toLowerCase().slice(0, monthName!.toLowerCase().startsWith('sept') ? 4 : 3)];
  if (month === undefined) return undefined;
  let year = Number(yearText);
  if (yearText!.length === 2) year += year < 70 ? 2000 : 1900;
  else if (yearText!.length === 3) return undefined;
  const offset = zone === undefined ? 0 : zoneOffset(zone);
  if (offset === undefined) return undefined;
  return fromParts(year, month, Number(day), Number(hh), Number(mm), Number(ss), offset);
}

function parseIso(text: string): Date | undefined {
  const m = ISO8601.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, hh = '0', mm = '0', ss = '0', frac, zone] = m;
  const offset = zone === undefined ? 0 : zoneOffset(zone.toUpperCase());
  if (offset === undefined) return undefined;
  const date = fromParts(Number(y), Number(mo) - 1, Number(d), Number(hh), Number(mm), Number(ss), offset);
  if (date && frac) date.setTime(date.getTime() + Math.round(Number(frac) * 1000));
  return date;
}

function zoneOffset(zone: string): number | undefined {
  const numeric = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  if (numeric) {
    const minutes = Number(numeric[2]) * 60 + Number(numeric[3] ?? 0);
    return numeric[1] === '-' ? -minutes : minutes;
  }
  return ZONES[zone.toUpperCase()];
}

/** A UTC instant from calendar parts; undefined when a part is out of range (no rollover). */
function fromParts(year: number, month: number, day: number, hh: number, mm: number, ss: number, offsetMin: number): Date | undefined {
  if (day < 1 || day > 31 || hh > 24 || mm > 59 || ss > 60) return undefined;
  const ms = Date.UTC(year, month, day, hh, mm, Math.min(ss, 59));
  const check = new Date(Date.UTC(year, month, day));
  if (check.getUTCMonth() !== month) return undefined; // 31 Feb and friends
  return new Date(ms - offsetMin * 60_000);
}

/** `itunes:duration`: seconds ("3725", "3725.5"), "MM:SS" or "HH:MM:SS". Undefined otherwise. */
export function parseDuration(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text));
  const m = /^(?:(\d+):)?(\d{1,3}):(\d{1,2})(\.\d+)?$/.exec(text);
  if (!m) return undefined;
  const [, h = '0', mm, ss] = m;
  if (Number(ss) > 59 || (m[1] !== undefined && Number(mm) > 59)) return undefined;
  return Number(h) * 3600 + Number(mm) * 60 + Number(ss);
}
