/**
 * Writes a valid client file (data + manifest) into a directory, e.g. the local landing directory:
 *   tsx scripts/gen-files.ts --kind amendment --dates 2026-11-17,2026-11-18 --rows 10000 --sequence 7 --gzip
 */
import { Command, InvalidArgumentError } from 'commander';
import { fileKindSchema, isRealDate } from '../src/domain/contract.js';
import { generateFile } from '../src/files/generate.js';

const integer = (value: string): number => {
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
};
const dates = (value: string): string[] => {
  const list = value.split(',').map((d) => d.trim());
  if (list.length === 0 || !list.every(isRealDate)) throw new InvalidArgumentError('must be YYYY-MM-DD dates, comma separated');
  return list;
};

const program = new Command('gen-files')
  .description('Write a valid data file and its manifest (sha256, row_count, control totals computed)')
  .requiredOption('--dates <dates>', 'covered dates, comma separated', dates)
  .option('--kind <kind>', 'reconciliation or amendment', 'reconciliation')
  .option('--rows <n>', 'data rows, spread over the dates', integer, 1000)
  .option('--seed <n>', 'random seed', integer, 1)
  .option('--sequence <n>', 'manifest sequence', integer, 1)
  .option('--client <id>', 'client id', 'acme')
  .option('--file-id <id>', 'file id (default derived from kind, first date and sequence)')
  .option('--gzip', 'write .csv.gz', false)
  .option('--crlf', 'CRLF line ends', false)
  .option('--offset <offset>', 'UTC offset written in event_ts', '-05:00')
  .option('--dir <dir>', 'output directory', '.data/landing')
  .action(async (opts: {
    dates: string[];
    kind: string;
    rows: number;
    seed: number;
    sequence: number;
    client: string;
    fileId?: string;
    gzip: boolean;
    crlf: boolean;
    offset: string;
    dir: string;
  }) => {
    const kind = fileKindSchema.parse(opts.kind);
    const started = performance.now();
    let lastReport = 0;
    const file = await generateFile({
      dir: opts.dir,
      kind,
      covers: opts.dates,
      rows: opts.rows,
      seed: opts.seed,
      sequence: opts.sequence,
      clientId: opts.client,
      ...(opts.fileId === undefined ? {} : { fileId: opts.fileId }),
      gzip: opts.gzip,
      lineEnd: opts.crlf ? '\r\n' : '\n',
      utcOffset: opts.offset,
      onProgress: (rows) => {
        if (rows - lastReport >= 1_000_000) {
          lastReport = rows;
          process.stderr.write(`  ${rows.toLocaleString('en-US')} rows\n`);
        }
      },
    });
    const seconds = (performance.now() - started) / 1000;
    console.log(`${file.dataPath}\n${file.manifestPath}`);
    console.log(
      `${file.manifest.row_count} rows in ${seconds.toFixed(1)} s (${Math.round(file.manifest.row_count / seconds).toLocaleString('en-US')} rows/s), sha256 ${file.manifest.sha256.slice(0, 12)}…`,
    );
  });

await program.parseAsync();
