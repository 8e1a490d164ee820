// Object keys from the template, the attempt suffix, and the --s3 options.
import { describe, expect, it } from 'vitest';
import { checkKeyTemplate, renderKey, withAttemptSuffix } from '../../../src/recording/upload/keyTemplate.js';
import { parseS3Url, uploadTargetFromCli } from '../../../src/recording/upload/uploadTarget.js';

const vars = { room: 'demo', id: '20261205T101500123Z-k3x9qa', startedAt: '2026-12-05T10:15:00.123Z', attempt: 1 };

describe('key template', () => {
  it('fills in room, id, date, file, name, participant, track', () => {
    expect(renderKey('rec', '{room}/{id}/{file}', { ...vars, file: 'recording.mp4' })).toBe('rec/demo/20261205T101500123Z-k3x9qa/recording.mp4');
    expect(renderKey('', '{date}/{room}/{participant}/{track}-{name}', { ...vars, file: 'tracks/Bob-p1-0.webm', participant: 'Bob Smith/ü', track: 'Bob-p1-0' })).toBe(
      '2026-12-05/demo/Bob_Smith__/Bob-p1-0-Bob-p1-0.webm',
    );
    // An empty placeholder leaves no empty path segment.
    expect(renderKey('p/q', '{room}/{participant}/{file}', { ...vars, file: 'recording.mp4' })).toBe('p/q/demo/recording.mp4');
  });

  it('from attempt 2 the file name gets .attempt-N, unless the template places {attempt}', () => {
    expect(renderKey('', '{room}/{id}/{file}', { ...vars, attempt: 2, file: 'tracks/a-0.webm' })).toBe('demo/20261205T101500123Z-k3x9qa/tracks/a-0.attempt-2.webm');
    expect(renderKey('', '{room}/{id}/try{attempt}/{file}', { ...vars, attempt: 3, file: 'recording.mp4' })).toBe('demo/20261205T101500123Z-k3x9qa/try3/recording.mp4');
    expect(withAttemptSuffix('a.b/noext', 4)).toBe('a.b/noext.attempt-4');
    expect(withAttemptSuffix('x/recording.part.mp4', 2)).toBe('x/recording.part.attempt-2.mp4');
  });

  it('refuses unknown placeholders, templates that cannot tell files apart, and dot segments', () => {
    expect(() => checkKeyTemplate('{room}/{bucket}/{file}')).toThrow(/unknown placeholder \{bucket\}/);
    expect(() => checkKeyTemplate('{room}/{id}/recording.mp4')).toThrow(/must contain \{file\}/);
    expect(() => checkKeyTemplate('../{file}')).toThrow(/\.\./);
  });
});

describe('--s3 options', () => {
  it('parses s3://bucket/prefix', () => {
    expect(parseS3Url('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(parseS3Url('s3://my-bucket/a/b/')).toEqual({ bucket: 'my-bucket', prefix: 'a/b' });
    expect(() => parseS3Url('https://my-bucket/x')).toThrow(/s3:\/\/bucket\/prefix/);
    expect(() => parseS3Url('s3://My_Bucket/x')).toThrow(/bad bucket name/);
    expect(() => parseS3Url('s3://bucket/a//b')).toThrow(/bad prefix/);
  });

  it('builds the target from the CLI flags, refusing bucket flags without --s3', () => {
    expect(uploadTargetFromCli({})).toBeUndefined();
    expect(uploadTargetFromCli({ s3: 's3://rec/x', s3Endpoint: 'http://127.0.0.1:9000/', s3Region: 'eu-1', s3PathStyle: true })).toEqual({
      bucket: 'rec',
      prefix: 'x',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-1',
      forcePathStyle: true,
      keyTemplate: '{room}/{id}/{file}',
    });
    expect(() => uploadTargetFromCli({ s3Endpoint: 'http://127.0.0.1:9000' })).toThrow(/need --s3/);
    expect(() => uploadTargetFromCli({ s3: 's3://rec', s3Endpoint: 'ftp://x' })).toThrow(/http\(s\) URL/);
    try {
      uploadTargetFromCli({ s3: 's3://rec', s3KeyTemplate: '{nope}' });
    } catch (err) {
      expect((err as { code?: string }).code).toBe('BAD_S3_TARGET');
      return;
    }
    throw new Error('a bad template was accepted');
  });
});
