// RFC 5322 §3.3 date-time to a timestamp, accepting the obsolete forms (§4.3):
// two-digit years, named zones, missing seconds or weekday, comments.

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };
const ZONES: Record<string, number> = { ut: 0, utc: 0, gmt: 0, z: 0, edt: -240, est: -300, cdt: -300, cst: -360, mdt: -360, mst: -420, pdt: -420, pst: -480 };

const DATE_RE = /^(?:[A-Za-z]+\s*,?\s*)?(\d{1,2})\s*[- ]?\s*([A-Za-z]{3})[a-z]*\s*[- ]?\s*(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?(?:\.\d+)?\s*([+-]\d{4}|[A-Za-z]{1,5})?/;

/**
 * Milliseconds since the epoch, or null when the value is not a date. Years below 50 are
 * 20xx, other two-digit years 19xx; unknown zones are treated as -0000 (UTC, §4.3).
 */
export function parseDate(value: string | undefined): number | null {
  if (!value) return null;
  const text = value.replace(/\([^()]*\)/g, ' ').trim();
  const m = DATE_RE.exec(text);
  if (!m) return null;
  const day = Number(m[1]);
  const month = MONTHS[m[2]!.toLowerCase()];
  let year = Number(m[3]);
  if (month === undefined) return null;
  if (m[3]!.length <= 2) year += year < 50 ? 2000 : 1900;
  else if (m[3]!.length === 3) year += 1900;
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] ? Number(m[6]) : 0;
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  let offset = 0;
  const zone = m[7];
  if (zone && (zone[0] === '+' || zone[0] === '-')) {
    const sign = zone[0] === '-' ? -1 : 1;
    offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)));
  } else if (zone) {
    offset = ZONES[zone.toLowerCase()] ?? 0;
  }
  return Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offset * 60_000;
}

/** RFC 5322 date-time for `Date:` headers, e.g. `Sun, 29 Nov 2026 14:11:36 +0000`. */
export function formatDate(date: Date = new Date()): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${days[date.getUTCDay()]}, ${date.getUTCDate()} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}
