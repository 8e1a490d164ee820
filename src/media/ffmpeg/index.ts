export { clearFfmpegResolutionCache, ffmpegVersion, resolveFfmpeg, resolveFfprobe } from './ffmpegBinary.js';
export type { BinarySource, ResolvedBinary, ResolveOptions } from './ffmpegBinary.js';
export { FfmpegProcess, runFfmpeg, runFfprobe } from './FfmpegProcess.js';
export type { FfmpegExit, FfmpegProcessEvents, FfmpegProcessOptions, FfmpegProgress, RunOptions, RunResult, StopOptions } from './FfmpegProcess.js';
export { pipeTransfersActive, watchPipeTransfer } from './pipeTransfers.js';
