// Small shared pieces of the pages. Everything is rendered through Preact, which sets text
// with text nodes and attributes one by one: a job name or an output tail is never parsed as
// HTML (no dangerouslySetInnerHTML anywhere in the console).
import {useEffect, useRef, useState} from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import {absolute, duration, outcomeClass, outcomeText, relative, runCount, FAILED} from './format.js';
import {describeError} from './api.js';

export function Outcome({outcome}) {
  return <span class={`badge ${outcomeClass(outcome)}`}>{outcomeText(outcome)}</span>;
}

export function PausedBadge({job}) {
  if (!job.paused) return null;
  return (
    <span class="badge badge-paused" title={`paused by ${job.paused_by}${job.pause_reason ? `: ${job.pause_reason}` : ''}`}>
      paused
    </span>
  );
}

// The last outcomes of a job, oldest first, as coloured cells; the list's label says the
// same in words for screen readers.
export function Strip({recent}) {
  if (!recent || !recent.length) return <span class="muted">no runs</span>;
  const failed = recent.filter((r) => FAILED.has(r.outcome)).length;
  const label = `last ${runCount(recent.length)}: ${recent.length - failed} not failed, ${failed} failed`;
  return (
    <ol class="strip" aria-label={label} title={label}>
      {recent.map((r) => (
        <li key={r.run_id} class={outcomeClass(r.outcome)} title={`${r.outcome}, ${absolute(r.started_at)}`} />
      ))}
    </ol>
  );
}

// A time as "in 3 minutes" with the absolute time in the viewer's zone, and in `zone` when
// it differs.
export function When({iso, zone, now, inline}) {
  if (!iso) return <span class="muted">—</span>;
  return (
    <span class={inline ? 'when inline' : 'when'}>
      <time datetime={iso}>{relative(iso, now)}</time>
      <span class="abs">{absolute(iso)}</span>
      {zone && absolute(iso, zone) !== absolute(iso) && <span class="abs">{absolute(iso, zone)} ({zone})</span>}
    </span>
  );
}

// A table's header row of plain column names.
export function Head({columns}) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

export function ErrorNote({error}) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {describeError(error)}
    </p>
  );
}

// A modal confirmation (the native <dialog>: focus stays inside, Escape cancels). With
// `reason`, a text field is asked for first and passed to onConfirm.
export function Confirm({title, message, confirmLabel, reason, onConfirm, onClose}) {
  const ref = useRef(null);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog && dialog.open && dialog.close();
  }, []);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      await onConfirm(text.trim());
    } finally {
      setBusy(false);
      onClose();
    }
  };
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={onClose}>
      <form onSubmit={submit}>
        <h2 id="confirm-title">{title}</h2>
        <p>{message}</p>
        {reason && (
          <p>
            <label for="confirm-reason">{reason}</label>
            <textarea
              id="confirm-reason"
              required
              maxLength={500}
              rows={3}
              value={text}
              onInput={(e) => setText(e.currentTarget.value)}
            />
          </p>
        )}
        <div class="buttons">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

// uPlot gives a lone point a range of years (a day in ms, read as seconds); runs within a
// minute of each other get half a minute on each side instead.
function xRange(u, min, max) {
  const xs = u.data[0];
  if (!xs.length || xs[xs.length - 1] - xs[0] >= 60) return [min, max];
  return [xs[0] - 30, xs[xs.length - 1] + 30];
}

// Run duration over time, failed runs as red points: uPlot on a canvas. The figure's caption
// says what the chart shows in words.
export function DurationChart({points}) {
  const box = useRef(null);
  useEffect(() => {
    if (!box.current || !points.length) return undefined;
    const xs = [];
    const all = [];
    const bad = [];
    for (const p of points) {
      if (p.duration_ms === null || !p.scheduled_at) continue;
      xs.push(new Date(p.scheduled_at).getTime() / 1000);
      all.push(p.duration_ms / 1000);
      bad.push(FAILED.has(p.status) ? p.duration_ms / 1000 : null);
    }
    const width = () => Math.max(300, box.current.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        scales: {x: {time: true, range: xRange}},
        axes: [{}, {size: 70, values: (u, splits) => splits.map((v) => duration(v * 1000))}],
        series: [
          {},
          {label: 'duration', stroke: '#1f4e79', width: 1, points: {show: xs.length < 200}},
          {
            label: 'failed',
            stroke: '#b3261e',
            fill: '#b3261e',
            paths: () => null,
            points: {show: true, size: 7, stroke: '#b3261e', fill: '#b3261e'},
          },
        ],
      },
      [xs, all, bad],
      box.current,
    );
    const observer = new ResizeObserver(() => plot.setSize({width: width(), height: 220}));
    observer.observe(box.current);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [points]);
  if (!points.length) return <p class="muted">No finished runs to chart yet.</p>;
  const done = points.filter((p) => p.duration_ms !== null);
  const failed = points.filter((p) => FAILED.has(p.status)).length;
  const sorted = done.map((p) => p.duration_ms).sort((a, b) => a - b);
  const median = sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
  return (
    <figure class="chart">
      <div ref={box} />
      <figcaption>
        Duration of the last {runCount(points.length)} ({failed} failed, in red); median{' '}
        {duration(median)}.
      </figcaption>
    </figure>
  );
}

// Keyset paging: the stack of cursors of the pages before this one, back to the first page
// whenever `key` (the filters and sort, the job) changes.
export function useCursors(key) {
  const [state, setState] = useState({key, cursors: ['']});
  const cursors = state.key === key ? state.cursors : [''];
  return {
    cursor: cursors[cursors.length - 1],
    number: cursors.length,
    previous: () => setState({key, cursors: cursors.slice(0, -1)}),
    next: (cursor) => setState({key, cursors: [...cursors, cursor]}),
  };
}

// Previous / Next over `paging` (useCursors); `next` is the server's cursor of the next page,
// none on the last.
export function Pager({label, paging, next, children}) {
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" onClick={paging.previous} disabled={paging.number === 1}>
        ← Previous
      </button>
      <span>{children}</span>
      <button type="button" onClick={() => paging.next(next)} disabled={!next}>
        Next →
      </button>
    </nav>
  );
}

// Re-renders every `ms` so relative times stay true.
export function useNow(ms = 15000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}
