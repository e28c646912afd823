<?php
/**
 * One php-fpm-like worker of the JWKS lock test (unit.php starts several at
 * once): waits until the file GO exists, then verifies TOKEN, whose kid only
 * a refetch of the JWKS finds. Its fetcher appends a line to COUNT and takes
 * 400 ms, so that the workers overlap; it serves the JWKS in DOC. Prints
 * "ok" or the reason the token was refused.
 *
 * usage: php jwks_worker.php CACHE DOC COUNT GO NOW TOKEN
 */

declare(strict_types=1);

require_once __DIR__ . '/../Sidecar.php';

[, $cache, $doc, $count, $go, $now, $token] = $argv;
$deadline = microtime(true) + 20;
while (!file_exists($go)) { // the start line: every worker is running before any verifies
    if (microtime(true) > $deadline) {
        exit("no go after 20 s\n");
    }
    usleep(2000);
}
$sc = new Sidecar\Sidecar(['jwksUrl' => 'http://ops.invalid/jwks', 'jwksCacheFile' => $cache,
    'clock' => static fn (): float => (float)$now,
    'fetch' => static function () use ($doc, $count): string {
        file_put_contents($count, "fetch\n", FILE_APPEND | LOCK_EX);
        usleep(400000);
        return (string)file_get_contents($doc);
    }]);
try {
    $sc->verify($token);
    echo "ok\n";
} catch (Sidecar\InvalidSession $e) {
    echo $e->reason, "\n";
}
