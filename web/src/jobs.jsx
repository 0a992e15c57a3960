// Jobs: every job of the catalog, a page at a time from the server (GET /api/v1/jobs is
// keyset-paginated, so the 100,000th job costs what the first does). Filters and sort live
// in the URL: a filtered view can be bookmarked and shared.
import {useEffect, useState} from 'preact/hooks';
import {get, query} from './api.js';
import {ErrorNote, Outcome, Pager, PausedBadge, Strip, When, useCursors, useNow} from './components.jsx';
import {ago, percent} from './format.js';
import {href} from './route.js';

const PAGE_SIZE = 50;
const OUTCOMES = ['succeeded', 'failed', 'timed_out', 'killed', 'spawn_failed', 'cancelled', 'invalid', 'skipped'];
const SORTS = {name: 'Name', cluster: 'Cluster', last_run: 'Last run', success_rate: 'Success rate'};

function setParams(params) {
  location.replace(href(['jobs'], params));
}

function SortHeader({id, params, children}) {
  const sort = params.sort || 'name';
  const desc = params.order === 'desc';
  const active = sort === id;
  const next = {...params, sort: id, order: active && !desc ? 'desc' : ''};
  return (
    <th scope="col" aria-sort={active ? (desc ? 'descending' : 'ascending') : undefined}>
      <button type="button" class="sort" onClick={() => setParams(next)}>
        {children}
        <span aria-hidden="true">{active ? (desc ? ' ▼' : ' ▲') : ''}</span>
      </button>
    </th>
  );
}

function useClusters() {
  const [clusters, setClusters] = useState([]);
  useEffect(() => {
    get('/health')
      .then((h) => setClusters(h.clusters.map((c) => c.cluster)))
      .catch(() => {});
  }, []);
  return clusters;
}

export function JobsPage({params}) {
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [search, setSearch] = useState(params.name || '');
  const clusters = useClusters();
  const now = useNow();
  const filterKey = JSON.stringify([params.name, params.cluster, params.outcome, params.sort, params.order]);
  // A new filter or sort starts from the first page.
  const paging = useCursors(filterKey);
  const cursor = paging.cursor;
  // The page refreshes itself, so outcomes and next runs stay current on a wall screen.
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => setTick((n) => n + 1), 10000);
    return () => clearInterval(id);
  }, []);

  useEffect(() => {
    let current = true;
    const q = query({
      name: params.name,
      cluster: params.cluster,
      outcome: params.outcome,
      sort: params.sort,
      order: params.order,
      limit: PAGE_SIZE,
      cursor,
    });
    get(`/jobs${q}`)
      .then((p) => current && (setPage(p), setError(null)))
      .catch((e) => current && setError(e));
    return () => {
      current = false;
    };
  }, [filterKey, cursor, tick]);
  // The search box filters as one types, once typing pauses.
  useEffect(() => {
    if (search === (params.name || '')) return undefined;
    const id = setTimeout(() => setParams({...params, name: search}), 300);
    return () => clearTimeout(id);
  }, [search]);

  const first = (paging.number - 1) * PAGE_SIZE;
  return (
    <>
      <h1>Jobs</h1>
      <form class="filters" role="search" onSubmit={(e) => (e.preventDefault(), setParams({...params, name: search}))}>
        <p>
          <label for="job-search">Name contains</label>
          <input id="job-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </p>
        <p>
          <label for="job-cluster">Cluster</label>
          <input
            id="job-cluster"
            list="job-clusters"
            value={params.cluster || ''}
            onChange={(e) => setParams({...params, cluster: e.currentTarget.value.trim()})}
          />
          <datalist id="job-clusters">
            {clusters.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        </p>
        <p>
          <label for="job-outcome">Last outcome</label>
          <select id="job-outcome" value={params.outcome || ''} onChange={(e) => setParams({...params, outcome: e.currentTarget.value})}>
            <option value="">any</option>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o.replace('_', ' ')}
              </option>
            ))}
            <option value="paused">paused</option>
            <option value="never">never run</option>
          </select>
        </p>
        <p>
          <label for="job-sort">Sort by</label>
          <select id="job-sort" value={params.sort || 'name'} onChange={(e) => setParams({...params, sort: e.currentTarget.value})}>
            {Object.entries(SORTS).map(([id, label]) => (
              <option key={id} value={id}>
                {label}
              </option>
            ))}
          </select>
        </p>
      </form>
      <ErrorNote error={error} />
      {page && (
        <>
          <p class="count" role="status">
            {page.total === 0
              ? 'No job matches.'
              : `Jobs ${first + 1}–${first + page.jobs.length} of ${page.total.toLocaleString('en')}`}
          </p>
          <div class="scroll">
            <table class="jobs">
              <caption class="visually-hidden">Jobs, {SORTS[params.sort || 'name']} order</caption>
              <thead>
                <tr>
                  <SortHeader id="name" params={params}>Name</SortHeader>
                  <SortHeader id="cluster" params={params}>Cluster</SortHeader>
                  <th scope="col">Schedule</th>
                  <th scope="col">Next run</th>
                  <SortHeader id="last_run" params={params}>Last run</SortHeader>
                  <th scope="col">Last 20</th>
                  <SortHeader id="success_rate" params={params}>Success</SortHeader>
                </tr>
              </thead>
              <tbody>
                {page.jobs.map((j) => (
                  <tr key={j.name} class={j.paused ? 'paused' : ''}>
                    <th scope="row">
                      <a href={href(['jobs', j.name])}>{j.name}</a> <PausedBadge job={j} />
                      {!j.in_catalog && <span class="badge outcome-other">removed</span>}
                    </th>
                    <td>{j.cluster}</td>
                    <td>
                      <code>{j.schedule}</code>
                      <span class="sub">{j.description}</span>
                    </td>
                    <td>{j.paused ? <span class="muted">paused</span> : <When iso={j.next[0]} zone={j.timezone} now={now} />}</td>
                    <td>
                      <Outcome outcome={j.last_run && j.last_run.outcome} />
                      {j.last_run && <span class="sub">{ago(j.last_run.started_at, now)}</span>}
                    </td>
                    <td>
                      <Strip recent={j.recent} />
                    </td>
                    <td class="num">{percent(j.success_rate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager label="Job pages" paging={paging} next={page.next_cursor}>
            Page {paging.number} of {Math.max(1, Math.ceil(page.total / PAGE_SIZE)).toLocaleString('en')}
          </Pager>
        </>
      )}
    </>
  );
}
