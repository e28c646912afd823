<?php
/**
 * Unit tests of Sidecar.php beyond the shared vectors: options, the
 * session's reads and writes, the encoder's guards, fromEnv, ES256
 * signature shapes and the JWKS URL cache. Required by run.php.
 */

declare(strict_types=1);

use Sidecar\InvalidSession;
use Sidecar\Session;
use Sidecar\Sidecar;

/** A verifier on the unit-test secret at Mint::NOW, with overrides. */
function unitSidecar(array $over = []): Sidecar
{
    return new Sidecar($over + ['secret' => Mint::SECRET, 'clock' => static fn (): float => Mint::NOW]);
}

/** The session of a freshly minted HS256 token. */
function unitSession(array $claims = []): Session
{
    return unitSidecar()->read(['HTTP_X_SIDECAR_SESSION' => Mint::hs256(Mint::claims($claims))]);
}

T::run('options: a key source is required, unknown options are refused', static function (): void {
    T::throws(InvalidArgumentException::class, static fn () => new Sidecar([]), null, 'no key');
    T::throws(InvalidArgumentException::class, static fn () => new Sidecar(['secret' => '']), null, 'empty secret');
    T::throws(InvalidArgumentException::class, static fn () => new Sidecar(['secret' => 'x', 'leway' => 5]), null, 'typo');
    T::throws(InvalidArgumentException::class, static fn () => new Sidecar(['jwks' => ['nokeys' => []]]), null, 'not a JWKS');
    new Sidecar(['jwks' => '{"keys":[]}']); // JSON text is accepted
});

T::run('verify: missing header, oversized and odd tokens', static function (): void {
    $sc = unitSidecar();
    T::throws(InvalidSession::class, static fn () => $sc->read([]), 'missing', 'no header');
    T::throws(InvalidSession::class, static fn () => $sc->verify(null), 'missing', 'null');
    $e = T::throws(InvalidSession::class, static fn () => $sc->verify(str_repeat('a', 65537)), 'malformed', 'too long');
    T::ok(!str_contains($e->getMessage(), 'aaaa'), 'the message never holds the token');
    $good = Mint::hs256(Mint::claims());
    T::throws(InvalidSession::class, static fn () => $sc->verify($good . 'AB'), 'malformed', 'length 4n+1 part');
    [$h, $p] = explode('.', $good);
    T::throws(InvalidSession::class, static fn () => $sc->verify("$h.$p."), 'signature', 'empty signature');
    $tok = Mint::hs256(Mint::claims(), Mint::SECRET, ['alg' => 'HS256']);
    T::eq('sidecar', $sc->verify($tok)['iss'], 'a good token');
});

T::run('verify: claim checks at their boundaries', static function (): void {
    $at = static fn (float $now): Sidecar => unitSidecar(['clock' => static fn (): float => $now]);
    $exp = Mint::NOW + 60;
    $tok = Mint::hs256(Mint::claims(['exp' => $exp]));
    $at($exp + 4.999)->verify($tok);
    T::throws(InvalidSession::class, static fn () => $at($exp + 5)->verify($tok), 'expired', 'now = exp + leeway');
    T::throws(InvalidSession::class, static fn () => unitSidecar(['leeway' => 0, 'clock' => static fn (): float => $exp])
        ->verify($tok), 'expired', 'leeway 0');
    $future = Mint::hs256(Mint::claims(['iat' => Mint::NOW + 5.5, 'exp' => Mint::NOW + 65]));
    T::throws(InvalidSession::class, static fn () => $at(Mint::NOW)->verify($future), 'issued_in_future', 'iat beyond leeway');
    $at(Mint::NOW + 0.5)->verify($future);
    T::throws(InvalidSession::class, static fn () => $at(Mint::NOW)->verify(Mint::hs256(Mint::claims(['nbf' => 'soon']))),
        'issued_in_future', 'a nbf that is not a number');
    T::throws(InvalidSession::class, static fn () => $at(Mint::NOW)->verify(Mint::hs256(Mint::claims(['iat' => true]))),
        'missing_claim', 'iat true');
    T::throws(InvalidSession::class, static fn () => $at(Mint::NOW)->verify(Mint::hs256(Mint::claims(['aud' => ['x', 1]]))),
        'audience', 'aud array without ours');
    unitSidecar(['issuer' => 'edge', 'audience' => 'shop'])->verify(Mint::hs256(Mint::claims(['iss' => 'edge', 'aud' => ['a', 'shop']])));
});

T::run('verify: HS256 and JWKS together (migration), each key with its own alg', static function (): void {
    [$sk, $jwk] = Mint::ed25519Key('k1');
    $sc = unitSidecar(['jwks' => ['keys' => [$jwk]]]);
    $sc->verify(Mint::hs256(Mint::claims()));
    $sc->verify(Mint::eddsa(Mint::claims(), $sk, 'k1'));
    T::throws(InvalidSession::class, static fn () => $sc->verify(Mint::eddsa(Mint::claims(), $sk, 'k2')), 'unknown_kid', 'kid k2');
    [$other] = Mint::ed25519Key('k1');
    T::throws(InvalidSession::class, static fn () => $sc->verify(Mint::eddsa(Mint::claims(), $other, 'k1')), 'signature', 'another key');
    $ignored = ['keys' => [['kty' => 'RSA', 'n' => 'AQAB', 'e' => 'AQAB', 'kid' => 'r'], $jwk + ['alg' => 'EdDSA'],
        ['kid' => 'enc'] + $jwk, array_merge($jwk, ['kid' => 'bad-x', 'x' => 'AAAA'])]];
    $sc2 = new Sidecar(['jwks' => $ignored, 'clock' => static fn (): float => Mint::NOW]);
    T::throws(InvalidSession::class, static fn () => $sc2->verify(Mint::eddsa(Mint::claims(), $sk, 'bad-x')), 'unknown_kid', 'short x ignored');
    T::throws(InvalidSession::class, static fn () => $sc2->verify(Mint::hs256(Mint::claims())), 'algorithm', 'HS256 with only a JWKS');
});

T::run('verify: ES256 signatures of every DER shape (high bit, leading zero bytes)', static function (): void {
    [$k, $jwk] = Mint::p256Key('p1');
    $sc = unitSidecar(['jwks' => ['keys' => [$jwk]]]);
    $shapes = [];
    for ($i = 0; $i < 200 && count($shapes) < 3; $i++) {
        $tok = Mint::es256(Mint::claims(['jti' => "r$i"]), $k, 'p1', $rs);
        T::eq("r$i", $sc->verify($tok)['jti'], "signature $i");
        $shapes[ord($rs[0]) >= 0x80 ? 'high' : 'low'] = true;
        if ($rs[0] === "\0" || $rs[32] === "\0") {
            $shapes['zero'] = true;
        }
    }
    T::ok(isset($shapes['high'], $shapes['low']), 'both high-bit shapes of r were exercised');
    $tok = Mint::es256(Mint::claims(), $k, 'p1');
    [$h, $p, $s] = explode('.', $tok);
    T::throws(InvalidSession::class, static fn () => $sc->verify("$h.$p." . Mint::b64(substr(base64_decode(strtr($s, '-_', '+/')), 0, 63))),
        'signature', '63-byte signature');
    T::throws(InvalidSession::class, static fn () => $sc->verify("$h.$p." . Mint::b64(str_repeat("\0", 64))), 'signature', 'zero r and s');
});

T::run('session: reads', static function (): void {
    $s = unitSession();
    T::eq(['sku-1' => 2], $s->get('cart'), 'get');
    T::eq('dflt', $s->get('nope', 'dflt'), 'get default');
    T::eq('Zoë', $s->principal(), 'principal');
    T::eq(false, $s->isNew(), 'isNew');
    T::eq('abc123', $s->sid(), 'sid');
    T::eq(3, $s->version(), 'version');
    T::eq('req-1', $s->claims()['jti'], 'claims');
    $anon = unitSession(['new' => true, 'sid' => '', 'ver' => 0, 'data' => new stdClass(), 'sub' => null]);
    T::eq([], $anon->all(), 'empty data');
    T::eq(null, $anon->principal(), 'no principal');
    T::eq(true, $anon->isNew(), 'new');
    T::eq([], $anon->headers(), 'nothing written, nothing sent');
});

T::run('session: pending writes are visible to reads; set replaces, merge merges', static function (): void {
    $s = unitSession(['data' => ['cart' => ['sku-1' => 2, 'sku-2' => 1], 'name' => 'x', 'list' => [1, 2],
        'user' => ['name' => 'x', 'admin' => true]]]);
    $s->set('a', 1);
    T::eq(1, $s->get('a'), 'set then get');
    $s->remove('name');
    T::eq('gone', $s->get('name', 'gone'), 'remove then default');
    $s->merge('cart', ['sku-1' => null, 'sku-3' => 5]);
    T::eq(['sku-2' => 1, 'sku-3' => 5], $s->get('cart'), 'merge: RFC 7396 (null deletes a member)');
    $s->set('user', ['name' => 'y']);
    T::eq(['name' => 'y'], $s->get('user'), 'set replaces an object: admin is gone');
    $s->set('list', [3]);
    T::eq([3], $s->get('list'), 'an array value replaces');
    $s->set('obj', (object)['k' => 'v']);
    T::eq(['k' => 'v'], $s->get('obj'), 'stdClass values read as arrays');
    T::eq(['cart', 'list', 'user', 'a', 'obj'], array_keys($s->all()), 'all() keys');
    $s->setPrincipal('ann');
    T::eq('ann', $s->principal(), 'setPrincipal');
    $s->setPrincipal('');
    T::eq(null, $s->principal(), 'cleared');
    T::eq([['X-Sidecar-Patch', '{"user":null,"obj":null}'],
        ['X-Sidecar-Patch', '{"a":1,"name":null,"cart":{"sku-1":null,"sku-3":5},"user":{"name":"y"},"list":[3],"obj":{"k":"v"}}']],
        array_slice($s->headers(), 0, 2), 'the null-first patch, then the patch');
});

T::run('session: set refuses null object members, merge refuses non-objects', static function (): void {
    $s = unitSession();
    T::throws(InvalidArgumentException::class, static fn () => $s->set('cart', ['sku-1' => null]), null, 'a null member');
    T::throws(InvalidArgumentException::class, static fn () => $s->set('u', ['p' => (object)['t' => null]]), null, 'nested');
    $s->set('l', [null, ['x' => null]]); // arrays are stored as they are
    foreach ([[1, 2], 'x', 5, null] as $bad) {
        T::throws(InvalidArgumentException::class, static fn () => $s->merge('cart', $bad), null, 'merge ' . T::show($bad));
    }
    $s->merge('empty', []); // [] is the empty object here
    T::eq('{"l":[null,{"x":null}],"empty":{}}', $s->headers()[0][1], 'the patch');
});

T::run('session: an empty stored object stays an object when a merge replaces the attribute', static function (): void {
    $claims = Mint::claims(['data' => ['user' => ['prefs' => new stdClass(), 'n' => 1]]]);
    $s = unitSidecar()->read(['HTTP_X_SIDECAR_SESSION' => Mint::hs256($claims)]);
    $s->merge('user', ['n' => null]);
    $s->merge('user', ['n' => ['deep' => 1]]); // null then object: not composable, so the value replaces
    T::eq([['X-Sidecar-Patch', '{"user":null}'], ['X-Sidecar-Patch', '{"user":{"prefs":{},"n":{"deep":1}}}']],
        $s->headers(), 'prefs is still {}');
});

T::run('session: destroy drops everything and wins', static function (): void {
    $s = unitSession();
    $s->set('a', 1);
    $s->setPrincipal('ann');
    $s->regenerate();
    $s->destroy();
    T::eq([], $s->all(), 'all() after destroy');
    T::eq(null, $s->get('cart'), 'get after destroy');
    T::eq(null, $s->principal(), 'principal after destroy');
    $s->set('b', 2);
    $s->setPrincipal('bob');
    $s->regenerate();
    T::eq([], $s->all(), 'writes after destroy are ignored');
    T::eq([['X-Sidecar-Action', 'destroy']], $s->headers(), 'only the action');
});

T::run('session: names and principals are checked at once', static function (): void {
    $s = unitSession();
    T::throws(InvalidArgumentException::class, static fn () => $s->set('', 1), null, 'empty name');
    T::throws(InvalidArgumentException::class, static fn () => $s->remove(''), null, 'empty name on remove');
    foreach (["a\nb", "a\rb", "\t", "x\x00", "del\x7f", "\x1f"] as $bad) {
        T::throws(InvalidArgumentException::class, static fn () => $s->setPrincipal($bad), null, 'principal ' . T::show($bad));
    }
    $s->setPrincipal('Zoë €'); // non-ASCII is fine: sent as UTF-8
    T::eq([['X-Sidecar-Principal', 'Zoë €']], $s->headers(), 'principal header');
    T::throws(InvalidArgumentException::class, static function () use ($s): void {
        $s->set('bad', "\xff");
        $s->headers();
    }, null, 'invalid UTF-8 value');
});

T::run('session: the patch is always an object, ASCII only', static function (): void {
    $s = unitSession();
    $s->set('0', 'zero');
    $s->set('1', ['x' => "Zoë\x7f/😀"]);
    T::eq([['X-Sidecar-Patch', '{"1":null}'], ['X-Sidecar-Patch', '{"0":"zero","1":{"x":"Zo\u00eb\u007f/\ud83d\ude00"}}']],
        $s->headers(), 'numeric names');
    $e = unitSession();
    $e->set('empty', []);
    $e->set('obj', new stdClass());
    T::eq('{"empty":[],"obj":{}}', $e->headers()[1][1], 'empty array vs stdClass');
    T::ok(preg_match('/[^\x20-\x7e]/', $s->headers()[1][1]) === 0, 'printable ASCII only');
});

T::run('session: the size guard', static function (): void {
    $s = unitSession();
    $s->set('v', str_repeat('a', Session::MAX_PATCH_BYTES - strlen('{"v":""}')));
    T::eq(Session::MAX_PATCH_BYTES, strlen($s->headers()[0][1]), 'exactly at the limit');
    $s->set('w', 1);
    $e = T::throws(LengthException::class, static fn () => $s->headers(), null, 'one byte over');
    T::ok(str_contains($e->getMessage(), 'patch too large'), 'the message says so');
    $u = unitSession();
    $u->set('v', str_repeat('é', 1100)); // 6 bytes each once escaped
    T::throws(LengthException::class, static fn () => $u->headers(), null, 'counted after escaping');
});

T::run('session: allowMissing gives an anonymous session whose writes throw', static function (): void {
    $s = unitSidecar(['allowMissing' => true])->read([]);
    T::eq(true, $s->isNew(), 'new');
    T::eq([], $s->all(), 'empty');
    T::throws(LogicException::class, static fn () => $s->set('a', 1), null, 'write');
    T::throws(InvalidSession::class, static fn () => unitSidecar(['allowMissing' => true])
        ->read(['HTTP_X_SIDECAR_SESSION' => 'x.y']), 'malformed', 'a bad header is still refused');
});

T::run('fromEnv: getenv, then $_SERVER/$_ENV; empty names clear_env', static function (): void {
    $name = 'SIDECAR_HEADERS__SECRET';
    $saved = [getenv($name), $_SERVER[$name] ?? null, $_ENV[$name] ?? null];
    try {
        putenv("$name=" . Mint::SECRET);
        unset($_SERVER[$name], $_ENV[$name]);
        $clock = ['clock' => static fn (): float => Mint::NOW];
        Sidecar::fromEnv($clock)->verify(Mint::hs256(Mint::claims()));
        putenv($name);
        $_SERVER[$name] = Mint::SECRET;
        Sidecar::fromEnv($clock)->verify(Mint::hs256(Mint::claims()));
        unset($_SERVER[$name]);
        $_ENV[$name] = Mint::SECRET;
        Sidecar::fromEnv($clock)->verify(Mint::hs256(Mint::claims()));
        unset($_ENV[$name]);
        $e = T::throws(RuntimeException::class, static fn () => Sidecar::fromEnv(), null, 'empty');
        T::ok(str_contains($e->getMessage(), 'clear_env') && str_contains($e->getMessage(), "env[$name] = \$$name"),
            'the error names clear_env and the pool line: ' . $e->getMessage());
        Sidecar::fromEnv(['jwks' => ['keys' => []]]); // a JWKS alone needs no secret
    } finally {
        putenv($saved[0] === false ? $name : "$name={$saved[0]}");
        foreach (['_SERVER' => 1, '_ENV' => 2] as $g => $i) {
            if ($saved[$i] !== null) {
                $GLOBALS[$g][$name] = $saved[$i];
            }
        }
    }
});

/** A fake JWKS endpoint: the document it serves can change; it counts fetches. */
final class FakeJwks
{
    public int $fetches = 0;
    public bool $down = false;

    public function __construct(public array $doc)
    {
    }

    public function __invoke(string $url, float $timeout): string
    {
        $this->fetches++;
        T::eq(2.0, $timeout, 'fetch timeout');
        if ($this->down) {
            throw new RuntimeException('connection refused');
        }
        return json_encode($this->doc);
    }
}

$quiet = ini_set('error_log', '/dev/null'); // the expected "fetching the JWKS failed" lines
T::run('jwksUrl: file cache, unknown-kid refetch rate limit, rotation, ttl, outage', static function (): void {
    [$sk1, $jwk1] = Mint::ed25519Key('k1');
    [$sk2, $jwk2] = Mint::ed25519Key('k2');
    [$p256, $jwkEc] = Mint::p256Key('e1');
    $fake = new FakeJwks(['keys' => [$jwk1]]);
    $now = Mint::NOW;
    $cache = tempnam(sys_get_temp_dir(), 'sidecar-jwks-test-');
    unlink($cache);
    // Each "request" builds a new verifier, as php-fpm does: only the file survives.
    $request = static function () use ($fake, &$now, $cache): Sidecar {
        return new Sidecar(['jwksUrl' => 'http://ops.invalid/.well-known/jwks.json', 'fetch' => $fake,
            'jwksCacheFile' => $cache, 'clock' => static function () use (&$now): float {
                return $now;
            }]);
    };
    $tok = static function (string $sk, string $kid) use (&$now): string {
        return Mint::eddsa(Mint::claims(['iat' => (int)$now, 'exp' => (int)$now + 60]), $sk, $kid);
    };
    try {
        $sc = $request();
        $sc->verify($tok($sk1, 'k1'));
        $sc->verify($tok($sk1, 'k1'));
        T::eq(1, $fake->fetches, 'fetched once, then from memory');
        $request()->verify($tok($sk1, 'k1'));
        T::eq(1, $fake->fetches, 'the next request reads the cache file');

        // Rotation: a token signed with a new key arrives; one refetch finds it.
        $fake->doc = ['keys' => [$jwk2, $jwk1]];
        $request()->verify($tok($sk2, 'k2'));
        T::eq(2, $fake->fetches, 'an unknown kid refetched');
        $request()->verify($tok($sk1, 'k1'));
        $request()->verify($tok($sk2, 'k2'));
        T::eq(2, $fake->fetches, 'both keys cached');

        // Unknown kids: at most one refetch per jwksRefreshMin, across requests.
        $now += 5;
        T::throws(InvalidSession::class, static fn () => $request()->verify($tok($sk1, 'nope')), 'unknown_kid', 'unknown');
        T::eq(3, $fake->fetches, 'refetched for the unknown kid');
        $now += 4.9;
        T::throws(InvalidSession::class, static fn () => $request()->verify($tok($sk1, 'nope')), 'unknown_kid', 'again');
        T::throws(InvalidSession::class, static fn () => $request()->verify($tok($sk1, 'other')), 'unknown_kid', 'another');
        T::eq(3, $fake->fetches, 'rate-limited');
        $now += 0.1;
        T::throws(InvalidSession::class, static fn () => $request()->verify($tok($sk1, 'nope')), 'unknown_kid', 'later');
        T::eq(4, $fake->fetches, 'refetched after jwksRefreshMin');

        // A new algorithm in the JWKS counts as an unknown kid (rate-limited too).
        $now += 5;
        $fake->doc = ['keys' => [$jwk1, $jwkEc]];
        $es = Mint::es256(Mint::claims(['iat' => (int)$now, 'exp' => (int)$now + 60]), $p256, 'e1');
        $request()->verify($es);
        T::eq(5, $fake->fetches, 'ES256 key found by a refetch');

        // Then a timeline of [seconds later, fetches by then, what]; each step verifies a kid-1 token.
        $timeline = [
            [299, 5, 'still fresh at jwksTtl - 1'],
            [1, 6, 'refetched lazily at jwksTtl'],
            ['down', 0, ''],
            [300, 7, 'stale keys used after one failed attempt'],
            [0, 7, 'the failed attempt is not retried at once'],
            [5, 8, 'retried after jwksRefreshMin'],
            ['up', 0, ''],
            [5, 9, 'recovered'],
            [1, 9, 'and cached again'],
        ];
        foreach ($timeline as [$later, $fetches, $what]) {
            if (is_string($later)) {
                $fake->down = $later === 'down';
                continue;
            }
            $now += $later;
            $request()->verify($tok($sk1, 'k1'));
            T::eq($fetches, $fake->fetches, $what);
        }
        T::ok(!str_contains((string)file_get_contents($cache), 'k1":'), 'the cache holds the JWKS, nothing else odd');
    } finally {
        @unlink($cache);
        @unlink("$cache.lock");
    }
});

T::run('jwksUrl: no cache and the endpoint down', static function (): void {
    [$sk, $jwk] = Mint::ed25519Key('k1');
    $fake = new FakeJwks(['keys' => [$jwk]]);
    $fake->down = true;
    $cache = sys_get_temp_dir() . '/sidecar-jwks-test-' . bin2hex(random_bytes(4)) . '.json';
    $sc = new Sidecar(['jwksUrl' => 'http://ops.invalid/jwks', 'fetch' => $fake, 'jwksCacheFile' => $cache,
        'clock' => static fn (): float => Mint::NOW]);
    try {
        T::throws(InvalidSession::class, static fn () => $sc->verify(Mint::eddsa(Mint::claims(), $sk, 'k1')), 'algorithm', 'no keys at all');
        T::eq(2, $fake->fetches, 'the lazy fetch and one unknown-kid refetch');
        T::throws(InvalidSession::class, static fn () => $sc->verify(Mint::eddsa(Mint::claims(), $sk, 'k1')), 'algorithm', 'again');
        T::eq(2, $fake->fetches, 'both attempts rate-limited');
    } finally {
        @unlink($cache);
        @unlink("$cache.lock");
    }
});

T::run('jwksUrl: concurrent workers meeting a new kid fetch once (flock), the others reuse the keys', static function (): void {
    [$sk1, $jwk1] = Mint::ed25519Key('k1');
    [$sk2, $jwk2] = Mint::ed25519Key('k2');
    $dir = sys_get_temp_dir() . '/sidecar-jwks-lock-' . bin2hex(random_bytes(4));
    mkdir($dir);
    $cache = "$dir/cache.json";
    // The cache every worker starts from: fresh, with k1 only.
    $seed = new Sidecar(['jwksUrl' => 'http://ops.invalid/jwks', 'jwksCacheFile' => $cache,
        'clock' => static fn (): float => Mint::NOW - 60, 'fetch' => static fn (): string => json_encode(['keys' => [$jwk1]])]);
    $seed->verify(Mint::eddsa(Mint::claims(['iat' => (int)Mint::NOW - 60, 'exp' => (int)Mint::NOW]), $sk1, 'k1'));
    file_put_contents("$dir/doc.json", json_encode(['keys' => [$jwk1, $jwk2]]));
    $token = Mint::eddsa(Mint::claims(), $sk2, 'k2');
    $procs = [];
    try {
        for ($w = 0; $w < 4; $w++) {
            $procs[] = proc_open([PHP_BINARY, __DIR__ . '/jwks_worker.php', $cache, "$dir/doc.json", "$dir/count", "$dir/go",
                (string)Mint::NOW, $token], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', "$dir/stderr", 'a']], $pipes);
            $outs[] = $pipes[1];
        }
        touch("$dir/go");
        foreach ($procs as $i => $p) {
            $out = trim((string)stream_get_contents($outs[$i]));
            fclose($outs[$i]);
            T::eq(0, proc_close($p), "worker $i exit status");
            T::eq('ok', $out, "worker $i verified the token");
        }
        T::eq(1, count(file("$dir/count")), 'one worker fetched; the others waited for its keys');
    } finally {
        array_map('unlink', glob("$dir/*"));
        rmdir($dir);
    }
});

T::run('jwksUrl: a worker that waits 2.5 s for the refetch lock goes on without fetching', static function (): void {
    [$sk, $jwk] = Mint::ed25519Key('k1');
    $fake = new FakeJwks(['keys' => [$jwk]]);
    $cache = sys_get_temp_dir() . '/sidecar-jwks-test-' . bin2hex(random_bytes(4)) . '.json';
    $sc = new Sidecar(['jwksUrl' => 'http://ops.invalid/jwks', 'fetch' => $fake, 'jwksCacheFile' => $cache,
        'clock' => static fn (): float => Mint::NOW]);
    $held = fopen("$cache.lock", 'c');
    try {
        $sc->verify(Mint::eddsa(Mint::claims(), $sk, 'k1')); // the first fetch takes no lock
        T::ok(flock($held, LOCK_EX | LOCK_NB), 'another worker holds the lock');
        $t0 = microtime(true);
        T::throws(InvalidSession::class, static fn () => $sc->verify(Mint::eddsa(Mint::claims(), $sk, 'new')), 'unknown_kid', 'new kid');
        $waited = microtime(true) - $t0;
        T::ok($waited >= 2.4 && $waited < 10, "waited about 2.5 s ($waited)");
        T::eq(1, $fake->fetches, 'no refetch without the lock');
        flock($held, LOCK_UN);
        T::throws(InvalidSession::class, static fn () => $sc->verify(Mint::eddsa(Mint::claims(), $sk, 'new')), 'unknown_kid', 'lock free');
        T::eq(2, $fake->fetches, 'refetched once the lock was free');
    } finally {
        fclose($held);
        @unlink($cache);
        @unlink("$cache.lock");
    }
});
ini_set('error_log', (string)$quiet);
