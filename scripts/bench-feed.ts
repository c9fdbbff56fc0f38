/**
 * Benchmark of the simulated client feed on one core: generation (SimulatedFeed.read) and parsing
 * (parseStreamRecords) of micro-batches, as the stream activity does them.
 * Rates are reported by wall time and by process CPU time; on a busy machine wall time also counts the
 * time spent waiting for a core, and CPU time is the better measure of what one core can do.
 * Usage: tsx scripts/bench-feed.ts [events=500000] [batch=5000] [rounds=5]
 */
import { parseStreamRecords } from '../src/domain/stream-event.js';
import { SimulatedFeed } from '../src/sources/simulated-feed.js';

const events = Number(process.argv[2] ?? 500_000);
const batch = Number(process.argv[3] ?? 5_000);
const rounds = Number(process.argv[4] ?? 5);

const feed = new SimulatedFeed({
  seed: 42,
  rate: 'unbounded',
  businessDate: '2026-11-21',
  sealedDates: ['2026-11-18'],
  sealedShare: 0.002,
});

interface Phase {
  wallMs: number;
  cpuMs: number;
}
interface Round {
  generate: Phase;
  parse: Phase;
  valid: number;
}

const cpuNow = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const runRound = async (): Promise<Round> => {
  const generate = { wallMs: 0, cpuMs: 0 };
  const parse = { wallMs: 0, cpuMs: 0 };
  let valid = 0;
  for (let cursor = 0; cursor < events; ) {
    const w0 = performance.now();
    const c0 = cpuNow();
    const { records, nextCursor } = await feed.read({ fromCursor: cursor, maxRows: Math.min(batch, events - cursor), maxWaitMs: 0 });
    const w1 = performance.now();
    const c1 = cpuNow();
    valid += parseStreamRecords({ sourceId: feed.id, records, timeZone: feed.settings.timeZone }).events.length;
    const w2 = performance.now();
    const c2 = cpuNow();
    generate.wallMs += w1 - w0;
    generate.cpuMs += c1 - c0;
    parse.wallMs += w2 - w1;
    parse.cpuMs += c2 - c1;
    cursor = nextCursor;
  }
  return { generate, parse, valid };
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const perSecond = (ms: number): string => `${Math.round((events / ms) * 1000).toLocaleString('en-US')} ev/s`;

const main = async (): Promise<void> => {
  console.log(`${feed.describe()}: ${events.toLocaleString('en-US')} events in batches of ${batch}, ${rounds} rounds after a warm-up`);
  await runRound();
  const results: Round[] = [];
  for (let i = 0; i < rounds; i++) results.push(await runRound());
  const line = (name: string, pick: (r: Round) => Phase): void => {
    const wall = median(results.map((r) => pick(r).wallMs));
    const cpu = median(results.map((r) => pick(r).cpuMs));
    console.log(`${name.padEnd(18)} wall ${perSecond(wall).padStart(14)}   cpu ${perSecond(cpu).padStart(14)}   (medians)`);
  };
  line('generate', (r) => r.generate);
  line('parse', (r) => r.parse);
  line('generate + parse', (r) => ({
    wallMs: r.generate.wallMs + r.parse.wallMs,
    cpuMs: r.generate.cpuMs + r.parse.cpuMs,
  }));
  console.log(`valid events per round: ${(results[0]?.valid ?? 0).toLocaleString('en-US')} of ${events.toLocaleString('en-US')}`);
};

await main();
