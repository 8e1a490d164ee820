/**
 * Pipe transfers under way in this process: a picture half read from a decoder, a frame still queued for an encoder.
 * The CLI's I/O batching lets the event loop sleep between batches only while there are none: a pipe holds ~200 KB,
 * so a sleep in mid-transfer stalls the other side every ~200 KB (a 720p picture is 1.4 MB).
 */
const busyChecks = new Set<() => boolean>();

/** Registers a check that says whether a transfer is under way; returns the function that unregisters it. */
export function watchPipeTransfer(isBusy: () => boolean): () => void {
  busyChecks.add(isBusy);
  return () => busyChecks.delete(isBusy);
}

/** Whether any watched transfer is under way right now. */
export function pipeTransfersActive(): boolean {
  for (const isBusy of busyChecks) if (isBusy()) return true;
  return false;
}
