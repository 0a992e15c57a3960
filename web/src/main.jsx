// The krond web console: one page served by `krond console` at /, routed by the URL's hash
// (#/jobs, #/jobs/NAME, #/runs, #/dead, #/clusters) so the server only ever serves
// index.html and two files. See docs/console.md.
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';
import './style.css';
import {api, describeError, getToken, get, onReachability, onUnauthorized, setToken} from './api.js';
import {JobsPage} from './jobs.jsx';
import {JobPage} from './job.jsx';
import {RunsPage} from './runs.jsx';
import {DeadPage} from './dead.jsx';
import {ClustersPage} from './clusters.jsx';
import {parseHash} from './route.js';

function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const update = () => setRoute(parseHash());
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}

const PAGES = [
  ['jobs', 'Jobs'],
  ['runs', 'Runs'],
  ['dead', 'Dead letters'],
  ['clusters', 'Clusters'],
];

function SignIn({error, onSignedIn}) {
  const [token, setTokenText] = useState('');
  const [problem, setProblem] = useState(error);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const who = await api('GET', '/whoami', undefined, token.trim());
      setToken(token.trim());
      onSignedIn(who);
    } catch (err) {
      setProblem(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Sign in to the krond console</h1>
      <form onSubmit={submit}>
        <p>
          <label for="token">API token</label>
          <input
            id="token"
            type="password"
            autocomplete="current-password"
            required
            value={token}
            onInput={(e) => setTokenText(e.currentTarget.value)}
          />
        </p>
        <p class="muted">
          The token is kept in this browser tab only (sessionStorage) and sent as a bearer token to
          the console's API. Ask the console's operator for one (docs/api.md, "Auth").
        </p>
        {problem && (
          <p class="error" role="alert">
            {describeError(problem)}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

// The banner: the console not answering, or Kafka unreachable (from /api/v1/health, polled).
function useHealthBanner(signedIn) {
  const [consoleDown, setConsoleDown] = useState(false);
  const [kafka, setKafka] = useState(null);
  useEffect(() => onReachability((ok) => setConsoleDown(!ok)), []);
  useEffect(() => {
    if (!signedIn) return undefined;
    let stopped = false;
    const poll = async () => {
      try {
        const health = await get('/health');
        if (!stopped) setKafka(health.kafka || null);
      } catch (e) {
        // Shown through reachability or the page's own error.
      }
    };
    poll();
    const id = setInterval(poll, 5000);
    return () => {
      stopped = true;
      clearInterval(id);
    };
  }, [signedIn]);
  if (consoleDown) {
    return 'The console is not answering; retrying. What is shown may be out of date.';
  }
  if (kafka && kafka.reachable === false) {
    return `Kafka is unreachable (${kafka.last_error || 'no answer'}): history may lag and Run now, Pause, Resume and Replay will fail until it is back.`;
  }
  return '';
}

function App() {
  const route = useRoute();
  const [who, setWho] = useState(null);
  const [authError, setAuthError] = useState(null);
  const [checking, setChecking] = useState(true);
  const banner = useHealthBanner(!!who);

  useEffect(() => {
    // Without a token a console started without --auth-file still answers (anonymous).
    get('/whoami')
      .then(setWho)
      .catch((e) => {
        if (getToken() || e.status !== 401) setAuthError(e);
        setToken('');
      })
      .finally(() => setChecking(false));
    return onUnauthorized(() => {
      setToken('');
      setWho(null);
      setAuthError(new Error('Your token is no longer accepted: sign in again.'));
    });
  }, []);

  if (checking) return <main id="main" aria-busy="true" />;
  if (!who) return <SignIn error={authError} onSignedIn={(w) => (setWho(w), setAuthError(null))} />;

  const [page = 'jobs', ...rest] = route.parts;
  const operator = who.role === 'operator';
  let content;
  if (page === 'jobs' && rest.length) content = <JobPage name={rest[0]} operator={operator} />;
  else if (page === 'jobs') content = <JobsPage params={route.params} />;
  else if (page === 'runs') content = <RunsPage params={route.params} />;
  else if (page === 'dead') content = <DeadPage params={route.params} operator={operator} />;
  else if (page === 'clusters') content = <ClustersPage />;
  else content = <p>No such page. Go to the <a href="#/jobs">jobs</a>.</p>;

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main').focus())}>
        Skip to content
      </a>
      <header>
        <span class="brand">krond</span>
        <nav aria-label="Main">
          <ul>
            {PAGES.map(([id, label]) => (
              <li key={id}>
                <a href={`#/${id}`} aria-current={page === id ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          <span>
            {who.name} <span class={`badge role-${who.role}`}>{who.role}</span>
          </span>
          {who.auth && (
            <button
              type="button"
              onClick={() => {
                setToken('');
                setWho(null);
              }}
            >
              Sign out
            </button>
          )}
        </span>
      </header>
      {banner && (
        <div class="banner" role="alert">
          {banner}
        </div>
      )}
      <main id="main" tabIndex={-1}>
        {content}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app'));
