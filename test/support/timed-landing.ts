/** Landing that records when each validation holds its data file open (tests of how many validate at once). */
import { LocalDirLanding } from '../../src/files/landing.js';

export class TimedLanding extends LocalDirLanding {
  readonly spans: Array<{ fileId: string; from: number; to: number }> = [];
  override async openData(...args: Parameters<LocalDirLanding['openData']>) {
    const opened = await super.openData(...args);
    if (!opened) return opened;
    const span = { fileId: args[0], from: performance.now(), to: Number.POSITIVE_INFINITY };
    this.spans.push(span);
    return { ...opened, release: async () => { span.to = performance.now(); await opened.release(); } };
  }
}
