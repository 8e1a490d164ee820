import { capabilityChecks, ffmpegCapabilities, type CapabilityCheck } from '../media/ffmpeg/capabilities.js';
import { libopus, libopusError } from '../media/audio/libopus.js';
import { libcrypto, libcryptoError } from '../peer/srtp/libcrypto.js';
import { SrtpUdpWriter } from '../peer/SrtpUdpWriter.js';
import { ffmpegCandidates, resolveFfmpeg, resolveFfprobe, SOURCE_LABELS, type BinarySource } from '../media/ffmpeg/ffmpegBinary.js';

export interface DoctorOptions {
  json?: boolean;
}

interface CandidateReport {
  source: BinarySource;
  label: string;
  path: string | null;
  note?: string;
  version?: string;
  /** Has every required capability. */
  usable?: boolean;
  selected: boolean;
  /** Why it could not be probed (e.g. not runnable on this machine). */
  error?: string;
}

export interface DoctorReport {
  /** The ffmpeg recordings use (the first candidate found), or null. */
  ffmpeg: { source: BinarySource; path: string; version: string; usable: boolean } | null;
  candidates: CandidateReport[];
  checks: CapabilityCheck[];
  ffprobe: { path: string | null; note?: string };
  /** How Opus is decoded: the system libopus (FEC of lost packets), or the WASM fallback (concealment only). */
  opus: { decoder: 'libopus' | 'wasm'; version?: string; fec: boolean; note?: string };
  /** How SRTP's AES-GCM runs: the system libcrypto (one context per key), or node's crypto (an object per packet). */
  srtp: { cipher: 'libcrypto' | 'node'; version?: string; note?: string };
  /** How the SFU sends forwarded RTP: encrypted in place and sendto(2) from a native buffer, or node's dgram. */
  udpSend: { path: 'sendto' | 'dgram'; note?: string };
}

/**
 * `rtc-record doctor`: every place ffmpeg may come from (in resolution order), what was found there, and the
 * capability checks of the one recordings use. Exits 1 when that one is missing or unusable.
 */
export function doctorCommand(opts: DoctorOptions): void {
  const report = doctorReport();
  console.log(opts.json ? JSON.stringify(report, null, 2) : formatReport(report));
  if (!report.ffmpeg?.usable) process.exitCode = 1;
}

export function doctorReport(): DoctorReport {
  let selectedPath: string | null = null;
  try {
    selectedPath = resolveFfmpeg().path;
  } catch {
    // shown through the candidates: none found, or FFMPEG_PATH set to something that is not executable
  }
  const found = ffmpegCandidates();
  const selectedIndex = selectedPath === null ? -1 : found.findIndex((c) => c.path === selectedPath);
  const candidates = found.map((c, i): CandidateReport => {
    const r: CandidateReport = { ...c, label: SOURCE_LABELS[c.source], selected: i === selectedIndex };
    if (!c.path) return r;
    try {
      const caps = ffmpegCapabilities(c.path);
      r.version = caps.version;
      r.usable = capabilityChecks(caps).every((k) => k.ok || !k.required);
    } catch (err) {
      r.usable = false;
      r.error = (err as Error).message;
    }
    return r;
  });
  const chosen = candidates[selectedIndex];
  let ffprobe: DoctorReport['ffprobe'];
  try {
    ffprobe = { path: resolveFfprobe().path };
  } catch {
    ffprobe = { path: null, note: 'not found (the recorder does not need it; the benchmark and the tests do)' };
  }
  return {
    ffmpeg: chosen?.path ? { source: chosen.source, path: chosen.path, version: chosen.version ?? 'unknown', usable: chosen.usable === true } : null,
    candidates,
    checks: chosen?.path && chosen.version ? capabilityChecks(ffmpegCapabilities(chosen.path)) : [],
    ffprobe,
    opus: opusReport(),
    srtp: srtpReport(),
    udpSend: udpSendReport(),
  };
}

function opusReport(): DoctorReport['opus'] {
  const lib = libopus();
  if (lib) return { decoder: 'libopus', version: lib.version, fec: true };
  return { decoder: 'wasm', fec: false, note: `no system libopus (${libopusError()}): lost packets are concealed, never decoded from FEC; install libopus0` };
}

function srtpReport(): DoctorReport['srtp'] {
  const lib = libcrypto();
  if (lib) return { cipher: 'libcrypto', version: lib.version };
  return { cipher: 'node', note: `no system libcrypto (${libcryptoError()}): AES-GCM through node's crypto, slower per packet; install libssl3` };
}

function udpSendReport(): DoctorReport['udpSend'] {
  const reason = SrtpUdpWriter.unavailableReason();
  if (reason === undefined) return { path: 'sendto' };
  return { path: 'dgram', note: `${reason}: each forwarded packet is encrypted into a new buffer and sent through node's dgram (slower)` };
}

function formatReport(r: DoctorReport): string {
  const lines = ['ffmpeg candidates, in resolution order:'];
  r.candidates.forEach((c, i) => {
    const what = c.path
      ? `${c.path}${c.version ? ` (ffmpeg ${c.version})` : ''}${c.error ? `: cannot run: ${c.error}` : c.usable === false ? ': unusable' : ''}`
      : `not found: ${c.note ?? ''}`;
    lines.push(`  ${c.selected ? '*' : ' '} ${i + 1}. ${c.label.padEnd(36)} ${what}`);
  });
  if (r.ffmpeg) {
    lines.push('', `using ${r.ffmpeg.path} (${SOURCE_LABELS[r.ffmpeg.source]}, ffmpeg ${r.ffmpeg.version}); checks:`);
    for (const k of r.checks) {
      const mark = k.ok ? 'ok  ' : k.required ? 'FAIL' : 'warn';
      lines.push(`  ${mark} ${k.name}${k.ok ? '' : `: ${k.effect ?? ''}`}`);
    }
  } else {
    lines.push('', 'no usable ffmpeg: run `npm ci` (it installs the bundled one), install ffmpeg, or fix FFMPEG_PATH.');
  }
  lines.push('', `ffprobe: ${r.ffprobe.path ?? r.ffprobe.note}`);
  lines.push(`opus: ${r.opus.decoder === 'libopus' ? `system ${r.opus.version} (lost packets decoded from FEC where the sender sent it)` : `WASM; ${r.opus.note}`}`);
  lines.push(`srtp: ${r.srtp.cipher === 'libcrypto' ? `AES-GCM through the system ${r.srtp.version}` : `node's crypto; ${r.srtp.note}`}`);
  lines.push(`forwarded RTP: ${r.udpSend.path === 'sendto' ? 'encrypted in place, sent with sendto(2)' : `node's dgram; ${r.udpSend.note}`}`);
  lines.push(r.ffmpeg?.usable ? 'ready to record' : 'NOT ready to record');
  return lines.join('\n');
}
