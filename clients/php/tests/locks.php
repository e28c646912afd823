<?php
/**
 * Locks::withLock against Sidecar's real lock service. `go test ./clients`
 * starts a sidecar binary with lock_service.listen and passes its address
 * and token as SIDECAR_TEST_LOCK_URL and SIDECAR_LOCK_SERVICE__TOKEN. Run
 * by hand without them, these tests are reported as not run; with CI=true
 * their absence is a failure. Required by run.php.
 */

declare(strict_types=1);

use Sidecar\Lease;
use Sidecar\LockError;
use Sidecar\LockLost;
use Sidecar\LockNotObtained;
use Sidecar\Locks;
use Sidecar\LockUnavailable;

$lockUrl = (string)getenv('SIDECAR_TEST_LOCK_URL');
$lockToken = (string)getenv('SIDECAR_LOCK_SERVICE__TOKEN');
if ($lockUrl === '' || $lockToken === '') {
    if (getenv('CI') === 'true') {
        T::run('locks: the lock service is configured', static fn () => T::ok(false,
            'SIDECAR_TEST_LOCK_URL and SIDECAR_LOCK_SERVICE__TOKEN are unset (go test ./clients sets them)'));
    } else {
        echo "locks: NOT RUN (set SIDECAR_TEST_LOCK_URL and SIDECAR_LOCK_SERVICE__TOKEN, or run go test ./clients)\n";
    }
    return;
}

$run = bin2hex(random_bytes(4)); // lock names of this run only

T::run('locks: 10 concurrent workers x 20 increments give exactly 200, fences strictly increasing',
    static function () use ($run): void {
        $counter = tempnam(sys_get_temp_dir(), 'sidecar-counter-');
        $procs = [];
        for ($w = 0; $w < 10; $w++) {
            $out = tempnam(sys_get_temp_dir(), 'sidecar-worker-');
            $procs[] = [proc_open([PHP_BINARY, __DIR__ . '/lock_worker.php', $counter, "php-kit/$run/counter", '20'],
                [0 => ['file', '/dev/null', 'r'], 1 => ['file', $out, 'w'], 2 => ['file', $out, 'a']], $pipes), $out];
        }
        try {
            foreach ($procs as $i => [$p, $out]) {
                $code = proc_close($p);
                T::eq(0, $code, "worker $i exit status (" . trim((string)file_get_contents($out)) . ')');
            }
            $lines = file($counter, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES);
            T::eq(200, count($lines), 'increments recorded');
            $prev = 0;
            foreach ($lines as $i => $line) {
                [$count, $fence] = array_map('intval', explode(' ', $line));
                T::eq($i + 1, $count, "count on line $i");
                T::ok($fence > $prev, "fence on line $i ($fence) above the previous one ($prev)");
                $prev = $fence;
            }
        } finally {
            @unlink($counter);
            foreach ($procs as [, $out]) {
                @unlink($out);
            }
        }
    });

T::run('locks: the lease, the result, and release after an exception', static function () use ($lockUrl, $lockToken, $run): void {
    $locks = new Locks($lockUrl, $lockToken);
    $name = "php-kit:$run/lease"; // ":" and "/" are allowed in names
    $got = $locks->withLock($name, 10, 1, static function (Lease $lease) use ($name): string {
        T::eq($name, $lease->name, 'name');
        T::ok($lease->fence > 0, 'fence');
        T::ok(strlen($lease->token) > 10, 'token');
        T::ok($lease->expiresAt > new DateTimeImmutable('-1 second'), 'expiresAt');
        $before = $lease->expiresAt;
        $lease->extend(20);
        T::ok($lease->expiresAt > $before, 'extend pushed the expiry');
        return 'result';
    });
    T::eq('result', $got, 'withLock returns the callback result');
    T::throws(DomainException::class, static fn () => $locks->withLock($name, 10, 1, static fn () => throw new DomainException('boom')),
        null, 'the callback exception propagates');
    T::eq(1, $locks->withLock($name, 10, 0, static fn (): int => 1), 'released after the exception (wait 0)');
});

T::run('locks: a held lock is not obtained', static function () use ($lockUrl, $lockToken, $run): void {
    $locks = new Locks($lockUrl, $lockToken);
    $name = "php-kit/$run/busy";
    $locks->withLock($name, 10, 0, static function () use ($locks, $name): void {
        $e = T::throws(LockNotObtained::class, static fn () => $locks->withLock($name, 10, 0.05, static fn () => null), null, 'busy');
        T::eq(409, $e->status, 'status');
    });
});

T::run('locks: a lease that runs out under the callback: extend and withLock throw LockLost', static function () use ($lockUrl, $lockToken, $run): void {
    $locks = new Locks($lockUrl, $lockToken);
    $name = "php-kit/$run/lost";
    $ran = new ArrayObject(); // an object: the arrow function below captures by value
    T::throws(LockLost::class, static fn () => $locks->withLock($name, 0.2, 0, static function (Lease $lease) use ($locks, $name, $ran): string {
        $deadline = microtime(true) + 15;
        while (true) { // until someone else can take the lock: our lease has run out
            try {
                $locks->withLock($name, 5, 0, static fn () => null);
                break;
            } catch (LockNotObtained $e) {
                T::ok(microtime(true) < $deadline, 'the 200 ms lease ran out within 15 s');
                usleep(20000);
            }
        }
        $e = T::throws(LockLost::class, static fn () => $lease->extend(), null, 'extend after expiry');
        T::eq(409, $e->status, 'status');
        $ran['done'] = true;
        return 'discarded';
    }), null, 'withLock');
    T::ok(isset($ran['done']), 'the callback ran to the end');
});

T::run('locks: a wrong token and an unreachable service', static function () use ($lockUrl, $run): void {
    $e = T::throws(LockError::class, static fn () => (new Locks($lockUrl, 'not-the-token-0123456789'))
        ->withLock("php-kit/$run/x", 1, 0, static fn () => null), null, 'wrong token');
    T::eq(401, $e->status, 'status');
    T::ok(!$e instanceof LockNotObtained && !$e instanceof LockUnavailable, 'a plain LockError');
    T::ok(!str_contains($e->getMessage(), 'not-the-token'), 'the token is not in the message');
    $sock = stream_socket_server('tcp://127.0.0.1:0');
    $closed = stream_socket_get_name($sock, false);
    fclose($sock);
    $e = T::throws(LockUnavailable::class, static fn () => (new Locks("http://$closed", 'tok-0123456789abcdef'))
        ->withLock('x', 1, 0, static fn () => null), null, 'unreachable');
    T::eq(0, $e->status, 'status');
    T::throws(InvalidArgumentException::class, static fn () => new Locks($lockUrl, ''), null, 'empty token');
});
