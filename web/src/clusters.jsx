// Clusters: live health per cluster from GET /api/v1/health (the console's window over the
// results it reads), and links to Grafana and Prometheus' alerts when the console was given
// their URLs (--grafana-url, --prometheus-url).
import {useEffect, useState} from 'preact/hooks';
import {get} from './api.js';
import {ErrorNote, Head} from './components.jsx';
import {absolute, ago, percent} from './format.js';
import {href} from './route.js';

export function ClustersPage() {
  const [health, setHealth] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let current = true;
    const load = () =>
      get('/health')
        .then((h) => current && (setHealth(h), setError(null)))
        .catch((e) => current && setError(e));
    load();
    const id = setInterval(load, 5000);
    return () => {
      current = false;
      clearInterval(id);
    };
  }, []);
  return (
    <>
      <h1>Clusters</h1>
      <ErrorNote error={error} />
      {health && (
        <>
          <p class="muted">
            Over the last {Math.round(health.window_seconds / 60)} minutes of results; newest result{' '}
            {health.last_result_at ? `${ago(health.last_result_at)} (${absolute(health.last_result_at)})` : 'none yet'}.
          </p>
          {(health.grafana_url || health.prometheus_url) && (
            <ul class="links">
              {health.grafana_url && (
                <li>
                  <a href={health.grafana_url} rel="noopener noreferrer" target="_blank">
                    Grafana dashboard
                  </a>
                </li>
              )}
              {health.prometheus_url && (
                <li>
                  <a href={`${health.prometheus_url.replace(/\/$/, '')}/alerts`} rel="noopener noreferrer" target="_blank">
                    Prometheus alerts
                  </a>
                </li>
              )}
            </ul>
          )}
          {health.clusters.length === 0 ? (
            <p class="muted">No results read yet.</p>
          ) : (
            <div class="scroll">
              <table>
                <caption class="visually-hidden">Health per cluster</caption>
                <Head columns={['Cluster', 'Workers seen', 'Runs/s', 'Failure rate', 'Lateness p99', 'Paused jobs', 'Dead letters']} />
                <tbody>
                  {health.clusters.map((c) => (
                    <tr key={c.cluster}>
                      <th scope="row">
                        <a href={href(['jobs'], {cluster: c.cluster})}>{c.cluster}</a>
                      </th>
                      <td>
                        {c.workers.length}
                        {c.workers.length > 0 && <span class="sub">{c.workers.join(', ')}</span>}
                      </td>
                      <td class="num">{c.runs_per_second.toFixed(2)}</td>
                      <td class={`num ${c.failure_rate > 0.1 ? 'bad' : ''}`}>{percent(c.failure_rate)}</td>
                      <td class="num">{c.lateness_p99_ms === null ? '—' : `≤ ${c.lateness_p99_ms.toLocaleString('en')} ms`}</td>
                      <td class="num">
                        {c.paused_jobs > 0 ? <a href={href(['jobs'], {cluster: c.cluster, outcome: 'paused'})}>{c.paused_jobs}</a> : 0}
                      </td>
                      <td>
                        <a href={href(['dead'], {cluster: c.cluster})}>dead letters<span class="visually-hidden"> of {c.cluster}</span></a>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </>
  );
}
