// Recordings page: the list from GET /api/recordings (refreshed every few seconds), an inline player, download links
// (the MP4 first, then each track file) and delete. `?token=` is passed on to every request and link.

import { createApi } from '/static/api-client.js';

const token = new URLSearchParams(location.search).get('token');
const $ = (id) => document.getElementById(id);
const ui = { rows: $('recordings'), error: $('error'), status: $('status'), player: $('player'), playerBox: $('player-box'), nowPlaying: $('now-playing') };
let session = { auth: false, scopes: ['view', 'delete'] };

const withToken = (href) => (token ? href + (href.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : href);
if (token) $('home').href = withToken('/');

const api = createApi(token);

function showError(err) {
  ui.error.hidden = !err;
  ui.error.textContent = err ? String(err.message ?? err) : '';
}

const fmtDuration = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 3600) ? Math.floor(s / 3600) + ':' : ''}${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
const fmtSize = (n) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.ceil(n / 1024)} kB`);
function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children.filter((c) => c !== undefined && c !== null));
  return e;
}

function fileUrl(rec, file, download) {
  return withToken(`/recordings/${encodeURIComponent(rec.id)}/files/${file.path.split('/').map(encodeURIComponent).join('/')}${download ? '?download=1' : ''}`);
}

/** The file to play inline: the mixed recording when there is one, else the first video (or audio) track. */
function playable(rec) {
  const media = rec.files.filter((f) => f.kind !== 'manifest');
  return media.find((f) => f.path === 'recording.mp4' || f.path === 'recording.m4a') ?? media.find((f) => f.mediaKind === 'video') ?? media[0];
}

function play(rec) {
  const file = playable(rec);
  if (!file) return;
  ui.playerBox.hidden = false;
  ui.nowPlaying.textContent = `${rec.room} — ${rec.id} — ${file.path}`;
  ui.player.src = fileUrl(rec, file, false);
  ui.player.play().catch(() => {});
}

function row(rec) {
  const tr = el('tr');
  tr.dataset.testid = 'recording-row';
  tr.dataset.id = rec.id;
  tr.dataset.state = rec.state;
  const files = el('td', { className: 'files' });
  // The mixed MP4 first: it is what most people want.
  const ordered = [...rec.files].sort((a, b) => (a.kind === 'composite' ? -1 : b.kind === 'composite' ? 1 : 0));
  for (const f of ordered) {
    const inBucket = f.location === 'bucket';
    const a = el('a', { href: fileUrl(rec, f, true), textContent: `${f.path} (${fmtSize(f.bytes)})${inBucket ? ' ☁' : ''}` });
    if (inBucket) a.title = 'in the bucket (local copy deleted after a verified upload)';
    a.dataset.testid = 'download';
    a.dataset.file = f.path;
    a.dataset.location = f.location ?? 'local';
    a.setAttribute('download', '');
    files.append(a);
  }
  // The mixed file has no link while it is being finalized (the part file is about to go): say so until it is there.
  if (rec.composite && !rec.files.some((f) => f.kind === 'composite') && (rec.state === 'finalizing' || rec.composite.state === 'finalizing')) {
    const note = el('span', { className: 'finalizing', textContent: `${rec.composite.format === 'm4a' ? 'recording.m4a' : 'recording.mp4'} finalizing…` });
    note.dataset.testid = 'finalizing';
    files.prepend(note);
  }
  const actions = el('td');
  if (playable(rec)) {
    const b = el('button', { className: 'link', textContent: '▶ play', onclick: () => play(rec) });
    b.dataset.testid = 'play';
    actions.append(b);
  }
  const canDelete = !session.auth || session.scopes.includes('delete');
  if (canDelete && rec.state !== 'recording' && rec.state !== 'finalizing') {
    const del = el('button', {
      className: 'link',
      textContent: 'delete',
      onclick: async () => {
        if (!confirm(`Delete recording ${rec.id} of ${rec.room}?`)) return;
        try {
          await api(`/api/recordings/${encodeURIComponent(rec.id)}`, { method: 'DELETE' });
          refresh();
        } catch (err) {
          showError(err);
        }
      },
    });
    del.dataset.testid = 'delete';
    actions.append(' ', del);
  }
  tr.append(
    el('td', {}, el('strong', { textContent: rec.room }), el('br'), el('small', { textContent: rec.id })),
    el('td', { className: `state-${rec.state}`, textContent: rec.state + (rec.error ? ` — ${rec.error}` : ''), title: rec.error ?? '' }, ...uploadCell(rec)),
    el('td', { className: 'num', textContent: new Date(rec.startedAt).toLocaleString() }),
    el('td', { className: 'num', textContent: fmtDuration(rec.durationMs) }),
    el('td', { className: 'num', textContent: fmtSize(rec.sizeBytes) }),
    el('td', { textContent: rec.participants.join(', ') }),
    files,
    actions,
  );
  return tr;
}

/** Under the state: where the upload stands (queued, uploading n %, uploaded to s3://…, failed and why). */
function uploadCell(rec) {
  const u = rec.upload;
  if (!u) return [];
  const where = `s3://${u.bucket}/${u.prefix}`;
  const text =
    u.state === 'uploaded'
      ? `uploaded to ${where} (attempt ${u.attempt})${u.localDeleted ? '' : ', local copy kept'}`
      : u.state === 'uploading'
        ? `uploading${u.progress ? ` ${Math.floor((100 * u.progress.bytesDone) / Math.max(1, u.progress.bytesTotal))} %` : ''} to ${where}`
        : u.state === 'failed'
          ? `upload failed (attempt ${u.attempt}): ${u.error ? `[${u.error.code}] ${u.error.message}` : 'unknown'}; local files kept`
          : `upload queued (${where})`;
  const span = el('small', { className: `upload upload-${u.state}`, textContent: text, title: u.objects.map((o) => o.key).join('\n') });
  span.dataset.testid = 'upload';
  span.dataset.upload = u.state;
  return [el('br'), span];
}

async function refresh() {
  try {
    const { recordings } = await api('/api/recordings');
    ui.rows.replaceChildren(...(recordings.length ? recordings.map(row) : [el('tr', {}, el('td', { colSpan: 8, textContent: 'no recordings yet' }))]));
    ui.status.textContent = `${recordings.length} recording${recordings.length === 1 ? '' : 's'}`;
    showError(null);
  } catch (err) {
    ui.status.textContent = 'error';
    showError(err);
  }
}

api('/api/session')
  .then((s) => (session = s))
  .catch(() => {})
  .finally(() => {
    refresh();
    setInterval(refresh, 3000);
  });
