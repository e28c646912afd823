<?php
/**
 * The PHP kit's tests, without PHPUnit: `php tests/run.php` from
 * clients/php. Exit status 0 when everything passed.
 *
 *  - every case and patch vector of ../testdata/vectors.json (shared by all kits);
 *  - unit tests of the verifier, the session and the JWKS cache (tests/unit.php);
 *  - the real behaviour of start() under `php -S` (tests/http.php);
 *  - the CFML drift guard: clients/cfml/*.cfc against Sidecar.php (tests/mirror.php);
 *  - withLock against Sidecar's real lock service when SIDECAR_TEST_LOCK_URL and
 *    SIDECAR_LOCK_SERVICE__TOKEN are set (tests/locks.php; `go test ./clients`
 *    starts a sidecar binary and sets them). With CI=true they are required.
 */

declare(strict_types=1);

require_once __DIR__ . '/lib.php';

use Sidecar\InvalidSession;
use Sidecar\Sidecar;

$vectorsFile = __DIR__ . '/../../testdata/vectors.json';
$raw = (string)@file_get_contents($vectorsFile);
$vectors = json_decode($raw, true);
// The patch vectors again without assoc: {} stays an object, as the vectors' README asks.
$objects = json_decode($raw, false);
$counts = ['cases' => 0, 'patches' => 0, 'patch errors' => 0];

T::run('vectors file', static function () use ($vectors, $vectorsFile): void {
    T::ok(is_array($vectors) && $vectors['cases'] !== [] && $vectors['patches'] !== [] && $vectors['patch_errors'] !== [], "$vectorsFile is missing or empty");
});

foreach ($vectors['cases'] ?? [] as $case) {
    $counts['cases']++;
    T::run('case: ' . $case['name'], static function () use ($vectors, $case): void {
        $opts = ['issuer' => $vectors['issuer'], 'audience' => $vectors['audience'], 'leeway' => $vectors['leeway'],
            'clock' => static fn (): float => (float)$case['now']];
        if ($case['verify_with'] === 'secret') {
            $opts['secret'] = $vectors['hs256_secret'];
        } else {
            $opts['jwks'] = $vectors['jwks'];
        }
        $sc = new Sidecar($opts);
        if ($case['valid']) {
            T::eq($case['claims'], $sc->verify($case['token']), 'claims');
            $s = $sc->read(['HTTP_X_SIDECAR_SESSION' => $case['token']]);
            T::eq($case['claims']['data'] ?? [], $s->all(), 'all()');
            T::eq($case['claims']['sub'] ?? null, $s->principal(), 'principal()');
            T::eq($case['claims']['sid'] ?? '', $s->sid(), 'sid()');
        } else {
            T::throws(InvalidSession::class, static fn () => $sc->verify($case['token']), $case['reason'], 'verify');
        }
    });
}

/** A session holding the vectors' patch_start. */
function patchSession(stdClass $objects): \Sidecar\Session
{
    $claims = ['new' => false, 'sid' => 'vectors', 'ver' => 1, 'data' => json_decode(json_encode($objects->patch_start), true)];
    return new \Sidecar\Session($claims, false, $objects->patch_start);
}

/** Applies one vector op (decoded without assoc) to the session. */
function applyOp(\Sidecar\Session $s, array $op): void
{
    match ($op[0]) {
        'set' => $s->set($op[1], $op[2]),
        'merge' => $s->merge($op[1], $op[2]),
        'remove' => $s->remove($op[1]),
        'principal' => $s->setPrincipal($op[1]),
        'regenerate' => $s->regenerate(),
        'destroy' => $s->destroy(),
    };
}

/** Objects' members sorted by name at every depth (Sidecar stores them sorted), lists as they are. */
function canonical(mixed $v): mixed
{
    if (!is_array($v)) {
        return $v;
    }
    $v = array_map('canonical', $v);
    ksort($v);
    return $v;
}

foreach ($objects->patches ?? [] as $vector) {
    $counts['patches']++;
    T::run('patch: ' . $vector->name, static function () use ($vector, $objects): void {
        $s = patchSession($objects);
        foreach ($vector->ops as $op) {
            applyOp($s, $op);
        }
        T::eq(json_decode(json_encode($vector->headers), true), $s->headers(), 'headers()');
        T::eq(canonical(json_decode(json_encode($vector->result), true)), canonical($s->all()), 'all() is the result');
    });
}

foreach ($objects->patch_errors ?? [] as $vector) {
    $counts['patch errors']++;
    T::run('patch error: ' . $vector->name, static function () use ($vector, $objects): void {
        $s = patchSession($objects);
        $ops = $vector->ops;
        $last = array_pop($ops);
        foreach ($ops as $op) {
            applyOp($s, $op);
        }
        T::throws(InvalidArgumentException::class, static fn () => applyOp($s, $last), null, $vector->error);
    });
}

require __DIR__ . '/unit.php';
require __DIR__ . '/http.php';
require __DIR__ . '/mirror.php';
require __DIR__ . '/locks.php';

$total = T::$passed + count(T::$failed);
printf("php kit: %d vector cases, %d patch vectors, %d patch error vectors; %d tests, %d passed, %d failed; %d assertions\n",
    $counts['cases'], $counts['patches'], $counts['patch errors'], $total, T::$passed, count(T::$failed), T::$checks);
foreach (T::$failed as $f) {
    echo "  FAILED $f\n";
}
exit(T::$failed === [] ? 0 : 1);
