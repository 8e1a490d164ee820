/**
 * The SFU's floor: the least a Node forwarder must do per packet, without werift. Per incoming packet one AES-128-GCM
 * decrypt; per subscriber one AES-128-GCM encrypt and one UDP send on loopback, with node's crypto the way werift
 * uses it (a cipher object per packet: Node cannot rekey a GCM context with a new IV). Packets come from memory (no
 * receive syscall, no RTCP, no RTP parsing), in bursts of 100, so this is a bound no Node SFU on this machine can
 * beat. It runs as its own process (`node sfuFloor.js relay <port> <subscribers> <packets>`) and reports its CPU.
 */
import { fork } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';

export interface SfuFloorResult {
  subscribers: number;
  forwarded: number;
  /** CPU (user + system) of the relay per forwarded packet. */
  usPerPacket: number;
  packetsPerCore: number;
  /** The same relay without SRTP: what the sends alone cost. */
  plainUsPerPacket: number;
}

const PAYLOAD = 1100;

function encrypt(key: Buffer, header: Buffer, payload: Buffer, index: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(index >>> 0, 8);
  const c = createCipheriv('aes-128-gcm', key, iv);
  c.setAAD(header);
  const enc = c.update(payload);
  c.final();
  return Buffer.concat([header, enc, c.getAuthTag()]);
}

function decrypt(key: Buffer, packet: Buffer, index: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(index >>> 0, 8);
  const d = createDecipheriv('aes-128-gcm', key, iv);
  d.setAAD(packet.subarray(0, 12));
  d.setAuthTag(packet.subarray(packet.length - 16));
  const out = d.update(packet.subarray(12, packet.length - 16));
  d.final();
  return out;
}

async function relay(port: number, subscribers: number, packets: number, srtp: boolean): Promise<number> {
  const key = randomBytes(16);
  const header = randomBytes(12);
  const incoming = encrypt(key, header, randomBytes(PAYLOAD), 7);
  const sockets = await Promise.all(
    Array.from({ length: subscribers }, () => new Promise<Socket>((resolve) => {
      const s = createSocket('udp4');
      s.connect(port, '127.0.0.1', () => resolve(s));
    })),
  );
  const run = (n: number) =>
    new Promise<void>((done) => {
      let i = 0;
      const burst = () => {
        for (let k = 0; k < 100 && i < n; k++, i++) {
          if (!srtp) {
            for (const s of sockets) s.send(incoming);
            continue;
          }
          const payload = decrypt(key, incoming, 7);
          for (const s of sockets) s.send(encrypt(key, header, payload, i));
        }
        if (i < n) setImmediate(burst);
        else setImmediate(done);
      };
      burst();
    });
  await run(Math.min(5000, packets)); // warm-up (V8 optimizing)
  const t0 = process.cpuUsage();
  await run(packets);
  const used = process.cpuUsage(t0);
  for (const s of sockets) s.close();
  return (used.user + used.system) / (packets * subscribers);
}

/** Runs the relay process against a sink socket here; `packets` incoming packets, each forwarded to `subscribers`. */
export async function sfuFloor(subscribers: number, packets = 15_000): Promise<SfuFloorResult> {
  const sink = createSocket('udp4');
  sink.on('message', () => {});
  await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
  const port = sink.address().port;
  const measure = (srtp: boolean) =>
    new Promise<number>((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), ['relay', String(port), String(subscribers), String(packets), srtp ? 'srtp' : 'plain'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('message', (us) => resolve(Number(us)));
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (code !== 0) reject(new Error(`sfu floor relay exited with ${code}`));
      });
    });
  try {
    const usPerPacket = await measure(true);
    const plainUsPerPacket = await measure(false);
    return { subscribers, forwarded: packets * subscribers, usPerPacket, packetsPerCore: 1e6 / usPerPacket, plainUsPerPacket };
  } finally {
    sink.close();
  }
}

if (process.argv[2] === 'relay') {
  const [port, subscribers, packets, mode] = process.argv.slice(3);
  relay(Number(port), Number(subscribers), Number(packets), mode === 'srtp').then(
    (us) => process.send!(us, () => process.exit(0)),
    (err: Error) => {
      console.error(`sfu floor relay: ${err.message}`);
      process.exit(1);
    },
  );
}
