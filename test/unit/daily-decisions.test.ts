/**
 * The daily run's decisions (src/workflows/daily-decisions.ts), run outside the workflow sandbox: its deadline,
 * which landed files it follows, what a file run's state means for the date, when the late alert is raised and
 * what the alerts and the details say. The workflow itself is tested on the time-skipping and dev servers
 * (test/integration/daily-schedule.test.ts) and by replaying recorded histories (test/replay/).
 */
import { describe, expect, it } from 'vitest';
import type { FileLanded } from '../../src/domain/workflow-api.js';
import {
  dailyDetails,
  deadlineMsOf,
  deadlineTimerMs,
  dispatchedDeadlineAt,
  droppedProblem,
  fileRunVerdict,
  followsLanded,
  lateAlert,
  lateByMsOf,
  raisesLateAlert,
  resolvedAlert,
  stageWhenLate,
  waitingStage,
} from '../../src/workflows/daily-decisions.js';

const landed = (workflowId: string, covers = ['2026-11-21'], fileId = `file-${workflowId}`): FileLanded => ({
  fileId,
  sha256: 'ab'.repeat(32),
  kind: 'reconciliation',
  covers,
  workflowId,
});

const context = { clientId: 'acme', date: '2026-11-21', deadline: '2026-11-22T11:00:00.000Z', workflowId: 'daily/acme/2026-11-21' };

describe('the deadline', () => {
  it('is HH:MM on the day after the date in the client zone, or the absolute one given', () => {
    // 06:00 in New York on 2026-11-22 (EST, UTC-5).
    expect(new Date(deadlineMsOf({ deadline: '06:00', timeZone: 'America/New_York' }, '2026-11-21')).toISOString()).toBe('2026-11-22T11:00:00.000Z');
    expect(deadlineMsOf({ deadline: '06:00', timeZone: 'America/New_York', deadlineAt: '2026-11-21T23:00:00Z' }, '2026-11-21')).toBe(
      Date.parse('2026-11-21T23:00:00Z'),
    );
    expect(deadlineMsOf({ deadline: '06:00', timeZone: 'America/New_York', deadlineAt: undefined }, '2026-11-21')).toBe(
      Date.parse('2026-11-22T11:00:00.000Z'),
    );
  });

  it('times out after what is left of it, at once when it has passed', () => {
    expect(deadlineTimerMs(10_000, 4_000)).toBe(6_000);
    expect(deadlineTimerMs(10_000, 10_000)).toBe(0);
    expect(deadlineTimerMs(10_000, 25_000)).toBe(0);
  });

  it('a scheduled trigger passes the deadline it was given, or deadlineAfterMs after the scheduled time, or none', () => {
    const scheduled = Date.parse('2026-11-22T05:00:00Z');
    expect(dispatchedDeadlineAt({ deadlineAt: '2026-11-22T06:00:00Z', deadlineAfterMs: 1000 }, scheduled)).toBe('2026-11-22T06:00:00Z');
    expect(dispatchedDeadlineAt({ deadlineAfterMs: 90_000 }, scheduled)).toBe('2026-11-22T05:01:30.000Z');
    expect(dispatchedDeadlineAt({ deadlineAfterMs: 0 }, scheduled)).toBe('2026-11-22T05:00:00.000Z');
    expect(dispatchedDeadlineAt({}, scheduled)).toBeUndefined();
  });
});

describe('the landed files a run follows', () => {
  it('follows a file that covers its date, once', () => {
    expect(followsLanded('2026-11-21', [], landed('w1'))).toBe(true);
    expect(followsLanded('2026-11-21', [], landed('w1', ['2026-11-20', '2026-11-21']))).toBe(true);
    expect(followsLanded('2026-11-21', [], landed('w1', ['2026-11-20']))).toBe(false);
    expect(followsLanded('2026-11-21', [landed('w1')], landed('w1'))).toBe(false);
    expect(followsLanded('2026-11-21', [landed('w0')], landed('w1'))).toBe(true);
  });
});

describe("what a file run's state means for the date", () => {
  it('applied or duplicate: the date is final; running: wait; anything else: dropped', () => {
    expect(fileRunVerdict({ status: 'applied' })).toBe('arrived');
    expect(fileRunVerdict({ status: 'duplicate' })).toBe('arrived');
    expect(fileRunVerdict({ status: 'running' })).toBe('running');
    expect(fileRunVerdict({ status: 'failed' })).toBe('dropped');
    expect(fileRunVerdict({ status: 'not_found' })).toBe('dropped');
  });

  it('a dropped file is shown with its reason, or its status when it has none', () => {
    expect(droppedProblem({ fileId: 'f1' }, { status: 'failed', reason: 'row_count mismatch' })).toBe(
      'f1: row_count mismatch; waiting for a corrected file',
    );
    expect(droppedProblem({ fileId: 'f1' }, { status: 'not_found', reason: null })).toBe('f1: not_found; waiting for a corrected file');
  });

  it('with no file running the run waits, or is late once the deadline passed', () => {
    expect(waitingStage(false)).toBe('waiting');
    expect(waitingStage(true)).toBe('late');
  });
});

describe('the late alert', () => {
  it('is raised once, the first time the deadline is found passed', () => {
    expect(raisesLateAlert(true, false)).toBe(true);
    expect(raisesLateAlert(true, true)).toBe(false);
    expect(raisesLateAlert(false, false)).toBe(false);
  });

  it('leaves the run processing while a followed file runs, late otherwise', () => {
    expect(stageWhenLate(0)).toBe('late');
    expect(stageWhenLate(1)).toBe('processing');
    expect(stageWhenLate(2)).toBe('processing');
  });

  it('names the client, the date, the deadline and the run that keeps waiting', () => {
    expect(lateAlert(context)).toEqual({
      ...context,
      event: 'late',
      message: 'reconciliation file for acme 2026-11-21 is late: deadline 2026-11-22T11:00:00.000Z passed; daily/acme/2026-11-21 keeps waiting',
    });
  });

  it('is resolved with how late the file arrived and which file it was', () => {
    const deadlineMs = Date.parse(context.deadline);
    const lateBy = lateByMsOf('2026-11-22T13:30:00.000Z', deadlineMs);
    expect(lateBy).toBe(2.5 * 3600_000);
    expect(resolvedAlert(context, { fileId: 'recon-1' }, lateBy)).toEqual({
      ...context,
      event: 'resolved',
      message: 'reconciliation file for acme 2026-11-21 arrived 2h 30m after its deadline (recon-1) and is applied',
      fileId: 'recon-1',
      lateByMs: 9_000_000,
    });
  });

  it('is resolved without a file id or a delay when they are unknown', () => {
    expect(lateByMsOf(null, 1000)).toBeNull();
    const alert = resolvedAlert(context, { fileId: null }, null);
    expect(alert).toEqual({
      ...context,
      event: 'resolved',
      message: 'reconciliation file for acme 2026-11-21 arrived  after its deadline (unknown file) and is applied',
    });
    expect('fileId' in alert).toBe(false);
    expect('lateByMs' in alert).toBe(false);
  });

  it('counts an arrival before the deadline as negative', () => {
    expect(lateByMsOf('2026-11-22T10:59:00.000Z', Date.parse(context.deadline))).toBe(-60_000);
  });
});

describe('the details in the Temporal UI', () => {
  const input = { clientId: 'acme', deadline: '06:00', timeZone: 'America/New_York' };

  it('show the date, the stage, the deadline in the client zone, each followed file and the last problem', () => {
    const text = dailyDetails(input, {
      date: '2026-11-21',
      deadline: context.deadline,
      stage: 'processing',
      landed: [landed('w1', ['2026-11-21'], 'recon-1'), landed('w2', ['2026-11-21'], 'recon-2')],
      lastProblem: 'recon-0: failed; waiting for a corrected file',
    });
    expect(text.split('\n\n')).toEqual([
      '**Reconciliation of 2026-11-21** for acme: processing',
      'Deadline: 2026-11-22T11:00:00.000Z (06:00 America/New_York)',
      'Landed: recon-1 → w1',
      'Landed: recon-2 → w2',
      'Last problem: recon-0: failed; waiting for a corrected file',
    ]);
  });

  it('show an absolute deadline as given, and no problem line when there is none', () => {
    const text = dailyDetails({ ...input, deadlineAt: '2026-11-21T23:00:00Z' }, {
      date: '2026-11-21',
      deadline: '2026-11-21T23:00:00.000Z',
      stage: 'waiting',
      landed: [],
      lastProblem: null,
    });
    expect(text).toBe('**Reconciliation of 2026-11-21** for acme: waiting\n\nDeadline: 2026-11-21T23:00:00.000Z (2026-11-21T23:00:00Z)');
  });
});
