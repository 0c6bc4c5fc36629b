// The page's whole client: four fetch calls. The cookies are HttpOnly, so the browser
// stores and sends them by itself (credentials: 'same-origin'); this script never sees them.

const $ = (selector) => document.querySelector(selector);

// Every call goes through Caddy on the same origin; the auth functions live in the
// "auth" schema, which PostgREST only serves when asked with Content-Profile.
async function call(method, path, body) {
  const options = { method, credentials: 'same-origin', headers: {} };
  if (method === 'POST') {
    options.headers['Content-Type'] = 'application/json';
    options.headers['Content-Profile'] = 'auth';
    options.body = JSON.stringify(body || {});
  }
  const response = await fetch(path, options);
  response.summary = `${method} ${path} → ${response.status} ${response.statusText}`;
  $('#last').textContent = response.summary;
  return response;
}

// No token to decode here: ask the server. 200 means Caddy and PostgREST accepted the
// access_token cookie; 401 means there is none, or it is invalid or expired.
async function whoAmI() {
  const response = await call('GET', '/rest/task?order=id');
  const state = $('#state');
  const tasks = $('#tasks');
  if (response.ok) {
    const rows = await response.json();
    state.dataset.state = 'in';
    state.textContent = `Logged in: the gateway accepted your access token (${rows.length} tasks).`;
    tasks.querySelector('tbody').replaceChildren(...rows.map(taskRow));
    tasks.hidden = false;
  } else {
    state.dataset.state = 'out';
    state.textContent = `Not logged in: GET /rest/task answered ${response.status}.`;
    tasks.hidden = true;
  }
}

function taskRow(task) {
  const row = document.createElement('tr');
  for (const value of [task.id, task.title, task.done ? 'yes' : 'no']) {
    const cell = document.createElement('td');
    cell.textContent = value;
    row.append(cell);
  }
  return row;
}

// Each action re-checks who we are, then shows its own answer. data-actions counts
// finished actions so that a test can wait for the page to settle.
async function act(method, path, body) {
  const response = method ? await call(method, path, body) : null;
  await whoAmI();
  if (response) $('#last').textContent = response.summary;
  $('#cookies').textContent = JSON.stringify(document.cookie);
  document.body.dataset.actions = Number(document.body.dataset.actions || 0) + 1;
}

$('#login').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target;
  const credentials = { user_: form.user.value, pass: form.pass.value };
  form.reset(); // the password need not stay in the page
  act('POST', '/rpc/login', credentials);
});
$('#refresh').addEventListener('click', () => act('POST', '/rpc/refresh_token'));
$('#logout').addEventListener('click', () => act('POST', '/rpc/logout'));
$('#whoami').addEventListener('click', () => act());

act();
