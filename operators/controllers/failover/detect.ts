// Automatic mode's verdict on the serving region's primary: lost, suspected, or fine. Pure.
//
// A primary counts as lost only when at least spec.automatic.minFailingSignals independent signals
// (the database as this operator sees it, the app's readiness, the DNS health check) fail together
// for confirmationSeconds with no healthy sign in between. "In between" is not just this look: the
// database signal carries the last time a continuous watcher saw the primary answer, so a primary
// that flaps (up and down every second) resets the window even when every look happens to land on
// a down moment. The verdict only starts a flip; the fence (decide.ts) is what makes a wrong
// verdict (a partition) harmless: nothing is promoted until the old primary provably refuses writes.
import type { AutomaticStatus, EffectiveSpec, Region, SignalReading } from "../../api/regionfailover.ts";

/** One signal as observed; lastHealthyAt comes from a watcher that looks between reconciles. */
export interface LossSignalObservation extends SignalReading {
  lastHealthyAt?: Date;
}

export interface LossVerdict {
  automatic: AutomaticStatus;
  /** Lost, confirmed: an automatic flip may start now. */
  confirmed: boolean;
}

const iso = (date: Date) => date.toISOString();

export function judgePrimary(
  spec: EffectiveSpec,
  previous: AutomaticStatus | undefined,
  serving: Region,
  signals: LossSignalObservation[],
  now: Date,
): LossVerdict {
  const automatic: AutomaticStatus = { ...previous };
  automatic.signals = signals.map(({ signal, healthy, detail }) =>
    detail === undefined ? { signal, healthy } : { signal, healthy, detail },
  );
  const required = spec.automatic.minFailingSignals;
  const failing = signals.filter((s) => !s.healthy);
  const names = failing.map((s) => s.signal).join(", ");
  if (failing.length < required) {
    if (automatic.suspectSince) {
      automatic.suspicionsCleared = (automatic.suspicionsCleared ?? 0) + 1;
      delete automatic.suspectSince;
    }
    automatic.message = `${serving}'s primary looks fine (${failing.length}/${signals.length} signals failing, ${required} needed).`;
    return { automatic, confirmed: false };
  }
  const since = automatic.suspectSince ? new Date(automatic.suspectSince) : now;
  // A healthy sign seen by a watcher after the suspicion began: the primary came back in between.
  const cameBack = signals.some((s) => s.lastHealthyAt && s.lastHealthyAt.getTime() > since.getTime());
  if (!automatic.suspectSince || cameBack) {
    if (cameBack) automatic.suspicionsCleared = (automatic.suspicionsCleared ?? 0) + 1;
    automatic.suspectSince = iso(now);
    automatic.message = `${serving}'s primary suspected lost (${names} failing); confirming for ${spec.automatic.confirmationSeconds} s.`;
    return { automatic, confirmed: false };
  }
  const held = (now.getTime() - since.getTime()) / 1000;
  if (held < spec.automatic.confirmationSeconds) {
    automatic.message = `${serving}'s primary suspected lost (${names} failing for ${held.toFixed(1)}/${spec.automatic.confirmationSeconds} s).`;
    return { automatic, confirmed: false };
  }
  automatic.message = `${serving}'s primary lost: ${names} failing for ${held.toFixed(1)} s.`;
  return { automatic, confirmed: true };
}
