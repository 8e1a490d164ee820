import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';

// A real S3-compatible server in this process (@20minutes/s3rver: SigV4 header and presigned signatures are checked,
// multipart uploads supported), storing into a temporary directory. The only account is S3RVER / S3RVER.

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('@20minutes/s3rver') as S3rverCtor;

export const S3_ACCESS_KEY = 'S3RVER';
export const S3_SECRET_KEY = 'S3RVER';

/** Credentials for a child process (the CLI reads the usual AWS variables). */
export const S3_ENV = { AWS_ACCESS_KEY_ID: S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY, AWS_REGION: 'us-east-1' };

export class TestS3Server {
  readonly directory: string;
  port = 0;
  private server?: S3rverInstance;

  constructor(readonly bucket = 'recordings', directory?: string) {
    this.directory = directory ?? mkdtempSync(join(tmpdir(), 'rtc-s3-'));
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts on `port` (the previous one after a stop, so clients configured before find it again), 0: any free one. */
  async start(port = this.port): Promise<this> {
    this.server = new S3rver({ port, address: '127.0.0.1', silent: true, directory: this.directory, configureBuckets: [{ name: this.bucket }] });
    const addr = await this.server.run();
    this.port = addr.port;
    return this;
  }

  /** The store goes down: open connections are cut, new ones refused. Its files stay for a restart. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.httpServer?.closeAllConnections();
    await s.close();
  }

  /** Stops the store for good and deletes what it stored. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.directory, { recursive: true, force: true });
  }

  client(secret = S3_SECRET_KEY): S3Client {
    const c = new S3Client({
      endpoint: this.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: secret },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    // Bucket-level requests (listing): the SDK sends path-style `/bucket/`, which s3rver signs as `/bucket`; S3 takes
    // both, so the harness's own client sends `/bucket`. (Object requests, all the uploader makes, are unaffected.)
    c.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { path?: string };
        if (req.path === `/${this.bucket}/`) req.path = `/${this.bucket}`;
        return next(args);
      },
      { step: 'build', name: 'bucketPathWithoutSlash' },
    );
    return c;
  }

  async keys(prefix = ''): Promise<string[]> {
    const c = this.client();
    try {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const r = await c.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
        out.push(...(r.Contents ?? []).map((o) => o.Key!));
        token = r.NextContinuationToken;
      } while (token);
      return out.sort();
    } finally {
      c.destroy();
    }
  }

  async get(key: string): Promise<{ body: Buffer; metadata: Record<string, string>; contentType?: string }> {
    const c = this.client();
    try {
      const r = await c.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return { body: Buffer.from(await r.Body!.transformToByteArray()), metadata: r.Metadata ?? {}, contentType: r.ContentType };
    } finally {
      c.destroy();
    }
  }
}

/**
 * One store for the whole test file, for tests that upload from this process: the AWS variables are set to its
 * account (the SDK reads them) while the file runs and restored after.
 */
export function useTestS3(): TestS3Server {
  const s3 = new TestS3Server();
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    Object.assign(process.env, S3_ENV);
    await s3.start();
  });
  afterAll(async () => {
    await s3.close();
    process.env = savedEnv;
  });
  return s3;
}
