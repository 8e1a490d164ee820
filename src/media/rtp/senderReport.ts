/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** Converts a 64-bit NTP timestamp (RTCP sender report) to Unix epoch milliseconds. */
export function ntpToUnixMs(ntp: bigint): number {
  const seconds = Number(ntp >> 32n);
  const fraction = Number(ntp & 0xffffffffn) / 2 ** 32;
  return (seconds - NTP_UNIX_OFFSET_S + fraction) * 1000;
}
