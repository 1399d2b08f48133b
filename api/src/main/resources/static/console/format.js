// How the console writes sizes, times, durations and ages (all times in UTC, as the API gives them).

/** 1536 -> "1.5 KiB". */
export function bytes(n) {
  if (n == null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Milliseconds -> "2 h 5 min", "3.2 s". */
export function duration(ms) {
  if (ms == null || Number.isNaN(ms)) return '–';
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  const m = s / 60;
  if (m < 90) return `${Math.round(m)} min`;
  const h = m / 60;
  if (h < 48) return `${Math.floor(h)} h ${Math.round(m % 60)} min`;
  return `${Math.floor(h / 24)} d ${Math.round(h % 24)} h`;
}

/** The time between two ISO instants, or '–' when one is missing. */
export function between(from, to) {
  return from && to ? duration(Date.parse(to) - Date.parse(from)) : '–';
}

/** "5 min ago". */
export function age(iso, now = Date.now()) {
  return iso ? `${duration(now - Date.parse(iso))} ago` : 'never';
}

/** An ISO instant as "2026-11-24 10:41:07 UTC". */
export function utc(iso) {
  if (!iso) return '–';
  return `${new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`;
}

/** An instant as the value of a datetime-local input read as UTC ("2026-11-24T10:41:07"); up rounds to the next second. */
export function pickerValue(ms, up = false) {
  const whole = up ? Math.ceil(ms / 1000) * 1000 : Math.floor(ms / 1000) * 1000;
  return new Date(whole).toISOString().replace(/\.\d+Z$/, '');
}

/** A datetime-local value (read as UTC) as epoch milliseconds, or NaN. */
export function fromPicker(value) {
  if (!value) return NaN;
  return Date.parse(`${value.length === 16 ? `${value}:00` : value}Z`);
}

/** A DOM element: el('td', {class: 'x'}, 'text', child, ...). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value == null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}
