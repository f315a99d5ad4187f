// The metric model moved to exposition/families.ts. This re-export keeps the collectors' and the
// statements engine's imports of '../exposition.js' working while they are rewritten elsewhere;
// delete it once nothing imports this path.
export * from './exposition/families.js';
