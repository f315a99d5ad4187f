// Which entries get their own queryid series. Ranked by a decaying sum of recent execution
// time, with hysteresis: a member keeps its place until an outsider's score beats the weakest
// member's by HYSTERESIS_FACTOR, so membership (and therefore series) does not churn every poll
// when scores are close: every new queryid label set is a new series Prometheus keeps in memory
// until it goes stale, and per-query series that came and went each poll blew up its memory.

export const SCORE_DECAY = 0.7;
export const HYSTERESIS_FACTOR = 1.5;

/** New decayed score after an interval that added `deltaSeconds`. */
export function decayScore(previous: number, deltaSeconds: number): number {
  return previous * SCORE_DECAY + deltaSeconds;
}

/**
 * Returns the new member set (at most `n`). `scores` holds every live entry; members that
 * vanished drop out, vacancies are filled by the best outsiders, and an outsider displaces the
 * weakest member only when its score is more than HYSTERESIS_FACTOR times higher.
 */
export function selectTop(scores: ReadonlyMap<string, number>, members: ReadonlySet<string>, n: number): Set<string> {
  const byScore = (a: string, b: string) => scores.get(b)! - scores.get(a)! || (a < b ? -1 : a > b ? 1 : 0);
  const kept = [...members].filter((k) => scores.has(k)).sort(byScore);
  kept.length = Math.min(kept.length, n);
  const outsiders = [...scores.keys()].filter((k) => !members.has(k) || !kept.includes(k)).sort(byScore);
  const result = new Set(kept);
  let next = 0;
  while (result.size < n && next < outsiders.length) result.add(outsiders[next++]!);
  // Swap the weakest member for the strongest remaining outsider while the margin holds.
  const ordered = [...result].sort(byScore);
  while (next < outsiders.length && ordered.length > 0) {
    const challenger = outsiders[next]!;
    const weakest = ordered[ordered.length - 1]!;
    if (scores.get(challenger)! <= HYSTERESIS_FACTOR * scores.get(weakest)! || scores.get(challenger)! === 0) break;
    result.delete(weakest);
    result.add(challenger);
    ordered.pop();
    // Keep `ordered` sorted: the challenger is stronger than every remaining outsider.
    const at = ordered.findIndex((k) => byScore(challenger, k) < 0);
    ordered.splice(at === -1 ? ordered.length : at, 0, challenger);
    next++;
  }
  return result;
}

/**
 * How many statements may have their own series: every member costs one series per statement
 * family plus its info series, and each database with folded entries costs one "other" series
 * per family.
 */
export function topNSize(settings: { topN: number; maxSeries: number }, families: number, databases: number): number {
  const labelSets = Math.floor(settings.maxSeries / (families + 1));
  return Math.max(0, Math.min(settings.topN, labelSets - databases));
}
