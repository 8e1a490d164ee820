import { createS3Client, presignGet } from './objectStore.js';
import { readUploadState } from './uploadState.js';

/**
 * A presigned GET link to `file` of a recording whose local copy was deleted after a verified upload; undefined when
 * the store does not hold it (never uploaded, upload failed). Signed with this process's AWS credentials, for the
 * bucket and endpoint upload.json names.
 */
export async function presignStoredFile(dir: string, file: string, opts: { filename?: string; attachment?: boolean; expiresInS?: number } = {}): Promise<string | undefined> {
  const s = readUploadState(dir);
  if (s?.state !== 'uploaded') return undefined;
  const obj = s.objects.find((o) => o.file === file);
  if (!obj) return undefined;
  const client = createS3Client({ endpoint: s.endpoint, region: s.region, forcePathStyle: s.forcePathStyle });
  try {
    return await presignGet(client, s.bucket, obj.key, opts);
  } finally {
    client.destroy();
  }
}
