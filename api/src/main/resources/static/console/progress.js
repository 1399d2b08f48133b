// Following one base backup, dump or restore until it ends, drawn as a progress bar with its phase.
import { get } from './api.js';
import { bytes, el } from './format.js';

const ENDED = ['completed', 'failed', 'expired', 'purged'];

/** A progress element for a job; follow(path) polls the job and redraws it until it ends, resolving to its last view. */
export function jobProgress(id, label) {
  const bar = el('progress', { max: 100, 'aria-label': `${label} progress` });
  const text = el('span', { class: 'small' });
  const node = el('div', { class: 'progress', id, 'aria-live': 'polite', hidden: true }, el('strong', {}, label), ' ', bar, ' ', text);

  function draw(job) {
    node.hidden = false;
    node.dataset.status = job.status;
    const p = job.progress;
    if (p && p.bytesTotal > 0) bar.value = p.percent;
    else if (ENDED.includes(job.status)) bar.value = 100;
    else bar.removeAttribute('value'); // indeterminate
    const parts = [`${job.id}: ${job.status}`];
    if (p) {
      parts.push(p.phase);
      if (p.bytesTotal > 0) parts.push(`${p.percent}% of ${bytes(p.bytesTotal)}`);
      else if (p.bytesDone > 0) parts.push(`${bytes(p.bytesDone)} written`);
      if (p.filesTotal > 0) parts.push(`${p.filesDone}/${p.filesTotal} files`);
      if (p.bytesPerSecond > 0) parts.push(`${bytes(p.bytesPerSecond)}/s`);
    }
    if (job.failure) parts.push(job.failure);
    else if (job.message) parts.push(job.message);
    text.textContent = parts.join(' · ');
  }

  async function follow(path, first) {
    let job = first;
    draw(job);
    while (!ENDED.includes(job.status)) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (!node.isConnected) return job;
      job = await get(path);
      draw(job);
    }
    return job;
  }

  return { node, follow, draw };
}
