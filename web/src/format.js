// Times, durations and outcomes as the pages show them. Times come from the API in UTC
// (RFC 3339) and are shown in the viewer's zone and, where it matters, the job's.

const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
export {viewerZone};

const formats = new Map();
function formatter(zone) {
  let f = formats.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-GB', {
        timeZone: zone,
        year: 'numeric',
        month: 'short',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hour12: false,
        timeZoneName: 'short',
      });
    } catch (e) {
      f = formatter('UTC');
    }
    formats.set(zone, f);
  }
  return f;
}

// "05 Mar 2026, 14:30:00 CET" in `zone` (the viewer's by default); "—" without a time.
export function absolute(iso, zone = viewerZone) {
  if (!iso) return '—';
  return formatter(zone).format(new Date(iso));
}

const relativeFormat = new Intl.RelativeTimeFormat('en', {numeric: 'auto'});
const units = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

// "in 3 minutes", "5 seconds ago"; `now` in ms since the epoch.
export function relative(iso, now = Date.now()) {
  if (!iso) return '—';
  const seconds = (new Date(iso).getTime() - now) / 1000;
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === 'second') {
      return relativeFormat.format(Math.round(seconds / size), unit);
    }
  }
  return '—';
}

// "5 seconds ago" for an event that has happened: never "in 1 second" when the server's clock
// is a little ahead of the viewer's, or when `now` was taken before the data arrived.
export function ago(iso, now = Date.now()) {
  return iso ? relative(iso, Math.max(now, new Date(iso).getTime())) : '—';
}

// "1 run", "20 runs".
export function runCount(n) {
  return `${n.toLocaleString('en')} ${n === 1 ? 'run' : 'runs'}`;
}

// "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min".
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 10) return `${Number(ms.toFixed(1))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function percent(rate) {
  if (rate === null || rate === undefined) return '—';
  return `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)} %`;
}

// Outcomes that count as bad: shown in red and counted as failures in the strips.
export const FAILED = new Set(['failed', 'timed_out', 'killed', 'spawn_failed', 'invalid', 'dead']);

export function outcomeClass(outcome) {
  if (!outcome) return 'outcome-none';
  if (outcome === 'succeeded') return 'outcome-ok';
  if (FAILED.has(outcome)) return 'outcome-bad';
  if (outcome === 'pending' || outcome === 'retrying') return 'outcome-pending';
  return 'outcome-other';
}

export function outcomeText(outcome) {
  return outcome ? outcome.replace('_', ' ') : 'never run';
}
