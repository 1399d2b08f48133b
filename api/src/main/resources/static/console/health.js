// A database's health at a glance, from the JSON of GET /v1/databases: WAL delayed or stale, a failed job, no window.

/** Lag beyond this is "WAL delayed"; a stream silent beyond STALE_MS is "WAL stale". */
const DELAYED_SECONDS = 60;
const STALE_MS = 10 * 60_000;

/** The problems of a database: [{level: 'bad'|'warn', text}]; empty when healthy. */
export function problems(db, now = Date.now()) {
  if (db.status !== 'active') {
    return [{ level: 'warn', text: db.status }];
  }
  const found = [];
  const s = db.streaming || {};
  if (!['streaming', 'catching-up'].includes(s.state)) {
    found.push({ level: 'bad', text: `WAL stream ${s.state || 'unknown'}${s.lastError ? `: ${s.lastError}` : ''}` });
  } else if (s.durableTime && now - Date.parse(s.durableTime) > STALE_MS && s.lagBytes > 0) {
    found.push({ level: 'bad', text: 'WAL stale' });
  } else if (s.lagSeconds > DELAYED_SECONDS) {
    found.push({ level: 'warn', text: `WAL delayed ${Math.round(s.lagSeconds)} s` });
  }
  if (db.lastBaseBackup?.status === 'failed') found.push({ level: 'bad', text: 'last base backup failed' });
  if (db.lastDump?.status === 'failed') found.push({ level: 'bad', text: 'last dump failed' });
  if (!db.window?.start) found.push({ level: 'warn', text: 'no recovery window yet' });
  return found;
}

/** 0 healthy, 1 warnings, 2 failures: for sorting. */
export function severity(list) {
  return list.some((p) => p.level === 'bad') ? 2 : list.length ? 1 : 0;
}
