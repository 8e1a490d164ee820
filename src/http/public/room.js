// Room page: one RTCPeerConnection per direction per remote peer. Each side offers on the PC it sends on, so there is
// never glare; the PC a peer receives on is created when that peer's offer arrives (see docs/protocol.md).

const params = new URLSearchParams(location.search);
const roomName = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const $ = (id) => document.getElementById(id);

const ui = {
  status: $('status'), recording: $('recording'), error: $('error'), tiles: $('tiles'),
  name: $('name'), join: $('join'), leave: $('leave'), share: $('share'), form: $('join-form'),
  useVideo: $('use-video'), useAudio: $('use-audio'), localVideo: $('local-video'),
};

/** @type {{ws?: WebSocket, id?: string, iceServers: RTCIceServer[], local?: MediaStream, extras: MediaStream[], peers: Map<string, Peer>}} */
const state = { iceServers: [], peers: new Map(), extras: [] };
let sessionCounter = 0;

/**
 * @typedef {{ info: {id: string, name: string, role: string}, send?: RTCPeerConnection, sendSession?: string,
 *   recv?: RTCPeerConnection, recvSession?: string, pending: Map<RTCPeerConnection, RTCIceCandidateInit[]>, tile?: HTMLElement }} Peer
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
ui.share.addEventListener('click', () => shareScreen().catch(showError));
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
  if (wantVideo || wantAudio) {
    // ?agc=0 turns the browser's voice processing off (echo cancellation, noise suppression, AGC): tests compare levels.
    const raw = params.get('agc') === '0' ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false } : true;
    state.local = await navigator.mediaDevices.getUserMedia({ video: wantVideo, audio: wantAudio && raw });
    ui.localVideo.srcObject = state.local;
  }
  // With --secret, joining needs the page's ?token= (browsers cannot set headers on a WebSocket).
  const token = params.get('token') ? `?token=${encodeURIComponent(params.get('token'))}` : '';
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws${token}`);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'join', room: roomName, name }));
  ws.onmessage = (event) => onMessage(JSON.parse(event.data)).catch(showError);
  ws.onclose = () => {
    if (state.ws === ws) {
      teardown();
      setStatus('disconnected');
    }
  };
  ui.join.disabled = true;
  ui.leave.disabled = false;
}

function leave() {
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
  ui.join.disabled = false;
  ui.leave.disabled = true;
  ui.share.disabled = true;
  updateRecordingIndicator();
}

function send(msg) {
  if (state.ws?.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

async function onMessage(msg) {
  switch (msg.type) {
    case 'joined':
      state.id = msg.id;
      state.iceServers = msg.iceServers ?? [];
      ui.share.disabled = false;
      setStatus('joined');
      for (const info of msg.peers) addPeer(info);
      break;
    case 'peerJoined':
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
  if ((info.role === 'participant' && mesh) || info.role === 'recorder') startSending(peer);
  updateRecordingIndicator();
}

function removePeer(id) {
  const peer = state.peers.get(id);
  if (!peer) return;
  peer.send?.close();
  peer.recv?.close();
  peer.tile?.remove();
  state.peers.delete(id);
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
  return fig;
}

function attachTrack(peer, e) {
  if (!peer.tile) return;
  const video = peer.tile.querySelector('video');
  // Assign srcObject once and add later tracks to that stream (the element picks them up). Re-assigning it, even to the
  // same stream, restarts loading and rejects the pending play() with an AbortError.
  if (!(video.srcObject instanceof MediaStream)) video.srcObject = new MediaStream();
  video.srcObject.addTrack(e.track);
  video.play().catch((err) => {
    // Autoplay with sound can be refused without a user gesture (NotAllowedError): fall back to muted rather than a
    // frozen tile. Any other rejection (an AbortError from a newer play()) must not mute the peer.
    if (err?.name !== 'NotAllowedError') return;
    video.muted = true;
    video.play().catch(() => {});
  });
}

function refreshStatus() {
  if (!state.ws) return;
  const pcs = [...state.peers.values()].flatMap((p) => [p.send, p.recv]).filter(Boolean);
  if (pcs.some((pc) => pc.connectionState === 'connected')) setStatus('connected');
  else if (pcs.some((pc) => pc.connectionState === 'failed')) setStatus('failed');
  else if (state.id) setStatus('joined');
}

async function shareScreen() {
  publish(await navigator.mediaDevices.getDisplayMedia({ video: true }));
}

/** Sends an extra stream (screen share, second camera) to everyone: each send PC renegotiates on its own session. */
function publish(stream) {
  state.extras.push(stream);
  for (const peer of state.peers.values()) if (peer.send) addTracks(peer.send, stream);
}

function addTracks(pc, stream) {
  for (const track of stream.getTracks()) preferCodec(pc, pc.addTrack(track, stream));
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
  publish,
  peers: () => [...state.peers.values()].map((p) => ({ ...p.info, recvState: p.recv?.connectionState, sendState: p.send?.connectionState })),
  async inboundStats() {
    const out = [];
    for (const peer of state.peers.values()) {
      if (!peer.recv) continue;
      const stats = await peer.recv.getStats();
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        out.push({
          peerId: peer.info.id, name: peer.info.name, kind: s.kind, bytesReceived: s.bytesReceived ?? 0,
          packetsReceived: s.packetsReceived ?? 0, framesDecoded: s.framesDecoded ?? 0,
          totalSamplesReceived: s.totalSamplesReceived ?? 0, audioLevel: s.audioLevel ?? 0,
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
