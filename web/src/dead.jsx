// Dead letters: runs that exhausted their attempts, per cluster, with the reason and the last
// result; operators can replay one (a new attempt with trigger "replay", docs/retries.md).
import {useEffect, useState} from 'preact/hooks';
import {get, post, query} from './api.js';
import {Confirm, ErrorNote, Outcome} from './components.jsx';
import {absolute} from './format.js';
import {href} from './route.js';

export function DeadPage({params, operator}) {
  const [dead, setDead] = useState(null);
  const [clusters, setClusters] = useState([]);
  const [error, setError] = useState(null);
  const [asking, setAsking] = useState(null);
  const [result, setResult] = useState(null);
  const [refresh, setRefresh] = useState(0);
  const cluster = params.cluster || '';
  useEffect(() => {
    get('/health')
      .then((h) => setClusters(h.clusters.map((c) => c.cluster)))
      .catch(() => {});
  }, []);
  useEffect(() => {
    let current = true;
    get(`/dead${query({cluster, limit: 200})}`)
      .then((d) => current && (setDead(d.dead), setError(null)))
      .catch((e) => current && setError(e));
    return () => {
      current = false;
    };
  }, [cluster, refresh]);
  const replay = async (entry) => {
    setError(null);
    setResult(null);
    try {
      const r = await post(`/dead/${encodeURIComponent(entry.cluster)}/${encodeURIComponent(entry.run_id)}/replay${entry.replayed ? '?again=true' : ''}`);
      setResult(`Replay of ${r.job} requested by ${r.requested_by}: run ${r.run_id} is on its way.`);
      setRefresh((n) => n + 1);
    } catch (e) {
      setError(e);
    }
  };
  const options = Array.from(new Set([...clusters, ...(cluster ? [cluster] : [])])).sort();
  return (
    <>
      <h1>Dead letters</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <p>
          <label for="dead-cluster">Cluster</label>
          <select id="dead-cluster" value={cluster} onChange={(e) => location.replace(href(['dead'], {cluster: e.currentTarget.value}))}>
            <option value="">every cluster</option>
            {options.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </p>
      </form>
      <div role="status" class="result">
        {result}
      </div>
      <ErrorNote error={error} />
      {dead && dead.length === 0 && <p class="muted">No dead letters{cluster ? ` in ${cluster}` : ''}.</p>}
      {dead && dead.length > 0 && (
        <div class="scroll">
          <table>
            <caption class="visually-hidden">Dead letters, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Cluster</th>
                <th scope="col">Dead since</th>
                <th scope="col">Last outcome</th>
                <th scope="col">Reason</th>
                <th scope="col">Replayed</th>
                {operator && <th scope="col">Action</th>}
              </tr>
            </thead>
            <tbody>
              {dead.map((d) => (
                <tr key={d.position}>
                  <th scope="row">
                    <a href={href(['jobs', d.job])}>{d.job}</a>
                    <code class="id sub">{d.run_id}</code>
                  </th>
                  <td>{d.cluster}</td>
                  <td>{absolute(d.finished_at)}</td>
                  <td>
                    <Outcome outcome={d.last_outcome} />
                  </td>
                  <td>{d.reason}</td>
                  <td>{d.replayed ? `by ${d.replayed_by}, ${absolute(d.replayed_at)}` : 'no'}</td>
                  {operator && (
                    <td>
                      <button type="button" onClick={() => setAsking(d)}>
                        {d.replayed ? 'Replay again…' : 'Replay…'}
                        <span class="visually-hidden"> run {d.run_id} of {d.job}</span>
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {asking && (
        <Confirm
          title={`Replay ${asking.job}?`}
          message={`Run ${asking.run_id} goes back to cluster ${asking.cluster} for one more attempt.${asking.replayed ? ` It was already replayed by ${asking.replayed_by}.` : ''}`}
          confirmLabel="Replay"
          onConfirm={() => replay(asking)}
          onClose={() => setAsking(null)}
        />
      )}
    </>
  );
}
