// The database page: state and health, actions, the window timeline, the restore form, restores, backups, dumps, events.
import { get, mayChange } from './api.js';
import { age, between, bytes, el, utc } from './format.js';
import { problems } from './health.js';
import { timeline } from './timeline.js';
import { restoreForm } from './restore.js';
import { actions, backupsTable, dumpsTable } from './jobs.js';
import { eventsLog } from './events.js';

const REFRESH_MS = 2500;

function card(title, id, ...children) {
  return el('section', { class: 'card', 'aria-labelledby': `${id}-title`, id }, el('h2', { id: `${id}-title` }, title), ...children);
}

/** Draws database id into root and keeps it current; returns the function that stops the refresh. */
export function showDatabase(root, id) {
  let stopped = false;
  let timer;
  const summary = el('div', { class: 'summary card' }, 'Loading…');
  const error = el('p', { class: 'error', role: 'alert' });
  const line = timeline();
  const backups = backupsTable(id);
  const dumps = dumpsTable(id);
  const events = eventsLog(id);
  const restoresBody = el('tbody');
  const capability = el('div', { id: 'capability' });
  let form = null;
  const page = el('div', { class: 'database', 'data-database': id },
    el('h1', {}, id), error, summary,
    capability,
    card('Recovery window', 'window-card', line.node),
    card('Restores', 'restores-card', el('div', { class: 'scroll' }, el('table', { id: 'restores' },
      el('thead', {}, el('tr', {}, ['Restore', 'Status', 'Target', 'Where', 'Reached', 'Duration', 'Message'].map((h) => el('th', { scope: 'col' }, h)))),
      restoresBody))),
    card('Base backups', 'backups-card', backups.node),
    card('Dumps', 'dumps-card', dumps.node),
    card('Events', 'events-card', events.node));
  root.replaceChildren(page);

  async function refresh() {
    try {
      const [db, w, backupList, dumpList, restoreList] = await Promise.all([
        get(`/v1/databases/${id}`), get(`/v1/databases/${id}/window`), get(`/v1/databases/${id}/base-backups`),
        get(`/v1/databases/${id}/dumps`), get(`/v1/databases/${id}/restores`)]);
      if (stopped) return;
      drawSummary(db);
      line.update({ window: w, backups: backupList, dumps: dumpList, restores: restoreList });
      form?.update(w);
      backups.update(backupList);
      dumps.update(dumpList);
      drawRestores(restoreList);
      await events.refresh();
      error.textContent = '';
      page.dataset.loaded = 'true';
    } catch (e) {
      error.textContent = `Could not refresh: ${e.message}`;
    }
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(async () => {
      await refresh();
      schedule();
    }, REFRESH_MS);
  }

  function drawSummary(db) {
    const s = db.streaming || {};
    const stats = db.stats || {};
    const found = problems(db);
    summary.replaceChildren(
      el('p', {}, found.length ? found.map((p) => el('span', { class: `badge ${p.level}` }, p.text)) : el('span', { class: 'badge ok' }, 'healthy')),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Status'), el('dd', {}, db.status),
        el('dt', {}, 'Server'), el('dd', {}, el('code', {}, db.pgUrl), ' ', stats.serverVersion ? `PostgreSQL ${stats.serverVersion}` : (stats.error || '')),
        el('dt', {}, 'Data directory'), el('dd', {}, el('code', {}, db.pgdata)),
        el('dt', {}, 'Configuration'), el('dd', {}, db.configuration || '–'),
        el('dt', {}, 'WAL stream'), el('dd', {}, `${s.state}${s.timeline == null ? '' : `, timeline ${s.timeline}`}, durable ${s.durableLsn || '–'} at ${utc(s.durableTime)}`
          // lag and slot are measured by the node that streams the database: null on another node
          + (s.lagBytes == null ? '' : `; lag ${bytes(s.lagBytes)} / ${(s.lagSeconds ?? 0).toFixed(1)} s; slot keeps ${bytes(s.retainedBytes)}`)),
        el('dt', {}, 'Size'), el('dd', {}, `${bytes(stats.logicalBytes)} of data, ${bytes(stats.diskBytes)} on disk; `
          + `${stats.openConnections ?? '–'}/${stats.maxConnections ?? '–'} connections`),
        el('dt', {}, 'Policy'), el('dd', {}, `window ${db.policy?.window || '–'}, base backups ${db.policy?.baseBackupSchedule || 'not scheduled'}, `
          + `dumps ${db.policy?.dumpSchedule || 'not scheduled'}`),
        el('dt', {}, 'Last base backup'), el('dd', {}, db.lastBaseBackup ? `${db.lastBaseBackup.status}, ${age(db.lastBaseBackup.completedAt || db.lastBaseBackup.requestedAt)}` : 'none'),
        el('dt', {}, 'Last dump'), el('dd', {}, db.lastDump ? `${db.lastDump.status}, ${age(db.lastDump.completedAt || db.lastDump.requestedAt)}` : 'none')));
  }

  function drawRestores(list) {
    restoresBody.replaceChildren(...list.map((r) => el('tr', { 'data-restore': r.id },
      el('th', { scope: 'row' }, r.id),
      el('td', {}, el('span', { class: `status ${r.status}` }, r.status + (r.progress ? ` ${r.progress.percent || 0}%` : ''))),
      el('td', {}, r.target === 'latest' ? 'latest' : utc(r.target)),
      el('td', {}, r.inPlace ? 'in place' : r.targetDir ? `${r.targetDir}, port ${r.port}` : 'dump restore'),
      el('td', {}, utc(r.reachedTime)),
      el('td', {}, between(r.startedAt || r.requestedAt, r.completedAt)),
      el('td', { class: 'small' }, r.failure || r.message || ''))));
    if (!list.length) restoresBody.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No restore yet.')));
  }

  mayChange(id).then((allowed) => {
    if (stopped) return;
    capability.dataset.mayChange = String(allowed);
    if (allowed) {
      form = restoreForm(id, refresh);
      capability.replaceChildren(
        card('Actions', 'actions-card', actions(id, refresh)),
        card('Restore', 'restore-card', form.node));
      refresh();
    } else {
      capability.replaceChildren(el('p', { class: 'note', id: 'read-only' },
        'This token can read and download. Base backups, dumps and restores need an operator token of this database or an admin token.'));
    }
  });
  refresh().then(schedule);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
