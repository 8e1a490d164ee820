/**
 * SIGINT/SIGTERM for a long-running command (serve, worker): the first prints `starting` and runs `shutdown`, exiting
 * 0 when it is done (1 if it failed); a second signal exits at once without waiting, for the impatient operator.
 */
export function exitOnStopSignals(starting: () => string, shutdown: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      console.log(`${signal} again: exiting without finalizing`);
      process.exit(1);
    }
    stopping = true;
    console.log(starting());
    shutdown().then(
      () => {
        console.log('stopped');
        process.exit(0);
      },
      (err) => {
        console.error(`rtc-record: shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
