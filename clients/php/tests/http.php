<?php
/**
 * start() under a real PHP server: `php -S` runs tests/http/index.php and
 * the tests send real HTTP requests, reading the raw response headers.
 * This is where "a header() after about 4 KB of output is silently lost"
 * would show. Required by run.php.
 */

declare(strict_types=1);

/** A `php -S` child process serving tests/http with the unit-test secret in its environment. */
final class PhpServer
{
    public string $addr;
    /** @var resource */
    private $proc;
    private string $log;

    public function __construct(int $outputBuffering)
    {
        $sock = stream_socket_server('tcp://127.0.0.1:0');
        $this->addr = stream_socket_get_name($sock, false);
        fclose($sock);
        $this->log = tempnam(sys_get_temp_dir(), 'sidecar-php-S-');
        $env = getenv() + [];
        $env['SIDECAR_HEADERS__SECRET'] = Mint::SECRET;
        $cmd = [PHP_BINARY, '-n', '-d', "output_buffering=$outputBuffering", '-d', 'display_errors=stderr',
            '-S', $this->addr, '-t', __DIR__ . '/http'];
        $this->proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', $this->log, 'a'],
            2 => ['file', $this->log, 'a']], $pipes, null, $env);
        $deadline = microtime(true) + 20;
        while (($c = @stream_socket_client("tcp://{$this->addr}", $errno, $err, 1)) === false) {
            if (microtime(true) > $deadline || !proc_get_status($this->proc)['running']) {
                throw new RuntimeException("php -S did not start on {$this->addr}: " . file_get_contents($this->log));
            }
            usleep(20000); // polling for the listener, bounded by the deadline
        }
        fclose($c);
    }

    /**
     * One request with the given token (null: no header).
     * @return array{status: int, headers: list<array{0: string, 1: string}>, body: string}
     */
    public function get(string $case, ?string $token): array
    {
        $c = stream_socket_client("tcp://{$this->addr}", $errno, $err, 10);
        stream_set_timeout($c, 20);
        fwrite($c, "GET /index.php?case=$case HTTP/1.0\r\nHost: {$this->addr}\r\n"
            . ($token === null ? '' : "X-Sidecar-Session: $token\r\n") . "Connection: close\r\n\r\n");
        $raw = stream_get_contents($c);
        fclose($c);
        [$head, $body] = explode("\r\n\r\n", $raw, 2) + [1 => ''];
        $lines = explode("\r\n", $head);
        preg_match('#^HTTP/\S+ (\d{3})#', array_shift($lines), $m);
        $headers = [];
        foreach ($lines as $l) {
            [$n, $v] = explode(':', $l, 2);
            $headers[] = [$n, ltrim($v)];
        }
        return ['status' => (int)($m[1] ?? 0), 'headers' => $headers, 'body' => $body];
    }

    public function log(): string
    {
        return (string)file_get_contents($this->log);
    }

    public function stop(): void
    {
        proc_terminate($this->proc);
        proc_close($this->proc);
        @unlink($this->log);
    }
}

/** The values of the response headers named $name (case-insensitive). */
function headerValues(array $resp, string $name): array
{
    return array_values(array_map(static fn (array $h): string => $h[1],
        array_filter($resp['headers'], static fn (array $h): bool => strcasecmp($h[0], $name) === 0)));
}

$servers = [];
try {
    $servers = [0 => new PhpServer(0), 4096 => new PhpServer(4096)];
} catch (Throwable $e) {
    T::run('php -S starts', static fn () => throw $e);
}
if (count($servers) === 2) {
    $tok = Mint::hs256(Mint::claims(['iat' => time(), 'exp' => time() + 60, 'data' => new stdClass()]));
    $script = realpath(__DIR__ . '/http/index.php');
    foreach ($servers as $ob => $srv) {
        T::run("php -S (output_buffering=$ob): 10 KB of output, then a write: the header still goes out",
            static function () use ($srv, $tok): void {
                $r = $srv->get('big', $tok);
                T::eq(200, $r['status'], 'status');
                T::eq(['{"seen":1}'], headerValues($r, 'X-Sidecar-Patch'), 'one patch header');
                T::ok(strlen($r['body']) > 10240, 'the body came too');
            });
    }
    $srv = $servers[0];
    T::run('php -S: a write after the body was flushed throws HeadersSent naming file:line', static function () use ($srv, $tok, $script): void {
        $r = $srv->get('late', $tok);
        T::ok(str_contains($r['body'], 'HeadersSent: ') && str_contains($r['body'], "output started at $script:"),
            'the error: ' . $r['body']);
        T::eq([], headerValues($r, 'X-Sidecar-Patch'), 'no patch');
    });
    T::run('php -S: output before start() (no output buffering) makes writes throw HeadersSent', static function () use ($srv, $tok, $script): void {
        $r = $srv->get('before', $tok);
        T::ok(preg_match('#HeadersSent: .*output started at ' . preg_quote($script, '#') . ':(\d+)#', $r['body'], $m) === 1,
            'the error: ' . $r['body']);
        T::ok(str_contains(file($script)[(int)$m[1] - 1], 'output before start'), 'it names the echo before start()');
    });
    T::run('php -S: the same output under output_buffering=4096 is held back, and the write works', static function () use ($servers, $tok): void {
        $r = $servers[4096]->get('before', $tok);
        T::ok(str_contains($r['body'], "no error"), 'no error: ' . $r['body']);
        T::eq(['{"early":true}'], headerValues($r, 'X-Sidecar-Patch'), 'patch');
    });
    T::run('php -S: flush() then more writes: the latest headers only, two patches in order', static function () use ($srv, $tok): void {
        $r = $srv->get('flush', $tok);
        T::eq(['{"b":null}', '{"a":1,"b":{"c":"Zo\u00eb"}}'], headerValues($r, 'X-Sidecar-Patch'), 'patch');
        T::eq(["Zo\xc3\xab"], headerValues($r, 'X-Sidecar-Principal'), 'principal as UTF-8 bytes');
        T::eq(['regenerate'], headerValues($r, 'X-Sidecar-Action'), 'action');
    });
    T::run('php -S: destroy sends the action alone', static function () use ($srv, $tok): void {
        $r = $srv->get('destroy', $tok);
        T::eq(['destroy'], headerValues($r, 'X-Sidecar-Action'), 'action');
        T::eq([], array_merge(headerValues($r, 'X-Sidecar-Patch'), headerValues($r, 'X-Sidecar-Principal')), 'nothing else');
    });
    T::run('php -S: a redirect and exit still carries the write', static function () use ($srv, $tok): void {
        $r = $srv->get('redirect', $tok);
        T::eq(302, $r['status'], 'status');
        T::eq(['/next'], headerValues($r, 'Location'), 'location');
        T::eq(['{"a":1}'], headerValues($r, 'X-Sidecar-Patch'), 'patch');
    });
    T::run('php -S: a patch over the size guard gives a 500 and no patch', static function () use ($srv, $tok): void {
        $r = $srv->get('toolarge', $tok);
        T::eq(500, $r['status'], 'status');
        T::eq([], headerValues($r, 'X-Sidecar-Patch'), 'no patch');
        T::ok(str_contains($srv->log(), 'patch too large'), 'logged');
    });
    T::run('php -S: a missing or forged header is refused; fromEnv found the secret', static function () use ($srv, $tok): void {
        T::eq('invalid: missing', $srv->get('plain', null)['body'], 'missing');
        [$h, $p, $sig] = explode('.', $tok);
        T::eq('invalid: signature', $srv->get('plain', "$h.$p." . strrev($sig))['body'], 'forged');
        T::eq("sid=abc123\n", $srv->get('plain', $tok)['body'], 'valid');
    });
    T::run('php -S: jwksUrl with the default HTTP fetcher verifies EdDSA and ES256 vectors', static function () use ($srv, $vectors): void {
        $cache = sys_get_temp_dir() . '/sidecar-jwks-http-' . bin2hex(random_bytes(4)) . '.json';
        $checked = 0;
        $token = '';
        try {
            foreach ($vectors['cases'] ?? [] as $case) {
                if ($case['verify_with'] !== 'jwks' || !$case['valid']) {
                    continue;
                }
                $sc = new Sidecar\Sidecar(['jwksUrl' => "http://{$srv->addr}/index.php?case=jwks", 'jwksCacheFile' => $cache,
                    'clock' => static fn (): float => (float)$case['now']]);
                T::eq($case['claims'], $sc->verify($case['token']), $case['name']);
                $checked++;
                $token = $case['token'];
            }
            T::ok($checked >= 3, "verified $checked JWKS vectors");
            $quiet = ini_set('error_log', '/dev/null');
            try {
                $sc = new Sidecar\Sidecar(['jwksUrl' => "http://{$srv->addr}/nothing-here.json", 'jwksCacheFile' => "$cache.404"]);
                T::throws(Sidecar\InvalidSession::class, static fn () => $sc->verify($token), 'algorithm', 'a 404 JWKS');
            } finally {
                ini_set('error_log', (string)$quiet);
            }
        } finally {
            foreach ([$cache, "$cache.lock", "$cache.404", "$cache.404.lock"] as $f) {
                @unlink($f);
            }
        }
    });
}
foreach ($servers as $srv) {
    $srv->stop();
}
