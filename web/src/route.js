// The console's URLs: #/PAGE[/NAME][?filters], so the server serves one page and a view can
// be bookmarked.

export function parseHash(hash = location.hash) {
  const text = hash.replace(/^#/, '') || '/jobs';
  const [path, search = ''] = text.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return {parts, params: Object.fromEntries(new URLSearchParams(search))};
}

export function href(parts, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== '' && v !== undefined && v !== null) q.set(k, v);
  }
  const s = q.toString();
  return `#/${parts.map(encodeURIComponent).join('/')}${s ? `?${s}` : ''}`;
}
