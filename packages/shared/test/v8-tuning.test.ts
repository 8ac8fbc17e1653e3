import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { interruptBudgetFlag } from '../src/index.js';

const INDEX = fileURLToPath(new URL('../src/index.js', import.meta.url));

test('interruptBudgetFlag sets the budget asked for, leaves the operator\'s and refuses a non-positive one', () => {
  assert.equal(interruptBudgetFlag({}), undefined);
  assert.equal(interruptBudgetFlag({ interruptBudget: 8192, execArgv: [] }), '--interrupt-budget=8192');
  assert.equal(interruptBudgetFlag({ interruptBudget: 8192, execArgv: ['--interrupt-budget=1000'] }), undefined);
  assert.equal(interruptBudgetFlag({ interruptBudget: 8192, execArgv: ['--interrupt_budget', '1000'] }), undefined);
  assert.equal(interruptBudgetFlag({ interruptBudget: 8192, execArgv: ['--interrupt-budget-for-feedback-allocation=9'] }), '--interrupt-budget=8192');
  assert.throws(() => interruptBudgetFlag({ interruptBudget: 0 }), /expected a positive integer, got 0/);
  assert.throws(() => interruptBudgetFlag({ interruptBudget: 1.5 }), /expected a positive integer, got 1.5/);
});

/**
 * Runs `calls` calls of a small function in a fresh node after
 * tuneV8ForRareWork(options), and says whether V8 optimized it (TurboFan).
 */
function optimizedAfter(calls: number, options: string): boolean {
  const script = `
    const { tuneV8ForRareWork } = await import(${JSON.stringify(INDEX)});
    tuneV8ForRareWork(${options});
    const f = new Function('o', 'let s = 0; for (const k in o) s += o[k] * 3 + k.length; return s;');
    const o = { a: 1, b: 2, c: 3 };
    for (let i = 0; i < ${calls}; i++) f(o);
    // Background compiles finish before the status is read.
    %WaitForBackgroundOptimization();
    await new Promise((r) => setTimeout(r, 50));
    %WaitForBackgroundOptimization();
    // Bit 4 of V8's optimization status: the function runs optimized code.
    console.log((%GetOptimizationStatus(f) & 16) !== 0 ? 'turbofan' : 'not optimized');`;
  const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return out.trim() === 'turbofan';
}

test('a smaller interrupt budget set at run time makes V8 optimize a function after fewer calls', () => {
  // V8's default budget needs more runs of this function than 400; 5,000 are enough.
  assert.equal(optimizedAfter(400, '{}'), false, 'optimized after 400 calls with V8\'s budget');
  assert.equal(optimizedAfter(5_000, '{}'), true, 'not optimized after 5,000 calls with V8\'s budget');
  assert.equal(optimizedAfter(400, '{ interruptBudget: 1024 }'), true, 'not optimized after 400 calls with a budget of 1024');
});
