/**
 * The soak's leash on its children: reads `started <pid>` and `gone <pid>`
 * lines on stdin. Its stdin ends when the soak runner ends, however it ends
 * (a segfault included, which runs no 'exit' handler); then it SIGKILLs
 * every PID still listed, which are only processes the runner started and
 * has not seen exit, and exits itself.
 */
const live = new Set<number>();
let partial = '';
process.stdin.on('data', (c: Buffer) => {
  const lines = (partial + c.toString()).split('\n');
  partial = lines.pop() ?? '';
  for (const l of lines) {
    const m = /^(started|gone) (\d+)$/.exec(l.trim());
    if (!m) continue;
    if (m[1] === 'started') live.add(Number(m[2]));
    else live.delete(Number(m[2]));
  }
});
process.stdin.on('end', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.exit(0);
});
process.stdin.on('error', () => undefined);
// The runner's SIGINT reaches the whole foreground group; the leash must outlive it.
process.on('SIGINT', () => undefined);
