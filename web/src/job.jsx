// Job: its definition, next fire times, actions (operators only), the duration chart, the run
// history with every attempt, and the pause/resume audit trail.
import {useEffect, useState} from 'preact/hooks';
import {get, post, query, subscribe} from './api.js';
import {Confirm, DurationChart, ErrorNote, Outcome, Pager, PausedBadge, When, useCursors, useNow, Head} from './components.jsx';
import {absolute, duration, percent, runCount, viewerZone} from './format.js';
import {href} from './route.js';

const RUNS_PAGE = 50;
const path = (name) => `/jobs/${encodeURIComponent(name)}`;

// {"backoff_ms":2000,"multiplier":2,"max_backoff_ms":300000,"jitter":0.2,"retry_on":[...]}
// as "backoff 2.00 s ×2 up to 5 min 00 s, jitter 20 %, on failed, timed out".
function retryText(r) {
  const parts = [];
  if (r.backoff_ms !== undefined) {
    parts.push(`backoff ${duration(r.backoff_ms)}${r.multiplier ? ` ×${r.multiplier}` : ''}${r.max_backoff_ms ? ` up to ${duration(r.max_backoff_ms)}` : ''}`);
  }
  if (r.jitter) parts.push(`jitter ${Math.round(r.jitter * 100)} %`);
  if (r.retry_on && r.retry_on.length) parts.push(`on ${r.retry_on.map((o) => o.replace('_', ' ')).join(', ')}`);
  return parts.join(', ') || JSON.stringify(r);
}

function Definition({job}) {
  const task = (job.definition && job.definition.task) || {};
  const rows = [
    ['Cluster', job.cluster],
    ['Schedule', <><code>{job.schedule}</code> — {job.description}</>],
    ['Time zone', job.timezone],
    ['Catch-up after a pause or outage', job.catch_up || '—'],
    ['Command', task.command !== undefined ? <code class="command">{task.command}</code> : '—'],
  ];
  const fields = [
    ['Timeout', 'timeout_ms', duration],
    ['Starting deadline', 'starting_deadline_ms', duration],
    ['Attempts at most', 'max_attempts', String],
    ['Concurrency', 'concurrency', String],
    ['Sandbox', 'sandbox', String],
    ['Network in the sandbox', 'network', (v) => (v ? 'yes' : 'no')],
    ['Retry', 'retry', retryText],
  ];
  for (const [label, key, show] of fields) {
    if (task[key] !== undefined && task[key] !== null) rows.push([label, show(task[key])]);
  }
  return (
    <section aria-labelledby="definition">
      <h2 id="definition">Definition</h2>
      <dl class="definition">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {job.definition && (
        <details>
          <summary>Catalog record (JSON)</summary>
          <pre class="output">{JSON.stringify(job.definition, null, 2)}</pre>
        </details>
      )}
    </section>
  );
}

function NextFires({job}) {
  const sameZone = job.timezone === viewerZone;
  return (
    <section aria-labelledby="next-fires">
      <h2 id="next-fires">Next {job.next.length} fire times</h2>
      {job.paused && <p class="warning">Paused: these fires will be skipped until the job is resumed.</p>}
      {job.next.length === 0 ? (
        <p class="muted">None (the job is not in the catalog, or its schedule never fires again).</p>
      ) : (
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">Your time ({viewerZone})</th>
              {!sameZone && <th scope="col">Job's time ({job.timezone})</th>}
            </tr>
          </thead>
          <tbody>
            {job.next.map((t) => (
              <tr key={t}>
                <td>
                  <time datetime={t}>{absolute(t)}</time>
                </td>
                {!sameZone && <td>{absolute(t, job.timezone)}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Attempts({run}) {
  return (
    <table class="compact attempts">
      <caption>Attempts of run {run.run_id}</caption>
      <Head columns={['#', 'Worker', 'Queue', 'Started', 'Duration', 'Exit code', 'Outcome']} />
      <tbody>
        {run.attempts.map((a) => [
          <tr key={a.attempt}>
            <td>{a.attempt}</td>
            <td>{a.worker}</td>
            <td>{a.queue}</td>
            <td>{absolute(a.started_at)}</td>
            <td class="num">{duration(a.duration_ms)}</td>
            <td class="num">{a.exit_code !== null ? a.exit_code : a.signal !== null ? `signal ${a.signal}` : '—'}</td>
            <td>
              <Outcome outcome={a.outcome} />
            </td>
          </tr>,
          <tr key={`${a.attempt}-out`} class="output-row">
            <td colSpan={7}>
              {a.error && <p class="error-text">{a.error}</p>}
              <p class="sub">
                Output tail ({a.output_bytes.toLocaleString('en')} bytes written in all):
              </p>
              <pre class="output" tabIndex={0}>{a.output_tail || '(no output)'}</pre>
            </td>
          </tr>,
        ])}
      </tbody>
    </table>
  );
}

function RunRow({run, open, onToggle}) {
  const late = run.attempts.length && run.started_at && run.scheduled_at
    ? new Date(run.attempts[0].started_at) - new Date(run.scheduled_at)
    : null;
  return [
    <tr key={run.run_id} class={open ? 'open' : ''}>
      <td>
        <button type="button" class="link" aria-expanded={open ? 'true' : 'false'} onClick={onToggle}>
          {absolute(run.scheduled_at)}
        </button>
      </td>
      <td>
        <Outcome outcome={run.status} />
      </td>
      <td>{run.trigger}{run.requested_by ? ` by ${run.requested_by}` : ''}</td>
      <td class="num">{run.attempts.length}</td>
      <td class="num">{duration(run.duration_ms)}</td>
      <td class="num">{late === null ? '—' : duration(late)}</td>
      <td><code class="id">{run.run_id}</code></td>
    </tr>,
    open && (
      <tr key={`${run.run_id}-detail`} class="detail">
        <td colSpan={7}>{run.attempts.length ? <Attempts run={run} /> : <p class="muted">No attempt has finished yet.</p>}</td>
      </tr>
    ),
  ];
}

function History({name, refresh}) {
  const paging = useCursors(name);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [open, setOpen] = useState(new Set());
  const before = paging.cursor;
  useEffect(() => {
    let current = true;
    get(`${path(name)}/runs${query({limit: RUNS_PAGE, before})}`)
      .then((p) => current && (setPage(p), setError(null)))
      .catch((e) => current && setError(e));
    return () => {
      current = false;
    };
  }, [name, before, refresh]);
  const toggle = (id) => {
    const next = new Set(open);
    next.has(id) ? next.delete(id) : next.add(id);
    setOpen(next);
  };
  return (
    <section aria-labelledby="history">
      <h2 id="history">Run history</h2>
      <ErrorNote error={error} />
      {page && page.runs.length === 0 && <p class="muted">No runs yet.</p>}
      {page && page.runs.length > 0 && (
        <>
          <div class="scroll">
            <table class="runs">
              <caption class="visually-hidden">Runs, newest first; choose a run's time to see its attempts and output</caption>
              <Head columns={['Scheduled', 'Status', 'Trigger', 'Attempts', 'Duration', 'Start lateness', 'Run id']} />
              <tbody>
                {page.runs.map((r) => (
                  <RunRow key={r.run_id} run={r} open={open.has(r.run_id)} onToggle={() => toggle(r.run_id)} />
                ))}
              </tbody>
            </table>
          </div>
          <Pager label="Run history pages" paging={paging} next={page.next_before}>
            Page {paging.number}
          </Pager>
        </>
      )}
    </section>
  );
}

function AuditTrail({control}) {
  return (
    <section aria-labelledby="audit">
      <h2 id="audit">Pause and resume history</h2>
      {control.length === 0 ? (
        <p class="muted">Never paused.</p>
      ) : (
        <table class="compact">
          <Head columns={['When', 'Action', 'By', 'Reason']} />
          <tbody>
            {control.map((c) => (
              <tr key={`${c.at}-${c.paused}`}>
                <td>{absolute(c.at)}</td>
                <td>{c.paused ? 'paused' : 'resumed'}</td>
                <td>{c.by}</td>
                <td>{c.reason || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

// Run now, Pause and Resume: each asks first, then says what happened (role=status).
function Actions({job, onDone}) {
  const [asking, setAsking] = useState(null);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const act = async (what, reason) => {
    setError(null);
    setResult(null);
    try {
      if (what === 'run') {
        const r = await post(`${path(job.name)}/run`);
        setResult(`Run ${r.run_id} requested by ${r.requested_by}: it is on its way to cluster ${r.cluster} and will appear in the history below.`);
      } else if (what === 'pause') {
        const r = await post(`${path(job.name)}/pause`, {reason});
        setResult(`Paused by ${r.by}: fires of ${job.name} are skipped until it is resumed.`);
      } else {
        const r = await post(`${path(job.name)}/resume`);
        setResult(`Resumed by ${r.by}: ${job.name} fires again from its next scheduled time.`);
      }
      onDone(what);
    } catch (e) {
      setError(e);
    }
  };
  const dialogs = {
    run: {title: `Run ${job.name} now?`, message: `One run of ${job.name} goes to cluster ${job.cluster} now, as if it were due, with the job's retry and concurrency policy.`, confirmLabel: 'Run now'},
    pause: {title: `Pause ${job.name}?`, message: 'Its fires are skipped (and counted) until it is resumed. Runs already sent still run.', confirmLabel: 'Pause', reason: 'Reason (kept in the audit trail)'},
    resume: {title: `Resume ${job.name}?`, message: 'It fires again from its next scheduled time; fires skipped while it was paused are not made up (like a Kubernetes CronJob after suspend).', confirmLabel: 'Resume'},
  };
  return (
    <section class="actions" aria-label="Actions">
      <button type="button" class="primary" onClick={() => setAsking('run')} disabled={!job.in_catalog}>
        Run now
      </button>
      {job.paused ? (
        <button type="button" onClick={() => setAsking('resume')}>
          Resume
        </button>
      ) : (
        <button type="button" onClick={() => setAsking('pause')} disabled={!job.in_catalog}>
          Pause…
        </button>
      )}
      <div role="status" class="result">
        {result}
      </div>
      <ErrorNote error={error} />
      {asking && (
        <Confirm {...dialogs[asking]} onConfirm={(reason) => act(asking, reason)} onClose={() => setAsking(null)} />
      )}
    </section>
  );
}

export function JobPage({name, operator}) {
  const [job, setJob] = useState(null);
  const [series, setSeries] = useState([]);
  const [error, setError] = useState(null);
  const [refresh, setRefresh] = useState(0);
  const now = useNow();
  useEffect(() => {
    let current = true;
    get(path(name))
      .then((j) => current && (setJob(j), setError(null)))
      .catch((e) => current && setError(e));
    get(`${path(name)}/series?limit=10000`)
      .then((s) => current && setSeries(s.points))
      .catch(() => {});
    return () => {
      current = false;
    };
  }, [name, refresh]);
  // New results and pauses of this job refresh the page, at most every 2 s.
  useEffect(() => {
    let timer = null;
    return subscribe((type, data) => {
      if (data.job !== name || timer) return;
      timer = setTimeout(() => {
        timer = null;
        setRefresh((n) => n + 1);
      }, 2000);
    });
  }, [name]);

  if (error && !job) {
    return (
      <>
        <h1>{name}</h1>
        <ErrorNote error={error} />
        <p>
          <a href={href(['jobs'])}>All jobs</a>
        </p>
      </>
    );
  }
  if (!job) return <h1 aria-busy="true">{name}</h1>;
  return (
    <>
      <p class="crumbs">
        <a href={href(['jobs'])}>Jobs</a> / <a href={href(['jobs'], {cluster: job.cluster})}>{job.cluster}</a>
      </p>
      <h1>
        {job.name} <PausedBadge job={job} />
      </h1>
      <p class="summary">
        Last run: <Outcome outcome={job.last_run && job.last_run.outcome} /> · success {percent(job.success_rate)} over the last {runCount(job.recent.length)} · next fire{' '}
        {job.paused ? 'skipped (paused)' : <When iso={job.next[0]} zone={job.timezone} now={now} inline />}
      </p>
      {job.paused && (
        <p class="warning">
          Paused by {job.paused_by} {job.paused_at && `on ${absolute(job.paused_at)}`}
          {job.pause_reason ? `: ${job.pause_reason}` : ''}
        </p>
      )}
      {operator && <Actions job={job} onDone={() => setRefresh((n) => n + 1)} />}
      <div class="columns">
        <Definition job={job} />
        <NextFires job={job} />
      </div>
      <section aria-labelledby="chart">
        <h2 id="chart">Duration and outcome</h2>
        <DurationChart points={series} />
      </section>
      <History name={name} refresh={refresh} />
      <AuditTrail control={job.control || []} />
    </>
  );
}
