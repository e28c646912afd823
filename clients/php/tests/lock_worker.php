<?php
/**
 * One worker of the lock test (run.php starts ten): increments the counter
 * in FILE N times, each time under withLock, appending "<count> <fence>".
 * The file is read and rewritten whole, so without mutual exclusion
 * increments are lost. Every fifth increment extends the lease first.
 *
 * usage: php lock_worker.php FILE LOCKNAME N
 */

declare(strict_types=1);

require_once __DIR__ . '/../Sidecar.php';

[, $file, $name, $n] = $argv;
$locks = new Sidecar\Locks((string)getenv('SIDECAR_TEST_LOCK_URL'), (string)getenv('SIDECAR_LOCK_SERVICE__TOKEN'));
for ($i = 1; $i <= (int)$n; $i++) {
    $locks->withLock($name, 10, 25, static function (Sidecar\Lease $lease) use ($file, $i): void {
        if ($i % 5 === 0) {
            $before = $lease->fence;
            $lease->extend(10);
            if ($lease->fence !== $before) {
                throw new RuntimeException("extend changed the fence: $before -> {$lease->fence}");
            }
        }
        $lines = file($file, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
        $count = $lines === [] ? 0 : (int)explode(' ', end($lines))[0];
        $lines[] = ($count + 1) . ' ' . $lease->fence;
        file_put_contents($file, implode("\n", $lines) . "\n");
    });
}
echo "ok\n";
