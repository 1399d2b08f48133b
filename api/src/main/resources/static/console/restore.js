// The restore form: a time inside the recovery window (checked before anything is sent) or the latest moment, beside
// the source (new directory and port) or in place (the id typed again), then the restore's progress until it ends.
import { post } from './api.js';
import { el, fromPicker, pickerValue, utc } from './format.js';
import { jobProgress } from './progress.js';

/** Why the form's values cannot be sent, or null. Pure: the window is the one last read from the API. */
export function refusal(values, w, id) {
  if (values.target === 'time') {
    if (!w.start) return `database ${id} has no recovery window yet (${w.note || 'no usable base backup'}): take a base backup first`;
    const at = fromPicker(values.time);
    const window = `[${utc(w.start)}, ${utc(w.end)}]`;
    if (Number.isNaN(at)) return `choose a time inside the recovery window ${window}`;
    if (at < Date.parse(w.start) || at > Date.parse(w.end)) {
      return `${utc(new Date(at).toISOString())} is outside the recovery window ${window}: pick a time inside it`;
    }
    const gap = (w.excluded || []).find((g) => at > Date.parse(g.after) && at < Date.parse(g.before));
    if (gap) {
      return `${utc(new Date(at).toISOString())} lies in history rolled back by restore ${gap.restoreId} `
        + `(${utc(gap.after)} to ${utc(gap.before)}): it cannot be restored, pick a time outside that span`;
    }
  }
  if (values.where === 'beside') {
    if (!values.targetDir.startsWith('/')) return 'give the target directory as an absolute path: a new one, or an empty directory the server\'s user owns';
    if (!/^\d+$/.test(values.port) || +values.port < 1 || +values.port > 65535) return 'give the port the restored server listens on (1-65535)';
  } else if (values.confirm !== id) {
    return `an in-place restore replaces the data directory of ${id}: type the id ${id} to confirm`;
  }
  return null;
}

/** The form and its update(window); onChange is called when a restore was asked for and when it ended. */
export function restoreForm(id, onChange) {
  let current = {};
  const field = (attributes) => el('input', attributes);
  const time = field({ id: 'restore-time', name: 'time', type: 'datetime-local', step: 1, 'aria-describedby': 'restore-window' });
  const dir = field({ id: 'restore-dir', name: 'targetDir', type: 'text', spellcheck: 'false', placeholder: '/srv/pg/restored' });
  const port = field({ id: 'restore-port', name: 'port', type: 'text', inputmode: 'numeric', placeholder: '5499' });
  const confirm = field({ id: 'restore-confirm', name: 'confirm', type: 'text', spellcheck: 'false', autocomplete: 'off' });
  const windowText = el('p', { id: 'restore-window', class: 'small' });
  const chosen = el('p', { id: 'restore-chosen', class: 'small', 'aria-live': 'polite' });
  const error = el('p', { id: 'restore-error', class: 'error', role: 'alert' });
  const progress = jobProgress('restore-progress', 'Restore');
  const submit = el('button', { type: 'submit', id: 'restore-submit' }, 'Restore');
  const radio = (name, value, checked, label) => el('label', { class: 'check' },
    el('input', { type: 'radio', name, value, checked, onchange: toggle }), ` ${label}`);
  const beside = el('div', { class: 'fields' },
    el('label', { for: 'restore-dir' }, 'Target directory'), dir,
    el('label', { for: 'restore-port' }, 'Port'), port);
  const inPlace = el('div', { class: 'fields', hidden: true },
    el('p', { class: 'small warn' }, `Stop the database's server first. Its data directory is moved aside (never deleted) and replaced by the restored one.`),
    el('label', { for: 'restore-confirm' }, `Type ${id} to confirm`), confirm);
  const timeFields = el('div', { class: 'fields' }, el('label', { for: 'restore-time' }, 'Time (UTC)'), time, chosen, windowText);
  const form = el('form', { id: 'restore-form', novalidate: true },
    el('fieldset', {}, el('legend', {}, 'Restore to'),
      radio('target', 'time', true, 'a time'), radio('target', 'latest', false, 'the latest moment')),
    timeFields,
    el('fieldset', {}, el('legend', {}, 'Where'),
      radio('where', 'beside', true, 'beside: a new data directory and port'), radio('where', 'inPlace', false, 'in place')),
    beside, inPlace, error, submit);

  function values() {
    const data = new FormData(form);
    return { target: data.get('target'), where: data.get('where'), time: time.value, targetDir: dir.value.trim(), port: port.value.trim(), confirm: confirm.value.trim() };
  }

  function toggle() {
    const v = values();
    timeFields.hidden = v.target !== 'time';
    beside.hidden = v.where !== 'beside';
    inPlace.hidden = v.where === 'beside';
  }

  form.addEventListener('input', () => {
    error.textContent = '';
    time.removeAttribute('aria-invalid');
    const at = fromPicker(time.value);
    chosen.textContent = Number.isNaN(at) ? '' : `Chosen: ${utc(new Date(at).toISOString())}`;
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const v = values();
    const why = refusal(v, current, id);
    if (why) {
      error.textContent = `Not sent: ${why}.`;
      if (v.target === 'time') time.setAttribute('aria-invalid', 'true');
      return;
    }
    const body = v.target === 'time' ? { time: new Date(fromPicker(v.time)).toISOString() } : { latest: true };
    Object.assign(body, v.where === 'beside' ? { targetDir: v.targetDir, port: Number(v.port) } : { inPlace: true });
    submit.disabled = true;
    try {
      const restore = await post(`/v1/databases/${id}/restores`, body);
      onChange();
      await progress.follow(`/v1/databases/${id}/restores/${restore.id}`, restore);
      onChange();
    } catch (e) {
      error.textContent = `The server refused: ${e.message}`;
    } finally {
      submit.disabled = false;
    }
  });

  function update(w) {
    current = w;
    if (w.start) {
      time.min = pickerValue(Date.parse(w.start), true);
      time.max = pickerValue(Date.parse(w.end));
      const gaps = (w.excluded || []).map((g) => `${utc(g.after)} to ${utc(g.before)}`);
      windowText.textContent = `Recovery window: ${utc(w.start)} to ${utc(w.end)}${gaps.length ? `, except ${gaps.join('; ')}` : ''}.`;
    } else {
      windowText.textContent = `No recovery window yet: ${w.note || 'take a base backup first'}.`;
    }
  }

  return { node: el('div', {}, form, progress.node), update };
}
