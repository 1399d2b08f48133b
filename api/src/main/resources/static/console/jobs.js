// The database page's base backups and dumps: "now" buttons with progress, lists with size, duration and downloads.
import { download, post } from './api.js';
import { between, bytes, el, utc } from './format.js';
import { jobProgress } from './progress.js';

/** The two buttons and their progress; onChange is called when a job was started or ended. */
export function actions(id, onChange) {
  const error = el('p', { class: 'error', role: 'alert' });
  const baseProgress = jobProgress('base-backup-progress', 'Base backup');
  const dumpProgress = jobProgress('dump-progress', 'Dump');

  function start(button, kind, progress) {
    return async () => {
      button.disabled = true;
      error.textContent = '';
      try {
        const job = await post(`/v1/databases/${id}/${kind}`, kind === 'dumps' ? {} : undefined);
        onChange();
        await progress.follow(`/v1/databases/${id}/${kind}/${job.id}`, job);
        onChange();
      } catch (e) {
        error.textContent = e.message;
      } finally {
        button.disabled = false;
      }
    };
  }

  const baseButton = el('button', { type: 'button', id: 'action-base-backup' }, 'Base backup now');
  const dumpButton = el('button', { type: 'button', id: 'action-dump' }, 'Dump now');
  baseButton.addEventListener('click', start(baseButton, 'base-backups', baseProgress));
  dumpButton.addEventListener('click', start(dumpButton, 'dumps', dumpProgress));
  return el('div', { class: 'actions' }, el('div', { class: 'buttons' }, baseButton, dumpButton), error, baseProgress.node, dumpProgress.node);
}

/** A button that downloads through the API (the bearer header is needed) and says how far it got. */
function downloadButton(path, fallbackName, label) {
  const state = el('span', { class: 'small', 'aria-live': 'polite' });
  const button = el('button', { type: 'button', class: 'quiet download', 'aria-label': label }, 'Download');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const saved = await download(path, fallbackName, (n) => { state.textContent = `${bytes(n)}…`; });
      state.textContent = `saved ${saved.name} (${bytes(saved.bytes)})`;
    } catch (e) {
      state.textContent = `failed: ${e.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return el('span', { class: 'nowrap' }, button, ' ', state);
}

function status(job) {
  const progress = job.progress ? ` ${job.progress.percent || 0}%` : '';
  return el('span', { class: `status ${job.status}`, title: job.failure || '' }, job.status + progress);
}

/** The base backups table; update(list) redraws its rows, keeping downloads that are under way. */
export function backupsTable(id) {
  const body = el('tbody');
  const node = el('div', { class: 'scroll' }, el('table', { id: 'base-backups' },
    el('caption', { class: 'sr-only' }, 'Base backups'),
    el('thead', {}, el('tr', {}, ['Backup', 'Status', 'Trigger', 'Consistent at', 'Duration', 'Size', 'Stored', ''].map((h) => el('th', { scope: 'col' }, h)))),
    body));
  const downloads = new Map();
  function update(list) {
    body.replaceChildren(...list.map((b) => {
      const key = b.status === 'completed' ? b.id : null;
      if (key && !downloads.has(key)) {
        downloads.set(key, downloadButton(`/v1/databases/${id}/base-backups/${b.id}/download`, `${id}-${b.id}.tar`, `Download base backup ${b.id}`));
      }
      return el('tr', { 'data-backup': b.id },
        el('th', { scope: 'row' }, b.id), el('td', {}, status(b)), el('td', {}, b.trigger),
        el('td', {}, utc(b.consistencyTime)), el('td', {}, between(b.startedAt, b.completedAt)),
        el('td', { class: 'num' }, bytes(b.bytes)), el('td', { class: 'num' }, bytes(b.storedBytes)),
        el('td', {}, key ? downloads.get(key) : ''));
    }));
    if (!list.length) body.append(el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'No base backup yet.')));
  }
  return { node, update };
}

/** The dumps table, with one download per dumped database. */
export function dumpsTable(id) {
  const body = el('tbody');
  const node = el('div', { class: 'scroll' }, el('table', { id: 'dumps' },
    el('caption', { class: 'sr-only' }, 'Dumps'),
    el('thead', {}, el('tr', {}, ['Dump', 'Status', 'Trigger', 'Completed', 'Duration', 'Size', 'Downloads'].map((h) => el('th', { scope: 'col' }, h)))),
    body));
  const downloads = new Map();
  function button(d, database) {
    const key = `${d.id}/${database}`;
    if (!downloads.has(key)) {
      downloads.set(key, el('div', {}, el('code', {}, database), ' ', downloadButton(`/v1/databases/${id}/dumps/${d.id}/download?database=${encodeURIComponent(database)}`,
        `${id}-${d.id}-${database}.dump`, `Download dump ${d.id} of database ${database}`)));
    }
    return downloads.get(key);
  }
  function update(list) {
    body.replaceChildren(...list.map((d) => el('tr', { 'data-dump': d.id },
      el('th', { scope: 'row' }, d.id), el('td', {}, status(d)), el('td', {}, d.trigger),
      el('td', {}, utc(d.completedAt)), el('td', {}, between(d.requestedAt, d.completedAt)),
      el('td', { class: 'num' }, bytes(d.bytes)),
      el('td', {}, d.status === 'completed' ? (d.databases || []).map((name) => button(d, name)) : ''))));
    if (!list.length) body.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No dump yet.')));
  }
  return { node, update };
}
