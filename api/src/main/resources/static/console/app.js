// The console's entry: asks for a token once per tab, then shows the fleet (#/) or one database (#/databases/ID).
import { ApiError, get, token } from './api.js';
import { el } from './format.js';
import { showFleet } from './fleet.js';
import { showDatabase } from './database.js';

const login = document.getElementById('login');
const loginError = document.getElementById('login-error');
const view = document.getElementById('view');
const crumbs = document.getElementById('crumbs');
const logout = document.getElementById('logout');
let stopView = () => {};

function askForToken(message = '') {
  stopView();
  stopView = () => {};
  token.clear();
  view.replaceChildren();
  crumbs.replaceChildren();
  logout.hidden = true;
  login.hidden = false;
  loginError.textContent = message;
  document.getElementById('token').focus();
}

login.addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('token');
  const value = input.value.trim();
  loginError.textContent = '';
  token.set(value);
  try {
    await get('/v1/databases');
  } catch (e) {
    token.clear();
    loginError.textContent = e instanceof ApiError && e.status === 401
      ? 'This token is not known to the server: check that it was pasted whole, or ask for a new one (tidemark token create).'
      : `The server could not be asked: ${e.message}`;
    input.select();
    return;
  }
  input.value = '';
  login.hidden = true;
  route();
});

logout.addEventListener('click', () => askForToken());

// a token refused later (revoked, or the server restarted with other tokens): ask again, saying why
window.addEventListener('tidemark:unauthorized', (event) => {
  if (token.get()) askForToken(`The server refused the token: ${event.detail}`);
});

function route() {
  if (!token.get()) {
    askForToken();
    return;
  }
  stopView();
  login.hidden = true;
  logout.hidden = false;
  const match = /^#\/databases\/([A-Za-z0-9._~-]+)$/.exec(location.hash);
  const home = el('a', { href: '#/' }, 'Fleet');
  if (match) {
    crumbs.replaceChildren(home, el('span', { 'aria-hidden': 'true' }, ' / '), el('span', { 'aria-current': 'page' }, match[1]));
    stopView = showDatabase(view, match[1]);
  } else {
    crumbs.replaceChildren(el('span', { 'aria-current': 'page' }, 'Fleet'));
    stopView = showFleet(view);
  }
  document.getElementById('main').focus({ preventScroll: true });
}

window.addEventListener('hashchange', route);
route();
