// One headless Debian Chromium per test participant, with fake capture devices fed from fixture
// files. The capture files are a per-process switch, hence one browser process per participant.
import { resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { assertNetworkIsolated } from './netns.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Origin of a blank page served by request interception (no server, no socket). `*.localhost` is a
 * secure context, which getUserMedia and RTCPeerConnection-with-media need; about:blank is not.
 */
export const HARNESS_ORIGIN = 'http://harness.localhost';

export interface LaunchParticipantOptions {
  /** .y4m for the fake camera (Chromium loops it). Omitted: Chromium's built-in fake pattern. */
  video?: string;
  /** .wav for the fake microphone (looped). Omitted: Chromium's built-in fake beep. */
  audio?: string;
  /** Default true. */
  headless?: boolean;
  /** Label used in logs and errors. */
  name?: string;
  /** Page to open. Default: a blank page at HARNESS_ORIGIN. */
  url?: string;
  /** Extra Chromium switches. */
  args?: string[];
  /** Echo the page's console to stdout (also when env RTC_RECORD_BROWSER_LOG=1). */
  logConsole?: boolean;
}

export interface Participant {
  name: string;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** console.error messages, uncaught page errors and crashes, in order, for debugging. */
  consoleErrors: string[];
  /** Idempotent; never throws. */
  close(): Promise<void>;
}

/** The Chromium switches launchParticipant uses (beyond Playwright's own defaults). */
export function participantArgs(opts: Pick<LaunchParticipantOptions, 'video' | 'audio' | 'args'> = {}): string[] {
  const args = [
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--no-sandbox',
    '--disable-gpu',
    // Loopback is excluded from ICE gathering unless this is set. It is used only when the page
    // also has camera/microphone permission (granted on the context below, or by getUserMedia);
    // otherwise Chromium gathers only the "default route" address, which a lo-only namespace has not.
    '--allow-loopback-in-peer-connection',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // Remote <video>/<audio> must play without a user gesture.
    '--autoplay-policy=no-user-gesture-required',
  ];
  if (opts.video) args.push(`--use-file-for-fake-video-capture=${resolve(opts.video)}`);
  if (opts.audio) args.push(`--use-file-for-fake-audio-capture=${resolve(opts.audio)}`);
  args.push(...(opts.args ?? []));
  return args;
}

let counter = 0;

export async function launchParticipant(opts: LaunchParticipantOptions = {}): Promise<Participant> {
  const name = opts.name ?? `participant-${++counter}`;
  assertNetworkIsolated(`launchParticipant(${name})`);
  const logConsole = opts.logConsole ?? process.env.RTC_RECORD_BROWSER_LOG === '1';

  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: opts.headless ?? true,
    args: participantArgs(opts),
    timeout: 30_000,
  });
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      // close() can hang on a wedged renderer; don't let it hang the test run.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        browser.close().catch(() => {}),
        new Promise<void>((r) => (timer = setTimeout(r, 10_000))),
      ]);
      clearTimeout(timer);
    })());

  try {
    // Granting camera+microphone up front makes Chromium expose its (loopback) host candidates
    // even on pages that never call getUserMedia (e.g. receive-only viewers).
    const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (msg) => {
      if (logConsole) console.log(`[${name}] ${msg.type()}: ${msg.text()}`);
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => {
      if (logConsole) console.log(`[${name}] pageerror: ${err.message}`);
      consoleErrors.push(`pageerror: ${err.message}`);
    });
    page.on('crash', () => consoleErrors.push('page crashed'));

    if (opts.url) {
      await page.goto(opts.url);
    } else {
      await gotoBlank(page);
    }
    return { name, browser, context, page, consoleErrors, close };
  } catch (err) {
    await close();
    throw err;
  }
}

const BLANK_HTML = '<!doctype html><meta charset="utf-8"><title>harness</title><body></body>';
const blankHtml = new WeakMap<Page, string>();

/** Opens a page at HARNESS_ORIGIN (secure context) with `html`, served by interception. */
export async function gotoBlank(page: Page, html = BLANK_HTML): Promise<void> {
  if (!blankHtml.has(page)) {
    await page.route(`${HARNESS_ORIGIN}/**`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: blankHtml.get(page) ?? BLANK_HTML }),
    );
  }
  blankHtml.set(page, html);
  await page.goto(`${HARNESS_ORIGIN}/`);
}
