/** Rounded to 1e-6 (a microsecond, for seconds) so logs and JSON carry no float noise. */
export function roundMicro(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
