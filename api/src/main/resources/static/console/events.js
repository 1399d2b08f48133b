// The database page's events log: the newest events of its audit stream, followed live.
import { get } from './api.js';
import { el, utc } from './format.js';

const SHOWN = 300;
const NOISY = ['WalArchived'];

/**
 * The sequence number of the last event. The API pages forward only, so the end is found by doubling, then halving:
 * about 2·log2(n) requests of one event each.
 */
async function lastSequence(id) {
  const exists = async (n) => (await get(`/v1/databases/${id}/events?from=${n}&limit=1`)).events.length > 0;
  if (!(await exists(0))) return -1;
  let low = 0;
  let step = 1;
  while (await exists(low + step)) {
    low += step;
    step *= 2;
  }
  let high = low + step;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await exists(middle)) low = middle;
    else high = middle;
  }
  return low;
}

function summary(payload) {
  const text = Object.entries(payload || {})
    .filter(([key, value]) => key !== 'databaseId' && value != null)
    .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : value}`)
    .join(' ');
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/** The log element and its refresh(): the first call loads the newest events, later ones what came since. */
export function eventsLog(id) {
  let events = [];
  let next = null;
  const showWal = el('input', { type: 'checkbox', id: 'events-wal', onchange: draw });
  const body = el('tbody');
  const node = el('div', {},
    el('label', { class: 'check' }, showWal, ' show WAL segment events'),
    el('div', { class: 'scroll log', role: 'log', 'aria-label': 'Events, newest first' },
      el('table', { id: 'events' },
        el('thead', {}, el('tr', {}, ['#', 'Time', 'Event', 'Actor', 'Details'].map((h) => el('th', { scope: 'col' }, h)))),
        body)));

  function draw() {
    const shown = events.filter((e) => showWal.checked || !NOISY.includes(e.type)).slice(-SHOWN).reverse();
    body.replaceChildren(...shown.map((e) => el('tr', { 'data-type': e.type },
      el('td', { class: 'num' }, e.sequence), el('td', { class: 'nowrap' }, utc(e.time)), el('td', {}, e.type),
      el('td', {}, e.actor || ''), el('td', { class: 'small' }, summary(e.payload)))));
  }

  async function load() {
    if (next === null) next = Math.max(0, (await lastSequence(id)) - SHOWN + 1);
    for (;;) {
      const page = await get(`/v1/databases/${id}/events?from=${next}&limit=1000`);
      if (!page.events.length) break;
      events = events.concat(page.events).slice(-5 * SHOWN);
      next = page.events[page.events.length - 1].sequence + 1;
      if (page.next < 0) break;
    }
    draw();
  }

  // one load at a time: two at once would read the same page twice
  let loading = null;
  function refresh() {
    loading ??= load().finally(() => { loading = null; });
    return loading;
  }

  return { node, refresh };
}
