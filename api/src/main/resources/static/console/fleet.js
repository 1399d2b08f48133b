// The fleet page: every database the token sees, its recovery window, WAL lag, last base backup and dump, health.
import { get } from './api.js';
import { age, bytes, duration, el, utc } from './format.js';
import { problems, severity } from './health.js';

const REFRESH_MS = 5000;

const COLUMNS = [
  { key: 'id', label: 'Database', value: (d) => d.id },
  { key: 'health', label: 'Health', value: (d) => severity(problems(d)) },
  { key: 'window', label: 'Recovery window', value: (d) => (d.window?.start ? Date.parse(d.window.end) - Date.parse(d.window.start) : -1) },
  { key: 'lag', label: 'WAL lag', value: (d) => d.streaming?.lagBytes ?? -1 },
  { key: 'base', label: 'Last base backup', value: (d) => completedAt(d.lastBaseBackup) },
  { key: 'dump', label: 'Last dump', value: (d) => completedAt(d.lastDump) },
];

function completedAt(job) {
  return job?.completedAt ? Date.parse(job.completedAt) : 0;
}

/** Draws the fleet into root and keeps it current; returns the function that stops the refresh. */
export function showFleet(root) {
  const state = { databases: [], sort: 'health', descending: true, filter: '', problemsOnly: false };
  const filter = el('input', { id: 'fleet-filter', type: 'search', placeholder: 'id or health', oninput: (e) => { state.filter = e.target.value.toLowerCase(); draw(); } });
  const onlyProblems = el('input', { id: 'fleet-problems', type: 'checkbox', onchange: (e) => { state.problemsOnly = e.target.checked; draw(); } });
  const status = el('p', { class: 'muted', id: 'fleet-status' }, 'Loading…');
  const error = el('p', { class: 'error', role: 'alert' });
  const head = el('thead');
  const body = el('tbody');
  root.replaceChildren(el('section', { class: 'card', 'aria-labelledby': 'fleet-title' },
    el('div', { class: 'bar' },
      el('h1', { id: 'fleet-title' }, 'Fleet'),
      el('div', { class: 'controls' },
        el('label', { for: 'fleet-filter' }, 'Filter'), filter,
        el('label', { class: 'check' }, onlyProblems, ' only with problems'))),
    error,
    el('div', { class: 'scroll' }, el('table', { class: 'fleet', id: 'fleet' }, el('caption', { class: 'sr-only' }, 'Protected databases'), head, body)),
    status));

  function header() {
    head.replaceChildren(el('tr', {}, COLUMNS.map((c) => {
      const sorted = state.sort === c.key;
      return el('th', { scope: 'col', 'aria-sort': sorted ? (state.descending ? 'descending' : 'ascending') : 'none' },
        el('button', { type: 'button', class: 'sort', 'data-sort': c.key, onclick: () => sortBy(c.key) },
          c.label, el('span', { 'aria-hidden': 'true' }, sorted ? (state.descending ? ' ▼' : ' ▲') : '')));
    })));
  }

  function sortBy(key) {
    state.descending = state.sort === key ? !state.descending : key !== 'id';
    state.sort = key;
    draw();
    head.querySelector(`[data-sort="${key}"]`).focus();
  }

  function draw() {
    header();
    const column = COLUMNS.find((c) => c.key === state.sort);
    const now = Date.now();
    const axisStart = now - Math.max(1, ...state.databases.map((d) => (d.window?.start ? now - Date.parse(d.window.start) : 0)));
    const rows = state.databases
      .map((d) => ({ d, found: problems(d, now) }))
      .filter(({ d, found }) => (!state.problemsOnly || found.length)
        && (!state.filter || d.id.toLowerCase().includes(state.filter) || found.some((p) => p.text.toLowerCase().includes(state.filter))))
      .sort((a, b) => {
        const x = column.value(a.d);
        const y = column.value(b.d);
        const order = x < y ? -1 : x > y ? 1 : a.d.id.localeCompare(b.d.id);
        return state.descending ? -order : order;
      });
    body.replaceChildren(...rows.map(({ d, found }) => row(d, found, axisStart, now)));
    if (!rows.length) {
      body.append(el('tr', {}, el('td', { colspan: COLUMNS.length, class: 'muted' },
        state.databases.length ? 'No database matches the filter.' : 'No database is registered (or visible to this token).')));
    }
  }

  let timer;
  let stopped = false;
  async function refresh() {
    try {
      state.databases = await get('/v1/databases');
      error.textContent = '';
      status.textContent = `${state.databases.length} database(s); updated ${new Date().toISOString().slice(11, 19)} UTC, every ${REFRESH_MS / 1000} s`;
      draw();
    } catch (e) {
      error.textContent = `Could not refresh: ${e.message}`;
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function row(d, found, axisStart, now) {
  const w = d.window || {};
  const s = d.streaming || {};
  return el('tr', { 'data-database': d.id },
    el('th', { scope: 'row' }, el('a', { href: `#/databases/${d.id}` }, d.id)),
    el('td', {}, found.length ? found.map((p) => el('span', { class: `badge ${p.level}` }, p.text)) : el('span', { class: 'badge ok' }, 'healthy')),
    el('td', { class: 'window' }, windowBar(w, axisStart, now),
      el('span', { class: 'small' }, w.start ? `${utc(w.start)} → ${utc(w.end)} (${duration(Date.parse(w.end) - Date.parse(w.start))})` : (w.note || 'empty'))),
    el('td', { class: 'num' }, `${bytes(s.lagBytes)}`, el('br'), el('span', { class: 'small' }, `${s.lagSeconds == null ? '–' : `${s.lagSeconds.toFixed(1)} s`} · ${s.state || '–'}`)),
    job(d.lastBaseBackup, now),
    job(d.lastDump, now));
}

function job(j, now) {
  if (!j) return el('td', { class: 'muted' }, 'none');
  return el('td', {}, el('span', { class: `status ${j.status}` }, j.status), ' ',
    el('span', { class: 'small' }, j.completedAt ? age(j.completedAt, now) : age(j.requestedAt, now).replace('ago', 'ago (asked)')));
}

/** The window as a bar on an axis shared by the whole fleet: [oldest window start, now]. */
function windowBar(w, axisStart, now) {
  const track = el('div', { class: 'track', role: 'img', 'aria-label': w.start ? `window ${utc(w.start)} to ${utc(w.end)}` : 'no window' });
  if (w.start) {
    const span = now - axisStart;
    const bar = el('div', { class: 'span' });
    bar.style.left = `${Math.max(0, (Date.parse(w.start) - axisStart) / span) * 100}%`;
    bar.style.right = `${Math.max(0, (now - Date.parse(w.end)) / span) * 100}%`;
    track.append(bar);
  }
  return track;
}
