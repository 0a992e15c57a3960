// Runs: the live feed of results from every cluster (server-sent events), newest first,
// filterable; failed and late runs stand out (colour, a word and a bold row, not colour
// alone).
import {useEffect, useMemo, useState} from 'preact/hooks';
import {subscribe} from './api.js';
import {Outcome, Head} from './components.jsx';
import {FAILED, absolute, duration} from './format.js';
import {href} from './route.js';

const KEEP = 500;
const LATE_MS = 10000;

export function RunsPage({params}) {
  const [results, setResults] = useState([]);
  const [status, setStatus] = useState('closed');
  const [filter, setFilter] = useState({job: params.job || '', cluster: params.cluster || '', only: params.only || ''});
  useEffect(
    () =>
      subscribe(
        (type, data) => {
          if (type !== 'result') return;
          setResults((old) => [{...data, received: Date.now()}, ...old].slice(0, KEEP));
        },
        setStatus,
      ),
    [],
  );
  const shown = useMemo(
    () =>
      results.filter(
        (r) =>
          (!filter.job || r.job.includes(filter.job)) &&
          (!filter.cluster || r.cluster === filter.cluster) &&
          (filter.only !== 'failed' || FAILED.has(r.outcome)) &&
          (filter.only !== 'late' || r.lateness_ms >= LATE_MS),
      ),
    [results, filter],
  );
  const set = (key) => (e) => setFilter({...filter, [key]: e.currentTarget.value.trim()});
  return (
    <>
      <h1>Runs</h1>
      <p class="muted">
        Results as workers report them, across every cluster; the newest {KEEP} are kept while this page is open. A run is late when it
        started {LATE_MS / 1000} s or more after its scheduled time.
      </p>
      <p class={`stream stream-${status}`} role="status">
        {status === 'open' ? 'Live: connected.' : status === 'retrying' ? 'Live feed interrupted: reconnecting…' : 'Connecting…'}
      </p>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <p>
          <label for="runs-job">Job contains</label>
          <input id="runs-job" type="search" value={filter.job} onInput={set('job')} />
        </p>
        <p>
          <label for="runs-cluster">Cluster</label>
          <input id="runs-cluster" value={filter.cluster} onInput={set('cluster')} />
        </p>
        <p>
          <label for="runs-only">Show</label>
          <select id="runs-only" value={filter.only} onChange={set('only')}>
            <option value="">all runs</option>
            <option value="failed">failed only</option>
            <option value="late">late only</option>
          </select>
        </p>
      </form>
      <div class="scroll">
        <table class="feed">
          <caption class="visually-hidden">Live results, newest first</caption>
          <Head columns={['Finished', 'Job', 'Cluster', 'Attempt', 'Outcome', 'Start lateness', 'Trigger', 'Worker']} />
          <tbody aria-live="off">
            {shown.map((r) => {
              const failed = FAILED.has(r.outcome);
              const late = r.lateness_ms >= LATE_MS;
              return (
                <tr key={`${r.run_id}-${r.attempt}`} class={`${failed ? 'row-failed' : ''} ${late ? 'row-late' : ''}`}>
                  <td>{absolute(r.finished_at)}</td>
                  <th scope="row">
                    <a href={href(['jobs', r.job])}>{r.job}</a>
                  </th>
                  <td>{r.cluster}</td>
                  <td class="num">{r.attempt}</td>
                  <td>
                    <Outcome outcome={r.outcome} />
                  </td>
                  <td class="num">
                    {duration(r.lateness_ms)}
                    {late && <span class="badge badge-late">late</span>}
                  </td>
                  <td>{r.trigger}</td>
                  <td>{r.worker}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {shown.length === 0 && <p class="muted">{results.length ? 'No result matches the filters.' : 'Waiting for results…'}</p>}
    </>
  );
}
