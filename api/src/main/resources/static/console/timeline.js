// The database page's timeline: the recovery window with base backups, dumps, restores and excluded gaps on it.
import { el, utc } from './format.js';

/**
 * A timeline element and its update function. Each mark is a button: choosing one (mouse or keyboard) says what it is
 * in the line under the track.
 */
export function timeline() {
  const track = el('div', { class: 'timeline', id: 'timeline' });
  const axis = el('div', { class: 'axis small' });
  const detail = el('p', { class: 'small', id: 'timeline-detail', 'aria-live': 'polite' }, 'Choose a mark for its details.');
  const legend = el('p', { class: 'legend small' },
    el('span', { class: 'key window' }), ' recoverable ', el('span', { class: 'key gap' }), ' excluded (rolled back) ',
    el('span', { class: 'key mark base' }), ' base backup ', el('span', { class: 'key mark dump' }), ' dump ',
    el('span', { class: 'key mark restore' }), ' restore');
  const node = el('div', {}, track, axis, detail, legend);

  function update({ window: w, backups, dumps, restores }) {
    const now = Date.now();
    const marks = [
      ...backups.filter((b) => b.status !== 'expired').map((b) => ({
        kind: 'base', at: b.consistencyTime || b.completedAt || b.requestedAt,
        text: `base backup ${b.id}, ${b.status}${b.consistencyTime ? `, consistent at ${utc(b.consistencyTime)}` : ''}` })),
      ...dumps.filter((d) => d.status !== 'expired').map((d) => ({
        kind: 'dump', at: d.completedAt || d.requestedAt, text: `dump ${d.id}, ${d.status}, at ${utc(d.completedAt || d.requestedAt)}` })),
      ...restores.map((r) => ({
        kind: 'restore', at: r.requestedAt,
        text: `restore ${r.id} to ${r.target === 'latest' ? 'the latest moment' : utc(r.target)}, ${r.status}, asked at ${utc(r.requestedAt)}` })),
    ].filter((m) => m.at);
    const times = [now - 60_000, ...marks.map((m) => Date.parse(m.at))];
    if (w.start) times.push(Date.parse(w.start));
    const start = Math.min(...times);
    const span = now - start;
    const x = (iso) => `${Math.min(100, Math.max(0, ((Date.parse(iso) - start) / span) * 100))}%`;
    const parts = [];
    if (w.start) {
      const bar = el('div', { class: 'span', role: 'img', 'aria-label': `recovery window ${utc(w.start)} to ${utc(w.end)}` });
      bar.style.left = x(w.start);
      bar.style.right = `${100 - parseFloat(x(w.end))}%`;
      parts.push(bar);
    }
    for (const g of w.excluded || []) {
      const gap = el('div', { class: 'gap', role: 'img', 'aria-label': `excluded ${utc(g.after)} to ${utc(g.before)} (rolled back by ${g.restoreId})` });
      gap.style.left = x(g.after);
      gap.style.right = `${100 - parseFloat(x(g.before))}%`;
      parts.push(gap);
    }
    for (const m of marks) {
      const mark = el('button', { type: 'button', class: `mark ${m.kind}`, 'aria-label': m.text, title: m.text,
        onclick: () => { detail.textContent = m.text; } });
      mark.style.left = x(m.at);
      parts.push(mark);
    }
    track.replaceChildren(...parts);
    axis.replaceChildren(el('span', {}, utc(new Date(start).toISOString())), el('span', {}, `now, ${utc(new Date(now).toISOString())}`));
  }

  return { node, update };
}
