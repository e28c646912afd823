<?php
/**
 * Sidecar app kit for PHP 8.1+: one file, no Composer, no extension beyond
 * the bundled json, hash, sodium (EdDSA) and openssl (ES256).
 *
 * It verifies the X-Sidecar-Session header that Sidecar puts on every
 * request (HS256 with the shared secret, or EdDSA/ES256 with the JWKS
 * document), exposes the session, collects the request's writes into the
 * response headers Sidecar reads back (X-Sidecar-Patch, -Principal,
 * -Action), and wraps Sidecar's lock service (withLock with fencing
 * tokens). See README.md next to this file and clients/README.md.
 *
 *     require __DIR__ . '/Sidecar.php';
 *     $session = Sidecar\Sidecar::fromEnv()->start();   // before any output
 *     $session->merge('cart', ['sku-1' => 2]);   // one member; null deletes it
 *     $session->set('user', ['login' => 'zoë']);  // the whole value
 *
 * clients/cfml/*.cfc mirror this file function for function (same public
 * names in the same order, same order of checks); tests/run.php checks it.
 */

declare(strict_types=1);

namespace Sidecar;

/**
 * The X-Sidecar-Session header is missing or does not verify. $reason is
 * one of: missing, malformed, algorithm, unknown_kid, signature,
 * missing_claim, issuer, audience, expired, issued_in_future. The message
 * never contains the token.
 */
final class InvalidSession extends \RuntimeException
{
    /** @param string $reason the machine-readable reason code */
    public function __construct(public readonly string $reason, string $detail = '')
    {
        parent::__construct('invalid X-Sidecar-Session: ' . $reason . ($detail === '' ? '' : ' (' . $detail . ')'));
    }
}

/**
 * A session write came after PHP had sent the response headers, so Sidecar
 * would never see it. The message names the file:line where output began.
 */
final class HeadersSent extends \LogicException
{
}

/** A lock service call failed; $status is the HTTP status (0: unreachable). */
class LockError extends \RuntimeException
{
    /** @param int $status the lock service's HTTP status, 0 when it was not reached */
    public function __construct(string $message, public readonly int $status = 0)
    {
        parent::__construct($message);
    }
}

/** Someone else held the lock for the whole wait (409 "not obtained"). */
final class LockNotObtained extends LockError
{
}

/** The lock backend is unreachable (503, or the service itself is): do not go on unlocked. */
final class LockUnavailable extends LockError
{
}

/**
 * The lease ran out before it was extended or released (409 "not held"):
 * someone else may have held the lock meanwhile. withLock throws it after
 * the callback returned, and discards the callback's result.
 */
final class LockLost extends LockError
{
}

/**
 * The verifier: configuration plus the JWKS cache. Build one per request
 * (it is cheap) or keep one in a long-running worker.
 *
 * Options (all optional except one key source):
 *  - secret (string): HS256 key, Sidecar's headers.secret.
 *  - jwks (array|string): a JWKS document, decoded or JSON text.
 *  - jwksUrl (string): where to fetch the JWKS, e.g.
 *    http://127.0.0.1:9092/.well-known/jwks.json (Sidecar's ops.listen).
 *  - issuer ("sidecar"), audience ("app"), leeway (5 seconds).
 *  - clock (callable(): float|int): current unix time; default microtime.
 *  - jwksRefreshMin (5 s): least time between refetches for an unknown kid.
 *  - jwksTtl (300 s): how long a fetched JWKS is used before a refetch.
 *  - jwksCacheFile: default sys_get_temp_dir()/sidecar-jwks-<sha256(url)>.json;
 *    <jwksCacheFile>.lock next to it serialises unknown-kid refetches.
 *  - fetch (callable(string $url, float $timeout): string): fetches the
 *    JWKS (for tests); default: an HTTP GET that requires status 200.
 *  - allowMissing (false): read() without the header gives an anonymous
 *    session whose writes throw, instead of InvalidSession("missing").
 */
final class Sidecar
{
    /** The reason codes, in the order verify() checks them. */
    public const REASONS = ['missing', 'malformed', 'algorithm', 'unknown_kid', 'signature',
        'missing_claim', 'issuer', 'audience', 'expired', 'issued_in_future'];

    private const MAX_TOKEN_BYTES = 65536;
    private const FETCH_TIMEOUT = 2.0;
    /** Seconds a worker waits for another's unknown-kid refetch (longer than FETCH_TIMEOUT). */
    private const CACHE_LOCK_WAIT = 2.5;
    /** DER prefix of a P-256 SubjectPublicKeyInfo, before 04||x||y. */
    private const P256_SPKI_PREFIX = '3059301306072a8648ce3d020106082a8648ce3d030107034200';

    private string $secret;
    private array $staticKeys;
    private string $jwksUrl;
    private string $issuer;
    private string $audience;
    private float $leeway;
    /** @var callable(): (float|int) */
    private $clock;
    private float $jwksRefreshMin;
    private float $jwksTtl;
    private string $jwksCacheFile;
    /** @var callable(string, float): string */
    private $fetch;
    private bool $allowMissing;
    /** @var array{fetched_at: float, refetched_at: float, tried_at: float, keys: array}|null */
    private ?array $fetched = null;

    /** @param array<string, mixed> $options see the class comment */
    public function __construct(array $options)
    {
        $known = ['secret', 'jwks', 'jwksUrl', 'issuer', 'audience', 'leeway', 'clock', 'jwksRefreshMin',
            'jwksTtl', 'jwksCacheFile', 'fetch', 'allowMissing'];
        foreach (array_keys($options) as $k) {
            if (!in_array($k, $known, true)) {
                throw new \InvalidArgumentException("Sidecar: unknown option \"$k\"");
            }
        }
        $this->secret = (string)($options['secret'] ?? '');
        $this->jwksUrl = (string)($options['jwksUrl'] ?? '');
        $jwks = $options['jwks'] ?? null;
        if ($this->secret === '' && $jwks === null && $this->jwksUrl === '') {
            throw new \InvalidArgumentException('Sidecar: give at least one of secret, jwks or jwksUrl');
        }
        $this->staticKeys = $jwks === null ? [] : self::parseJwks($jwks);
        $this->issuer = (string)($options['issuer'] ?? 'sidecar');
        $this->audience = (string)($options['audience'] ?? 'app');
        $this->leeway = (float)($options['leeway'] ?? 5);
        $this->clock = $options['clock'] ?? static fn (): float => microtime(true);
        $this->jwksRefreshMin = (float)($options['jwksRefreshMin'] ?? 5);
        $this->jwksTtl = (float)($options['jwksTtl'] ?? 300);
        $this->jwksCacheFile = (string)($options['jwksCacheFile']
            ?? sys_get_temp_dir() . '/sidecar-jwks-' . hash('sha256', $this->jwksUrl) . '.json');
        $this->fetch = $options['fetch'] ?? [self::class, 'httpGet'];
        $this->allowMissing = (bool)($options['allowMissing'] ?? false);
    }

    /**
     * A verifier with the secret from the environment variable
     * SIDECAR_HEADERS__SECRET (getenv, then $_SERVER, then $_ENV). Under
     * php-fpm, whose pool option clear_env (on by default) empties the
     * environment, pass it on in the pool config:
     *     env[SIDECAR_HEADERS__SECRET] = $SIDECAR_HEADERS__SECRET
     * @param array<string, mixed> $options more options (see the class comment)
     */
    public static function fromEnv(array $options = []): self
    {
        $name = 'SIDECAR_HEADERS__SECRET';
        $secret = getenv($name);
        if (!is_string($secret) || $secret === '') {
            $secret = (string)($_SERVER[$name] ?? $_ENV[$name] ?? '');
        }
        if ($secret === '' && !isset($options['jwks']) && !isset($options['jwksUrl'])) {
            throw new \RuntimeException("Sidecar: the environment variable $name is empty. Under php-fpm, "
                . "clear_env (on by default) removes it: add `env[$name] = \$$name` to the pool config "
                . '(or set clear_env = no), then reload php-fpm');
        }
        if ($secret !== '') {
            $options['secret'] = $secret;
        }
        return new self($options);
    }

    /**
     * Reads and verifies this request's X-Sidecar-Session header, then
     * buffers the output (ob_start) and registers a header callback, so that
     * the session's headers go out just before the body whenever PHP sends
     * headers. Call it before any output. header_register_callback keeps one
     * callback: do not register another after this.
     * @param array<string, mixed>|null $server the request variables; default $_SERVER
     * @throws InvalidSession
     */
    public function start(?array $server = null): Session
    {
        $session = $this->read($server);
        ob_start();
        $session->attach();
        header_register_callback(static function () use ($session): void {
            try {
                $session->flush();
            } catch (\Throwable $e) { // too late to throw: the body is on its way
                error_log($e->getMessage());
                http_response_code(500);
            }
        });
        return $session;
    }

    /**
     * Reads and verifies the header without touching output; emit the
     * writes yourself with headers() or flush().
     * @param array<string, mixed>|null $server the request variables; default $_SERVER
     * @throws InvalidSession
     */
    public function read(?array $server = null): Session
    {
        $token = ($server ?? $_SERVER)['HTTP_X_SIDECAR_SESSION'] ?? null;
        if ($token === null && $this->allowMissing) {
            return new Session(['new' => true, 'sid' => '', 'ver' => 0, 'data' => []], true);
        }
        $claims = $this->verify($token === null ? null : (string)$token);
        $payload = json_decode(self::base64UrlDecode(explode('.', (string)$token)[1]), false);
        $data = $payload->data ?? null;
        return new Session($claims, false, $data instanceof \stdClass ? $data : null);
    }

    /**
     * Verifies a compact JWS and returns its payload (objects as arrays).
     * null (no header) is reason "missing"; "" is "malformed".
     * @throws InvalidSession with the reason of the first failed check
     * @return array<string, mixed>
     */
    public function verify(?string $token): array
    {
        if ($token === null) {
            throw new InvalidSession('missing');
        }
        // 1. malformed
        if (strlen($token) > self::MAX_TOKEN_BYTES) {
            throw new InvalidSession('malformed', 'longer than ' . self::MAX_TOKEN_BYTES . ' bytes');
        }
        $parts = explode('.', $token);
        if (count($parts) !== 3) {
            throw new InvalidSession('malformed', 'not three parts');
        }
        foreach ($parts as $part) {
            if (!self::isBase64Url($part)) {
                throw new InvalidSession('malformed', 'not base64url');
            }
        }
        $header = self::decodeObject($parts[0]);
        $claims = self::decodeObject($parts[1]);
        if ($header === null || $claims === null) {
            throw new InvalidSession('malformed', 'not a JSON object');
        }
        if (array_key_exists('crit', $header)) {
            throw new InvalidSession('malformed', 'crit header');
        }
        if (!is_string($header['alg'] ?? null)) {
            throw new InvalidSession('malformed', 'alg is not a string');
        }
        $alg = $header['alg'];
        // 2. algorithm
        if (!$this->allowsAlgorithm($alg)) {
            throw new InvalidSession('algorithm', 'alg not allowed');
        }
        // 3. unknown_kid
        $key = $alg === 'HS256' ? null : $this->findKey($alg, $header['kid'] ?? null);
        // 4. signature
        $input = $parts[0] . '.' . $parts[1];
        $sig = self::base64UrlDecode($parts[2]);
        if (!$this->checkSignature($alg, $key, $input, $sig)) {
            throw new InvalidSession('signature');
        }
        $this->checkClaims($claims);
        return $claims;
    }

    /**
     * Checks the claims, steps 5 to 9 (the signature is good).
     * @param array<string, mixed> $claims
     * @throws InvalidSession
     */
    private function checkClaims(array $claims): void
    {
        // 5. missing_claim
        foreach (['iss', 'aud', 'exp', 'iat'] as $name) {
            if (!array_key_exists($name, $claims)) {
                throw new InvalidSession('missing_claim', $name);
            }
        }
        if (!self::isNumber($claims['exp']) || !self::isNumber($claims['iat'])) {
            throw new InvalidSession('missing_claim', 'exp or iat is not a number');
        }
        // 6. issuer
        if ($claims['iss'] !== $this->issuer) {
            throw new InvalidSession('issuer');
        }
        // 7. audience
        $aud = is_array($claims['aud']) ? $claims['aud'] : [$claims['aud']];
        if (!in_array($this->audience, $aud, true)) {
            throw new InvalidSession('audience');
        }
        $now = (float)($this->clock)();
        // 8. expired
        if ($now >= $claims['exp'] + $this->leeway) {
            throw new InvalidSession('expired');
        }
        // 9. issued_in_future (a nbf that is not a number fails closed)
        if ($claims['iat'] > $now + $this->leeway) {
            throw new InvalidSession('issued_in_future');
        }
        if (array_key_exists('nbf', $claims)
            && (!self::isNumber($claims['nbf']) || $claims['nbf'] > $now + $this->leeway)) {
            throw new InvalidSession('issued_in_future', 'nbf');
        }
    }

    /**
     * Whether a configured key allows alg. With a jwksUrl, an asymmetric
     * alg that the current JWKS lacks counts as an unknown kid first (the
     * keys may have rotated to a new algorithm).
     */
    private function allowsAlgorithm(string $alg): bool
    {
        if ($alg === 'HS256') {
            return $this->secret !== '';
        }
        if ($alg !== 'EdDSA' && $alg !== 'ES256') {
            return false;
        }
        foreach ($this->keys() as $jwk) {
            if ($jwk['alg'] === $alg) {
                return true;
            }
        }
        return $this->refetchForUnknownKid() && $this->allowsAlgorithm($alg);
    }

    /**
     * The JWK named kid for alg, refetching the JWKS (rate-limited) when it
     * is unknown.
     * @throws InvalidSession unknown_kid
     * @return array{kid: string, alg: string, key: mixed}
     */
    private function findKey(string $alg, mixed $kid): array
    {
        if (!is_string($kid)) {
            throw new InvalidSession('unknown_kid', 'no kid');
        }
        for ($attempt = 0; $attempt < 2; $attempt++) {
            foreach ($this->keys() as $jwk) {
                if ($jwk['kid'] === $kid && $jwk['alg'] === $alg) {
                    return $jwk;
                }
            }
            if ($attempt === 0 && !$this->refetchForUnknownKid()) {
                break;
            }
        }
        throw new InvalidSession('unknown_kid');
    }

    /** Verifies sig over input with the alg's key; false on any mismatch. */
    private function checkSignature(string $alg, ?array $key, string $input, string $sig): bool
    {
        if ($alg === 'HS256') {
            return strlen($sig) === 32 && hash_equals(hash_hmac('sha256', $input, $this->secret, true), $sig);
        }
        if ($alg === 'EdDSA') {
            return strlen($sig) === SODIUM_CRYPTO_SIGN_BYTES
                && sodium_crypto_sign_verify_detached($sig, $input, $key['key']);
        }
        if (strlen($sig) !== 64) {
            return false;
        }
        return openssl_verify($input, self::rawToDer(bin2hex($sig)), $key['key'], OPENSSL_ALGO_SHA256) === 1;
    }

    /**
     * Converts an ES256 signature r||s (128 hex digits) to the DER
     * SEQUENCE { INTEGER r, INTEGER s } that openssl (and Java) verify.
     */
    private static function rawToDer(string $hex): string
    {
        $body = self::derInteger(substr($hex, 0, 64)) . self::derInteger(substr($hex, 64, 64));
        return hex2bin('30' . sprintf('%02x', strlen($body) / 2) . $body);
    }

    /** One DER INTEGER (hex) from a 32-byte unsigned big-endian hex number. */
    private static function derInteger(string $hex): string
    {
        while (strlen($hex) > 2 && substr($hex, 0, 2) === '00') {
            $hex = substr($hex, 2);
        }
        if (hexdec($hex[0]) >= 8) {
            $hex = '00' . $hex;
        }
        return '02' . sprintf('%02x', strlen($hex) / 2) . $hex;
    }

    /**
     * The usable keys of a JWKS document: Ed25519 (EdDSA) and P-256 (ES256)
     * keys with a string kid; others are ignored.
     * @param array<string, mixed>|string $jwks
     * @return list<array{kid: string, alg: string, key: mixed}>
     */
    private static function parseJwks(array|string $jwks): array
    {
        if (is_string($jwks)) {
            $jwks = json_decode($jwks, true);
        }
        if (!is_array($jwks) || !is_array($jwks['keys'] ?? null)) {
            throw new \InvalidArgumentException('Sidecar: jwks is not a JWKS document ({"keys": [...]})');
        }
        $keys = [];
        foreach ($jwks['keys'] as $jwk) {
            $key = is_array($jwk) ? self::importJwk($jwk) : null;
            if ($key !== null) {
                $keys[] = $key;
            }
        }
        return $keys;
    }

    /**
     * One JWK as [kid, alg, key], or null when it is not a usable signing key.
     * @param array<string, mixed> $jwk
     * @return array{kid: string, alg: string, key: mixed}|null
     */
    private static function importJwk(array $jwk): ?array
    {
        $kty = $jwk['kty'] ?? null;
        $crv = $jwk['crv'] ?? null;
        $alg = match (true) {
            $kty === 'OKP' && $crv === 'Ed25519' => 'EdDSA',
            $kty === 'EC' && $crv === 'P-256' => 'ES256',
            default => null,
        };
        if ($alg === null || !is_string($jwk['kid'] ?? null) || ($jwk['alg'] ?? $alg) !== $alg
            || ($jwk['use'] ?? 'sig') !== 'sig') {
            return null;
        }
        $x = self::jwkBytes($jwk, 'x');
        if ($alg === 'EdDSA') {
            return strlen($x) === SODIUM_CRYPTO_SIGN_PUBLICKEYBYTES ? ['kid' => $jwk['kid'], 'alg' => $alg, 'key' => $x] : null;
        }
        $y = self::jwkBytes($jwk, 'y');
        if (strlen($x) !== 32 || strlen($y) !== 32) {
            return null;
        }
        $der = hex2bin(self::P256_SPKI_PREFIX . '04' . bin2hex($x . $y));
        $pem = "-----BEGIN PUBLIC KEY-----\n" . chunk_split(base64_encode($der), 64, "\n") . "-----END PUBLIC KEY-----\n";
        $key = openssl_pkey_get_public($pem);
        return $key === false ? null : ['kid' => $jwk['kid'], 'alg' => $alg, 'key' => $key];
    }

    /** A JWK member's bytes ("" when absent or not base64url). */
    private static function jwkBytes(array $jwk, string $member): string
    {
        $v = $jwk[$member] ?? null;
        return is_string($v) && self::isBase64Url($v) ? self::base64UrlDecode($v) : '';
    }

    /**
     * The configured keys plus those of jwksUrl (fetched when the cache is
     * older than jwksTtl; a failed fetch keeps the stale keys, retried at
     * most every jwksRefreshMin).
     * @return list<array{kid: string, alg: string, key: mixed}>
     */
    private function keys(): array
    {
        if ($this->jwksUrl === '') {
            return $this->staticKeys;
        }
        $now = (float)($this->clock)();
        $state = $this->fetched ?? $this->readCache();
        if ($state === null || ($now - $state['fetched_at'] >= $this->jwksTtl
                && $now - $state['tried_at'] >= $this->jwksRefreshMin)) {
            $state = $this->fetchJwks($state, $now, false);
        }
        return array_merge($this->staticKeys, $state['keys'] ?? []);
    }

    /**
     * Refetches jwksUrl for an unknown kid unless one such refetch happened
     * less than jwksRefreshMin ago, holding an exclusive flock so that of
     * the workers that meet a new kid at once one fetches and the others
     * then read its keys from the cache file. The lock is the file
     * <jwksCacheFile>.lock (the cache file itself is replaced by a rename,
     * so a lock on it would not be seen); where it cannot be created, the
     * refetch runs unlocked. Returns whether the keys changed (look again);
     * false too when another worker held the lock for CACHE_LOCK_WAIT
     * seconds: go on without fetching.
     */
    private function refetchForUnknownKid(): bool
    {
        if ($this->jwksUrl === '') {
            return false;
        }
        $seen = $this->fetched['jwks'] ?? null;
        $lock = @fopen($this->jwksCacheFile . '.lock', 'c');
        if ($lock === false) {
            return $this->refetchUnlessRecent($seen);
        }
        try {
            $deadline = microtime(true) + self::CACHE_LOCK_WAIT;
            while (!flock($lock, LOCK_EX | LOCK_NB)) {
                if (microtime(true) >= $deadline) {
                    return false;
                }
                usleep(20000);
            }
            return $this->refetchUnlessRecent($seen);
        } finally {
            fclose($lock); // releases the flock
        }
    }

    /**
     * Refetches jwksUrl unless a refetch for an unknown kid happened less
     * than jwksRefreshMin ago, by this worker or, as the cache file tells,
     * another. Returns whether the keys now differ from $seen, the JWKS
     * the caller looked in.
     */
    private function refetchUnlessRecent(mixed $seen): bool
    {
        $now = (float)($this->clock)();
        $state = $this->readCache() ?? $this->fetched;
        if ($state !== null && $now - $state['refetched_at'] < $this->jwksRefreshMin) {
            return $state['jwks'] !== $seen;
        }
        $this->fetchJwks($state, $now, true);
        return true;
    }

    /**
     * Fetches jwksUrl and stores the result in memory and in the cache
     * file. A failed fetch keeps the previous keys (if any) and records the
     * attempt, so that an unreachable ops listener costs one timeout per
     * jwksRefreshMin, not one per request.
     * @param array<string, mixed>|null $state the previous cache state
     * @return array<string, mixed> the new state
     */
    private function fetchJwks(?array $state, float $now, bool $forUnknownKid): array
    {
        $state ??= ['fetched_at' => 0.0, 'refetched_at' => -INF, 'tried_at' => -INF, 'keys' => [], 'jwks' => null];
        $state['tried_at'] = $now;
        if ($forUnknownKid) {
            $state['refetched_at'] = $now;
        }
        try {
            $doc = json_decode(($this->fetch)($this->jwksUrl, self::FETCH_TIMEOUT), true);
            $state['keys'] = self::parseJwks(is_array($doc) ? $doc : '');
            $state['jwks'] = $doc;
            $state['fetched_at'] = $now;
        } catch (\Throwable $e) {
            error_log('Sidecar: fetching the JWKS from ' . $this->jwksUrl . ' failed: ' . $e->getMessage());
        }
        $this->fetched = $state;
        $this->writeCache($state);
        return $state;
    }

    /** The cached JWKS state of the file cache, or null. */
    private function readCache(): ?array
    {
        $raw = @file_get_contents($this->jwksCacheFile);
        $c = is_string($raw) ? json_decode($raw, true) : null;
        if (!is_array($c) || ($c['url'] ?? null) !== $this->jwksUrl) {
            return null;
        }
        try {
            $keys = is_array($c['jwks'] ?? null) ? self::parseJwks($c['jwks']) : [];
        } catch (\InvalidArgumentException) {
            return null;
        }
        $num = static fn ($v): float => is_int($v) || is_float($v) ? (float)$v : -INF;
        return $this->fetched = ['fetched_at' => $num($c['fetched_at'] ?? null), 'refetched_at' => $num($c['refetched_at'] ?? null),
            'tried_at' => $num($c['tried_at'] ?? null), 'keys' => $keys, 'jwks' => $c['jwks']];
    }

    /** Writes the state to the cache file atomically (temp file + rename). */
    private function writeCache(array $state): void
    {
        $fin = static fn (float $v): ?float => is_finite($v) ? $v : null;
        $body = json_encode(['url' => $this->jwksUrl, 'fetched_at' => $state['fetched_at'],
            'refetched_at' => $fin($state['refetched_at']), 'tried_at' => $fin($state['tried_at']),
            'jwks' => $state['jwks']], JSON_UNESCAPED_SLASHES);
        $tmp = $this->jwksCacheFile . '.' . bin2hex(random_bytes(6)) . '.tmp';
        if (is_string($body) && @file_put_contents($tmp, $body) !== false && !@rename($tmp, $this->jwksCacheFile)) {
            @unlink($tmp);
        }
    }

    /**
     * The default fetcher: GET url with a timeout; the body of a 200.
     * @throws \RuntimeException on any other outcome
     */
    public static function httpGet(string $url, float $timeout): string
    {
        $ctx = stream_context_create(['http' => ['method' => 'GET', 'timeout' => $timeout, 'ignore_errors' => true,
            'header' => "Accept: application/json\r\nConnection: close\r\n"]]);
        $body = @file_get_contents($url, false, $ctx);
        $status = HttpStatus::last($http_response_header ?? null);
        if ($body === false || $status !== 200) {
            throw new \RuntimeException($body === false ? (error_get_last()['message'] ?? 'unreachable') : "status $status");
        }
        return $body;
    }

    /** Whether s is base64url without padding (possibly empty). */
    private static function isBase64Url(string $s): bool
    {
        return preg_match('/\A[A-Za-z0-9_-]*\z/', $s) === 1 && strlen($s) % 4 !== 1;
    }

    private static function base64UrlDecode(string $s): string
    {
        return (string)base64_decode(strtr($s, '-_', '+/'), false);
    }

    /**
     * A base64url JSON object as an array, or null when it is not a JSON
     * object ([] for {}).
     * @return array<string, mixed>|null
     */
    private static function decodeObject(string $part): ?array
    {
        $json = self::base64UrlDecode($part);
        try {
            $obj = json_decode($json, false, 512, JSON_THROW_ON_ERROR);
        } catch (\JsonException) {
            return null;
        }
        return $obj instanceof \stdClass ? json_decode($json, true) : null;
    }

    private static function isNumber(mixed $v): bool
    {
        return is_int($v) || is_float($v);
    }
}

/**
 * The session of one request: the verified claims, and the writes the
 * request makes, sent back to Sidecar as response headers.
 *
 * set() replaces an attribute; merge() merges an object into it (RFC 7396).
 * The session keeps, per written name, either the merge delta so far or
 * the value that replaces the attribute, values in JSON form (objects as
 * stdClass, as json_decode gives them).
 */
final class Session
{
    /** The largest X-Sidecar-Patch value written; Sidecar would answer 502 past its header limits. */
    public const MAX_PATCH_BYTES = 6144;

    /** @var array<string, array{0: bool, 1: mixed}> name => [merge?, delta or value (null: removed)], first-touch order */
    private array $writes = [];
    /** @var array<string, mixed>|null the stored data in JSON form, made on first use */
    private ?array $stored = null;
    private ?string $principal = null;
    private bool $principalSet = false;
    private string $action = '';
    private bool $attached = false;

    /**
     * @param array<string, mixed> $claims the verified payload
     * @param bool $anonymous a session for a request that did not come through Sidecar: writes throw
     * @param \stdClass|null $data the claim data decoded with objects as stdClass (Sidecar::read passes
     *     it, so that an empty object is not taken for an empty array); default: made from $claims
     */
    public function __construct(private readonly array $claims, private readonly bool $anonymous = false,
        private readonly ?\stdClass $data = null)
    {
    }

    /** The attribute name (with this request's writes), or $default. */
    public function get(string $name, mixed $default = null): mixed
    {
        return $this->all()[$name] ?? $default;
    }

    /**
     * The session's data with this request's writes applied as Sidecar will
     * apply them, decoded as the claims are (objects as arrays). [] after
     * destroy().
     * @return array<string, mixed>
     */
    public function all(): array
    {
        if ($this->action === 'destroy') {
            return [];
        }
        $data = is_array($this->claims['data'] ?? null) ? $this->claims['data'] : [];
        foreach (array_keys($this->writes) as $name) {
            $value = $this->current((string)$name);
            if ($value === null) {
                unset($data[$name]);
            } else {
                $data[$name] = json_decode(self::encodeJson($value), true);
            }
        }
        return $data;
    }

    /** The principal (claim sub, or as set by setPrincipal), or null. */
    public function principal(): ?string
    {
        if ($this->action === 'destroy') {
            return null;
        }
        if ($this->principalSet) {
            return $this->principal;
        }
        $sub = $this->claims['sub'] ?? null;
        return is_string($sub) && $sub !== '' ? $sub : null;
    }

    /** Whether the request came without a live session (claim new). */
    public function isNew(): bool
    {
        return ($this->claims['new'] ?? false) === true;
    }

    /** The session's public handle (claim sid), "" without a session. */
    public function sid(): string
    {
        return (string)($this->claims['sid'] ?? '');
    }

    /** The session version (claim ver), 0 without a session. */
    public function version(): int
    {
        return (int)($this->claims['ver'] ?? 0);
    }

    /** @return array<string, mixed> the verified payload */
    public function claims(): array
    {
        return $this->claims;
    }

    /**
     * Sets a top-level attribute to exactly $value: it replaces what is
     * stored (an object value is sent after a patch that deletes the
     * attribute). null removes it. An empty PHP array is a JSON array []:
     * use new \stdClass or (object)[] for an empty object. A value can
     * not hold null as an object member (Sidecar's merge would drop it):
     * use merge() to delete members.
     * @throws \InvalidArgumentException on a null object member or a value JSON cannot hold
     */
    public function set(string $name, mixed $value): void
    {
        $this->checkWritable($name);
        $value = self::jsonValue($value);
        if (self::hasNullMember($value)) {
            throw new \InvalidArgumentException("Sidecar: set(\"$name\"): the value holds null as an object member, "
                . 'which Sidecar cannot store: leave the member out, or use merge() to delete it');
        }
        if ($this->action !== 'destroy') {
            $this->writes[$name] = [false, $value];
        }
    }

    /**
     * Merges $delta into the attribute as RFC 7396 says: its members replace
     * the stored object's, a null member deletes that member, object
     * members merge in turn (an absent or non-object attribute counts as
     * {}). Only the members named change, so concurrent requests that
     * merge different members keep each other's changes. [] is {}.
     * @param array<string, mixed>|\stdClass $delta an assoc array or stdClass
     * @throws \InvalidArgumentException when $delta is not an object
     */
    public function merge(string $name, mixed $delta): void
    {
        $this->checkWritable($name);
        $delta = $delta === [] ? new \stdClass() : self::jsonValue($delta);
        if (!$delta instanceof \stdClass) {
            throw new \InvalidArgumentException("Sidecar: merge(\"$name\") needs an object (an assoc array or stdClass)");
        }
        if ($this->action !== 'destroy') {
            $this->writes[$name] = $this->merged($name, $delta);
        }
    }

    /** Deletes a top-level attribute. */
    public function remove(string $name): void
    {
        $this->checkWritable($name);
        if ($this->action !== 'destroy') {
            $this->writes[$name] = [false, null];
        }
    }

    /**
     * Sets the principal (the logged-in user); null or "" clears it.
     * @throws \InvalidArgumentException on control characters
     */
    public function setPrincipal(?string $principal): void
    {
        $this->checkWritable('principal');
        if ($principal !== null && preg_match('/[\x00-\x1f\x7f]/', $principal) === 1) {
            throw new \InvalidArgumentException('Sidecar: the principal must not contain control characters');
        }
        if ($this->action !== 'destroy') {
            $this->principal = $principal === '' ? null : $principal;
            $this->principalSet = true;
        }
    }

    /** Asks Sidecar for a new session token, same data (after login). */
    public function regenerate(): void
    {
        $this->checkWritable('regenerate');
        if ($this->action !== 'destroy') {
            $this->action = 'regenerate';
        }
    }

    /**
     * Asks Sidecar to delete the session (logout). It drops this request's
     * other writes; later writes in this request are ignored.
     */
    public function destroy(): void
    {
        $this->checkWritable('destroy');
        $this->action = 'destroy';
        $this->writes = [];
        $this->principal = null;
        $this->principalSet = false;
    }

    /**
     * The response headers for this request's writes, in order: Patch
     * (twice when set() gave an attribute an object: first a patch that
     * deletes those attributes), Principal, Action. No I/O.
     * @throws \LengthException when a patch exceeds MAX_PATCH_BYTES
     * @return list<array{0: string, 1: string}>
     */
    public function headers(): array
    {
        if ($this->action === 'destroy') {
            return [['X-Sidecar-Action', 'destroy']];
        }
        $cleared = [];
        $patch = [];
        foreach ($this->writes as $name => [$merge, $value]) {
            if (!$merge && $value instanceof \stdClass) {
                $cleared[$name] = null;
            }
            $patch[$name] = $value;
        }
        $out = [];
        foreach ([$cleared, $patch] as $members) {
            if ($members !== []) {
                $out[] = self::patchHeader($members);
            }
        }
        if ($this->principalSet) {
            $out[] = ['X-Sidecar-Principal', $this->principal ?? ''];
        }
        if ($this->action !== '') {
            $out[] = ['X-Sidecar-Action', $this->action];
        }
        return $out;
    }

    /**
     * Sends headers() now with header(), replacing what an earlier flush
     * sent (several X-Sidecar-Patch headers go out in order, with
     * header(..., false)). start() registers it to run when PHP sends the
     * headers.
     * @throws HeadersSent when PHP has already sent them
     */
    public function flush(): void
    {
        if (headers_sent($file, $line)) {
            throw self::headersSentError($file, $line);
        }
        foreach (['X-Sidecar-Patch', 'X-Sidecar-Principal', 'X-Sidecar-Action'] as $name) {
            header_remove($name);
        }
        foreach ($this->headers() as [$name, $value]) {
            header($name . ': ' . $value, false);
        }
    }

    /** Marks the session as sent by the header callback (start()): writes then check headers_sent(). */
    public function attach(): void
    {
        $this->attached = true;
    }

    /**
     * The attribute as this request reads it, in JSON form (null: absent).
     */
    private function current(string $name): mixed
    {
        if ($this->stored === null) {
            $data = $this->data ?? self::jsonValue(is_array($this->claims['data'] ?? null) ? $this->claims['data'] : []);
            $this->stored = $data instanceof \stdClass ? get_object_vars($data) : [];
        }
        $stored = $this->stored[$name] ?? null;
        if (!isset($this->writes[$name])) {
            return $stored;
        }
        [$merge, $value] = $this->writes[$name];
        return $merge ? self::mergePatch($stored, $value) : $value;
    }

    /**
     * What name holds after merge(name, delta): the deltas composed, while
     * that is exact; else the merged value, which then replaces the
     * attribute.
     * @return array{0: bool, 1: mixed}
     */
    private function merged(string $name, \stdClass $delta): array
    {
        if (!isset($this->writes[$name])) {
            return [true, $delta];
        }
        [$merge, $earlier] = $this->writes[$name];
        $composed = $merge ? self::compose($earlier, $delta) : null;
        return $composed !== null ? [true, $composed] : [false, self::mergePatch($this->current($name), $delta)];
    }

    /**
     * One X-Sidecar-Patch header of these members.
     * @param array<string, mixed> $members name => value in JSON form
     * @throws \LengthException past MAX_PATCH_BYTES
     * @return array{0: string, 1: string}
     */
    private static function patchHeader(array $members): array
    {
        $json = self::encodePatch($members);
        if (strlen($json) > self::MAX_PATCH_BYTES) {
            throw new \LengthException('Sidecar: patch too large (' . strlen($json) . ' bytes, at most '
                . self::MAX_PATCH_BYTES . '): keep big data out of the session');
        }
        return ['X-Sidecar-Patch', $json];
    }

    /**
     * Encodes the top-level patch: always a JSON object (never []), ASCII
     * only (\uXXXX, surrogate pairs above U+FFFF), "/" unescaped, no spaces.
     * @param array<string, mixed> $patch
     */
    private static function encodePatch(array $patch): string
    {
        $members = [];
        foreach ($patch as $name => $value) {
            $members[] = self::encodeJson((string)$name) . ':' . self::encodeJson($value);
        }
        return '{' . implode(',', $members) . '}';
    }

    /** One JSON value, ASCII only; DEL (0x7f) escaped too. */
    private static function encodeJson(mixed $value): string
    {
        try {
            $json = json_encode($value, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new \InvalidArgumentException('Sidecar: session value not encodable as JSON: ' . $e->getMessage(), 0, $e);
        }
        return str_replace("\x7f", '\u007f', $json);
    }

    /**
     * A value in JSON form, as the next request will decode it: objects
     * (assoc arrays, stdClass, JsonSerializable) as stdClass, lists as
     * arrays. It is a copy: later changes to the caller's value do not count.
     */
    private static function jsonValue(mixed $value): mixed
    {
        return json_decode(self::encodeJson($value), false, 512, JSON_THROW_ON_ERROR);
    }

    /**
     * RFC 7396: patch merged into target (into {} when target is not an
     * object); neither is changed. Values in JSON form.
     */
    private static function mergePatch(mixed $target, \stdClass $patch): \stdClass
    {
        $out = $target instanceof \stdClass ? clone $target : new \stdClass();
        foreach (get_object_vars($patch) as $k => $v) {
            if ($v === null) {
                unset($out->{$k});
            } elseif ($v instanceof \stdClass) {
                $out->{$k} = self::mergePatch($out->{$k} ?? null, $v);
            } else {
                $out->{$k} = $v;
            }
        }
        return $out;
    }

    /**
     * The one delta that merges as $a then $b do (members of $b replace
     * those of $a in place, new ones go last, objects in both compose), or
     * null when there is none: a member of $a is null or not an object and
     * $b's is an object.
     */
    private static function compose(\stdClass $a, \stdClass $b): ?\stdClass
    {
        $out = clone $a;
        foreach (get_object_vars($b) as $k => $v) {
            if (property_exists($out, (string)$k) && $v instanceof \stdClass) {
                if (!$out->{$k} instanceof \stdClass) {
                    return null;
                }
                $v = self::compose($out->{$k}, $v);
                if ($v === null) {
                    return null;
                }
            }
            $out->{$k} = $v;
        }
        return $out;
    }

    /** Whether a JSON-form value holds null as an object member, at any depth of objects (arrays do not count). */
    private static function hasNullMember(mixed $value): bool
    {
        if (!$value instanceof \stdClass) {
            return false;
        }
        foreach (get_object_vars($value) as $member) {
            if ($member === null || self::hasNullMember($member)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Rejects a write that Sidecar could never see: an empty name, a
     * session of a request that did not come through Sidecar, or a write
     * after the headers went out.
     */
    private function checkWritable(string $name): void
    {
        if ($name === '') {
            throw new \InvalidArgumentException('Sidecar: an attribute name must not be empty');
        }
        if ($this->anonymous) {
            throw new \LogicException('Sidecar: this request did not come through Sidecar (no X-Sidecar-Session): '
                . 'session writes would be lost');
        }
        if ($this->attached && headers_sent($file, $line)) {
            throw self::headersSentError($file, $line);
        }
    }

    private static function headersSentError(string $file, int $line): HeadersSent
    {
        return new HeadersSent("Sidecar: session write after the response headers were sent (output started at $file:$line); "
            . 'Sidecar would never see it. Call $sidecar->start() before any output, and write the session before flush()/ob_end_flush()');
    }
}

/**
 * Sidecar's lock service (docs/locks.md): named locks shared by every
 * server of the pool, each lease with a fencing number.
 *
 *     $locks = new Sidecar\Locks('http://127.0.0.1:9091', getenv('SIDECAR_LOCK_SERVICE__TOKEN'));
 *     $locks->withLock('shop/stock/sku-1', 10, 3, function (Sidecar\Lease $lease) { ... });
 */
final class Locks
{
    private string $url;
    private float $timeout;

    /**
     * @param string $url the lock service's base URL (lock_service.listen)
     * @param string $token lock_service.token
     * @param array{timeout?: float} $options timeout: seconds a call may take beyond its wait (default 5)
     */
    public function __construct(string $url, private readonly string $token, array $options = [])
    {
        $this->url = rtrim($url, '/');
        $this->timeout = (float)($options['timeout'] ?? 5);
        if ($this->token === '') {
            throw new \InvalidArgumentException('Sidecar\Locks: the lock service token is empty (SIDECAR_LOCK_SERVICE__TOKEN)');
        }
    }

    /**
     * Takes the lock name, runs fn($lease), releases the lock, and returns
     * fn's result. ttl and wait are seconds (float; sent as whole
     * milliseconds). PHP has no threads: for work that may outlast ttl, call
     * $lease->extend() between steps. If the lease ran out before the
     * release, throws LockLost after fn returned, and fn's result is lost.
     * @throws LockNotObtained|LockUnavailable|LockLost|LockError
     */
    public function withLock(string $name, float $ttl, float $wait, callable $fn): mixed
    {
        $ms = static fn (float $s): int => max(0, (int)round($s * 1000));
        [$status, $body] = $this->call($name, 'acquire', ['ttl' => $ms($ttl), 'wait' => $ms($wait)], $wait);
        if ($status !== 200) {
            throw self::error($name, 'acquire', $status, $body);
        }
        $lease = new Lease($this, $name, $ttl, $body);
        $ok = false;
        try {
            $result = $fn($lease);
            $ok = true;
        } finally {
            [$status, $body] = $this->call($name, 'release', ['token' => $lease->token], 0);
            if ($ok && $status !== 200) {
                throw self::error($name, 'release', $status, $body);
            }
        }
        return $result;
    }

    /**
     * POSTs a JSON body to /locks/{name}/{op}; returns [status, decoded body].
     * Status 0: the service was not reached. Internal to Locks and Lease.
     * @param array<string, mixed> $params
     * @return array{0: int, 1: array<string, mixed>}
     */
    public function call(string $name, string $op, array $params, float $wait): array
    {
        $path = implode('/', array_map('rawurlencode', explode('/', $name)));
        $ctx = stream_context_create(['http' => [
            'method' => 'POST',
            'header' => "Authorization: Bearer {$this->token}\r\nContent-Type: application/json\r\nConnection: close\r\n",
            'content' => json_encode((object)$params, JSON_UNESCAPED_SLASHES),
            'ignore_errors' => true,
            'timeout' => $wait + $this->timeout,
        ]]);
        $raw = @file_get_contents("{$this->url}/locks/$path/$op", false, $ctx);
        if ($raw === false) {
            return [0, ['error' => 'lock service unreachable at ' . $this->url]];
        }
        $body = json_decode($raw, true);
        return [HttpStatus::last($http_response_header ?? null), is_array($body) ? $body : []];
    }

    /**
     * The exception for a failed call (never with the lease token).
     * Internal to Locks and Lease.
     * @param array<string, mixed> $body
     */
    public static function error(string $name, string $op, int $status, array $body): LockError
    {
        $msg = "Sidecar lock \"$name\": $op answered " . ($status === 0 ? 'nothing' : $status)
            . (is_string($body['error'] ?? null) ? ': ' . $body['error'] : '');
        return match (true) {
            $status === 409 && $op === 'acquire' => new LockNotObtained($msg, $status),
            $status === 409 => new LockLost($msg, $status),
            $status === 503 || $status === 0 => new LockUnavailable($msg, $status),
            default => new LockError($msg, $status),
        };
    }
}

/** A held lock, handed to the withLock callback. */
final class Lease
{
    /** The fencing number: larger for every later lease on the same name. */
    public int $fence;
    /** The lease token (a secret: never log it). */
    public string $token;
    /** When the lease ends unless extended (UTC). */
    public \DateTimeImmutable $expiresAt;

    /**
     * @param array<string, mixed> $body the lock service's lease answer
     * Internal: withLock builds leases.
     */
    public function __construct(private readonly Locks $locks, public readonly string $name, private float $ttl, array $body)
    {
        $this->token = (string)($body['token'] ?? '');
        $this->update($body);
    }

    /**
     * Pushes the expiry to ttl seconds from now (default: the withLock
     * ttl); the fence stays. Call it between steps of long work.
     * @throws LockLost when the lease already ran out
     */
    public function extend(?float $ttl = null): void
    {
        $this->ttl = $ttl ?? $this->ttl;
        [$status, $body] = $this->locks->call($this->name, 'extend',
            ['token' => $this->token, 'ttl' => max(1, (int)round($this->ttl * 1000))], 0);
        if ($status !== 200) {
            throw Locks::error($this->name, 'extend', $status, $body);
        }
        $this->update($body);
    }

    /** Reads fence and expiry from a lease answer. */
    private function update(array $body): void
    {
        $this->fence = (int)($body['fence'] ?? 0);
        try {
            $this->expiresAt = new \DateTimeImmutable((string)($body['expires_at'] ?? 'now'));
        } catch (\Exception) {
            $this->expiresAt = new \DateTimeImmutable('now');
        }
    }
}

/** @internal The status of the last HTTP response of the http:// stream wrapper. */
final class HttpStatus
{
    /**
     * @param list<string>|null $legacy $http_response_header of the caller (before PHP 8.4)
     */
    public static function last(?array $legacy): int
    {
        $headers = function_exists('http_get_last_response_headers') ? http_get_last_response_headers() : $legacy;
        $status = 0;
        foreach ($headers ?? [] as $h) { // the last status line wins (redirects)
            if (preg_match('#^HTTP/\S+\s+(\d{3})#', $h, $m) === 1) {
                $status = (int)$m[1];
            }
        }
        return $status;
    }
}
