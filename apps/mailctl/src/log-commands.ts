// mailctl logs: the local run's service logs as one stream, like grep QUEUEID /var/log/mail.log for
// Postfix: every service's lines merged by time, one service's, or one message's whole story by queue id.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { action } from './cli.js';
import { followLogs, formatLine, logFiles, mentions, readLogLines, type LogLine } from './log-reader.js';

/** Where the local run (scripts/start-local.sh, DATA_DIR unset) writes them: .data/logs of this checkout. */
const LOCAL_RUN_LOG_DIR = fileURLToPath(new URL('../../../.data/logs', import.meta.url));

interface LogOptions {
  logDir: string;
  service?: string;
  queueId?: string;
  follow?: boolean;
  lines: string;
  json?: boolean;
}

export function registerLogCommands(program: Command): void {
  program
    .command('logs')
    .description("the local run's service logs (<log dir>/<service>.log, rotated), merged by time")
    .addOption(new Option('--log-dir <dir>', 'where the local run writes them').env('MAIL_LOG_DIR').default(LOCAL_RUN_LOG_DIR, '.data/logs of this checkout'))
    .option('--service <name>', 'only this service (or nats-server)')
    .option('--queue-id <id>', "one message's whole story: its lines from every service, old files included")
    .option('-f, --follow', 'then keep printing new lines as they are written (Ctrl-C ends)')
    .option('-n, --lines <count>', 'how many of the latest lines to show first (every match with --queue-id)', '50')
    .option('--json', 'the lines as written (JSON)')
    .action(
      action(async (_clients, options: LogOptions) => {
        if (!existsSync(options.logDir) || logFiles(options.logDir).size === 0) {
          throw new Error(`no log files in ${options.logDir}: the local run (scripts/start-local.sh) writes them; elsewhere read the services' output (kubectl logs)`);
        }
        const sources = [...logFiles(options.logDir).keys()];
        if (options.service && !sources.includes(options.service)) throw new Error(`no log of ${options.service} in ${options.logDir} (there are: ${sources.join(', ')})`);
        const count = Number(options.lines);
        if (!Number.isInteger(count) || count < 0) throw new Error(`--lines ${options.lines}: expected a whole number`);
        const wanted = (line: LogLine) => !options.queueId || mentions(line, options.queueId);
        const print = (line: LogLine) => console.log(options.json ? line.raw : formatLine(line));
        const matching = readLogLines(options.logDir, options.service).filter(wanted);
        for (const line of options.queueId ? matching : matching.slice(Math.max(0, matching.length - count))) print(line);
        if (!options.follow) return;
        await new Promise<void>((resolve) => {
          const stop = followLogs(options.logDir, options.service, (line) => wanted(line) && print(line));
          process.once('SIGINT', () => (stop(), resolve()));
        });
      }),
    );
}
