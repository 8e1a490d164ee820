// Room page: one RTCPeerConnection per direction per remote peer. Each side offers on the PC it sends on, so there is
// never glare; the PC a peer receives on is created when that peer's offer arrives (see docs/protocol.md).
// In an SFU room (the default) the only remote peer we connect to is the server's `sfu` member: we publish to it once
// and it offers us everybody else's tracks, telling us whose each one is (`trackPublished`, by media section `mid`).
// When the room's voices are mixed on the server (MCU: `?audio=mcu`, or a big room) we get one audio track, the mix
// without our own voice (`source: 'mix'`), and `mixSpeakers` says who is in it.
// In SFU rooms the camera goes in up to three layers (`?simulcast=0`: one); the server forwards each page the smallest one that
// covers the tile it shows that video in, which every SFU page reports (`tileSize`, in device pixels).
// When our downlink cannot carry even a video's lowest layer, the server pauses it (`videoPaused`, `videoResumed`): its
// tile says so instead of showing a frozen frame.
// Pages: at most `?page=k` (default 9) other participants' tiles are shown at once, with previous/next; a tile on
// another page reports 0×0, so the server forwards none of its video (its voice still comes). Whoever starts talking
// off the page is brought onto the first page (at most one move per PROMOTE_HOLD_MS: no flapping).

const params = new URLSearchParams(location.search);
const roomName = decodeURIComponent(location.pathname.split('/')[2] ?? '');
/** This page's own server; a room living on another server (several servers on one Redis) is joined there instead. */
const ORIGIN_WS = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
/** How long to keep trying when the server a room was sent to cannot be reached (its claim runs out meanwhile). */
const UNREACHABLE_OWNER_RETRY_MS = 60_000;
/** Tile sizes are reported once they have stopped changing for this long (a window being dragged sends one). */
const TILE_SIZE_DEBOUNCE_MS = 200;
/** Other participants' tiles per page (`?page=k`). */
const PAGE_SIZE = Math.max(1, Math.floor(Number(params.get('page'))) || 9);
/** A participant brought onto the first page for talking stays there at least this long before the next move. */
const PROMOTE_HOLD_MS = 3000;
/** Tiles are laid out at this aspect ratio (cameras are 4:3 or 16:9; `object-fit: contain` letterboxes), this far apart. */
const TILE_ASPECT = 4 / 3;
const TILE_GAP = 8;
const $ = (id) => document.getElementById(id);

const ui = {
  status: $('status'), recording: $('recording'), error: $('error'), tiles: $('tiles'),
  name: $('name'), join: $('join'), leave: $('leave'), share: $('share'), form: $('join-form'),
  useVideo: $('use-video'), useAudio: $('use-audio'), localVideo: $('local-video'),
  mix: $('mix'), mixAudio: $('mix-audio'), localTile: $('local-tile'),
  offPageAudio: $('off-page-audio'), pager: $('pager'), count: $('count'), toggleMic: $('toggle-mic'), toggleCamera: $('toggle-camera'), prevPage: $('prev-page'), nextPage: $('next-page'), pageLabel: $('page-label'),
};

/** @type {{ws?: WebSocket, id?: string, iceServers: RTCIceServer[], local?: MediaStream, extras: MediaStream[], peers: Map<string, Peer>}} */
const state = { iceServers: [], peers: new Map(), joinedThisSocket: false, extras: [], mode: 'p2p', audio: 'forward', tracksByMid: new Map(), mixSpeakers: [], mixHistory: [], tileSizes: new Map(), bandwidthPaused: new Set(), page: 0, order: [], promotedAt: -Infinity };
let sessionCounter = 0;

/**
 * @typedef {{ info: {id: string, name: string, role: string}, send?: RTCPeerConnection, sendSession?: string,
 *   recv?: RTCPeerConnection, recvSession?: string, pending: Map<RTCPeerConnection, RTCIceCandidateInit[]>, tile?: HTMLElement,
 *   uploadRetries?: number, offPageAudio?: HTMLAudioElement }} Peer
 */

ui.recording.hidden = true;
$('room-name').textContent = roomName;
ui.name.value = params.get('name') ?? '';
if (params.get('video') === '0') ui.useVideo.checked = false;
if (params.get('audio') === '0') ui.useAudio.checked = false;

ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  join().catch(showError);
});
ui.leave.addEventListener('click', () => leave());
ui.share.addEventListener('click', () => (state.screen ? stopScreenShare() : shareScreen()).catch(showError));
ui.toggleMic.addEventListener('click', () => setLocalEnabled('audio', ui.toggleMic.getAttribute('aria-pressed') !== 'true'));
ui.toggleCamera.addEventListener('click', () => setLocalEnabled('video', ui.toggleCamera.getAttribute('aria-pressed') !== 'true'));
ui.tiles.addEventListener('click', (e) => {
  const tile = e.target.closest?.('.tile');
  if (tile && tile !== ui.localTile) togglePin(tile);
});
new ResizeObserver(() => arrangeTiles()).observe(ui.tiles);
ui.prevPage.addEventListener('click', () => showPage(state.page - 1));
ui.nextPage.addEventListener('click', () => showPage(state.page + 1));
if (params.get('autojoin') === '1') join().catch(showError);

function showError(err) {
  ui.error.hidden = false;
  ui.error.textContent = String(err?.message ?? err);
  setStatus('error');
}

function setStatus(text) {
  ui.status.textContent = text;
}

async function join() {
  if (state.ws) return;
  ui.error.hidden = true;
  const name = ui.name.value.trim();
  if (!name) throw new Error('enter a name first');
  const wantVideo = ui.useVideo.checked;
  const wantAudio = ui.useAudio.checked;
  setStatus('connecting');
  state.local?.getTracks().forEach((t) => t.stop()); // a rejoin after a lost connection opens them anew
  if (wantVideo || wantAudio) {
    // ?agc=0 turns the browser's voice processing off (echo cancellation, noise suppression, AGC): tests compare levels.
    const raw = params.get('agc') === '0' ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false } : true;
    state.local = await navigator.mediaDevices.getUserMedia({ video: wantVideo, audio: wantAudio && raw });
    ui.localVideo.srcObject = state.local;
  }
  state.timing = { start: performance.now(), redirects: [] };
  connectSignaling(ORIGIN_WS, name, 0);
  ui.join.disabled = true;
  ui.leave.disabled = false;
  showLocalToggles();
}

/**
 * Opens the signaling socket at `url` and joins. `redirect` (the room lives on another server) closes it and joins at
 * the given URL, media included, without leaving this page; the page's token goes along (servers share the secret).
 */
function connectSignaling(url, name, hops) {
  // With --secret, joining needs the page's ?token= (browsers cannot set headers on a WebSocket).
  const token = params.get('token') ? `?token=${encodeURIComponent(params.get('token'))}` : '';
  const ws = new WebSocket(`${url}${token}`);
  state.ws = ws;
  state.joinedThisSocket = false;
  state.signalingUrl = url;
  let opened = false;
  // ?mode=p2p opens the room as a mesh; ?mesh=0 publishes only (no tiles, nothing received).
  const mode = params.get('mode') === 'p2p' || params.get('mode') === 'sfu' ? params.get('mode') : undefined;
  const subscribe = params.get('mesh') !== '0';
  // ?audio=mcu opens an SFU room with the voices mixed on the server (?audio=0 is "no microphone").
  const audio = ['forward', 'mcu', 'auto'].includes(params.get('audio')) ? params.get('audio') : undefined;
  const sendJoin = () => ws.send(JSON.stringify({ type: 'join', room: roomName, name, ...(mode ? { mode } : {}), ...(audio ? { audio } : {}), ...(subscribe ? {} : { subscribe: false }) }));
  ws.onopen = () => {
    opened = true;
    sendJoin();
  };
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === 'redirect') followRedirect(ws, msg, name, hops);
    else if (msg.type === 'error' && msg.ref === 'join' && msg.code === 'REDIS_UNAVAILABLE') {
      // Several servers and their Redis is away (restarting): the room cannot be placed yet; ask again shortly.
      setStatus('waiting for the room registry');
      setTimeout(() => state.ws === ws && ws.readyState === WebSocket.OPEN && !state.id && sendJoin(), 2000);
    } else onMessage(msg).catch(showError);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    if (!opened && url !== ORIGIN_WS) return ownerUnreachable(url, name);
    state.ws = undefined; // Join works again (on whichever server has the room by then).
    teardown();
    setStatus('disconnected');
  };
}

function followRedirect(ws, msg, name, hops) {
  state.ws = undefined;
  ws.close();
  const moved = state.id !== undefined; // joined here before: the room was taken over by another server
  if (moved) {
    teardown();
    state.id = undefined;
    ui.join.disabled = true;
    ui.leave.disabled = false;
    showLocalToggles(); // teardown hid them; the local tracks go on to the new server
  }
  // Each server answers from the same registry, so a second hop is rare and a third one a loop.
  if (!moved && hops >= 3) {
    setStatus('error');
    return showError(new Error(`room ${msg.room}: too many redirects (last to ${msg.url})`));
  }
  state.timing?.redirects.push(performance.now());
  console.info(`room ${msg.room} lives on ${msg.url}: joining there`);
  setStatus('connecting');
  connectSignaling(msg.url, name, moved ? 1 : hops + 1);
}

/** The room's server just died: ask our own server again shortly; it places the room anew once the claim ran out. */
function ownerUnreachable(url, name) {
  const since = (state.ownerUnreachableSince ??= Date.now());
  if (Date.now() - since > UNREACHABLE_OWNER_RETRY_MS) {
    state.ws = undefined;
    teardown();
    return showError(new Error(`the server of room ${roomName} (${url}) cannot be reached`));
  }
  setStatus('connecting');
  state.retryTimer = setTimeout(() => {
    state.retryTimer = undefined;
    if (state.ws && state.ws.readyState === WebSocket.CLOSED) connectSignaling(ORIGIN_WS, name, 0);
  }, 1000);
}

function leave() {
  clearTimeout(state.retryTimer);
  state.ownerUnreachableSince = undefined;
  state.ws?.send(JSON.stringify({ type: 'leave' }));
  const ws = state.ws;
  state.ws = undefined;
  ws?.close();
  teardown();
  state.local?.getTracks().forEach((t) => t.stop());
  state.local = undefined;
  ui.localVideo.srcObject = null;
  setStatus('idle');
}

function teardown() {
  for (const id of [...state.peers.keys()]) removePeer(id);
  state.extras.forEach((s) => s.getTracks().forEach((t) => t.stop()));
  state.extras = [];
  state.screen = undefined;
  ui.share.textContent = 'Share screen';
  state.mixStream = undefined;
  state.tileSizes.clear();
  ui.mixAudio.srcObject = null;
  ui.mix.hidden = true;
  ui.join.disabled = false;
  ui.leave.disabled = true;
  ui.share.disabled = true;
  showLocalToggles();
  updateRecordingIndicator();
}

function send(msg) {
  if (state.ws?.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

async function onMessage(msg) {
  switch (msg.type) {
    case 'joined':
      state.joinedThisSocket = true;
      state.id = msg.id;
      state.ownerUnreachableSince = undefined;
      if (state.timing) state.timing.joined ??= performance.now();
      state.mode = msg.mode ?? 'p2p';
      state.audio = msg.audio ?? 'forward';
      state.iceServers = msg.iceServers ?? [];
      ui.share.disabled = false;
      setStatus('joined');
      for (const info of msg.peers) addPeer(info);
      layoutPages();
      break;
    case 'peerJoined':
      // Before our `joined`, which lists everybody in the room then: the members a join of ours brought in (the SFU
      // and the recorder of a room it opened). Handled now, the recorder got an upload of its own, in mesh mode since
      // the room's mode comes with `joined`: an offer nobody answers, made on the way to our real one.
      if (!state.joinedThisSocket) break;
      addPeer(msg.peer);
      break;
    case 'peerLeft':
      removePeer(msg.id);
      break;
    case 'createOffer':
      await fromPeer(msg.from, () => onOffer(msg));
      break;
    case 'createAnswer':
      await fromPeer(msg.from, () => onAnswer(msg));
      break;
    case 'iceCandidate':
      await fromPeer(msg.from, () => onCandidate(msg));
      break;
    case 'trackPublished':
      state.tracksByMid.set(msg.mid, { participant: msg.participant, kind: msg.kind, source: msg.source });
      // A reused section is a new track: the server learns the size it is shown at afresh.
      state.tileSizes.delete(msg.mid);
      if (msg.kind === 'video') scheduleTileSizes();
      break;
    case 'trackUnpublished':
      unpublished(msg.mid);
      break;
    case 'videoPaused':
    case 'videoResumed':
      showBandwidthPause(msg.mid, msg.type === 'videoPaused');
      break;
    case 'mixSpeakers':
      showMixSpeakers(msg.speakers);
      break;
    case 'error':
      console.warn('signaling error', msg.code, msg.message);
      if (msg.ref === 'join') showError(`${msg.code}: ${msg.message}`);
      break;
  }
}

function addPeer(info) {
  if (state.peers.has(info.id) || info.id === state.id) return;
  /** @type {Peer} */
  const peer = { info, pending: new Map() };
  state.peers.set(info.id, peer);
  // The recorder receives like any peer but is not a tile: it is shown as the "● Recording" indicator instead.
  // ?mesh=0: send to recorders only (a recorded-only client: one upload, no tiles).
  const mesh = params.get('mesh') !== '0';
  if (info.role === 'participant' && mesh) peer.tile = createTile(info);
  if (state.mode === 'sfu') {
    // One upload whatever the room size: to the SFU only (it also feeds the recording).
    if (info.role === 'sfu') startSending(peer);
  } else if ((info.role === 'participant' && mesh) || info.role === 'recorder') startSending(peer);
  updateRecordingIndicator();
}

function removePeer(id) {
  const peer = state.peers.get(id);
  if (!peer) return;
  peer.send?.close();
  peer.recv?.close();
  const video = peer.tile?.querySelector('video');
  if (video) tileResizes?.unobserve(video);
  peer.tile?.remove();
  dropOffPageAudio(peer);
  state.peers.delete(id);
  layoutPages();
  updateRecordingIndicator();
  refreshStatus();
}

function updateRecordingIndicator() {
  ui.recording.hidden = ![...state.peers.values()].some((p) => p.info.role === 'recorder');
}

function newPc(peer) {
  const pc = new RTCPeerConnection({
    iceServers: state.iceServers,
    iceTransportPolicy: params.get('relay') === '1' ? 'relay' : 'all',
  });
  peer.pending.set(pc, []);
  pc.addEventListener('connectionstatechange', () => {
    if (peer.tile && pc === peer.recv) peer.tile.querySelector('.state').textContent = pc.connectionState;
    // The SFU's connection carries every participant's media: its state is each tile's until the tile has media.
    if (peer.info.role === 'sfu' && pc === peer.recv) {
      for (const p of state.peers.values()) if (p.tile && !p.hasMedia) p.tile.querySelector('.state').textContent = pc.connectionState;
    }
    refreshStatus();
  });
  return pc;
}

function startSending(peer) {
  const streams = [state.local, ...state.extras].filter(Boolean);
  if (!streams.some((s) => s.getTracks().length > 0)) return;
  const pc = newPc(peer);
  peer.send = pc;
  peer.sendSession = `${state.id}-${++sessionCounter}`;
  const session = peer.sendSession;
  pc.onicecandidate = (e) => {
    if (e.candidate) send({ type: 'iceCandidate', to: peer.info.id, session, candidate: e.candidate.toJSON() });
  };
  pc.onnegotiationneeded = async () => {
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      send({ type: 'createOffer', to: peer.info.id, session, sdp: pc.localDescription.toJSON() });
    } catch (err) {
      showError(err);
    }
  };
  for (const stream of streams) addTracks(pc, stream);
  if (peer.info.role === 'sfu') watchUpload(peer, pc);
}

/** How long an upload to the SFU may take to connect before it is started again on a new session (doubled per retry). */
const UPLOAD_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Our upload to the SFU is the one connection everybody depends on: if it fails, or is still not connected after
 * UPLOAD_CONNECT_TIMEOUT_MS (a handshake that hung), it is closed and published again on a new session (the server
 * replaces the old publisher). A failed connection later on (network change) is started again the same way.
 */
function watchUpload(peer, pc) {
  const waitMs = UPLOAD_CONNECT_TIMEOUT_MS * 2 ** Math.min(3, peer.uploadRetries ?? 0);
  const retry = (why) => {
    if (peer.send !== pc || !state.peers.has(peer.info.id)) return;
    console.warn(`upload to the SFU ${why}: publishing again`);
    peer.uploadRetries = (peer.uploadRetries ?? 0) + 1;
    pc.close();
    peer.send = undefined;
    startSending(peer);
  };
  const timer = setTimeout(() => {
    if (pc.connectionState !== 'connected') retry(`not connected after ${waitMs / 1000} s (${pc.connectionState})`);
  }, waitMs);
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'connected') {
      clearTimeout(timer);
      peer.uploadRetries = 0;
    }
    if (pc.connectionState === 'failed') {
      clearTimeout(timer);
      retry('failed');
    }
  });
}

async function onOffer(msg) {
  let peer = state.peers.get(msg.from);
  if (!peer) return;
  // A new session from the same peer replaces the old receive PC; the same session is a renegotiation.
  if (peer.recv && peer.recvSession !== msg.session) {
    peer.recv.close();
    peer.recv = undefined;
  }
  if (!peer.recv) {
    const pc = newPc(peer);
    peer.recv = pc;
    peer.recvSession = msg.session;
    pc.onicecandidate = (e) => {
      if (e.candidate) send({ type: 'iceCandidate', to: peer.info.id, session: msg.session, candidate: e.candidate.toJSON() });
    };
    pc.ontrack = (e) => attachTrack(peer, e);
  }
  const pc = peer.recv;
  await pc.setRemoteDescription(msg.sdp);
  await flushCandidates(peer, pc);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  send({ type: 'createAnswer', to: peer.info.id, session: msg.session, sdp: pc.localDescription.toJSON() });
}

async function onAnswer(msg) {
  const peer = state.peers.get(msg.from);
  if (peer?.send && msg.session === peer.sendSession) {
    await peer.send.setRemoteDescription(msg.sdp);
    await flushCandidates(peer, peer.send);
  }
}

/**
 * Runs one negotiation step for a message from peer `peerId`. A failure there (bad or stale SDP, possibly from a
 * misbehaving client) concerns that one peer: it is shown on its tile and logged, never as a page-wide error, which
 * would report the page as broken while its other connections are fine.
 */
async function fromPeer(peerId, step) {
  try {
    await step();
  } catch (err) {
    console.warn(`negotiation with peer ${peerId} failed:`, err);
    const label = state.peers.get(peerId)?.tile?.querySelector('.state');
    if (label) label.textContent = 'negotiation failed';
  }
}

async function onCandidate(msg) {
  const peer = state.peers.get(msg.from);
  if (!peer || !msg.candidate) return;
  const pc = msg.session === peer.sendSession ? peer.send : msg.session === peer.recvSession ? peer.recv : undefined;
  if (!pc) return;
  if (!pc.remoteDescription) peer.pending.get(pc)?.push(msg.candidate);
  else await pc.addIceCandidate(msg.candidate).catch((err) => console.warn('addIceCandidate', err));
}

async function flushCandidates(peer, pc) {
  const queued = peer.pending.get(pc) ?? [];
  peer.pending.set(pc, []);
  for (const c of queued) await pc.addIceCandidate(c).catch((err) => console.warn('addIceCandidate', err));
}

function createTile(info) {
  const fig = document.createElement('figure');
  fig.className = 'tile';
  fig.dataset.peer = info.id;
  fig.dataset.testid = 'tile';
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  const caption = document.createElement('figcaption');
  caption.textContent = info.name;
  const stateLabel = document.createElement('span');
  stateLabel.className = 'state';
  stateLabel.textContent = 'waiting';
  fig.append(video, caption, stateLabel);
  ui.tiles.append(fig);
  tileResizes?.observe(video);
  state.order.push(info.id);
  queueMicrotask(layoutPages);
  return fig;
}

/**
 * Shows the current page's tiles (in `state.order`) and hides the rest. A hidden tile's video has no size, which the
 * next tile size report tells the server (0×0: its video is not forwarded).
 */
function layoutPages() {
  state.order = state.order.filter((id) => state.peers.get(id)?.tile);
  const pages = Math.max(1, Math.ceil(state.order.length / PAGE_SIZE));
  state.page = Math.min(Math.max(0, state.page), pages - 1);
  let before = ui.localTile;
  state.order.forEach((id, i) => {
    const tile = state.peers.get(id).tile;
    tile.hidden = Math.floor(i / PAGE_SIZE) !== state.page;
    // DOM order = page order, after the local tile; only a tile out of place is moved (a move re-inserts its video).
    if (tile.previousElementSibling !== before) before.after(tile);
    before = tile;
    syncTileAudio(state.peers.get(id));
  });
  ui.count.textContent = state.id ? `${state.order.length + 1} here` : '';
  ui.pager.hidden = pages <= 1;
  ui.pageLabel.textContent = `page ${state.page + 1} of ${pages}`;
  ui.prevPage.disabled = state.page === 0;
  ui.nextPage.disabled = state.page >= pages - 1;
  arrangeTiles();
  scheduleTileSizes();
}

/**
 * Places the shown tiles in the tiles area, as large as they fit: a grid of equal tiles (the number of columns that
 * gives the largest tile), or, with a pinned tile, that one in the main area and the others in a column beside it.
 * Positions and widths go into CSS variables, so a stylesheet can still override a tile's width.
 */
function arrangeTiles() {
  const W = ui.tiles.clientWidth - 2 * TILE_GAP;
  const H = ui.tiles.clientHeight - 2 * TILE_GAP;
  if (W <= 0 || H <= 0) return;
  const tiles = [ui.localTile, ...state.order.map((id) => state.peers.get(id)?.tile)].filter((t) => t && !t.hidden);
  const place = (tile, x, y, w) => {
    tile.style.setProperty('--x', `${Math.round(TILE_GAP + x)}px`);
    tile.style.setProperty('--y', `${Math.round(TILE_GAP + y)}px`);
    tile.style.setProperty('--w', `${Math.max(40, Math.floor(w))}px`);
  };
  const pinned = tiles.find((t) => t.classList.contains('pinned'));
  if (pinned && tiles.length > 1) {
    const others = tiles.filter((t) => t !== pinned);
    const stripW = Math.min(W * 0.25, 360);
    const mainW = Math.min(W - stripW - TILE_GAP, H * TILE_ASPECT);
    place(pinned, (W - stripW - TILE_GAP - mainW) / 2, (H - mainW / TILE_ASPECT) / 2, mainW);
    const w = Math.min(stripW, ((H - TILE_GAP * (others.length - 1)) / others.length) * TILE_ASPECT);
    const top = (H - others.length * (w / TILE_ASPECT) - (others.length - 1) * TILE_GAP) / 2;
    others.forEach((t, i) => place(t, W - stripW + (stripW - w) / 2, top + i * (w / TILE_ASPECT + TILE_GAP), w));
    return;
  }
  let best = { cols: 1, w: 0 };
  for (let cols = 1; cols <= tiles.length; cols++) {
    const rows = Math.ceil(tiles.length / cols);
    const w = Math.min((W - (cols - 1) * TILE_GAP) / cols, ((H - (rows - 1) * TILE_GAP) / rows) * TILE_ASPECT);
    if (w > best.w) best = { cols, w };
  }
  const { cols, w } = best;
  const h = w / TILE_ASPECT;
  const rows = Math.ceil(tiles.length / cols);
  const top = (H - rows * h - (rows - 1) * TILE_GAP) / 2;
  tiles.forEach((t, i) => {
    const row = Math.floor(i / cols);
    const inRow = Math.min(cols, tiles.length - row * cols);
    const left = (W - inRow * w - (inRow - 1) * TILE_GAP) / 2;
    place(t, left + (i % cols) * (w + TILE_GAP), top + row * (h + TILE_GAP), w);
  });
}

/** Click on a tile: it fills the main area (and its video is forwarded at that size), again: back to the grid. */
function togglePin(tile) {
  const on = !tile.classList.contains('pinned');
  for (const t of ui.tiles.querySelectorAll('.tile.pinned')) t.classList.remove('pinned');
  tile.classList.toggle('pinned', on);
  arrangeTiles();
}

/**
 * Mic and camera buttons (pressed = on) and the local tile's muted marks, from the local tracks: shown while joined,
 * for the kinds this page sends.
 */
function showLocalToggles() {
  for (const [button, kind, offClass] of [[ui.toggleMic, 'audio', 'mic-off'], [ui.toggleCamera, 'video', 'camera-off']]) {
    const tracks = ui.join.disabled ? state.local?.getTracks().filter((t) => t.kind === kind) ?? [] : [];
    const on = tracks.some((t) => t.enabled);
    button.hidden = tracks.length === 0;
    button.setAttribute('aria-pressed', String(on));
    button.textContent = `${kind === 'audio' ? 'mic' : 'camera'} ${on ? 'on' : 'off'}`;
    ui.localTile.classList.toggle(offClass, tracks.length > 0 && !on);
  }
}

/** Mutes (`on` false) or unmutes the local mic or camera: the track keeps its place (silence or black is sent). */
function setLocalEnabled(kind, on) {
  state.local?.getTracks().filter((t) => t.kind === kind).forEach((t) => (t.enabled = on));
  showLocalToggles();
}

/**
 * Off-page participants stay audible: Chromium does not play a hidden (display: none) video element's sound, so while
 * a tile is off the page its voice plays from an audio element of its own (the tile's video is muted meanwhile).
 */
function syncTileAudio(peer) {
  const video = peer?.tile?.querySelector('video');
  if (!video) return;
  const tracks = video.srcObject instanceof MediaStream ? video.srcObject.getAudioTracks() : [];
  if (peer.tile.hidden && tracks.length > 0) {
    if (!peer.offPageAudio) {
      peer.offPageAudio = document.createElement('audio');
      peer.offPageAudio.dataset.peer = peer.info.id;
      peer.offPageAudio.srcObject = new MediaStream();
      ui.offPageAudio.append(peer.offPageAudio);
    }
    const stream = peer.offPageAudio.srcObject;
    for (const t of tracks) if (!stream.getTrackById(t.id)) stream.addTrack(t);
    video.muted = true;
    peer.offPageAudio.play().catch(() => {});
  } else if (!peer.tile.hidden && peer.offPageAudio) {
    dropOffPageAudio(peer);
    video.muted = false;
    video.play().catch(() => {});
  }
}

function dropOffPageAudio(peer) {
  if (!peer.offPageAudio) return;
  peer.offPageAudio.srcObject = null;
  peer.offPageAudio.remove();
  peer.offPageAudio = undefined;
}

function showPage(page) {
  state.page = page;
  layoutPages();
}

/** `id` started talking: if its tile is not on the first page, it takes the last place there (held, see above). */
function promoteSpeaker(id) {
  const at = state.order.indexOf(id);
  if (at < PAGE_SIZE || Date.now() - state.promotedAt < PROMOTE_HOLD_MS) return;
  state.promotedAt = Date.now();
  state.order.splice(at, 1);
  state.order.splice(PAGE_SIZE - 1, 0, id);
  layoutPages();
}

/** The peer a received track belongs to: the sender itself in a mesh, the announced participant for the SFU's tracks. */
function ownerOf(peer, e) {
  if (peer.info.role !== 'sfu') return peer;
  const published = state.tracksByMid.get(e.transceiver?.mid);
  return published ? state.peers.get(published.participant) : undefined;
}

/**
 * SFU rooms: the server stopped (or resumed) sending the video of `mid` because not even its lowest layer fits our
 * bandwidth. The tile says so instead of showing its last frame, which would look frozen.
 */
function showBandwidthPause(mid, paused) {
  if (paused) state.bandwidthPaused.add(mid);
  else state.bandwidthPaused.delete(mid);
  const published = state.tracksByMid.get(mid);
  const tile = published && state.peers.get(published.participant)?.tile;
  tile?.classList.toggle('bandwidth-paused', paused);
}

function unpublished(mid) {
  if (state.bandwidthPaused.has(mid)) showBandwidthPause(mid, false);
  const published = state.tracksByMid.get(mid);
  state.tracksByMid.delete(mid);
  state.tileSizes.delete(mid);
  const sfu = [...state.peers.values()].find((p) => p.info.role === 'sfu');
  const track = sfu?.recv?.getTransceivers().find((t) => t.mid === mid)?.receiver.track;
  const video = published && state.peers.get(published.participant)?.tile?.querySelector('video');
  if (track && video?.srcObject instanceof MediaStream) video.srcObject.removeTrack(track);
}

/** Who the server's live mix holds now: a ring on their tiles (ours too: the others hear us) and a line in the header. */
function showMixSpeakers(speakers) {
  state.mixSpeakers = speakers;
  state.mixHistory.push({ at: Date.now(), speakers });
  for (const peer of state.peers.values()) peer.tile?.classList.toggle('speaking', speakers.includes(peer.info.id));
  for (const id of speakers) if (state.peers.get(id)?.tile) promoteSpeaker(id);
  ui.localTile.classList.toggle('speaking', speakers.includes(state.id));
  const names = speakers.map((id) => (id === state.id ? 'you' : state.peers.get(id)?.info.name ?? id));
  ui.mix.hidden = false;
  ui.mix.textContent = `mix: ${names.join(', ') || 'nobody talking'}`;
}

function attachTrack(receivedFrom, e) {
  if (receivedFrom.info.role === 'sfu' && state.tracksByMid.get(e.transceiver?.mid)?.source === 'mix') {
    // The live mix (MCU): one audio element for the whole room.
    state.mixStream = new MediaStream([e.track]);
    ui.mixAudio.srcObject = state.mixStream;
    ui.mixAudio.play().catch(() => {});
    return;
  }
  const peer = ownerOf(receivedFrom, e);
  if (!peer?.tile) return;
  const video = peer.tile.querySelector('video');
  if (e.track.kind === 'video') scheduleTileSizes();
  // Assign srcObject once and add later tracks to that stream (the element picks them up). Re-assigning it, even to the
  // same stream, restarts loading and rejects the pending play() with an AbortError.
  if (!(video.srcObject instanceof MediaStream)) video.srcObject = new MediaStream();
  video.srcObject.addTrack(e.track);
  if (e.track.kind === 'audio') syncTileAudio(peer);
  video.play().catch((err) => {
    // Autoplay with sound can be refused without a user gesture (NotAllowedError): fall back to muted rather than a
    // frozen tile. Any other rejection (an AbortError from a newer play()) must not mute the peer.
    if (err?.name !== 'NotAllowedError') return;
    video.muted = true;
    video.play().catch(() => {});
  });
}

/**
 * Once a second, from getStats(): each tile's connection quality (video frame rate and loss since the last look) and a
 * speaking ring from its received audio level.
 */
const previous = new Map();
async function updateIndicators() {
  if (!state.ws) return;
  for (const peer of state.peers.values()) {
    if (!peer.recv) continue;
    const stats = await peer.recv.getStats().catch(() => undefined);
    stats?.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const owner = peer.info.role === 'sfu' ? state.peers.get(state.tracksByMid.get(s.mid)?.participant) : peer;
      if (!owner?.tile) return;
      if (s.kind === 'audio') {
        const speaking = (s.audioLevel ?? 0) > 0.03;
        owner.tile.classList.toggle('speaking', speaking);
        if (speaking) promoteSpeaker(owner.info.id);
      }
      if (s.kind !== 'video') return;
      const before = previous.get(s.id) ?? { received: 0, lost: 0 };
      const received = (s.packetsReceived ?? 0) - before.received;
      const lost = Math.max(0, (s.packetsLost ?? 0) - before.lost);
      previous.set(s.id, { received: s.packetsReceived ?? 0, lost: s.packetsLost ?? 0 });
      const loss = received + lost > 0 ? lost / (received + lost) : 0;
      const fps = s.framesPerSecond ?? 0;
      const quality = received === 0 ? 'no video' : loss > 0.1 || fps < 5 ? 'poor' : loss > 0.02 || fps < 10 ? 'fair' : 'good';
      owner.hasMedia = received > 0 || owner.hasMedia;
      const label = owner.tile.querySelector('.state');
      label.textContent = quality;
      label.dataset.quality = quality;
    });
  }
}
setInterval(() => updateIndicators().catch(() => {}), 1000);

function refreshStatus() {
  if (!state.ws) return;
  const sfu = [...state.peers.values()].find((p) => p.info.role === 'sfu');
  // An SFU room has two connections, our upload and everybody's media: connected means both (a page whose upload
  // hung while its media came in said "connected" and nobody heard it). A mesh is connected once any peer is.
  const pcs = sfu ? [sfu.send, sfu.recv].filter(Boolean) : [...state.peers.values()].flatMap((p) => [p.send, p.recv]).filter(Boolean);
  const isUp = (pc) => pc.connectionState === 'connected';
  if (pcs.length > 0 && (sfu ? pcs.every(isUp) : pcs.some(isUp))) setStatus('connected');
  else if (pcs.some((pc) => pc.connectionState === 'failed')) setStatus('failed');
  else if (sfu && pcs.some(isUp)) setStatus('connecting');
  else if (state.id) setStatus('joined');
}

async function shareScreen() {
  const stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
  state.screen = stream;
  // The browser's own "Stop sharing" ends the track: the share is then unpublished as with our button.
  stream.getVideoTracks()[0]?.addEventListener('ended', () => state.screen === stream && stopScreenShare());
  publish(stream);
  ui.share.textContent = 'Stop sharing';
}

async function stopScreenShare() {
  const stream = state.screen;
  if (!stream) return;
  state.screen = undefined;
  ui.share.textContent = 'Share screen';
  unpublish(stream);
}

/**
 * Stops sending `stream` (an extra one from publish()) on every connection: each send PC renegotiates without it, and
 * the SFU tells the others (`trackUnpublished`); the recording ends that track there.
 */
function unpublish(stream) {
  state.extras = state.extras.filter((s) => s !== stream);
  const tracks = stream.getTracks();
  for (const peer of state.peers.values()) {
    for (const sender of peer.send?.getSenders() ?? []) if (sender.track && tracks.includes(sender.track)) peer.send.removeTrack(sender);
  }
  tracks.forEach((t) => t.stop());
}

/** Sends an extra stream (screen share, second camera) to everyone: each send PC renegotiates on its own session. */
function publish(stream) {
  state.extras.push(stream);
  for (const peer of state.peers.values()) if (peer.send) addTracks(peer.send, stream);
}

function addTracks(pc, stream) {
  for (const track of stream.getTracks()) {
    const layers = simulcastLayers(stream, track);
    if (layers.length > 1) preferCodec(pc, pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], sendEncodings: layers }).sender);
    else preferCodec(pc, pc.addTrack(track, stream));
  }
}

/**
 * SFU rooms (unless `?simulcast=0`): the camera goes to the SFU in layers q/h/f at 1/4, 1/2 and full size, lowest
 * first (the server reads them in this order). VP8 (the default) or H.264 (`?codec=h264`: Chromium encodes each layer
 * with OpenH264; the server switches at the SPS that starts a keyframe); not VP9, and not in a mesh, where each
 * receiver would decode one layer of its own. The bitrates are a 720p camera's, scaled down by pixel count for
 * smaller cameras, with floors under which a layer looks broken.
 * Chromium sends at most 2 layers for cameras under 960x540 and 1 under 480x270, keeping the *first* encodings, so
 * the lowest layers are left out here instead (the full size is always sent); one layer left is no simulcast.
 * `?simulcastLayers=3` asks for that many whatever the camera, for a Chromium started with
 * --force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/ (the tests' small cameras).
 */
function simulcastLayers(stream, track) {
  const codec = params.get('codec')?.toLowerCase();
  if (params.get('simulcast') === '0' || state.mode !== 'sfu' || stream !== state.local || track.kind !== 'video' || (codec && codec !== 'vp8' && codec !== 'h264')) return [];
  const { width = 1280, height = 720 } = track.getSettings();
  const pixels = width * height;
  const forced = Number(params.get('simulcastLayers'));
  const count = forced >= 1 && forced <= 3 ? forced : pixels >= 960 * 540 ? 3 : pixels >= 480 * 270 ? 2 : 1;
  const scale = Math.min(1, pixels / (1280 * 720));
  const all = [
    { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: Math.max(30_000, Math.round(200_000 * scale)) },
    { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: Math.max(60_000, Math.round(700_000 * scale)) },
    { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: Math.max(150_000, Math.round(2_500_000 * scale)) },
  ];
  return all.slice(3 - count);
}

/**
 * SFU rooms: tells the server how large each remote video is shown (its element's size × devicePixelRatio, 0 × 0
 * when hidden), so it forwards a simulcast camera in the smallest layer that covers it. Sent when a size changes,
 * once it has settled, and for each newly announced video.
 */
const tileResizes = typeof ResizeObserver === 'function' ? new ResizeObserver(() => scheduleTileSizes()) : undefined;
let tileSizeTimer;
function scheduleTileSizes() {
  clearTimeout(tileSizeTimer);
  tileSizeTimer = setTimeout(reportTileSizes, TILE_SIZE_DEBOUNCE_MS);
}

function reportTileSizes() {
  const sfu = [...state.peers.values()].find((p) => p.info.role === 'sfu');
  if (!sfu) return;
  const dpr = window.devicePixelRatio || 1;
  for (const [mid, published] of state.tracksByMid) {
    if (published.kind !== 'video') continue;
    const video = state.peers.get(published.participant)?.tile?.querySelector('video');
    if (!video) continue;
    const width = Math.round(video.clientWidth * dpr);
    const height = Math.round(video.clientHeight * dpr);
    const last = state.tileSizes.get(mid);
    if (last && last.width === width && last.height === height) continue;
    state.tileSizes.set(mid, { width, height, at: Date.now() });
    send({ type: 'tileSize', to: sfu.info.id, mid, width, height });
  }
}

/** `?codec=h264` (or vp8, vp9) puts that video codec first; for h264 it is the only one offered (plus rtx). */
function preferCodec(pc, sender) {
  const codec = params.get('codec')?.toLowerCase();
  if (!codec || sender.track?.kind !== 'video' || !RTCRtpSender.getCapabilities) return;
  const transceiver = pc.getTransceivers().find((t) => t.sender === sender);
  const caps = RTCRtpSender.getCapabilities('video').codecs;
  const wanted = caps.filter((c) => c.mimeType.toLowerCase() === `video/${codec}`);
  if (!transceiver || wanted.length === 0) return;
  const rest = codec === 'h264' ? caps.filter((c) => /rtx/i.test(c.mimeType)) : caps.filter((c) => !wanted.includes(c));
  transceiver.setCodecPreferences([...wanted, ...rest]);
}

// Hooks for tests and debugging: what this page receives (straight from getStats()), and publish() for an extra stream.
window.rtcRoom = {
  get id() { return state.id; },
  /** The signaling server this page joined through (another server than the page's when the room lives there). */
  get signalingUrl() { return state.signalingUrl; },
  /** performance.now() of the join click, each redirect and the first `joined`. */
  get timing() { return state.timing; },
  get mode() { return state.mode; },
  /** How voices reach this page: `forward` (one track per participant) or, once the server mixes, the live mix. */
  get audio() { return state.audio; },
  /** MCU: the live mix track's stream, who is in the mix now, and every change with its time (epoch ms). */
  get mixStream() { return state.mixStream; },
  get mixSpeakers() { return state.mixSpeakers; },
  get mixHistory() { return state.mixHistory; },
  /** The size last reported to the server for each remote video, by mid: {width, height, at (epoch ms)}. */
  get tileSizes() { return Object.fromEntries(state.tileSizes); },
  /** Mids of the videos the server paused for bandwidth (their tiles show it). */
  get bandwidthPaused() { return [...state.bandwidthPaused]; },
  /** Pages of other participants' tiles: the one shown, the order (participant ids), tiles per page. */
  get pages() { return { page: state.page, order: [...state.order], size: PAGE_SIZE }; },
  publish,
  unpublish,
  /** Mutes or unmutes our microphone (a muted track sends silence: the others' mix drops us once the hold is over). */
  setMicEnabled(on) {
    setLocalEnabled('audio', on);
  },
  /** Sends `track` instead of the microphone on every connection (tests inject a WebAudio voice with known timing). */
  async replaceAudioTrack(track) {
    for (const peer of state.peers.values()) {
      const sender = peer.send?.getSenders().find((s) => s.track?.kind === 'audio');
      if (sender) await sender.replaceTrack(track);
    }
  },
  // In an SFU room a participant's media arrives on the SFU's connection: its state stands for every participant's.
  peers: () => {
    const sfu = [...state.peers.values()].find((p) => p.info.role === 'sfu');
    return [...state.peers.values()].filter((p) => p.info.role !== 'sfu').map((p) => ({
      ...p.info,
      recvState: (sfu && p.info.role === 'participant' ? sfu.recv : p.recv)?.connectionState,
      sendState: (sfu && p.info.role === 'participant' ? sfu.send : p.send)?.connectionState,
    }));
  },
  async inboundStats() {
    const out = [];
    for (const peer of state.peers.values()) {
      if (!peer.recv) continue;
      const stats = await peer.recv.getStats();
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const owner = peer.info.role === 'sfu' ? state.peers.get(state.tracksByMid.get(s.mid)?.participant) : peer;
        if (!owner) return;
        out.push({
          peerId: owner.info.id, name: owner.info.name, kind: s.kind, source: state.tracksByMid.get(s.mid)?.source, bytesReceived: s.bytesReceived ?? 0,
          packetsReceived: s.packetsReceived ?? 0, framesDecoded: s.framesDecoded ?? 0,
          totalSamplesReceived: s.totalSamplesReceived ?? 0, audioLevel: s.audioLevel ?? 0,
          frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0,
          mid: s.mid, freezeCount: s.freezeCount ?? 0, totalFreezesDuration: s.totalFreezesDuration ?? 0, pliCount: s.pliCount ?? 0,
          jitterBufferDelay: s.jitterBufferDelay ?? 0, jitterBufferTargetDelay: s.jitterBufferTargetDelay ?? 0,
          jitterBufferEmittedCount: s.jitterBufferEmittedCount ?? 0,
          framesPerSecond: s.framesPerSecond ?? 0, nackCount: s.nackCount ?? 0, packetsLost: s.packetsLost ?? 0,
          codec: stats.get(s.codecId)?.mimeType, decoderImplementation: s.decoderImplementation,
        });
      });
    }
    return out;
  },
  /**
   * What this page sends: one entry per outbound RTP stream on every PC (an SFU room: one audio, and one video or one
   * per simulcast layer, with its rid), with the codec and encoder getStats names.
   */
  async outboundStats() {
    const out = [];
    for (const peer of state.peers.values()) {
      if (!peer.send) continue;
      const stats = await peer.send.getStats();
      stats.forEach((s) => {
        if (s.type !== 'outbound-rtp') return;
        out.push({
          to: peer.info.id, role: peer.info.role, kind: s.kind, bytesSent: s.bytesSent ?? 0, packetsSent: s.packetsSent ?? 0,
          codec: stats.get(s.codecId)?.mimeType, encoderImplementation: s.encoderImplementation, scalabilityMode: s.scalabilityMode,
          framesEncoded: s.framesEncoded, keyFramesEncoded: s.keyFramesEncoded, qualityLimitationReason: s.qualityLimitationReason, active: s.active,
          ...(s.rid ? { rid: s.rid, frameWidth: s.frameWidth ?? 0, framesSent: s.framesSent ?? 0 } : {}),
        });
      });
    }
    return out;
  },
  async selectedCandidateTypes() {
    const out = [];
    for (const peer of state.peers.values()) {
      for (const pc of [peer.send, peer.recv]) {
        if (!pc) continue;
        const stats = await pc.getStats();
        stats.forEach((s) => {
          if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
            out.push({ local: stats.get(s.localCandidateId)?.candidateType, remote: stats.get(s.remoteCandidateId)?.candidateType });
          }
        });
      }
    }
    return out;
  },
  /** Average colour of the centre of a peer's tile video (for tests that check who is shown where). */
  tileColor(peerId) {
    const video = state.peers.get(peerId)?.tile?.querySelector('video');
    if (!video || !video.videoWidth) return null;
    const canvas = document.createElement('canvas');
    canvas.width = 16;
    canvas.height = 16;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(video, video.videoWidth / 4, video.videoHeight / 4, video.videoWidth / 2, video.videoHeight / 2, 0, 0, 16, 16);
    const d = ctx.getImageData(0, 0, 16, 16).data;
    let r = 0, g = 0, b = 0;
    for (let i = 0; i < d.length; i += 4) { r += d[i]; g += d[i + 1]; b += d[i + 2]; }
    const n = d.length / 4;
    return { r: Math.round(r / n), g: Math.round(g / n), b: Math.round(b / n) };
  },
};
