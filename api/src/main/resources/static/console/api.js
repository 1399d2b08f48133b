// Calls to the /v1 API with the bearer token this tab keeps in session storage (never in a URL or a cookie).
const KEY = 'tidemark.token';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/** A refusal of the API: its HTTP status and the problem document's detail. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${token.get()}`, Accept: 'application/json', ...extra };
}

async function send(method, path, body, init = {}) {
  const response = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
    ...init,
  });
  if (!response.ok) {
    throw await refusal(response);
  }
  return response;
}

async function refusal(response) {
  let detail = `${response.status} ${response.statusText}`;
  try {
    const problem = await response.json();
    detail = problem.detail || problem.title || detail;
  } catch {
    // not a problem document: the status line says it
  }
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent('tidemark:unauthorized', { detail }));
  }
  return new ApiError(response.status, detail);
}

/** GET a JSON document. */
export async function get(path) {
  return (await send('GET', path)).json();
}

/** POST a JSON body (or none) and return the JSON answer. */
export async function post(path, body) {
  return (await send('POST', path, body)).json();
}

/**
 * Whether this token may change a database. OPTIONS changes nothing; the API's gate treats it as a change and so
 * answers 403 to a read token or an operator token of other databases.
 */
export async function mayChange(id) {
  const response = await fetch(`/v1/databases/${id}`, { method: 'OPTIONS', headers: headers(), cache: 'no-store', credentials: 'omit' });
  return response.ok;
}

/**
 * Downloads a file the API serves only with the bearer header: fetched as a blob, then saved through an object URL.
 * onProgress gets the bytes received so far.
 */
export async function download(path, fallbackName, onProgress) {
  const response = await send('GET', path, undefined, { headers: headers({ Accept: '*/*' }) });
  const name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') || '')?.[1] || fallbackName;
  const reader = response.body.getReader();
  const parts = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.length;
    onProgress(received);
  }
  const url = URL.createObjectURL(new Blob(parts, { type: response.headers.get('Content-Type') || 'application/octet-stream' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { name, bytes: received };
}
