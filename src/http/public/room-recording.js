// Recording controls of the room page: Record / Stop (when the server runs recordings and the page's token allows it)
// and the "● REC mm:ss" indicator, timed from when the recorder peer joined (server clock, corrected for skew).

import { createApi } from '/static/api-client.js';

const params = new URLSearchParams(location.search);
const token = params.get('token');
const roomName = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const $ = (id) => document.getElementById(id);
const ui = { indicator: $('recording'), elapsed: $('recording-elapsed'), record: $('record'), stop: $('stop-recording'), error: $('recording-error'), link: $('recordings-link') };

let session = { auth: false, recordings: false, scopes: [] };
let clockOffset = 0;
let busy = false;

if (token) ui.link.href = `/recordings?token=${encodeURIComponent(token)}`;

const api = createApi(token);

function showError(err) {
  ui.error.hidden = !err;
  ui.error.textContent = err ? String(err.message ?? err) : '';
}

function canRecord() {
  if (!session.recordings) return false;
  if (!session.auth) return true;
  return session.scopes.includes('record') && (session.room === '*' || session.room === roomName);
}

function recorderPeer() {
  return window.rtcRoom?.peers().find((p) => p.role === 'recorder');
}

function elapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

function render() {
  const rec = recorderPeer();
  if (rec?.joinedAt) ui.elapsed.textContent = elapsed(Date.now() + clockOffset - rec.joinedAt);
  const allowed = canRecord();
  ui.record.hidden = !allowed || Boolean(rec);
  ui.stop.hidden = !allowed || !rec;
  ui.record.disabled = ui.stop.disabled = busy;
}

async function act(fn) {
  if (busy) return;
  busy = true;
  showError(null);
  render();
  try {
    await fn();
  } catch (err) {
    showError(err);
  } finally {
    busy = false;
    render();
  }
}

ui.record.addEventListener('click', () =>
  act(() => api('/api/recordings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ room: roomName }) })),
);

ui.stop.addEventListener('click', () =>
  act(async () => {
    const { recordings } = await api(`/api/recordings?room=${encodeURIComponent(roomName)}&state=recording`);
    if (!recordings.length) throw new Error('this recording is not run by this server');
    await api(`/api/recordings/${recordings[0].id}/stop`, { method: 'POST' });
  }),
);

async function loadSession() {
  try {
    const before = Date.now();
    session = await api('/api/session');
    clockOffset = session.serverTime - (before + Date.now()) / 2;
    if (session.tokenError && session.auth) showError(`recording controls: ${session.tokenError}`);
  } catch {
    // Controls stay hidden; the indicator still works.
  }
  render();
}

loadSession();
setInterval(render, 500);
